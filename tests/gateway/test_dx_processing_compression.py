"""DX For Processing next to For Presentation, and lossless compression: dciodvfy-clean."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import (
    DX_FOR_PRESENTATION,
    DX_FOR_PROCESSING,
    LOSSLESS,
    ExposureIndex,
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    build_dx_for_processing,
    compress_lossless,
    histogram_window,
    write_atomic,
)

INFO = DetectorInfo(
    serial="SN-7", model="M", manufacturer="Acme", firmware="1.2", pixel_pitch_mm=0.139
)
PIXELS = np.random.default_rng(5).integers(100, 16000, (96, 80), dtype=np.uint16)


def _build(intent: str) -> pydicom.Dataset:
    common: dict[str, object] = dict(
        study=StudyContext(patient_name="Doe^Jane", patient_id="P1"),
        technique=Technique(kvp=81.0, exposure_uas=3200.0, exposure_time_ms=12.5),
        detector=INFO,
        frame=FrameMeta(
            frame_id=1, t_mono_s=0.0, mode=ReadoutMode(80, 96), serial="SN-7", temp_c=31.0
        ),
        provenance=Provenance("abc", dt.datetime(2026, 1, 2, tzinfo=dt.UTC), 100.0, "0.1.0"),
        exposure=ExposureIndex(ei=320.0, target_ei=400.0),
    )
    if intent == "presentation":
        return build_dx_for_presentation(PIXELS, window=histogram_window(PIXELS), **common)  # type: ignore[arg-type]
    return build_dx_for_processing(PIXELS, **common)  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", ["", *sorted(LOSSLESS)])
@pytest.mark.parametrize("intent", ["presentation", "processing"])
def test_both_sop_classes_pass_dciodvfy_with_and_without_compression(
    tmp_path: Path,
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
    intent: str,
    compression: str,
) -> None:
    ds = _build(intent)
    uid = ds.SOPInstanceUID
    compress_lossless(ds, compression)
    path = write_atomic(ds, tmp_path / "dx.dcm")
    errors, _warnings = dciodvfy(path)
    assert errors == [], "\n".join(errors)
    back = pydicom.dcmread(path)
    assert back.SOPInstanceUID == uid  # compression keeps the instance's identity
    assert np.array_equal(back.pixel_array, PIXELS)  # lossless, bit for bit
    assert back.LossyImageCompression == "00"
    if compression:
        assert back.file_meta.TransferSyntaxUID == LOSSLESS[compression][0]
    if intent == "processing":
        assert back.SOPClassUID == DX_FOR_PROCESSING
        assert back.PresentationIntentType == "FOR PROCESSING"
        assert "WindowCenter" not in back and "VOILUTFunction" not in back
    else:
        assert back.SOPClassUID == DX_FOR_PRESENTATION and "WindowCenter" in back


def test_unknown_compression_is_a_build_error() -> None:
    with pytest.raises(DicomBuildError, match="unknown compression 'zip'"):
        compress_lossless(_build("processing"), "zip")
