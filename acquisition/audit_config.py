"""``[audit]``: where the audit trail goes besides its JSON lines (IHE ATNA over syslog TLS).

Example::

    [audit]
    syslog_host = "audit.example.org"   # RFC 5425 collector; TLS is required
    syslog_port = 6514
    tls_ca_file = "/etc/panelgate/audit-ca.pem"
    site_id = "Radiology, St. Elsewhere"

The JSON-lines file stays ``[outbox] audit_file``; with ``syslog_host`` each event that has
a PS3.15 A.5 message is also sent to the collector (:mod:`panelgate.gateway.atna`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from panelgate.gateway.atna import AuditSource, SyslogForwarder, SyslogTarget

from .config_limits import Port, Seconds
from .config_section import Problems, Section
from .tls_files import tls_problems

__all__ = ["AuditConfig"]


@dataclass(frozen=True)
class AuditConfig(Section):
    """``[audit]``: the ATNA syslog collector; TLS with a CA file is required (RFC 5425)."""

    syslog_host: str = ""
    syslog_port: Port = 6514
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    timeout_s: Seconds = 5.0
    site_id: str = ""

    def _joint_problems(self) -> Problems:
        problems = tls_problems(
            self.tls_ca_file, self.tls_cert_file, self.tls_key_file, server=False
        )
        if self.syslog_host and not self.tls_ca_file:
            problems.append(("tls_ca_file", "is needed with syslog_host: audit goes over TLS only"))
        return problems

    def forwarder(self, source_id: str) -> SyslogForwarder | None:
        """Start the forwarder for this installation, or None without ``syslog_host``."""
        if not self.syslog_host:
            return None
        target = SyslogTarget(
            host=self.syslog_host,
            port=self.syslog_port,
            ca_file=Path(self.tls_ca_file),
            cert_file=Path(self.tls_cert_file) if self.tls_cert_file else None,
            key_file=Path(self.tls_key_file) if self.tls_key_file else None,
            timeout_s=self.timeout_s,
        )
        return SyslogForwarder(target, AuditSource(source_id, self.site_id))
