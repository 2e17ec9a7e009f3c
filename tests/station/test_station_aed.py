"""A room without a generator link (``generator = "none"``): an AED panel, fired at the console.

In one process with the station's service object: the station commands no generator
(:class:`~panelgate.drivers.generator.ManualGenerator`); the test plays the technician,
firing a simulated generator panelgate does not talk to, in the panel's X-ray room, once
the station waits for the panel's readout. The image carries the technique entered.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest

from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator
from panelgate.simulators.room import Room
from panelgate.station.config import parse_station_config
from panelgate.station.exam import ExamForm
from panelgate.station.service import Station

# The station queues its last study's dose SR when it closes; delivering it to the test's
# unreachable destination makes pynetdicom 3.0.4 leak the socket of the refused connect
# (see tests/integration/test_storescp.py). Only that warning is ignored, in this module.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


def test_an_aed_panel_takes_a_beam_fired_at_the_console_and_the_entered_technique_is_kept(
    tmp_path: Path,
) -> None:
    room = tmp_path / "room"
    url = f"sim://?width=128&height=128&seed=3&serial=ST-AED&trigger=aed&room={room}"
    setup = parse_station_config({
        "station": {"state_dir": str(tmp_path / "state"), "generator": "none",
                    "trigger": "aed", "quick_calibration": True},
        "detector": {"url": url, "frame_timeout_s": 60},
        "destinations": {"nowhere": {"host": "127.0.0.1", "port": 9, "connect_s": 1}},
    })  # fmt: skip
    station = Station(setup, seed=1)
    waiting = threading.Event()
    station.start()
    try:
        assert station.status()["generator"]["identity"].startswith("no generator link")
        station.select_exam(ExamForm(kv=90, mas=2, patient={"id": "P-AED", "name": "Aed^Panel"}))
        assert station.room.workflow is not None
        station.room.workflow.subscribe(
            lambda change: waiting.set() if change.new.value == "readout" else None
        )
        answer: list[dict[str, object]] = []
        worker = threading.Thread(target=lambda: answer.append(station.expose(prepare=True)))
        worker.start()
        assert waiting.wait(60), "the station waits for the panel"
        with InProcessGenerator(GeneratorSpec(prep_s=0.05), room=Room(room)) as console:
            console.set_technique(90, 2)  # the technician sets the same technique and fires
            console.prep()
            console.wait_ready(5)
            console.expose()
            console.wait_done(5)
        worker.join(60)
    finally:
        station.drain()
        station.close()
    (made,) = answer
    assert made["delivered"] == {"kv": 90, "ma": 200, "ms": 10, "mas": 2}
    held = tmp_path / "state" / "images" / "held" / f"{made['sop_instance_uid']}.dcm"
    ds = pydicom.dcmread(held)
    assert float(ds.KVP) == 90 and int(ds.ExposureInuAs) == 2000
    pedestal = setup.config.calibration.pedestal_counts  # what a frame without dose shows
    assert ds.pixel_array.mean() > 4 * pedestal, "the beam reached the panel through the room"
