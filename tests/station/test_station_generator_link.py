"""The station reopens a generator whose serial port broke (the station as a subprocess).

The generator is the simulated one on a pty in the test's process. The station opens it by
a stable path: a symlink in the test's folder to the pty's slave, as a udev
``/dev/serial/by-id`` link names a USB-serial adapter; "replugging" makes a new pty and
re-points the link, as udev re-creates it on replug.
"""

from __future__ import annotations

import os
import signal
import termios
from pathlib import Path
from typing import Any

import jsonschema

from panelgate.simulators.generator import GeneratorSpec, SimFault, SimulatedGenerator
from panelgate.simulators.room import Room
from panelgate.station.openapi import openapi_document

EXAM = {"patient": {"id": "P-GENLINK", "name": "Gen^Link"}, "kv": 100, "mas": 2}
ONE_CALL = {"prepare": True, "repeat_reason": "test exposure"}
"""``POST /api/expose`` body: both stages of the hand switch in one call, repeats allowed."""

OPTIONS = {"idle_check_s": 0.2, "reconnect_max_wait_s": 0.5}
XOFF = b"\x13"


def _point(link: Path, target: str) -> None:
    """(Re-)create the symlink ``link`` -> ``target`` atomically, as udev does on plug."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _simulated(tmp_path: Path, helpers: Any, serial: str = "GEN-SIM-0001") -> SimulatedGenerator:
    """A started simulated generator in the test's room (the same spec as the fixture's)."""
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1, serial=serial)
    return SimulatedGenerator(spec, seed=4, room=Room(helpers.room(tmp_path))).start()


def _schema(name: str) -> dict[str, Any]:
    """The OpenAPI document's schema ``name``, resolvable on its own (JSON Schema 2020-12)."""
    return {"$ref": f"#/components/schemas/{name}", "components": openapi_document()["components"]}


def _generator_events(events: Any) -> list[tuple[str, str]]:
    return [(e["state"], e.get("fault", "")) for e in events.of("generator") if "fault" in e]


