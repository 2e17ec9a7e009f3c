"""Refusing a file that is not a whole, decodable DICOM instance, before it is queued or stored.

A Part-10 file (PS3.10 7) is parsed completely: every data element's value must be as long
as its header declares (PS3.5 7.1; a short value is a truncated file), every element must
decode, and the Pixel Data must be complete:

- native (uncompressed) Pixel Data (PS3.5 8.1.1) holds exactly Rows x Columns x Samples per
  Pixel x Bits Allocated / 8 x Number of Frames bytes, padded to an even length;
- encapsulated (compressed) Pixel Data (PS3.5 8.2, A.4) decodes, frame by frame.

The check reads the file as pydicom does and uses pydicom's own length rule and decoders;
nothing here decodes by hand.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels.utils import get_expected_length, iter_pixels
from pydicom.tag import BaseTag
from pydicom.uid import UID

from panelgate.gateway.errors import InvalidInstance

__all__ = ["InstanceHeader", "inspect_part10"]

_UNDEFINED_LENGTH = 0xFFFFFFFF
_IMAGE_KEYWORDS = ("Rows", "Columns", "BitsAllocated")


@dataclass(frozen=True)
class InstanceHeader:
    """Who an inspected instance is (from its File Meta Information, PS3.10 7.1)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str


def inspect_part10(data: bytes, source: str = "instance") -> InstanceHeader:
    """Parse a Part-10 file completely and check its Pixel Data; return its identity.

    Parameters
    ----------
    data : bytes
        The whole file.
    source : str
        What to call the file in messages (its path, or the peer that sent it).

    Returns
    -------
    InstanceHeader
        SOP Class, SOP Instance and Transfer Syntax UIDs of the file meta header.

    Raises
    ------
    InvalidInstance
        Not a Part-10 file, truncated, an element that cannot be decoded, Pixel Data of the
        wrong length (PS3.5 8.1.1) or that does not decode (PS3.5 8.2). The message names
        ``source`` and the defect, and holds no attribute values (no patient data).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(io.BytesIO(data))
        except Exception as exc:  # pydicom raises many types for a broken stream
            raise InvalidInstance(f"{source}: not a readable DICOM Part-10 file ({exc})") from exc
        ended_early = [
            str(w.message).replace(" in file <no filename>", "")
            for w in caught
            if "End of file" in str(w.message)
        ]
    header = _header(ds, source)
    if ended_early:
        raise InvalidInstance(f"{source}: truncated ({ended_early[0]})")
    _check_elements(ds, source)
    _check_pixel_data(ds, source)
    return header


def _header(ds: Dataset, source: str) -> InstanceHeader:
    meta = getattr(ds, "file_meta", None)
    try:
        header = InstanceHeader(
            str(meta.MediaStorageSOPClassUID),  # type: ignore[union-attr]
            str(meta.MediaStorageSOPInstanceUID),  # type: ignore[union-attr]
            str(meta.TransferSyntaxUID),  # type: ignore[union-attr]
        )
    except AttributeError as exc:
        raise InvalidInstance(
            f"{source}: no SOP Class, SOP Instance or Transfer Syntax UID in its file meta "
            "information (not a DICOM Part-10 file)"
        ) from exc
    in_data_set = ds.get("SOPInstanceUID")
    if in_data_set is not None and str(in_data_set) != header.sop_instance_uid:
        raise InvalidInstance(
            f"{source}: the file meta information and the data set name different SOP Instance UIDs"
        )
    return header


def _check_elements(ds: Dataset, source: str) -> None:
    """Every value as long as declared (PS3.5 7.1) and decodable, in nested items too."""
    for tag in list(ds.keys()):
        raw: object = ds.get_item(tag)  # the element as read, before conversion
        if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH:
            held = len(raw.value) if raw.value is not None else 0
            if held < raw.length:
                raise InvalidInstance(
                    f"{source}: truncated: element {_tag(tag)} declares {raw.length} bytes, "
                    f"the file ends after {held}"
                )
        try:
            elem = ds[tag]
        except Exception as exc:  # a value its VR cannot hold
            raise InvalidInstance(
                f"{source}: element {_tag(tag)} cannot be decoded ({exc})"
            ) from exc
        if elem.VR == "SQ":
            for item in elem.value:
                _check_elements(item, source)


def _check_pixel_data(ds: Dataset, source: str) -> None:
    if "PixelData" not in ds:
        present = [k for k in _IMAGE_KEYWORDS if k in ds]
        if present:
            raise InvalidInstance(
                f"{source}: no Pixel Data although {', '.join(present)} describe an image "
                "(truncated?)"
            )
        return
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if syntax.is_encapsulated:
        _decode_frames(ds, source)
        return
    try:
        expected = int(get_expected_length(ds, unit="bytes"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInstance(f"{source}: the Image Pixel module is incomplete ({exc})") from exc
    held = len(ds.PixelData)
    if held not in (expected, expected + expected % 2):
        frames = ds.get("NumberOfFrames", 1)
        what = "truncated: " if held < expected else ""
        raise InvalidInstance(
            f"{source}: {what}Pixel Data holds {held} bytes; {ds.Rows} rows x {ds.Columns} "
            f"columns x {ds.SamplesPerPixel} samples x {ds.BitsAllocated} bits allocated x "
            f"{frames} frame(s) need {expected} (PS3.5 8.1.1)"
        )


def _decode_frames(ds: Dataset, source: str) -> None:
    """Decode every frame of encapsulated Pixel Data (PS3.5 8.2) with pydicom's decoders."""
    frames = 0
    try:
        for _frame in iter_pixels(ds):
            frames += 1
    except Exception as exc:  # decoders raise what their codec library raises
        syntax = UID(str(ds.file_meta.TransferSyntaxUID)).name
        why = " ".join(str(exc).split())
        raise InvalidInstance(
            f"{source}: frame {frames + 1} of the {syntax} Pixel Data cannot be decoded ({why})"
        ) from exc


def _tag(tag: BaseTag | int) -> str:
    value = int(tag)
    return f"({value >> 16:04X},{value & 0xFFFF:04X})"
