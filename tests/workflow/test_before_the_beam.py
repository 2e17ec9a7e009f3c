"""No beam without an image: refusals before PREP, and nothing lost after the beam.

Driven through ``panelgate expose`` with the simulated generator on a pseudo-terminal:
the generator's own command log shows whether PREP or EXP ever reached it.
"""

from __future__ import annotations

import errno
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.workflow import ExposureWorkflow
from panelgate.drivers import DetectorTimeout
from panelgate.gateway.outbox import Outbox
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

URL = "sim://?width=128&height=128"


@pytest.fixture
def generator() -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=5) as sim:
        yield sim


def _expose(generator: SimulatedGenerator, out: Path, *extra: str, **patient: str) -> int:
    who = {"--patient-id": "P-1", "--patient-name": "Doe^Jane"}
    who.update({f"--{k.replace('_', '-')}": v for k, v in patient.items()})
    argv = ["expose", "--detector", URL, "--generator", generator.device_path, "--kv", "120",
            "--mas", "2", "--out", str(out), "--quick-calibration"]  # fmt: skip
    for option, value in who.items():
        argv += [option, value]
    return main([*argv, *extra])


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "panelgate.toml"
    path.write_text(text)
    return str(path)


REFUSED = [
    # (what, patient values, extra arguments, config text, exit status, words in the message)
    ("ID over LO's 64", {"patient_id": "P" * 65}, [], None, 2, ["--patient-id", "64"]),
    ("ID with the delimiter", {"patient_id": "P\\1"}, [], None, 2, ["--patient-id", "backslash"]),
    ("ID with a control code", {"patient_id": "P\n1"}, [], None, 2, ["--patient-id", "control"]),
    ("name of six components", {"patient_name": "A^B^C^D^E^F"}, [], None, 2, ["--patient-name"]),
    ("name with four groups", {"patient_name": "A=B=C=D"}, [], None, 2, ["--patient-name"]),
    ("name component over 64", {"patient_name": "D" * 65 + "^J"}, [], None, 2, ["--patient-name"]),
    ("unknown protocol", {}, ["--protocol", "TOE XY"], None, 2, ["unknown protocol"]),
    ("kV over the generator's range", {}, ["--kv", "160"], None, 2, ["160 kV"]),
    ("institution > 64", {}, [], f'[dicom]\ninstitution_name = "{"I" * 65}"', 2, ["institution"]),
    ("malformed UID root", {}, [], '[dicom]\nuid_root = "1.02.3."\n', 2, ["uid_root"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("patient", "extra", "config", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_refused_before_prep_the_generator_never_leaves_idle(
    patient: dict[str, str], extra: list[str], config: str | None, status: int,
    words: list[str], generator: SimulatedGenerator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    if config is not None:
        extra = [*extra, "--config", _config(tmp_path, config)]
    rc = _expose(generator, tmp_path / "out", *extra, **patient)
    err = capsys.readouterr().err
    assert rc == status, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert all(word in err for word in words), err
    assert "PREP" not in generator.model.commands and "EXP" not in generator.model.commands
    assert generator.model.state == "IDLE" and generator.model.exposures == 0


def test_an_output_folder_that_cannot_be_made_refuses_before_prep(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = _expose(generator, blocker / "out")
    err = capsys.readouterr().err
    assert rc in (1, 2) and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(blocker) in err
    assert "PREP" not in generator.model.commands and generator.model.exposures == 0


def _kept_folder(err: str) -> Path:
    return Path(err.rsplit(" kept in ", 1)[1].strip())


def test_a_fault_after_readout_keeps_the_image_and_says_the_patient_was_exposed(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:  # fmt: skip
    def disk_full(self: Outbox, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Outbox, "enqueue_dataset", disk_full)
    rc = _expose(generator, tmp_path / "out")
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("panelgate: error: the patient WAS exposed"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert generator.model.exposures == 1 and list(generator.model.commands).count("EXP") == 1
    kept = _kept_folder(err)
    assert kept.parent == tmp_path / "out" / "exposed"
    assert kept.stat().st_mode & 0o777 == 0o700
    image, record_file = kept / "image.dcm", kept / "exposure.json"
    for path in (image, record_file):
        assert path.stat().st_mode & 0o777 == 0o600, path
    ds = pydicom.dcmread(image)
    assert ds.PatientID == "P-1" and ds.Rows == 128
    assert ds.pixel_array.shape == (128, 128) and ds.pixel_array.max() > 0
    errors, _ = dciodvfy(image)
    assert errors == []
    record = json.loads(record_file.read_text())
    assert record["patient_exposed"] is True
    assert "No space left" in record["failure"]
    assert record["sop_instance_uid"] == ds.SOPInstanceUID
    assert 100 < record["delivered"]["kv"] < 140 and float(ds.KVP) == pytest.approx(
        record["delivered"]["kv"], abs=0.05
    )


def test_a_detector_that_sends_nothing_after_the_beam_keeps_the_record(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def no_frame(self: ExposureWorkflow, timeout_s: float) -> None:
        raise DetectorTimeout(f"no frame from the detector within {timeout_s:g} s")

    monkeypatch.setattr(ExposureWorkflow, "_read_frame", no_frame)
    rc = _expose(generator, tmp_path / "out")
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("panelgate: error: the patient WAS exposed"), err
    assert "no frame from the detector" in err and "no image was read out" in err
    record = json.loads((_kept_folder(err) / "exposure.json").read_text())
    assert record["frame"] is None and 100 < record["delivered"]["kv"] < 140


def test_ctrl_c_after_the_beam_secures_the_image_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGINT arrives while the generator exposes: the image is still read out and queued,
    # then the command stops (130) saying that the patient was exposed and where it is.
    def interrupt(delivered: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    with SimulatedGenerator(spec, seed=7, on_exposure=interrupt) as generator:
        rc = _expose(generator, tmp_path / "out")
    err = capsys.readouterr().err
    assert rc == 130, err
    lines = [line for line in err.strip().splitlines() if line.startswith("panelgate:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("panelgate: error: the patient WAS exposed")
    assert "queued in the outbox" in lines[0]
    queued = list((tmp_path / "out" / "outbox" / "objects").glob("*.dcm"))
    assert len(queued) == 1 and str(queued[0]) in lines[0]
    assert pydicom.dcmread(queued[0]).PatientID == "P-1"
