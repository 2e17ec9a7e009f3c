"""Count the kernel's delayed acknowledgements in DIMSE exchanges with dcmtk peers.

Run by ``test_promptness.py`` inside a loopback-only network namespace, whose TCP counters
(``/proc/net/netstat``) then count these exchanges and nothing else. Usage::

    python promptness_probe.py requester STORESCP FILE COUNT
    python promptness_probe.py listener ECHOSCU COUNT

Prints one JSON object of delayed ACKs (TcpExt DelayedACKs):

- ``requester``: ``COUNT`` C-STOREs of ``FILE`` to dcmtk ``storescp`` over one association
  opened by panelgate; ``requester_plain``: the same over one opened by pynetdicom as it
  comes;
- ``listener``: dcmtk ``echoscu --repeat COUNT`` against panelgate's listener;
  ``listener_plain``: the same against a pynetdicom server as it comes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from panelgate.gateway.pacs import Destination, Listener
from panelgate.gateway.pacs.session import StoreSession


def delayed_acks() -> int:
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=True))
            return counters["DelayedACKs"]
    raise SystemExit("no TcpExt line in /proc/net/netstat")


def counted(action: Callable[[], object]) -> int:
    before = delayed_acks()
    action()
    return delayed_acks() - before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"storescp exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("storescp does not listen")


def requester(storescp: str, path: Path, count: int) -> dict[str, int]:
    meta = dcmread(path, stop_before_pixels=True).file_meta
    sop_class, syntax = str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
    port = free_port()
    scp = subprocess.Popen(
        [storescp, "-aet", "STORESCP", "--ignore", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, scp)
        with StoreSession(
            Destination("127.0.0.1", port, called_ae="STORESCP", calling_ae="AGENT")
        ) as session:
            session.ensure({(sop_class, syntax)})
            ours = counted(lambda: [session.send(path, sop_class, syntax) for _ in range(count)])
        assoc = AE(ae_title="AGENT").associate(
            "127.0.0.1", port, [build_context(sop_class, syntax)], ae_title="STORESCP"
        )
        plain = counted(lambda: [assoc.send_c_store(path) for _ in range(count)])
        assoc.release()
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    return {"requester": ours, "requester_plain": plain}


def listener(echoscu: str, count: int) -> dict[str, int]:
    def echoes(port: int) -> None:
        subprocess.run(
            [echoscu, "--repeat", str(count), "-aec", "AGENT", "127.0.0.1", str(port)],
            check=True,
            capture_output=True,
        )

    with Listener("AGENT", lambda _result: None, host="127.0.0.1", port=0) as ours:
        counts = {"listener": counted(lambda: echoes(ours.port))}
    ae = AE(ae_title="AGENT")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        counts["listener_plain"] = counted(lambda: echoes(port))
    finally:
        server.shutdown()
    return counts


def main() -> None:
    role, exe, *rest = sys.argv[1:]
    if role == "requester":
        counts = requester(exe, Path(rest[0]), int(rest[1]))
    else:
        counts = listener(exe, int(rest[0]))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
