"""Simulated exposures for the processing tests: a calibrated panel and its corrected images.

The panel (:class:`panelgate.simulators.PanelModel`) is calibrated as a detector would be,
from dark and flood frames; the phantom, the collimation and the air kerma are known, so
the field, the EI and the image-quality figures can be checked against the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.calibration import CalibrationSet, FrameAverager, correct
from panelgate.calibration.build import FloodLevel, build_calibration
from panelgate.calibration.dark import DarkAccumulator
from panelgate.simulators import PanelModel, PanelSpec

SIZE = 384


@dataclass
class Panel:
    """A calibrated simulated panel."""

    model: PanelModel
    calibration: CalibrationSet

    def expose(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.uint16]:
        """Read one exposure (a dark read first clears the lag) and correct it."""
        self.model.read(0.0)
        raw = self.model.read(air_kerma_ugy, transmission)
        return correct(raw, self.calibration, full_scale=self.model.spec.full_scale)

    @property
    def counts_per_ugy(self) -> float:
        return self.model.spec.counts_per_ugy


def calibrated_panel(size: int = SIZE, seed: int = 11, mtf_sigma_px: float = 0.0) -> Panel:
    """Calibrate a panel from 8 darks and 8 floods at 8 µGy."""
    spec = PanelSpec(width=size, height=size, mtf_sigma_px=mtf_sigma_px)
    model = PanelModel(spec, seed=seed)
    darks = DarkAccumulator()
    for _ in range(8):
        darks.add(model.read(), temp_c=spec.temp_ref_c)
    model.read(8.0)
    floods = FrameAverager()
    for _ in range(8):
        floods.add(model.read(8.0))
    calibration = build_calibration(
        darks.result("mode"),
        [FloodLevel(8.0, floods.mean(), floods.count)],
        serial=spec.serial,
        full_scale=spec.full_scale,
    )
    return Panel(model, calibration)


def collimate(
    transmission: npt.NDArray[np.float32], box: tuple[int, int, int, int], scatter: float = 0.0
) -> npt.NDArray[np.float32]:
    """Shade all but rows ``top:bottom`` and columns ``left:right`` (``scatter`` gets through)."""
    top, bottom, left, right = box
    shaded = np.full_like(transmission, scatter)
    shaded[top:bottom, left:right] = transmission[top:bottom, left:right]
    return shaded


@pytest.fixture(scope="session")
def panel() -> Panel:
    return calibrated_panel()


@pytest.fixture(scope="session")
def make_panel() -> Callable[..., Panel]:
    return calibrated_panel


@pytest.fixture(scope="session")
def shade() -> Callable[..., npt.NDArray[np.float32]]:
    return collimate
