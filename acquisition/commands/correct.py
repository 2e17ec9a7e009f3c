"""``panelgate correct --calibration ID INPUT OUTPUT``: correct recorded frames offline.

OUTPUT is written atomically (whole or absent) and may not be INPUT itself.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.acquisition.calrun import default_store_dir
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.stacks import SUFFIXES, FrameStack, StackError, write_stack
from panelgate.acquisition.stages import Stage
from panelgate.calibration import CalibrationMismatch, CalibrationStore, correct, warm_up
from panelgate.drivers.fsio import AtomicFiles

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``correct`` sub-command."""
    cmd = sub.add_parser(
        "correct",
        help="apply a stored calibration set to recorded frames",
        description="Correct every frame of INPUT (.npy or multi-page TIFF stack) with a "
        "stored calibration set and write OUTPUT (format by its suffix; written whole or "
        "not at all, never over INPUT).",
    )
    cmd.add_argument("--calibration", required=True, metavar="ID", help="calibration set id")
    cmd.add_argument("input", type=Path, metavar="INPUT")
    cmd.add_argument("output", type=Path, metavar="OUTPUT")
    cmd.add_argument("--store", type=Path, metavar="DIR", help="calibration store directory")
    cmd.add_argument("--bits", type=int, choices=[14, 16], default=16, help="output bits")
    cmd.set_defaults(handler=_correct)


def _same_file(a: Path, b: Path) -> bool:
    """Tell whether two names are one file (also through a symlink, a relative or hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _check_output(args: argparse.Namespace) -> None:
    """Refuse an OUTPUT that would overwrite INPUT or cannot be a stack, before any reading."""
    if _same_file(args.input, args.output):
        raise UsageError(
            f"correct: OUTPUT {args.output} is the INPUT file: correcting in place would "
            "destroy the raw frames; give another OUTPUT"
        )
    if args.output.suffix.lower() not in SUFFIXES:
        raise StackError(f"{args.output}: a frame stack must end in {', '.join(SUFFIXES)}")


def _correct(args: argparse.Namespace) -> int:
    _check_output(args)
    store = CalibrationStore(default_store_dir(args.store))
    calset = store.load(args.calibration)
    stack = FrameStack(args.input)
    if stack.shape != calset.shape:
        raise CalibrationMismatch(
            f"{args.input}: frames of shape {stack.shape}, calibration set {calset.set_id} "
            f"is for {calset.shape}"
        )
    warm_up()
    full_scale = 2**args.bits - 1
    results: list[npt.NDArray[np.uint16]] = []

    def work(raw: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
        return correct(raw, calset, full_scale=full_scale)

    stage: Stage[npt.NDArray[np.uint16], npt.NDArray[np.uint16]] = Stage(
        "correct", work, results.append, maxsize=4, policy="block"
    ).start()
    for frame in stack:
        stage.put(frame)
    counters = stage.stop()
    if counters.errors or len(results) != len(stack):
        print(f"panelgate correct: {counters}")
        return 1
    with AtomicFiles() as files, files.path(args.output, 0o644) as tmp:
        write_stack(tmp, results)
    print(
        f"corrected {len(results)} frame(s) with calibration set {calset.set_id} -> {args.output}"
    )
    print(f"  {counters}")
    return 0
