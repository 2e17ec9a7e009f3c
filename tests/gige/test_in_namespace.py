"""Runs each ``netns_*.py`` module of this folder inside its own loopback-only namespace.

The namespace is made with ``unshare -n`` (needs root or CAP_SYS_ADMIN); when it cannot be
made the test FAILS with the reason: GigE tests never run on a real network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NETNS_ENV = "PANELGATE_GIGE_NETNS"
MODULES = sorted(p.name for p in HERE.glob("netns_*.py"))


def netns_command(argv: list[str]) -> list[str]:
    """Wrap ``argv`` so that it runs in a new network namespace holding only loopback (up)."""
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
    return ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {quoted}"]


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) and ip (iproute2) are needed for the GigE namespace"
    probe = subprocess.run(
        netns_command(["true"]), capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return f"cannot create a loopback-only network namespace: {probe.stderr.strip()}"
    return None


@pytest.mark.parametrize("module", MODULES)
def test_module_in_loopback_namespace(module: str) -> None:
    problem = _namespace_problem()
    if problem is not None:
        pytest.fail(problem + " (GigE tests never run outside such a namespace)")
    pytest_exe = str(Path(sys.executable).with_name("pytest"))
    argv = [
        pytest_exe if os.path.exists(pytest_exe) else "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "python_files=netns_*.py",
        str(HERE / module),
    ]
    env = dict(os.environ, **{NETNS_ENV: "1"})
    proc = subprocess.run(
        netns_command(argv), capture_output=True, text=True, timeout=240, check=False, env=env
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{module} failed inside the namespace:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
