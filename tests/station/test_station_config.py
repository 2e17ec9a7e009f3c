"""``check-config``, refused bindings, TLS with a bearer token, the unit file, the OpenAPI."""

from __future__ import annotations

import asyncio
import configparser
import os
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest
from starlette.routing import Route

from panelgate.simulators.generator import SimulatedGenerator
from panelgate.station.api import create_app
from panelgate.station.auth import hash_password
from panelgate.station.cli import main
from panelgate.station.config import DEFAULT_CONFIG, DEFAULT_STATE_DIR
from panelgate.station.openapi import openapi_document

REPO = Path(__file__).resolve().parents[2]
PANELGATE = str(Path(sys.executable).with_name("panelgate"))


def test_check_config_says_what_the_station_would_open(
    helpers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(tmp_path, "sim")
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"{config} is valid" in out
    assert "http://127.0.0.1:0/api/ (no token)" in out
    with config.open("a") as toml:
        toml.write(f'[[users]]\nname = "alice"\npassword_hash = "{hash_password("pw")}"\n')
    assert main(["check-config", str(config)]) == 0
    assert "http://127.0.0.1:0/api/ (no token; login: alice)" in capsys.readouterr().out
    assert "simulated, in the process" in out and "sim://?width=128" in out
    assert "nowhere (ANY-SCP@127.0.0.1:9)" in out
    assert str(tmp_path / "state" / "outbox") in out, "the outbox defaults to state_dir/outbox"


def test_check_config_names_every_problem_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[station]\nport = 70000\ntrigger = "pedal"\ncolour = 1\n'
        '[pacs]\nhost = "127.0.0.1"\nport = 0\ncalled_ae = "P"\n'
    )
    assert main(["check-config", str(config)]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    for part in ("[station] port", "[station] trigger", "[station] colour", "[pacs] port"):
        assert part in line, (part, line)
    assert captured.out == ""


def test_a_missing_default_configuration_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    if DEFAULT_CONFIG.exists():
        pytest.skip(f"{DEFAULT_CONFIG} exists on this machine")
    assert main(["check-config"]) == 2
    assert str(DEFAULT_CONFIG) in capsys.readouterr().err


def test_binding_beyond_loopback_without_tls_and_token_is_refused(helpers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(tmp_path, "sim", station={"host": "0.0.0.0"})
    run = subprocess.run(
        [PANELGATE, "station", "--config", str(config)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "[station] host" in line and "tls_cert_file" in line and "api_token_file" in line
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert not (tmp_path / "state").exists(), "nothing was created"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def server_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path / "certs"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "s.key", "-out", "s.pem", "-days", "2", "-subj", "/CN=station",
             "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)  # fmt: skip
    return d / "s.pem", d / "s.key"


def test_tls_and_a_bearer_token_protect_the_api(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, server_cert
) -> None:  # type: ignore[no-untyped-def]
    cert, key = server_cert
    token = tmp_path / "token"
    token.write_text("s3cret-token-of-enough-length\n")
    token.chmod(0o644)
    options = {"tls_cert_file": str(cert), "tls_key_file": str(key), "api_token_file": str(token)}
    config = helpers.config(tmp_path, generator.device_path, station=options)
    assert main(["check-config", str(config)]) == 2, "a token file others can read is refused"
    token.chmod(0o600)
    station = start_station(config)
    assert station.url.startswith("https://")
    trusted = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=station.url, verify=trusted, trust_env=False) as api:
        assert api.get("/api/status").status_code == 401
        wrong = api.get("/api/status", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = api.get(
            "/api/status", headers={"Authorization": "Bearer s3cret-token-of-enough-length"}
        )
        assert good.status_code == 200 and good.json()["detector"]["connected"]
    assert station.signal(signal.SIGTERM) == 0


def test_the_systemd_unit_runs_the_documented_defaults() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "station" / "panelgate-station.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["station", "--config", str(DEFAULT_CONFIG)]
    assert service["ExecStartPre"].split()[1:] == ["check-config", str(DEFAULT_CONFIG)]
    assert f"/var/lib/{service['StateDirectory']}" == DEFAULT_STATE_DIR
    assert service["KillSignal"] == "SIGTERM" and service["RestartPreventExitStatus"] == "2"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    verify = shutil.which("systemd-analyze")
    if verify is not None and os.path.isdir("/run/systemd/system"):
        unit_file = str(REPO / "station" / "panelgate-station.service")
        run = subprocess.run([verify, "verify", unit_file],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert "Unknown" not in run.stderr and "Invalid" not in run.stderr, run.stderr


def test_the_openapi_document_describes_exactly_the_routes() -> None:
    app = create_app(None)  # type: ignore[arg-type]  # routes only; no request reaches it
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
        if route.path.startswith("/api/") or route.path in ("/login", "/logout")
    }  # the console's pages (station/console) are HTML, not this API
    document = openapi_document()
    described = {(path, m.upper()) for path, ops in document["paths"].items() for m in ops}
    assert served == described
    assert document["openapi"].startswith("3.1")
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            assert path.replace("{uid}", "").count("{") == 0, "only UIDs in paths"

    async def fetch() -> tuple[object, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://station") as client:
            served = (await client.get("/api/openapi.json")).json()
            return served, await client.get("/api/health")

    served_document, health = asyncio.run(fetch())
    assert served_document == document
    assert ("/api/health", "GET") in described and {"200", "503"} <= set(
        document["paths"]["/api/health"]["get"]["responses"]
    )
    assert health.status_code == 503 and health.json()["expose"]["reason"] == "no station"
    jsonschema.validate(
        health.json(),
        {"$ref": "#/components/schemas/Health", "components": document["components"]},
    )
    status = document["components"]["schemas"]["Status"]
    assert "mpps" in status["required"] and "step_uid" in status["properties"]["mpps"]["required"]
