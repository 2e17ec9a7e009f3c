"""The dose of one exposure: air kerma, dose-area product (DAP) and entrance dose.

When the generator measures the DAP (a DAP meter, IEC 60580), its value is used; otherwise
it is computed from the delivered technique with a tube-output model:

``K(d) = Y_ref · (kV / kV_ref)^n · mAs · (1000 mm / d)²``

the air kerma free in air at distance ``d`` from the focal spot (inverse-square law),
with ``Y_ref`` the tube output in µGy per mAs at 1 m and ``kV_ref``. The default,
50 µGy/mAs at 80 kV with ``n = 2``, is the tube a tungsten target with about 2.5 mm Al
total filtration gives (IPEM Report 91, *Recommended Standards for the Routine Performance
Testing of Diagnostic X-ray Imaging Systems*, typical outputs 40-60 µGy/mAs at 80 kV and
1 m; the output grows roughly with kV²): the same model the simulated X-ray room uses, so
that a simulated exposure is reported with the dose its panel received. A site measures
its own tube and sets ``[dose]`` in the configuration.

The DAP does not depend on the distance (the field area grows with d², the kerma falls
with 1/d²): ``DAP = K(SID) · A(SID)`` with ``A`` the collimated field at the image
receptor. The entrance dose is the incident air kerma (no backscatter) at the reference
point 30 cm in front of the image input surface (PS3.16 CID 10025, code 113861), the
patient's entrance surface for an adult trunk against the receptor.

Units follow the DICOM attributes (PS3.3 C.8.7.8, X-Ray Acquisition Dose): DAP in
dGy·cm² (1 dGy·cm² = 10⁻⁵ Gy·m², the unit of the dose SR), entrance dose in mGy,
distances in mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DAP_GYM2_PER_DGYCM2",
    "DoseGeometry",
    "EventDose",
    "TubeOutput",
    "event_dose",
]

DAP_GYM2_PER_DGYCM2 = 1e-5
"""1 dGy·cm² = 0.1 Gy · 10⁻⁴ m² = 10⁻⁵ Gy·m² (the SR's unit, UCUM ``Gy.m2``)."""


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")


@dataclass(frozen=True)
class TubeOutput:
    """Air kerma free in air per mAs of a tube, as a function of kV (see the module).

    Parameters
    ----------
    ugy_per_mas_at_1m : float
        Output at ``reference_kv`` and 1 m from the focal spot, µGy per mAs.
    reference_kv : float
        The tube voltage of that output, kV.
    kv_exponent : float
        How the output grows with the tube voltage: ``(kV / reference_kv) ** kv_exponent``.
    """

    ugy_per_mas_at_1m: float = 50.0
    reference_kv: float = 80.0
    kv_exponent: float = 2.0

    def __post_init__(self) -> None:
        _positive(
            ugy_per_mas_at_1m=self.ugy_per_mas_at_1m,
            reference_kv=self.reference_kv,
            kv_exponent=self.kv_exponent,
        )

    def air_kerma_ugy(self, kv: float, mas: float, distance_mm: float) -> float:
        """Air kerma free in air at ``distance_mm`` from the focal spot, µGy.

        Raises
        ------
        ValueError
            kV or the distance not positive, mAs negative, or a value not finite.
        """
        _positive(kv=kv, distance_mm=distance_mm)
        if not (math.isfinite(mas) and mas >= 0):
            raise ValueError(f"mas must be >= 0 and finite, got {mas!r}")
        per_mas = self.ugy_per_mas_at_1m * (kv / self.reference_kv) ** self.kv_exponent
        return float(per_mas * mas * (1000.0 / distance_mm) ** 2)


@dataclass(frozen=True)
class DoseGeometry:
    """Where the tube, the patient and the receptor are, and the collimated field.

    Parameters
    ----------
    sid_mm : float
        Source to image receptor distance, mm (Distance Source to Detector, (0018,1110)).
    field_width_mm, field_height_mm : float
        The collimated field at the image receptor plane, mm.
    entrance_to_detector_mm : float
        From the reference point (the patient's entrance surface) to the image input
        surface, mm; 300 mm is the reference point of PS3.16 CID 10025 code 113861.
    """

    sid_mm: float = 1800.0
    field_width_mm: float = 350.0
    field_height_mm: float = 430.0
    entrance_to_detector_mm: float = 300.0

    def __post_init__(self) -> None:
        _positive(
            sid_mm=self.sid_mm,
            field_width_mm=self.field_width_mm,
            field_height_mm=self.field_height_mm,
            entrance_to_detector_mm=self.entrance_to_detector_mm,
        )
        if self.entrance_to_detector_mm >= self.sid_mm:
            raise ValueError(
                f"entrance_to_detector_mm ({self.entrance_to_detector_mm:g}) must be below "
                f"sid_mm ({self.sid_mm:g})"
            )

    @property
    def source_to_patient_mm(self) -> float:
        """Focal spot to the reference point, mm (Distance Source to Patient, (0018,1111))."""
        return self.sid_mm - self.entrance_to_detector_mm

    @property
    def field_area_cm2(self) -> float:
        """The collimated field's area at the image receptor, cm²."""
        return self.field_width_mm * self.field_height_mm / 100.0


@dataclass(frozen=True)
class EventDose:
    """The dose of one irradiation event, in the units of the DICOM attributes.

    Parameters
    ----------
    dap_dgycm2 : float
        Dose-area product, dGy·cm² (Image and Fluoroscopy Area Dose Product, (0018,115E)).
    entrance_dose_mgy : float
        Incident air kerma at the reference point, mGy (Entrance Dose in mGy, (0040,8302)).
    detector_air_kerma_ugy : float
        Air kerma free in air at the image receptor (open field), µGy.
    sid_mm, source_to_patient_mm : float
        Distances from the focal spot to the receptor and to the reference point, mm.
    field_area_cm2 : float
        Collimated field area at the receptor, cm².
    dap_source : str
        ``"generator"`` (measured, reported by the generator) or ``"model"`` (computed).
    """

    dap_dgycm2: float
    entrance_dose_mgy: float
    detector_air_kerma_ugy: float
    sid_mm: float
    source_to_patient_mm: float
    field_area_cm2: float
    dap_source: str

    @property
    def dap_gym2(self) -> float:
        """The DAP in Gy·m², the unit of the dose SR."""
        return self.dap_dgycm2 * DAP_GYM2_PER_DGYCM2

    @property
    def field_area_m2(self) -> float:
        """The collimated field area in m² (the dose SR's unit)."""
        return self.field_area_cm2 * 1e-4


def event_dose(
    kv: float,
    mas: float,
    geometry: DoseGeometry,
    output: TubeOutput,
    *,
    measured_dap_dgycm2: float | None = None,
) -> EventDose:
    """Return the dose of one exposure (see the module for the model).

    Parameters
    ----------
    kv, mas : float
        The technique the generator delivered: tube voltage (kV), current-time product (mAs).
    geometry : DoseGeometry
        SID, collimated field and reference point.
    output : TubeOutput
        The tube-output model (used when no DAP was measured).
    measured_dap_dgycm2 : float, optional
        The DAP the generator measured, dGy·cm²; the kerma values are then derived from it
        through the field area, so that every value of the event agrees with it.

    Raises
    ------
    ValueError
        A technique value out of range, or a measured DAP that is negative or not finite.
    """
    area_cm2 = geometry.field_area_cm2
    if measured_dap_dgycm2 is None:
        kerma_ugy = output.air_kerma_ugy(kv, mas, geometry.sid_mm)
        dap = kerma_ugy * area_cm2 * 1e-5  # µGy·cm² -> dGy·cm² (1 dGy = 10⁵ µGy)
        source = "model"
    else:
        if not (math.isfinite(measured_dap_dgycm2) and measured_dap_dgycm2 >= 0):
            raise ValueError(f"measured DAP must be >= 0, got {measured_dap_dgycm2!r}")
        dap = measured_dap_dgycm2
        kerma_ugy = dap * 1e5 / area_cm2
        source = "generator"
    entrance_ugy = kerma_ugy * (geometry.sid_mm / geometry.source_to_patient_mm) ** 2
    return EventDose(
        dap_dgycm2=dap,
        entrance_dose_mgy=entrance_ugy / 1000.0,
        detector_air_kerma_ugy=kerma_ugy,
        sid_mm=geometry.sid_mm,
        source_to_patient_mm=geometry.source_to_patient_mm,
        field_area_cm2=area_cm2,
        dap_source=source,
    )
