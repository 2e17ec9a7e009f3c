"""The station survives a lost detector link and a silent generator (the station as a subprocess).

The panel is ``usb://sim`` in the test's X-ray room with ``control=FILE``
(:mod:`panelgate.simulators.usb.control`): the test, in another process than the station,
unplugs it in the middle of a frame and plugs it back by writing that file. The generator
is the simulated one on a pty in the test's process (its faults are set directly).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from panelgate.simulators.generator import SimFault, SimulatedGenerator

EXAM = {"patient": {"id": "P-LINK", "name": "Link^Lost"}, "kv": 100, "mas": 2}
ONE_CALL = {"prepare": True, "repeat_reason": "test exposure"}
"""``POST /api/expose`` body: both stages of the hand switch in one call, repeats allowed."""


def _write(control: Path, word: str) -> None:
    """Write the control file atomically, as its documentation asks."""
    tmp = control.with_name(control.name + ".tmp")
    tmp.write_text(word)
    os.replace(tmp, control)


def test_unplug_mid_frame_is_reported_exposed_then_the_station_reconnects_and_exposes(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    control = tmp_path / "usb-control"
    url = helpers.panel_url(
        tmp_path, f"usb://sim?width=128&height=128&seed=5&serial=ST-USB&control={control}"
    )
    options = {"idle_check_s": 0.2, "reconnect_max_wait_s": 0.5}
    station = start_station(
        helpers.config(tmp_path, generator.device_path, detector=url, station=options)
    )
    events = station.read_events()
    with station.client() as api:
        assert api.post("/api/exam", json=EXAM).is_success
        assert api.post("/api/expose", json=ONE_CALL).status_code == 200

        _write(control, "unplug")  # the device goes away after the next frame's first transfer
        failed = api.post("/api/expose", json=ONE_CALL)
        assert failed.status_code == 500, failed.text
        body = failed.json()
        assert body["exposed"] is True and body["error"].startswith("the patient WAS exposed")
        assert (Path(body["kept"]) / "exposure.json").is_file(), "the exposure record is kept"

        lost = api.get("/api/status").json()
        assert lost["detector"]["connected"] is False
        assert not lost["station"]["ready"] and "disconnected" in lost["station"]["reason"]
        assert api.post("/api/expose", json=ONE_CALL).status_code == 409, (
            "nothing moves while unplugged"
        )
        helpers.until(
            lambda: api.get("/api/status").json()["detector"].get("reconnect_attempts", 0) >= 2,
            "reconnection attempts while the panel is unplugged",
        )

        _write(control, "plugged")
        helpers.until(lambda: api.get("/api/status").json()["station"]["ready"], "reconnected")
        back = api.get("/api/status").json()["detector"]
        assert back["connected"] and back["serial"] == "ST-USB"
        assert back["mode"]["width"] == 128, "the readout mode is set again"
        again = api.post("/api/expose", json=ONE_CALL)
        assert again.status_code == 200, again.text
        assert len(api.get("/api/images").json()) == 2

        generator.fault = SimFault.NO_ANSWER  # the generator falls silent
        silent = helpers.until(
            lambda: (s := api.get("/api/status").json())["generator"]["fault"] and s,
            "the silent generator to be seen",
        )
        assert not silent["generator"]["answering"] and not silent["station"]["ready"]
        assert silent["generator"]["state"] == "FAULT"
        assert "generator does not answer" in silent["station"]["reason"]
        assert api.post("/api/expose", json=ONE_CALL).status_code == 409
        generator.fault = SimFault.NONE
        helpers.until(lambda: api.get("/api/status").json()["station"]["ready"], "answering")
        assert api.post("/api/expose", json=ONE_CALL).status_code == 200

    faults = [(e["state"], bool(e["fault"])) for e in events.of("generator") if "fault" in e]
    assert ("FAULT", True) in faults and faults[faults.index(("FAULT", True)) + 1] == (
        "IDLE",
        False,
    )
    links = [e["connected"] for e in events.of("detector")]
    assert links == [False, True]
    assert generator.model.exposures == 4
    assert station.signal(signal.SIGTERM) == 0
