"""Users, passwords and sessions of the station's console.

Passwords are kept only as scrypt hashes (RFC 7914, :func:`hashlib.scrypt`; a random
16-byte salt per password, N = 2^14, r = 8, p = 1, 32 bytes), written as one string::

    scrypt$16384$8$1$<salt, base64>$<hash, base64>

``panelgate hash-password`` makes one from a password read from the terminal or stdin
(never from the command line, where other users could read it). The users are
``[[users]]`` tables of the station's TOML file, ``name`` and ``password_hash``.

A login opens a :class:`Session`: a random 256-bit identifier (the HttpOnly cookie) and a
random CSRF token (OWASP "synchronizer token": sent back in the ``X-CSRF-Token`` header or
the ``csrf_token`` form field of every state-changing request). A session ends after
``session_max_s`` since the login or ``session_idle_s`` without a request, whichever
comes first, and at logout. Sessions live in memory: a restart logs everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Session",
    "SessionStore",
    "User",
    "hash_password",
    "parse_users",
    "verify_password",
]

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def _scrypt(password: str, salt: bytes, cost: tuple[int, int, int], dklen: int) -> bytes:
    n, r, p = cost
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=_MAXMEM
    )


def hash_password(password: str) -> str:
    """Return the scrypt hash string of ``password`` (see the module docstring).

    Raises
    ------
    ValueError
        An empty password.
    """
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, (_N, _R, _P), _DKLEN)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a hash string; ValueError naming what is wrong."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("is not scrypt$N$r$p$salt$hash (make one with panelgate hash-password)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"has a malformed field ({exc})") from None
    if n < 2**14 or n & (n - 1) or not (1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError(f"has weak or invalid scrypt parameters N={n} r={r} p={p}")
    if len(salt) < 16 or len(digest) < 16:
        raise ValueError("has a salt or hash shorter than 16 bytes")
    return n, r, p, salt, digest


def verify_password(password: str, hashed: str) -> bool:
    """Return True when ``password`` matches the hash string (compared in constant time)."""
    try:
        n, r, p, salt, digest = _parse_hash(hashed)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, (n, r, p), len(digest)), digest)


@dataclass(frozen=True)
class User:
    """One user of the console: a name and the scrypt hash of the password."""

    name: str
    password_hash: str


def parse_users(raw: Any) -> tuple[tuple[User, ...], list[str]]:
    """Validate ``[[users]]`` (None: no users); return the users and every problem."""
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return (), ["[[users]] must be an array of tables"]
    users: list[User] = []
    problems: list[str] = []
    for number, entry in enumerate(raw, start=1):
        label = f"[[users]] #{number}"
        if not isinstance(entry, dict):
            problems.append(f"{label} must be a table")
            continue
        unknown = sorted(set(entry) - {"name", "password_hash"})
        problems += [f"{label}: unknown key {k} (known: name, password_hash)" for k in unknown]
        name, hashed = entry.get("name"), entry.get("password_hash")
        if not (isinstance(name, str) and _NAME.match(name)):
            problems.append(f"{label}: name must be 1-32 letters, digits, '.', '_' or '-'")
            continue
        label = f"{label} {name!r}"
        if any(u.name == name for u in users):
            problems.append(f"{label}: the name repeats")
        if not isinstance(hashed, str):
            problems.append(f"{label}: password_hash is required (panelgate hash-password)")
            continue
        try:
            _parse_hash(hashed)
        except ValueError as exc:
            problems.append(f"{label}: password_hash {exc}")
            continue
        users.append(User(name, hashed))
    return tuple(users), problems


@dataclass
class Session:
    """One logged-in user (see the module docstring)."""

    id: str
    user: str
    csrf_token: str
    started_s: float
    last_seen_s: float

    def expires_s(self, max_s: float, idle_s: float) -> float:
        """When the session ends if no request comes (clock seconds)."""
        return min(self.started_s + max_s, self.last_seen_s + idle_s)


class SessionStore:
    """The open sessions, in memory.

    Parameters
    ----------
    users : tuple of User
        Who may log in.
    max_s, idle_s : float
        A session's longest life, and its longest time without a request.
    clock : callable
        Seconds (monotonic by default; tests inject one).
    """

    def __init__(
        self,
        users: tuple[User, ...],
        max_s: float,
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = {u.name: u for u in users}
        self.max_s, self.idle_s = max_s, idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._dummy = hash_password(secrets.token_urlsafe(16)) if users else ""

    def login(self, name: str, password: str) -> Session | None:
        """Open a session for a user whose password matches; None otherwise.

        An unknown name takes as long as a wrong password (no user enumeration by time).
        """
        user = self.users.get(name)
        ok = verify_password(password, user.password_hash if user else self._dummy)
        if user is None or not ok:
            return None
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), name, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._drop_expired(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """Return the open session with this identifier and mark it seen; None if none."""
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now >= session.expires_s(self.max_s, self.idle_s):
                del self._sessions[session_id]
                return None
            session.last_seen_s = now
            return session

    def logout(self, session_id: str) -> Session | None:
        """End a session; return it (None when there was none)."""
        with self._lock:
            return self._sessions.pop(session_id, None)

    def _drop_expired(self, now: float) -> None:
        for sid, s in list(self._sessions.items()):
            if now >= s.expires_s(self.max_s, self.idle_s):
                del self._sessions[sid]
