"""Dark maps: robust streaming average, validity status, running update for drift."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from panelgate.calibration import CalibrationError, CalibrationSet
from panelgate.calibration.dark import (
    DarkAccumulator,
    ValidityRules,
    ValidityStatus,
    check_validity,
    update_dark,
)
from panelgate.simulators import DefectClass, PanelModel, PanelSpec

SPEC = PanelSpec(width=96, height=80)
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_sigma_clipped_mean_ignores_a_transient_and_matches_the_plain_mean() -> None:
    model = PanelModel(SPEC, seed=8)
    frames = [model.read() for _ in range(32)]
    spoiled = [f.copy() for f in frames]
    spoiled[20][10, :] = 60000  # a glitching row in one frame
    acc, plain = DarkAccumulator(), DarkAccumulator()
    for f, g in zip(frames, spoiled, strict=True):
        plain.add(f, 30.0)
        acc.add(g, 32.0)
    clean = plain.result("m")
    robust = acc.result("m")
    good = model.truth().defects == DefectClass.GOOD
    assert np.abs(robust.mean - clean.mean)[good].max() < 1.5
    assert robust.temp_c == 32.0 and robust.n_frames == 32 and robust.mode_key == "m"
    # The temporal σ is unclipped (it is what the noisy-pixel test needs).
    assert robust.std[10].min() > 1000


def test_fewer_than_two_frames_and_shape_changes_are_refused() -> None:
    acc = DarkAccumulator()
    with pytest.raises(CalibrationError, match="at least 2 frames, got 0"):
        acc.result("m")
    acc.add(np.zeros((4, 4), np.uint16))
    with pytest.raises(CalibrationError, match=r"shape \(4, 5\), the first had \(4, 4\)"):
        acc.add(np.zeros((4, 5), np.uint16))
    acc.add(np.ones((4, 4), np.uint16))
    assert acc.result("m").mean.mean() == pytest.approx(0.5)  # fewer frames than the seed


def test_validity_status_valid_stale_mismatched_with_reasons() -> None:
    def check(mode: str, temp: float, minutes: float) -> tuple[ValidityStatus, str]:
        v = check_validity(
            "A",
            30.0,
            T0,
            frame_mode_key=mode,
            frame_temp_c=temp,
            now_utc=T0 + dt.timedelta(minutes=minutes),
            rules=ValidityRules(dark_max_age_s=600, dark_max_temp_delta_c=2.0),
        )
        return v.status, str(v)

    assert check("A", 31.0, 5)[0] is ValidityStatus.VALID
    status, text = check("A", 33.0, 5)
    assert status is ValidityStatus.STALE and "33.0 °C" in text and "30.0 °C" in text
    status, text = check("A", 30.0, 11)
    assert status is ValidityStatus.STALE and "660 s old" in text
    status, text = check("B", 30.0, 1)
    assert status is ValidityStatus.MISMATCHED and "'B'" in text


def test_calibration_set_validity_checks_the_serial_first() -> None:
    z = np.zeros((2, 2), np.float32)
    cal = CalibrationSet("SN1", "A", z, z, np.zeros((2, 2), np.uint8), temp_c=30.0, created_utc=T0)
    v = cal.validity("SN2", "A", 30.0, now_utc=T0)
    assert v.status is ValidityStatus.MISMATCHED and "SN2" in str(v)
    assert cal.validity("SN1", "A", 30.0, now_utc=T0).status is ValidityStatus.VALID


def test_running_update_follows_temperature_drift() -> None:
    model = PanelModel(SPEC, seed=9)
    acc = DarkAccumulator()
    for _ in range(32):
        acc.add(model.read(temp_c=31.5), 31.5)
    dark = acc.result("m")
    truth = model.truth()
    good = truth.defects == DefectClass.GOOD
    target = truth.offset_at(36.5)
    before = float(np.abs(dark.mean - target)[good].mean())
    for _ in range(64):
        dark = update_dark(dark, model.read(temp_c=36.5), 36.5, weight=10.0)
    after = float(np.abs(dark.mean - target)[good].mean())
    assert before > 12 and after < 2.0
    assert dark.temp_c == pytest.approx(36.5, abs=0.01)
    with pytest.raises(ValueError, match="weight"):
        update_dark(dark, model.read(), 30.0, weight=0.5)
