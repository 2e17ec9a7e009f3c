"""Phantoms on the simulated panels, irradiated by a simulated generator in a room.

Issue 14 §1: sim:// and usb://sim image whatever phantom is placed on them (``phantom=``,
``field=``, ``grid=``, ``marker=`` of the URL, or the room's placement for one exposure),
rendered at the tube voltage the generator delivered: the image's field edges are the
truth's, the signal scales with mAs and rises faster than the open-field kerma with kV.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.drivers import Detector, InvalidSetting, ReadoutMode
from panelgate.drivers.generator import Delivered
from panelgate.simulators import Room, SimulatedDetector, air_kerma_ugy
from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator
from panelgate.simulators.phantoms import PlacedPhantom, Placement, render
from panelgate.simulators.usb import open_usb_sim

N = 192
PITCH = 0.139
MODE = ReadoutMode(width=N, height=N, exposure_s=0.01)
FAST = GeneratorSpec(prep_s=0.02, time_scale=0.1)
FIELD = "19x15@-2.5,1.5"
_DELIVERED: list[Delivered] = []
OPENERS: dict[str, Callable[[str], Detector]] = {
    "sim://": SimulatedDetector.from_url,
    "usb://sim": open_usb_sim,
}


@contextmanager
def _rig(scheme: str, room: Path, keys: str) -> Iterator[tuple[Detector, InProcessGenerator]]:
    panel = OPENERS[scheme](f"{scheme}?width={N}&height={N}&seed=5&room={room}&{keys}")
    generator = InProcessGenerator(FAST, seed=1, room=Room(room))
    with panel:
        panel.configure(MODE)
        yield panel, generator


def _frame(panel: Detector, generator: InProcessGenerator | None, kv: float, mas: float) -> Any:
    """One frame (float); with a generator, exposed at kV and mAs (``frame.mas``: delivered)."""
    panel.arm()
    if generator is not None:
        generator.set_technique(kv, mas)
        generator.prep()
        generator.wait_ready(5.0)
        generator.expose()
        delivered = generator.wait_done(5.0)
        _DELIVERED.append(delivered)
    panel.trigger()
    return panel.read_frame(5.0).pixels.astype(np.float64)


def _edges(signal: npt.NDArray[np.float64], rows: slice, cols: slice) -> tuple[float, ...]:
    """Left, top, right, bottom: where the profiles across the field jump most (log).

    Each edge is the largest jump in its half of the profile (a blade crossing a pixel
    makes two jumps next to each other). The raw frame has defective pixels and columns:
    the profiles are medians, then 3-point medians along them (a step edge survives).
    """
    found = []
    for raw in (np.median(signal[rows], axis=0), np.median(signal[:, cols], axis=1)):
        padded = np.pad(raw, 1, mode="edge")
        profile = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        jumps = np.abs(np.diff(np.log(np.clip(profile, 1.0, None))))
        half = jumps.size // 2
        found.append((np.argmax(jumps[:half]) + 1.0, half + np.argmax(jumps[half:]) + 1.0))
    (left, right), (top, bottom) = found
    return left, top, right, bottom


@pytest.mark.parametrize("scheme", list(OPENERS))
def test_a_chest_through_the_generator_shows_the_true_field(scheme: str, tmp_path: Path) -> None:
    with _rig(scheme, tmp_path / "room", f"phantom=chest&field={FIELD}&marker=R") as (panel, gen):
        dark = _frame(panel, None, 0, 0)
        signal = _frame(panel, gen, 110.0, 2.0) - dark
    truth = render(Placement.from_keys("chest", FIELD, marker="R"), N, N, PITCH, kv=110.0).truth
    f = truth.field
    assert f is not None
    mid_rows = slice(int(f.y0_px) + 15, int(f.y1_px) - 15)
    mid_cols = slice(int(f.x0_px) + 15, int(f.x1_px) - 15)
    found = _edges(signal, mid_rows, mid_cols)
    assert found == pytest.approx((f.x0_px, f.y0_px, f.x1_px, f.y1_px), abs=1.0)
    # Inside the field a chest, not a flat field: lung brighter than the mediastinum.
    lung = float(
        np.median(
            signal[int(f.y0_px) + 20 : int(f.y1_px) - 20, int(f.x0_px) + 10 : int(f.x0_px) + 25]
        )
    )
    mediastinum = float(
        np.median(signal[int(f.y0_px) + 20 : int(f.y1_px) - 20, N // 2 - 4 : N // 2 + 4])
    )
    assert lung > 2.0 * mediastinum > 0


def test_signal_in_the_field_follows_kerma_and_the_phantoms_transmission_at_the_delivered_kv(
    tmp_path: Path,
) -> None:
    placement = Placement.from_keys("chest", FIELD)
    with _rig("sim://", tmp_path / "room", f"phantom=chest&field={FIELD}") as (panel, gen):
        dark = _frame(panel, None, 0, 0)
        images = []
        for kv, mas in ((80.0, 0.5), (80.0, 1.0), (120.0, 0.5)):
            images.append(_frame(panel, gen, kv, mas) - dark)
            _frame(panel, None, 0, 0)  # a dark between: the panel's lag
    delivered = _DELIVERED[-3:]
    f = render(placement, N, N, PITCH, kv=80.0).truth.field
    assert f is not None
    box = (
        slice(math.ceil(f.y0_px) + 2, int(f.y1_px) - 2),
        slice(math.ceil(f.x0_px) + 2, int(f.x1_px) - 2),
    )
    signal = [float(img[box].mean()) for img in images]
    # What the scene predicts: open-field kerma of the delivered technique times the
    # phantom's mean transmission at the delivered kV (the generator's own spread included).
    predicted = [
        air_kerma_ugy(d.kv, d.mas)
        * float(render(placement, N, N, PITCH, kv=d.kv).transmission[box].mean())
        for d in delivered
    ]
    assert delivered[1].mas / delivered[0].mas == pytest.approx(2.0, rel=0.1)
    for i in (1, 2):
        assert signal[i] / signal[0] == pytest.approx(predicted[i] / predicted[0], rel=0.02)
    # Open-field kerma grows with kV² (1.5² = 2.25); behind the chest the transmission
    # grows too (attenuation falls with energy), so the field's signal grows more.
    kerma_ratio = air_kerma_ugy(delivered[2].kv, 1.0) / air_kerma_ugy(delivered[0].kv, 1.0)
    assert signal[2] / signal[0] > 1.3 * kerma_ratio * delivered[2].mas / delivered[0].mas


def test_the_rooms_placement_takes_the_panels_place_for_one_exposure(tmp_path: Path) -> None:
    room = tmp_path / "room"
    with _rig("sim://", room, "phantom=wedge") as (panel, gen):
        dark = _frame(panel, None, 0, 0)
        with Room(room).placed(Placement.from_keys("hand", "12x16@3,0")):
            placed = _frame(panel, gen, 60.0, 2.0) - dark
        assert Room(room).placement() is None
        _frame(panel, None, 0, 0)
        own = _frame(panel, gen, 60.0, 2.0) - dark
    f = render(Placement.from_keys("hand", "12x16@3,0"), N, N, PITCH, kv=60.0).truth.field
    assert f is not None
    outside = float(np.median(placed[:, : int(f.x0_px) - 3]))
    inside = float(
        np.median(placed[int(f.y0_px) + 3 : int(f.y1_px) - 3, int(f.x0_px) + 3 : int(f.x1_px) - 3])
    )
    assert inside > 20 * max(outside, 1.0), "the hand's field, collimated"
    # Back to the panel's own wedge: its steps darken left to right across the upper half.
    steps = own[N // 8 : N // 4, N // 16 : N - N // 16].mean(axis=0)
    assert steps[5] > 3 * steps[-5]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("phantom=knee", "unknown phantom"),
        ("phantom=chest&field=300x300", "does not fit"),
        ("grid=dense", "grid="),
        ("marker=Q", "marker must be L or R"),
    ],
)
@pytest.mark.parametrize("scheme", list(OPENERS))
def test_bad_placement_keys_are_refused_naming_them(scheme: str, query: str, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        OPENERS[scheme](f"{scheme}?width=64&height=64&{query}")


def test_the_room_placement_file_is_private_and_a_bad_one_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    room = Room(tmp_path / "room")
    room.place(Placement.from_keys("chest", "20x20", "on", "L"))
    path = room.path / "placement.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert room.placement() == Placement.from_keys("chest", "20x20", "on", "L")
    path.write_text('{"phantom": "knee"}')
    assert room.placement() is None
    assert "room placement" in caplog.text and "unknown phantom" in caplog.text
    room.place(None)
    assert not path.exists() and room.placement() is None
    room.place(None)  # nothing to remove: no error


def test_arming_builds_the_phantoms_body_before_the_beam(tmp_path: Path) -> None:
    panel = SimulatedDetector.from_url(f"sim://?width={N}&height={N}&room={tmp_path}&phantom=hand")
    placed = panel.intake.phantom
    assert isinstance(placed, PlacedPhantom) and not placed.prepared
    with panel:
        panel.configure(MODE)
        panel.arm()
        for thread in threading.enumerate():
            if thread.name == "phantom-prepare":
                thread.join(30.0)
        assert placed.prepared
        panel.abort()
