"""``panelgate correct --calibration ID INPUT OUTPUT``: correct recorded frames offline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.acquisition.calrun import default_store_dir
from panelgate.acquisition.stacks import FrameStack, write_stack
from panelgate.acquisition.stages import Stage
from panelgate.calibration import CalibrationMismatch, CalibrationStore, correct, warm_up

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``correct`` sub-command."""
    cmd = sub.add_parser(
        "correct",
        help="apply a stored calibration set to recorded frames",
        description="Correct every frame of INPUT (.npy or multi-page TIFF stack) with a "
        "stored calibration set and write OUTPUT (format by its suffix).",
    )
    cmd.add_argument("--calibration", required=True, metavar="ID", help="calibration set id")
    cmd.add_argument("input", type=Path, metavar="INPUT")
    cmd.add_argument("output", type=Path, metavar="OUTPUT")
    cmd.add_argument("--store", type=Path, metavar="DIR", help="calibration store directory")
    cmd.add_argument("--bits", type=int, choices=[14, 16], default=16, help="output bits")
    cmd.set_defaults(handler=_correct)


def _correct(args: argparse.Namespace) -> int:
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
    write_stack(args.output, results)
    print(
        f"corrected {len(results)} frame(s) with calibration set {calset.set_id} -> {args.output}"
    )
    print(f"  {counters}")
    return 0
