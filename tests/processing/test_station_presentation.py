"""The station processes each image with its protocol's preset, grid and EI_T (issue 14).

A ``panelgate station`` process (the station suite's fixtures: a pty generator in the
test's room, a simulated panel) exposes a hand protocol and a chest protocol. The For
Presentation DX names the protocol's preset in its window explanation, carries the
protocol's Target Exposure Index, and is dciodvfy-clean. The simulated panel's URL names
no ``phantom=``, so the room holds the protocol's phantom for the exposure (a chest, a
hand): the image shows anatomy, not a flat field, and the room is empty afterwards.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from panelgate.simulators import Room

_spec = importlib.util.spec_from_file_location(
    "_station_fixtures_for_processing", Path(__file__).parents[1] / "station" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_station = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _station  # its dataclasses look their module up
_spec.loader.exec_module(_station)
generator = _station.generator  # the station suite's fixtures (importlib mode)
start_station = _station.start_station
helpers = _station.helpers


def _expose(api: Any, protocol: str) -> dict[str, Any]:
    chosen = api.post("/api/protocol", json={"protocol": protocol})
    assert chosen.status_code == 200, chosen.text
    assert api.post("/api/prepare").status_code == 200
    made = api.post("/api/expose")
    assert made.status_code == 200, made.text
    return dict(made.json())


def _spread(pixels: np.ndarray) -> float:
    """Inter-decile range of the field's middle over its 1-99 % range: anatomy is wide."""
    h, w = pixels.shape
    middle = pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].astype(float)
    low, high = np.percentile(pixels, [1, 99])
    p10, p90 = np.percentile(middle, [10, 90])
    return float((p90 - p10) / max(high - low, 1.0))


def test_each_protocol_gets_its_preset_ei_t_and_phantom(  # type: ignore[no-untyped-def]
    generator, start_station, helpers, tmp_path: Path,
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:  # fmt: skip
    url = helpers.panel_url(tmp_path, "sim://?width=192&height=192&seed=3&serial=ST-P")
    station = start_station(helpers.config(tmp_path, generator.device_path, detector=url))
    with station.client() as api:
        listed = {p["name"]: p for p in api.get("/api/protocols").json()}
        exam = api.post(
            "/api/exam", json={"patient": {"id": "P-PRES", "name": "Pres^Ent"},
                               "protocol": "HAND PA"},
        )  # fmt: skip
        assert exam.status_code == 200, exam.text
        made = {name: _expose(api, name) for name in ("HAND PA", "CHEST PA")}
    assert station.signal(signal.SIGTERM) == 0
    held = tmp_path / "state" / "images" / "held"
    for name, result in made.items():
        protocol = listed[name]
        path = held / f"{result['sop_instance_uid']}.dcm"
        ds = pydicom.dcmread(path)
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        preset = protocol["preset"].upper()
        assert preset in ds.WindowCenterWidthExplanation, (name, ds.WindowCenterWidthExplanation)
        assert float(ds.TargetExposureIndex) == protocol["target_ei"]
        errors, _ = dciodvfy(path)
        assert errors == [], (name, errors)
        # the protocol's phantom: anatomy spans much of the image's range (a flat field's
        # middle spans a few percent of it: its noise)
        assert _spread(ds.pixel_array) > 0.2, name
    assert listed["HAND PA"]["preset"] != listed["CHEST PA"]["preset"]
    assert Room(helpers.room(tmp_path)).placement() is None, "the room is empty again"
