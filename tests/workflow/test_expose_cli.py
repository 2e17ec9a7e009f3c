"""``panelgate expose`` end to end: simulated generator on a pty, sim:// and usb://sim panels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.gateway.pacs import EmbeddedPacs
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator


@pytest.fixture
def generator() -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=3) as sim:
        yield sim


def _args(url: str, port: str, out: Path, *extra: str) -> list[str]:
    return [
        "expose", "--detector", url, "--generator", port, "--patient-id", "P-1",
        "--patient-name", "Doe^Jane", "--protocol", "CHEST PA", "--kv", "120", "--mas", "2",
        "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "trigger"),
    [
        ("sim://?width=256&height=256", "software"),
        ("usb://sim?width=256&height=256", "software"),
        ("usb://sim?width=256&height=256", "aed"),
    ],
)
def test_expose_shows_states_and_where_the_image_went(
    url: str, trigger: str, generator: SimulatedGenerator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with EmbeddedPacs(tmp_path / "pacs") as pacs:
        pacs_args = ["--pacs", f"127.0.0.1:{pacs.port}", "--called-ae", pacs.ae_title]
        rc = main(
            _args(url, generator.device_path, tmp_path / "out", "--trigger", trigger, *pacs_args)
        )
    out = capsys.readouterr().out
    assert rc == 0, out
    states = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert states == ["PREPARING", "READY", "EXPOSING", "READOUT", "PROCESSING", "QUEUED"]
    assert "quick calibration" in out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    assert (tmp_path / "out" / "spool" / f"{uid}.dcm").exists()
    assert (tmp_path / "out" / "preview" / f"{uid}.png").exists()
    assert "stored in" in out
    ds = pydicom.dcmread(tmp_path / "pacs" / f"{uid}.dcm")
    assert 110 < float(ds.KVP) < 130 and ds.PatientID == "P-1"
    assert generator.model.exposures == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kv", "160"], "tube voltage 160 kV is outside the generator's range 40-150 kV"),
        (["--mas", "0.001"], "mAs"),
        (["--protocol", "TOE XY"], "unknown protocol"),
        (["--worklist"], "not both"),
    ],
)
def test_unsafe_or_wrong_values_refused_before_anything_moves(
    extra: list[str], message: str, generator: SimulatedGenerator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    rc = main(_args("sim://?width=256&height=256", generator.device_path, tmp_path, *extra))
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert generator.model.state == "IDLE" and generator.model.exposures == 0
    assert generator.model.kv == 80.0, "nothing was set on the generator"
    assert not (tmp_path / "spool").exists()


def test_missing_patient_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["expose", "--detector", "sim://", "--generator", "/dev/null", "--kv", "120",
               "--mas", "2"])  # fmt: skip
    assert rc == 2 and "--patient-id" in capsys.readouterr().err


def test_absent_generator_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(_args("sim://?width=256&height=256", "/nonexistent/tty", tmp_path))
    err = capsys.readouterr().err
    assert rc == 1 and "cannot open generator port /nonexistent/tty" in err
