"""Crash-safe file primitives: private directories, atomic writes, fsync.

Every file the gateway writes (DICOM instances, every state change of the outbox) is a file
written to a temporary name, fsynced and renamed into place (POSIX ``rename(2)`` is atomic
within a file system), then the directory fsynced so that the new name survives a power loss.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_file", "fsync_dir", "private_dir", "write_bytes_atomic"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` readable only by the agent's user; return it.

    Missing parents are created private too, but existing ones are left as they are.
    """
    if not path.parent.exists():
        private_dir(path.parent)
    path.mkdir(exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (new, renamed, removed names) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(
    path: Path, mode: int = FILE_MODE, *, sync_dir: bool = True, sync: bool = True
) -> Iterator[BinaryIO]:
    """Open a temporary file that becomes ``path`` only when the ``with`` block succeeds.

    The file is created with ``mode``, flushed and fsynced, then renamed over ``path``; on
    any error it is removed and ``path`` is untouched (the old file or none). Without
    ``sync`` nothing is fsynced: the rename is still atomic for every reader and survives
    the process being killed, but not necessarily a power loss.

    Parameters
    ----------
    path : pathlib.Path
        Final name; its directory must exist.
    mode : int
        Permission bits; the default lets only the agent's user read the file.
    sync_dir : bool
        Also fsync the directory (skip only when the caller does it after several writes).
    sync : bool
        Fsync at all (skip only for state whose loss in a power cut is harmless).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync and sync_dir:
        fsync_dir(path.parent)


def write_bytes_atomic(
    path: Path, data: bytes, *, sync_dir: bool = True, sync: bool = True
) -> Path:
    """Write ``data`` to ``path`` so that the file is either complete or absent (mode 0600).

    Parameters
    ----------
    path : pathlib.Path
        Final name; its directory must exist.
    data : bytes
        The whole content.
    sync_dir : bool
        Also fsync the directory (skip only when the caller does it after several writes).
    sync : bool
        Fsync at all (see :func:`atomic_file`).
    """
    with atomic_file(path, sync_dir=sync_dir, sync=sync) as fh:
        fh.write(data)
    return path
