"""Calibration validity: two lifetimes (dark; gain and defects), the store's choice of set.

Issue 12: the dark goes stale in minutes and is refreshed; the gain and defect maps
expire after days or at another panel temperature and are refused. Every age is judged
against an injected ``now_utc``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest

from panelgate.calibration import (
    CalibrationNotFound,
    CalibrationSet,
    CalibrationStore,
    ValidityRules,
    ValidityStatus,
    check_validity,
)
from panelgate.calibration.store import MANIFEST

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
RULES = ValidityRules(
    dark_max_age_s=600, dark_max_temp_delta_c=2.0, gain_max_age_s=30 * 86400,
    gain_max_temp_delta_c=5.0,
)  # fmt: skip


def _judge(minutes: float, panel_c: float, **gain: object) -> tuple[ValidityStatus, str]:
    v = check_validity(
        "M", 30.0, T0, frame_mode_key="M", frame_temp_c=panel_c,
        now_utc=T0 + dt.timedelta(minutes=minutes), rules=RULES, **gain,  # type: ignore[arg-type]
    )  # fmt: skip
    return v.status, str(v)


def test_each_status_with_its_reason() -> None:
    assert _judge(5, 31.0) == (ValidityStatus.VALID, "valid")
    status, text = _judge(11, 30.0)
    assert status is ValidityStatus.STALE and "dark 660 s old, limit 600 s" in text
    status, text = _judge(5, 33.0)
    assert status is ValidityStatus.STALE and "dark taken at 30.0 °C" in text
    old = {"gain_created_utc": T0 - dt.timedelta(days=31), "gain_temp_c": 30.0}
    status, text = _judge(5, 30.0, **old)
    assert status is ValidityStatus.EXPIRED and "31.0 days old, limit 30.0 days" in text
    status, text = _judge(5, 31.0, gain_temp_c=24.0)
    assert status is ValidityStatus.OTHER_TEMPERATURE and "gain calibrated at 24.0 °C" in text
    # Both findings are said; the gain's, which needs X-rays to mend, decides the status.
    status, text = _judge(11, 31.0, **old)
    assert status is ValidityStatus.EXPIRED and "dark 660 s old" in text
    assert status.needs_recalibration and not ValidityStatus.STALE.needs_recalibration


def test_lifetimes_are_reported_with_the_status() -> None:
    v = check_validity(
        "M", 30.0, T0, frame_mode_key="M", frame_temp_c=30.0,
        now_utc=T0 + dt.timedelta(minutes=3), rules=RULES, gain_created_utc=T0,
    )  # fmt: skip
    assert v.gain_expires_utc == T0 + dt.timedelta(days=30)
    assert v.dark_age_s == pytest.approx(180.0)


def test_unknown_gain_temperature_is_not_refused_but_a_zero_dark_age_always_refreshes() -> None:
    status, _ = _judge(1, 30.0, gain_temp_c=math.nan)
    assert status is ValidityStatus.VALID
    always = dataclasses.replace(RULES, dark_max_age_s=0.0)
    v = check_validity("M", 30.0, T0, frame_mode_key="M", frame_temp_c=30.0, now_utc=T0,
                       rules=always)  # fmt: skip
    assert v.status is ValidityStatus.STALE


@pytest.mark.parametrize(
    "field", ["dark_max_temp_delta_c", "gain_max_age_s", "gain_max_temp_delta_c"]
)
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_rules_refuse_limits_that_are_not_positive_and_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(RULES, **{field: value})


def _set(serial: str = "SN1", created: dt.datetime = T0, seed: int = 0) -> CalibrationSet:
    rng = np.random.default_rng(seed)
    return CalibrationSet(
        serial, "M", rng.normal(100, 2, (8, 8)).astype(np.float32),
        np.ones((8, 8), np.float32), np.zeros((8, 8), np.uint8),
        created_utc=created, temp_c=30.0,
    )  # fmt: skip


def test_replacing_the_dark_keeps_the_gain_age_and_temperature() -> None:
    cal = _set()
    later = T0 + dt.timedelta(hours=2)
    fresh = dataclasses.replace(cal, dark=cal.dark + 1, created_utc=later, temp_c=32.0)
    assert (fresh.gain_utc, fresh.gain_at_temp_c) == (T0, 30.0)
    assert (fresh.created_utc, fresh.temp_c) == (later, 32.0)
    assert fresh.set_id != cal.set_id


def test_store_keeps_the_gain_time_and_the_parent_and_links_unchanged_maps(
    tmp_path: Path,
) -> None:
    store = CalibrationStore(tmp_path)
    parent = _set()
    store.save(parent)
    child = dataclasses.replace(parent, dark=parent.dark + 1, created_utc=T0 + dt.timedelta(1))
    path = store.save(child, derived_from=parent.set_id)
    loaded = store.load(child.set_id)
    assert loaded.gain_utc == T0 and loaded.created_utc == T0 + dt.timedelta(1)
    described = store.describe(child.set_id)
    assert described.derived_from == parent.set_id and described.gain_created_utc == T0
    # The gain and defect files are the parent's (hard links); the dark is new.
    parent_dir = tmp_path / parent.set_id
    assert (path / "gain.npy").stat().st_ino == (parent_dir / "gain.npy").stat().st_ino
    assert (path / "dark.npy").stat().st_ino != (parent_dir / "dark.npy").stat().st_ino


def test_a_manifest_without_gain_keys_was_measured_in_one_run(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    cal = _set()
    path = store.save(cal)
    manifest = json.loads((path / MANIFEST).read_text())
    for key in ("gain_created_utc", "gain_temp_c"):
        del manifest[key]
    (path / MANIFEST).write_text(json.dumps(manifest))  # the manifest carries no checksum
    loaded = store.load(cal.set_id)
    assert loaded.gain_utc == cal.created_utc and loaded.gain_at_temp_c == 30.0
    assert store.describe(cal.set_id).gain_created_utc is None


def test_select_with_rules_takes_the_newest_valid_set_and_says_why_none_is(
    tmp_path: Path,
) -> None:
    store = CalibrationStore(tmp_path)
    old = _set(created=T0 - dt.timedelta(days=40), seed=1)
    newer = _set(created=T0 - dt.timedelta(days=10), seed=2)
    store.save(old)
    store.save(newer)
    # A stale dark (10 days old) does not disqualify a set: it is refreshed before use.
    chosen = store.select("SN1", "M", rules=RULES, temp_c=30.0, now_utc=T0)
    assert chosen.set_id == newer.set_id
    with pytest.raises(CalibrationNotFound, match=rf"newest, {newer.set_id}, is expired"):
        store.select("SN1", "M", rules=RULES, temp_c=30.0, now_utc=T0 + dt.timedelta(days=21))
    with pytest.raises(CalibrationNotFound, match="other temperature"):
        store.select("SN1", "M", rules=RULES, temp_c=40.0, now_utc=T0)
    with pytest.raises(CalibrationNotFound, match="no calibration for detector 'SN2'"):
        store.select("SN2", "M", rules=RULES, temp_c=30.0, now_utc=T0)
    # Without rules the newest of the detector and mode, as before.
    assert store.select("SN1", "M").set_id == newer.set_id
