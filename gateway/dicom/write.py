"""Crash-safe Part-10 file writing (PS3.10 file format)."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from panelgate.drivers.fsio import atomic_file

__all__ = ["write_atomic"]


def write_atomic(ds: Dataset, path: Path, mode: int = 0o600) -> Path:
    """Write ``ds`` as a DICOM Part-10 file that is either complete or absent.

    The file is written to a temporary name in the same directory, flushed and fsynced,
    then renamed over ``path``, and the directory is fsynced; a crash at any point leaves
    either the old file or the new one, never a truncated one.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Dataset with ``file_meta`` set.
    path : pathlib.Path
        Destination file name.
    mode : int
        Permission bits; the default lets only the agent's user read the file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    with atomic_file(path, mode) as fh:
        ds.save_as(fh, enforce_file_format=True)
    return path
