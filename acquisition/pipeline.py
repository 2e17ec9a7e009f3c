"""The acquisition pipeline: detector → calibration → correction → DX instance → PACS.

Each stage is a method so that the demo, the CLI and the benchmark run exactly the same
code and time the same stages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from panelgate.calibration import (
    CalibrationMismatch,
    CalibrationSet,
    DarkMap,
    FloodLevel,
    FrameAverager,
    ValidityStatus,
    build_calibration,
    correct,
)
from panelgate.drivers import Detector, DetectorInfo, Frame, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    Window,
    build_dx_for_presentation,
    compress_lossless,
    exposure_index,
    histogram_window,
    write_atomic,
)
from panelgate.gateway.pacs import Destination, StoreResult, store_files

from .config import Config
from .errors import UsageError

__all__ = ["Beam", "Corrected", "Pipeline"]

_log = logging.getLogger(__name__)

Beam = Callable[[float, "npt.NDArray[np.float32] | None"], None]
"""Gives a known dose now, ``beam(air_kerma_ugy, transmission)``: a simulated panel's
calibration source (:class:`panelgate.simulators.Irradiable`), for darks and floods
without a generator. Exposures go through the generator and the workflow instead."""


@dataclass(frozen=True)
class Corrected:
    """A corrected image with what is needed to describe it."""

    pixels: npt.NDArray[np.uint16]
    frame: Frame
    calibration: CalibrationSet


class Pipeline:
    """Runs the stages of an acquisition against one connected detector.

    Parameters
    ----------
    detector : Detector
        A connected detector.
    config : Config
        Validated configuration.
    beam : Beam, optional
        A calibration source for :meth:`expose` (a simulated panel's ``irradiate``);
        without one only darks can be taken here.
    """

    def __init__(self, detector: Detector, config: Config, beam: Beam | None = None) -> None:
        self.detector = detector
        self.config = config
        self.beam = beam
        self.info: DetectorInfo = detector.info
        try:
            self.software_version = metadata.version("panelgate")
        except metadata.PackageNotFoundError:  # running from a source tree
            self.software_version = "0+unknown"

    def configure(self, width: int, height: int) -> ReadoutMode:
        """Configure the detector's readout mode from the configuration."""
        mode = ReadoutMode(width=width, height=height, exposure_s=self.config.detector.exposure_s)
        self.detector.configure(mode)
        return mode

    def expose(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None = None
    ) -> Frame:
        """Arm, deliver dose, trigger and read one frame (dark when ``air_kerma_ugy`` is 0).

        With a beam, a dark is a dose of 0 µGy from it: a simulated panel whose trigger
        source is the generator or AED starts its window on it too.

        Raises
        ------
        UsageError
            A dose asked of a pipeline without a beam.
        """
        if air_kerma_ugy > 0 and self.beam is None:
            raise UsageError("floods need a calibration source: this detector has none")
        self.detector.arm()
        if self.beam is not None:
            self.beam(air_kerma_ugy, transmission)
        self.detector.trigger()
        return self.detector.read_frame(self.config.detector.frame_timeout_s)

    def average(self, n_frames: int, air_kerma_ugy: float) -> FrameAverager:
        """Expose ``n_frames`` frames at one dose and average them as they arrive."""
        averager = FrameAverager()
        for _ in range(n_frames):
            averager.add(self.expose(air_kerma_ugy).pixels)
        return averager

    def calibrate(
        self, darks: FrameAverager, floods: FrameAverager, temp_c: float
    ) -> CalibrationSet:
        """Build dark, gain and defect maps from averaged dark and one level of flood frames.

        Single-point gain, ASTM E2597 defect classes, directional defect replacement; the
        multi-point run is :func:`panelgate.acquisition.calrun.run_calibration`.
        """
        dark = DarkMap(
            mean=darks.mean(),
            std=darks.std(),
            mode_key=self.detector.mode.key,
            temp_c=temp_c,
            n_frames=darks.count,
        )
        flood = FloodLevel(self.config.calibration.flood_air_kerma_ugy, floods.mean(), floods.count)
        return build_calibration(
            dark,
            [flood],
            serial=self.info.serial,
            full_scale=2**self.info.bits_stored - 1,
            pedestal_counts=self.config.calibration.pedestal_counts,
        )

    def correct(self, frame: Frame, calibration: CalibrationSet) -> Corrected:
        """Apply the calibration to a raw frame with the numba kernel."""
        if frame.meta.serial != calibration.serial:
            raise CalibrationMismatch(
                f"calibration set {calibration.set_id} belongs to detector {calibration.serial}, "
                f"the frame comes from {frame.meta.serial}"
            )
        if frame.meta.mode.key != calibration.mode_key:
            raise CalibrationMismatch(
                f"calibration set {calibration.set_id} is for readout mode "
                f"{calibration.mode_key}, the frame was read in {frame.meta.mode.key}"
            )
        validity = calibration.validity(frame.meta.serial, frame.meta.mode.key, frame.meta.temp_c)
        if validity.status is ValidityStatus.STALE:
            _log.warning("calibration set %s is %s", calibration.set_id, validity)
        pixels = correct(frame.pixels, calibration, full_scale=2**self.info.bits_stored - 1)
        return Corrected(pixels, frame, calibration)

    def build(
        self, image: Corrected, study: StudyContext, technique: Technique
    ) -> tuple[Dataset, Window]:
        """Build the DX For Presentation instance of a corrected image (compressed if set)."""
        dicom = self.config.dicom
        window = histogram_window(image.pixels)
        exposure = None
        if self.info.counts_per_ugy:
            exposure = exposure_index(
                image.pixels,
                image.calibration.pedestal_counts,
                self.info.counts_per_ugy,
                dicom.target_exposure_index,
            )
        provenance = Provenance(
            calibration_set_id=image.calibration.set_id,
            calibration_utc=image.calibration.created_utc,
            pedestal_counts=image.calibration.pedestal_counts,
            software_version=self.software_version,
        )
        ds = build_dx_for_presentation(
            image.pixels,
            study=study,
            technique=technique,
            detector=self.info,
            frame=image.frame.meta,
            provenance=provenance,
            window=window,
            exposure=exposure,
            uid_root=dicom.uid_root,
            institution_name=dicom.institution_name,
            station_name=dicom.station_name,
            monochrome1=dicom.monochrome1,
        )
        compress_lossless(ds, dicom.compression)
        return ds, window

    @staticmethod
    def write(ds: Dataset, directory: Path) -> Path:
        """Write the instance atomically to ``directory/<SOPInstanceUID>.dcm`` (mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return write_atomic(ds, directory / f"{ds.SOPInstanceUID}.dcm")

    def deliver(self, path: Path, destination: Destination) -> StoreResult:
        """C-STORE one file; the classified result is returned, delivery errors raised."""
        (result,) = store_files([path], destination)
        return result
