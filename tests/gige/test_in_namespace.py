"""Runs each ``netns_*.py`` module of this folder inside its own loopback-only namespace.

The namespace is made with ``unshare -n`` (needs root or CAP_SYS_ADMIN); when it cannot be
made the test FAILS with the reason: GigE tests never run on a real network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NETNS_ENV = "PANELGATE_GIGE_NETNS"
MODULES = sorted(p.name for p in HERE.glob("netns_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_module_in_loopback_namespace(
    module: str, loopback_namespace: Callable[[list[str]], list[str]]
) -> None:
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
        loopback_namespace(argv), capture_output=True, text=True, timeout=240, check=False, env=env
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{module} failed inside the namespace:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
