"""``panelgate expose`` end to end: simulated generator on a pty, sim:// and usb://sim panels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.gateway.pacs import EmbeddedPacs
from panelgate.simulators import Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    with SimulatedGenerator(spec, seed=3, room=Room(tmp_path / "room")) as sim:
        yield sim


def _args(url: str, port: str, out: Path, *extra: str) -> list[str]:
    return [
        "expose", "--detector", url, "--generator", port, "--patient-id", "P-1",
        "--patient-name", "Doe^Jane", "--protocol", "CHEST PA", "--kv", "120", "--mas", "2",
        "--out", str(out), "--quick-calibration", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "trigger"),
    [
        ("sim://?width=256&height=256", "software"),
        ("usb://sim?width=256&height=256", "software"),
        ("usb://sim?width=256&height=256&trigger=aed&room={room}", "aed"),
    ],
)
def test_expose_shows_states_and_where_the_image_went(
    url: str, trigger: str, generator: SimulatedGenerator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = url.format(room=tmp_path / "room")  # an AED panel needs the generator's beam
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
    spooled = tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm"
    assert f"spool (outbox):   {spooled}" in out
    assert spooled.stat().st_mode & 0o077 == 0, "spool files are the agent user's only"
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
    assert not (tmp_path / "outbox" / "objects").exists() or not any(
        (tmp_path / "outbox" / "objects").iterdir()
    )


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


def test_full_outbox_refuses_the_exposure_before_anything_moves(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A reserve larger than any disk: the outbox cannot take another image.
    config = tmp_path / "panelgate.toml"
    config.write_text(f'[outbox]\ndirectory = "{tmp_path / "outbox"}"\nreserve_mb = 1e12\n')
    queued = tmp_path / "outbox" / "objects"
    rc = main(_args("sim://?width=256&height=256", generator.device_path, tmp_path / "out",
                    "--config", str(config)))  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "is full" in err and "new exposures are refused" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert generator.model.exposures == 0 and generator.model.kv == 80.0, "nothing moved"
    assert not queued.exists() or not any(queued.iterdir())


# pynetdicom leaves the socket of a refused connection to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_undelivered_image_stays_queued_with_the_reason(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    get_free_port,  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    # Nothing listens on the port: the exposure succeeds, the C-STORE does not, and the
    # image waits in the outbox as pending, to be retried by the agent.
    port = get_free_port()
    rc = main(_args("sim://?width=256&height=256", generator.device_path, tmp_path / "out",
                    "--pacs", f"127.0.0.1:{port}"))  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1, captured.out
    uid = next(
        line.split()[-1] for line in captured.out.splitlines() if line.startswith("SOP Instance")
    )
    assert "cannot reach PACS" in captured.err and "will be retried" in captured.err
    queue = tmp_path / "out" / "outbox" / "destinations" / f"ANY-SCP@127.0.0.1-{port}"
    assert (queue / "pending" / f"{uid}.json").exists()
    assert (tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm").exists()
