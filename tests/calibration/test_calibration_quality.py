"""Quality figures of a calibration set and their trend in ``calibration show`` (issue 15, §3).

Two sets of one simulated detector (same serial and mode) are built offline through
``calrun`` from frames the test keeps: the second panel has another seed and many more
defects. The figures ``calibration show`` prints are recomputed here from the stored maps
and the kept frames, by another route than :mod:`panelgate.calibration.quality`: the
correction kernel on each frame, then per TG-150 ROI the σ of its pixels in all frames.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.acquisition.calrun import calibrate_from_stacks
from panelgate.acquisition.cli import main
from panelgate.calibration import CalibrationSet, CalibrationStore, correct
from panelgate.calibration.quality import roi_px
from panelgate.simulators import PanelModel, PanelSpec

LEVELS_UGY = (4.0, 8.0, 16.0)
N_DARK, N_FLOOD = 8, 8
SPEC = PanelSpec(width=128, height=112, serial="SN-Q", counts_per_ugy=500.0)
WORSE = dataclasses.replace(SPEC, defect_fraction=5e-3, clusters=6, noisy_fraction=2e-3)
Floods = list[list[npt.NDArray[np.uint16]]]


def _build(spec: PanelSpec, seed: int, store: CalibrationStore) -> tuple[CalibrationSet, Floods]:
    model = PanelModel(spec, seed=seed)
    darks = [model.read() for _ in range(N_DARK)]
    floods = []
    for level in LEVELS_UGY:
        model.read(level)  # the previous level's lag
        floods.append([model.read(level) for _ in range(N_FLOOD)])
    calset = calibrate_from_stacks(
        darks, floods, serial=spec.serial, mode_key="mode", full_scale=spec.full_scale,
        levels_ugy=LEVELS_UGY, lag_dark=model.read(), temp_c=spec.temp_ref_c,
    )  # fmt: skip
    store.save(calset)
    return calset, floods


def _show(store: CalibrationStore, set_id: str, capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(["calibration", "show", set_id, "--store", str(store.root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _text(store: CalibrationStore, set_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["calibration", "show", set_id, "--store", str(store.root)]) == 0
    return capsys.readouterr().out


def _recomputed(cal: CalibrationSet, stack: list[npt.NDArray[np.uint16]]) -> tuple[float, float]:
    """(residual PRNU %, NNU %) of one level by the kernel: every frame corrected on its own.

    Residual PRNU from the mean of the corrected frames; NNU from each ROI's σ over its
    good pixels in every frame (about the ROI's mean over all frames).
    """
    corrected = np.stack([correct(f, cal, full_scale=65535) for f in stack]).astype(float)
    corrected -= cal.pedestal_counts
    r = roi_px(cal.shape)
    good = (cal.defects == 0)[r:-r, r:-r]
    mean = corrected.mean(axis=0)[r:-r, r:-r]
    prnu = 100 * mean[good].std() / mean[good].mean()
    ny, nx = good.shape[0] // r, good.shape[1] // r
    sigmas = []
    for y in range(ny):
        for x in range(nx):
            window = (slice(y * r, (y + 1) * r), slice(x * r, (x + 1) * r))
            roi_good = good[window]
            if roi_good.any():
                frames = corrected[:, r:-r, r:-r][(slice(None), *window)][:, roi_good]
                sigmas.append(frames.std())  # about the ROI's mean over all frames
    s = np.array(sigmas)
    return float(prnu), float(100 * (s.max() - s.min()) / s.mean())


@pytest.fixture
def two_sets(tmp_path: Path) -> tuple[CalibrationStore, CalibrationSet, CalibrationSet, Floods]:
    store = CalibrationStore(tmp_path / "store")
    first, _ = _build(SPEC, 1, store)
    second, floods = _build(WORSE, 2, store)
    return store, first, second, floods


def test_show_prints_the_figures_recomputed_from_the_stored_maps(
    two_sets: tuple[CalibrationStore, CalibrationSet, CalibrationSet, Floods],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, _, second, floods = two_sets
    doc = _show(store, second.set_id, capsys)
    stored = store.load(second.set_id)
    levels = doc["quality"]["levels"]
    assert [lv["air_kerma_ugy"] for lv in levels] == list(LEVELS_UGY)
    for lv, stack in zip(levels, floods, strict=True):
        prnu, nnu = _recomputed(stored, stack)
        assert lv["residual_prnu_pct"] == pytest.approx(prnu, rel=0.01), lv
        assert lv["nnu_pct"] == pytest.approx(nnu, rel=0.01), lv
    assert doc["quality"]["residual_prnu_max_pct"] == max(lv["residual_prnu_pct"] for lv in levels)
    assert doc["quality"]["nnu_max_pct"] == max(lv["nnu_pct"] for lv in levels)
    text = _text(store, second.set_id, capsys)
    for lv in levels:
        assert f"{lv['air_kerma_ugy']:g} µGy" in text
        assert f"PRNU {lv['residual_prnu_pct']:.3f} %   NNU {lv['nnu_pct']:.3f} %" in text


def test_trend_against_the_previous_set_of_the_detector(
    two_sets: tuple[CalibrationStore, CalibrationSet, CalibrationSet, Floods],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, first, second, _ = two_sets
    before, now = _show(store, first.set_id, capsys), _show(store, second.set_id, capsys)
    assert before["trend"] == {"previous_set_id": None, "levels": [], "defects_change": None}
    assert "first set of this detector and mode" in _text(store, first.set_id, capsys)

    trend = now["trend"]
    assert trend["previous_set_id"] == first.set_id
    old_counts = store.load(first.set_id).defect_counts()
    new_counts = store.load(second.set_id).defect_counts()
    assert trend["defects_change"] == {k: new_counts[k] - old_counts[k] for k in new_counts}
    assert trend["defects_change"]["total"] > 0, "the second panel has many more defects"
    for lv, a, b in zip(
        trend["levels"], now["quality"]["levels"], before["quality"]["levels"], strict=True
    ):
        assert lv["air_kerma_ugy"] == a["air_kerma_ugy"] == b["air_kerma_ugy"]
        diff = a["residual_prnu_pct"] - b["residual_prnu_pct"]
        assert lv["residual_prnu_diff_pct"] == pytest.approx(diff)
        ratio = a["residual_prnu_pct"] / b["residual_prnu_pct"]
        assert lv["residual_prnu_ratio"] == pytest.approx(ratio)
        assert lv["nnu_diff_pct"] == pytest.approx(a["nnu_pct"] - b["nnu_pct"])
        assert lv["nnu_ratio"] == pytest.approx(a["nnu_pct"] / b["nnu_pct"])
    text = _text(store, second.set_id, capsys)
    assert f"against the previous set {first.set_id}" in text
    change = trend["defects_change"]
    assert f"total {change['total']:+d}, uncorrectable {change['uncorrectable']:+d}" in text
    assert f"dead {change['dead']:+d}" in text and f"cluster {change['cluster']:+d}" in text

    assert main(["calibration", "list", "--store", str(store.root), "--json"]) == 0
    listed = {s["set_id"]: s for s in json.loads(capsys.readouterr().out)["sets"]}
    assert (
        listed[second.set_id]["residual_prnu_max_pct"] == (now["quality"]["residual_prnu_max_pct"])
    )


def _strip_figures(store: CalibrationStore, set_id: str) -> None:
    """Rewrite a manifest as panelgate wrote it before the quality figures."""
    path = store.root / set_id / "manifest.json"
    manifest = json.loads(path.read_text())
    assert "quality" in manifest and "defect_counts" in manifest
    del manifest["quality"], manifest["defect_counts"]
    path.write_text(json.dumps(manifest))


def test_an_older_set_without_figures_shows_not_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CalibrationStore(tmp_path / "store")
    old, _ = _build(SPEC, 1, store)
    _strip_figures(store, old.set_id)
    assert store.load(old.set_id).quality is None
    doc = _show(store, old.set_id, capsys)
    assert doc["quality"] is None and doc["trend"]["previous_set_id"] is None
    assert "quality:   not measured" in _text(store, old.set_id, capsys)

    new, _ = _build(WORSE, 2, store)
    trend = _show(store, new.set_id, capsys)["trend"]
    assert trend["previous_set_id"] == old.set_id and trend["levels"] == []
    old_counts = old.defect_counts()  # counted from the older set's map
    assert trend["defects_change"] == {k: v - old_counts[k] for k, v in new.defect_counts().items()}
    assert "no level measured in both sets" in _text(store, new.set_id, capsys)


def test_a_partial_recalibration_is_stored_without_the_figures(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "store")
    full, _ = _build(SPEC, 1, store)
    assert full.quality is not None
    fresh_dark = dataclasses.replace(full, dark=full.dark + np.float32(1.0))
    other_defects = dataclasses.replace(full, defects=np.zeros_like(full.defects))
    assert store.describe(store.save(fresh_dark).name).quality == full.quality
    assert store.describe(store.save(other_defects).name).quality is None


def test_calibrate_all_from_a_detector_stores_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    url = "sim://?width=96&height=80&seed=5&serial=SN-D"
    fast = ["--exposure-s", "0.001", "--frames", "8", "--flood-frames", "4"]
    assert main(["calibrate", "all", "--detector", url, "--store", str(store), *fast]) == 0
    [stored] = CalibrationStore(store).sets()
    assert stored.quality is not None
    assert [lv.air_kerma_ugy for lv in stored.quality.levels] == list(LEVELS_UGY)
    assert all(lv.residual_prnu_pct > 0 and lv.nnu_pct > 0 for lv in stored.quality.levels)
    assert stored.defect_counts == CalibrationStore(store).load(stored.set_id).defect_counts()
    capsys.readouterr()
    assert main(["calibration", "list", "--store", str(store)]) == 0
    assert f"{stored.quality.residual_prnu_max_pct:6.3f}" in capsys.readouterr().out
