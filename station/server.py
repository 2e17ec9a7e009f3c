"""Running the station: the HTTP server beside the service, and how it stops.

The API is served by uvicorn in a thread of its own, on a socket bound here first (so
that a port in use is refused at once, in one line, and port 0 can be reported). The
main thread waits for a stop signal (:class:`~panelgate.acquisition.stopping.StopSignals`):

1. new exposures are refused and the one in progress is finished (its image is kept);
2. event streams end and the server stops taking requests;
3. the agent finishes the sends under way and stops; the devices are closed.

SIGTERM then exits 0, SIGINT 130 (1 if the HTTP server ended by itself). A SIGKILL loses
nothing either: the outbox and the image index are recovered at the next start.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time

import uvicorn
from pynetdicom import _config as pynetdicom_config

from panelgate.acquisition.errors import ConfigError
from panelgate.acquisition.stopping import StopSignals
from panelgate.drivers import EXIT_FAILED

from .api import create_app
from .config import StationSetup
from .service import Station
from .startup import StartupPhases

__all__ = ["listen", "run_station"]

_log = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0
_STOP_POLL_S = 0.1


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (IPv4 or IPv6).

    Raises
    ------
    ConfigError
        The address cannot be bound (in use, not ours, no permission); nothing has moved.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"[station] host/port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def run_station(
    setup: StationSetup, seed: int | None = None, startup: StartupPhases | None = None
) -> int:
    """Run the station until SIGTERM (return 0) or SIGINT (return 130); see the module.

    ``startup`` records the phases of the start-up (:mod:`.startup`), logged once ready.
    """
    st = setup.station
    startup = startup or StartupPhases()
    with startup.phase("API socket"):
        sock = listen(st.host, st.port)
    chunked = pynetdicom_config.STORE_SEND_CHUNKED_DATASET
    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True  # as `panelgate agent` delivers
    try:
        with StopSignals() as signals:
            station = Station(setup, seed=seed, startup=startup)
            try:
                station.start()
                served = _serve(station, sock, signals.stop)
            finally:
                station.close()
            print(f"panelgate station: stopped ({_summary(station)})", flush=True)
        return signals.exit_status if served else EXIT_FAILED
    finally:
        pynetdicom_config.STORE_SEND_CHUNKED_DATASET = chunked
        sock.close()


def _serve(station: Station, sock: socket.socket, stop: threading.Event) -> bool:
    """Serve until ``stop``; return False when the HTTP server ended by itself."""
    st = station.setup.station
    http_started_s = station.startup.now_s()
    config = uvicorn.Config(
        create_app(station, st.api_token()),
        log_config=None,  # logging is the command line's (acquisition.cli)
        access_log=False,
        lifespan="off",
        ssl_certfile=st.tls_cert_file or None,
        ssl_keyfile=st.tls_key_file or None,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise ConfigError(f"the HTTP server did not start on {st.host}:{st.port}")
    ready_s = station.startup.now_s()
    station.startup.add("HTTP server", http_started_s, ready_s)
    _log.info("start-up: %s", station.startup.summary(ready_s))
    host, port = sock.getsockname()[:2]
    scheme = "https" if st.tls else "http"
    ready = station.not_ready()
    print(
        f"panelgate station: API on {scheme}://{host}:{port}/api/ "
        f"({'bearer token' if st.api_token_file else 'no token'}); "
        f"delivering to {', '.join(station.agent.destinations)}; "
        f"{ready or 'ready'}",
        flush=True,
    )
    try:
        while not _stopped(stop, _STOP_POLL_S):
            if not thread.is_alive():
                print("panelgate: error: the HTTP server stopped", file=sys.stderr, flush=True)
                return False
        return True
    finally:
        station.drain()
        station.bus.close()
        server.should_exit = True
        thread.join(timeout=15)


def _stopped(stop: threading.Event, poll_s: float) -> bool:
    """Wait up to ``poll_s`` for ``stop`` without taking its lock; return whether it is set.

    The stop signal's handler sets ``stop`` in this (the main) thread, between two of its
    bytecodes. ``stop.wait()`` holds the event's lock for a moment each time it is called;
    a signal arriving then made the handler wait for that lock forever (the station hung
    on SIGTERM). Sleeping takes no lock; the stop is seen within ``poll_s``.
    """
    if stop.is_set():
        return True
    time.sleep(poll_s)
    return stop.is_set()


def _summary(station: Station) -> str:
    counts = station.agent.outbox.counts()
    parts = [
        f"{name}: " + ", ".join(f"{v} {k}" for k, v in c.items() if v)
        for name, c in counts.items()
        if any(c.values())
    ]
    return "; ".join(parts) or "outbox empty"
