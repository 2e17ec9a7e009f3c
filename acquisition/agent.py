"""The gateway service: outbox workers, the always-on listener, retention, clean shutdown.

Wiring only; the behaviour lives in :mod:`panelgate.gateway`. At start-up the outbox is
recovered (interrupted sends return to pending), the listener starts so that Storage
Commitment results can arrive, then one worker per destination. :meth:`Agent.stop` lets
each worker finish the instance under way, so a SIGTERM never leaves a half-known state;
a SIGKILL is handled by the next start-up's recovery instead.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from panelgate.gateway.dicomweb import AnyDestination
from panelgate.gateway.outbox import DestinationWorker, Outbox, State
from panelgate.gateway.pacs import AuditTrail, CommitmentResult, Listener

from .config import Config, DestinationConfig
from .errors import ConfigError
from .metrics import Metrics, serve_metrics

__all__ = ["Agent", "destinations_of", "open_outbox"]

_log = logging.getLogger(__name__)


def destinations_of(config: Config) -> dict[str, AnyDestination]:
    """Return the configured destinations by name; ``[pacs]`` counts as ``pacs`` when alone.

    Raises
    ------
    ConfigError
        No destination is configured, or one is invalid.
    """
    tables = dict(config.destinations)
    if not tables and config.pacs is not None:
        p = config.pacs
        tables["pacs"] = DestinationConfig(
            host=p.host,
            port=p.port,
            called_ae=p.called_ae,
            connect_s=p.connect_s,
            dimse_s=p.dimse_s,
        )
    if not tables:
        raise ConfigError("no destination configured: add a [destinations.NAME] section")
    try:
        return {n: t.destination(config.dicom.calling_ae) for n, t in sorted(tables.items())}
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def open_outbox(config: Config) -> Outbox:
    """Open the configured outbox, with a queue per configured destination."""
    return Outbox(
        Path(config.outbox.directory),
        list(destinations_of(config)),
        reserve_bytes=config.outbox.reserve_bytes,
    )


class Agent:
    """The long-running gateway.

    Parameters
    ----------
    config : Config
        Validated configuration.
    seed : int, optional
        Seed of the backoff jitter (tests).
    """

    def __init__(self, config: Config, seed: int | None = None) -> None:
        self.config = config
        self.destinations = destinations_of(config)
        try:
            policy = config.retry.policy()
        except ValueError as exc:
            raise ConfigError(f"[retry]: {exc}") from exc
        self.outbox = open_outbox(config)
        audit_file = config.outbox.audit_file
        lc = config.listener
        self.ae_title = lc.ae_title if lc else config.dicom.calling_ae
        self._forwarder = config.audit.forwarder(source_id=self.ae_title)
        self.metrics = Metrics(self.outbox)
        self._metrics_server: Any = None
        self.audit = AuditTrail(
            Path(audit_file) if audit_file else None,
            _tee(self.metrics.audit_event, self._forwarder),
        )
        self.listener = Listener(
            self.ae_title,
            self._on_commitment,
            host=lc.host if lc else "127.0.0.1",
            port=lc.port if lc else 0,
            allowed_calling_aes=lc.allowed_calling_aes if lc else (),
            tls=lc.tls() if lc else None,
            audit=self.audit,
        )
        rng = random.Random(seed)
        self.workers = [
            DestinationWorker(
                self.outbox,
                name,
                destination,
                policy,
                commit_timeout_s=config.outbox.commit_timeout_s,
                poll_s=config.outbox.poll_s,
                rng=random.Random(rng.random()),
                audit=self.audit,
                on_event_report=self.listener.handle_event_report,
            )
            for name, destination in self.destinations.items()
        ]
        self._started = False

    def start(self) -> Agent:
        """Recover the outbox, start the listener (when configured) and the workers."""
        self.outbox.recover()
        if self.config.listener is not None:
            self.listener.start()
        for worker in self.workers:
            worker.start()
        self._started = True
        if self.config.metrics.port:
            self._metrics_server, _thread = serve_metrics(
                self.metrics, self.config.metrics.host, self.config.metrics.port
            )
        self.audit.record("application-start", local_ae=self.ae_title)
        _log.info(
            "agent started: %s", ", ".join(f"{n} -> {d}" for n, d in self.destinations.items())
        )
        return self

    def enqueue(self, ds: Dataset) -> None:
        """Spool a built instance for every destination and wake the workers.

        Returns once the instance is on disk (fsynced): the acquisition side may forget it.

        Raises
        ------
        OutboxFull
            Below the disk reserve; nothing already spooled is dropped.
        """
        self.outbox.enqueue_dataset(ds)
        for worker in self.workers:
            worker.wake()

    def serve(self, stop: threading.Event) -> None:
        """Run housekeeping (file retention) until ``stop`` is set."""
        final = {
            name: State.COMMITTED if d.commitment else State.SENT
            for name, d in self.destinations.items()
        }
        while not stop.wait(2.0):
            self.outbox.release_expired(self.config.outbox.retention_s, final)
            # a `panelgate send` killed while queuing: finish it for its destinations
            if self.outbox.finish_interrupted():
                for worker in self.workers:
                    worker.wake()

    def stop(self) -> None:
        """Finish the instances under way, then stop the workers and the listener."""
        for worker in self.workers:
            worker.stop()
        self.listener.stop()
        self._started = False
        self.audit.record("application-stop", local_ae=self.ae_title)
        if self._forwarder is not None:
            self._forwarder.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None

    def _on_commitment(self, result: CommitmentResult) -> None:
        changed = self.outbox.apply_commitment(
            result.transaction_uid, result.committed, result.failed
        )
        now = time.time()
        self.metrics.commitment_reported(
            [now - r.commit_requested_at for r in changed if r.commit_requested_at]
        )
        if result.failed:
            for worker in self.workers:
                worker.wake()
        _log.info("commitment %s applied to %d records", result.transaction_uid, len(changed))


def _tee(
    *sinks: Callable[[Mapping[str, Any]], None] | None,
) -> Callable[[Mapping[str, Any]], None]:
    """One audit ``forward`` callable that hands each event to every sink given."""
    given = [sink for sink in sinks if sink is not None]

    def forward(event: Mapping[str, Any]) -> None:
        for sink in given:
            sink(event)

    return forward
