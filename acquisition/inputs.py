"""The files named on a command line: every regular file under a folder, and every entry skipped.

``panelgate send DIR`` must not pass over anything silently. A walk yields each regular
file (symbolic links followed) and, for every other entry, why it cannot be read: a
dangling symbolic link, a symbolic link loop (ELOOP, or a link back to a folder already on
the way down), a FIFO, socket or device, a folder that cannot be listed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entry", "walk_files"]


@dataclass(frozen=True)
class Entry:
    """A path found by :func:`walk_files`; ``problem`` is empty for a readable regular file."""

    path: Path
    problem: str = ""


def walk_files(root: Path) -> Iterator[Entry]:
    """Yield every regular file under ``root`` (sorted) and every entry that is not one.

    ``root`` may itself be a file. Symbolic links to files and folders are followed; a
    folder reached again through a link on the way down is reported as a loop.
    """
    yield from _walk(Path(root), ancestors=frozenset())


def _walk(path: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[Entry]:
    try:
        st = path.stat()
    except OSError as exc:
        yield Entry(path, _unreadable(path, exc))
        return
    if stat.S_ISREG(st.st_mode):
        yield Entry(path)
        return
    if not stat.S_ISDIR(st.st_mode):
        yield Entry(path, f"not a regular file ({_kind(st.st_mode)})")
        return
    identity = (st.st_dev, st.st_ino)
    if identity in ancestors:
        yield Entry(path, f"symbolic link loop (leads back to a folder above, {path.resolve()})")
        return
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        yield Entry(path, f"cannot list the folder: {exc.strerror or exc}")
        return
    for name in names:
        yield from _walk(path / name, ancestors | {identity})


def _unreadable(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT and path.is_symlink():
        return f"dangling symbolic link (its target {os.readlink(path)} does not exist)"
    return exc.strerror or str(exc)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file or folder"
