"""Count the kernel's delayed acknowledgements while C-STOREs go to dcmtk ``storescp``.

Run by ``test_promptness.py`` inside a loopback-only network namespace, whose TCP counters
(``/proc/net/netstat``) then count this exchange and nothing else. Usage::

    python promptness_probe.py STORESCP_EXE FILE COUNT

Prints one JSON object: the delayed ACKs (TcpExt DelayedACKs) while ``COUNT`` C-STOREs of
``FILE`` went over one association opened by panelgate (``panelgate``), and over one opened
by pynetdicom as it comes (``pynetdicom``), to the same ``storescp``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.presentation import build_context

from panelgate.gateway.pacs import Destination
from panelgate.gateway.pacs.session import StoreSession


def delayed_acks() -> int:
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=True))[
                "DelayedACKs"
            ]
    raise SystemExit("no TcpExt line in /proc/net/netstat")


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


def main() -> None:
    exe, path, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    meta = dcmread(path, stop_before_pixels=True).file_meta
    sop_class, syntax = str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    scp = subprocess.Popen(
        [exe, "-aet", "STORESCP", "--ignore", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    counts: dict[str, int] = {}
    try:
        wait_listening(port, scp)
        session = StoreSession(
            Destination("127.0.0.1", port, called_ae="STORESCP", calling_ae="AGENT")
        )
        with session:
            session.ensure({(sop_class, syntax)})
            before = delayed_acks()
            for _ in range(count):
                session.send(path, sop_class, syntax)
            counts["panelgate"] = delayed_acks() - before
        assoc = AE(ae_title="AGENT").associate(
            "127.0.0.1", port, [build_context(sop_class, syntax)], ae_title="STORESCP"
        )
        before = delayed_acks()
        for _ in range(count):
            assoc.send_c_store(path)
        counts["pynetdicom"] = delayed_acks() - before
        assoc.release()
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
