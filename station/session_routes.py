"""Login and logout of the console: ``/login``, ``/logout``, ``/api/session``.

``POST /login`` takes ``username`` and ``password`` as JSON or as an HTML form; on
success it sets two cookies (``SameSite=Strict``, ``Secure`` under TLS, ``Path=/``): the
session (``HttpOnly``: scripts cannot read it) and the CSRF token (readable by the
console's script, which sends it back in ``X-CSRF-Token``), and answers with the user,
the CSRF token and when the session ends (JSON), or a redirect to the console (form). A
wrong name or password is 401 with the same line for both. ``POST /logout`` ends the
session and clears the cookies. ``GET /api/session`` says who is logged in, with the CSRF
token. ``GET /login`` is a minimal page with the form, for a console without its own.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .access import CSRF_COOKIE, SESSION_COOKIE, SESSION_SCOPE_KEY, USER_SCOPE_KEY
from .auth import Session, SessionStore

__all__ = ["session_routes"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>panelgate station: log in</title></head>
<body><main><h1>Log in</h1>{message}
<form method="post" action="/login">
<p><label>User <input name="username" autocomplete="username" required autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"
 required></label></p>
<p><button type="submit">Log in</button></p></form></main></body></html>
"""


async def _credentials(request: Request) -> tuple[str, str, bool]:
    """Return (user name, password, came as a form) from a login request."""
    raw = await request.body()
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if form:
        fields = parse_qs(raw.decode("utf-8", errors="replace"))
        return fields.get("username", [""])[0], fields.get("password", [""])[0], True
    try:
        body: Any = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    name, password = body.get("username", ""), body.get("password", "")
    return (
        (name if isinstance(name, str) else ""),
        (password if isinstance(password, str) else ""),
        False,
    )


def session_routes(sessions: SessionStore | None, secure: bool) -> list[Route]:
    """Return the login routes (refusing every login when no users are configured)."""

    def _public(session: Session) -> dict[str, Any]:
        assert sessions is not None
        return {
            "user": session.user,
            "csrf_token": session.csrf_token,
            "expires_in_s": round(
                session.expires_s(sessions.max_s, sessions.idle_s) - sessions.clock(), 1
            ),
        }

    def _set_cookies(response: Response, session: Session) -> None:
        assert sessions is not None
        for name, value, http_only in (
            (SESSION_COOKIE, session.id, True),
            (CSRF_COOKIE, session.csrf_token, False),
        ):
            response.set_cookie(
                name, value, max_age=int(sessions.max_s), path="/", secure=secure,
                httponly=http_only, samesite="strict",
            )  # fmt: skip

    async def login_page(request: Request) -> Response:
        return HTMLResponse(_PAGE.format(message=""))

    async def login(request: Request) -> Response:
        name, password, form = await _credentials(request)
        request.scope[USER_SCOPE_KEY] = name  # the audit record names who tried
        session = None
        if sessions is not None:  # scrypt takes ~0.3 s: never on the event loop
            session = await run_in_threadpool(sessions.login, name, password)
        if session is None:
            line = (
                "no users are configured: nobody logs in"
                if sessions is None
                else "wrong user name or password"
            )
            if form:
                message = f'<p role="alert">{html.escape(line)}</p>'
                return HTMLResponse(_PAGE.format(message=message), status_code=401)
            return JSONResponse({"error": line}, status_code=401)
        response: Response = (
            RedirectResponse("/", status_code=303) if form else JSONResponse(_public(session))
        )
        _set_cookies(response, session)
        return response

    async def logout(request: Request) -> Response:
        session = request.scope.get(SESSION_SCOPE_KEY)
        if sessions is not None and isinstance(session, Session):
            sessions.logout(session.id)
        response = JSONResponse({"logged_out": isinstance(session, Session)})
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/", secure=secure, samesite="strict")
        return response

    async def who(request: Request) -> Response:
        session = request.scope.get(SESSION_SCOPE_KEY)
        if isinstance(session, Session):
            return JSONResponse(_public(session))
        return JSONResponse({"user": str(request.scope.get(USER_SCOPE_KEY, "")), "csrf_token": ""})

    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/session", who, methods=["GET"]),
    ]
