"""A complete exposure rig: simulated panel(s), simulated generator on a pty, workflow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from panelgate.acquisition.config import Config, DetectorConfig
from panelgate.acquisition.pipeline import Beam, Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureWorkflow,
    PanelBeam,
    StateChange,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.calibration import warm_up
from panelgate.drivers import Detector
from panelgate.drivers.generator import GeneratorClient
from panelgate.simulators import PanelSpec, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import open_usb_sim

SIZE = 256


def _sim_panel() -> tuple[Detector, Beam, object]:
    det = SimulatedDetector(PanelSpec(width=SIZE, height=SIZE, serial="SIM-WF"), seed=4)
    return det, det.irradiate, det


def _usb_panel() -> tuple[Detector, Beam, object]:
    det = open_usb_sim(f"usb://sim?width={SIZE}&height={SIZE}&seed=4&serial=USB-WF")
    device = det.simulated_device  # type: ignore[attr-defined]
    return det, device.irradiate, device


PANELS: dict[str, Callable[[], tuple[Detector, Beam, object]]] = {
    "sim": _sim_panel,
    "usb-sim": _usb_panel,
}


@dataclass
class Rig:
    detector: Detector
    device: object
    generator: SimulatedGenerator
    client: GeneratorClient
    workflow: ExposureWorkflow
    states: list[StateChange]
    out: Path

    def make_workflow(self, trigger: TriggerMode) -> ExposureWorkflow:
        wf = self.workflow
        new = ExposureWorkflow(
            wf.pipeline,
            self.client,
            wf.calibration,
            wf.spool_dir,
            trigger=trigger,
            timeouts=wf.timeouts,
        )
        self.generator.model.on_exposure = PanelBeam(wf.pipeline.beam, self.detector, trigger)
        new.subscribe(self.states.append)
        self.workflow = new
        return new


@pytest.fixture(scope="session", autouse=True)
def _warm_kernel() -> None:
    warm_up()


@pytest.fixture(params=sorted(PANELS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    detector, beam, device = PANELS[request.param]()
    config = Config(detector=DetectorConfig(exposure_s=0.01, frame_timeout_s=5.0))
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=2) as gen:
        with detector, GeneratorClient(gen.device_path, timeout_s=0.5) as client:
            pipeline = Pipeline(detector, config, beam=beam)
            pipeline.configure(SIZE, SIZE)
            holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
            wf = ExposureWorkflow(
                pipeline,
                client,
                holder,
                tmp_path / "spool",
                timeouts=WorkflowTimeouts(prep_s=1.0, exposure_margin_s=1.0, readout_s=2.0),
            )
            gen.model.on_exposure = PanelBeam(beam, detector, TriggerMode.SOFTWARE)
            states: list[StateChange] = []
            wf.subscribe(states.append)
            yield Rig(detector, device, gen, client, wf, states, tmp_path)
