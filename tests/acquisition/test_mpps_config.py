"""``[mpps]`` (acquisition/mpps_config.py): typed and validated like ``[worklist]``."""

from __future__ import annotations

import pytest

from panelgate.acquisition.config import ConfigError, parse_config
from panelgate.acquisition.mpps_config import MppsConfig


def test_mpps_is_off_unless_configured_and_then_typed() -> None:
    assert parse_config({}).mpps is None
    mpps = parse_config(
        {"mpps": {"host": "ris.local", "port": 11112, "called_ae": "RIS", "retry_s": 2}}
    ).mpps
    assert mpps == MppsConfig(host="ris.local", port=11112, called_ae="RIS", retry_s=2.0)
    assert mpps.dimse_s == 30.0 and mpps.connect_s == 5.0


def test_every_bad_mpps_value_is_named_at_once() -> None:
    bad = {"port": 0, "called_ae": "A" * 17, "retry_s": -1, "host": "", "speed": 1}
    with pytest.raises(ConfigError) as caught:
        parse_config({"mpps": bad}, source="room.toml")
    message = str(caught.value)
    assert message.startswith("room.toml: ")
    for expected in (
        "[mpps] port must be 1-65535, got 0",
        "[mpps] called_ae",
        "[mpps] retry_s must be positive",
        "[mpps] host must not be empty",
        "unknown key [mpps] speed",
    ):
        assert expected in message, (expected, message)
