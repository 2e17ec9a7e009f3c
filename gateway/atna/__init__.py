"""The audit trail in the IHE ATNA form: PS3.15 A.5 messages over syslog TLS (RFC 5424/5425)."""

from .messages import ATNA_EVENTS, AuditSource, audit_message
from .syslog import SyslogForwarder, SyslogTarget, rfc5424

__all__ = [
    "ATNA_EVENTS",
    "AuditSource",
    "SyslogForwarder",
    "SyslogTarget",
    "audit_message",
    "rfc5424",
]
