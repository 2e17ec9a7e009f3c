"""The calibration lifecycle of an exposure (issue 12), with the generator on a pty.

The simulated generator and panels stand in one X-ray room (its beam reaches them).

``panelgate calibrate all`` stores a set; ``panelgate expose`` applies the newest valid
stored set of the panel's serial number and readout mode (no quick calibration), refuses
before PREP when the gain and defect maps expired, and takes a fresh dark by itself when
the dark is stale. The generator's own command log shows whether PREP or EXP reached it.
Old sets are built through the API with an injected clock, never by editing files.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pydicom
import pytest

from panelgate.acquisition.calibration_lifecycle import (
    CalibrationHolder,
    select_calibration,
    validity_rules,
)
from panelgate.acquisition.calrun import measure_floods
from panelgate.acquisition.cli import main
from panelgate.acquisition.commands.expose_calibration import obtain_calibration
from panelgate.acquisition.config import CalibrationConfig, Config
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import ExposureRequest, ExposureWorkflow
from panelgate.calibration import (
    CalibrationNotFound,
    CalibrationSet,
    CalibrationStore,
    DarkAccumulator,
    build_calibration,
)
from panelgate.drivers import Detector
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.outbox import Outbox
from panelgate.simulators import Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import SimulatedUsbPanel

from .conftest import SIZE, Rig

SIM = "sim://?width=256&height=256&seed=3&serial=LC-SIM&room={room}"
USB = "usb://sim?width=256&height=256&seed=3&serial=LC-USB&room={room}"
DAYS_AGO_40 = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    with SimulatedGenerator(spec, seed=3, room=Room(tmp_path / "room")) as sim:
        yield sim


def _url(template: str, tmp_path: Path) -> str:
    return template.format(room=tmp_path / "room")


def _expose(url: str, generator: SimulatedGenerator, tmp_path: Path, *extra: str) -> int:
    return main([
        "expose", "--detector", _url(url, tmp_path), "--generator", generator.device_path,
        "--patient-id", "P-1", "--patient-name", "Doe^Jane", "--kv", "120", "--mas", "2",
        "--out", str(tmp_path / "out"), "--store", str(tmp_path / "store"), *extra,
    ])  # fmt: skip


def _calibrate_api(url: str, tmp_path: Path, created_utc: dt.datetime | None = None) -> str:
    """Measure a set on the simulated panel through the API, dated ``created_utc``."""
    detector: Detector = open_detector(_url(url, tmp_path))
    assert isinstance(detector, SimulatedDetector | SimulatedUsbPanel)
    with detector:
        info = detector.info
        pipeline = Pipeline(detector, Config(), beam=detector.irradiate)
        mode = pipeline.configure(info.sensor_width_px, info.sensor_height_px)
        darks = DarkAccumulator()
        for _ in range(4):
            frame = pipeline.expose(0.0)
            darks.add(frame.pixels, frame.meta.temp_c)
        floods = measure_floods(pipeline.expose, (8.0,), 4)
        calset = build_calibration(
            darks.result(mode.key, now_utc=created_utc), floods, serial=info.serial,
            full_scale=2**info.bits_stored - 1,
        )  # fmt: skip
    CalibrationStore(tmp_path / "store").save(calset)
    return calset.set_id


def _calibrate_cli(url: str, tmp_path: Path) -> str:
    argv = ["calibrate", "all", "--detector", _url(url, tmp_path), "--frames", "4"]
    assert main([*argv, "--flood-frames", "4", "--store", str(tmp_path / "store")]) == 0
    return CalibrationStore(tmp_path / "store").sets()[0].set_id  # the newest


def _calibrate(url: str, tmp_path: Path) -> str:
    # On the command line for sim://; through the API (floods by hand) for usb://sim.
    if url.startswith("sim:"):
        return _calibrate_cli(url, tmp_path)
    return _calibrate_api(url, tmp_path)


def _sent(generator: SimulatedGenerator, name: str) -> int:
    return list(generator.model.commands).count(name)


def _image(tmp_path: Path, out: str) -> pydicom.Dataset:
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    return pydicom.dcmread(tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm")


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "panelgate.toml"
    outbox = f'[outbox]\ndirectory = "{tmp_path / "out" / "outbox"}"\n'
    path.write_text(outbox + "[calibration]\n" + text)
    return str(path)


@pytest.mark.parametrize("url", [SIM, USB])
def test_expose_applies_the_stored_set_without_a_quick_calibration(
    url: str, generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_id = _calibrate(url, tmp_path)
    capsys.readouterr()
    rc = _expose(url, generator, tmp_path)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"calibration: set {set_id}, valid" in out
    assert "quick calibration" not in out and "fresh dark" not in out
    ds = _image(tmp_path, out)
    assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {set_id}")
    stored = CalibrationStore(tmp_path / "store").load(set_id)
    when = stored.created_utc.astimezone()
    assert (ds.DateOfLastDetectorCalibration, ds.TimeOfLastDetectorCalibration) == (
        when.strftime("%Y%m%d"),
        when.strftime("%H%M%S"),
    )
    assert (_sent(generator, "PREP"), _sent(generator, "EXP")) == (1, 1)
    assert len(CalibrationStore(tmp_path / "store").sets()) == 1, "nothing new was stored"


def test_no_stored_set_is_refused_before_prep_naming_the_command_that_fixes_it(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = _expose(USB, generator, tmp_path)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "no calibration for detector 'LC-USB'" in err
    fix = f"run: panelgate calibrate all --detector '{_url(USB, tmp_path)}' --exposure-s 0.1"
    assert f"{fix} --store {tmp_path / 'store'}" in err
    assert _sent(generator, "PREP") == 0 and generator.model.exposures == 0


def test_an_expired_set_is_refused_before_prep_naming_the_fix(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_id = _calibrate_api(SIM, tmp_path, created_utc=DAYS_AGO_40)
    rc = _expose(SIM, generator, tmp_path)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"the newest, {set_id}, is expired (gain and defect maps 40.0 days old" in err
    assert f"run: panelgate calibrate all --detector '{_url(SIM, tmp_path)}'" in err
    assert _sent(generator, "PREP") == 0 and _sent(generator, "EXP") == 0
    assert not (tmp_path / "out" / "outbox" / "objects").exists() or not any(
        (tmp_path / "out" / "outbox" / "objects").iterdir()
    )


def test_a_tiny_configured_gain_lifetime_expires_a_fresh_set(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _calibrate_cli(SIM, tmp_path)
    config = _config(tmp_path, "gain_max_age_days = 1e-9\n")  # 86 µs
    rc = _expose(SIM, generator, tmp_path, "--config", config)
    err = capsys.readouterr().err
    assert rc == 2 and "expired" in err and "panelgate calibrate all" in err, err
    assert _sent(generator, "PREP") == 0


def test_a_stale_dark_is_refreshed_before_the_exposure_and_stored_as_a_derived_set(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = _calibrate(USB, tmp_path)
    config = _config(tmp_path, "dark_max_age_s = 0\nrefresh_dark_frames = 3\n")  # always stale
    capsys.readouterr()
    rc = _expose(USB, generator, tmp_path, "--config", config)
    out = capsys.readouterr().out
    assert rc == 0, out
    store = CalibrationStore(tmp_path / "store")
    [child] = [s for s in store.sets() if s.set_id != parent]
    assert child.derived_from == parent and child.n_dark == 3
    assert "fresh dark: 3 darks" in out
    assert f"set {child.set_id} (gain and defects kept from {parent}), stored in" in out
    assert "PREPARING" in out and "fresh dark" in out.split("PREPARING", 1)[1].splitlines()[0]
    ds = _image(tmp_path, out)
    assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {child.set_id}")
    loaded, original = store.load(child.set_id), store.load(parent)
    assert loaded.gain_utc == original.gain_utc and loaded.created_utc > original.created_utc
    assert (_sent(generator, "PREP"), _sent(generator, "EXP")) == (1, 1)


# -- the same rules for every caller of the workflow (API) -----------------------------------
REQUEST = ExposureRequest(120, 2, StudyContext(patient_name="Doe^Jane", patient_id="P-1"))


def test_the_workflow_refuses_an_expired_set_before_prep(rig: Rig) -> None:
    wf = rig.workflow
    old = wf.calibration.calibration
    wf.calibration.calibration = dataclasses.replace(
        old, created_utc=DAYS_AGO_40, gain_created_utc=DAYS_AGO_40
    )
    with pytest.raises(CalibrationNotFound, match="is expired") as refused:
        wf.run(REQUEST)
    assert refused.value.exit_status == 2
    assert "panelgate calibrate all --detector" in str(refused.value)
    assert _sent(rig.generator, "PREP") == 0 and rig.generator.model.exposures == 0
    wf.calibration.calibration = old
    assert wf.run(REQUEST).fresh_dark is False, "the current set is used again"


def test_holder_judges_the_dark_by_its_clock_and_refreshes_it(rig: Rig, tmp_path: Path) -> None:
    cal: CalibrationSet = rig.workflow.calibration.calibration
    now = [cal.created_utc]
    store = CalibrationStore(tmp_path / "store")
    store.save(cal)
    rules = validity_rules(CalibrationConfig(dark_max_age_s=600))
    holder = CalibrationHolder(
        cal, dark_frames=2, rules=rules, now_utc=lambda: now[0], store=store,
        panel_temp_c=lambda: rig.detector.status().temp_c,
    )  # fmt: skip
    now[0] += dt.timedelta(minutes=9)
    assert not holder.is_stale()
    now[0] += dt.timedelta(minutes=2)
    assert holder.is_stale() and "dark 660 s old" in str(holder.validity())
    holder.refresh_dark(rig.workflow.pipeline)
    fresh = holder.calibration
    assert fresh.created_utc == now[0] and fresh.gain_utc == cal.gain_utc
    assert fresh.n_dark == 2 and fresh.set_id != cal.set_id and not holder.is_stale()
    assert store.describe(fresh.set_id).derived_from == cal.set_id


def test_a_store_that_cannot_be_written_keeps_the_fresh_dark_in_memory(
    rig: Rig, mount, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    cal: CalibrationSet = rig.workflow.calibration.calibration
    read_only = CalibrationStore(mount("ro", ro=True))
    said: list[str] = []
    holder = CalibrationHolder(cal, 0.0, 2, store=read_only, report=said.append)
    holder.refresh_dark(rig.workflow.pipeline)
    assert holder.calibration.set_id != cal.set_id and holder.refreshes == 1
    assert "kept in memory (not stored" in said[0]
    assert "kept in memory only" in caplog.text


def test_quick_calibration_is_refused_on_a_panel_that_is_not_simulated(rig: Rig) -> None:
    args = argparse.Namespace(quick_calibration=True, detector="gige://192.0.2.7", store=None)
    with pytest.raises(UsageError, match="--quick-calibration needs a simulated panel") as no:
        obtain_calibration(args, Config(), rig.workflow.pipeline, simulated=False)
    assert no.value.exit_status == 2
    assert _sent(rig.generator, "PREP") == 0


def test_stored_set_exposures_reach_the_outbox_and_say_how_long_it_took(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rig's quick set stands for a stored one: stored, then selected like expose does.
    store = CalibrationStore(tmp_path / "store")
    store.save(rig.workflow.calibration.calibration)
    pipeline = rig.workflow.pipeline
    rules = validity_rules(pipeline.config.calibration)
    chosen = select_calibration(
        store, serial=pipeline.info.serial, mode=rig.detector.mode,
        temp_c=rig.detector.status().temp_c, rules=rules, fix="(fix)",
    )  # fmt: skip
    outbox = Outbox(tmp_path / "outbox", ["pacs"])
    wf = ExposureWorkflow(
        pipeline, rig.client, CalibrationHolder(chosen, rules=rules), tmp_path / "spool",
        timeouts=rig.workflow.timeouts, outbox=outbox,
    )  # fmt: skip
    seconds = []
    for _ in range(5):
        result = wf.run(REQUEST)
        assert result.fresh_dark is False
        ds = pydicom.dcmread(outbox.object_path(result.sop_instance_uid))
        assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {chosen.set_id}")
        seconds.append(result.done_to_queued_s)
    assert rig.generator.model.exposures == 5
    with capsys.disabled():  # a figure for the record, not an assertion
        print(
            f"\n[{rig.detector.info.serial} {SIZE}²] generator DONE -> stored in the outbox, "
            f"stored calibration set: median {statistics.median(seconds) * 1000:.0f} ms "
            f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}, 5 exposures)"
        )


def _json_doc(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_calibration_list_and_show_report_validity_by_the_configured_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _calibrate_api(SIM, tmp_path, created_utc=DAYS_AGO_40)
    fresh = _calibrate_cli(SIM, tmp_path)
    store = ["--store", str(tmp_path / "store")]
    capsys.readouterr()
    assert main(["calibration", "list", *store, "--json"]) == 0
    by_id = {s["set_id"]: s for s in _json_doc(capsys)["sets"]}
    assert by_id[fresh]["status"] == "valid" and by_id[fresh]["reasons"] == []
    assert by_id[old]["status"] == "expired"
    assert by_id[old]["gain_expires_utc"] == (DAYS_AGO_40 + dt.timedelta(days=30)).isoformat()
    assert by_id[old]["dark_age_s"] > 39 * 86400
    assert main(["calibration", "list", *store]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "  expired  " in rows[old] and "  valid  " in rows[fresh]
    # The rules of --config: a 50-day gain lifetime leaves the old set a stale dark only.
    config = _config(tmp_path, "gain_max_age_days = 50\n")
    assert main(["calibration", "list", *store, "--config", config, "--json"]) == 0
    assert {s["set_id"]: s["status"] for s in _json_doc(capsys)["sets"]}[old] == "dark stale"
    assert main(["calibration", "show", old, *store]) == 0
    text = capsys.readouterr().out
    expires = DAYS_AGO_40 + dt.timedelta(days=30)
    assert f"expires:   {expires:%Y-%m-%d %H:%M:%S} UTC (gain and defects)" in text
    assert "validity:  expired (gain and defect maps 40.0 days old, limit 30.0 days" in text
    assert main(["calibration", "show", fresh, *store, "--panel-temp-c", "45", "--json"]) == 0
    doc = _json_doc(capsys)
    assert doc["status"] == "other temperature" and "panel at 45.0 °C" in doc["reasons"][0]


def test_benchmark_tiny_run_prints_every_row(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_benchmark("bench_calibration_lifecycle")
    assert module.main(["--size", "128", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("quick calibration", "stored set chosen", "fresh dark (8 darks"):
        assert f"| {row}" in out, out
