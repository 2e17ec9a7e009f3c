"""Delivery confirmation without Storage Commitment: ask the server with QIDO-RS (PS3.18 10.6).

A DICOMweb server offers no Storage Commitment (PS3.4 J), so an instance counts as
committed only once a Search Transaction finds it with what the spooled file says: one
``GET {url}/studies/{study}/series/{series}/instances`` per series, with the SOP Class UID,
Rows, Columns and Number of Frames included (``includefield``, PS3.18 8.3.4.3) and
compared. Standard QIDO-RS reports no object size, so the shape stands for it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from .destination import WebDestination
from .http import http_error, request

__all__ = ["Confirmation", "confirm"]

_log = logging.getLogger(__name__)

_SOP_CLASS = "00080016"
_SOP_INSTANCE = "00080018"
_ROWS = "00280010"
_COLUMNS = "00280011"
_FRAMES = "00280008"
_INCLUDE = [("includefield", tag) for tag in (_SOP_CLASS, _ROWS, _COLUMNS, _FRAMES)]


@dataclass(frozen=True)
class Confirmation:
    """What the server holds of the instances asked about.

    Parameters
    ----------
    found : list of str
        SOP Instance UIDs present with the expected SOP class and shape.
    mismatched : dict
        SOP Instance UID -> what differs (present, but not what was sent).
    missing : list of str
        SOP Instance UIDs the server does not list.
    """

    found: list[str] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Expected:
    study: str
    series: str
    facts: dict[str, str]  # SOP class, rows, columns, frames, as text


def confirm(
    client: httpx.Client, destination: WebDestination, items: Sequence[tuple[str, Path]]
) -> Confirmation:
    """Ask the server which of ``items`` it holds as sent.

    Parameters
    ----------
    client : httpx.Client
        From :func:`~.http.open_client` for ``destination``.
    destination : WebDestination
        The server.
    items : sequence of (str, pathlib.Path)
        SOP Instance UID and spooled file of each instance.

    Raises
    ------
    DicomWebError
        The query failed (no reply, or an HTTP error other than 404).
    """
    expected: dict[str, _Expected] = {}
    result = Confirmation()
    for uid, path in items:
        facts = _expected(path)
        if facts is None:
            result.mismatched[uid] = "spooled file unreadable: cannot compare"
        else:
            expected[uid] = facts
    by_series: dict[tuple[str, str], list[str]] = defaultdict(list)
    for uid, e in expected.items():
        by_series[(e.study, e.series)].append(uid)
    for (study, series), uids in by_series.items():
        listed = _search(client, destination, study, series)
        for uid in uids:
            held = listed.get(uid)
            if held is None:
                result.missing.append(uid)
                continue
            differences = [
                f"{tag} {held.get(tag, '')!r} != {want!r}"
                for tag, want in expected[uid].facts.items()
                if held.get(tag, "") != want
            ]
            if differences:
                result.mismatched[uid] = "held with other values: " + ", ".join(differences)
            else:
                result.found.append(uid)
    _log.debug("QIDO-RS at %s: %s", destination, result)
    return result


def _search(
    client: httpx.Client, destination: WebDestination, study: str, series: str
) -> dict[str, dict[str, str]]:
    url = f"{destination.url}/studies/{study}/series/{series}/instances"
    response = request(
        client,
        destination,
        "GET",
        url,
        params=_INCLUDE,
        headers={"Accept": "application/dicom+json"},
    )
    if response.status_code in (204, 404):  # no such study or series (yet)
        return {}
    if response.status_code != 200:
        raise http_error(destination, response, "QIDO-RS")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, list):
        raise http_error(destination, response, "QIDO-RS (not a DICOM JSON list)")
    listed = {}
    for entry in data:
        if isinstance(entry, dict):
            facts = {tag: _value(entry, tag) for tag in (_SOP_CLASS, _ROWS, _COLUMNS, _FRAMES)}
            listed[_value(entry, _SOP_INSTANCE)] = _normalised(facts)
    return listed


def _value(entry: dict[str, Any], tag: str) -> str:
    element = entry.get(tag) or entry.get(tag.lower())
    values = (element.get("Value") if isinstance(element, dict) else None) or [""]
    return str(values[0]).strip()


def _normalised(facts: dict[str, str]) -> dict[str, str]:
    if not facts.get(_FRAMES):
        facts[_FRAMES] = "1"  # a single-frame image need not carry (0028,0008)
    return facts


def _expected(path: Path) -> _Expected | None:
    try:
        ds = dcmread(
            path,
            stop_before_pixels=True,
            specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "Rows",
                           "Columns", "NumberOfFrames"],
        )  # fmt: skip
        facts = {
            _SOP_CLASS: str(ds.SOPClassUID),
            _ROWS: str(ds.get("Rows", "")),
            _COLUMNS: str(ds.get("Columns", "")),
            _FRAMES: str(ds.get("NumberOfFrames", "") or ""),
        }
        return _Expected(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), _normalised(facts))
    except (OSError, InvalidDicomError, AttributeError) as exc:
        _log.warning("cannot read spooled file %s to confirm it: %s", path.name, exc)
        return None
