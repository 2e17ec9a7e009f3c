"""DX For Presentation instances: valid per dciodvfy, values checked against their VRs."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import (
    DX_FOR_PRESENTATION,
    ExposureIndex,
    Provenance,
    StudyContext,
    Technique,
    Window,
    build_dx_for_presentation,
    exposure_index,
    histogram_window,
    write_atomic,
)

INFO = DetectorInfo(
    serial="SN-7", model="M", manufacturer="Acme", firmware="1.2", pixel_pitch_mm=0.139
)
META = FrameMeta(frame_id=1, t_mono_s=0.0, mode=ReadoutMode(64, 48), serial="SN-7", temp_c=30.25)
PROV = Provenance("abc123", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 100.0, "0.1.0")


def _build(study: StudyContext | None = None, **kwargs: object) -> pydicom.Dataset:
    pixels = np.random.default_rng(0).integers(100, 40000, (48, 64), dtype=np.uint16)
    args: dict[str, object] = dict(
        study=study or StudyContext(patient_name="Doe^Jane", patient_id="P1"),
        technique=Technique(kvp=81.0, exposure_uas=3200.0, exposure_time_ms=12.5),
        detector=INFO,
        frame=META,
        provenance=PROV,
        window=histogram_window(pixels),
        exposure=ExposureIndex(ei=320.0, target_ei=400.0),
    )
    args.update(kwargs)
    return build_dx_for_presentation(pixels, **args)  # type: ignore[arg-type]


def test_instance_passes_dciodvfy_and_carries_the_acquisition(tmp_path: Path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    ds = _build()
    path = write_atomic(ds, tmp_path / "dx.dcm")
    errors, _warnings = dciodvfy(path)
    assert errors == []
    back = pydicom.dcmread(path)
    assert back.SOPClassUID == DX_FOR_PRESENTATION
    assert back.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert back.PresentationIntentType == "FOR PRESENTATION"
    assert float(back.KVP) == 81.0 and int(back.ExposureInuAs) == 3200
    assert float(back.DeviationIndex) == pytest.approx(10 * np.log10(320 / 400), abs=0.01)
    assert back.DetectorID == "SN-7" and float(back.DetectorTemperature) == pytest.approx(
        30.2, abs=0.1
    )
    assert [float(v) for v in back.ImagerPixelSpacing] == [0.139, 0.139]
    assert "abc123" in back.AcquisitionDeviceProcessingDescription
    assert back.DateOfLastDetectorCalibration == "20260102"
    np.testing.assert_array_equal(back.pixel_array, ds.pixel_array)


def test_monochrome1_with_inverse_and_utf8_names_validate(tmp_path: Path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    ds = _build(StudyContext(patient_name="Łukasiewicz^Jan", patient_id="P2"), monochrome1=True)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.PresentationLUTShape == "INVERSE"
    path = write_atomic(ds, tmp_path / "m1.dcm")
    errors, _ = dciodvfy(path)
    assert errors == []
    assert str(pydicom.dcmread(path).PatientName) == "Łukasiewicz^Jan"


def test_latin1_names_keep_iso_ir_100() -> None:
    assert (
        _build(StudyContext(patient_name="Müller^Jörg", patient_id="P3")).SpecificCharacterSet
        == "ISO_IR 100"
    )


@pytest.mark.parametrize(
    ("study", "message"),
    [
        (StudyContext(patient_name="A" * 70, patient_id="P"), "PatientName"),
        (
            StudyContext(patient_name="Doe", patient_id="P", patient_birth_date="19991332"),
            "PatientBirthDate",
        ),
        (StudyContext(patient_name="Doe", patient_id="P", patient_sex="female"), "PatientSex"),
        (StudyContext(patient_name="Doe", patient_id="P" * 65), "PatientID"),
    ],
)
def test_values_that_do_not_fit_their_vr_are_refused_before_writing(
    study: StudyContext, message: str
) -> None:
    with pytest.raises(DicomBuildError, match=message):
        _build(study)


@pytest.mark.parametrize("root", ["1.2.3", "1.02.3.", "a.b.", "1." * 25])
def test_bad_uid_roots_are_refused(root: str) -> None:
    with pytest.raises(DicomBuildError, match="UID root"):
        _build(uid_root=root)


def test_uids_come_from_the_configured_root() -> None:
    ds = _build(uid_root="1.2.826.0.1.99.")
    for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
        assert uid.startswith("1.2.826.0.1.99.") and len(uid) <= 64 and uid.is_valid
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_unknown_body_part_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(DicomBuildError, match="CHEST"):
        _build(technique=Technique(body_part="ELBOW"))


def test_atomic_write_is_private_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_atomic(_build(), tmp_path / "x.dcm")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["x.dcm"]


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    ds = _build()
    del ds.file_meta  # pydicom refuses to write a Part-10 file without file meta
    with pytest.raises(ValueError, match="encoding"):
        write_atomic(ds, tmp_path / "x.dcm")
    assert list(tmp_path.iterdir()) == []


def test_exposure_index_follows_iec_62494_1() -> None:
    image = np.full((90, 90), 100 + 2000 * 2.5, dtype=np.uint16)  # 2.5 µGy at 2000 counts/µGy
    ei = exposure_index(image, pedestal_counts=100, counts_per_ugy=2000, target_ei=250)
    assert ei.ei == pytest.approx(250.0)
    assert ei.deviation_index == pytest.approx(0.0)
    assert ExposureIndex(ei=500, target_ei=250).deviation_index == pytest.approx(3.01, abs=0.01)


def test_histogram_window_spans_the_image() -> None:
    pixels = np.arange(10000, dtype=np.uint16).reshape(100, 100)
    window = histogram_window(pixels, step=1)
    assert window.center == pytest.approx(5000, rel=0.01)
    assert window.width == pytest.approx(9900, rel=0.01)
    shown = Window(window.center, window.width).apply(pixels)
    assert shown.min() == 0 and shown.max() == 255
