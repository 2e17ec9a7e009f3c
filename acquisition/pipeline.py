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
    ExposureIndex,
    Provenance,
    StudyContext,
    Technique,
    Window,
    build_dx_for_presentation,
    build_dx_for_processing,
    compress_lossless,
    write_atomic,
)
from panelgate.gateway.pacs import Destination, StoreResult, store_files
from panelgate.processing import Presentation, process

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

    def present(
        self,
        image: Corrected,
        preset: str | None = None,
        grid: bool = False,
        target_ei: float | None = None,
    ) -> Presentation:
        """Process a corrected image for presentation (:func:`panelgate.processing.process`).

        Parameters
        ----------
        image : Corrected
            The corrected linear image.
        preset : str, optional
            The protocol's processing preset; ``[processing] preset`` when None.
        grid : bool
            True when an anti-scatter grid was in the beam.
        target_ei : float, optional
            The protocol's EI_T; ``[dicom] target_exposure_index`` when None.

        Raises
        ------
        ValueError
            An unknown preset.
        """
        settings = self.config.processing
        return process(
            image.pixels,
            image.calibration.pedestal_counts,
            self.info.counts_per_ugy or 1.0,  # no dose calibration: relative log, no EI
            settings.resolve(preset),
            grid,
            self.config.dicom.target_exposure_index if target_ei is None else target_ei,
            bits=min(settings.bits, self.info.bits_stored),
            monochrome1=settings.monochrome1,
        )

    def exposure_index(self, presentation: Presentation) -> ExposureIndex | None:
        """Return the EI/DI both instances carry (None without a dose calibration).

        EI from the relevant region the processing found (IEC 62494-1), no longer a
        whole-image estimate.
        """
        if not self.info.counts_per_ugy:
            return None
        ei = max(round(presentation.ei, 1), 0.1)  # DS of one decimal; DI needs EI > 0
        return ExposureIndex(ei=ei, target_ei=presentation.target_ei)

    def build(
        self,
        image: Corrected,
        study: StudyContext,
        technique: Technique,
        presentation: Presentation | None = None,
    ) -> tuple[Dataset, Window]:
        """Build the DX For Presentation instance (compressed if set) and its window.

        The pixels are the processed image (``presentation``, or :meth:`present` with the
        default preset when None), with the window that spans its grey levels: the tone
        curve is in the pixels. Pixel Intensity Relationship LOG, its sign +1 for
        MONOCHROME1 values and -1 for MONOCHROME2.
        """
        dicom = self.config.dicom
        shown = self.present(image) if presentation is None else presentation
        window = Window(center=shown.window_center, width=shown.window_width)
        ds = build_dx_for_presentation(
            shown.pixels,
            study=study,
            technique=technique,
            detector=self.info,
            frame=image.frame.meta,
            provenance=self._provenance(image),
            window=window,
            exposure=self.exposure_index(shown),
            uid_root=dicom.uid_root,
            institution_name=dicom.institution_name,
            station_name=dicom.station_name,
            monochrome1=shown.monochrome1,
            pixel_intensity=("LOG", 1 if shown.monochrome1 else -1),
            window_explanation=f"PANELGATE {shown.preset.name.upper()} TONE SCALE",
        )
        compress_lossless(ds, dicom.compression)
        return ds, window

    def build_for_processing(
        self,
        image: Corrected,
        study: StudyContext,
        technique: Technique,
        presentation: Presentation,
    ) -> Dataset:
        """Build the DX For Processing instance: the corrected linear image, same EI/DI."""
        dicom = self.config.dicom
        ds = build_dx_for_processing(
            image.pixels,
            study=study,
            technique=technique,
            detector=self.info,
            frame=image.frame.meta,
            provenance=self._provenance(image),
            exposure=self.exposure_index(presentation),
            uid_root=dicom.uid_root,
            institution_name=dicom.institution_name,
            station_name=dicom.station_name,
            monochrome1=dicom.monochrome1,
        )
        compress_lossless(ds, dicom.compression)
        return ds

    def _provenance(self, image: Corrected) -> Provenance:
        return Provenance(
            calibration_set_id=image.calibration.set_id,
            calibration_utc=image.calibration.created_utc,
            pedestal_counts=image.calibration.pedestal_counts,
            software_version=self.software_version,
        )

    @staticmethod
    def write(ds: Dataset, directory: Path) -> Path:
        """Write the instance atomically to ``directory/<SOPInstanceUID>.dcm`` (mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return write_atomic(ds, directory / f"{ds.SOPInstanceUID}.dcm")

    def deliver(self, path: Path, destination: Destination) -> StoreResult:
        """C-STORE one file; the classified result is returned, delivery errors raised."""
        (result,) = store_files([path], destination)
        return result
