"""The station's start-up: what it does while the devices open, and how it stops.

- :class:`~panelgate.station.read_ahead.PrefetchedStore` reads the likely set while the
  panel connects, and the set used is the one the store chooses for the connected panel,
  read once, verified; a corrupt set is reported as it is without the read-ahead.
- :class:`~panelgate.station.startup.StartupPhases` records the phases from any thread,
  in seconds since the process started (the line ``panelgate station -v`` logs once
  ready; ``tests/test_bench_smoke.py`` reads it from a real start).
- The main thread's wait for a stop signal takes no lock the signal's handler needs
  (``panelgate station`` once hung on SIGTERM: the handler, run in the main thread, waited
  for the lock that ``Event.wait`` held in that same thread).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panelgate.calibration import (
    CalibrationCorrupt,
    CalibrationMismatch,
    CalibrationSet,
    CalibrationStore,
    ValidityRules,
)
from panelgate.calibration import store as store_module
from panelgate.station.read_ahead import PrefetchedStore
from panelgate.station.server import _stopped
from panelgate.station.startup import StartupPhases, process_start_mono_s

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
RULES = ValidityRules(gain_max_age_s=10 * 86400.0)


def _calset(serial: str, created_utc: dt.datetime, seed: int) -> CalibrationSet:
    rng = np.random.default_rng(seed)
    h, w = 24, 20
    return CalibrationSet(
        serial, "M1",
        rng.normal(1000, 10, (h, w)).astype(np.float32),
        rng.normal(1, 0.05, (h, w)).astype(np.float32),
        (rng.random((h, w)) < 0.05).astype(np.uint8),
        created_utc=created_utc, temp_c=31.0,
    )  # fmt: skip


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every file the store reads and verifies, in the order read."""
    seen: list[Path] = []
    real = store_module.read_verified_npy

    def spy(path: Path, *args: Any) -> Any:
        seen.append(path)
        return real(path, *args)

    monkeypatch.setattr(store_module, "read_verified_npy", spy)
    yield seen


def _stored(tmp_path: Path) -> tuple[Path, dict[str, CalibrationSet]]:
    """A store: panel A's set of yesterday (newest), B's of 2 days ago, A's of 20 days ago."""
    root = tmp_path / "store"
    sets = {
        "A": _calset("PANEL-A", NOW - DAY, 1),
        "B": _calset("PANEL-B", NOW - 2 * DAY, 2),
        "A-expired": _calset("PANEL-A", NOW - 20 * DAY, 3),
    }
    for calset in sets.values():
        CalibrationStore(root).save(calset)
    return root, sets


def _select(store: CalibrationStore, serial: str) -> CalibrationSet:
    return store.select(serial, "M1", rules=RULES, temp_c=31.0, now_utc=NOW)


def test_the_set_read_ahead_is_the_one_chosen_read_once(tmp_path: Path, reads: list[Path]) -> None:
    root, sets = _stored(tmp_path)
    store = PrefetchedStore(root, RULES, NOW)
    assert store.ahead_id == sets["A"].set_id  # the newest valid by age
    chosen = _select(store, "PANEL-A")
    assert chosen.set_id == sets["A"].set_id
    np.testing.assert_array_equal(chosen.gain, sets["A"].gain)
    assert sorted(p.name for p in reads) == ["dark.npy", "defects.npy", "gain.npy"]
    assert {p.parent.name for p in reads} == {sets["A"].set_id}


def test_another_panel_gets_its_own_set_read_then(tmp_path: Path, reads: list[Path]) -> None:
    root, sets = _stored(tmp_path)
    store = PrefetchedStore(root, RULES, NOW)
    chosen = _select(store, "PANEL-B")
    assert chosen.set_id == sets["B"].set_id == _select(CalibrationStore(root), "PANEL-B").set_id
    assert sets["B"].set_id in {p.parent.name for p in reads}
    with pytest.raises(CalibrationMismatch, match="'PANEL-A', not 'PANEL-B'"):
        store.load(sets["A"].set_id, serial="PANEL-B")  # refused as the store refuses it


