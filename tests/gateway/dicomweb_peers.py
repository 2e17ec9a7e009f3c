"""Peers for the DICOMweb tests (loaded by them with ``load_peers()``; not a test module).

- :class:`OrthancWeb`: the gateway suite's restartable Orthanc (``OrthancSC`` in
  ``tests/integration/gateway/conftest.py``, reused, not copied) with Debian's
  orthanc-dicomweb plugin at ``/dicom-web/``, optionally with basic authentication
  (``RegisteredUsers``).
- :func:`tls_relay`: HTTPS in front of it. Debian 12's Orthanc 1.10.1 with
  ``SslEnabled`` (civetweb 1.15, OpenSSL 3) dies with SIGSEGV on the first HTTPS
  connection (measured with curl, TLS 1.2 and 1.3), so the TLS server is Python's
  :mod:`ssl` (OpenSSL) relaying each connection to Orthanc's HTTP port.
- :class:`StowStub`: a Starlette app under uvicorn on 127.0.0.1 that answers STOW-RS with
  crafted replies (the 202/409/5xx matrix Orthanc cannot be made to produce) and records
  what it received.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def _gateway_fixtures() -> Any:
    path = Path(__file__).resolve().parents[1] / "integration" / "gateway" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_dicomweb_gateway_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_GATEWAY = _gateway_fixtures()


class OrthancWeb(_GATEWAY.OrthancSC):  # type: ignore[misc]
    """A restartable private Orthanc serving DICOMweb at ``/dicom-web/``.

    Parameters
    ----------
    exe, root, ports
        As ``OrthancSC``.
    users : dict, optional
        User name -> password: HTTP basic authentication on.
    """

    def __init__(
        self,
        exe: str,
        root: Path,
        ports: list[int],
        *,
        users: dict[str, str] | None = None,
    ) -> None:
        super().__init__(exe, root, ports)
        self.users = users or {}
        text = self.config.read_text()
        extra = {
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "RegisteredUsers": self.users,
        }
        text = text.replace(
            '"Plugins" : [ ',
            f'"Plugins" : [ "{DICOMWEB_PLUGIN}", ',
        ).replace('"AuthenticationEnabled" : false', f'"AuthenticationEnabled" : {_js(users)}')
        text = text.rstrip().removesuffix("}") + "," + json.dumps(extra)[1:]
        self.config.write_text(text)

    @property
    def url(self) -> str:
        """The DICOMweb base URL."""
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def rest(self, path: str, *, method: str = "GET", data: bytes | None = None) -> Any:
        """Orthanc's REST API (with the test's credentials and CA)."""
        auth = next(iter(self.users.items()), None)
        try:
            with httpx.Client(trust_env=False, auth=auth) as client:
                response = client.request(
                    method, f"http://127.0.0.1:{self.http_port}{path}", content=data
                )
        except httpx.TransportError as exc:  # OrthancSC.start() waits while this is OSError
            raise ConnectionError(str(exc)) from exc
        response.raise_for_status()
        body = response.content
        return json.loads(body) if body[:1] in (b"[", b"{") else body

    def file(self, instance: str) -> bytes:
        """The stored Part-10 file of an Orthanc instance id."""
        return bytes(self.rest(f"/instances/{instance}/file"))

    def instance_ids(self) -> list[str]:
        """Every instance Orthanc holds."""
        return list(self.rest("/instances"))

    def sop_uids(self) -> list[str]:
        """The SOP Instance UID of every instance Orthanc holds (duplicates kept)."""
        return [
            self.rest(f"/instances/{i}/simplified-tags")["SOPInstanceUID"]
            for i in self.instance_ids()
        ]

    def kill(self) -> None:
        """SIGKILL Orthanc (its storage stays for :meth:`start`)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def _js(value: Any) -> str:
    return "true" if value else "false"


