"""The simulated panel's GenICam XML (GenApi schema 1.1) and its register map.

Small but complete enough for GenApi to load and for the driver's features (SFNC names).
"""

from __future__ import annotations

__all__ = ["FEATURES", "FEATURE_BASE", "genicam_xml"]

FEATURE_BASE = 0x20000
"""Address of the first feature register."""

FEATURES: dict[str, tuple[int, str, str]] = {
    # name: (offset, kind, access) kind: int (u32), float (f64), cmd (u32 command)
    "WidthMax": (0x00, "int", "RO"),
    "HeightMax": (0x04, "int", "RO"),
    "Width": (0x08, "int", "RW"),
    "Height": (0x0C, "int", "RW"),
    "ExposureTime": (0x10, "float", "RW"),
    "AcquisitionStart": (0x18, "cmd", "WO"),
    "AcquisitionStop": (0x1C, "cmd", "WO"),
    "TriggerSoftware": (0x20, "cmd", "WO"),
    "DeviceTemperature": (0x28, "float", "RO"),
    "PanelPixelPitch": (0x30, "float", "RO"),
    "PanelCountsPerUgy": (0x38, "float", "RO"),
}

_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<RegisterDescription ModelName="PG-USB-SIM" VendorName="panelgate" StandardNameSpace="None"
 SchemaMajorVersion="1" SchemaMinorVersion="1" SchemaSubMinorVersion="0" MajorVersion="1"
 MinorVersion="0" SubMinorVersion="0" ToolTip="panelgate simulated USB3 Vision panel"
 ProductGuid="5f1c2a9e-7d41-4c43-9b1e-0a6c3f2d8e11"
 VersionGuid="5f1c2a9e-7d41-4c43-9b1e-0a6c3f2d8e12"
 xmlns="http://www.genicam.org/GenApi/Version_1_1"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="http://www.genicam.org/GenApi/Version_1_1 http://www.genicam.org/GenApi/GenApiSchema_Version_1_1.xsd">
"""


def _node(name: str, offset: int, kind: str, access: str) -> str:
    addr = f"<Address>0x{FEATURE_BASE + offset:x}</Address>"
    common = f"<AccessMode>{'RW' if access == 'WO' else access}</AccessMode><pPort>Device</pPort>"
    cache = "<Cachable>NoCache</Cachable>" if access == "RO" and kind == "float" else ""
    if kind == "int":
        return (
            f'<IntReg Name="{name}" NameSpace="Standard">{addr}<Length>4</Length>{common}'
            f"{cache}<Sign>Unsigned</Sign><Endianess>LittleEndian</Endianess></IntReg>"
        )
    if kind == "float":
        return (
            f'<FloatReg Name="{name}" NameSpace="Standard">{addr}<Length>8</Length>{common}'
            f"{cache}<Endianess>LittleEndian</Endianess></FloatReg>"
        )
    return (
        f'<Command Name="{name}" NameSpace="Standard"><pValue>{name}Reg</pValue>'
        f"<CommandValue>1</CommandValue></Command>"
        f'<IntReg Name="{name}Reg">{addr}<Length>4</Length>{common}'
        f"<Cachable>NoCache</Cachable><Sign>Unsigned</Sign><Endianess>LittleEndian</Endianess>"
        f"</IntReg>"
    )


def genicam_xml() -> str:
    """Return the XML text (UTF-8 when encoded)."""
    features = "".join(f"<pFeature>{name}</pFeature>" for name in FEATURES)
    nodes = "\n".join(_node(name, *spec) for name, spec in FEATURES.items())
    return (
        f'{_HEAD}<Category Name="Root" NameSpace="Standard">{features}</Category>\n{nodes}\n'
        '<Port Name="Device" NameSpace="Standard"/>\n</RegisterDescription>\n'
    )
