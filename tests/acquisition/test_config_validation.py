"""A configuration is validated whole at load: every problem in one line, naming file, section, key.

Issue 11, section 2. Each case is run through the command line (``panelgate outbox list
--config FILE``): exit 2, one line on stderr, no traceback, the file, section and key named,
and nothing made (the outbox folder is not created).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from panelgate.acquisition import ConfigError, load_config
from panelgate.acquisition.cli import main
from panelgate.acquisition.config import DicomConfig, WorklistConfig
from panelgate.acquisition.gateway_config import DestinationConfig, RetryConfig

# (TOML body, what the message must say: "[section] key ...")
BAD = [
    ("[pacs]\nport = 0", "[pacs] port must be 1-65535, got 0"),
    ("[pacs]\nport = 65536", "[pacs] port must be 1-65535, got 65536"),
    ("[worklist]\nport = -1", "[worklist] port must be 1-65535"),
    ("[destinations.main]\nport = 0", "[destinations.main] port must be 1-65535"),
    ("[listener]\nport = 70000", "[listener] port must be 0-65535 (0: any free port)"),
    ("[pacs]\nhost = ''", "[pacs] host must not be empty"),
    ("[destinations.main]\nhost = '   '", "[destinations.main] host must not be empty"),
    ("[pacs]\nconnect_s = -1", "[pacs] connect_s must be positive, got -1.0"),
    ("[pacs]\ndimse_s = 0", "[pacs] dimse_s must be positive, got 0.0"),
    ("[destinations.main]\nacse_s = nan", "[destinations.main] acse_s must be a finite number"),
    ("[destinations.main]\nnetwork_s = inf", "[destinations.main] network_s must be a finite"),
    ("[destinations.main]\nmax_pdu = 0", "[destinations.main] max_pdu must be 1-4294967295"),
    ("[detector]\nexposure_s = -0.1", "[detector] exposure_s must be positive"),
    ("[detector]\nframe_timeout_s = nan", "[detector] frame_timeout_s must be a finite number"),
    ("[detector]\nurl = ''", "[detector] url must not be empty"),
    ("[calibration]\ndark_frames = 0", "[calibration] dark_frames must be positive"),
    ("[calibration]\nflood_air_kerma_ugy = -inf", "[calibration] flood_air_kerma_ugy must be a"),
    ("[calibration]\npedestal_counts = -1", "[calibration] pedestal_counts must be zero or more"),
    ("[outbox]\nreserve_mb = -5", "[outbox] reserve_mb must be zero or more, got -5.0"),
    ("[outbox]\npoll_s = 0", "[outbox] poll_s must be positive"),
    ("[outbox]\ncommit_timeout_s = inf", "[outbox] commit_timeout_s must be a finite number"),
    ("[outbox]\ndirectory = ''", "[outbox] directory must not be empty"),
    ("[dicom]\ncalling_ae = 'WAY-TOO-LONG-AE-TITLE'", "[dicom] calling_ae must be 1-16 characters"),
    ("[dicom]\ncalling_ae = 'A\\\\B'", "[dicom] calling_ae must not contain a backslash"),
    ("[dicom]\ncalling_ae = '    '", "[dicom] calling_ae must not be only spaces"),
    ("[dicom]\ncalling_ae = ''", "[dicom] calling_ae must be 1-16 characters, got 0"),
    ("[pacs]\ncalled_ae = \"PACS\\tX\"", "[pacs] called_ae must be printable ASCII"),
    ("[listener]\nae_title = ' LEAD'", "[listener] ae_title must not begin or end with spaces"),
    ("[listener]\nallowed_calling_aes = ['OK', 'B\\\\AD']", "[listener] allowed_calling_aes 'B"),
    ("[dicom]\nuid_root = '1.02.3.'", "[dicom] uid_root must not have components with a leading"),
    ("[dicom]\nuid_root = '1.2.x.'", "[dicom] uid_root must contain only digits and dots"),
    ("[dicom]\nuid_root = '1..2.'", "[dicom] uid_root must be dotted numbers"),
    ("[dicom]\nuid_root = '.1.2'", "[dicom] uid_root must be dotted numbers"),
    ("[dicom]\nuid_root = ''", "[dicom] uid_root must be dotted numbers"),
    ("[dicom]\nuid_root = '1.2.3333333333.4444444444.5555555555.66666'",
     "[dicom] uid_root must be at most 40 characters"),
    ("[dicom]\nstation_name = 'A STATION NAME LONGER THAN SH'",
     "[dicom] station_name must be at most 16 characters"),
    ("[dicom]\ntarget_exposure_index = 0", "[dicom] target_exposure_index must be positive"),
    ("[dicom]\ncompression = 'zip'", "[dicom] compression must be one of"),
    ("[retry]\ninitial_s = 0", "[retry] initial_s must be positive"),
    ("[retry]\nmax_s = nan", "[retry] max_s must be a finite number"),
    ("[retry]\ninitial_s = 10\nmax_s = 5", "[retry] max_s must be at least initial_s (10.0)"),
    ("[retry]\nmultiplier = 0.5", "[retry] multiplier must be at least 1"),
    ("[retry]\nmax_attempts = -1", "[retry] max_attempts must be zero or more"),
    ("[pacs]\nprot = 4242",
     "unknown key [pacs] prot (known: called_ae, connect_s, dimse_s, host, port)"),
    ("[retry]\ninital_s = 1", "unknown key [retry] inital_s (known: initial_s, max_attempts"),
    ("[destinations.main]\ncommitment = 'yes'", "[destinations.main] commitment must be bool"),
    ("[pacs]\nport = true", "[pacs] port must be int, got bool"),
    ("[outbox]\naudit_file = '{tmp}/no-such-folder/audit.jsonl'",
     "[outbox] audit_file '{tmp}/no-such-folder/audit.jsonl': folder"),
    ("[outbox]\naudit_file = '{tmp}/afile/audit.jsonl'", "'{tmp}/afile' is not a folder"),
    ("[outbox]\naudit_file = '{tmp}'", "[outbox] audit_file '{tmp}' is not a file"),
]  # fmt: skip


def _run(
    tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], Path]:
    outbox = tmp_path / "outbox"
    (tmp_path / "afile").write_text("a file, not a folder\n")
    path = tmp_path / "panelgate.toml"
    if "[destinations" not in body:  # outbox list needs a destination
        body = "[destinations.d]\nport = 4242\n" + body
    if "directory" not in body:  # keep the outbox (which must not be made) under tmp_path
        where = f"[outbox]\ndirectory = '{outbox}'"
        body = body.replace("[outbox]", where) if "[outbox]" in body else f"{where}\n{body}"
    path.write_text(body, encoding="utf-8")
    capsys.readouterr()
    status = main(["outbox", "list", "--config", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return status, err.strip().splitlines(), outbox


@pytest.mark.parametrize(("body", "message"), BAD)
def test_each_bad_value_is_refused_naming_file_section_and_key(
    tmp_path: Path, body: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body, message = body.format(tmp=tmp_path), message.format(tmp=tmp_path)
    status, lines, outbox = _run(tmp_path, body, capsys)
    assert status == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"panelgate: error: {tmp_path / 'panelgate.toml'}: "), lines
    assert message in lines[0], lines
    assert not outbox.exists(), "refused before anything was made"


def test_five_different_problems_are_reported_together_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = f"""
[outbox]
reserve_mb = -1
audit_file = "{tmp_path}/missing/audit.jsonl"
[pacs]
port = 0
prot = 1
[dicom]
uid_root = "1.02"
calling_ae = "WAY-TOO-LONG-AE-TITLE"
[retry]
initial_s = 5
max_s = 1
[listener]
tls_ca_file = "{tmp_path}/ca.pem"
"""
    status, lines, outbox = _run(tmp_path, body, capsys)
    assert status == 2 and len(lines) == 1, lines
    for expected in (
        "[outbox] reserve_mb must be zero or more",
        "[outbox] audit_file",
        "[pacs] port must be 1-65535",
        "unknown key [pacs] prot",
        "[dicom] uid_root must not have components with a leading zero",
        "[dicom] calling_ae must be 1-16 characters",
        "[retry] max_s must be at least initial_s",
        f"[listener] tls_ca_file '{tmp_path}/ca.pem': no such file",
        "[listener] tls_cert_file is needed",
    ):
        assert expected in lines[0], (expected, lines[0])
    assert lines[0].count("; ") == 8, "nine problems, joined with '; '"
    assert not outbox.exists()


# -- TLS files are loaded with the ssl module ----------------------------------------------


def _tls_cases(pem: dict[str, Path], tmp: Path) -> list[tuple[str, str]]:
    ca, cert, key, other, junk = (
        pem["ca"],
        pem["cert"],
        pem["key"],
        pem["other_key"],
        pem["garbage"],
    )
    return [
        (f"tls_ca_file = '{tmp}/none.pem'", f"[destinations.d] tls_ca_file '{tmp}/none.pem': no "),
        (f"tls_ca_file = '{tmp}'", f"[destinations.d] tls_ca_file '{tmp}': not a file"),
        (f"tls_ca_file = '{junk}'", "[destinations.d] tls_ca_file"),
        (f"tls_ca_file = '{ca}'\ntls_cert_file = '{junk}'\ntls_key_file = '{key}'",
         f"[destinations.d] tls_cert_file '{junk}' holds no PEM certificate"),
        (f"tls_ca_file = '{ca}'\ntls_cert_file = '{cert}'\ntls_key_file = '{other}'",
         f"[destinations.d] tls_key_file '{other}' is not the key of tls_cert_file"),
        (f"tls_ca_file = '{ca}'\ntls_cert_file = '{cert}'\ntls_key_file = '{junk}'",
         f"[destinations.d] tls_key_file '{junk}' holds no usable PEM private key"),
        (f"tls_cert_file = '{cert}'\ntls_key_file = '{key}'",
         "[destinations.d] tls_ca_file is needed with tls_cert_file"),
        (f"tls_ca_file = '{ca}'\ntls_key_file = '{key}'",
         "[destinations.d] tls_cert_file is needed with tls_key_file"),
    ]  # fmt: skip


def test_tls_files_must_exist_load_and_match(
    tmp_path: Path, pem: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for keys, message in _tls_cases(pem, tmp_path):
        body = f"[destinations.d]\nport = 4242\n{keys}\n"
        status, lines, _ = _run(tmp_path, body, capsys)
        assert status == 2 and len(lines) == 1, (keys, lines)
        assert message in lines[0], (message, lines[0])


def test_a_tls_listener_needs_its_certificate_and_key(
    tmp_path: Path, pem: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, _ = _run(tmp_path, f"[listener]\ntls_ca_file = '{pem['ca']}'\n", capsys)
    assert status == 2 and len(lines) == 1
    assert "[listener] tls_cert_file is needed: a TLS listener presents" in lines[0]


def test_valid_tls_files_load(tmp_path: Path, pem: dict[str, Path]) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        f"[listener]\ntls_ca_file = '{pem['ca']}'\ntls_cert_file = '{pem['cert']}'\n"
        f"tls_key_file = '{pem['key']}'\n[destinations.d]\nport = 4242\n"
        f"tls_ca_file = '{pem['ca']}'\n"
    )
    config = load_config(path)
    assert config.listener is not None and config.listener.tls() is not None
    assert config.destinations["d"].tls_ca_file == str(pem["ca"])


# -- values that are valid, and the value objects in code -------------------------------------


def test_zero_has_a_meaning_where_documented(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        "[listener]\nport = 0\n[outbox]\nreserve_mb = 0\nretention_s = 0\n"
        "[retry]\nmax_attempts = 0\nmultiplier = 1\ninitial_s = 2\nmax_s = 2\n"
        "[dicom]\nuid_root = '1.2.826.0.1'\n"
    )
    config = load_config(path)
    assert config.listener is not None and config.listener.port == 0
    assert config.outbox.reserve_mb == 0.0 and config.retry.max_attempts == 0


@pytest.mark.parametrize("root", ["1.2.826.0.1", "1.2.826.0.1."])
def test_a_uid_root_is_kept_ending_in_a_dot_either_way(tmp_path: Path, root: str) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(f"[dicom]\nuid_root = '{root}'\n")
    assert load_config(path).dicom.uid_root == "1.2.826.0.1."
    assert DicomConfig(uid_root=root) == DicomConfig(uid_root="1.2.826.0.1.")


def test_a_uid_root_of_exactly_40_characters_is_accepted() -> None:
    root = "1.2." + "3" * 35 + "."
    assert len(root) == 40
    assert DicomConfig(uid_root=root).uid_root == root
    with pytest.raises(ConfigError, match="at most 40 characters"):
        DicomConfig(uid_root="1.2." + "3" * 36 + ".")


def test_sections_made_in_code_validate_themselves() -> None:
    with pytest.raises(ConfigError) as excinfo:
        DestinationConfig(port=0, connect_s=math.nan, called_ae="")
    message = str(excinfo.value)
    assert message.startswith("DestinationConfig: ")
    for key in ("port", "called_ae", "connect_s"):
        assert key in message
    with pytest.raises(ConfigError, match="max_s must be at least initial_s"):
        RetryConfig(initial_s=3.0, max_s=2.0)
    assert WorklistConfig().dimse_s == 30.0, "the worklist keeps its own default"


def test_an_audit_folder_on_a_read_only_file_system_is_refused(
    tmp_path: Path, mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Root may write anywhere it has permission bits for; a read-only mount it may not.
    ro = mount("ro", ro=True)
    status, lines, outbox = _run(tmp_path, f"[outbox]\naudit_file = '{ro}/audit.jsonl'", capsys)
    assert status == 2 and len(lines) == 1, lines
    assert f"[outbox] audit_file '{ro}/audit.jsonl': '{ro}' is not writable" in lines[0]
    assert not outbox.exists()