def test_sets_expired_by_age_are_not_read_ahead(tmp_path: Path) -> None:
    root, sets = _stored(tmp_path)
    store = PrefetchedStore(root, RULES, NOW + 9.5 * DAY)  # A is 10.5 days old, B 11.5
    assert store.ahead_id == ""
    assert PrefetchedStore(root, RULES, NOW + 8.5 * DAY).ahead_id == sets["A"].set_id


def test_a_corrupt_set_is_reported_as_without_the_read_ahead(tmp_path: Path) -> None:
    root, sets = _stored(tmp_path)
    gain = root / sets["A"].set_id / "gain.npy"
    data = bytearray(gain.read_bytes())
    data[-1] ^= 0x01
    gain.chmod(0o600)
    gain.write_bytes(bytes(data))
    store = PrefetchedStore(root, RULES, NOW)
    assert store.ahead_id == sets["A"].set_id
    with pytest.raises(CalibrationCorrupt, match=rf"{gain}: sha256 does not match") as ahead:
        _select(store, "PANEL-A")
    with pytest.raises(CalibrationCorrupt) as plain:
        _select(CalibrationStore(root), "PANEL-A")
    assert str(ahead.value) == str(plain.value)


def test_forgetting_the_read_ahead_reads_the_set_again(tmp_path: Path, reads: list[Path]) -> None:
    root, sets = _stored(tmp_path)
    store = PrefetchedStore(root, RULES, NOW)
    store.forget_ahead()
    for thread in threading.enumerate():
        if thread.name == "calibration-read-ahead":
            thread.join()
    reads.clear()
    assert _select(store, "PANEL-A").set_id == sets["A"].set_id
    assert len(reads) == 3


class _SignalOnEveryAcquire:
    """The lock of a stop event on which the stop signal arrives the moment it is taken.

    Each time the waiting (main) thread takes it, the signal's handler runs there and
    then, as a real signal may; a handler that needs the lock its own thread holds would
    wait forever, and is reported instead.
    """

    def __init__(self, handler: Any) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._handler = handler
        self._handling = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            if not blocking:
                return False
            raise AssertionError("the stop signal's handler waits for a lock its thread holds")
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner = me
        if me == threading.main_thread().ident and not self._handling:
            self._handling = True
            try:
                self._handler()
            finally:
                self._handling = False
        return True

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_stop_signal_during_the_wait_never_deadlocks() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("the station waits in its main thread")
    stop = threading.Event()
    stop._cond = threading.Condition(_SignalOnEveryAcquire(stop.set))  # type: ignore[attr-defined]
    elsewhere = threading.Timer(0.05, stop.set)  # the signal, when the wait takes no lock
    elsewhere.start()
    try:
        while not _stopped(stop, 0.01):
            pass
    finally:
        elsewhere.cancel()
    assert stop.is_set()


def test_startup_phases_are_recorded_from_any_thread_and_summarised_in_order() -> None:
    startup = StartupPhases()
    with startup.phase("devices"):
        worker = threading.Thread(target=startup.timed("read ahead", sorted), args=([3, 1],))
        worker.start()
        worker.join()
    with pytest.raises(ZeroDivisionError), startup.phase("a phase that fails"):
        _ = 1 / 0
    startup.add("interpreter and imports", 0.0, 0.25)
    phases = startup.phases()
    assert [name for name, _, _ in phases][:3] == [
        "interpreter and imports", "devices", "read ahead",
    ]  # fmt: skip
    assert all(0 <= start <= end for _, start, end in phases)
    ready_s = startup.now_s()
    line = startup.summary(ready_s)
    assert line.startswith(f"ready at {ready_s:.2f} s; interpreter and imports 0.00-0.25, ")
    assert "a phase that fails" in line


def test_the_process_start_is_the_kernels_start_time_of_the_process() -> None:
    """A child's age when it asks is no more than the parent saw pass (one 10 ms tick)."""
    code = (
        "import time; now = time.monotonic()\n"
        "from panelgate.station.startup import process_start_mono_s\n"
        "print(now - process_start_mono_s())"
    )
    before = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen_s = time.monotonic() - before
    age_s = float(out.stdout)
    assert -0.011 <= age_s <= seen_s + 0.011
    assert process_start_mono_s() <= time.monotonic()
