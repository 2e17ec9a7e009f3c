"""``panelgate expose --worklist``: patient and study from dcmtk's worklist SCP (IHE RAD-5)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.gateway.pacs import EmbeddedPacs
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

STATION_AE = "PANELGATE"  # the default calling AE title: the scheduled station


@pytest.fixture
def item(dx_worklist_item: Callable[..., str]) -> Callable[..., str]:
    """A worklist step scheduled for this station's AE."""
    return functools.partial(dx_worklist_item, station_ae=STATION_AE)


@pytest.fixture
def generator() -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=4) as sim:
        yield sim


def _expose(generator: SimulatedGenerator, out: Path, wl_port: int, *extra: str) -> list[str]:
    return [
        "expose", "--detector", "sim://?width=128&height=128", "--generator",
        generator.device_path, "--worklist", "--worklist-server", f"127.0.0.1:{wl_port}",
        "--worklist-ae", "WLAE", "--kv", "110", "--mas", "2", "--out", str(out),
        "--quick-calibration", *extra,
    ]  # fmt: skip


def test_the_scheduled_patient_and_study_go_into_the_image(
    worklist_scp, item, generator: SimulatedGenerator, tmp_path: Path, dciodvfy,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    port = worklist_scp([item("ACC42", "Test^Worklist", "WL-7", "1.2.826.0.1.3680043.8.498.42")])
    with EmbeddedPacs(tmp_path / "pacs") as pacs:
        rc = main(
            _expose(generator, tmp_path / "out", port,
                    "--pacs", f"127.0.0.1:{pacs.port}", "--called-ae", pacs.ae_title)
        )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    stored = tmp_path / "pacs" / f"{uid}.dcm"
    ds = pydicom.dcmread(stored)
    assert (str(ds.PatientName), ds.PatientID, ds.AccessionNumber) == (
        "Test^Worklist",
        "WL-7",
        "ACC42",
    )
    assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.8.498.42"
    (request,) = ds.RequestAttributesSequence
    assert (request.RequestedProcedureID, request.ScheduledProcedureStepID) == (
        "RP-ACC42",
        "SPS-ACC42",
    )
    errors, _ = dciodvfy(stored)
    assert errors == []


def test_several_steps_need_an_accession_and_the_chosen_one_is_used(
    worklist_scp, item, generator: SimulatedGenerator, tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    port = worklist_scp([
        item("ACC1", "One^Patient", "P-1", "1.2.826.0.1.3680043.8.498.1"),
        item("ACC2", "Two^Patient", "P-2", "1.2.826.0.1.3680043.8.498.2"),
    ])  # fmt: skip
    assert main(_expose(generator, tmp_path / "a", port)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--accession" in err[0] and "ACC1" in err[0] and "ACC2" in err[0]
    assert generator.model.exposures == 0, "nothing moved before the step was chosen"

    assert main(_expose(generator, tmp_path / "b", port, "--accession", "ACC2")) == 0
    out = capsys.readouterr().out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    ds = pydicom.dcmread(tmp_path / "b" / "outbox" / "objects" / f"{uid}.dcm")
    assert (ds.PatientID, ds.AccessionNumber) == ("P-2", "ACC2")


def test_nothing_scheduled_is_exit_1_with_a_clear_line(
    worklist_scp, item, generator: SimulatedGenerator, tmp_path: Path,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    port = worklist_scp([item("ACC1", "One^Patient", "P-1", "1.2.826.0.1.3680043.8.498.1")])
    assert main(_expose(generator, tmp_path, port, "--accession", "ACC9")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no DX step scheduled today" in err[0] and "ACC9" in err[0]
    assert generator.model.exposures == 0


def test_worklist_without_a_server_is_a_usage_error(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "expose", "--detector", "sim://?width=128&height=128", "--generator",
        generator.device_path, "--worklist", "--kv", "110", "--mas", "2", "--out", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--worklist needs a worklist SCP" in err[0]
