"""The gateway's configuration sections: typed, validated, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelgate.acquisition import ConfigError, load_config
from panelgate.acquisition.agent import destinations_of
from panelgate.acquisition.config import Config, PacsConfig
from panelgate.gateway.outbox import RetryPolicy


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return load_config(path)


def test_gateway_sections_are_read_into_typed_objects(tmp_path: Path, pem: dict[str, Path]) -> None:
    config = _load(
        tmp_path,
        f"""
[dicom]
calling_ae = "DR1"
compression = "jpeg-ls"
[outbox]
directory = "/tmp/x"
reserve_mb = 200
retention_s = 60
[retry]
initial_s = 2
max_attempts = 5
[listener]
port = 11112
allowed_calling_aes = ["ORTHANC", "PACS2"]
[destinations.main]
host = "10.0.0.5"
port = 4242
called_ae = "ORTHANC"
commitment = true
[destinations.archive]
port = 104
tls_ca_file = "{pem["ca"]}"
""",
    )
    assert config.outbox.reserve_bytes == 200_000_000
    assert config.retry.policy() == RetryPolicy(initial_s=2.0, max_attempts=5)
    assert config.listener is not None
    assert config.listener.allowed_calling_aes == ("ORTHANC", "PACS2")
    destinations = destinations_of(config)
    assert list(destinations) == ["archive", "main"]
    main = destinations["main"]
    assert (main.host, main.port, main.called_ae, main.calling_ae) == (
        "10.0.0.5",
        4242,
        "ORTHANC",
        "DR1",
    )
    assert main.commitment and main.tls is None
    assert destinations["archive"].tls is not None
    assert destinations["archive"].tls.ca_file == pem["ca"]


def test_pacs_section_alone_is_the_destination_named_pacs() -> None:
    config = Config(pacs=PacsConfig(host="127.0.0.1", port=4242, called_ae="ORTHANC"))
    (name,) = destinations_of(config)
    assert name == "pacs"
    with pytest.raises(ConfigError, match="no destination configured"):
        destinations_of(Config())


def test_every_gateway_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        _load(
            tmp_path,
            """
[dicom]
compression = "zip"
[retry]
initial_s = -1
[listener]
allowed_calling_aes = "ORTHANC"
[destinations.main]
prot = 4242
[destinations.other]
port = "104"
[destinations]
flat = 1
""",
        )
    message = str(excinfo.value)
    for expected in (
        "[dicom] compression must be one of",
        "[retry] initial_s must be positive",
        "[listener] allowed_calling_aes must be an array of strings",
        "unknown key [destinations.main] prot",
        "[destinations.other] port must be int",
        "[destinations.flat] must be a table",
    ):
        assert expected in message
