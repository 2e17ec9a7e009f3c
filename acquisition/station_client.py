"""A client of a running station's HTTP API, on the standard library only (urllib).

``panelgate expose --station URL`` drives the station (``panelgate station``) through
the API it serves: ``POST /api/exam`` selects the exam, ``POST /api/prepare`` (the hand
switch's first stage) returns once the generator is READY, ``POST /api/expose`` (the
second stage) fires and blocks until the image is made, ``GET /api/events`` streams the workflow's
states as server-sent events (HTML Living Standard, "Server-sent events": ``event:`` and
``data:`` lines, a blank line ends one event, lines starting with ``:`` are comments),
and ``GET /api/images`` says where the image went. Authentication is an RFC 6750 bearer
token when the station requires one.

The station's answers are translated here, at one boundary, into the error tree: a
refusal (422, 409, or 401 without a valid token) is :class:`UsageError` (exit 2,
nothing moved); a failure after the beam (500 with ``"exposed": true``) is
:class:`PatientExposed` with the station's own message, which starts with "the patient
WAS exposed"; a station that cannot be reached, or any other answer, is a
:class:`PanelgateError` (exit 1). This module never imports the station (a layer above).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panelgate.drivers import PanelgateError, PatientExposed, UsageError

__all__ = ["ExposureAtStation", "StationClient", "StationEvents", "expose_at_station"]

_ENDS = ("failed", "idle")
"""Exposure states an exposure that did not make an image ends in."""

Show = Callable[[str, dict[str, Any]], None]
"""Called with each event's kind (``exposure``, ``image``, ...) and data as it arrives."""


@dataclass(frozen=True)
class StationClient:
    """The HTTP API of one station.

    Parameters
    ----------
    url : str
        The station's base URL, ``http://HOST:PORT`` or ``https://HOST:PORT``.
    token : str or None
        Bearer token (RFC 6750) sent with every request; None sends none.
    timeout_s : float
        Longest wait for an answer to a request that does not expose.
    expose_timeout_s : float
        Longest wait for ``POST /api/expose`` (prep, beam, readout and processing).
    """

    url: str
    token: str | None = None
    timeout_s: float = 30.0
    expose_timeout_s: float = 600.0
    _opener: urllib.request.OpenerDirector = field(
        init=False, repr=False, compare=False,
        default_factory=lambda: urllib.request.build_opener(urllib.request.ProxyHandler({})),
    )  # fmt: skip

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")) or "://" == self.url[-3:]:
            raise UsageError(f"--station {self.url!r}: give the station's http(s)://HOST:PORT")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @classmethod
    def with_token_file(cls, url: str, token_file: Path | None) -> StationClient:
        """Return a client whose token is read from ``token_file`` (None: no token)."""
        if token_file is None:
            return cls(url)
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(
                f"--station-token-file {token_file}: cannot be read ({reason})"
            ) from None
        if not token:
            raise UsageError(f"--station-token-file {token_file} holds no token")
        return cls(url, token)

    def get(self, path: str) -> Any:
        """``GET path``; return the decoded JSON answer."""
        return self._call(self._request(path), self.timeout_s)

    def post(self, path: str, body: dict[str, Any] | None = None, *, exposes: bool = False) -> Any:
        """``POST path`` with a JSON body; return the decoded JSON answer."""
        data = json.dumps(body or {}).encode()
        request = self._request(path, data, {"Content-Type": "application/json"})
        return self._call(request, self.expose_timeout_s if exposes else self.timeout_s)

    def open_events(self) -> Any:
        """Open ``GET /api/events``; return the response once the station has subscribed it."""
        request = self._request("/api/events", headers={"Accept": "text/event-stream"})
        return self._open(request, None)

    def _request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> urllib.request.Request:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.token is not None:
            all_headers["Authorization"] = f"Bearer {self.token}"
        method = "GET" if data is None else "POST"
        return urllib.request.Request(self.url + path, data, all_headers, method=method)

    def _call(self, request: urllib.request.Request, timeout_s: float) -> Any:
        with self._open(request, timeout_s) as response:
            raw = response.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise PanelgateError(
                f"the station at {self.url} answered {request.selector} with no JSON"
            ) from None

    def _open(self, request: urllib.request.Request, timeout_s: float | None) -> Any:
        try:
            return self._opener.open(request, timeout=timeout_s)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _translate(exc.code, exc.read(), self.url, request.selector) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            text = getattr(reason, "strerror", None) or str(reason)
            raise PanelgateError(f"the station at {self.url} cannot be reached: {text}") from None


