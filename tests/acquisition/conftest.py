"""Fixtures of the acquisition tests: PEM files for the TLS checks of the configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate with its key (``cert``, ``key``; also a CA) and a stranger key.

    Keys: ``ca`` (= ``cert``), ``key``, ``other_key`` (a key of no certificate here),
    ``garbage`` (a file that is not PEM).
    """
    if shutil.which("openssl") is None:
        if os.environ.get("PANELGATE_REQUIRE_PEERS") == "1":
            pytest.fail("openssl CLI not installed and PANELGATE_REQUIRE_PEERS=1")
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("pem")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
             "-subj", "/CN=panelgate config test", cwd=d)  # fmt: skip
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", "other.key", cwd=d)  # fmt: skip
    (d / "garbage.pem").write_text("not a certificate\n")
    return {
        "ca": d / "self.pem",
        "cert": d / "self.pem",
        "key": d / "self.key",
        "other_key": d / "other.key",
        "garbage": d / "garbage.pem",
    }
