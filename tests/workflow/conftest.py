"""A complete exposure rig: simulated panel(s) and generator on a pty in one X-ray room."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from panelgate.acquisition.config import Config, DetectorConfig
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureWorkflow,
    StateChange,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.calibration import warm_up
from panelgate.drivers import Detector
from panelgate.drivers.generator import GeneratorClient
from panelgate.simulators import PanelSpec, Room, SimulatedDetector, TriggerSource
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import SimulatedUsbPanel, U3VDeviceModel, open_usb_sim

SIZE = 256


def _sim_panel(room: Path) -> tuple[Detector, SimulatedDetector | U3VDeviceModel]:
    det = SimulatedDetector(
        PanelSpec(width=SIZE, height=SIZE, serial="SIM-WF"), seed=4, room=Room(room)
    )
    return det, det


def _usb_panel(room: Path) -> tuple[Detector, SimulatedDetector | U3VDeviceModel]:
    det = open_usb_sim(f"usb://sim?width={SIZE}&height={SIZE}&seed=4&serial=USB-WF&room={room}")
    return det, det.simulated_device


PANELS: dict[str, Callable[[Path], tuple[Detector, SimulatedDetector | U3VDeviceModel]]] = {
    "sim": _sim_panel,
    "usb-sim": _usb_panel,
}


@dataclass
class Rig:
    detector: Detector
    device: SimulatedDetector | U3VDeviceModel
    generator: SimulatedGenerator
    client: GeneratorClient
    workflow: ExposureWorkflow
    states: list[StateChange]
    out: Path

    def make_workflow(self, trigger: TriggerMode) -> ExposureWorkflow:
        """A workflow in ``trigger`` mode, the panel's trigger source set to match."""
        wf = self.workflow
        new = ExposureWorkflow(
            wf.pipeline,
            self.client,
            wf.calibration,
            wf.spool_dir,
            trigger=trigger,
            timeouts=wf.timeouts,
        )
        self.device.trigger_source = TriggerSource(trigger.value)
        new.subscribe(self.states.append)
        self.workflow = new
        return new


@pytest.fixture(scope="session", autouse=True)
def _warm_kernel() -> None:
    warm_up()


@pytest.fixture(params=sorted(PANELS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    room = tmp_path / "room"
    detector, device = PANELS[request.param](room)
    beam = (
        detector.irradiate if isinstance(detector, SimulatedDetector | SimulatedUsbPanel) else None
    )
    config = Config(detector=DetectorConfig(exposure_s=0.01, frame_timeout_s=5.0))
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    with SimulatedGenerator(spec, seed=2, room=Room(room)) as gen:
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
            states: list[StateChange] = []
            wf.subscribe(states.append)
            yield Rig(detector, device, gen, client, wf, states, tmp_path)
