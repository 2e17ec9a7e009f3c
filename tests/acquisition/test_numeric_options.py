"""Bad numbers on the command line are refused by the option's type: one line naming it, exit 2.

Issue 11, section 2. ``nan`` and ``inf`` parse as floats in Python; a negative or zero
timeout, count or dose made it to the hardware before. Each case asserts exit status 2,
exactly one line on stderr, no traceback, the option named, and that nothing was made (no
calibration store, no output folder).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.commands.args import (
    finite_float,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    positive_seconds,
)

CAL = ["calibrate", "all", "--detector", "sim://?width=32&height=32", "--store", "{tmp}/store"]
GRAB = ["grab", "--detector", "sim://?width=32&height=32", "--out", "{tmp}/out"]
EXPOSE = ["expose", "--detector", "sim://", "--generator", "{tmp}/no-such-tty",
          "--patient-id", "1", "--patient-name", "Doe^Jane", "--out", "{tmp}/out"]  # fmt: skip

CASES = [
    pytest.param([*CAL, "--exposure-s", "-1"], "--exposure-s", id="cal-exposure-negative"),
    pytest.param([*CAL, "--exposure-s", "0"], "--exposure-s", id="cal-exposure-zero"),
    pytest.param([*CAL, "--exposure-s", "nan"], "--exposure-s", id="cal-exposure-nan"),
    pytest.param([*CAL, "--exposure-s", "inf"], "--exposure-s", id="cal-exposure-inf"),
    pytest.param([*CAL, "--frames", "0"], "--frames", id="cal-frames-zero"),
    pytest.param([*CAL, "--flood-frames", "-4"], "--flood-frames", id="cal-flood-frames"),
    pytest.param([*CAL, "--levels", "4,nan"], "--levels", id="cal-levels-nan"),
    pytest.param([*CAL, "--levels", "4,inf"], "--levels", id="cal-levels-inf"),
    pytest.param([*CAL, "--levels", "0,4"], "--levels", id="cal-levels-zero"),
    pytest.param([*CAL, "--levels", "-4,4"], "--levels", id="cal-levels-negative"),
    pytest.param([*CAL, "--levels", "8,4,16"], "--levels", id="cal-levels-decreasing"),
    pytest.param([*CAL, "--temp-c", "nan"], "--temp-c", id="cal-temp-nan"),
    pytest.param([*GRAB, "--timeout-s", "-1"], "--timeout-s", id="grab-timeout-negative"),
    pytest.param([*GRAB, "--timeout-s", "0"], "--timeout-s", id="grab-timeout-zero"),
    pytest.param([*GRAB, "--timeout-s", "nan"], "--timeout-s", id="grab-timeout-nan"),
    pytest.param([*GRAB, "--timeout-s", "inf"], "--timeout-s", id="grab-timeout-inf"),
    pytest.param([*GRAB, "--frames", "0"], "--frames", id="grab-frames-zero"),
    pytest.param([*GRAB, "--frames", "-2"], "--frames", id="grab-frames-negative"),
    pytest.param([*GRAB, "--dose", "-1"], "--dose", id="grab-dose-negative"),
    pytest.param([*GRAB, "--dose", "nan"], "--dose", id="grab-dose-nan"),
    pytest.param(["simulate", "generator", "--prep-s", "-1"], "--prep-s", id="gen-prep"),
    pytest.param(["simulate", "generator", "--prep-s", "nan"], "--prep-s", id="gen-prep-nan"),
    pytest.param(["simulate", "generator", "--seed", "-1"], "--seed", id="gen-seed"),
    pytest.param(["pacs", "--port", "70000", "--dir", "{tmp}/out"], "--port", id="pacs-port"),
    pytest.param([*EXPOSE, "--kv", "-70", "--mas", "2"], "--kv", id="expose-kv-negative"),
    pytest.param([*EXPOSE, "--kv", "nan", "--mas", "2"], "--kv", id="expose-kv-nan"),
    pytest.param([*EXPOSE, "--kv", "70", "--mas", "inf"], "--mas", id="expose-mas-inf"),
    pytest.param([*EXPOSE, "--kv", "70", "--mas", "2", "--ma", "-1"], "--ma", id="expose-ma"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "option"), CASES)
def test_a_bad_number_is_refused_naming_the_option(
    argv: list[str],
    option: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PANELGATE_HOME", str(tmp_path / "home"))
    status = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("panelgate: error: "), err
    assert option in lines[0], err
    assert list(tmp_path.iterdir()) == [], "nothing stored, no folder made"


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (positive_seconds, {"0.5": 0.5, "1e3": 1000.0}, ["0", "-1", "nan", "inf", "-inf", "x"]),
        (positive_float, {"70": 70.0}, ["0", "-0.1", "NaN", "Infinity", ""]),
        (non_negative_float, {"0": 0.0, "2.5": 2.5}, ["-1", "nan", "inf"]),
        (finite_float, {"-20": -20.0, "35.5": 35.5}, ["nan", "inf", "-inf", "warm"]),
        (positive_int, {"1": 1, "32": 32}, ["0", "-1", "1.5", "nan"]),
        (non_negative_int, {"0": 0, "7": 7}, ["-1", "x"]),
    ],
)
def test_the_types_accept_and_refuse(parse: object, good: dict[str, float], bad: list[str]) -> None:
    assert callable(parse)
    for text, value in good.items():
        assert parse(text) == value and math.isfinite(parse(text))
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text).replace("\\", "\\\\")):
            parse(text)
