"""A room without a generator link: arm, wait for the beam, read out (issue 12).

The technician sets the technique on the generator's console and fires with its hand
switch; the panel (AED) detects the beam; the image header carries the technique entered
for it. Here the "console" is an in-process simulated generator on the panel's room that
panelgate does not talk to.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.config import Config, DetectorConfig
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureRequest,
    ExposureState,
    ExposureWorkflow,
    StateChange,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.drivers.generator import Generator, ManualGenerator, TechniqueOutOfRange
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators import Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator

SIZE = 128
STUDY = StudyContext(patient_name="Doe^Jane", patient_id="P-N")


def _console(room: Path) -> InProcessGenerator:
    """The generator the technician drives by hand, not linked to panelgate."""
    gen = InProcessGenerator(GeneratorSpec(prep_s=0.02, time_scale=0.1), seed=9, room=Room(room))
    gen.set_technique(70, 1.0)
    return gen


def test_manual_generator_is_a_generator_that_reports_the_entered_technique() -> None:
    gen = ManualGenerator()
    assert isinstance(gen, Generator)
    with pytest.raises(TechniqueOutOfRange, match="160 kV"):
        gen.set_technique(160, 1.0)
    gen.set_technique(70, 2.0, 100.0)
    gen.prep()
    gen.wait_ready(0.1)
    gen.expose()
    delivered = gen.wait_done(0.1)
    assert (delivered.kv, delivered.mas, delivered.ma, delivered.ms) == (70, 2.0, 100.0, 20.0)


def test_aed_panel_takes_the_beam_fired_at_the_console(tmp_path: Path) -> None:
    room = tmp_path / "room"
    url = f"sim://?width={SIZE}&height={SIZE}&seed=2&room={room}&trigger=aed&phantom=wedge"
    console = _console(room)
    config = Config(detector=DetectorConfig(exposure_s=0.02, frame_timeout_s=5.0))
    with SimulatedDetector.from_url(url) as det:
        pipeline = Pipeline(det, config, beam=det.irradiate)
        pipeline.configure(SIZE, SIZE)
        holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
        workflow = ExposureWorkflow(
            pipeline, ManualGenerator(), holder, tmp_path / "spool", trigger=TriggerMode.AED,
            timeouts=WorkflowTimeouts(readout_s=30.0),
        )  # fmt: skip
        waiting = threading.Event()

        def on_change(change: StateChange) -> None:
            if change.new is ExposureState.READOUT:
                waiting.set()  # armed, and waiting for the beam

        workflow.subscribe(on_change)
        results = []
        runner = threading.Thread(
            target=lambda: results.append(workflow.run(ExposureRequest(66, 1.2, STUDY)))
        )
        runner.start()
        assert waiting.wait(30), "the workflow armed the panel and waits for the beam"
        console.prep()
        console.wait_ready(5.0)
        console.expose()  # the hand switch
        console.wait_done(5.0)
        runner.join(60)
    (result,) = results
    ds = pydicom.dcmread(result.spool_path)
    assert float(ds.KVP) == 66.0 and int(ds.ExposureInuAs) == 1200, "the entered technique"
    pixels = ds.pixel_array
    margin = SIZE // 16
    edges = np.linspace(margin, SIZE - margin, 11).astype(int)
    rows = slice(margin + 4, SIZE // 2 - margin // 2 - 4)
    steps = [float(pixels[rows, a + 2 : b - 2].mean()) for a, b in itertools.pairwise(edges)]
    assert all(a > b for a, b in itertools.pairwise(steps)), f"not the wedge: {steps}"


def test_no_generator_link_needs_aed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([
        "expose", "--detector", "sim://?width=64&height=64", "--generator", "none",
        "--trigger", "software", "--patient-id", "P", "--patient-name", "A", "--kv", "70",
        "--mas", "1", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "--generator none needs --trigger aed" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out" / "spool").exists()
