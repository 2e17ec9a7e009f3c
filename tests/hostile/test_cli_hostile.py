"""Hostile input to every command: one line on stderr, the right exit status, nothing lost.

Issue 11's promise, table-driven: every ``panelgate`` command is run with bad paths,
unwritable and full output folders (small tmpfs mounts: CI runs as root), truncated and
mistyped inputs, bad numbers and a closed pipe. Each run must end with the documented exit
status (2: refused before anything moved, 1: the work failed), exactly one line on stderr
and no traceback; and what was already queued in the outbox or stored as calibration is
byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile

from panelgate.acquisition.cli import main

SIM = "sim://?width=64&height=64&seed=2"


@dataclass
class World:
    """Files and folders the table's placeholders stand for."""

    root: Path
    config: Path
    full: Path
    ro: Path
    places: dict[str, str]

    def snapshot(self) -> dict[str, str]:
        """Hash every file of the outbox and the calibration store."""
        found = {}
        for top in (self.root / "outbox", self.root / "store"):
            for path in sorted(top.rglob("*")):
                if path.is_file():
                    found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found


@pytest.fixture
def world(
    tmp_path: Path, mount: Callable[..., Path], dx: Callable[..., pydicom.Dataset],
    get_free_port: Callable[[], int], capsys: pytest.CaptureFixture[str],
) -> Iterator[World]:  # fmt: skip
    root = tmp_path
    config = root / "panelgate.toml"
    config.write_text(
        f'[outbox]\ndirectory = "{root / "outbox"}"\n\n'
        f'[destinations.pacs]\nhost = "127.0.0.1"\nport = {get_free_port()}\n'
        'called_ae = "NOBODY"\n'
    )
    incoming = root / "incoming"
    incoming.mkdir()
    for seed in range(2):
        dx(seed).save_as(incoming / f"{seed}.dcm", enforce_file_format=True)
    assert main(["send", str(incoming), "--to", "pacs", "--config", str(config)]) == 0
    stack = np.random.default_rng(0).integers(0, 4000, (4, 64, 64), dtype=np.uint16)
    np.save(root / "darks.npy", stack)
    np.save(root / "floods.npy", stack + 4000)
    np.save(root / "rank1.npy", stack.ravel())
    (root / "trunc.npy").write_bytes((root / "darks.npy").read_bytes()[:20000])
    tifffile.imwrite(root / "stack.tif", stack, photometric="minisblack")
    (root / "trunc.tif").write_bytes((root / "stack.tif").read_bytes()[:12000])
    whole = (incoming / "0.dcm").read_bytes()
    (root / "trunc.dcm").write_bytes(whole[: len(whole) // 2])
    (root / "bad.toml").write_text("[outbox\ndirectory = ")
    (root / "a-file").write_text("not a folder")
    capsys.readouterr()
    places = {
        "tmp": str(root), "config": str(config), "missing": str(root / "missing"),
        "full": str(mount("full", "64k")), "ro": str(mount("ro", ro=True)),
    }  # fmt: skip
    yield World(root, config, Path(places["full"]), Path(places["ro"]), places)


GRAB = ["grab", "--detector", SIM]
CAL = ["calibrate", "all", "--store", "{tmp}/store", "--serial", "SN-HOSTILE"]
FLOODS = ["--floods", "{tmp}/floods.npy"]
SEND = ["--to", "pacs", "--config", "{config}"]
EXPOSE = ["expose", "--detector", SIM, "--generator", "sim", "--out", "{tmp}/x"]
EXPOSE += ["--patient-id", "P", "--patient-name", "A"]
CASES: list[tuple[str, list[str], int, list[str]]] = [
    # (case, argv with {placeholders}, exit status, words the one line must hold)
    ("unknown command", ["frobnicate"], 2, ["frobnicate"]),
    ("no command", [], 2, ["COMMAND"]),
    ("grab: zero frames", [*GRAB, "--frames", "0"], 2, ["--frames"]),
    ("grab: negative frames", [*GRAB, "--frames", "-1"], 2, ["--frames"]),
    ("grab: negative timeout", [*GRAB, "--timeout-s", "-1"], 2, ["--timeout-s"]),
    ("grab: NaN timeout", [*GRAB, "--timeout-s", "nan"], 2, ["--timeout-s"]),
    ("grab: unknown URL", ["grab", "--detector", "ftp://127.0.0.1"], 2, ["ftp"]),
    ("grab: full disk", [*GRAB, "--frames", "12", "--out", "{full}"], 1, ["{full}"]),
    ("grab: read-only", [*GRAB, "--out", "{ro}"], 1, ["{ro}"]),
    ("grab: out under a file", [*GRAB, "--out", "{tmp}/a-file/x"], 1, ["a-file"]),
    ("correct: unknown set", ["correct", "--calibration", "0123456789abcdef", "--store",
     "{tmp}/store", "{tmp}/darks.npy", "{tmp}/o.npy"], 2, ["0123456789abcdef"]),
    ("correct: over its input", ["correct", "--calibration", "x", "{tmp}/darks.npy",
     "{tmp}/darks.npy"], 2, ["darks.npy"]),
    ("calibrate: missing darks", [*CAL, "--darks", "{missing}", *FLOODS], 2, ["missing"]),
    ("calibrate: truncated npy", [*CAL, "--darks", "{tmp}/trunc.npy", *FLOODS], 2,
     ["trunc.npy"]),
    ("calibrate: truncated TIFF", [*CAL, "--darks", "{tmp}/trunc.tif", *FLOODS], 2,
     ["trunc.tif"]),
    ("calibrate: wrong rank", [*CAL, "--darks", "{tmp}/rank1.npy", *FLOODS], 2, ["rank1.npy"]),
    ("calibrate: levels vs floods", [*CAL, "--darks", "{tmp}/darks.npy", *FLOODS, "--levels",
     "4,8"], 2, ["--levels"]),
    ("calibrate: NaN level", [*CAL, "--darks", "{tmp}/darks.npy", *FLOODS, "{tmp}/floods.npy",
     "--levels", "4,nan"], 2, ["--levels"]),
    ("calibration: unknown id", ["calibration", "show", "--store", "{tmp}/store",
     "0123456789abcdef"], 2, ["0123456789abcdef"]),
    ("send: truncated file", ["send", "{tmp}/trunc.dcm", *SEND], 1, ["trunc.dcm"]),
    ("send: missing file", ["send", "{missing}", *SEND], 2, ["missing"]),
    ("send: unknown destination", ["send", "{tmp}/incoming", "--to", "nowhere", "--config",
     "{config}"], 2, ["nowhere"]),
    ("outbox: missing config", ["outbox", "list", "--config", "{missing}"], 2, ["missing"]),
    ("outbox: broken TOML", ["outbox", "list", "--config", "{tmp}/bad.toml"], 2, ["bad.toml"]),
    ("outbox: config is a folder", ["outbox", "list", "--config", "{tmp}"], 2, ["{tmp}"]),
    ("agent: missing config", ["agent", "--config", "{missing}"], 2, ["missing"]),
    ("pacs: port out of range", ["pacs", "--port", "70000", "--dir", "{tmp}/pacs"], 2,
     ["--port"]),
    ("pacs: read-only folder", ["pacs", "--port", "0", "--dir", "{ro}/pacs"], 1, ["{ro}"]),
    ("simulate generator: negative prep", ["simulate", "generator", "--prep-s", "-1"], 2,
     ["--prep-s"]),
    ("expose: NaN kV", [*EXPOSE, "--kv", "nan", "--mas", "2"], 2, ["--kv"]),
    ("expose: negative mAs", [*EXPOSE, "--kv", "70", "--mas", "-2"], 2, ["--mas"]),
    ("demo: zero darks", ["demo", "--detector", SIM, "--dark-frames", "0"], 2, ["--dark-frames"]),
    ("demo: read-only output", ["demo", "--detector", SIM, "--out", "{ro}/demo"], 1, ["{ro}"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "status", "words"), [pytest.param(*case[1:], id=case[0]) for case in CASES]
)
def test_bad_input_is_one_line_the_right_status_and_nothing_is_lost(
    argv: list[str], status: int, words: list[str], world: World,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    before = world.snapshot()
    rc = main([arg.format(**world.places) for arg in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("panelgate: error: "), err
    for word in words:
        assert word.format(**world.places) in lines[0], err
    assert rc == status, err
    assert world.snapshot() == before, "something queued or stored was changed"
    for mounted in (world.full, world.ro):
        leftovers = [p for p in mounted.rglob("*") if p.is_file()]
        assert leftovers == [], f"partial files left behind: {leftovers}"


def _panelgate(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from panelgate.acquisition.cli import main; "
            "sys.exit(main(sys.argv[1:]))", *args]  # fmt: skip


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """``panelgate grab ... | head -1``: the reader goes away; no traceback, exit 0."""
    with subprocess.Popen(
        _panelgate("grab", "--detector", SIM, "--frames", "5000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as grab:  # fmt: skip
        assert grab.stdout is not None and grab.stderr is not None
        assert grab.stdout.readline().startswith(b"grab: ")
        grab.stdout.close()  # the reader goes away, as 'head -1' does
        rc = grab.wait(timeout=120)
        err = grab.stderr.read().decode()
    assert rc == 0, err
    assert err == ""


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["simulate", "generator"], id="simulate generator"),
        pytest.param(["pacs", "--port", "0", "--dir", "{tmp}"], id="pacs"),
    ],
)
def test_long_running_commands_stop_cleanly(
    argv: list[str], signum: int, status: int, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        _panelgate(*[a.format(tmp=tmp_path) for a in argv]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # it says where it serves once it is ready
    time.sleep(0.2)
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 1, err
