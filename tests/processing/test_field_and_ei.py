"""Collimation detection and the Exposure Index against the simulation's truth (issue 14 §3).

Field edges within 2 pixels on phantoms with random field sizes and positions (the step
wedge, the drawn chest, and the anthropomorphic chest PA at 120 kV behind a grid and hand
PA at 55 kV of :mod:`panelgate.simulators.phantoms`, with scatter and lead markers, ten
seeded fields each); EI within
10 % of 100 × the known detector air kerma of the relevant region (the field without the
direct beam) over EI 50-1000 (IEC 62494-1, the tolerance vendors are held to).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from panelgate.processing import PRESETS, process
from panelgate.processing.quality import field_accuracy
from panelgate.simulators.phantom import chest, step_wedge_line_pairs
from panelgate.simulators.phantoms import DEFAULT_GRID_LINES_PER_CM, Placement, render

SIZE = 384
PITCH_MM = 0.139

ANATOMY = {  # phantom: (kV, open-field air kerma µGy, grid, marker, preset), typical technique
    "chest": (120.0, 4.0, True, "L", "chest"),
    "hand": (55.0, 6.0, False, "R", "extremity"),
}


def _random_box(
    rng: np.random.Generator, phantom: np.ndarray | None = None, scatter: float = 0.0
) -> tuple[int, int, int, int]:
    """Draw a field of 45-95 % of each side at a random place.

    With a phantom, a field is drawn again until each blade's edge is visible: the median
    transmission along the line just inside it at least 3 times the scatter and 0.5 %
    (a blade over opaque anatomy leaves no edge in the image to find).
    """
    for _ in range(1000):
        h_px, w_px = rng.integers(int(0.45 * SIZE), int(0.95 * SIZE), 2)
        top = int(rng.integers(0, SIZE - h_px + 1))
        left = int(rng.integers(0, SIZE - w_px + 1))
        box = top, top + int(h_px), left, left + int(w_px)
        if phantom is None or _visible(phantom, box, scatter):
            return box
    raise AssertionError("no field with visible edges in 1000 draws")


def _visible(phantom: np.ndarray, box: tuple[int, int, int, int], scatter: float) -> bool:
    top, bottom, left, right = box
    inner = [
        phantom[top, left:right],
        phantom[bottom - 1, left:right],
        phantom[top:bottom, left],
        phantom[top:bottom, right - 1],
    ]
    return all(float(np.median(line)) >= max(3 * scatter, 0.005) for line in inner)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("name", "scatter"), [("wedge", 0.0), ("wedge", 0.02), ("chest", 0.0)])
def test_field_edges_within_two_pixels(panel, shade, seed: int, name: str, scatter: float) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    phantom = chest(SIZE, SIZE) if name == "chest" else step_wedge_line_pairs(SIZE, SIZE, 0.139)
    box = _random_box(rng, phantom, scatter)
    linear = panel.expose(float(rng.uniform(3, 20)), shade(phantom, box, scatter))
    found = process(linear, 100.0, panel.counts_per_ugy, PRESETS["chest"]).field
    edges = (found.top, found.bottom, found.left, found.right)
    assert np.abs(np.subtract(edges, box)).max() <= 2, (edges, box)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("name", sorted(ANATOMY))
def test_field_edges_on_anatomy_within_two_pixels(panel, seed: int, name: str) -> None:  # type: ignore[no-untyped-def]
    """A field of 45-95 % of each side at a random place on the anthropomorphic phantom.

    Rendered with scatter (past the blades too), the marker and, for the chest, the grid;
    the truth's fractional blade positions against the detected field, all four edges.
    """
    kv, kerma_ugy, grid, marker, preset = ANATOMY[name]
    rng = np.random.default_rng(1000 + seed)
    side_mm = SIZE * PITCH_MM
    size_mm = rng.uniform(0.45 * side_mm, 0.95 * side_mm, 2)
    room_mm = (side_mm - size_mm) / 2 - 0.5
    placement = Placement(
        name,
        field_mm=(float(size_mm[0]), float(size_mm[1])),
        field_offset_mm=(float(rng.uniform(-room_mm[0], room_mm[0])),
                         float(rng.uniform(-room_mm[1], room_mm[1]))),
        grid_lines_per_cm=DEFAULT_GRID_LINES_PER_CM if grid else None,
        marker=marker,
    )  # fmt: skip
    scene = render(placement, SIZE, SIZE, PITCH_MM, kv=kv)
    truth = scene.truth.field
    assert truth is not None
    linear = panel.expose(kerma_ugy, scene.transmission)
    found = process(linear, 100.0, panel.counts_per_ugy, PRESETS[preset], grid=grid).field
    accuracy = field_accuracy((found.left, found.top, found.right, found.bottom), truth.edges_px)
    assert accuracy.within(2.0), (accuracy, truth.edges_px)


def _slab_with_direct_beam() -> np.ndarray:
    """Transmission 0.3 ± 30 % (smooth), the right sixth of the panel open (0.9).

    Its range keeps the simulated panel below full scale up to EI 1000 (the chest's
    lungs and direct beam would saturate 2000 counts/µGy at 10 µGy behind the mediastinum).
    """
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    slab = 0.3 * (1 + 0.3 * np.sin(x / 23.0) * np.cos(y / 31.0))
    slab[:, SIZE - SIZE // 6 :] = 0.9
    return slab.astype(np.float32)


def test_no_collimation_is_the_whole_panel(panel) -> None:  # type: ignore[no-untyped-def]
    linear = panel.expose(8.0, chest(SIZE, SIZE))
    found = process(linear, 100.0, panel.counts_per_ugy, PRESETS["chest"]).field
    assert not found.collimated


@pytest.mark.parametrize("target_ei", [50.0, 100.0, 250.0, 500.0, 1000.0])
def test_exposure_index_within_ten_percent(panel, shade, target_ei: float) -> None:  # type: ignore[no-untyped-def]
    box = (30, 350, 20, 366)
    phantom = _slab_with_direct_beam()
    truth_region = np.zeros((SIZE, SIZE), bool)
    truth_region[box[0] : box[1], box[2] : box[3]] = True
    truth_region &= phantom < 0.7  # the object, not the direct beam
    median_t = float(np.median(phantom[truth_region]))
    kerma = target_ei / 100.0 / median_t  # open-field air kerma that gives target_ei
    result = process(
        panel.expose(kerma, shade(phantom, box)), 100.0, panel.counts_per_ugy, PRESETS["chest"]
    )
    truth_ei = 100.0 * kerma * median_t
    assert abs(result.ei / truth_ei - 1) <= 0.10, (result.ei, truth_ei)
    assert result.deviation_index == pytest.approx(10 * np.log10(result.ei / 400.0))


def test_exposure_index_of_an_open_field_is_its_kerma(panel) -> None:  # type: ignore[no-untyped-def]
    linear = panel.expose(2.5, np.ones((SIZE, SIZE), np.float32))
    result = process(linear, 100.0, panel.counts_per_ugy, PRESETS["extremity"])
    assert abs(result.ei / 250.0 - 1) <= 0.10


def test_grid_lines_are_found_and_removed(panel) -> None:  # type: ignore[no-untyped-def]
    phantom = np.full((SIZE, SIZE), 0.3, np.float32)
    x = np.arange(SIZE)
    lines = (1 - 0.15 * (0.5 + 0.5 * np.cos(2 * np.pi * 0.37 * x))).astype(np.float32)
    linear = panel.expose(10.0, phantom * lines[None, :])
    with_grid = process(linear, 100.0, panel.counts_per_ugy, PRESETS["chest"], grid=True)
    assert with_grid.grid is not None and with_grid.grid.axis == 1
    assert with_grid.grid.cycles_per_px == pytest.approx(0.37, abs=0.005)
    plain = process(linear, 100.0, panel.counts_per_ugy, PRESETS["chest"], grid=False)

    def line_power(pixels: np.ndarray) -> float:
        rows = pixels[100:280, 60:324].astype(float)
        spectrum = np.abs(np.fft.rfft(rows - rows.mean(axis=1, keepdims=True), axis=1)) ** 2
        k = round(0.37 * rows.shape[1])
        return float(spectrum[:, k - 1 : k + 2].mean())

    assert line_power(with_grid.pixels) < 0.05 * line_power(plain.pixels)


def test_make_panel_fixture_builds_a_sharper_or_blurred_panel(make_panel: Callable) -> None:  # type: ignore[type-arg]
    assert make_panel(64, 1).model.spec.width == 64
