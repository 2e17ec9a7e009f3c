"""The station's HTTP API (Starlette): JSON, server-sent events, one line per refusal.

=======  ================================  ===============================================
Method   Path                              What
=======  ================================  ===============================================
GET      /api/status                       detector, generator, calibration, outbox, exam
GET      /api/worklist                     today's DX steps for this station (C-FIND)
GET      /api/protocols                    the protocol table (codes, technique, EI_T, preset)
POST     /api/exam                         select worklist item or manual patient + protocol
POST     /api/protocol                     choose another protocol for the selected exam
POST     /api/prepare                      first stage: PREP; returns once READY (or refused)
POST     /api/expose                       second stage, from READY only: fire, wait the image
POST     /api/abort                        abort the exposure prepared or in progress
GET      /api/images                       images: review, state per destination
GET      /api/images/{uid}/preview.png     an image's preview
POST     /api/images/{uid}/accept          queue it for every destination
POST     /api/images/{uid}/reject          keep it local, never send it (AAPM TG-305 reason)
POST     /api/images/{uid}/retry           queue again for the destinations that failed
GET      /api/rejects.csv                  reject analysis (TG-305 data elements, no patient)
GET      /api/calibration                  calibration in use; the guided recalibration's state
POST     /api/calibration/start            start a guided recalibration (floods via generator)
POST     /api/calibration/confirm          answer its open question (go on, or no)
POST     /api/calibration/cancel           stop it: nothing more fires, nothing stored
GET      /api/events                       server-sent events (exposure, exam, image, delivery)
GET      /api/openapi.json                 the OpenAPI 3.1 description (:mod:`.openapi`)
GET      /api/session                      who is logged in, and the session's CSRF token
GET      /login                            a minimal login page
POST     /login                            log in (JSON or form): session and CSRF cookies
POST     /logout                           end the session
=======  ================================  ===============================================

Errors are ``{"error": "<one line>"}``: 422 for a value refused (with ``field``), 409 for
a request the station's state refuses (nothing moved), 404 for an unknown image, 502 for
a worklist that failed, 500 with ``"exposed": true`` for a failure after the beam (the
image or the raw frame and the exposure record are kept: ``kept`` is the folder, the
line says it too), 401 without a login or the bearer token when one is required, 403
for a request refused as cross-site or without its CSRF token (:mod:`.access`). The
status follows the error's class, as the exit status of the command line does. Blocking
work (C-FIND, an exposure) runs in worker threads; the event loop only serves.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from panelgate.drivers import EXIT_USAGE, PanelgateError, PatientExposed
from panelgate.gateway import DeliveryError

from .access import USER_SCOPE_KEY, AccessControl
from .auth import SessionStore
from .console import console_routes
from .events import sse_response
from .exam import InvalidField, parse_exam, parse_technique
from .observability import observability_routes
from .openapi import openapi_document
from .rejects import parse_reject
from .service import Station, UnknownImage
from .session_routes import session_routes

__all__ = ["create_app"]

_log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9.]{1,64}$")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()), **extra}, status_code=status)


def _refusal(exc: Exception) -> JSONResponse:
    """Map an error to its HTTP status (see the module docstring)."""
    if isinstance(exc, InvalidField):
        return _error(422, str(exc), field=exc.field)
    if isinstance(exc, UnknownImage):
        return _error(404, str(exc))
    if isinstance(exc, PatientExposed):
        kept = str(exc.kept) if exc.kept is not None else None
        return _error(500, str(exc), exposed=True, kept=kept)
    if isinstance(exc, DeliveryError):
        return _error(502, str(exc))
    if isinstance(exc, PanelgateError):
        return _error(422 if exc.exit_status == EXIT_USAGE else 409, str(exc))
    _log.error("unexpected %s in the API", type(exc).__name__, exc_info=exc)
    return _error(500, f"unexpected {type(exc).__name__}: a bug; the station's log has it")


async def _call(fn: Callable[..., Any], *args: Any) -> JSONResponse:
    try:
        return JSONResponse(await run_in_threadpool(fn, *args))
    except Exception as exc:  # every failure becomes one JSON line with its status
        return _refusal(exc)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidField("body", f"is not JSON ({exc})") from exc


def _object(body: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidField(unknown[0], f"unknown field (known: {sorted(known)})")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise InvalidField(key, "must be a string")
    return value


def _uid(request: Request) -> str:
    uid = str(request.path_params["uid"])
    if not _UID.match(uid):
        raise UnknownImage("no such image: a SOP Instance UID is digits and dots")
    return uid


def user_of(request: Request) -> str:
    """Return the user a request was authenticated as (empty: no login configured)."""
    return str(request.scope.get(USER_SCOPE_KEY, ""))


def _review_routes(station: Station) -> list[Route]:
    """Reject (AAPM TG-305), retry a failed delivery, the reject-analysis CSV."""

    async def reject(request: Request) -> Response:
        try:
            uid = _uid(request)
            reason, note = parse_reject(await _json_body(request))
        except (UnknownImage, InvalidField) as exc:
            return _refusal(exc)
        return await _call(station.reject, uid, reason, note, user_of(request))

    async def retry(request: Request) -> Response:
        try:
            uid = _uid(request)
        except UnknownImage as exc:
            return _refusal(exc)
        return await _call(station.retry, uid)

    async def rejects(request: Request) -> Response:
        try:
            text = await run_in_threadpool(station.rejects_csv)
        except Exception as exc:  # one JSON line, as every other failure
            return _refusal(exc)
        return Response(
            text,
            media_type="text/csv; charset=utf-8; header=present",
            headers={"Content-Disposition": 'attachment; filename="rejects.csv"'},
        )

    return [
        Route("/api/images/{uid}/reject", reject, methods=["POST"]),
        Route("/api/images/{uid}/retry", retry, methods=["POST"]),
        Route("/api/rejects.csv", rejects, methods=["GET"]),
    ]


def _calibration_routes(station: Station) -> list[Route]:
    """Serve the guided recalibration: status, start, answer the open question, cancel."""

    async def status(request: Request) -> Response:
        return await _call(station.calibration)

    async def start(request: Request) -> Response:
        return await _call(station.start_calibration)

    async def confirm(request: Request) -> Response:
        try:
            body = _object(await _json_body(request), {"prompt_id", "answer"})
            prompt_id, yes = body.get("prompt_id"), body.get("answer", True)
            if prompt_id is not None and (type(prompt_id) is not int or prompt_id < 1):
                raise InvalidField("prompt_id", "must be the prompt_id of the question")
            if not isinstance(yes, bool):
                raise InvalidField("answer", "must be true (go on) or false (no)")
        except InvalidField as exc:
            return _refusal(exc)
        return await _call(station.answer_calibration, yes, prompt_id)

    async def cancel(request: Request) -> Response:
        return await _call(station.cancel_calibration)

    return [
        Route("/api/calibration", status, methods=["GET"]),
        Route("/api/calibration/start", start, methods=["POST"]),
        Route("/api/calibration/confirm", confirm, methods=["POST"]),
        Route("/api/calibration/cancel", cancel, methods=["POST"]),
    ]


def _exposure_routes(station: Station) -> list[Route]:
    """Protocols and the two stages of the exposure (the hand switch)."""

    async def protocols(request: Request) -> Response:
        return await _call(station.protocols_public)

    async def protocol(request: Request) -> Response:
        try:
            form = parse_technique(await _json_body(request))
        except InvalidField as exc:
            return _refusal(exc)
        return await _call(lambda: station.choose_protocol(form).public())

    async def prepare(request: Request) -> Response:
        try:
            body = _object(await _json_body(request), {"repeat_reason"})
            reason = _text(body, "repeat_reason")
        except InvalidField as exc:
            return _refusal(exc)
        return await _call(lambda: station.prepare(reason))

    async def expose(request: Request) -> Response:
        try:
            body = _object(await _json_body(request), {"prepare", "repeat_reason"})
            reason = _text(body, "repeat_reason")
            both = body.get("prepare", False)
            if not isinstance(both, bool):
                raise InvalidField("prepare", "must be true or false")
        except InvalidField as exc:
            return _refusal(exc)
        return await _call(lambda: station.expose(prepare=both, repeat_reason=reason))

    return [
        Route("/api/protocols", protocols, methods=["GET"]),
        Route("/api/protocol", protocol, methods=["POST"]),
        Route("/api/prepare", prepare, methods=["POST"]),
        Route("/api/expose", expose, methods=["POST"]),
    ]


def _routes(station: Station) -> list[Route]:
    async def status(request: Request) -> Response:
        return await _call(station.status)

    async def worklist(request: Request) -> Response:
        return await _call(station.worklist_public)

    async def exam(request: Request) -> Response:
        try:
            form = parse_exam(await _json_body(request))
        except InvalidField as exc:
            return _refusal(exc)
        return await _call(lambda: station.select_exam(form).public())

    async def abort(request: Request) -> Response:
        return await _call(lambda: {"aborted": station.abort()})

    async def images(request: Request) -> Response:
        return await _call(station.image_list)

    async def preview(request: Request) -> Response:
        try:
            uid = _uid(request)
            station.image(uid)
        except UnknownImage as exc:
            return _refusal(exc)
        path = station.images.preview_path(uid)
        if not path.is_file():
            return _error(404, f"image {uid} has no preview")
        return FileResponse(path, media_type="image/png")

    async def accept(request: Request) -> Response:
        try:
            uid = _uid(request)
        except UnknownImage as exc:
            return _refusal(exc)
        return await _call(station.accept, uid, user_of(request))

    async def events(request: Request) -> Response:
        subscription = station.bus.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": panelgate station events\n\n"
                async for event in subscription.events():
                    yield ": keep-alive\n\n" if event is None else event.sse()
            finally:
                station.bus.unsubscribe(subscription)

        return sse_response(stream())

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    return [
        Route("/api/status", status, methods=["GET"]),
        Route("/api/worklist", worklist, methods=["GET"]),
        Route("/api/exam", exam, methods=["POST"]),
        *_exposure_routes(station),
        Route("/api/abort", abort, methods=["POST"]),
        Route("/api/images", images, methods=["GET"]),
        Route("/api/images/{uid}/preview.png", preview, methods=["GET"]),
        Route("/api/images/{uid}/accept", accept, methods=["POST"]),
        *_review_routes(station),
        *_calibration_routes(station),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/openapi.json", openapi, methods=["GET"]),
    ]


def create_app(station: Station, token: str | None = None) -> Starlette:
    """Return the ASGI application of the station's API.

    Parameters
    ----------
    station : Station
        The started station the routes drive.
    token : str, optional
        Bearer token of API clients (RFC 6750); without it and without ``[[users]]``
        nobody needs to authenticate (a station on loopback).

    With ``[[users]]`` the console logs in (:mod:`.session_routes`); every request then
    needs a session or the token, and every state-changing one passes the CSRF checks
    and is audited with its user (:mod:`.access`).
    """
    app = Starlette(routes=[*_routes(station), *console_routes(station)])  # console at /
    app.router.routes.extend(observability_routes(station))  # GET /metrics, GET /api/health
    sessions, secure, audit = None, False, _no_audit
    if station is not None:
        st, users = station.setup.station, station.setup.users
        if users:
            sessions = SessionStore(users, st.session_max_s, st.session_idle_s)
        secure, audit = st.tls, station.agent.audit.record
    app.router.routes.extend(session_routes(sessions, secure))
    app.add_middleware(AccessControl, token=token, sessions=sessions, audit=audit)
    return app


def _no_audit(*args: Any, **kwargs: Any) -> None:
    """Record nothing (an application without a station: the OpenAPI test)."""
