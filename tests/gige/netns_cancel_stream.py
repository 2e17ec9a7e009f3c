"""gige:// under the contract's cancellable read and stream, the workflow's read, grab's reconnect.

The test functions of tests/contract/test_cancel_and_stream.py run here unchanged over the
GigE driver and panelgate's GigE simulator (in-process, free port), with this module's
``panel`` and ``starve`` fixtures (starving = the simulator loses nearly every stream
packet). Then what only GigE counts: one exposure's read is one wait, so the driver's
``timeouts`` counter says 1 for a frame that never came (the workflow used to read in
0.1 s slices, each counted); and ``panelgate grab`` over a link that goes silent mid-frame
and comes back rebooted. Runs inside a loopback-only namespace (see conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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
    WorkflowTimeouts,
)
from panelgate.calibration import FrameAverager
from panelgate.drivers import Detector, DetectorState, PatientExposed, ReadoutMode
from panelgate.drivers.generator import GeneratorClient
from panelgate.drivers.gige import GigEDetector
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.gige import FaultPlan, GigESimulator, SimulatorConfig


def _contract_tests() -> dict[str, object]:
    path = Path(__file__).resolve().parents[1] / "contract" / "test_cancel_and_stream.py"
    spec = importlib.util.spec_from_file_location("detector_cancel_stream_contract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: obj for name, obj in vars(module).items() if name.startswith("test_")}


CONTRACT = _contract_tests()
globals().update(CONTRACT)  # the same tests, with the fixtures below

W, H = 64, 48
MODE = ReadoutMode(width=W, height=H, exposure_s=0.01)
STARVED = FaultPlan(loss_ratio=0.999)


@pytest.fixture
def simulator() -> Iterator[GigESimulator]:
    with GigESimulator(SimulatorConfig(port=0, width=W, height=H, serial="SN-42", seed=3)) as sim:
        yield sim


@pytest.fixture
def panel(simulator: GigESimulator) -> Iterator[Detector]:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}")
    det.connect()
    det.configure(MODE)
    yield det
    det.close()


@pytest.fixture
def starve(simulator: GigESimulator) -> object:
    def starve(on: bool) -> None:
        simulator.set_faults(STARVED if on else FaultPlan())

    return starve


# -- the workflow's read: one wait, one timeout ----------------------------------------------
@pytest.fixture
def workflow(panel: Detector, tmp_path: Path) -> Iterator[ExposureWorkflow]:
    """The exposure workflow over gige:// and the simulated generator on a pty."""
    pipeline = Pipeline(panel, Config(detector=DetectorConfig(exposure_s=0.01)))
    pipeline.configure(W, H)
    darks, floods = FrameAverager(), FrameAverager()
    for _ in range(2):  # no beam reaches this panel: a flat flood above its dark will do
        pixels = pipeline.expose(0.0).pixels
        darks.add(pixels)
        floods.add(np.minimum(pixels.astype(np.uint32) + 4000, 65535).astype(np.uint16))
    calibration = pipeline.calibrate(darks, floods, panel.status().temp_c)
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=2) as gen:
        with GeneratorClient(gen.device_path, timeout_s=0.5) as client:
            yield ExposureWorkflow(
                pipeline,
                client,
                CalibrationHolder(calibration),
                tmp_path / "spool",
                timeouts=WorkflowTimeouts(prep_s=1.0, exposure_margin_s=1.0, readout_s=1.0),
            )


REQUEST = ExposureRequest(
    kv=70, mas=2, study=StudyContext(patient_name="Doe^Jane", patient_id="PID-1"),
    protocol="CHEST PA",
)  # fmt: skip


def test_a_frame_that_never_comes_is_one_timeout_not_one_per_slice(
    workflow: ExposureWorkflow, panel: Detector, simulator: GigESimulator
) -> None:
    before = panel.counters()["timeouts"]
    simulator.set_faults(STARVED)
    with pytest.raises(PatientExposed, match=r"within 1 s of the exposure"):
        workflow.run(REQUEST)
    # readout_s = 1 s: the 0.1 s slices of the old workflow counted about 10 timeouts
    assert panel.counters()["timeouts"] - before == 1


def test_abort_during_readout_cancels_the_read_without_a_timeout(
    workflow: ExposureWorkflow, panel: Detector, simulator: GigESimulator
) -> None:
    workflow.timeouts = WorkflowTimeouts(prep_s=1.0, exposure_margin_s=1.0, readout_s=60.0)
    before = panel.counters()["timeouts"]

    def abort_in_readout(change: StateChange) -> None:
        if change.new is ExposureState.READOUT:
            threading.Timer(0.2, workflow.abort).start()

    workflow.subscribe(abort_in_readout)
    simulator.set_faults(STARVED)
    with pytest.raises(PatientExposed, match="aborted"):  # after the beam: the record is kept
        workflow.run(REQUEST)
    assert panel.counters()["timeouts"] == before  # cancelled, not timed out (60 s)


# -- grab over a link that goes away -----------------------------------------------------------
def test_grab_reconnects_after_the_panel_goes_silent_mid_frame(
    simulator: GigESimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # silent in the middle of its 3rd frame for 1 s, then back as if rebooted (no controller,
    # default registers): grab keeps frames 1-2, reconnects, re-applies its mode and --set
    # feature, and acquires the rest
    simulator.set_faults(FaultPlan(disconnect_after_frames=3, disconnect_s=1.0))
    url = f"gige://127.0.0.1:{simulator.port}"
    argv = ["grab", "--detector", url, "--frames", "5", "--set", "Width=32", "--json",
            "--set", "GevHeartbeatTimeout=600", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["reconnects"] == 1
    assert len(summary["frames"]) == 5 and summary["saved"]["frames"] == 5
    assert summary["mode"]["width"] == 32  # the reboot reset Width; grab set it again
    assert summary["features"]["GevHeartbeatTimeout"] == 600
    stack = np.load(tmp_path / "frames.npy")
    assert stack.shape == (5, H, 32)


def test_a_free_running_panel_streams_without_a_trigger_per_frame(panel: GigEDetector) -> None:
    # what benchmarks/bench_gige.py measures: TriggerMode Off, frames at the device's rate
    panel.set_feature("TriggerMode", "Off")
    panel.set_feature("AcquisitionFrameRate", 50.0)
    with panel.stream(5, timeout_s=5, policy="drop-oldest") as stream:
        ids = [frame.meta.frame_id for frame in stream]
        counters = stream.counters()
    assert len(ids) == 5 and ids == sorted(ids)
    assert counters.delivered + counters.dropped == counters.acquired == 5
    assert panel.status().state is DetectorState.IDLE
    panel.configure(MODE)  # triggered again
    panel.arm()
    panel.trigger()
    assert panel.read_frame(5).meta.frame_id > ids[-1]
