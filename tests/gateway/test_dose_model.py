"""The dose of one exposure (gateway/dicom/dose.py) and its attributes in the DX header."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    ExposureIndex,
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
    write_atomic,
)
from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput, event_dose
from panelgate.simulators.room import air_kerma_ugy


@pytest.mark.parametrize(
    ("kv", "mas", "sid_m"), [(80.0, 1.0, 1.0), (120.0, 2.0, 1.8), (60.0, 8.0, 1.15)]
)
def test_default_model_agrees_with_the_simulated_room(kv: float, mas: float, sid_m: float) -> None:
    """The room's beam and the reported dose come from the same tube-output model."""
    dose = event_dose(kv, mas, DoseGeometry(sid_mm=sid_m * 1000.0), TubeOutput())
    assert dose.detector_air_kerma_ugy == pytest.approx(air_kerma_ugy(kv, mas, sid_m), rel=1e-12)
    assert dose.dap_source == "model"


def test_dap_is_kerma_times_field_and_the_entrance_dose_follows_the_inverse_square() -> None:
    geometry = DoseGeometry(sid_mm=1800.0, field_width_mm=350.0, field_height_mm=430.0)
    dose = event_dose(120.0, 2.0, geometry, TubeOutput())
    kerma_ugy = 50.0 * (120.0 / 80.0) ** 2 * 2.0 / 1.8**2
    assert dose.dap_dgycm2 == pytest.approx(kerma_ugy * 35.0 * 43.0 / 1e5)
    assert dose.entrance_dose_mgy == pytest.approx(kerma_ugy * (1800 / 1500) ** 2 / 1000)
    assert dose.source_to_patient_mm == 1500.0 and dose.field_area_cm2 == pytest.approx(1505.0)
    assert dose.dap_gym2 == pytest.approx(dose.dap_dgycm2 * 1e-5)
    # a site's own tube: twice the output, kV^2.5
    mine = event_dose(120.0, 2.0, geometry, TubeOutput(100.0, 80.0, 2.5))
    assert mine.dap_dgycm2 / dose.dap_dgycm2 == pytest.approx(2 * 1.5**0.5)


def test_a_measured_dap_is_reported_and_the_kerma_derived_from_it() -> None:
    geometry = DoseGeometry()
    dose = event_dose(120.0, 2.0, geometry, TubeOutput(), measured_dap_dgycm2=1.5)
    assert dose.dap_dgycm2 == 1.5 and dose.dap_source == "generator"
    assert dose.detector_air_kerma_ugy * geometry.field_area_cm2 / 1e5 == pytest.approx(1.5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DoseGeometry(sid_mm=1000.0, entrance_to_detector_mm=1000.0),
        lambda: DoseGeometry(field_width_mm=0.0),
        lambda: TubeOutput(ugy_per_mas_at_1m=math.nan),
        lambda: event_dose(0.0, 1.0, DoseGeometry(), TubeOutput()),
        lambda: event_dose(80.0, -1.0, DoseGeometry(), TubeOutput()),
        lambda: event_dose(80.0, 1.0, DoseGeometry(), TubeOutput(), measured_dap_dgycm2=-2.0),
    ],
)
def test_impossible_values_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()


def test_dx_header_carries_the_dose_and_validates(
    tmp_path: Path, dciodvfy: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    pixels = np.random.default_rng(0).integers(100, 40000, (48, 64), dtype=np.uint16)
    dose = event_dose(120.0, 2.0, DoseGeometry(), TubeOutput())
    event_uid = pydicom.uid.generate_uid()
    ds = build_dx_for_presentation(
        pixels,
        study=StudyContext(patient_name="Doe^Jane", patient_id="P1"),
        technique=Technique(
            kvp=120.0,
            exposure_uas=2000.0,
            exposure_time_ms=10.0,
            irradiation_event_uid=event_uid,
            dose=dose,
        ),
        detector=DetectorInfo(
            serial="SN-7", model="M", manufacturer="Acme", firmware="1", pixel_pitch_mm=0.139
        ),
        frame=FrameMeta(1, 0.0, ReadoutMode(64, 48), "SN-7", 30.0),
        provenance=Provenance("abc", dt.datetime(2026, 1, 2, tzinfo=dt.UTC), 100.0, "0.1"),
        window=histogram_window(pixels),
        exposure=ExposureIndex(ei=380.0, target_ei=400.0),
    )
    path = write_atomic(ds, tmp_path / "dx.dcm")
    errors, _ = dciodvfy(path)
    assert errors == []
    back = pydicom.dcmread(path)
    assert back.IrradiationEventUID == event_uid
    assert float(back.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(
        dose.dap_dgycm2, rel=1e-5
    )
    assert float(back.EntranceDoseInmGy) == pytest.approx(dose.entrance_dose_mgy, rel=1e-5)
    assert float(back.DistanceSourceToDetector) == 1800.0
    assert float(back.DistanceSourceToPatient) == 1500.0
    assert int(back.RelativeXRayExposure) == 380