def _translate(status: int, raw: bytes, url: str, path: str) -> PanelgateError:
    """Map one error answer of the station to the error tree (see the module docstring)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = " ".join(str(body.get("error") or f"HTTP {status} from {path}").split())
    if status == 401:
        return UsageError(
            f"the station at {url} requires a bearer token: give it with "
            "--station-token-file FILE (the one given, if any, was refused)"
        )
    if status in (409, 422):
        field_name = body.get("field")
        where = f" ({field_name})" if status == 422 and field_name else ""
        return UsageError(f"the station refused{where}: {message}")
    if status == 500 and body.get("exposed") is True:
        kept = body.get("kept")
        return PatientExposed(message, kept=Path(kept) if isinstance(kept, str) else None)
    return PanelgateError(f"the station at {url} failed ({status}): {message}")


class StationEvents:
    """The station's server-sent events, read by a thread of their own.

    Opened (``with``) before the exposure is asked for, so that none of its states is
    missed; each event is handed to ``show`` as it arrives and kept for
    :meth:`wait_for`. Leaving the ``with`` block asks the reader to stop: it closes the
    stream at the next event or keep-alive comment (a daemon thread, never joined).
    """

    def __init__(self, client: StationClient, show: Show) -> None:
        self._client = client
        self._show = show
        self._seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()

    def __enter__(self) -> StationEvents:
        response = self._client.open_events()
        threading.Thread(target=self._read, args=(response,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()

    def wait_for(self, wanted: Callable[[str, dict[str, Any]], bool], timeout_s: float) -> bool:
        """Wait until an event ``wanted`` has arrived; False at the deadline."""
        with self._changed:
            arrived = lambda: any(wanted(k, d) for k, d in self._seen)  # noqa: E731
            return self._changed.wait_for(arrived, timeout_s)

    def _read(self, response: Any) -> None:
        kind, data = "message", ""
        try:
            with response:
                for raw in response:
                    if self._stop.is_set():
                        return
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        self._arrived(kind, json.loads(data))
                        kind, data = "message", ""
        except (OSError, ValueError):  # the station went away or sent a broken event
            return

    def _arrived(self, kind: str, data: dict[str, Any]) -> None:
        self._show(kind, data)
        with self._changed:
            self._seen.append((kind, data))
            self._changed.notify_all()


@dataclass(frozen=True)
class ExposureAtStation:
    """What the station made: its answer to ``POST /api/expose`` and the image's entry.

    Attributes
    ----------
    made : dict
        ``sop_instance_uid``, ``delivered`` (kv, ma, ms, mas), ``review``.
    image : dict or None
        The image as ``GET /api/images`` lists it (review, state per destination).
    """

    made: dict[str, Any]
    image: dict[str, Any] | None


def expose_at_station(
    client: StationClient, exam: dict[str, Any], show: Show, *, events_s: float = 30.0
) -> ExposureAtStation:
    """Select ``exam`` at the station and make one exposure, showing its events.

    Parameters
    ----------
    client : StationClient
        The station.
    exam : dict
        The body of ``POST /api/exam`` (``accession`` or ``patient``, and the technique).
    show : callable
        Called with each server-sent event as it arrives.
    events_s : float
        Longest wait, after the image is made, for its event (the states before it).

    Raises
    ------
    UsageError
        The station refused the exam or the exposure: nothing moved.
    PatientExposed
        The exposure failed after the beam.
    PanelgateError
        The station cannot be reached or failed otherwise.
    """
    client.post("/api/exam", exam)
    with StationEvents(client, show) as events:
        try:
            client.post("/api/prepare", exposes=True)
            made = client.post("/api/expose", exposes=True)
        except (UsageError, PatientExposed):  # show the states up to the end first
            events.wait_for(lambda k, d: k == "exposure" and d.get("state") in _ENDS, 5.0)
            raise
        uid = made.get("sop_instance_uid") if isinstance(made, dict) else None
        if not isinstance(uid, str):
            raise PanelgateError(f"the station at {client.url} made no SOP Instance UID")
        events.wait_for(lambda k, d: k == "image" and d.get("sop_instance_uid") == uid, events_s)
    images = client.get("/api/images")
    image = next((i for i in images if i.get("sop_instance_uid") == uid), None)
    return ExposureAtStation(made, image)
