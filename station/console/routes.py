"""The console's routes: the page, its HTML fragments (htmx), its live stream and files.

=======  ========================  ==========================================================
Method   Path                      What
=======  ========================  ==========================================================
GET      /                         the console (worklist, patient, protocol, exposure, preview)
GET      /login                    the login form (the station's ``POST /login`` takes it)
GET      /console/calibration      calibration status and the guided recalibration
GET      /console/worklist         fragment: today's DX steps (C-FIND), or why there are none
POST     /console/validate         fragment: the manual patient checked as the header will
GET      /console/state            fragment: detector, generator, calibration, outbox
GET      /console/images           fragment: images, review and delivery per destination
GET      /console/events           server-sent events: the fragments above, re-rendered on
                                   every station event (and the state every 2 s without
                                   one, sent when it changed), and the station's event
GET      /console/static/...       htmx, its SSE extension, the console's script and style
=======  ========================  ==========================================================

The console drives the station through its JSON API (``/api/...``) from the page's
script; these routes only render. Patient data travels in request and response bodies,
never in URLs, and is not logged. Live updates come from the station's
:class:`~panelgate.station.events.EventBus` (never by reloading the page).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from panelgate.drivers import PanelgateError
from panelgate.gateway import DeliveryError
from panelgate.station.events import sse_response
from panelgate.station.service import Station

from .validate import PATIENT_FIELDS, check_patient
from .views import image_view, state_view

__all__ = ["TG305_REASONS", "console_routes"]

_log = logging.getLogger(__name__)

TG305_REASONS = (
    ("positioning", "Positioning"),
    ("patient motion", "Patient motion"),
    ("artefact", "Artefact"),
    ("exposure error", "Exposure error (under/over)"),
    ("equipment", "Equipment failure"),
    ("test image", "Test / QC image"),
    ("other", "Other"),
)
"""Reject reasons of AAPM TG-305 (Little et al., JACMP 24(5):e13938, 2023): value, label."""

_MAX_FORM_BYTES = 4096
_RECHECK_S = 2.0
"""Without events, the live panel is judged again this often and pushed when it changed
(a calibration expires with no event: time passes)."""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("panelgate.station.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["reasons"] = TG305_REASONS
    return env


def _sse(kind: str, data: str, event_id: int | None = None) -> str:
    """One server-sent event (HTML Living Standard 9.2): every line of ``data`` prefixed."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"{head}event: {kind}\n{body}\n"


class Console:
    """Renders the console's pages and fragments for one station."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.env = _environment()

    def render(self, template: str, **context: Any) -> str:
        """Render one template of ``templates/`` with ``context``."""
        return self.env.get_template(template).render(**context)

    def state_html(self) -> str:
        """Render the live panel from the station's status now (call in a worker thread)."""
        return self.render("state.html", **state_view(self.station.status()))

    def images_html(self) -> str:
        """Render the image list with review and delivery (call in a worker thread)."""
        images = [image_view(i) for i in self.station.image_list()]
        return self.render("images.html", images=list(reversed(images)))

    def worklist_html(self) -> str:
        """Today's steps, or the one line saying why there are none (call in a thread)."""
        try:
            steps = self.station.worklist_public()
        except (PanelgateError, DeliveryError) as exc:
            return self.render("worklist.html", steps=[], problem=" ".join(str(exc).split()))
        return self.render("worklist.html", steps=steps, problem="")

    def page(self, name: str) -> str:
        """Render a whole page: ``console.html`` or ``calibration.html``."""
        return self.render(
            name,
            page=name.removesuffix(".html"),
            state=self.state_html(),
            protocols=self.station.protocols_public(),
            fields=PATIENT_FIELDS,
            status=self.station.status(),
        )


def console_routes(station: Station) -> list[BaseRoute]:
    """Return the console's routes for :func:`panelgate.station.api.create_app` to mount."""
    console = Console(station)

    async def index(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(console.page, "console.html"))

    async def login(request: Request) -> Response:
        return HTMLResponse(console.render("login.html"))

    async def calibration(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(console.page, "calibration.html"))

    async def worklist(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(console.worklist_html))

    async def state(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(console.state_html))

    async def images(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(console.images_html))

    async def validate(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_FORM_BYTES:
            return HTMLResponse("<p role='alert'>the form is too large</p>", status_code=413)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        check = check_patient(form)
        html = console.render("validate.html", check=check, fields=PATIENT_FIELDS)
        return HTMLResponse(html)

    async def events(request: Request) -> Response:
        subscription = station.bus.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                last_state = await run_in_threadpool(console.state_html)
                yield _sse("state", last_state)
                yield _sse("images", await run_in_threadpool(console.images_html))
                async for event in subscription.events(keepalive_s=_RECHECK_S):
                    if event is not None:
                        yield event.sse()
                    state = await run_in_threadpool(console.state_html)
                    if state != last_state or event is not None:
                        last_state = state
                        yield _sse("state", state)
                    else:
                        yield ": keep-alive\n\n"
                    if event is not None and event.kind in ("image", "delivery"):
                        yield _sse("images", await run_in_threadpool(console.images_html))
            finally:
                station.bus.unsubscribe(subscription)

        return sse_response(stream())

    # follow_symlink: an editable (strict) install links the files from the source tree
    static = StaticFiles(packages=[("panelgate.station.console", "static")], follow_symlink=True)
    return [
        Route("/", index, methods=["GET"]),
        Route("/login", login, methods=["GET"]),  # the form posts to the station's /login
        Route("/console/calibration", calibration, methods=["GET"]),
        Route("/console/worklist", worklist, methods=["GET"]),
        Route("/console/validate", validate, methods=["POST"]),
        Route("/console/state", state, methods=["GET"]),
        Route("/console/images", images, methods=["GET"]),
        Route("/console/events", events, methods=["GET"]),
        Mount("/console/static", static, name="console-static"),
    ]
