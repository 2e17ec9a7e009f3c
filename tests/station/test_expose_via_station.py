"""``panelgate expose --station URL``: the command line drives a running station's API.

The station runs as ``panelgate station`` (a subprocess, the fixtures of this folder's
conftest) with a simulated generator on a pty in the test process, so the test reads the
generator's own command log; the command runs in-process through ``main``.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pydicom

from panelgate.acquisition.cli import main
from panelgate.simulators.generator import SimulatedGenerator

TOKEN = "a-station-token-of-enough-length"


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def test_a_manual_exposure_through_the_station_shows_its_states_and_lists_the_image(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    token = _token_file(tmp_path)
    config = helpers.config(tmp_path, generator.device_path, station={"api_token_file": str(token)})
    station = start_station(config)
    argv = ["expose", "--station", station.url, "--patient-id", "P-CLI", "--patient-name",
            "Cli^Station", "--protocol", "CHEST PA", "--kv", "90", "--mas", "1"]  # fmt: skip

    assert main(argv) == 2, "without the token the station refuses, nothing moves"
    refused = capsys.readouterr()
    assert len(refused.err.splitlines()) == 1 and "--station-token-file" in refused.err
    assert generator.model.exposures == 0

    assert main([*argv, "--station-token-file", str(token)]) == 0
    out = capsys.readouterr().out
    states = re.findall(r"^  ([A-Z]+)\b", out, flags=re.MULTILINE)
    assert states[:6] == ["PREPARING", "READY", "EXPOSING", "READOUT", "PROCESSING", "QUEUED"]
    (uid,) = re.findall(r"^SOP Instance UID: ([0-9.]+)$", out, flags=re.MULTILINE)
    assert "review pending" in out
    assert generator.model.exposures == 1

    with station.client() as api:
        api.headers["Authorization"] = f"Bearer {TOKEN}"
        (image,) = api.get("/api/images").json()
    assert (image["sop_instance_uid"], image["review"]) == (uid, "pending")
    assert (tmp_path / "state" / "images" / "held" / f"{uid}.dcm").is_file()
    assert station.signal(signal.SIGTERM) == 0


def test_a_65_character_patient_id_is_one_line_exit_2_and_the_generator_saw_no_prep(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    argv = ["expose", "--station", station.url, "--patient-id", "P" * 65,
            "--patient-name", "Long^Id", "--kv", "90", "--mas", "1"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "patient.id" in err and "64" in err
    assert "PREP" not in generator.model.commands and generator.model.exposures == 0
    with station.client() as api:
        assert api.get("/api/images").json() == []


def test_station_with_device_options_is_refused_and_an_unreachable_station_is_one_line(
    get_free_port, capsys
) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{get_free_port()}"  # nobody listens there
    patient = ["--patient-id", "P1", "--patient-name", "A^B", "--kv", "80", "--mas", "1"]
    assert main(["expose", "--station", url, "--detector", "sim://", *patient]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--detector" in err and "Traceback" not in err

    assert main(["expose", "--station", url, *patient]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "cannot be reached" in err

    assert main(["expose", *patient]) == 2, "standalone still needs its devices"
    assert "--detector" in capsys.readouterr().err


def test_a_worklist_exposure_through_the_station_takes_the_scheduled_patient(
    worklist_scp, generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    study_uid = "1.2.826.0.1.3680043.8.498.4343"
    port = worklist_scp([helpers.item("ACC43", "Work^List", "WL-9", study_uid)])
    station = start_station(helpers.config(tmp_path, generator.device_path, worklist_port=port))
    base = ["expose", "--station", station.url, "--worklist", "--kv", "80", "--mas", "1"]
    assert main(base) == 2, "the station's worklist step is named by its accession"
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert main([*base, "--accession", "NOPE"]) == 2, "no such step: the station refuses"
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert generator.model.exposures == 0

    assert main([*base, "--accession", "ACC43"]) == 0
    (uid,) = re.findall(r"^SOP Instance UID: ([0-9.]+)$", capsys.readouterr().out, re.MULTILINE)
    held = pydicom.dcmread(tmp_path / "state" / "images" / "held" / f"{uid}.dcm")
    assert (held.PatientID, held.AccessionNumber) == ("WL-9", "ACC43")
    assert held.StudyInstanceUID == study_uid
