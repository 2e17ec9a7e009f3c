"""Phantoms computed from attenuation (simulators.phantoms): physics, and truth matching the map.

Issue 14 §1: transmissions follow Beer-Lambert with μ(E) at the model's effective energy,
so contrast and exposure index respond to the technique; the truth a scene returns (field,
nodules, wedge steps, edge, marker, grid) is what the map shows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from panelgate.simulators.phantoms import (
    EDGE_ANGLE_DEG,
    GRID_PRIMARY,
    NODULES_MM,
    Body,
    Material,
    Placement,
    chest_body,
    effective_energy_kev,
    hand_body,
    mu_per_mm,
    render,
    slab_transmission,
)
from panelgate.simulators.phantoms.materials import mu_rho_cm2_per_g

PITCH = 0.139
N = 256


def _slab(material: Material, thickness_mm: float) -> Body:
    body = Body("slab", 40, 40, 1.0)
    body.path(material)[:] = thickness_mm
    return body


@pytest.mark.parametrize("kv", [50.0, 70.0, 100.0, 133.33333])
def test_a_slab_transmits_exp_minus_mu_t_at_the_effective_energy(kv: float) -> None:
    body = _slab(Material.SOFT_TISSUE, 100.0)
    mu = mu_rho_cm2_per_g(Material.SOFT_TISSUE, 0.45 * kv) * 1.06 / 10.0
    np.testing.assert_allclose(body.primary(kv), math.exp(-mu * 100.0), rtol=1e-5)
    assert slab_transmission(Material.SOFT_TISSUE, 100.0, kv) == pytest.approx(
        math.exp(-mu * 100.0)
    )


def test_attenuation_at_the_tabulated_energies_is_nist_s() -> None:
    # 60 keV is a row of the table (NIST XCOM, Hubbell & Seltzer): 133.33 kV hits it.
    assert effective_energy_kev(400 / 3) == pytest.approx(60.0)
    assert mu_per_mm(Material.WATER, 400 / 3) == pytest.approx(0.2059 / 10, rel=1e-6)
    assert mu_per_mm(Material.BONE, 400 / 3) == pytest.approx(0.3148 * 1.92 / 10, rel=1e-6)
    # Attenuation falls with energy for tissue; lead jumps at its K edge (88 keV).
    assert mu_per_mm(Material.SOFT_TISSUE, 60) > mu_per_mm(Material.SOFT_TISSUE, 120)
    assert mu_rho_cm2_per_g(Material.LEAD, 89.0) > 3 * mu_rho_cm2_per_g(Material.LEAD, 87.0)
    with pytest.raises(ValueError, match="kv must be within"):
        mu_per_mm(Material.WATER, 200.0)


def test_bone_contrast_falls_with_kv() -> None:
    body = hand_body(N, N)
    bone = body.paths_mm[Material.BONE]
    r, c = np.unravel_index(np.argmax(bone), bone.shape)
    row = bone[r]
    soft_only = [
        j for j in range(N) if row[j] == 0 and body.paths_mm[Material.SOFT_TISSUE][r, j] > 5
    ]
    near = min(soft_only, key=lambda j: abs(j - c))
    contrasts = []
    for kv in (50.0, 70.0, 90.0, 120.0):
        t = body.primary(kv)
        contrasts.append(1.0 - float(t[r, c]) / float(t[r, near]))
    assert all(a > b for a, b in itertools.pairwise(contrasts)), contrasts
    assert contrasts[0] > 0.2


def test_chest_looks_like_a_chest_and_its_transmission_rises_with_kv() -> None:
    low = render(Placement("chest"), N, N, PITCH, kv=70.0)
    high = render(Placement("chest"), N, N, PITCH, kv=120.0)
    t = low.transmission
    lung, mediastinum, abdomen, air = t[100, 70], t[100, 128], t[240, 128], t[5, 5]
    assert air > 0.9 and air > lung > 3 * mediastinum and lung > 3 * abdomen
    assert float(high.transmission[80:180, 40:220].mean()) > 1.5 * float(t[80:180, 40:220].mean())


def test_nodules_are_where_the_truth_says_with_the_stated_contrast() -> None:
    body = chest_body(N, N)
    scene = render(Placement("chest"), N, N, PITCH, kv=110.0, body=body)
    assert [n.diameter_mm for n in scene.truth.nodules] == [d for *_, d in NODULES_MM]
    # The same chest with lung where the nodules are.
    assert body.nodule_mm is not None
    bare = replace(body, paths_mm=dict(body.paths_mm), nodule_mm=None)
    bare.paths_mm[Material.LUNG] = body.paths_mm[Material.LUNG] + body.nodule_mm
    bare.paths_mm[Material.SOFT_TISSUE] = body.paths_mm[Material.SOFT_TISSUE] - body.nodule_mm
    without = render(Placement("chest"), N, N, PITCH, kv=110.0, body=bare).transmission
    for n in scene.truth.nodules:
        r, c = int(n.centre_y_px), int(n.centre_x_px)
        dip = 1.0 - float(scene.transmission[r, c]) / float(without[r, c])
        assert 0.02 < n.contrast < 0.6
        assert dip == pytest.approx(n.contrast, rel=0.02)
        ring = int(n.diameter_px)  # well outside the nodule: no dip there
        assert scene.transmission[r, c + ring] == pytest.approx(without[r, c + ring], rel=5e-3)
    # Bigger nodules show more contrast (all in lung of similar depth).
    contrasts = [n.contrast for n in scene.truth.nodules]
    assert contrasts == sorted(contrasts)


def test_field_truth_matches_the_collimated_region() -> None:
    scene = render(Placement.from_keys("open", "20.3x14.1@-3,2.5"), N, N, PITCH, kv=80.0)
    f = scene.truth.field
    assert f is not None
    assert (f.x1_px - f.x0_px) * PITCH == pytest.approx(20.3)
    assert ((f.x0_px + f.x1_px) / 2 - N / 2) * PITCH == pytest.approx(-3.0)
    t = scene.transmission
    inside = np.zeros_like(t, dtype=bool)
    inside[math.ceil(f.y0_px) : int(f.y1_px), math.ceil(f.x0_px) : int(f.x1_px)] = True
    outside = np.ones_like(inside)
    outside[int(f.y0_px) : math.ceil(f.y1_px), int(f.x0_px) : math.ceil(f.x1_px)] = False
    assert np.all(t[inside] == pytest.approx(1.0)) and np.all(t[outside] < 1e-4)
    # A pixel the blade crosses is lit by its open share.
    r = int((f.y0_px + f.y1_px) / 2)
    share = math.ceil(f.x0_px) - f.x0_px
    assert t[r, int(f.x0_px)] == pytest.approx(share, abs=1e-4)


def test_a_chest_behind_collimation_has_a_sharp_drop_at_each_blade() -> None:
    scene = render(Placement.from_keys("chest", "24x28"), N, N, PITCH, kv=110.0)
    f = scene.truth.field
    assert f is not None
    profile = scene.transmission[int(f.y0_px) + 20 : int(f.y1_px) - 20].mean(axis=0)
    jumps = np.abs(np.diff(np.log(profile)))  # jumps[j]: between columns j and j + 1
    found = sorted(np.argsort(jumps)[-2:] + 1.0)
    assert found == pytest.approx([f.x0_px, f.x1_px], abs=1.0)


def test_wedge_steps_are_aluminium_and_harden_with_kv() -> None:
    for kv in (70.0, 120.0):
        scene = render(Placement("wedge"), N, N, PITCH, kv=kv)
        steps = scene.truth.wedge_steps
        assert len(steps) == 10
        for s in steps:
            (r0, r1), (c0, c1) = s.rows, s.cols
            assert scene.transmission[(r0 + r1) // 2, (c0 + c1) // 2] == pytest.approx(
                s.transmission, rel=1e-5
            )
        if kv == 70.0:
            assert [s.transmission for s in steps] == pytest.approx(np.geomspace(0.9, 0.05, 10))
            at70 = [s.transmission for s in steps]
    assert all(s.transmission > t for s, t in zip(steps, at70, strict=True))


def test_slanted_edge_runs_at_its_stated_angle() -> None:
    scene = render(Placement("edge"), N, N, PITCH, kv=70.0)
    edge = scene.truth.edge
    assert edge is not None and edge.angle_deg == EDGE_ANGLE_DEG
    t = scene.transmission.astype(np.float64)
    open_t, plate = 1.0, edge.transmission
    covered = (open_t - t) / (open_t - plate)  # share behind the plate, per pixel
    crossing = N - covered.sum(axis=1)  # where the edge crosses each row, pixels
    slope = np.polyfit(np.arange(N) + 0.5, crossing, 1)[0]
    assert math.degrees(math.atan(slope)) == pytest.approx(EDGE_ANGLE_DEG, abs=0.01)
    assert crossing[N // 2] == pytest.approx(edge.centre_x_px, abs=0.05)


def test_grid_lines_fall_at_the_stated_frequency_and_pass_the_primary_share() -> None:
    scene = render(Placement.from_keys("open", grid="36"), N, 512, PITCH, kv=80.0)
    truth = scene.truth
    assert truth.grid_lines_per_cm == 36.0
    profile = scene.transmission.mean(axis=0).astype(np.float64)
    assert profile.mean() == pytest.approx(GRID_PRIMARY, rel=0.01)
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    peak = np.argmax(spectrum) / profile.size
    assert truth.grid_cycles_per_px is not None
    assert peak == pytest.approx(truth.grid_cycles_per_px, abs=1.5 / profile.size)


def test_scatter_grows_with_thickness_and_the_grid_removes_most_of_it() -> None:
    chest = render(Placement("chest"), N, N, PITCH, kv=110.0).truth
    hand = render(Placement("hand"), N, N, PITCH, kv=60.0).truth
    gridded = render(Placement.from_keys("chest", grid="on"), N, N, PITCH, kv=110.0).truth
    assert chest.scatter_to_primary > 3 * hand.scatter_to_primary > 0
    assert gridded.scatter_to_primary < chest.scatter_to_primary / 4
    # Less scatter, more contrast: every nodule shows more behind the grid.
    for a, b in zip(gridded.nodules, chest.nodules, strict=True):
        assert a.contrast > 1.2 * b.contrast
    assert render(Placement("wedge"), N, N, PITCH, kv=70.0).truth.scatter_to_primary == 0.0


def test_the_marker_is_lead_inside_the_field() -> None:
    scene = render(Placement.from_keys("open", "25x25", marker="L"), N, N, PITCH, kv=70.0)
    m, f = scene.truth.marker, scene.truth.field
    assert m is not None and f is not None and m.letter == "L"
    box = scene.transmission[m.rows[0] : m.rows[1], m.cols[0] : m.cols[1]]
    assert f.x0_px <= m.cols[0] and m.cols[1] <= f.x1_px and f.y0_px <= m.rows[0]
    assert (m.cols[0] + m.cols[1]) / 2 > N / 2  # L on the image's right
    assert 0.2 < float((box < 0.01).mean()) < 0.8  # the letter's strokes, not a block


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"phantom": "knee"}, "unknown phantom"),
        ({"field": "20by30"}, "expected WxH"),
        ({"grid": "dense"}, "grid='dense'"),
        ({"marker": "X"}, "marker must be L or R"),
        ({"field": "0x10"}, "positive"),
    ],
)
def test_placement_keys_are_checked(keys: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Placement.from_keys(**keys)


def test_a_field_that_does_not_fit_the_panel_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        render(Placement.from_keys("chest", "30x30@10,0"), N, N, PITCH, kv=80.0)


def test_placement_round_trips_through_json() -> None:
    p = Placement.from_keys("hand", "20x30@1,-2", "on", "r")
    assert Placement.from_json(p.to_json()) == p
    with pytest.raises(ValueError, match="placement"):
        Placement.from_json('{"field_mm": [1, 2]}')
