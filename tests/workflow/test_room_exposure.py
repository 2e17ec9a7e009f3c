"""An exposure through the simulated X-ray room, in every trigger mode, for every panel.

Issue 12: the dose reaches a simulated panel from the simulated generator's exposure (the
generator on a pty publishes its beam to the room; nothing in acquisition/ stands in for
it): the image shows the panel's step wedge, the generator saw one PREP and one EXP, and a
panel on another room gets no dose.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.config import Config, DetectorConfig, DicomConfig
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureRequest,
    ExposureResult,
    ExposureWorkflow,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.drivers.generator import GeneratorClient
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicom.build import DX_FOR_PROCESSING
from panelgate.gateway.outbox import Outbox
from panelgate.simulators import Irradiable, Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

SIZE = 128
FAST = GeneratorSpec(prep_s=0.05, time_scale=0.1)
REQUEST = ExposureRequest(
    kv=70, mas=1, study=StudyContext(patient_name="Doe^Jane", patient_id="P-R")
)
TIMEOUTS = WorkflowTimeouts(prep_s=2.0, exposure_margin_s=2.0, readout_s=5.0)


def _url(scheme: str, room: Path, trigger: TriggerMode) -> str:
    return (
        f"{scheme}?width={SIZE}&height={SIZE}&seed=2&room={room}&trigger={trigger.value}"
        "&phantom=wedge"
    )


def _wedge_steps(pixels: npt.NDArray[np.generic]) -> list[float]:
    """Mean of each of the ten steps of the step wedge (simulators.phantom's layout)."""
    h, w = pixels.shape
    margin_y, margin_x = h // 16, w // 16
    rows = slice(margin_y + 4, h // 2 - margin_y // 2 - 4)
    edges = np.linspace(margin_x, w - margin_x, 11).astype(int)
    return [float(pixels[rows, x0 + 2 : x1 - 2].mean()) for x0, x1 in itertools.pairwise(edges)]


def _assert_wedge(steps: list[float]) -> None:
    """Brighter through each thinner step: the wedge, not noise nor a flat field."""
    assert all(a > b for a, b in itertools.pairwise(steps)), f"not a step wedge: {steps}"


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(FAST, seed=3, room=Room(tmp_path / "room")) as sim:
        yield sim


def _run(
    url: str,
    generator: SimulatedGenerator,
    trigger: TriggerMode,
    out: Path,
    stages: list[tuple[str, float]] | None = None,
) -> tuple[ExposureResult, float]:
    """One exposure through the workflow; returns its result and the calibration pedestal.

    ``stages`` collects the stage timings the workflow reports (and a listener that raises
    is subscribed too: it must not fail the exposure).
    """
    config = Config(
        detector=DetectorConfig(exposure_s=0.02, frame_timeout_s=5.0),
        dicom=DicomConfig(send_for_processing=True),  # the linear image beside it
    )
    with open_detector(url) as det, GeneratorClient(generator.device_path, 0.5) as client:
        assert isinstance(det, Irradiable)
        pipeline = Pipeline(det, config, beam=det.irradiate)
        pipeline.configure(SIZE, SIZE)
        holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
        generator.model.commands.clear()
        # an outbox, as the station and the agent have: For Processing is queued there too
        outbox = Outbox(out / "outbox", ["pacs"])
        workflow = ExposureWorkflow(
            pipeline, client, holder, out, trigger=trigger, timeouts=TIMEOUTS, outbox=outbox
        )
        if stages is not None:
            workflow.subscribe_stages(lambda name, s: stages.append((name, s)))
            workflow.subscribe_stages(_broken_meter)
        return workflow.run(REQUEST), holder.calibration.pedestal_counts


def _broken_meter(name: str, seconds: float) -> None:
    raise RuntimeError("a meter that fails")


@pytest.mark.parametrize("trigger", list(TriggerMode), ids=lambda t: t.value)
@pytest.mark.parametrize("scheme", ["sim://", "usb://sim"])
def test_the_generators_beam_shows_the_wedge_in_every_trigger_mode(
    scheme: str, trigger: TriggerMode, generator: SimulatedGenerator, tmp_path: Path
) -> None:
    url = _url(scheme, tmp_path / "room", trigger)
    stages: list[tuple[str, float]] = []
    result, _ = _run(url, generator, trigger, tmp_path / "spool", stages)
    assert [name for name, _s in stages] == ["correction", "presentation", "build", "queue"]
    assert all(seconds >= 0 for _name, seconds in stages)
    commands = list(generator.model.commands)
    assert commands.count("PREP") == 1 and commands.count("EXP") == 1
    steps = _wedge_steps(pydicom.dcmread(result.spool_path).pixel_array)
    _assert_wedge(steps)


def test_a_panel_on_another_room_gets_no_dose(
    generator: SimulatedGenerator, tmp_path: Path
) -> None:
    _exposed, pedestal = _run(
        _url("sim://", tmp_path / "room", TriggerMode.SOFTWARE), generator,
        TriggerMode.SOFTWARE, tmp_path / "in",
    )  # fmt: skip
    _elsewhere, _ = _run(
        _url("sim://", tmp_path / "other", TriggerMode.SOFTWARE), generator,
        TriggerMode.SOFTWARE, tmp_path / "out",
    )  # fmt: skip
    assert generator.model.exposures == 2, "both exposures fired"
    signal = _linear_mean(tmp_path / "in") - pedestal
    stray = _linear_mean(tmp_path / "out") - pedestal
    assert signal > 0 and abs(stray) < 0.1 * signal, "the other room's panel stayed dark"


def _linear_mean(spool: Path) -> float:
    """Mean of the DX For Processing instance (the corrected linear image) queued there."""
    (found,) = [
        ds
        for ds in map(pydicom.dcmread, (spool / "outbox" / "objects").glob("*.dcm"))
        if ds.SOPClassUID == DX_FOR_PROCESSING
    ]
    return float(found.pixel_array.mean())


def test_room_is_only_for_the_simulated_generator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main([
        "expose", "--detector", "sim://?width=64&height=64", "--generator", "/dev/null",
        "--room", str(tmp_path), "--patient-id", "P", "--patient-name", "A", "--kv", "70",
        "--mas", "1", "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "--room is for --generator sim" in err and len(err.splitlines()) == 1