@contextmanager
def orthanc_web(
    require_peer: Callable[[str], str], get_free_port: Callable[[], int], **options: Any
) -> Iterator[OrthancWeb]:
    """Start an :class:`OrthancWeb`; stop it and remove its data afterwards."""
    exe = require_peer("Orthanc")
    if not Path(DICOMWEB_PLUGIN).exists():
        require_peer("orthanc-dicomweb-plugin")  # fails (CI) or skips, naming it
    root = Path(tempfile.mkdtemp(prefix="pg-orthanc-web-", dir="/tmp"))
    root.chmod(0o755)
    ports: list[int] = []
    while len(ports) < 3:
        port = get_free_port()
        if port not in ports:
            ports.append(port)
    peer = OrthancWeb(exe, root, ports, **options)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def tls_relay(certfile: Path, keyfile: Path, target_port: int) -> Iterator[int]:
    """Serve TLS on a free 127.0.0.1 port, relaying each connection to ``target_port``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve_one(raw: socket.socket) -> None:
        try:
            client = context.wrap_socket(raw, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
        except OSError:  # a refused handshake (an untrusting client) ends here
            raw.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(timeout=30)
        client.close()
        upstream.close()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(None)
            threading.Thread(target=serve_one, args=(raw,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def make_certs(directory: Path, require_peer: Callable[[str], str]) -> dict[str, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it (EC P-256)."""
    openssl = require_peer("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True, timeout=60)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=panelgate dicomweb test CA")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return {
        "ca": directory / "ca.pem",
        "server_pem": directory / "server.pem",
        "server_key": directory / "server.key",
    }


# -- a crafted STOW-RS server ----------------------------------------------------------------


@dataclass
class Reply:
    """One crafted reply: status, body and its content type."""

    status: int
    body: bytes = b""
    content_type: str = "application/dicom+json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """What the stub saw of one request."""

    method: str
    path: str
    headers: dict[str, str]
    body_bytes: int
    parts: int


@dataclass
class StowStub:
    """A STOW-RS endpoint on 127.0.0.1 that answers from :attr:`replies` (last one repeats)."""

    replies: list[Reply | Callable[[Request, bytes], Reply | Response]] = field(
        default_factory=list
    )
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        """The base URL to configure."""
        return f"http://127.0.0.1:{self.port}/dicom-web"

    async def _stow(self, request: Request) -> Response:
        body = await request.body()
        boundary = request.headers.get("content-type", "").rsplit("boundary=", 1)[-1]
        self.received.append(
            Received(
                request.method,
                request.url.path,
                dict(request.headers),
                len(body),
                body.count(b"--" + boundary.encode() + b"\r\n"),
            )
        )
        reply = self.replies[min(len(self.received), len(self.replies)) - 1]
        if callable(reply):
            reply = reply(request, body)
        if isinstance(reply, Response):
            return reply
        return Response(
            reply.body, reply.status, headers=reply.headers, media_type=reply.content_type
        )


@contextmanager
def stow_stub(get_free_port: Callable[[], int], *replies: Any) -> Iterator[StowStub]:
    """Run a :class:`StowStub` under uvicorn in a thread for the ``with`` block."""
    stub = StowStub(list(replies), port=get_free_port())
    app = Starlette(routes=[Route("/dicom-web/studies", stub._stow, methods=["POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=stub.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the STOW-RS stub did not start"
    try:
        yield stub
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def stow_json(
    stored: list[str], failed: dict[str, int], warnings: dict[str, int] | None = None
) -> bytes:
    """A PS3.18 JSON STOW-RS response body (``warnings``: Warning Reason of stored ones)."""

    def item(uid: str, tag: str, reason: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.1.1"]},
            "00081155": {"vr": "UI", "Value": [uid]},
        }
        if reason is not None:
            entry[tag] = {"vr": "US", "Value": [reason]}
        return entry

    warned = warnings or {}
    return json.dumps(
        {
            "00081199": {
                "vr": "SQ",
                "Value": [item(u, "00081196", warned.get(u)) for u in stored],
            },
            "00081198": {
                "vr": "SQ",
                "Value": [item(u, "00081197", r) for u, r in failed.items()],
            },
        }
    ).encode()


def environ_without_proxy() -> dict[str, str]:
    """The environment without proxy variables (subprocesses reach 127.0.0.1 directly)."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
