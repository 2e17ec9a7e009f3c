"""A calibration set's maps as plain files (``.npy`` or TIFF), for inspection elsewhere.

Written with :class:`panelgate.drivers.fsio.AtomicFiles`: the maps and
``defect_flags.json`` appear together, each whole, or (full disk, read-only folder) none of
them does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from panelgate.drivers.fsio import AtomicFiles, make_dir

from .calset import CalibrationSet, DefectFlag
from .errors import CalibrationError

__all__ = ["EXPORT_FORMATS", "export_maps"]

EXPORT_FORMATS = ("npy", "tiff")
"""The file formats of :func:`export_maps`."""


def _maps(calset: CalibrationSet) -> dict[str, npt.NDArray[Any]]:
    arrays: dict[str, npt.NDArray[Any]] = {
        "dark": calset.dark,
        "gain": calset.gain,
        "defects": calset.defects,
    }
    if calset.pwl is not None:
        arrays |= {"pwl_breaks": calset.pwl.breaks, "pwl_slopes": calset.pwl.slopes}
    return arrays


def _encode(arr: npt.NDArray[Any], fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "npy":
        np.save(buffer, np.ascontiguousarray(arr), allow_pickle=False)
    else:
        tifffile.imwrite(buffer, arr, photometric="minisblack")
    return buffer.getvalue()


def export_maps(calset: CalibrationSet, out_dir: Path, fmt: str = "npy") -> list[Path]:
    """Write the set's dark, gain and defect maps (and pwl arrays) into ``out_dir``.

    The files are ``<name>.npy`` or ``<name>.tiff`` plus ``defect_flags.json`` naming the
    defect bits. ``out_dir`` is created if missing.

    Parameters
    ----------
    calset : CalibrationSet
        The set to export.
    out_dir : pathlib.Path
        The folder to write into.
    fmt : str
        ``"npy"`` or ``"tiff"``.

    Returns
    -------
    list of pathlib.Path
        The files written, maps first.

    Raises
    ------
    CalibrationError
        An unknown format.
    panelgate.drivers.StorageError
        The folder cannot be created or a file written; no file of the export is left.
    """
    if fmt not in EXPORT_FORMATS:
        raise CalibrationError(f"export format must be npy or tiff, got {fmt!r}")
    out_dir = make_dir(Path(out_dir))
    written = []
    with AtomicFiles() as files:
        for name, arr in _maps(calset).items():
            path = out_dir / f"{name}.{fmt}"
            with files.open(path, 0o644) as fh:
                fh.write(_encode(arr, fmt))
            written.append(path)
        flags = out_dir / "defect_flags.json"
        with files.open(flags, 0o644) as fh:
            fh.write((json.dumps(DefectFlag.names(), indent=2) + "\n").encode())
        written.append(flags)
    return written
