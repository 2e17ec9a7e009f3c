"""Crash-safe file primitives: atomic writes, fsync, folders; file-system errors translated.

Every whole file panelgate writes (DICOM instances, outbox records, frame stacks,
corrected stacks, exported calibration maps, previews) goes through :class:`AtomicFiles`:
it is written to a temporary name in its own folder, flushed and fsynced, then renamed
into place (POSIX ``rename(2)`` is atomic within a file system) and the folder fsynced so
that the new name survives a power loss. A reader sees the old file or the new one, never
a part; several files written in one :class:`AtomicFiles` appear together or not at all.

This module is also the boundary where the file system's errors become ours: an
:class:`OSError` while writing (full disk, read-only or missing folder, permission denied)
is raised as :class:`~panelgate.drivers.errors.StorageError` whose one-line message names
the path, and no temporary file is left behind. It lives at the bottom layer so that every
package (calibration included, which may not import the gateway) uses the same one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeGuard

from .errors import PanelgateError, StorageError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "AtomicFiles",
    "atomic_file",
    "fsync_dir",
    "make_dir",
    "private_dir",
    "storage_error",
    "write_bytes_atomic",
]

DIR_MODE = 0o700
"""Folders holding patient data: only the agent's user may enter them."""
FILE_MODE = 0o600
"""Files holding patient data: only the agent's user may read them (the default)."""

_NEARLY_FULL_BYTES = 1 << 20
"""Less free space than this, after a write failed without saying why, is a full disk."""

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "no such folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EEXIST: "a file of that name exists",
}


def storage_error(exc: OSError, path: Path, doing: str = "write") -> StorageError:
    """Return the :class:`StorageError` for ``exc``: one line naming ``path`` and why.

    Raise it ``from exc``. The error keeps ``exc.errno``.

    Parameters
    ----------
    exc : OSError
        What the file system raised.
    path : pathlib.Path
        The file or folder the user asked for (not a temporary name).
    doing : str
        The verb of the message: ``cannot <doing> <path>: <why>``.
    """
    code = exc.errno or (errno.ENOSPC if _short_of_space(path) else 0)
    why = _REASONS.get(code) or (exc.strerror or str(exc)).lower()
    error = StorageError(f"cannot {doing} {path}: {why}")
    error.errno = code or None
    return error


def _short_of_space(path: Path) -> bool:
    """Tell whether the file system of ``path`` is (nearly) full.

    For errors without an errno: numpy reports a short write as "N requested and M
    written", which on a full disk is all it says.
    """
    folder = path if path.is_dir() else path.parent
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < _NEARLY_FULL_BYTES


