"""No silent dark image: a trigger mode that is not the panel's trigger source is refused.

Issue 12: a simulated panel whose own trigger source (``trigger=``, ``aed=1``) differs
from the workflow's ``--trigger`` used to read a dark image without any error. Each panel
declares its source (:class:`~panelgate.drivers.ReportsTriggerSource`); the exposure is
refused before PREP with one line naming both (exit 2), and the generator on its pty never
sees PREP (its own command log).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.workflow import ExposureRequest, ExposureState, TriggerMode
from panelgate.drivers import (
    DetectorState,
    ReportsTriggerSource,
    TriggerSource,
    UsageError,
)
from panelgate.drivers.gige.detector import GigEConfig, GigEDetector
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators import Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import open_usb_sim

from .conftest import Rig

MISMATCHES = [
    (panel, mode)
    for panel, mode in itertools.product(TriggerSource, TriggerMode)
    if panel.value != mode.value
]
"""Every (panel's trigger source, workflow's trigger mode) pair that would read a dark image."""


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    with SimulatedGenerator(spec, seed=3, room=Room(tmp_path / "room")) as sim:
        yield sim


@pytest.mark.parametrize("scheme", ["sim://", "usb://sim"])
@pytest.mark.parametrize(
    ("source", "mode"), MISMATCHES, ids=[f"panel-{p.value}-x-{m.value}" for p, m in MISMATCHES]
)
def test_expose_refuses_a_trigger_mode_that_is_not_the_panels_before_prep(
    scheme: str, source: TriggerSource, mode: TriggerMode, generator: SimulatedGenerator,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = f"{scheme}?width=64&height=64&room={tmp_path / 'room'}&trigger={source.value}"
    rc = main([
        "expose", "--detector", url, "--generator", generator.device_path,
        "--trigger", mode.value, "--patient-id", "P-1", "--patient-name", "Doe^Jane",
        "--kv", "70", "--mas", "1", "--out", str(tmp_path / "out"), "--quick-calibration",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"the panel's trigger source is {source.value}" in lines[0]
    assert f"the exposure's trigger mode is {mode.value}" in lines[0]
    assert "PREP" not in generator.model.commands and "EXP" not in generator.model.commands
    assert generator.model.exposures == 0
    assert not list((tmp_path / "out").glob("outbox/objects/*.dcm"))


def test_the_workflow_refuses_before_arming_and_stays_idle(rig: Rig) -> None:
    rig.device.trigger_source = TriggerSource.AED  # the workflow runs in software mode
    rig.generator.model.commands.clear()
    request = ExposureRequest(70, 1, StudyContext(patient_name="Doe^Jane", patient_id="P-T"))
    with pytest.raises(UsageError, match=r"trigger source is aed .* trigger mode is software"):
        rig.workflow.run(request)
    sent = list(rig.generator.model.commands)
    assert all(c.endswith("?") for c in sent), f"only questions (ranges, settings): {sent}"
    assert rig.workflow.state is ExposureState.IDLE and rig.states == []
    assert rig.detector.status().state is DetectorState.IDLE, "the panel was never armed"
    rig.device.trigger_source = TriggerSource.SOFTWARE
    result = rig.workflow.run(request)  # matched again: the same workflow exposes
    assert result.spool_path.exists() and rig.generator.model.exposures == 1


def test_every_simulated_panel_and_the_gige_driver_declare_their_trigger_source(
    tmp_path: Path,
) -> None:
    sim = SimulatedDetector.from_url("sim://?width=64&height=64&aed=1")
    usb = open_usb_sim("usb://sim?width=64&height=64&trigger=generator")
    assert isinstance(sim, ReportsTriggerSource) and sim.trigger_source is TriggerSource.AED
    assert isinstance(usb, ReportsTriggerSource)
    assert usb.trigger_source is TriggerSource.GENERATOR
    gige = GigEDetector(GigEConfig("127.0.0.1"))
    assert isinstance(gige, ReportsTriggerSource)
    assert gige.trigger_source is None, "not configured: the panel has not said"
