"""Acceptance of issue 5: usb://sim + simulated generator on a pty → valid DX in the PACS.

Faults on either link end in a clear error and a known state, and the next exposure works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.workflow import ExposureRequest, ExposureState
from panelgate.drivers import DetectorState, PatientExposed, TransportError
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.pacs import Destination, EmbeddedPacs, Outcome
from panelgate.simulators.usb import U3VDeviceModel, UsbFault

from .conftest import Rig

REQUEST = ExposureRequest(
    kv=120, mas=2, study=StudyContext(patient_name="Doe^Jane", patient_id="PID-7")
)


pytestmark = pytest.mark.parametrize("rig", ["usb-sim"], indirect=True)


@pytest.fixture
def usb_rig(rig: Rig) -> Rig:
    assert isinstance(rig.device, U3VDeviceModel)
    return rig


def test_exposure_over_usb_sim_lands_valid_in_the_pacs(
    usb_rig: Rig, tmp_path: Path, dciodvfy: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    result = usb_rig.workflow.run(REQUEST)
    with EmbeddedPacs(tmp_path / "pacs") as pacs:
        dest = Destination("127.0.0.1", pacs.port, called_ae=pacs.ae_title)
        stored = usb_rig.workflow.pipeline.deliver(result.spool_path, dest)
    assert stored.outcome is Outcome.SUCCESS
    in_pacs = tmp_path / "pacs" / f"{result.sop_instance_uid}.dcm"
    ds = pydicom.dcmread(in_pacs)
    assert float(ds.KVP) == pytest.approx(result.delivered.kv, abs=0.05)
    assert int(ds.ExposureInuAs) == round(result.delivered.mas * 1000)
    assert float(ds.ExposureTimeInuS) == pytest.approx(result.delivered.ms * 1000, abs=1)
    assert ds.DetectorID == "USB-WF"
    errors, _ = dciodvfy(in_pacs)
    assert errors == []


def test_usb_fault_before_the_beam_refuses_with_the_generator_idle(usb_rig: Rig) -> None:
    # The control endpoint stalls the next command: the pre-exposure check reads the panel.
    device = usb_rig.device
    assert isinstance(device, U3VDeviceModel)
    device.fault = UsbFault.STALL
    with pytest.raises(TransportError):
        usb_rig.workflow.run(REQUEST)
    assert usb_rig.generator.model.exposures == 0 and usb_rig.generator.model.state == "IDLE"
    assert usb_rig.workflow.state is ExposureState.IDLE
    assert usb_rig.workflow.run(REQUEST).spool_path.exists()


@pytest.mark.parametrize("fault", [UsbFault.SHORT, UsbFault.HALT])
def test_usb_fault_ends_idle_and_next_exposure_works(usb_rig: Rig, fault: UsbFault) -> None:
    device = usb_rig.device
    assert isinstance(device, U3VDeviceModel)
    device.fault = fault
    with pytest.raises(PatientExposed, match=r"^the patient WAS exposed") as failed:
        usb_rig.workflow.run(REQUEST)
    assert isinstance(failed.value.__cause__, TransportError)
    assert failed.value.kept is not None and (failed.value.kept / "exposure.json").exists()
    assert usb_rig.workflow.state is ExposureState.IDLE
    assert usb_rig.generator.model.state == "IDLE"
    assert usb_rig.detector.status().state is DetectorState.IDLE
    assert usb_rig.workflow.run(REQUEST).spool_path.exists()


def test_unplug_mid_frame_ends_idle_and_replug_recovers(usb_rig: Rig) -> None:
    device = usb_rig.device
    assert isinstance(device, U3VDeviceModel)
    device.fault = UsbFault.UNPLUG_MID_FRAME
    with pytest.raises(PatientExposed, match="gone"):
        usb_rig.workflow.run(REQUEST)
    assert usb_rig.workflow.state is ExposureState.IDLE
    assert usb_rig.generator.model.state == "IDLE"
    device.plugged = True
    det = usb_rig.detector
    det.close()
    det.connect()
    usb_rig.workflow.pipeline.configure(256, 256)
    assert usb_rig.workflow.run(REQUEST).spool_path.exists()
