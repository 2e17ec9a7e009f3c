"""The keys of a ``[destinations.NAME]`` that delivers over DICOMweb (``kind = "dicomweb"``).

Example::

    [destinations.archive]
    kind = "dicomweb"
    url = "https://archive.example.org/dicom-web"   # http:// only to this machine
    tls_ca_file = "/etc/panelgate/archive-ca.pem"    # else the system's trust store
    auth = "bearer"                                  # or "basic" (username + password)
    token_file = "/etc/panelgate/archive.token"      # or token_env = "NAME", or token = "..."
    max_parts = 16                                   # instances per STOW-RS request
    commitment = true                                # committed once QIDO-RS finds it
    connect_s = 5
    network_s = 60                                   # idle timeout, not a deadline

A secret is read from the file or the environment variable named when the destination is
made, never printed: ``repr`` masks it and no message quotes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from panelgate.gateway.dicomweb import Credentials, url_problem

from .config_limits import Count, OneOf
from .config_section import Problems, Section

__all__ = ["KINDS", "DicomWebFields"]

KINDS = ("dimse", "dicomweb")
"""Destination kinds: C-STORE over DIMSE (PS3.7) or STOW-RS over DICOMweb (PS3.18)."""

_SECRETS = {
    "bearer": ("token", "token_file", "token_env"),
    "basic": ("password", "password_file", "password_env"),
}
_WEB_ONLY = ("url", "auth", "username", *_SECRETS["bearer"], *_SECRETS["basic"])


@dataclass(frozen=True)
class DicomWebFields(Section):
    """The DICOMweb keys of a destination; :meth:`web_problems` checks them together.

    Parameters
    ----------
    kind : {"dimse", "dicomweb"}
        How the destination is reached.
    url : str
        The DICOMweb base URL (``{url}/studies``); required for ``dicomweb``.
    auth : {"", "bearer", "basic"}
        HTTP authentication (RFC 6750, RFC 7617); empty for none.
    username : str
        For ``basic``.
    token, token_file, token_env : str
        The bearer token, a file holding it, or an environment variable holding it
        (exactly one).
    password, password_file, password_env : str
        The basic password likewise.
    max_parts : int
        Instances per STOW-RS request (one or more).
    """

    kind: Annotated[str, OneOf(KINDS)] = "dimse"
    url: str = ""
    auth: Annotated[str, OneOf(("", "bearer", "basic"))] = ""
    username: str = ""
    token: str = field(default="", repr=False)
    token_file: str = ""
    token_env: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    password_env: str = ""
    max_parts: Count = 16

    def web_problems(self, tls_ca_file: str) -> Problems:
        """Return what is wrong with the DICOMweb keys (``tls_ca_file``: is TLS configured)."""
        values = {key: getattr(self, key) for key in _WEB_ONLY}
        if self.kind != "dicomweb":
            return [(k, 'is only for kind = "dicomweb"') for k, v in values.items() if v]
        problems: Problems = []
        if not self.url:
            problems.append(("url", 'is required with kind = "dicomweb"'))
        elif problem := url_problem(self.url, tls=bool(tls_ca_file)):
            problems.append(("url", problem))
        if self.auth == "basic" and (not self.username or ":" in self.username):
            problems.append(("username", 'auth = "basic" needs a user name without ":"'))
        elif self.username and self.auth != "basic":
            problems.append(("username", 'is only for auth = "basic"'))
        for scheme, keys in _SECRETS.items():
            given = [k for k in keys if values[k]]
            if scheme != self.auth:
                problems += [(k, f'is only for auth = "{scheme}"') for k in given]
            elif len(given) != 1:
                problems.append((keys[0], f'auth = "{scheme}" needs exactly one of '
                                 f"{', '.join(keys)} (got {len(given)})"))  # fmt: skip
            elif problem := _source_problem(given[0], values[given[0]]):
                problems.append((given[0], problem))
        return problems

    def credentials(self) -> Credentials | None:
        """Read the configured secret; None without ``auth``.

        Raises
        ------
        ValueError
            The file or variable is gone or empty (the message names it, not its content).
        """
        if not self.auth:
            return None
        keys = _SECRETS[self.auth]
        key = next(k for k in keys if getattr(self, k))
        where = getattr(self, key)
        problem = _source_problem(key, where)
        if problem:
            raise ValueError(f"{key} {problem}")
        if key.endswith("_file"):
            secret = Path(where).read_text(encoding="utf-8").strip()
        elif key.endswith("_env"):
            secret = os.environ[where].strip()
        else:
            secret = where
        if self.auth == "bearer":
            return Credentials("bearer", secret)
        return Credentials("basic", secret, self.username)


def _source_problem(key: str, where: str) -> str | None:
    """Say what is wrong with where a secret comes from (never what it is)."""
    if key.endswith("_env"):
        return None if os.environ.get(where, "").strip() else f"names {where!r}, which is not set"
    if not key.endswith("_file"):
        return None
    path = Path(where)
    if not path.is_file():
        return f"{where!r}: no such file"
    try:
        empty = not path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        return f"{where!r} is not UTF-8 text"
    except OSError as exc:
        return f"{where!r}: cannot be read ({exc.strerror})"
    return f"{where!r} is empty" if empty else None
