"""What a technician asks for and how it reaches the panel: request, protocol, dose, darks.

The pieces of an exposure that are not the state machine itself
(:mod:`panelgate.acquisition.workflow`): the checked :class:`ExposureRequest`, the
``BODYPART [VIEW]`` protocol names, the :class:`TriggerMode` (who starts the panel's
readout), and the dark-map freshness rule. The beam reaches a panel physically: the tube
irradiates a real one, and a simulated generator the simulated panels of its X-ray room
(:mod:`panelgate.simulators.room`); nothing here stands in for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from panelgate.calibration import CalibrationSet
from panelgate.drivers.generator import TechniqueLimits
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicom.context import ANATOMY_CODES, VIEW_CODES

from .calibration_lifecycle import CalibrationHolder
from .errors import UsageError
from .pipeline import Pipeline

__all__ = [
    "CalibrationHolder",
    "ExposureRequest",
    "TriggerMode",
    "parse_protocol",
    "quick_calibration",
]


class TriggerMode(enum.Enum):
    """Who starts the panel's readout (set to match the panel's own trigger source).

    ``software``: the workflow triggers the readout once the generator reports the
    exposure done; ``generator``: the generator's sync output starts the panel's
    integration when the tube fires; ``aed``: the panel detects the beam by its dose rate
    (automatic exposure detection). In the last two the workflow triggers nothing: right
    after arming it hands the start of the readout to the panel's source.
    """

    SOFTWARE = "software"
    GENERATOR = "generator"
    AED = "aed"


def parse_protocol(text: str) -> tuple[str, str]:
    """Split an exam protocol such as ``CHEST PA`` into (body part, view position).

    Raises
    ------
    UsageError
        Unknown body part or view.
    """
    words = text.upper().split()
    body = words[0] if words else ""
    view = words[1] if len(words) > 1 else ""
    if body not in ANATOMY_CODES or len(words) > 2 or (view and view not in VIEW_CODES):
        raise UsageError(
            f"unknown protocol {text!r}: expected BODYPART [VIEW] with body part one of "
            f"{', '.join(sorted(ANATOMY_CODES))} and view one of {', '.join(sorted(VIEW_CODES))}"
        )
    return body, view


@dataclass(frozen=True)
class ExposureRequest:
    """What the technician asked for.

    Parameters
    ----------
    kv, mas : float
        Tube voltage in kV and current-time product in mAs.
    study : StudyContext
        Patient and study.
    protocol : str
        Exam protocol, ``BODYPART [VIEW]`` (``CHEST PA``).
    ma : float or None
        Tube current in mA; the generator's current setting when None.
    preset : str or None
        Presentation-processing preset of the protocol; ``[processing] preset`` when None.
    grid : bool
        True when the anti-scatter grid is in the beam (its lines are removed).
    target_ei : float or None
        EI_T of the protocol; ``[dicom] target_exposure_index`` when None.
    """

    kv: float
    mas: float
    study: StudyContext
    protocol: str = "CHEST PA"
    ma: float | None = None
    preset: str | None = None
    grid: bool = False
    target_ei: float | None = None

    def check(self, limits: TechniqueLimits, ma_now: float) -> float:
        """Check against the generator's ranges; return the exposure time in ms.

        Raises
        ------
        TechniqueOutOfRange
            A value outside the generator's range (nothing has moved yet).
        UsageError
            Unknown protocol.
        """
        parse_protocol(self.protocol)
        return limits.check(self.kv, self.mas, self.ma if self.ma is not None else ma_now)


def quick_calibration(
    pipeline: Pipeline, frames: int = 4, flood_ugy: float = 8.0
) -> CalibrationSet:
    """Calibrate from a few darks and floods (simulated panels only: needs ``pipeline.beam``)."""
    darks = pipeline.average(frames, 0.0)
    floods = pipeline.average(frames, flood_ugy)
    return pipeline.calibrate(darks, floods, pipeline.detector.status().temp_c)
