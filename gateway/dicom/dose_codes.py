"""The codes of the X-Ray Radiation Dose SR: PS3.16 concepts, context group values, units.

Every DCM and SCT code here is the standard's (value and meaning as pydicom's tables,
generated from PS3.16, have them; ``tests/gateway/test_rdsr.py`` checks each, and the
context group of each coded value); units are UCUM (PS3.16 CID 7181 and the templates'
unit constraints). Used by :mod:`.rdsr`.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

__all__ = [
    "ACCUMULATED",
    "ACQUISITION_DEVICE_TYPE",
    "ACQUISITION_PLANE",
    "ACQ_DAP_TOTAL",
    "ACQ_DOSE_RP_TOTAL",
    "ACQ_TIME",
    "AUTOMATED",
    "DAP",
    "DAP_TOTAL",
    "DEVICE",
    "DEVICE_MANUFACTURER",
    "DEVICE_MODEL",
    "DEVICE_NAME",
    "DEVICE_ROLE",
    "DEVICE_SERIAL",
    "DEVICE_UID",
    "DI",
    "DIAGNOSTIC_INTENT",
    "DOSE_RP",
    "DOSE_RP_TOTAL",
    "EI",
    "EI_T",
    "END",
    "EVENT",
    "EVENT_TYPE",
    "EVENT_UID",
    "EXPOSURE",
    "EXPOSURE_TIME",
    "FIELD_AREA",
    "FLUORO_DAP_TOTAL",
    "FLUORO_DOSE_RP_TOTAL",
    "FLUORO_TIME",
    "FRAMES",
    "GY",
    "GY_M2",
    "HAS_INTENT",
    "IMAGE_VIEW",
    "INTEGRATED_PROJECTION",
    "IRRADIATING",
    "KV",
    "KVP",
    "LATERALITIES",
    "LATERALITY",
    "M2",
    "MA",
    "MM",
    "MS",
    "NO_UNITS",
    "OBSERVER_TYPE",
    "PROCEDURE_REPORTED",
    "PROJECTION_XRAY",
    "PROTOCOL",
    "REFERENCE_POINT",
    "REPORT",
    "RP_30CM_IN_FRONT",
    "SCOPE",
    "SID",
    "SINGLE_PLANE",
    "SOURCE_OF_DOSE",
    "SRP",
    "START",
    "STARTED",
    "STATIONARY",
    "STUDY",
    "STUDY_UID",
    "SYSTEM_CALCULATED",
    "TARGET_REGION",
    "TUBE_CURRENT",
    "UAS",
    "S",
    "sct",
]


def _dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


def sct(value: str, meaning: str) -> Code:
    """Return a SNOMED CT code (scheme designator SCT)."""
    return Code(value, "SCT", meaning)


def _ucum(value: str, meaning: str) -> Code:
    return Code(value, "UCUM", meaning)


# PS3.16 codes (DCM: Annex D; SCT from pydicom's codes.SCT, generated from the standard)
REPORT = _dcm("113701", "X-Ray Radiation Dose Report")
PROCEDURE_REPORTED = _dcm("121058", "Procedure reported")
PROJECTION_XRAY = _dcm("113704", "Projection X-Ray")
HAS_INTENT = sct("363703001", "Has intent (attribute)")
DIAGNOSTIC_INTENT = sct("261004008", "Diagnostic Intent")
ACQUISITION_DEVICE_TYPE = _dcm("122142", "Acquisition Device Type")
INTEGRATED_PROJECTION = _dcm("113958", "Integrated Projection Radiography System")  # CID 10032
SCOPE = _dcm("113705", "Scope of Accumulation")
STUDY = _dcm("113014", "Study")
STUDY_UID = _dcm("110180", "Study Instance UID")
START = _dcm("113809", "Start of X-Ray Irradiation")
END = _dcm("113810", "End of X-Ray Irradiation")
SOURCE_OF_DOSE = _dcm("113854", "Source of Dose Information")
AUTOMATED = _dcm("113856", "Automated Data Collection")  # CID 10020: measured (DAP meter)
SYSTEM_CALCULATED = _dcm("113940", "System Calculated")  # CID 10020: tube-output model
ACCUMULATED = _dcm("113702", "Accumulated X-Ray Dose Data")
ACQUISITION_PLANE = _dcm("113764", "Acquisition Plane")
SINGLE_PLANE = _dcm("113622", "Single Plane")
EVENT = _dcm("113706", "Irradiation Event X-Ray Data")
EVENT_UID = _dcm("113769", "Irradiation Event UID")
STARTED = _dcm("111526", "DateTime Started")
EVENT_TYPE = _dcm("113721", "Irradiation Event Type")
STATIONARY = _dcm("113611", "Stationary Acquisition")
PROTOCOL = _dcm("125203", "Acquisition Protocol")
TARGET_REGION = _dcm("123014", "Target Region")
LATERALITY = sct("272741003", "Laterality")
IMAGE_VIEW = _dcm("111031", "Image View")
DAP = _dcm("122130", "Dose Area Product")
DOSE_RP = _dcm("113738", "Dose (RP)")
REFERENCE_POINT = _dcm("113780", "Reference Point Definition")
RP_30CM_IN_FRONT = _dcm("113861", "30cm in Front of Image Input Surface")  # CID 10025
FIELD_AREA = _dcm("113790", "Collimated Field Area")
EI = _dcm("113845", "Exposure Index")
EI_T = _dcm("113846", "Target Exposure Index")
DI = _dcm("113847", "Deviation Index")
KVP = _dcm("113733", "KVP")
TUBE_CURRENT = _dcm("113734", "X-Ray Tube Current")
EXPOSURE_TIME = _dcm("113824", "Exposure Time")
EXPOSURE = _dcm("113736", "Exposure")
SID = _dcm("113750", "Distance Source to Detector")
SRP = _dcm("113737", "Distance Source to Reference Point")
DAP_TOTAL = _dcm("113722", "Dose Area Product Total")
DOSE_RP_TOTAL = _dcm("113725", "Dose (RP) Total")
FLUORO_DAP_TOTAL = _dcm("113726", "Fluoro Dose Area Product Total")
FLUORO_DOSE_RP_TOTAL = _dcm("113728", "Fluoro Dose (RP) Total")
FLUORO_TIME = _dcm("113730", "Total Fluoro Time")
ACQ_DAP_TOTAL = _dcm("113727", "Acquisition Dose Area Product Total")
ACQ_DOSE_RP_TOTAL = _dcm("113729", "Acquisition Dose (RP) Total")
ACQ_TIME = _dcm("113855", "Total Acquisition Time")
FRAMES = _dcm("113731", "Total Number of Radiographic Frames")
OBSERVER_TYPE = _dcm("121005", "Observer Type")
DEVICE = _dcm("121007", "Device")
DEVICE_UID = _dcm("121012", "Device Observer UID")
DEVICE_NAME = _dcm("121013", "Device Observer Name")
DEVICE_MANUFACTURER = _dcm("121014", "Device Observer Manufacturer")
DEVICE_MODEL = _dcm("121015", "Device Observer Model Name")
DEVICE_SERIAL = _dcm("121016", "Device Observer Serial Number")
DEVICE_ROLE = _dcm("113876", "Device Role in Procedure")
IRRADIATING = _dcm("113859", "Irradiating Device")

GY_M2 = _ucum("Gy.m2", "Gy.m2")
GY = _ucum("Gy", "Gy")
M2 = _ucum("m2", "m2")
MM = _ucum("mm", "mm")
S = _ucum("s", "s")
MS = _ucum("ms", "ms")
MA = _ucum("mA", "mA")
KV = _ucum("kV", "kV")
UAS = _ucum("uA.s", "uA.s")
NO_UNITS = _ucum("1", "no units")

LATERALITIES = {
    # Image Laterality -> CID 244 "Laterality" (SCT)
    "R": sct("24028007", "Right"),
    "L": sct("7771000", "Left"),
    "B": sct("51440002", "Bilateral"),
}
