"""Certificate, key and CA files of a TLS endpoint, checked when the configuration loads.

The files are loaded with :mod:`ssl` exactly as the gateway will load them
(:class:`panelgate.gateway.pacs.TlsConfig`), so a missing or unreadable file, a file that
holds no PEM certificate, or a key that does not belong to its certificate is named with
its configuration key at start-up, not at the first association hours later.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

__all__ = ["CA_KEY", "CERT_KEY", "KEY_KEY", "tls_problems"]

CA_KEY = "tls_ca_file"
CERT_KEY = "tls_cert_file"
KEY_KEY = "tls_key_file"


def _no_password() -> bytes:
    return b""  # never prompt on a terminal for an encrypted key: refuse it instead


def _file_problem(path: str) -> str | None:
    file = Path(path)
    if not file.exists():
        return f"{path!r}: no such file"
    if not file.is_file():
        return f"{path!r}: not a file"
    if not os.access(file, os.R_OK):
        return f"{path!r}: not readable (permission denied)"
    return None


def _load_problems(ca: str, cert: str, key: str) -> list[tuple[str, str]]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    problems: list[tuple[str, str]] = []
    try:
        ctx.load_verify_locations(cafile=ca)
    except (ssl.SSLError, OSError) as exc:
        problems.append((CA_KEY, f"{ca!r} holds no PEM CA certificate ({exc.strerror or exc})"))
    if not cert:
        return problems
    try:  # a throwaway context: does the file parse as certificates at all?
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=cert)
    except (ssl.SSLError, OSError) as exc:
        problems.append((CERT_KEY, f"{cert!r} holds no PEM certificate ({exc.strerror or exc})"))
        return problems
    try:
        ctx.load_cert_chain(cert, key or None, password=_no_password)
    except (ssl.SSLError, OSError) as exc:
        if getattr(exc, "reason", "") == "KEY_VALUES_MISMATCH":
            problems.append((KEY_KEY, f"{key!r} is not the key of {CERT_KEY} {cert!r}"))
        else:
            where = KEY_KEY if key else CERT_KEY
            problems.append(
                (where, f"{key or cert!r} holds no usable PEM private key (encrypted keys are "
                 f"not supported) ({exc.strerror or exc})")
            )  # fmt: skip
    return problems


def tls_problems(ca: str, cert: str, key: str, *, server: bool) -> list[tuple[str, str]]:
    """Check the TLS files of one endpoint; empty strings mean "not given".

    Parameters
    ----------
    ca, cert, key : str
        Paths of the CA bundle, our certificate and our private key (PEM).
    server : bool
        A listener: it needs a certificate and a key as well as the CA.

    Returns
    -------
    list of (str, str)
        ``(configuration key, what is wrong)`` for each problem; TLS is off, and nothing
        is wrong, when no file is given.
    """
    if not (ca or cert or key):
        return []
    problems: list[tuple[str, str]] = []
    if not ca:
        problems.append((CA_KEY, f"is needed with {CERT_KEY}/{KEY_KEY}: TLS is on only with a CA"))
    if key and not cert:
        problems.append((CERT_KEY, f"is needed with {KEY_KEY} (the key's certificate)"))
    if server and not (cert and key):
        missing = CERT_KEY if not cert else KEY_KEY
        if not any(k == missing for k, _ in problems):
            problems.append((missing, "is needed: a TLS listener presents a certificate and key"))
    given = {CA_KEY: ca, CERT_KEY: cert, KEY_KEY: key}
    for name, path in given.items():
        problem = _file_problem(path) if path else None
        if problem is not None:
            problems.append((name, problem))
    if problems:
        return problems
    return _load_problems(ca, cert, key)
