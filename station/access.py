"""Who may do what over HTTP: authentication, CSRF and origin checks, and the audit of it.

:class:`AccessControl` is the one ASGI middleware in front of every route:

1. **Authentication.** A request is authenticated by the bearer token (RFC 6750; API
   clients such as ``panelgate expose --station``) or by the session cookie of a console
   login (:mod:`.auth`). With neither a token nor users configured (a station on
   loopback) nobody logs in. Otherwise a request without either is refused: 401 in JSON,
   or for a browser's page request a redirect to ``/login``. ``/login`` and the
   console's static files need none.
2. **Cross-site request forgery.** Every state-changing request (any method but GET,
   HEAD and OPTIONS) is refused (403) when the browser says it comes from another site
   (``Origin`` not this station, or ``Sec-Fetch-Site: cross-site``/``same-site``;
   OWASP CSRF Prevention Cheat Sheet, "verifying origin with standard headers"). One
   authenticated by its session cookie must also carry the session's CSRF token in the
   ``X-CSRF-Token`` header or the ``csrf_token`` form field (the synchronizer token
   pattern). A bearer token is never sent by a browser on its own: it needs none.
3. **Audit.** Every state-changing request and every refusal is appended to the audit
   trail (``[outbox] audit_file``) with the user, the method and the path (paths hold
   SOP Instance UIDs at most, never patient data) and the HTTP status.

The authenticated user's name is put in the ASGI scope under :data:`USER_SCOPE_KEY` for
the routes (the operator of a reject, the user of an audit record).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Session, SessionStore

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "TOKEN_USER",
    "USER_SCOPE_KEY",
    "AccessControl",
    "Audit",
]

_log = logging.getLogger(__name__)

USER_SCOPE_KEY = "panelgate.user"
"""Where the authenticated user's name is put in the ASGI scope."""
SESSION_SCOPE_KEY = "panelgate.session"
SESSION_COOKIE = "panelgate_session"
CSRF_COOKIE = "panelgate_csrf"
TOKEN_USER = "api-token"
"""The user of a request authenticated by the bearer token."""

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC = ("/login",)
_PUBLIC_PREFIXES = ("/console/static/",)

Audit = Callable[..., None]
"""``audit(event, *, outcome, remote_host, instances, detail, user)``: one audit record."""


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope["headers"]}


def _cookie(headers: dict[bytes, bytes], name: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header: no cookie
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel is not None else ""


Headers = list[tuple[bytes, bytes]]


async def _json_reply(send: Send, status: int, message: str, extra: Headers) -> None:
    body = json.dumps({"error": message}).encode()
    length = str(len(body)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", length)]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def _cross_site(headers: dict[bytes, bytes], scope: Scope) -> str:
    """Why a state-changing request looks cross-site; empty when it does not."""
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
    if fetch_site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site is {fetch_site}"
    origin = headers.get(b"origin", b"").decode("latin-1")
    if origin:
        host = headers.get(b"host", b"").decode("latin-1")
        if origin == "null" or urlsplit(origin).netloc != host:
            return "its Origin is not this station"
    return ""


class AccessControl:
    """The ASGI middleware described in the module docstring.

    Parameters
    ----------
    app : ASGI application
        The routes behind it.
    token : str or None
        The bearer token of API clients; None: none accepted.
    sessions : SessionStore or None
        The console's sessions; None: nobody logs in.
    audit : callable
        Appends one record to the audit trail (:data:`Audit`).
    """

    def __init__(
        self, app: ASGIApp, token: str | None, sessions: SessionStore | None, audit: Audit
    ) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode() if token else None
        self.sessions = sessions
        self.audit = audit
        self.login_required = token is not None or sessions is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request through the checks of the module docstring."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        method, path = scope["method"], scope["path"]
        changes = method not in _SAFE
        status: list[int] = [0]

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        user, session, refusal = self._identify(headers, path)
        if not refusal and changes:
            refusal = self._forgery(headers, scope, session)
        if refusal:
            code, text, extra = refusal
            await _json_reply(audited_send, code, text, extra)
        else:
            scope = {**scope, USER_SCOPE_KEY: user, SESSION_SCOPE_KEY: session}
            replay: Receive | None = receive
            if changes and session is not None and b"x-csrf-token" not in headers:
                replay = await self._form_checked(scope, receive, session, audited_send)
            if replay is not None:
                await self.app(scope, replay, audited_send)
        if changes or status[0] in (401, 403):
            user = str(scope.get(USER_SCOPE_KEY, user))  # a login names its user
            self._record(scope, method, path, user, status[0])

    def _identify(
        self, headers: dict[bytes, bytes], path: str
    ) -> tuple[str, Session | None, tuple[int, str, Headers] | None]:
        """Return the user, the session, and the refusal (status, line, headers) or None."""
        given = headers.get(b"authorization", b"")
        if given:
            if self._expected is not None and hmac.compare_digest(given, self._expected):
                return TOKEN_USER, None, None
            return "", None, (401, "the bearer token is wrong", [(b"www-authenticate", b"Bearer")])
        session = None
        if self.sessions is not None:
            sid = _cookie(headers, SESSION_COOKIE)
            session = self.sessions.get(sid) if sid else None
        if session is not None:
            return session.user, session, None
        if not self.login_required or path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES):
            return "", None, None
        if b"text/html" in headers.get(b"accept", b"") and not path.startswith("/api/"):
            return "", None, (303, "log in first", [(b"location", b"/login")])
        return "", None, (401, "log in first (POST /login) or give the bearer token", [])

    @staticmethod
    def _forgery(
        headers: dict[bytes, bytes], scope: Scope, session: Session | None
    ) -> tuple[int, str, Headers] | None:
        why = _cross_site(headers, scope)
        if why:
            return 403, f"refused as a cross-site request: {why}", []
        given = headers.get(b"x-csrf-token")
        if session is not None and given is not None:
            if not hmac.compare_digest(given, session.csrf_token.encode()):
                return 403, "the CSRF token (X-CSRF-Token) is wrong", []
        return None

    async def _form_checked(
        self, scope: Scope, receive: Receive, session: Session, send: Send
    ) -> Receive | None:
        """Check the ``csrf_token`` form field; return a receive that replays the body."""
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        ctype = _headers(scope).get(b"content-type", b"")
        field = ""
        if ctype.startswith(b"application/x-www-form-urlencoded"):
            field = parse_qs(body.decode("latin-1")).get("csrf_token", [""])[0]
        if not (field and hmac.compare_digest(field.encode(), session.csrf_token.encode())):
            text = "a CSRF token is required (X-CSRF-Token header or csrf_token form field)"
            await _json_reply(send, 403, text, [])
            return None
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    def _record(self, scope: Scope, method: str, path: str, user: str, status: int) -> None:
        client = scope.get("client")
        parts = path.split("/")
        uid = parts[3] if len(parts) > 3 and parts[1:3] == ["api", "images"] else ""
        outcome = 0 if status < 400 else 8 if status >= 500 else 4
        try:
            self.audit(
                "station request",
                outcome=outcome,
                remote_host=client[0] if client else "",
                instances=[uid] if uid else [],
                detail=f"{method} {path} -> {status}",
                user=user,
            )
        except OSError as exc:  # the audit file cannot be written: said, never fatal here
            _log.error("audit record of %s %s not written: %s", method, path, exc)
