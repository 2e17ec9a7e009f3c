"""Bootstrap register addresses of a GigE Vision device (GigE Vision 2.x, "Bootstrap Registers").

Addresses and bit meanings follow ``gige-vision.md`` §1.5 (taken from aravis'
``arvgvcpprivate.h`` and the Wireshark GVCP dissector). All registers are 32-bit big-endian
unless a size is given.
"""

from __future__ import annotations

__all__ = [
    "BOOTSTRAP_SIZE_BYTES",
    "CCP_CONTROL",
    "CCP_EXCLUSIVE",
    "DISCOVERY_SIZE_BYTES",
    "GVCP_CAP_PACKET_RESEND",
    "GVCP_CAP_PENDING_ACK",
    "GVCP_CAP_WRITEMEM",
    "GVCP_CONFIG_PENDING_ACK",
    "GVCP_PORT",
    "REG_CCP",
    "REG_CURRENT_IP",
    "REG_CURRENT_IP_CONFIG",
    "REG_CURRENT_MASK",
    "REG_DEVICE_MODE",
    "REG_DEVICE_VERSION",
    "REG_GATEWAY",
    "REG_GVCP_CAPABILITY",
    "REG_GVCP_CONFIGURATION",
    "REG_HEARTBEAT_TIMEOUT",
    "REG_MAC_HIGH",
    "REG_MAC_LOW",
    "REG_MANUFACTURER_INFO",
    "REG_MANUFACTURER_NAME",
    "REG_MODEL_NAME",
    "REG_N_MESSAGE_CHANNELS",
    "REG_N_NETWORK_INTERFACES",
    "REG_N_STREAM_CHANNELS",
    "REG_PENDING_TIMEOUT",
    "REG_SCDA0",
    "REG_SCP0",
    "REG_SCPD0",
    "REG_SCPS0",
    "REG_SERIAL_NUMBER",
    "REG_SUPPORTED_IP_CONFIG",
    "REG_TIMESTAMP_FREQ_HIGH",
    "REG_TIMESTAMP_FREQ_LOW",
    "REG_USER_NAME",
    "REG_VERSION",
    "REG_XML_URL_0",
    "REG_XML_URL_1",
    "SCPS_SIZE_MASK",
    "STRING_SIZES_BYTES",
    "XML_URL_SIZE_BYTES",
]

GVCP_PORT = 3956
"""UDP port of the control channel (GigE Vision 2.x, GVCP)."""

REG_VERSION = 0x0000  #: major << 16 | minor
REG_DEVICE_MODE = 0x0004  #: bit 31 big-endian device; bits 0-15 character set
REG_MAC_HIGH = 0x0008
REG_MAC_LOW = 0x000C
REG_SUPPORTED_IP_CONFIG = 0x0010
REG_CURRENT_IP_CONFIG = 0x0014
REG_CURRENT_IP = 0x0024
REG_CURRENT_MASK = 0x0034
REG_GATEWAY = 0x0044
REG_MANUFACTURER_NAME = 0x0048  #: 32-byte string
REG_MODEL_NAME = 0x0068  #: 32-byte string
REG_DEVICE_VERSION = 0x0088  #: 32-byte string
REG_MANUFACTURER_INFO = 0x00A8  #: 48-byte string
REG_SERIAL_NUMBER = 0x00D8  #: 16-byte string
REG_USER_NAME = 0x00E8  #: 16-byte string
REG_XML_URL_0 = 0x0200  #: 512-byte string, first URL of the GenICam XML
REG_XML_URL_1 = 0x0400  #: 512-byte string, second URL
REG_N_NETWORK_INTERFACES = 0x0600
REG_N_MESSAGE_CHANNELS = 0x0900
REG_N_STREAM_CHANNELS = 0x0904
REG_GVCP_CAPABILITY = 0x0934
REG_HEARTBEAT_TIMEOUT = 0x0938  #: milliseconds
REG_TIMESTAMP_FREQ_HIGH = 0x093C
REG_TIMESTAMP_FREQ_LOW = 0x0940
REG_GVCP_CONFIGURATION = 0x0954  #: optional GVCP features enabled by the host
REG_PENDING_TIMEOUT = 0x0958  #: ms: longest command execution before a PENDING_ACK
REG_CCP = 0x0A00  #: control channel privilege
REG_SCP0 = 0x0D00  #: stream channel 0 host port
REG_SCPS0 = 0x0D04  #: stream channel 0 packet size (bits 0-15), flags in 29-31
REG_SCPD0 = 0x0D08  #: stream channel 0 inter-packet delay, timestamp ticks
REG_SCDA0 = 0x0D18  #: stream channel 0 destination IPv4 address

CCP_EXCLUSIVE = 0x1  #: CCP bit 0: exclusive access
CCP_CONTROL = 0x2  #: CCP bit 1: control access
SCPS_SIZE_MASK = 0xFFFF  #: packet size field of SCPS

GVCP_CAP_WRITEMEM = 1 << 1
GVCP_CAP_PACKET_RESEND = 1 << 2
GVCP_CAP_PENDING_ACK = 1 << 5
GVCP_CONFIG_PENDING_ACK = 1 << 1  #: GVCP configuration: PENDING_ACK enabled

BOOTSTRAP_SIZE_BYTES = 0x1000
"""Span of the bootstrap block the simulator serves (0x0000 up to the first feature register)."""

DISCOVERY_SIZE_BYTES = 0xF8
"""A DISCOVERY acknowledge carries bootstrap bytes 0x0000-0x00F7."""

XML_URL_SIZE_BYTES = 512

STRING_SIZES_BYTES = {
    REG_MANUFACTURER_NAME: 32,
    REG_MODEL_NAME: 32,
    REG_DEVICE_VERSION: 32,
    REG_MANUFACTURER_INFO: 48,
    REG_SERIAL_NUMBER: 16,
    REG_USER_NAME: 16,
    REG_XML_URL_0: XML_URL_SIZE_BYTES,
    REG_XML_URL_1: XML_URL_SIZE_BYTES,
}
"""Sizes of the bootstrap string registers, NUL-padded."""
