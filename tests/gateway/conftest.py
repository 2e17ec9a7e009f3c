"""Small DX instances for the gateway tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pydicom
import pytest

from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
)

INFO = DetectorInfo(
    serial="SN-7", model="M", manufacturer="Acme", firmware="1.2", pixel_pitch_mm=0.139
)
PROV = Provenance("abc123", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 100.0, "0.1.0")


def make_dx(seed: int = 0, size: int = 64, patient: str = "Doe^Jane") -> pydicom.Dataset:
    """A valid DX For Presentation dataset with seeded pixels."""
    pixels = np.random.default_rng(seed).integers(100, 40000, (size, size), dtype=np.uint16)
    meta = FrameMeta(
        frame_id=seed, t_mono_s=0.0, mode=ReadoutMode(size, size), serial="SN-7", temp_c=30.0
    )
    return build_dx_for_presentation(
        pixels,
        study=StudyContext(patient_name=patient, patient_id="PID-SECRET-1"),
        technique=Technique(kvp=81.0, exposure_uas=3200.0, exposure_time_ms=12.5),
        detector=INFO,
        frame=meta,
        provenance=PROV,
        window=histogram_window(pixels),
    )


@pytest.fixture
def dx() -> Callable[..., pydicom.Dataset]:
    """``dx(seed=0, size=64)`` builds a small DX For Presentation dataset."""
    return make_dx