def test_a_generator_whose_pty_went_away_is_reopened_by_its_path_and_exposes_again(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port = tmp_path / "ttyGEN"
    _point(port, generator.device_path)
    station = start_station(helpers.config(tmp_path, str(port), station=OPTIONS))
    events = station.read_events()
    started: list[SimulatedGenerator] = []
    try:
        with station.client() as api:
            assert api.post("/api/exam", json=EXAM).is_success
            assert api.post("/api/expose", json=ONE_CALL).status_code == 200
            identity = api.get("/api/status").json()["generator"]["identity"]

            generator.stop()  # the adapter is unplugged: the pty is gone, the link dangles
            lost = helpers.until(
                lambda: (s := api.get("/api/status").json())["generator"]["reconnecting"] and s,
                "the broken generator port to be seen",
            )
            assert not lost["generator"]["answering"] and not lost["station"]["ready"]
            assert "generator does not answer" in lost["station"]["reason"]
            jsonschema.validate(lost, _schema("Status"))  # as documented, mpps included
            health = api.get("/api/health")
            assert health.status_code == 503, health.text
            jsonschema.validate(health.json(), _schema("Health"))
            assert "generator does not answer" in health.json()["expose"]["reason"]
            helpers.until(
                lambda: api.get("/api/status").json()["generator"]["reconnect_attempts"] >= 2,
                "reopening attempts while the generator is away",
            )
            refused = api.post("/api/expose", json=ONE_CALL)
            assert refused.status_code == 409, refused.text
            assert "generator does not answer" in refused.json()["error"]

            other = _simulated(tmp_path, helpers, serial="GEN-OTHER-9")  # the wrong one
            started.append(other)
            _point(port, other.device_path)
            wrong = helpers.until(
                lambda: (
                    "another generator" in (s := api.get("/api/status").json())["station"]["reason"]
                    and s
                ),
                "the other generator to be refused",
            )
            assert "GEN-OTHER-9" in wrong["station"]["reason"] and not wrong["station"]["ready"]
            assert api.post("/api/expose", json=ONE_CALL).status_code == 409
            assert "PREP" not in other.model.commands and "KV" not in other.model.commands, (
                "a generator that identified itself as another is never driven"
            )

            back = _simulated(tmp_path, helpers)  # the room's generator, plugged back
            started.append(back)
            _point(port, back.device_path)
            helpers.until(lambda: api.get("/api/status").json()["station"]["ready"], "reopened")
            status = api.get("/api/status").json()["generator"]
            assert status["answering"] and not status["reconnecting"] and not status["fault"]
            assert status["identity"] == identity
            jsonschema.validate(api.get("/api/status").json(), _schema("Status"))
            again = api.post("/api/expose", json=ONE_CALL)
            assert again.status_code == 200, again.text
            assert back.model.exposures == 1 and generator.model.exposures == 1
            assert other.model.exposures == 0
        assert station.signal(signal.SIGTERM) == 0
    finally:
        for sim in started:
            sim.stop()
    seen = _generator_events(events)
    faults = [fault for state, fault in seen if state == "FAULT"]
    assert len(faults) == 2, seen  # the port broke; the other generator was refused
    assert "went away" in faults[0] and "another generator" in faults[1], seen
    after = seen[seen.index(("FAULT", faults[1])) + 1 :]
    assert after[0] == ("IDLE", ""), "back once the room's own generator answered"


def test_a_write_timeout_while_idle_is_recovered_by_reopening_the_port(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port = tmp_path / "ttyGEN"
    _point(port, generator.device_path)
    station = start_station(helpers.config(tmp_path, str(port), station=OPTIONS))
    events = station.read_events()
    with station.client() as api:
        assert api.post("/api/exam", json=EXAM).is_success
        assert api.post("/api/expose", json=ONE_CALL).status_code == 200

        # The line stalls: software flow control turned on and XOFF received, so the
        # station's next write cannot leave (pyserial's 'Write timeout'). Nothing here
        # releases it: only the station's reopening (which sets the port up again,
        # without IXON) does.
        fd = os.open(generator.device_path, os.O_RDWR | os.O_NOCTTY)
        try:
            attrs = termios.tcgetattr(fd)
            attrs[0] |= termios.IXON
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            os.write(generator._master, XOFF)  # the generator's side of the line
            helpers.until(
                lambda: any("Write timeout" in f for _, f in _generator_events(events)),
                "the write timeout to be reported",
            )
            helpers.until(
                lambda: _generator_events(events)[-1] == ("IDLE", ""), "the port reopened"
            )
            assert not termios.tcgetattr(fd)[0] & termios.IXON, "the port was set up again"
        finally:
            os.close(fd)
        helpers.until(lambda: api.get("/api/status").json()["station"]["ready"], "ready")
        again = api.post("/api/expose", json=ONE_CALL)
        assert again.status_code == 200, again.text
        assert generator.model.exposures == 2
        assert generator.model.commands.count("IDN?") >= 2, "it identified itself again"
    assert station.signal(signal.SIGTERM) == 0


def test_a_fault_the_generator_reports_is_not_a_broken_port_and_is_not_reopened(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path, station=OPTIONS))
    with station.client() as api:
        assert api.post("/api/exam", json=EXAM).is_success
        generator.fault = SimFault.INTERLOCK  # the door is open: PREP refused with E10
        refused = api.post("/api/expose", json=ONE_CALL)
        assert refused.status_code != 200 and "interlock" in refused.text.lower(), refused.text
        probes = generator.model.commands.count("ST?")
        helpers.until(
            lambda: generator.model.commands.count("ST?") >= probes + 5, "idle probes meanwhile"
        )
        status = api.get("/api/status").json()["generator"]
        assert not status["reconnecting"] and status["reconnect_attempts"] == 0
        assert generator.model.commands.count("IDN?") == 1, "the port was never reopened"
        generator.fault = SimFault.NONE  # the door is closed again
        again = api.post("/api/expose", json=ONE_CALL)
        assert again.status_code == 200, again.text
        assert generator.model.commands.count("IDN?") == 1
    assert station.signal(signal.SIGTERM) == 0
