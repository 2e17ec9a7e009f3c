"""The station's parts in one process: events fan-out, outbox watch, [station] section, room URL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from panelgate.drivers import ConfigError
from panelgate.gateway.outbox import Outbox, Record, State
from panelgate.station.config import parse_station_config
from panelgate.station.devices import panel_url, room_of
from panelgate.station.events import EventBus
from panelgate.station.outbox_watch import OutboxWatch


def test_events_published_from_other_threads_reach_every_subscriber_in_order() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        bus = EventBus()
        first, second = bus.subscribe(), bus.subscribe()

        def publisher() -> None:
            for n in range(5):
                bus.publish("exposure", n=n)
            bus.close()

        threading.Thread(target=publisher).start()

        async def read(sub) -> list[int]:  # type: ignore[no-untyped-def]
            return [e.data["n"] async for e in sub.events() if e is not None]

        a, b = await asyncio.gather(read(first), read(second))
        return a, b

    a, b = asyncio.run(scenario())
    assert a == b == [0, 1, 2, 3, 4]


def test_a_subscriber_that_stops_reading_is_closed_not_grown() -> None:
    async def scenario() -> list[int]:
        bus = EventBus(max_queued=3)
        sub = bus.subscribe()
        for n in range(10):
            bus.publish("delivery", n=n)
        await asyncio.sleep(0)  # let the loop run the queued hand-overs
        bus.publish("delivery", n=99)  # no longer delivered to it
        return [e.data["n"] async for e in sub.events() if e is not None]

    received = asyncio.run(scenario())
    assert received == [0, 1, 2], "what it had room for, then its stream ended"


def test_the_outbox_watch_reports_each_change_once(tmp_path: Path, dx) -> None:  # type: ignore[no-untyped-def]
    outbox = Outbox(tmp_path / "outbox", ["a", "b"])
    seen: list[tuple[str, str, str]] = []

    def on_change(record: Record | None, uid: str, destination: str) -> None:
        seen.append((uid, destination, record.state.value if record else "released"))

    watch = OutboxWatch(outbox, on_change)
    watch.start()
    try:
        ds = dx(seed=3)
        uid = str(ds.SOPInstanceUID)
        outbox.enqueue_dataset(ds)
        watch.look()
        assert sorted(seen) == [(uid, "a", "pending"), (uid, "b", "pending")]
        seen.clear()
        (record,) = outbox.records("a")
        sent = outbox.move(record, State.SENT)
        watch.look()
        outbox.move(sent, State.COMMITTED)  # within the same file-system tick, likely
        watch.look()
        watch.look()  # nothing new: nothing reported
        assert seen == [(uid, "a", "sent"), (uid, "a", "committed")]
        seen.clear()
        outbox.purge(State.COMMITTED, "a")
        watch.look()
        assert seen == [(uid, "a", "released")]
    finally:
        watch.stop()


def test_station_and_shared_sections_are_checked_together() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_station_config(
            {
                "station": {"port": "8470", "quick_calibration_frames": 1, "host": "10.0.0.5"},
                "outbox": {"reserve_mb": -1},
            },
            source="room.toml",
        )
    message = str(refused.value)
    assert message.startswith("room.toml: ") and "\n" not in message
    for part in ("[outbox] reserve_mb", "[station] port must be int",
                 "[station] quick_calibration_frames", "[station] host"):  # fmt: skip
        assert part in message, (part, message)


def test_the_outbox_lives_under_the_state_dir_unless_configured() -> None:
    dest = {"destinations": {"pacs": {"host": "127.0.0.1", "port": 104}}}
    setup = parse_station_config({"station": {"state_dir": "/srv/pg"}, **dest})
    assert setup.config.outbox.directory == "/srv/pg/outbox"
    setup = parse_station_config({**dest, "outbox": {"directory": "/spool"}})
    assert setup.config.outbox.directory == "/spool"
    assert setup.station.state_dir == "/var/lib/panelgate"


def test_generator_none_needs_aed_and_the_simulated_room_is_under_the_state_dir() -> None:
    dest = {"destinations": {"pacs": {"host": "127.0.0.1", "port": 104}}}
    with pytest.raises(ConfigError, match=r'\[station\] generator "none" .* needs trigger = "aed"'):
        parse_station_config({"station": {"generator": "none"}, **dest})
    setup = parse_station_config({"station": {"generator": "none", "trigger": "aed"}, **dest})
    assert setup.station.generator == "none"

    sim = parse_station_config({"station": {"state_dir": "/srv/pg a"}, **dest}).station
    assert panel_url("sim://?width=64", sim) == "sim://?width=64&room=/srv/pg%20a/room"
    assert panel_url("usb://sim", sim) == "usb://sim?room=/srv/pg%20a/room"
    assert room_of(panel_url("usb://sim", sim)) == "/srv/pg a/room"
    named = "sim://?room=/elsewhere"
    assert panel_url(named, sim) == named, "a room the URL names is kept"
    assert panel_url("gige://192.0.2.7", sim) == "gige://192.0.2.7", "a real panel is not moved"
    serial = parse_station_config({"station": {"generator": "/dev/ttyUSB0"}, **dest}).station
    assert panel_url("sim://?width=64", serial) == "sim://?width=64", "no simulated beam to reach"
    aed = parse_station_config({"station": {"trigger": "aed"}, **dest}).station
    assert panel_url("usb://sim", aed).startswith("usb://sim?trigger=aed&room="), "set up as AED"
    assert panel_url("usb://sim?trigger=aed", aed).count("trigger=") == 1
