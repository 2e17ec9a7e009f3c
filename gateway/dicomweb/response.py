"""The STOW-RS response (PS3.18 10.5.3), read per instance and classified like a DIMSE status.

The response is a data set in the DICOM JSON model (PS3.18 F.2, ``application/dicom+json``)
or the Native DICOM Model (PS3.19 A.1, ``application/dicom+xml``). It lists the stored
instances in the Referenced SOP Sequence (0008,1199), with a Warning Reason (0008,1196)
when the server changed something, and those not stored in the Failed SOP Sequence
(0008,1198) with a Failure Reason (0008,1197). The reasons are C-STORE status codes
(PS3.4 B.2.3), so each instance gets the same :class:`~panelgate.gateway.pacs.status.Outcome`
as a C-STORE with that status would; an instance the response does not mention, or a
failure without a reason, is retried, never taken for stored.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from panelgate.gateway.pacs.status import Outcome, classify, describe

__all__ = ["StowResponse", "parse_stow_response"]

_REFERENCED_SOP_SEQUENCE = "00081199"
_FAILED_SOP_SEQUENCE = "00081198"
_REFERENCED_SOP_INSTANCE_UID = "00081155"
_FAILURE_REASON = "00081197"
_WARNING_REASON = "00081196"
_RETRIEVE_URL = "00081190"

Attributes = dict[str, list[Any]]
"""Tag (8 hex digits) -> values; the values of a sequence are :data:`Attributes` items."""


@dataclass(frozen=True)
class StowResponse:
    """What a STOW-RS response says about each instance.

    Parameters
    ----------
    stored : dict
        SOP Instance UID -> Warning Reason code (None without a warning), from the
        Referenced SOP Sequence.
    failed : dict
        SOP Instance UID -> Failure Reason code (None when the server gave none).
    retrieve_url : str
        The study's Retrieve URL (0008,1190), if given.
    instance_urls : dict
        SOP Instance UID -> its Retrieve URL, if given.
    """

    stored: dict[str, int | None] = field(default_factory=dict)
    failed: dict[str, int | None] = field(default_factory=dict)
    retrieve_url: str = ""
    instance_urls: dict[str, str] = field(default_factory=dict)

    def outcome(self, sop_instance_uid: str) -> tuple[Outcome, str]:
        """Classify one instance as :func:`~panelgate.gateway.pacs.status.classify` would.

        Returns
        -------
        (Outcome, str)
            SUCCESS or WARNING for a stored instance; for a failed one, the outcome of its
            Failure Reason (RETRY when there is none, or when the code would read as
            success); RETRY for an instance the response does not mention.
        """
        if sop_instance_uid in self.failed:
            code = self.failed[sop_instance_uid]
            if code is None:
                return Outcome.RETRY, "failed (Failed SOP Sequence without a Failure Reason)"
            outcome = classify(_status(code))
            if outcome in (Outcome.SUCCESS, Outcome.WARNING):
                outcome = Outcome.RETRY  # listed as failed: never taken for stored
            return outcome, f"failed: {describe(_status(code))}"
        if sop_instance_uid in self.stored:
            code = self.stored[sop_instance_uid]
            if code is None:
                return Outcome.SUCCESS, "stored"
            return Outcome.WARNING, f"stored with warning {describe(_status(code))}"
        return Outcome.RETRY, "not mentioned in the STOW-RS response"


def parse_stow_response(content_type: str, body: bytes) -> StowResponse:
    """Read a STOW-RS response body (JSON or XML; an empty body says nothing).

    Parameters
    ----------
    content_type : str
        The reply's Content-Type; XML when it names ``xml``, JSON otherwise.
    body : bytes
        The reply's body.

    Raises
    ------
    ValueError
        The body is neither a DICOM JSON nor a Native DICOM Model data set.
    """
    if not body.strip():
        return StowResponse()
    attrs = _from_xml(body) if "xml" in content_type.lower() else _from_json(body)
    stored: dict[str, int | None] = {}
    failed: dict[str, int | None] = {}
    urls: dict[str, str] = {}
    for item in attrs.get(_REFERENCED_SOP_SEQUENCE, []):
        uid = _first(item, _REFERENCED_SOP_INSTANCE_UID)
        if uid:
            stored[uid] = _code(item, _WARNING_REASON)
            if url := _first(item, _RETRIEVE_URL):
                urls[uid] = url
    for item in attrs.get(_FAILED_SOP_SEQUENCE, []):
        uid = _first(item, _REFERENCED_SOP_INSTANCE_UID)
        if uid:
            failed[uid] = _code(item, _FAILURE_REASON)
    return StowResponse(stored, failed, _first(attrs, _RETRIEVE_URL), urls)


def _status(code: int) -> Dataset:
    ds = Dataset()
    ds.Status = code
    return ds


def _first(attrs: Attributes, tag: str) -> str:
    values = attrs.get(tag) or [""]
    return str(values[0]).strip()


def _code(item: Attributes, tag: str) -> int | None:
    text = _first(item, tag)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _from_json(body: bytes) -> Attributes:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a DICOM JSON response: {exc}") from exc
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError("not a DICOM JSON response: not one data set")
    return _json_attributes(data)


def _json_attributes(data: dict[str, Any]) -> Attributes:
    attrs: Attributes = {}
    for tag, element in data.items():
        if not isinstance(element, dict):
            raise ValueError(f"not a DICOM JSON response: attribute {tag} is not an object")
        values = element.get("Value", [])
        if element.get("vr") == "SQ":
            values = [_json_attributes(v) for v in values if isinstance(v, dict)]
        attrs[tag.upper()] = list(values)
    return attrs


def _from_xml(body: bytes) -> Attributes:
    try:
        root = ET.fromstring(body)  # expat refuses entity expansion bombs
    except ET.ParseError as exc:
        raise ValueError(f"not a Native DICOM Model response: {exc}") from exc
    return _xml_attributes(_children(root))


def _xml_attributes(elements: Iterable[ET.Element]) -> Attributes:
    attrs: Attributes = {}
    for element in elements:
        if _local(element.tag) != "DicomAttribute":
            continue
        tag = element.get("tag", "").upper()
        items = [c for c in element if _local(c.tag) == "Item"]
        if items:
            attrs[tag] = [_xml_attributes(_children(item)) for item in items]
        else:
            attrs[tag] = [(c.text or "") for c in element if _local(c.tag) == "Value"]
    return attrs


def _children(item: ET.Element) -> list[ET.Element]:
    return [c for c in item if _local(c.tag) == "DicomAttribute"]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
