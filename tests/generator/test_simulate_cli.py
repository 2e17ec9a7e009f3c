"""``panelgate simulate generator`` prints a device path a client can open, until stopped."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from panelgate.drivers.generator import GeneratorClient
from panelgate.simulators.generator import GeneratorSpec

CODE = "import sys; from panelgate.acquisition.cli import main; sys.exit(main(sys.argv[1:]))"


def test_simulate_generator_prints_a_working_device_path() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CODE, "simulate", "generator", "--prep-s", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        with GeneratorClient(path) as client:
            assert client.state() == "IDLE"
            client.set_technique(100, 1)
            client.prep()
            client.wait_ready(2)
            client.expose()
            assert client.wait_done(2).kv == pytest.approx(100, rel=0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "1 exposure(s)" in out
    finally:
        proc.kill()


def test_spec_is_validated() -> None:
    with pytest.raises(ValueError, match="prep_s must be >= 0"):
        GeneratorSpec(prep_s=-1)
