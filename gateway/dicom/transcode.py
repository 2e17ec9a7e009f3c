"""Lossless conversion of an instance to a transfer syntax that a peer accepts (PS3.5 10, A).

A peer may accept a SOP class only in some transfer syntaxes. Every instance can be sent
in an uncompressed little-endian syntax (PS3.5 A.1 Implicit VR Little Endian is the
default every peer must accept, PS3.5 10.1), so the conversion always goes there:

- an encapsulated (compressed) instance is decoded with pydicom's decoders (PS3.5 8.2);
- an Explicit VR Big Endian instance (PS3.5 A.3, retired) has its multi-byte binary values
  turned to little endian (PS3.5 7.3);
- Explicit and Implicit VR Little Endian convert into each other without touching a value.

The SOP Instance UID stays (the same instance, re-encoded), and the pixel values are
compared before and after: a conversion that would change one is refused.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from panelgate.gateway.errors import InvalidInstance

__all__ = ["UNCOMPRESSED_LITTLE_ENDIAN", "lossless_target", "to_little_endian"]

UNCOMPRESSED_LITTLE_ENDIAN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
"""What every instance can be converted to, in the order of preference."""

# Word size of the binary VRs whose values are byte-swapped between endiannesses (PS3.5 7.3).
_WORD_BYTES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


def lossless_target(accepted: Collection[str]) -> UID | None:
    """Return the little-endian syntax to convert to; None when ``accepted`` has neither."""
    return next((uid for uid in UNCOMPRESSED_LITTLE_ENDIAN if uid in accepted), None)


def to_little_endian(path: Path) -> Dataset:
    """Read a Part-10 file and return it in Explicit VR Little Endian, pixel values kept.

    The result may be sent in Implicit VR Little Endian as well (pynetdicom converts
    between the two little-endian syntaxes).

    Parameters
    ----------
    path : pathlib.Path
        The spooled file, in any transfer syntax pydicom can decode.

    Returns
    -------
    pydicom.dataset.Dataset
        The same instance (same SOP Instance UID), with ``file_meta`` naming Explicit VR
        Little Endian.

    Raises
    ------
    InvalidInstance
        The file cannot be read or decoded, or the conversion would change a pixel value.
    """
    try:
        ds = dcmread(path)
        syntax = UID(str(ds.file_meta.TransferSyntaxUID))
        before = ds.pixel_array.copy() if "PixelData" in ds else None
        if syntax.is_compressed:
            ds.decompress(generate_instance_uid=False)  # to Explicit VR Little Endian
        elif syntax == ExplicitVRBigEndian:
            _swap_words(ds)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.set_original_encoding(False, True)
        after = ds.pixel_array if before is not None else before
    except InvalidInstance:
        raise
    except Exception as exc:  # readers and decoders raise what their libraries raise
        why = " ".join(str(exc).split())
        raise InvalidInstance(f"{path.name}: cannot convert to little endian ({why})") from exc
    if before is not None and after is not None and not np.array_equal(before, after):
        raise InvalidInstance(f"{path.name}: converting to little endian changed pixel values")
    return ds


def _swap_words(ds: Dataset) -> None:
    """Byte-swap every OW/OL/OF/OD/OV value, nested ones too (PS3.5 7.3)."""
    for elem in ds.iterall():
        size = _WORD_BYTES.get(str(elem.VR))
        if elem.tag == 0x7FE00010 and int(ds.get("BitsAllocated", 16)) > 16:
            size = int(ds.BitsAllocated) // 8  # native pixel words wider than OW's
        if size is None or not elem.value:
            continue
        raw = bytes(elem.value)
        if len(raw) % size:
            raise InvalidInstance(
                f"{elem.keyword or elem.tag}: {len(raw)} bytes is not a whole number of "
                f"{size}-byte words"
            )
        elem.value = np.frombuffer(raw, dtype=f">u{size}").astype(f"<u{size}").tobytes()
