"""The simulated panel's feature registers and the GenICam XML that describes them.

Feature names follow the GenICam SFNC (Width, Height, OffsetX/Y, PixelFormat, ExposureTime,
AcquisitionMode, AcquisitionStart/Stop, TriggerMode, TriggerSource, TriggerSoftware,
DeviceTemperature, GevSCPSPacketSize, GevSCPD, BinningHorizontal/Vertical,
SensorPixelWidth); panel-only features carry a ``Panel`` prefix (PanelGainMode,
PanelAEDEnable). The XML is generated from :data:`FEATURES` (GenApi schema 1.1) so that
the register map and its description cannot drift apart; it is served through bootstrap
register 0x0200 as ``Local:panelgate.xml;ADDR;LEN``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige.gvsp import PixelFormat

__all__ = [
    "FEATURES",
    "FEATURE_BASE",
    "XML_ADDRESS",
    "Feature",
    "Kind",
    "feature",
    "feature_at",
    "genicam_xml",
]

FEATURE_BASE = 0x00010000  #: first feature register; the bootstrap block ends at 0x1000
XML_ADDRESS = 0x00100000  #: where the XML file is mapped for READMEM


class Kind(enum.Enum):
    """How a register is described in the XML."""

    INTEGER = "Integer"
    ENUM = "Enumeration"
    FLOAT = "Float"  #: 8-byte IEEE double
    COMMAND = "Command"
    BOOLEAN = "Boolean"


@dataclass(frozen=True)
class Feature:
    """One feature register: name, address, kind, access and range."""

    name: str
    address: int
    kind: Kind
    writable: bool = True
    default: float = 0
    minimum: float = 0
    maximum: float = 0xFFFFFFFF
    entries: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    p_max: str = ""  #: name of a feature holding the maximum (Width -> WidthMax)
    unit: str = ""

    @property
    def length_bytes(self) -> int:
        """Register size: 8 for doubles, 4 otherwise."""
        return 8 if self.kind is Kind.FLOAT else 4


def _f(offset: int, name: str, kind: Kind, **kw: object) -> Feature:
    return Feature(name, FEATURE_BASE + offset, kind, **kw)  # type: ignore[arg-type]


FEATURES: tuple[Feature, ...] = (
    _f(0x00, "Width", Kind.INTEGER, minimum=16, p_max="WidthMax"),
    _f(0x04, "Height", Kind.INTEGER, minimum=16, p_max="HeightMax"),
    _f(0x08, "OffsetX", Kind.INTEGER, maximum=8192),
    _f(0x0C, "OffsetY", Kind.INTEGER, maximum=8192),
    _f(0x10, "WidthMax", Kind.INTEGER, writable=False),
    _f(0x14, "HeightMax", Kind.INTEGER, writable=False),
    _f(
        0x18,
        "PixelFormat",
        Kind.ENUM,
        default=PixelFormat.MONO16,
        entries=(("Mono16", PixelFormat.MONO16), ("Mono14", PixelFormat.MONO14)),
    ),
    _f(0x1C, "PayloadSize", Kind.INTEGER, writable=False),
    _f(
        0x20,
        "AcquisitionMode",
        Kind.ENUM,
        entries=(("Continuous", 0), ("SingleFrame", 1), ("MultiFrame", 2)),
    ),
    _f(0x24, "AcquisitionStart", Kind.COMMAND),
    _f(0x28, "AcquisitionStop", Kind.COMMAND),
    _f(0x2C, "AcquisitionFrameCount", Kind.INTEGER, default=1, minimum=1, maximum=65535),
    _f(0x30, "TriggerSelector", Kind.ENUM, entries=(("FrameStart", 0),)),
    _f(0x34, "TriggerMode", Kind.ENUM, entries=(("Off", 0), ("On", 1))),
    _f(0x38, "TriggerSource", Kind.ENUM, entries=(("Software", 0), ("Line0", 1))),
    _f(0x3C, "TriggerSoftware", Kind.COMMAND),
    _f(0x40, "ExposureTime", Kind.FLOAT, default=10_000.0, minimum=100.0, maximum=10e6, unit="us"),
    _f(0x48, "AcquisitionFrameRate", Kind.FLOAT, default=10.0, minimum=0.1, maximum=1000.0),
    _f(
        0x50,
        "DeviceTemperature",
        Kind.FLOAT,
        writable=False,
        default=31.5,
        minimum=-50.0,
        maximum=150.0,
        unit="C",
    ),
    _f(0x58, "PanelGainMode", Kind.ENUM, entries=(("High", 0), ("Low", 1))),
    _f(0x5C, "BinningHorizontal", Kind.INTEGER, default=1, minimum=1, maximum=4),
    _f(0x60, "BinningVertical", Kind.INTEGER, default=1, minimum=1, maximum=4),
    _f(0x64, "PanelAEDEnable", Kind.BOOLEAN),
    _f(0x68, "TLParamsLocked", Kind.INTEGER, maximum=1),
    _f(
        0x70,
        "SensorPixelWidth",
        Kind.FLOAT,
        writable=False,
        default=139.0,
        minimum=1.0,
        maximum=1000.0,
        unit="um",
    ),
)
"""Every feature register of the simulated panel, in address order."""

_BY_NAME = {f.name: f for f in FEATURES}
_BY_ADDRESS = {f.address: f for f in FEATURES}


def feature(name: str) -> Feature:
    """Return the feature called ``name``; KeyError when there is none."""
    return _BY_NAME[name]


def feature_at(address: int) -> Feature | None:
    """Return the feature whose register starts at ``address``, or None."""
    return _BY_ADDRESS.get(address)


def _reg(name: str, address: int, length: int, access: str, extra: str = "") -> str:
    return (
        f'<IntReg Name="{name}"><Address>0x{address:X}</Address><Length>{length}</Length>'
        f"<AccessMode>{access}</AccessMode><pPort>Device</pPort><Cachable>NoCache</Cachable>"
        f"{extra}<Sign>Unsigned</Sign><Endianess>BigEndian</Endianess></IntReg>"
    )


def _feature_xml(f: Feature) -> str:
    access = "RW" if f.writable else "RO"
    reg = f"{f.name}Reg"
    unit = f"<Unit>{f.unit}</Unit>" if f.unit else ""
    if f.kind is Kind.FLOAT:
        return (
            f'<Float Name="{f.name}" NameSpace="Standard"><pValue>{reg}</pValue>'
            f"<Min>{f.minimum}</Min><Max>{f.maximum}</Max>{unit}</Float>"
            f'<FloatReg Name="{reg}"><Address>0x{f.address:X}</Address><Length>8</Length>'
            f"<AccessMode>{access}</AccessMode><pPort>Device</pPort>"
            f"<Cachable>NoCache</Cachable><Endianess>BigEndian</Endianess></FloatReg>"
        )
    if f.kind is Kind.ENUM:
        entries = "".join(
            f'<EnumEntry Name="{n}"><Value>{v}</Value></EnumEntry>' for n, v in f.entries
        )
        body = f'<Enumeration Name="{f.name}">{entries}<pValue>{reg}</pValue></Enumeration>'
        return body + _reg(reg, f.address, 4, access)
    if f.kind is Kind.COMMAND:
        body = (
            f'<Command Name="{f.name}"><pValue>{reg}</pValue>'
            "<CommandValue>1</CommandValue></Command>"
        )
        return body + _reg(reg, f.address, 4, "WO")
    if f.kind is Kind.BOOLEAN:
        body = (
            f'<Boolean Name="{f.name}"><pValue>{reg}</pValue>'
            f"<OnValue>1</OnValue><OffValue>0</OffValue></Boolean>"
        )
        return body + _reg(reg, f.address, 4, access)
    maximum = f"<pMax>{f.p_max}</pMax>" if f.p_max else f"<Max>{int(f.maximum)}</Max>"
    body = (
        f'<Integer Name="{f.name}"><pValue>{reg}</pValue>'
        f"<Min>{int(f.minimum)}</Min>{maximum}</Integer>"
    )
    return body + _reg(reg, f.address, 4, access)


_CATEGORIES = {
    "DeviceControl": ("DeviceVendorName", "DeviceModelName", "DeviceVersion",
                      "DeviceSerialNumber", "DeviceTemperature", "SensorPixelWidth"),
    "ImageFormatControl": ("Width", "Height", "OffsetX", "OffsetY", "WidthMax", "HeightMax",
                           "PixelFormat", "PayloadSize", "BinningHorizontal", "BinningVertical"),
    "AcquisitionControl": ("AcquisitionMode", "AcquisitionStart", "AcquisitionStop",
                           "AcquisitionFrameCount", "AcquisitionFrameRate", "ExposureTime",
                           "TriggerSelector", "TriggerMode", "TriggerSource", "TriggerSoftware"),
    "TransportLayerControl": ("GevSCPSPacketSize", "GevSCPD", "GevHeartbeatTimeout",
                              "TLParamsLocked"),
    "PanelControl": ("PanelGainMode", "PanelAEDEnable"),
}  # fmt: skip

_STRINGS = (
    ("DeviceVendorName", bs.REG_MANUFACTURER_NAME),
    ("DeviceModelName", bs.REG_MODEL_NAME),
    ("DeviceVersion", bs.REG_DEVICE_VERSION),
    ("DeviceSerialNumber", bs.REG_SERIAL_NUMBER),
)


def _transport_xml() -> str:
    scps = (
        f'<MaskedIntReg Name="GevSCPSPacketSizeReg"><Address>0x{bs.REG_SCPS0:X}</Address>'
        "<Length>4</Length><AccessMode>RW</AccessMode><pPort>Device</pPort>"
        "<Cachable>NoCache</Cachable><LSB>31</LSB><MSB>16</MSB><Sign>Unsigned</Sign>"
        "<Endianess>BigEndian</Endianess></MaskedIntReg>"
        '<Integer Name="GevSCPSPacketSize"><pValue>GevSCPSPacketSizeReg</pValue>'
        "<Min>576</Min><Max>65500</Max><Inc>4</Inc></Integer>"
    )
    scpd = (
        '<Integer Name="GevSCPD"><pValue>GevSCPDReg</pValue>'
        "<Min>0</Min><Max>1000000</Max></Integer>"
    )
    heartbeat = (
        '<Integer Name="GevHeartbeatTimeout"><pValue>GevHeartbeatTimeoutReg</pValue>'
        "<Min>100</Min><Max>60000</Max><Unit>ms</Unit></Integer>"
    )
    return (
        scps
        + scpd
        + _reg("GevSCPDReg", bs.REG_SCPD0, 4, "RW")
        + heartbeat
        + _reg("GevHeartbeatTimeoutReg", bs.REG_HEARTBEAT_TIMEOUT, 4, "RW")
    )


def genicam_xml(model: str, vendor: str) -> str:
    """Return the GenICam XML (GenApi schema 1.1) describing :data:`FEATURES`.

    Parameters
    ----------
    model, vendor : str
        Written into the RegisterDescription's ModelName and VendorName.
    """
    categories = "".join(
        f'<Category Name="{name}">'
        + "".join(f"<pFeature>{m}</pFeature>" for m in members)
        + "</Category>"
        for name, members in _CATEGORIES.items()
    )
    root = "".join(f"<pFeature>{name}</pFeature>" for name in _CATEGORIES)
    strings = "".join(
        f'<StringReg Name="{name}"><Address>0x{addr:X}</Address>'
        f"<Length>{bs.STRING_SIZES_BYTES[addr]}</Length><AccessMode>RO</AccessMode>"
        f"<pPort>Device</pPort></StringReg>"
        for name, addr in _STRINGS
    )
    body = "".join(_feature_xml(f) for f in FEATURES)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<RegisterDescription ModelName="{escape(model)}" VendorName="{escape(vendor)}" '
        'ToolTip="panelgate simulated flat panel" StandardNameSpace="GEV" '
        'SchemaMajorVersion="1" SchemaMinorVersion="1" SchemaSubMinorVersion="0" '
        'MajorVersion="1" MinorVersion="0" SubMinorVersion="0" '
        'ProductGuid="5a1e0a52-7a6e-4c2b-9a2f-0d3c5e6f7a81" '
        'VersionGuid="5a1e0a52-7a6e-4c2b-9a2f-0d3c5e6f7a82" '
        'xmlns="http://www.genicam.org/GenApi/Version_1_1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.genicam.org/GenApi/Version_1_1 '
        'http://www.genicam.org/GenApi/GenApiSchema_Version_1_1.xsd">\n'
        f'<Category Name="Root">{root}</Category>{categories}{strings}{body}'
        f'{_transport_xml()}<Port Name="Device"/>\n</RegisterDescription>\n'
    )
