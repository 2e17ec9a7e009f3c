"""Typed configuration: every problem named, unknown keys never ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelgate.acquisition import ConfigError, load_config
from panelgate.acquisition.config import Config, DicomConfig, PacsConfig


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "panelgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file_is_read_into_frozen_sections(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            """
[detector]
url = "sim://?width=64&height=64"
exposure_s = 1          # an integer is accepted for a float
[calibration]
dark_frames = 8
[dicom]
uid_root = "1.2.826.0.1.99."
monochrome1 = true
[pacs]
host = "127.0.0.1"
port = 4242
called_ae = "ORTHANC"
""",
        )
    )
    assert config.detector.exposure_s == 1.0 and isinstance(config.detector.exposure_s, float)
    assert config.calibration.dark_frames == 8 and config.calibration.flood_frames == 16
    assert config.dicom == DicomConfig(uid_root="1.2.826.0.1.99.", monochrome1=True)
    assert config.pacs == PacsConfig(host="127.0.0.1", port=4242, called_ae="ORTHANC")
    with pytest.raises(AttributeError):
        config.dicom.uid_root = "x"  # type: ignore[misc]


def test_empty_file_gives_defaults_and_no_pacs(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == Config()
    assert Config().pacs is None


def test_all_problems_are_reported_together_with_file_section_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[detector]
urll = "sim://"
[calibration]
dark_frames = "many"
flood_frames = 0
[dicomm]
x = 1
""",
    )
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "unknown key [detector] urll" in message
    assert "[calibration] dark_frames must be int, got str 'many'" in message
    assert "[calibration] flood_frames must be positive" in message
    assert "unknown section [dicomm]" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[detector\nurl=1", "not valid TOML"),
        ("detector = 5", "[detector] must be a table"),
        ("[dicom]\nmonochrome1 = 1", "monochrome1 must be bool"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(_write(tmp_path, text))


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "absent.toml")
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
