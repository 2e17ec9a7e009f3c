"""Login, sessions, CSRF, the bearer token and the audit of who did what.

Passwords and sessions as units (scrypt hashes, expiry on an injected clock); the binding
rule of the configuration; then the station process over HTTPS with ``[[users]]``:
nothing without a login, no state change without the session's CSRF token or from
another site, the bearer token still serving API clients, every action audited with its
user, sessions ending when idle and at logout.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from panelgate.acquisition.errors import ConfigError
from panelgate.simulators.generator import SimulatedGenerator
from panelgate.station.auth import SessionStore, User, hash_password, verify_password
from panelgate.station.config import parse_station_config

PANELGATE = str(Path(sys.executable).with_name("panelgate"))
PASSWORD = "correct horse battery"
PATIENT = {"id": "P-ACCESS-4411", "name": "Secret^Person"}


def test_passwords_are_salted_scrypt_hashes_that_verify() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$16384$8$1$") and first != second, "a salt per hash"
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password("correct horse battery!", first)
    assert not verify_password(PASSWORD, "scrypt$2$1$1$AA==$AA==")
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_sessions_end_when_idle_or_too_old_and_at_logout() -> None:
    now = [1000.0]
    store = SessionStore((User("alice", hash_password(PASSWORD)),), 100.0, 10.0, lambda: now[0])
    assert store.login("alice", "wrong") is None and store.login("bob", PASSWORD) is None
    session = store.login("alice", PASSWORD)
    assert session is not None and session.csrf_token != session.id
    for _ in range(10):  # seen every 9 s: never idle 10 s, but 100 s old at most
        now[0] += 9.0
        assert store.get(session.id) is session
    now[0] += 9.9
    assert now[0] - session.started_s == pytest.approx(99.9) and store.get(session.id) is session
    now[0] += 0.2  # seen 0.2 s ago, but 100.1 s old
    assert store.get(session.id) is None, "older than session_max_s"
    other = store.login("alice", PASSWORD)
    assert other is not None
    now[0] += 10.0
    assert store.get(other.id) is None, "idle for session_idle_s"
    third = store.login("alice", PASSWORD)
    assert third is not None and store.logout(third.id) is third
    assert store.get(third.id) is None


def test_a_host_beyond_loopback_needs_tls_and_users_and_bad_users_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_station_config({"station": {"host": "192.0.2.10"}}, source="room.toml")
    line = str(caught.value)
    assert line.startswith("room.toml: ") and "[station] host '192.0.2.10'" in line
    assert "TLS" in line and "[[users]]" in line
    users = [
        {"name": "alice", "password_hash": "plain-text"},
        {"name": "bad name!", "password_hash": hash_password(PASSWORD)},
        {"name": "carol"},
    ]
    with pytest.raises(ConfigError) as caught:
        parse_station_config({"users": users}, source="room.toml")
    line = str(caught.value)
    assert "[[users]] #1 'alice': password_hash is not scrypt" in line
    assert "[[users]] #2: name must be" in line
    assert "[[users]] #3 'carol': password_hash is required" in line
    ok = parse_station_config({"users": [{"name": "alice", "password_hash": hash_password("x")}]})
    assert [u.name for u in ok.users] == ["alice"]


def test_hash_password_reads_stdin_never_argv() -> None:
    run = subprocess.run(
        [PANELGATE, "hash-password"], input=PASSWORD + "\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert verify_password(PASSWORD, run.stdout.strip())
    refused = subprocess.run(
        [PANELGATE, "hash-password", PASSWORD], capture_output=True, text=True, timeout=60,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    short = subprocess.run(
        [PANELGATE, "hash-password"], input="short\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert short.returncode == 2 and short.stdout == ""
    (line,) = short.stderr.strip().splitlines()
    assert "8 characters" in line


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path / "certs"
    d.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "s.key", "-out", "s.pem", "-days", "2", "-subj", "/CN=station",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=d, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return d / "s.pem", d / "s.key"


def test_login_csrf_bearer_token_and_audit_over_https(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, certificate
) -> None:  # type: ignore[no-untyped-def]
    cert, key = certificate
    token_file = tmp_path / "token"
    token_file.write_text("api-client-token-0123456789\n")
    token_file.chmod(0o600)
    audit = tmp_path / "audit.jsonl"
    users = f'[[users]]\nname = "alice"\npassword_hash = "{hash_password(PASSWORD)}"\n'
    options = {"tls_cert_file": str(cert), "tls_key_file": str(key),
               "api_token_file": str(token_file), "session_idle_s": 3.0}  # fmt: skip
    config = helpers.config(tmp_path, generator.device_path, station=options,
                            outbox={"audit_file": str(audit)}, extra=users)  # fmt: skip
    station = start_station(config)
    trusted = ssl.create_default_context(cafile=str(cert))

    def client() -> httpx.Client:
        return httpx.Client(base_url=station.url, verify=trusted, trust_env=False, timeout=60)

    exam = {"patient": PATIENT, "protocol": "HAND PA"}
    with client() as browser:
        assert browser.get("/api/status").status_code == 401
        page = browser.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert browser.post("/api/exam", json=exam).status_code == 401
        wrong = browser.post("/login", json={"username": "alice", "password": "nope"})
        assert wrong.status_code == 401 and "session" not in wrong.headers.get("set-cookie", "")

        login = browser.post("/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        cookies = login.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith("panelgate_session="))
        for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/"):
            assert attribute.lower() in session_cookie.lower(), (attribute, session_cookie)
        assert browser.get("/api/session").json()["user"] == "alice"

        assert browser.post("/api/exam", json=exam).status_code == 403, "no CSRF token"
        bad = browser.post("/api/exam", json=exam, headers={"X-CSRF-Token": "guess"})
        assert bad.status_code == 403
        assert browser.get("/api/status").json()["exam"] is None, "nothing changed"
        headers = {"X-CSRF-Token": csrf}
        evil = {**headers, "Origin": "https://evil.example"}
        assert browser.post("/api/exam", json=exam, headers=evil).status_code == 403
        assert browser.post("/api/exam", json=exam, headers=headers).status_code == 200
        assert browser.post("/api/prepare", headers=headers).status_code == 200
        uid = browser.post("/api/expose", headers=headers).json()["sop_instance_uid"]
        assert browser.post("/logout", data={"csrf_token": "x"}).status_code == 403
        rejected = browser.post(
            f"/api/images/{uid}/reject", json={"reason": "positioning"}, headers=headers
        )
        assert rejected.json()["operator"] == "alice"

        bearer = {"Authorization": "Bearer api-client-token-0123456789"}
        with client() as api:
            assert api.get("/api/status", headers=bearer).status_code == 200
            assert api.post("/api/exam", json=exam, headers=bearer).status_code == 200
            wrong_token = {"Authorization": "Bearer nope"}
            assert api.get("/api/status", headers=wrong_token).status_code == 401

        time.sleep(3.5)  # longer than session_idle_s without a request
        assert browser.get("/api/status").status_code == 401, "the idle session ended"
        again = browser.post("/login", data={"username": "alice", "password": PASSWORD})
        assert again.status_code == 303, "a form login goes to the console"
        csrf = browser.get("/api/session").json()["csrf_token"]
        assert browser.post("/logout", data={"csrf_token": csrf}).json() == {"logged_out": True}
        assert browser.get("/api/status").status_code == 401

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    requests = [r for r in records if r["event"] == "station request"]
    by = {(r["user"], r["detail"].split(" -> ")[0]) for r in requests}
    assert ("alice", "POST /api/exam") in by and ("alice", "POST /api/expose") in by
    assert ("alice", f"POST /api/images/{uid}/reject") in by
    assert ("api-token", "POST /api/exam") in by
    logins = [r["detail"] for r in requests if r["detail"].startswith("POST /login")]
    assert logins == ["POST /login -> 401", "POST /login -> 200", "POST /login -> 303"]
    assert all(r["user"] == "alice" for r in requests if r["detail"].startswith("POST /login"))
    refused = [r for r in requests if r["detail"].endswith("-> 403")]
    assert refused and all(r["outcome"] == 4 for r in refused)
    text = audit.read_text() + station.stderr()
    for secret in (PATIENT["id"], "Secret", PASSWORD):
        assert secret not in text
    assert station.signal(signal.SIGTERM) == 0
