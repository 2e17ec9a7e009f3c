"""The inputs of an offline calibration, all checked before anything is computed.

``panelgate calibrate all --darks F --floods F [F ...] [--lag F] [--levels L1,L2,..]``
builds a calibration set from recorded stacks. A mistake there used to surface late or not
at all (a level count that did not match stored NaN levels; a truncated TIFF was read as a
shorter stack). Here every stack is opened and checked whole (:class:`FrameStack`), the
frames of all stacks must have one shape, the dark stack must have the two frames a noise
map needs, and the flood levels must fit the flood stacks, before the first frame is read.
:meth:`OfflineInputs.fingerprint` names the inputs by content, so that a run repeated on
the same stacks and options is recognised before it is computed again.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .stacks import FrameStack, StackError

__all__ = ["OfflineInputs", "check_levels", "open_offline_inputs"]

MIN_DARK_FRAMES = 2
"""Frames a dark map needs at least (its noise map is a standard deviation)."""


@dataclass(frozen=True)
class OfflineInputs:
    """Checked stacks of an offline calibration.

    Parameters
    ----------
    darks : FrameStack
        Dark frames (two or more).
    floods : tuple of FrameStack
        One stack per flood level, in the order of ``levels_ugy``.
    lag : FrameStack or None
        A dark read right after the last flood (its first frame is used).
    levels_ugy : tuple of float
        Air kerma of each flood stack in µGy, strictly increasing; empty when the levels
        are not used (one flood stack, or a single-point gain) and were not given.
    """

    darks: FrameStack
    floods: tuple[FrameStack, ...]
    lag: FrameStack | None
    levels_ugy: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (height, width) shared by every stack."""
        return self.darks.shape

    def fingerprint(self, options: Sequence[str] = ()) -> str:
        """Return a SHA-256 of every stack's bytes, their roles, the levels and ``options``.

        Two runs with the same files (by content, wherever they lie) and the same options
        give the same fingerprint, so a repeated run is recognised before it is computed.
        """
        digest = hashlib.sha256()
        roles = [("darks", self.darks), *(("flood", f) for f in self.floods)]
        roles += [("lag", self.lag)] if self.lag is not None else []
        for role, stack in roles:
            digest.update(f"{role}:{stack.path.stat().st_size}:".encode())
            with stack.path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(repr((self.levels_ugy, tuple(options))).encode())
        return digest.hexdigest()


def check_levels(levels: Sequence[float] | None, floods: int, *, multipoint: bool) -> None:
    """Check the flood levels against the flood stacks.

    Parameters
    ----------
    levels : sequence of float or None
        ``--levels`` as given, or None when it was not given.
    floods : int
        Number of flood stacks.
    multipoint : bool
        Whether a multi-point gain is asked for (it needs a level per stack).

    Raises
    ------
    UsageError
        Levels given that are not one per flood stack, not finite, not positive or not
        strictly increasing; or no levels for a multi-point gain from several stacks.
    """
    if levels is None:
        if multipoint and floods > 1:
            raise UsageError(
                f"--levels: a multi-point gain from {floods} flood stacks needs their air "
                f"kerma, one level per stack in µGy (e.g. --levels 4,8,16), or --single-point"
            )
        return
    if len(levels) != floods:
        raise UsageError(
            f"--levels: {len(levels)} level(s) given for {floods} flood stack(s); give one "
            f"level per --floods file, in the same order"
        )
    if not all(math.isfinite(v) and v > 0 for v in levels):
        raise UsageError(f"--levels: levels must be finite and > 0 µGy, got {list(levels)}")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise UsageError(
            f"--levels: levels must be strictly increasing, got {list(levels)}; list the "
            f"--floods files from the lowest dose to the highest"
        )


def _same_shape(stack: FrameStack, darks: FrameStack, role: str) -> FrameStack:
    if stack.shape != darks.shape:
        raise StackError(
            f"{stack.path}: {role} frames of shape {stack.shape}, the darks "
            f"({darks.path}) {darks.shape}: every stack must have one frame shape"
        )
    return stack


def open_offline_inputs(
    darks: Path,
    floods: Sequence[Path],
    *,
    lag: Path | None = None,
    levels: Sequence[float] | None = None,
    multipoint: bool = True,
) -> OfflineInputs:
    """Open and check every input of an offline calibration; read no frame yet.

    Raises
    ------
    UsageError
        The levels do not fit the flood stacks (see :func:`check_levels`).
    StackError
        A stack missing, unreadable, truncated, of another rank or dtype, of another frame
        shape than the darks, or a dark stack of fewer than two frames; the file is named.
    """
    check_levels(levels, len(floods), multipoint=multipoint)
    dark_stack = FrameStack(darks)
    if len(dark_stack) < MIN_DARK_FRAMES:
        raise StackError(
            f"{dark_stack.path}: {len(dark_stack)} dark frame(s); a dark map needs at least "
            f"{MIN_DARK_FRAMES}"
        )
    flood_stacks = tuple(_same_shape(FrameStack(f), dark_stack, "flood") for f in floods)
    lag_stack = None if lag is None else _same_shape(FrameStack(lag), dark_stack, "lag")
    return OfflineInputs(dark_stack, flood_stacks, lag_stack, tuple(levels or ()))
