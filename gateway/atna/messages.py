"""DICOM audit messages (PS3.15 A.5, the IHE ATNA form) made from the audit trail's events.

The audit trail (:mod:`panelgate.gateway.pacs.audit`) records one JSON object per event;
this module turns each into the XML ``AuditMessage`` of PS3.15 A.5.1 (RFC 3881 elements
with DICOM's coded values, PS3.16 CID 400-405), for a syslog collector. Events and the
message each becomes (PS3.15 A.5.3):

==========================  ============================  =================================
event                       EventID                       EventTypeCode
==========================  ============================  =================================
application-start / -stop   110100 Application Activity   110120 Start / 110121 Stop
instances-transferred       110104 DICOM Instances        -
                            Transferred
worklist-query              110112 Query                  -
user-login / user-logout    110114 User Authentication    110122 Login / 110123 Logout
association-rejected        110113 Security Alert         110126 Node Authentication
security-alert              110113 Security Alert         110132 Use of Restricted Function
==========================  ============================  =================================

Other events (storage commitment, procedure steps, exposures, review actions) have no
message of their own in PS3.15 and stay in the JSON lines only. Participant objects carry
UIDs (studies, SOP instances, the MWL SOP class), never patient names or IDs: the messages
leave the machine, and the JSON trail beside them stays the full local record.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ATNA_EVENTS", "AuditSource", "audit_message"]


@dataclass(frozen=True)
class _Code:
    code: str
    meaning: str
    scheme: str = "DCM"

    def element(self, parent: ET.Element, tag: str) -> ET.Element:
        return ET.SubElement(
            parent,
            tag,
            {"csd-code": self.code, "codeSystemName": self.scheme, "originalText": self.meaning},
        )


@dataclass(frozen=True)
class _Kind:
    event_id: _Code
    action: str  # EventActionCode: C R U D E (RFC 3881)
    event_type: _Code | None = None


ATNA_EVENTS: Mapping[str, _Kind] = {
    "application-start": _Kind(
        _Code("110100", "Application Activity"), "E", _Code("110120", "Application Start")
    ),
    "application-stop": _Kind(
        _Code("110100", "Application Activity"), "E", _Code("110121", "Application Stop")
    ),
    "instances-transferred": _Kind(_Code("110104", "DICOM Instances Transferred"), "R"),
    "worklist-query": _Kind(_Code("110112", "Query"), "E"),
    "user-login": _Kind(_Code("110114", "User Authentication"), "E", _Code("110122", "Login")),
    "user-logout": _Kind(_Code("110114", "User Authentication"), "E", _Code("110123", "Logout")),
    "association-rejected": _Kind(
        _Code("110113", "Security Alert"), "E", _Code("110126", "Node Authentication")
    ),
    "security-alert": _Kind(
        _Code("110113", "Security Alert"), "E", _Code("110132", "Use of Restricted Function")
    ),
}
"""The events that have a PS3.15 A.5.3 message, and its coded values."""

_SOURCE = _Code("110153", "Source Role ID")
_DESTINATION = _Code("110152", "Destination Role ID")
_APPLICATION = _Code("110150", "Application")
_STUDY = _Code("110180", "Study Instance UID")
_SOP_CLASS = _Code("110181", "SOP Class UID")
_MWL_FIND = "1.2.840.10008.5.1.4.31"


@dataclass(frozen=True)
class AuditSource:
    """Who reports (AuditSourceIdentification, RFC 3881 5.4).

    Attributes
    ----------
    source_id : str
        AuditSourceID: this installation (the station or agent name, or its AE title).
    site_id : str
        AuditEnterpriseSiteID: the hospital or department, from the configuration.
    """

    source_id: str
    site_id: str = ""


def _is_ip(host: str) -> bool:
    return bool(host) and all(part.isdigit() for part in host.split(".")) and host.count(".") == 3


def _participant(
    parent: ET.Element, user_id: str, role: _Code, *, requestor: bool, host: str = ""
) -> None:
    attrs = {"UserID": user_id or "unknown", "UserIsRequestor": str(requestor).lower()}
    if host:
        attrs["NetworkAccessPointID"] = host
        attrs["NetworkAccessPointTypeCode"] = "2" if _is_ip(host) else "1"
    role.element(ET.SubElement(parent, "ActiveParticipant", attrs), "RoleIDCode")


def _object(parent: ET.Element, object_id: str, id_type: _Code, role: str) -> ET.Element:
    obj = ET.SubElement(
        parent,
        "ParticipantObjectIdentification",
        {
            "ParticipantObjectID": object_id,
            "ParticipantObjectTypeCode": "2",  # system object
            "ParticipantObjectTypeCodeRole": role,
        },
    )
    id_type.element(obj, "ParticipantObjectIDTypeCode")
    return obj


def _participants(root: ET.Element, event: Mapping[str, Any], name: str) -> None:
    local, remote = str(event.get("local_ae", "")), str(event.get("remote_ae", ""))
    host = str(event.get("remote_host", ""))
    if name == "instances-transferred":
        _participant(root, local, _SOURCE, requestor=True)
        _participant(root, remote, _DESTINATION, requestor=False, host=host)
    elif name == "association-rejected":
        _participant(root, remote, _SOURCE, requestor=True, host=host)
        _participant(root, local, _APPLICATION, requestor=False)
    elif name in ("user-login", "user-logout", "security-alert"):
        user = str(event.get("user", "")) or "unknown"
        ET.SubElement(
            root,
            "ActiveParticipant",
            {"UserID": user, "UserIsRequestor": "true"}
            | ({"NetworkAccessPointID": host, "NetworkAccessPointTypeCode": "2"} if host else {}),
        )
        _participant(root, local, _APPLICATION, requestor=False)
    else:
        _participant(root, local, _APPLICATION if not remote else _SOURCE, requestor=True)
        if remote:
            _participant(root, remote, _DESTINATION, requestor=False, host=host)


def _objects(root: ET.Element, event: Mapping[str, Any], name: str) -> None:
    if name == "instances-transferred":
        for study in event.get("studies", ()):
            _object(root, str(study), _STUDY, "3")
        # One object per SOP class with its instances (PS3.15 A.5.2.5, SOPClass/Instance).
        classes: dict[str, list[str]] = {}
        known: Mapping[str, str] = event.get("sop_classes", {})
        for uid in event.get("instances", ()):
            classes.setdefault(str(known.get(uid, "")), []).append(str(uid))
        for sop_class, instances in classes.items():
            obj = _object(root, sop_class or "unknown", _SOP_CLASS, "3")
            desc = ET.SubElement(obj, "ParticipantObjectDescription")
            group = ET.SubElement(
                desc, "SOPClass", {"UID": sop_class, "NumberOfInstances": str(len(instances))}
            )
            for uid in instances:
                ET.SubElement(group, "Instance", {"UID": uid})
    elif name == "worklist-query":
        _object(root, _MWL_FIND, _SOP_CLASS, "24")  # 24: query


def audit_message(event: Mapping[str, Any], source: AuditSource) -> bytes | None:
    """Build the PS3.15 A.5 XML message of one audit-trail event.

    Parameters
    ----------
    event : mapping
        One record of the audit trail (``time``, ``event``, ``outcome``, AEs, host,
        ``instances`` and the event's own keys).
    source : AuditSource
        The reporting installation.

    Returns
    -------
    bytes or None
        The UTF-8 XML document, or None for an event PS3.15 has no message for.
    """
    name = str(event.get("event", ""))
    kind = ATNA_EVENTS.get(name)
    if kind is None:
        return None
    root = ET.Element("AuditMessage")
    ident = ET.SubElement(
        root,
        "EventIdentification",
        {
            "EventActionCode": kind.action,
            "EventDateTime": str(event.get("time", "")),
            "EventOutcomeIndicator": str(int(event.get("outcome", 0))),
        },
    )
    kind.event_id.element(ident, "EventID")
    if kind.event_type is not None:
        kind.event_type.element(ident, "EventTypeCode")
    _participants(root, event, name)
    src = ET.SubElement(
        root,
        "AuditSourceIdentification",
        {"AuditSourceID": source.source_id}
        | ({"AuditEnterpriseSiteID": source.site_id} if source.site_id else {}),
    )
    # RFC 3881 AuditSourceTypeCode 2: data acquisition device or instrument.
    ET.SubElement(src, "AuditSourceTypeCode", {"csd-code": "2"})
    _objects(root, event, name)
    # One line: a syslog collector escapes control characters (RFC 5424 6.4 allows them,
    # rsyslog and others turn LF into "#012").
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + body