def _is_foreign(exc: BaseException) -> TypeGuard[OSError]:
    """Tell a file-system error not yet translated (ours pass unchanged)."""
    return isinstance(exc, OSError) and not isinstance(exc, PanelgateError)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (new, renamed, removed names) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """Create ``path`` readable only by the agent's user (0700); return it.

    Missing parents are created private too, but existing ones are left as they are.

    Raises
    ------
    StorageError
        The folder cannot be created (read-only, permission, a file of that name).
    """
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        path.mkdir(exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise storage_error(exc, path, "create the folder") from exc
    return path


def make_dir(path: Path) -> Path:
    """Create the output folder ``path`` and its parents if missing; return it.

    Raises
    ------
    StorageError
        The folder cannot be created (read-only, permission, a file of that name).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, path, "create the folder") from exc
    return path


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


class AtomicFiles:
    """Files that appear whole and together when the ``with`` block succeeds, or not at all.

    Each file is written to a temporary name beside its final one (:meth:`open` gives a
    binary file, :meth:`path` a name for writers that take one) and fsynced when its own
    block ends; the renames into place happen when this object's block ends, then each
    folder is fsynced. On any error every temporary file is removed and the final names
    are untouched (the old files or none). File-system errors are raised as
    :class:`StorageError` naming the final path.

    Parameters
    ----------
    sync : bool
        Fsync at all (skip only for state whose loss in a power cut is harmless): without
        it the renames are still atomic for every reader and survive the process being
        killed, but not necessarily a power loss.
    sync_dir : bool
        Also fsync the folders (skip only when the caller does it after several writes).

    Examples
    --------
    >>> with AtomicFiles() as files:                                      # doctest: +SKIP
    ...     with files.path(out / "frames.npy") as tmp:
    ...         np.save(tmp, frames)
    ...     with files.open(out / "frames.json") as fh:
    ...         fh.write(meta)
    """

    def __init__(self, *, sync: bool = True, sync_dir: bool = True) -> None:
        self._sync = sync
        self._sync_dir = sync and sync_dir
        self._staged: list[tuple[Path, Path]] = []  # (temporary, final)

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard_all()
            return
        self._commit()

    @contextlib.contextmanager
    def open(self, path: Path, mode: int = FILE_MODE) -> Iterator[BinaryIO]:
        """Open a temporary binary file that becomes ``path`` (permission bits ``mode``).

        Raises
        ------
        StorageError
            The file cannot be created or written; nothing is left behind.
        """
        path = Path(path)
        fd, tmp = self._create(path, mode)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                if self._sync:
                    os.fsync(fh.fileno())
        except BaseException as exc:
            error = storage_error(exc, path) if _is_foreign(exc) else None  # before the drop
            self._drop(tmp)
            if error is not None:
                raise error from exc
            raise

    @contextlib.contextmanager
    def path(self, path: Path, mode: int = FILE_MODE) -> Iterator[Path]:
        """Give a temporary name (same folder and suffix) that becomes ``path``.

        For writers that take a file name (``np.save``, ``tifffile.imwrite``): they must
        write into that name, not replace it. Permission bits are ``mode``.

        Raises
        ------
        StorageError
            The file cannot be created or written; nothing is left behind.
        """
        path = Path(path)
        fd, tmp = self._create(path, mode)
        os.close(fd)
        try:
            yield tmp
            if self._sync:
                _fsync_file(tmp)
        except BaseException as exc:
            error = storage_error(exc, path) if _is_foreign(exc) else None  # before the drop
            self._drop(tmp)
            if error is not None:
                raise error from exc
            raise

    def _create(self, path: Path, mode: int) -> tuple[int, Path]:
        try:
            fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
        except OSError as exc:
            raise storage_error(exc, path) from exc
        tmp = Path(name)
        self._staged.append((tmp, path))
        try:
            os.fchmod(fd, mode)
        except OSError as exc:
            os.close(fd)
            self._drop(tmp)
            raise storage_error(exc, path) from exc
        return fd, tmp

    def _drop(self, tmp: Path) -> None:
        _discard(tmp)
        self._staged = [(t, f) for t, f in self._staged if t != tmp]

    def _discard_all(self) -> None:
        for tmp, _ in self._staged:
            _discard(tmp)
        self._staged = []

    def _commit(self) -> None:
        where = Path()
        try:
            for tmp, final in self._staged:
                where = final
                os.replace(tmp, final)
            if self._sync_dir:
                for folder in dict.fromkeys(final.parent for _, final in self._staged):
                    where = folder
                    fsync_dir(folder)
        except OSError as exc:
            self._discard_all()
            raise storage_error(exc, where) from exc
        self._staged = []


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(
    path: Path, mode: int = FILE_MODE, *, sync_dir: bool = True, sync: bool = True
) -> Iterator[BinaryIO]:
    """Open a temporary file that becomes ``path`` only when the ``with`` block succeeds.

    One file of :class:`AtomicFiles`: on any error it is removed and ``path`` is
    untouched (the old file or none).

    Parameters
    ----------
    path : pathlib.Path
        Final name; its folder must exist.
    mode : int
        Permission bits; the default lets only the agent's user read the file.
    sync_dir : bool
        Also fsync the folder (skip only when the caller does it after several writes).
    sync : bool
        Fsync at all (skip only for state whose loss in a power cut is harmless).

    Raises
    ------
    StorageError
        The file cannot be created or written (full disk, read-only, missing folder,
        permission); the message names ``path``.
    """
    with AtomicFiles(sync=sync, sync_dir=sync_dir) as files, files.open(path, mode) as fh:
        yield fh


def write_bytes_atomic(
    path: Path, data: bytes, *, sync_dir: bool = True, sync: bool = True
) -> Path:
    """Write ``data`` to ``path`` so that the file is either complete or absent (mode 0600).

    Parameters
    ----------
    path : pathlib.Path
        Final name; its folder must exist.
    data : bytes
        The whole content.
    sync_dir : bool
        Also fsync the folder (skip only when the caller does it after several writes).
    sync : bool
        Fsync at all (see :class:`AtomicFiles`).

    Raises
    ------
    StorageError
        See :func:`atomic_file`.
    """
    with atomic_file(path, sync_dir=sync_dir, sync=sync) as fh:
        fh.write(data)
    return path
