"""The station's HTTP API (Starlette): JSON, server-sent events, one line per refusal.

=======  ================================  ===============================================
Method   Path                              What
=======  ================================  ===============================================
GET      /api/status                       detector, generator, calibration, outbox, exam
GET      /api/worklist                     today's DX steps for this station (C-FIND)
POST     /api/exam                         select worklist item or manual patient + technique
POST     /api/expose                       one exposure (blocks until the image is made)
POST     /api/abort                        abort the exposure in progress
GET      /api/images                       images: review, state per destination
GET      /api/images/{uid}/preview.png     an image's preview
POST     /api/images/{uid}/accept          queue it for every destination
POST     /api/images/{uid}/reject          keep it local, never send it
GET      /api/events                       server-sent events (exposure, exam, image, delivery)
GET      /api/openapi.json                 the OpenAPI 3.1 description (:mod:`.openapi`)
=======  ================================  ===============================================

Errors are ``{"error": "<one line>"}``: 422 for a value refused (with ``field``), 409 for
a request the station's state refuses (nothing moved), 404 for an unknown image, 502 for
a worklist that failed, 500 with ``"exposed": true`` for a failure after the beam (the
image or the raw frame and the exposure record are kept: ``kept`` is the folder, the
line says it too), 401 without the bearer
token when one is configured. The status follows the error's class, as the exit status
of the command line does. Blocking work (C-FIND, an exposure) runs in worker threads;
the event loop only serves.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from panelgate.drivers import EXIT_USAGE, PanelgateError, PatientExposed
from panelgate.gateway import DeliveryError

from .console import console_routes
from .exam import InvalidField, parse_exam
from .openapi import openapi_document
from .service import Station, UnknownImage

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

    async def expose(request: Request) -> Response:
        return await _call(station.expose)

    async def abort(request: Request) -> Response:
        return await _call(lambda: {"aborted": station.abort()})

    async def images(request: Request) -> Response:
        return await _call(station.image_list)

    def _uid(request: Request) -> str:
        uid = str(request.path_params["uid"])
        if not _UID.match(uid):
            raise UnknownImage("no such image: a SOP Instance UID is digits and dots")
        return uid

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
        return await _call(station.accept, uid)

    async def reject(request: Request) -> Response:
        try:
            uid = _uid(request)
            body = await _json_body(request)
            reason = body.get("reason", "") if isinstance(body, dict) else ""
            if not isinstance(reason, str):
                raise InvalidField("reason", "must be a string")
        except (UnknownImage, InvalidField) as exc:
            return _refusal(exc)
        return await _call(station.reject, uid, reason)

    async def events(request: Request) -> Response:
        subscription = station.bus.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": panelgate station events\n\n"
                async for event in subscription.events():
                    yield ": keep-alive\n\n" if event is None else event.sse()
            finally:
                station.bus.unsubscribe(subscription)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    return [
        Route("/api/status", status, methods=["GET"]),
        Route("/api/worklist", worklist, methods=["GET"]),
        Route("/api/exam", exam, methods=["POST"]),
        Route("/api/expose", expose, methods=["POST"]),
        Route("/api/abort", abort, methods=["POST"]),
        Route("/api/images", images, methods=["GET"]),
        Route("/api/images/{uid}/preview.png", preview, methods=["GET"]),
        Route("/api/images/{uid}/accept", accept, methods=["POST"]),
        Route("/api/images/{uid}/reject", reject, methods=["POST"]),
        Route("/api/events", events, methods=["GET"]),
        Route("/api/openapi.json", openapi, methods=["GET"]),
    ]


class BearerToken:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``.

    Parameters
    ----------
    app : ASGI application
        The application behind it.
    token : str
        The expected token; compared in constant time.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = _error(401, "a bearer token is required (Authorization header)")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(station: Station, token: str | None = None) -> Starlette:
    """Return the ASGI application of the station's API.

    Parameters
    ----------
    station : Station
        The started station the routes drive.
    token : str, optional
        Bearer token every request must carry; none needed when None.
    """
    app = Starlette(routes=[*_routes(station), *console_routes(station)])  # console at /
    if token is not None:
        app.add_middleware(BearerToken, token=token)
    return app
