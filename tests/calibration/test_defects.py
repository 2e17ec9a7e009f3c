"""Defect-map helpers: clusters, lines, ROI and binning transforms."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.calibration import CalibrationError, DefectFlag, local_mean
from panelgate.calibration.defects import classify_defects, defects_for_mode, label_clusters


def test_label_clusters_eight_connected() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one group
    mask[4, 3:6] = True
    labels, sizes = label_clusters(mask)
    assert sizes.tolist() == [2, 3]
    assert labels[0, 0] == labels[1, 1] == 1 and labels[4, 5] == 2


def test_roi_and_binning_transform_keeps_every_defect() -> None:
    defects = np.zeros((8, 8), np.uint8)
    defects[1, 2] = DefectFlag.HOT
    defects[5, 5] = DefectFlag.DEAD
    binned = defects_for_mode(defects, binning=2)
    assert binned.shape == (4, 4)
    assert binned[0, 1] == DefectFlag.HOT and binned[2, 2] == DefectFlag.DEAD
    assert np.count_nonzero(binned) == 2
    roi = defects_for_mode(defects, roi=(4, 4, 4, 4))
    assert roi[1, 1] == DefectFlag.DEAD and np.count_nonzero(roi) == 1
    both = defects_for_mode(defects, roi=(0, 2, 4, 4), binning=2)
    assert both[0, 0] == DefectFlag.HOT and np.count_nonzero(both) == 1
    with pytest.raises(CalibrationError, match="exceeds"):
        defects_for_mode(defects, roi=(6, 0, 4, 4))
    with pytest.raises(CalibrationError, match="multiple of binning"):
        defects_for_mode(defects, roi=(0, 0, 3, 4), binning=2)


def test_line_and_cluster_flags_from_a_synthetic_panel() -> None:
    rng = np.random.default_rng(0)
    h, w = 128, 128
    dark = rng.normal(1000, 10, (h, w)).astype(np.float32)
    std = np.full((h, w), 4.0, np.float32)
    flood = (dark + rng.normal(10000, 100, (h, w))).astype(np.float32)
    flood[20:60, 30] = dark[20:60, 30]  # a dead partial column
    flood[100:104, 100:104] = dark[100:104, 100:104]  # a 4x4 dead blob
    flags = classify_defects(dark, std, [flood], 65535)
    assert (flags[20:60, 30] & DefectFlag.LINE).all()
    assert (flags[100:104, 100:104] & DefectFlag.CLUSTER).all()
    assert not (flags[20:60, 30] & DefectFlag.CLUSTER).any()
    assert np.count_nonzero(flags) == 40 + 16


def test_shape_mismatch_names_the_map() -> None:
    z = np.zeros((4, 4), np.float32)
    with pytest.raises(CalibrationError, match=r"flood 1 has shape \(4, 5\)"):
        classify_defects(z, z, [np.zeros((4, 5), np.float32)], 65535)


@pytest.mark.parametrize("shape", [(1, 1), (5, 40), (37, 23)])
@pytest.mark.parametrize("window", [1, 3, 9, 21])
def test_local_mean_equals_a_brute_force_window_mean(shape: tuple[int, int], window: int) -> None:
    rng = np.random.default_rng(window)
    image = rng.random(shape)
    r = window // 2
    h, w = shape
    expected = np.array(
        [
            [image[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].mean() for x in range(w)]
            for y in range(h)
        ]
    )
    np.testing.assert_allclose(local_mean(image, window), expected, rtol=1e-9, atol=1e-12)
