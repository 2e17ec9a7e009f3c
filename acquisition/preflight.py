"""Everything an exposure needs, checked before the generator is asked to prepare.

No beam without an image: before PREP, :func:`check_before_beam` builds and validates all
that the image will need, so that a value that cannot be stored or a disk that cannot hold
the image refuses the exposure while the patient has received nothing:

- the exam protocol and the technique against the generator's ranges;
- the detector: connected, in a readout mode, and its own trigger source (when it says,
  :class:`~panelgate.drivers.ReportsTriggerSource`) the workflow's trigger mode: a panel
  that waits for AED while the workflow triggers it in software, or the reverse, would
  read a dark image (:func:`check_trigger`);
- the calibration that will be applied: same detector and readout mode, and its gain and
  defect maps neither expired nor measured at another panel temperature, by the
  ``[calibration]`` validity rules (:func:`~.calibration_lifecycle.refuse_unusable`; the
  refusal names the command that fixes it); a stale dark is no refusal: the workflow
  takes a fresh one before PREP;
- the DX header, built without pixels and run through the validator of the final
  instance (:func:`~panelgate.gateway.dicom.check_dx_header`): every patient, study,
  request and equipment attribute against its VR, and the UID root;
- the disk: the outbox can take the image above its reserve, and the folders for the
  preview and for data kept after a failure exist and are writable.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from panelgate.calibration import CalibrationSet
from panelgate.drivers import (
    Detector,
    DetectorState,
    FrameMeta,
    IncompatibleState,
    ReportsTriggerSource,
    StorageError,
    UsageError,
)
from panelgate.drivers.fsio import private_dir
from panelgate.drivers.generator import TechniqueLimits
from panelgate.gateway.dicom import Provenance, Technique, check_dx_header
from panelgate.gateway.outbox import Outbox

from .calibration_lifecycle import Clock, refuse_unusable, utc_now, validity_rules
from .exposure import ExposureRequest, TriggerMode, parse_protocol
from .pipeline import Pipeline

__all__ = ["Preflight", "check_before_beam", "check_header", "check_trigger", "instance_bytes"]

# Room for a DX instance's attributes besides the pixels (a few kB in practice).
_HEADER_BYTES = 1 << 20


def instance_bytes(width: int, height: int) -> int:
    """Bound the size of one uint16 DX instance of ``width`` × ``height`` (pixels + header)."""
    return width * height * 2 + _HEADER_BYTES


@dataclass(frozen=True)
class Preflight:
    """What :func:`check_before_beam` established: the exposure may start."""

    exposure_ms: float
    body_part: str
    view_position: str


def check_before_beam(
    pipeline: Pipeline,
    request: ExposureRequest,
    calibration: CalibrationSet,
    *,
    limits: TechniqueLimits,
    ma_now: float,
    outbox: Outbox | None,
    folders: tuple[Path, ...],
    now_utc: Clock = utc_now,
    trigger: TriggerMode | None = None,
) -> Preflight:
    """Check everything the exposure's image needs; see the module docstring.

    Parameters
    ----------
    pipeline : Pipeline
        Over the connected, configured detector, with the validated configuration.
    request : ExposureRequest
        What the technician asked for.
    calibration : CalibrationSet
        The maps that will be applied to the frame.
    limits : TechniqueLimits
        The generator's ranges; ``ma_now`` its current tube current in mA.
    outbox : Outbox or None
        Where the image will be queued; its disk reserve is checked.
    folders : tuple of pathlib.Path
        Folders the exposure writes to (previews, data kept after a failure): created
        (mode 0700) when missing, and checked writable.
    now_utc : Clock
        The clock the calibration's age is judged by.
    trigger : TriggerMode, optional
        The workflow's trigger mode, checked against the panel's trigger source.

    Raises
    ------
    UsageError, TechniqueOutOfRange
        Unknown protocol, a technique outside the generator's range, or a trigger mode
        that is not the panel's trigger source.
    IncompatibleState
        The detector is not connected and configured.
    CalibrationMismatch
        The calibration is for another detector or readout mode.
    CalibrationNotFound
        Its gain and defect maps expired or were measured at another temperature.
    DicomBuildError
        A value the image needs does not fit its VR (``keyword`` names the attribute).
    OutboxFull, StorageError
        The image could not be kept.
    """
    body_part, view = parse_protocol(request.protocol)
    exposure_ms = request.check(limits, ma_now)
    detector = pipeline.detector
    status = detector.status()
    if status.state is DetectorState.DISCONNECTED:
        raise IncompatibleState("the detector is not connected")
    mode = detector.mode  # raises IncompatibleState when no readout mode is set
    if trigger is not None:
        check_trigger(detector, trigger)
    refuse_unusable(
        calibration,
        serial=pipeline.info.serial,
        mode=mode,
        temp_c=status.temp_c,
        rules=validity_rules(pipeline.config.calibration),
        now_utc=now_utc(),
    )
    check_header(pipeline, request, calibration, temp_c=status.temp_c)
    if outbox is not None:
        outbox.check_space(instance_bytes(mode.width, mode.height))
    for folder in folders:
        _writable(folder)
    return Preflight(exposure_ms, body_part, view)


def check_trigger(detector: Detector, trigger: TriggerMode) -> None:
    """Refuse a trigger mode that is not the panel's own trigger source (no dark image).

    A panel that does not report its source (:class:`~panelgate.drivers.ReportsTriggerSource`,
    or None) is not checked: its configuration is the site's to match.

    Raises
    ------
    UsageError
        The panel's trigger source differs from ``trigger``; the one line names both.
    """
    if not isinstance(detector, ReportsTriggerSource):
        return
    source = detector.trigger_source
    if source is None or source.value == trigger.value:
        return
    raise UsageError(
        f"refused before the exposure, nothing moved: the panel's trigger source is "
        f"{source.value} but the exposure's trigger mode is {trigger.value} (its image would "
        f"be dark); set the trigger mode (--trigger {source.value}) or the panel's trigger "
        f"source (trigger={trigger.value} of a simulated panel's URL) to match"
    )


def check_header(
    pipeline: Pipeline,
    request: ExposureRequest,
    calibration: CalibrationSet | None = None,
    *,
    temp_c: float = 20.0,
) -> None:
    """Build and validate the DX header the exposure will make (no pixels); see the module.

    Parameters
    ----------
    pipeline : Pipeline
        Over the connected, configured detector, with the validated configuration.
    request : ExposureRequest
        Patient, study and technique.
    calibration : CalibrationSet, optional
        The maps that will be applied; a placeholder of valid form when not known yet
        (a command checks the request before it calibrates).
    temp_c : float
        Panel temperature for the header, in °C.

    Raises
    ------
    UsageError
        Unknown protocol.
    DicomBuildError
        A value does not fit its VR (``keyword`` names the attribute).
    """
    body_part, view = parse_protocol(request.protocol)
    mode = pipeline.detector.mode
    now = dt.datetime.now(dt.UTC)
    dicom = pipeline.config.dicom
    check_dx_header(
        study=request.study,
        technique=Technique(
            kvp=request.kv,
            exposure_uas=request.mas * 1000.0,
            exposure_time_ms=1.0,
            body_part=body_part,
            view_position=view,
        ),
        detector=pipeline.info,
        frame=FrameMeta(
            frame_id=0,
            t_mono_s=0.0,
            mode=mode,
            serial=pipeline.info.serial,
            temp_c=temp_c,
            model=pipeline.info.model,
            firmware=pipeline.info.firmware,
        ),
        provenance=Provenance(
            calibration_set_id=calibration.set_id if calibration else "0" * 16,
            calibration_utc=calibration.created_utc if calibration else now,
            pedestal_counts=calibration.pedestal_counts if calibration else 0.0,
            software_version=pipeline.software_version,
        ),
        uid_root=dicom.uid_root,
        institution_name=dicom.institution_name,
        station_name=dicom.station_name,
        monochrome1=dicom.monochrome1,
    )


def _writable(folder: Path) -> None:
    private_dir(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"the folder {folder} is not writable")
