"""``panelgate calibrate``, ``calibration`` and ``correct``; and the correction stage counters.

Every test uses its own store under tmp_path (``--store`` or ``PANELGATE_HOME``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from panelgate.acquisition.calrun import default_store_dir
from panelgate.acquisition.cli import main
from panelgate.acquisition.stages import Stage, StageError
from panelgate.calibration import CalibrationStore
from panelgate.simulators import PanelModel, PanelSpec

URL = "sim://?width=96&height=80&seed=21&serial=SN-CLI"
FAST = ["--exposure-s", "0.001", "--frames", "8", "--flood-frames", "4"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PANELGATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "calibration"


def _only_id(store: Path) -> str:
    [entry] = CalibrationStore(store).sets()
    return entry.set_id


def test_store_location_default_env_and_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PANELGATE_HOME", raising=False)
    assert default_store_dir() == Path.home() / ".local/share/panelgate/calibration"
    monkeypatch.setenv("PANELGATE_HOME", str(tmp_path))
    assert default_store_dir() == tmp_path / "calibration"
    assert default_store_dir(tmp_path / "x") == tmp_path / "x"


def test_calibrate_all_from_the_simulator_summarises_and_stores(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "all", "--detector", URL, *FAST]) == 0
    out, err = capsys.readouterr()
    set_id = _only_id(home)
    assert f"calibration set {set_id}" in out
    assert "8 darks, 3 flood level(s) x 4 frames (4, 8, 16 µGy), 1 lag dark" in out
    assert "multi-point, 3 segments" in out
    for name in ("dead", "hot", "noisy", "nonuniform", "lag", "line", "cluster"):
        assert f"{name} " in out
    assert "validity:   valid" in out
    assert "darks done (8)" in err and "lag dark done" in err

    assert main(["calibration", "list"]) == 0
    assert set_id in capsys.readouterr().out
    assert main(["calibration", "show", set_id]) == 0
    shown = capsys.readouterr().out
    assert "SN-CLI" in shown and "3-point piecewise at 4, 8, 16 µGy" in shown


def test_dark_update_keeps_gain_and_defects_of_the_newest_set(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "dark", "--detector", URL, *FAST]) == 2, (
        "refused before anything moved"
    )
    assert "run 'panelgate calibrate all' first" in capsys.readouterr().err
    assert main(["calibrate", "all", "--detector", URL, *FAST]) == 0
    first = _only_id(home)
    warmer = URL + "&temp=35"  # the same panel, warmer: its offset has drifted
    assert main(["calibrate", "dark", "--detector", warmer, *FAST]) == 0
    assert f"gain and defects kept from {first}" in capsys.readouterr().out
    store = CalibrationStore(home)
    newest = store.sets()[0]
    assert newest.set_id != first
    old, new = store.load(first), store.load(newest.set_id)
    np.testing.assert_array_equal(old.gain, new.gain)
    np.testing.assert_array_equal(old.defects, new.defects)
    assert float((new.dark - old.dark).mean()) == pytest.approx(3.5 * 3.0, rel=0.2)
    assert new.temp_c == 35.0


def test_offline_calibration_from_stacks_then_correct_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = PanelModel(PanelSpec(width=96, height=80), seed=5)
    np.save(tmp_path / "darks.npy", np.stack([model.read() for _ in range(8)]))
    for level in (4.0, 8.0, 16.0):
        np.save(tmp_path / f"f{level:g}.npy", np.stack([model.read(level) for _ in range(4)]))
    floods = [str(tmp_path / f"f{v}.npy") for v in ("4", "8", "16")]
    store = tmp_path / "store"
    argv = ["calibrate", "all", "--darks", str(tmp_path / "darks.npy"), "--floods", *floods]
    argv += ["--levels", "4,8,16"]  # offline, a multi-point gain needs the levels given
    assert main([*argv, "--serial", "REC-1", "--store", str(store)]) == 0
    assert "detector:   REC-1" in capsys.readouterr().out
    set_id = _only_id(store)

    np.save(tmp_path / "raw.npy", np.stack([model.read(8.0) for _ in range(3)]))
    out_path = tmp_path / "corrected.tif"
    assert main(["correct", "--calibration", set_id, str(tmp_path / "raw.npy"), str(out_path),
                 "--store", str(store)]) == 0  # fmt: skip
    assert "processed 3, dropped 0" in capsys.readouterr().out
    corrected = tifffile.imread(out_path)
    assert corrected.shape == (3, 80, 96)
    inner = corrected[:, 8:-8, 8:-8].astype(float)
    assert inner.mean(axis=0).std() / inner.mean() < 0.02  # the 5 % gain pattern is gone

    assert main(["calibration", "export", set_id, "--out", str(tmp_path / "x"),
                 "--store", str(store), "--format", "tiff"]) == 0  # fmt: skip
    assert (tmp_path / "x" / "defects.tiff").exists()


@pytest.mark.parametrize(
    ("argv", "message", "status"),
    [
        (["calibrate", "all"], "needs --detector URL", 2),
        (["calibrate", "gain", "--darks", "d.npy", "--floods", "f.npy"], "builds 'all' only", 2),
        (["calibrate", "all", "--darks", "d.npy", "--floods", "f.npy"], "--serial S", 2),
        (["calibrate", "all", "--darks", "nope.npy", "--floods", "f.npy", "--serial", "S"],
         "nope.npy: no such file", 2),
        (["calibrate", "all", "--levels", "4,x"], "levels in µGy", 2),
        (["calibrate", "all", "--levels", "4,4"], "distinct", 2),
        (["calibrate", "all", "--detector", "ftp://127.0.0.1"], "unsupported detector URL", 2),
        (["calibrate", "all", "--detector", "gige://127.0.0.1"], "cannot fire X-rays", 2),
        (["calibration", "show", "0123456789abcdef"], "no calibration set '0123456789abcdef'", 2),
        (["correct", "--calibration", "x", "in.txt", "out.npy"], "no calibration set 'x'", 2),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(
    home: Path,
    argv: list[str],
    message: str,
    status: int,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "d.npy", np.zeros((2, 40, 40), np.uint16))
    np.save(tmp_path / "f.npy", np.zeros((2, 40, 40), np.uint16))
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith("panelgate: error: ") and message in lines[-1], captured.err
    assert "Traceback" not in captured.err


def test_correct_refuses_frames_of_another_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = PanelModel(PanelSpec(width=64, height=64), seed=5)
    np.save(tmp_path / "d.npy", np.stack([model.read() for _ in range(4)]))
    np.save(tmp_path / "f.npy", np.stack([model.read(8.0) for _ in range(4)]))
    store = str(tmp_path / "s")
    assert main(["calibrate", "all", "--darks", str(tmp_path / "d.npy"), "--floods",
                 str(tmp_path / "f.npy"), "--serial", "S", "--store", store]) == 0  # fmt: skip
    set_id = _only_id(tmp_path / "s")
    np.save(tmp_path / "small.npy", np.zeros((1, 32, 32), np.uint16))
    capsys.readouterr()
    assert main(["correct", "--calibration", set_id, str(tmp_path / "small.npy"),
                 str(tmp_path / "o.npy"), "--store", store]) == 2  # fmt: skip
    assert "frames of shape (32, 32)" in capsys.readouterr().err


# -- the correction path's stage counters ---------------------------------------------------


def test_stage_counts_processed_and_latency_in_order() -> None:
    results: list[int] = []
    stage: Stage[int, int] = Stage("double", lambda x: 2 * x, results.append, maxsize=2).start()
    for i in range(10):
        stage.put(i)
    counters = stage.stop()
    assert results == [2 * i for i in range(10)]
    assert counters.processed == 10 and counters.dropped == 0 and counters.depth == 0
    assert counters.last_latency_s > 0
    with pytest.raises(StageError, match="stopped"):
        stage.put(1)


def test_drop_oldest_policy_counts_what_it_drops() -> None:
    gate = threading.Event()
    results: list[int] = []

    def slow(x: int) -> int:
        gate.wait(10)
        return x

    stage: Stage[int, int] = Stage("slow", slow, results.append, maxsize=2, policy="drop-oldest")
    stage.start()
    stage.put(0)
    time.sleep(0.1)  # the worker holds item 0
    for i in range(1, 6):
        stage.put(i)
    assert stage.counters().depth == 2 and stage.counters().dropped == 3
    gate.set()
    counters = stage.stop()
    assert results == [0, 4, 5] and counters.processed == 3 and counters.dropped == 3


def test_blocking_policy_times_out_and_errors_are_counted() -> None:
    gate = threading.Event()

    def work(x: int) -> int:
        gate.wait(10)
        if x == 1:
            raise ValueError("bad item")
        return x

    stage: Stage[int, int] = Stage("b", work, lambda _: None, maxsize=1).start()
    stage.put(0)
    time.sleep(0.1)
    stage.put(1)
    with pytest.raises(StageError, match="full"):
        stage.put(2, timeout_s=0.05)
    gate.set()
    counters = stage.stop()
    assert counters.processed == 1 and counters.errors == 1
