"""``[dose]``: the room's tube-output model and geometry for the dose of each exposure.

Used when the generator does not measure the dose-area product itself (see
:mod:`panelgate.gateway.dicom.dose` for the model and its source, IPEM Report 91)::

    [dose]
    tube_output_ugy_per_mas = 50.0   # air kerma at 1 m per mAs at tube_output_kv
    tube_output_kv = 80.0
    tube_output_kv_exponent = 2.0    # output ∝ kV^exponent
    sid_mm = 1800.0                  # focal spot to image receptor
    field_width_mm = 350.0           # collimated field at the receptor, when none is known
    field_height_mm = 430.0
    entrance_to_detector_mm = 300.0  # reference point (PS3.16 CID 10025, 113861)
"""

from __future__ import annotations

from dataclasses import dataclass

from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput

from .config_limits import PositiveFloat
from .config_section import Problems, Section

__all__ = ["DoseConfig"]


@dataclass(frozen=True)
class DoseConfig(Section):
    """``[dose]``: tube output (µGy/mAs at 1 m), SID, default field and reference point (mm)."""

    tube_output_ugy_per_mas: PositiveFloat = 50.0
    tube_output_kv: PositiveFloat = 80.0
    tube_output_kv_exponent: PositiveFloat = 2.0
    sid_mm: PositiveFloat = 1800.0
    field_width_mm: PositiveFloat = 350.0
    field_height_mm: PositiveFloat = 430.0
    entrance_to_detector_mm: PositiveFloat = 300.0

    def _joint_problems(self) -> Problems:
        if self.entrance_to_detector_mm >= self.sid_mm:
            return [
                (
                    "entrance_to_detector_mm",
                    f"must be below sid_mm ({self.sid_mm:g}), got {self.entrance_to_detector_mm:g}",
                )
            ]
        return []

    def tube_output(self) -> TubeOutput:
        """Return the tube-output model of the room."""
        return TubeOutput(
            self.tube_output_ugy_per_mas, self.tube_output_kv, self.tube_output_kv_exponent
        )

    def geometry(self) -> DoseGeometry:
        """Return the room's SID, default collimated field and reference point."""
        return DoseGeometry(
            self.sid_mm, self.field_width_mm, self.field_height_mm, self.entrance_to_detector_mm
        )
