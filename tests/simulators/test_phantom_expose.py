"""``panelgate expose`` on a simulated panel shows the protocol's anatomy (issue 14 §1).

A ``sim://`` panel in a room whose URL names no phantom: for a chest protocol the room
holds the chest for the exposure (:func:`panelgate.simulators.dose.protocol_phantom`), so
the stored DX shows lungs and mediastinum, not a flat field; it is dciodvfy-clean, and the
placement is gone afterwards. An explicit ``phantom=`` and a real panel are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pydicom

from panelgate.acquisition.cli import main
from panelgate.simulators import Room
from panelgate.simulators.dose import protocol_phantom
from panelgate.simulators.phantoms import Placement, protocol_placement

N = 160


def _expose(tmp_path: Path, url: str, protocol: str) -> np.ndarray:
    room = tmp_path / "room"
    out = tmp_path / "out"
    rc = main([
        "expose", "--detector", url, "--generator", "sim", "--room", str(room),
        "--protocol", protocol, "--patient-id", "P-1", "--patient-name", "Doe^Jane",
        "--kv", "110", "--mas", "2", "--out", str(out), "--quick-calibration",
    ])  # fmt: skip
    assert rc == 0
    [dcm] = (out / "outbox" / "objects").glob("*.dcm")
    return dcm


def _lung_and_mediastinum(pixels: np.ndarray) -> tuple[float, float, float]:
    """Means of the right lung and of the mediastinum, and the image's 1-99 % range."""
    h, w = pixels.shape
    lung = pixels[int(0.35 * h) : int(0.5 * h), int(0.22 * w) : int(0.32 * w)].astype(float)
    middle = pixels[int(0.35 * h) : int(0.5 * h), int(0.47 * w) : int(0.53 * w)].astype(float)
    low, high = np.percentile(pixels, [1, 99])
    return float(lung.mean()), float(middle.mean()), float(high - low)


def test_expose_shows_a_chest_for_a_chest_protocol(
    tmp_path: Path, dciodvfy: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    url = f"sim://?width={N}&height={N}&seed=4&room={tmp_path / 'room'}"
    dcm = _expose(tmp_path, url, "CHEST PA")
    lung, middle, spread = _lung_and_mediastinum(pydicom.dcmread(dcm).pixel_array)
    # Whatever the presentation (polarity, processing): two anatomies far apart in the
    # image's range (a flat field's regions differ by a small part of its noise).
    assert abs(lung - middle) > 0.25 * spread
    errors, _ = dciodvfy(dcm)
    assert errors == []
    assert Room(tmp_path / "room").placement() is None


def test_an_explicit_phantom_is_kept(tmp_path: Path) -> None:
    url = f"sim://?width={N}&height={N}&seed=4&room={tmp_path / 'room'}&phantom=open"
    pixels = pydicom.dcmread(_expose(tmp_path, url, "CHEST PA")).pixel_array
    lung, middle, spread = _lung_and_mediastinum(pixels)
    assert abs(lung - middle) < 0.05 * spread  # the open field it asked for


def test_which_protocols_and_panels_get_a_phantom(tmp_path: Path) -> None:
    assert protocol_placement("CHEST PA") == Placement("chest", grid_lines_per_cm=40.0, marker="L")
    assert (
        protocol_placement("hand pa") is not None
        and protocol_placement("hand pa").phantom == "hand"
    )  # type: ignore[union-attr]
    assert protocol_placement("FOOT AP") is None and protocol_placement("") is None
    room = tmp_path / "room"
    for url in (
        f"gige://127.0.0.1?room={room}",
        f"sim://?room={room}&phantom=wedge",
        "sim://?width=64",
        f"usb://sim?room={room}&phantom=open",
    ):
        assert isinstance(protocol_phantom(url, "CHEST PA"), nullcontext), url
    with protocol_phantom(f"usb://sim?room={room}", "CHEST PA"):
        assert Room(room).placement() == protocol_placement("CHEST PA")
    assert Room(room).placement() is None
