"""A STOW-RS request body streamed from spool files (PS3.18 8.6.1.2, RFC 2387 multipart/related).

The body is never held in memory: its length is known from the files' sizes before the
first byte is sent (so the server gets a ``Content-Length`` and no chunked encoding), and
:meth:`MultipartBody.chunks` reads each file in blocks as the connection takes them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from panelgate.gateway.errors import DeliveryError

__all__ = ["MultipartBody"]

_PART_HEADERS = b"Content-Type: application/dicom\r\n\r\n"


class MultipartBody:
    """The ``multipart/related; type="application/dicom"`` body of one STOW-RS request.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Part-10 files, one part each, in order.
    block_bytes : int
        Bytes read from a file at a time.
    boundary : str, optional
        The multipart boundary (random when not given).

    Raises
    ------
    DeliveryError
        A file cannot be opened for its size (not retryable: the spool lost it).
    """

    def __init__(
        self, paths: Sequence[Path], block_bytes: int = 1 << 20, boundary: str = ""
    ) -> None:
        if not paths:
            raise ValueError("a STOW-RS request needs at least one instance")
        if block_bytes <= 0:
            raise ValueError(f"block_bytes must be positive, got {block_bytes}")
        self.paths = [Path(p) for p in paths]
        self.block_bytes = block_bytes
        self.boundary = boundary or uuid.uuid4().hex
        try:
            self._sizes = [os.stat(p).st_size for p in self.paths]
        except OSError as exc:
            raise DeliveryError(f"cannot read spooled file: {exc}", retryable=False) from exc

    @property
    def content_type(self) -> str:
        """The request's Content-Type (PS3.18 10.5.1.1)."""
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    @property
    def content_length(self) -> int:
        """Bytes in the whole body."""
        delimiter = len(self._delimiter())
        per_part = delimiter + len(_PART_HEADERS) + 2  # CRLF after the data
        return sum(self._sizes) + per_part * len(self.paths) + len(self._closing())

    def chunks(self) -> Iterator[bytes]:
        """Yield the body: each part's headers, its file in blocks, then the closing line.

        Raises
        ------
        DeliveryError
            A file changed size while it was being sent (not retryable).
        """
        for path, size in zip(self.paths, self._sizes, strict=True):
            yield self._delimiter() + _PART_HEADERS
            sent = 0
            with path.open("rb") as file:
                while block := file.read(self.block_bytes):
                    sent += len(block)
                    if sent > size:
                        break
                    yield block
            if sent != size:
                raise DeliveryError(
                    f"spooled file {path.name} changed size while sent ({size} -> {sent} bytes)",
                    retryable=False,
                )
            yield b"\r\n"
        yield self._closing()

    def _delimiter(self) -> bytes:
        return b"--" + self.boundary.encode("ascii") + b"\r\n"

    def _closing(self) -> bytes:
        return b"--" + self.boundary.encode("ascii") + b"--\r\n"
