"""Lossless compression of DX instances (PS3.5 A.4: encapsulated transfer syntaxes).

Configurable per site: JPEG-LS lossless (PS3.5 A.4.3, CharLS via pyjpegls), JPEG 2000
lossless (A.4.4, OpenJPEG via pylibjpeg-openjpeg) or RLE lossless (A.4.2, pylibjpeg-rle).
Every round trip is bit-exact; Lossy Image Compression (0028,2110) stays ``00``. The
sender proposes the compressed syntax with an uncompressed fallback and decompresses by
itself when the PACS accepts only uncompressed
(:class:`~panelgate.gateway.pacs.session.StoreSession`).
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.uid import UID, JPEG2000Lossless, JPEGLSLossless, RLELossless

from panelgate.gateway.errors import DicomBuildError

__all__ = ["LOSSLESS", "compress_lossless"]

LOSSLESS: dict[str, tuple[UID, str]] = {
    # configuration name -> (Transfer Syntax UID, pydicom encoding plugin)
    "jpeg-ls": (JPEGLSLossless, "pyjpegls"),
    "jpeg2000": (JPEG2000Lossless, "pylibjpeg"),
    "rle": (RLELossless, "pylibjpeg"),
}


def compress_lossless(ds: Dataset, method: str) -> Dataset:
    """Compress ``ds`` in place with a lossless method; return it.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An uncompressed instance with ``file_meta``.
    method : str
        A key of :data:`LOSSLESS`, or ``""`` to leave it uncompressed.

    Raises
    ------
    DicomBuildError
        Unknown method, or the encoder failed (plugin missing, unsupported pixels).
    """
    if not method:
        return ds
    if method not in LOSSLESS:
        raise DicomBuildError(
            f"unknown compression {method!r}; known: {', '.join(sorted(LOSSLESS))} or ''"
        )
    syntax, plugin = LOSSLESS[method]
    try:
        ds.compress(syntax, encoding_plugin=plugin, generate_instance_uid=False)
    except (RuntimeError, ValueError, ImportError) as exc:
        raise DicomBuildError(f"cannot compress with {method}: {exc}") from exc
    return ds
