"""Both DX instances of a processed exposure, for every preset (issue 14 acceptance).

The pipeline of a simulated panel corrects a collimated chest exposure, processes it with
each preset and builds the For Presentation (processed pixels) and For Processing (the
corrected linear image) instances: dciodvfy reports no Error line on either, both carry
the same EI, Target EI and DI, and the For Presentation window spans the processed grey
levels. The preview PNG is made from the processed image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from panelgate.acquisition import Config
from panelgate.acquisition.exposure import quick_calibration
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.preview import write_preview
from panelgate.gateway.dicom import StudyContext, Technique
from panelgate.processing import PRESETS
from panelgate.simulators import SimulatedDetector
from panelgate.simulators.phantom import chest

SIZE = 256


@pytest.fixture(scope="module")
def exposure():  # type: ignore[no-untyped-def]
    with SimulatedDetector.from_url(f"sim://?width={SIZE}&height={SIZE}") as detector:
        pipeline = Pipeline(detector, Config(), beam=detector.irradiate)
        pipeline.configure(SIZE, SIZE)
        calibration = quick_calibration(pipeline, frames=2)
        phantom = np.zeros((SIZE, SIZE), np.float32)
        phantom[20:236, 12:240] = chest(SIZE, SIZE)[20:236, 12:240]
        frame = pipeline.expose(12.0, phantom)
        yield pipeline, pipeline.correct(frame, calibration)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_both_instances_validate_and_carry_the_same_exposure_index(  # type: ignore[no-untyped-def]
    exposure, dciodvfy, tmp_path: Path, name: str
) -> None:
    pipeline, image = exposure
    study = StudyContext(patient_name="Doe^Jane", patient_id="P-14")
    technique = Technique(kvp=120.0, exposure_uas=2000.0, exposure_time_ms=5.0)
    shown = pipeline.present(image, preset=name)
    ds, window = pipeline.build(image, study, technique, shown)
    linear = pipeline.build_for_processing(image, study, technique, shown)
    for instance in (ds, linear):
        path = pipeline.write(instance, tmp_path)
        errors, _ = dciodvfy(path)
        assert errors == [], (instance.PresentationIntentType, errors)
    assert ds.PresentationIntentType == "FOR PRESENTATION"
    assert linear.PresentationIntentType == "FOR PROCESSING"
    for keyword in ("ExposureIndex", "TargetExposureIndex", "DeviationIndex"):
        assert ds[keyword].value == linear[keyword].value
    assert float(ds.ExposureIndex) == pytest.approx(shown.ei, abs=0.05)
    np.testing.assert_array_equal(linear.pixel_array, image.pixels)
    np.testing.assert_array_equal(ds.pixel_array, shown.pixels)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert ds.PresentationLUTShape == "INVERSE"
    assert (window.center - window.width / 2, window.center + window.width / 2) == (0, 4096)
    assert ds.PixelIntensityRelationship == "LOG"
    assert name.upper() in ds.WindowCenterWidthExplanation


def test_preview_is_the_processed_image_bone_bright(exposure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline, image = exposure
    shown = pipeline.present(image)
    _, window = pipeline.build(
        image, StudyContext(patient_name="Doe^Jane", patient_id="P-14"), Technique(), shown
    )
    path = write_preview(shown.pixels, window, tmp_path / "p.png", invert=shown.monochrome1)
    grey = np.asarray(Image.open(path))
    field = shown.field
    # MONOCHROME1 shown inverted: the black surround outside the field, the spine (the
    # densest column, low dose) brighter than the lungs (high dose)
    assert grey[: field.top].max() == 0
    centre_row = grey[SIZE // 2]
    spine = centre_row[SIZE // 2 - 4 : SIZE // 2 + 4].mean()
    lung = centre_row[int(SIZE * 0.3) - 4 : int(SIZE * 0.3) + 4].mean()
    assert spine > lung + 40


def test_an_unknown_preset_is_refused(exposure) -> None:  # type: ignore[no-untyped-def]
    pipeline, image = exposure
    with pytest.raises(ValueError, match="unknown processing preset 'knee'"):
        pipeline.present(image, preset="knee")


def test_the_protocol_chooses_preset_grid_and_target(exposure) -> None:  # type: ignore[no-untyped-def]
    pipeline, image = exposure
    shown = pipeline.present(image, "extremity", True, 250.0)
    assert shown.preset == PRESETS["extremity"]
    assert shown.target_ei == 250.0
    assert shown.deviation_index == pytest.approx(10 * np.log10(shown.ei / 250.0))
    default = pipeline.present(image)
    assert default.preset == PRESETS["chest"] and default.target_ei == 400.0
