"""The console when something is wrong: a generator fault, an expired calibration, a PACS
outage, and the technician aborting at READY. Chromium on a real station subprocess."""

from __future__ import annotations

import re
from pathlib import Path

from panelgate.simulators.generator import SimFault, SimulatedGenerator


def test_generator_fault_is_shown_and_nothing_is_fired(
    generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    console = open_console(station.url)
    console.manual_patient("Fault^Gen", "GF-1", "19800101", "M")
    generator.fault = SimFault.INTERLOCK
    console.page.click("#prepare")
    console.page.wait_for_selector("#refusal:not([hidden])")
    assert "interlock" in console.text("#refusal").lower()
    console.wait_text("#big-state", "FAILED|IDLE")
    console.shot("generator-fault")
    assert console.page.is_disabled("#expose")
    assert generator.model.exposures == 0


def test_expired_calibration_disables_expose(
    generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(
        tmp_path, generator.device_path, calibration={"gain_max_age_days": 2e-5}
    )  # the gain map made at start-up expires after about 1.7 s
    station = start_station(config)
    console = open_console(station.url)
    console.manual_patient("Cal^Expired", "CE-1")
    console.wait_text("#cal-state", "^blocked$")
    assert "expired" in console.text("#cal-blocked")
    console.page.wait_for_selector("#prepare[disabled]", state="attached")
    assert console.page.is_disabled("#expose")
    assert "calibration" in console.text("#why")
    console.page.keyboard.press("Alt+x")  # the expose shortcut does nothing while disabled
    console.shot("calibration-expired")
    assert generator.model.exposures == 0
    calibration = open_console(station.url, "/console/calibration")
    assert "expired" in calibration.text("main")
    calibration.shot("calibration-page")


def test_pacs_outage_shows_queued_then_committed(
    orthanc, generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path, orthanc=orthanc))
    console = open_console(station.url)
    console.manual_patient("Outage^Pacs", "PO-1", "19900101", "F")
    console.protocol("CHEST PA")
    orthanc.stop()
    console.prepare()
    uid = console.expose()
    console.page.click("#accept")
    dest = f".img-row[data-uid='{uid}'] .dest[data-destination='orthanc']"
    console.page.wait_for_selector(f"{dest}[data-state='queued']")
    console.wait_text(dest, r"queued \(.+\)")  # a failed attempt, with its reason
    console.shot("pacs-outage")
    orthanc.start()
    console.page.wait_for_selector(f"{dest}[data-state='committed']")
    console.shot("pacs-recovered")


def test_prepare_by_shortcut_then_escape_aborts_and_fires_nothing(
    generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    console = open_console(station.url)
    console.manual_patient("Abort^Esc", "AE-1")
    console.page.keyboard.press("Alt+p")  # the Prepare shortcut (accesskey)
    console.page.wait_for_selector("#expose:not([disabled])")
    console.wait_text("#big-state", "^READY$")
    console.page.keyboard.press("Escape")
    console.page.wait_for_selector("#expose[disabled]", state="attached")
    console.wait_text("#big-state", "IDLE|FAILED")
    assert generator.model.exposures == 0
    assert console.page.is_enabled("#prepare"), "prepare again after an abort"
    console.prepare()  # held at READY again; another protocol releases it
    console.wait_text("#big-state", "^READY$")
    console.protocol("HAND PA")
    console.page.wait_for_selector("#expose[disabled]", state="attached")
    console.wait_text("#big-state", "IDLE|FAILED")
    assert generator.model.exposures == 0


def test_manual_entry_is_validated_as_typed(
    generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    console = open_console(station.url)
    page = console.page
    page.click("#manual summary")
    page.fill("#m-name", "Doe^Jane")
    page.fill("#m-id", "X" * 65)  # LO holds at most 64 characters
    page.fill("#m-birth_date", "1970-01-01")  # DA is YYYYMMDD
    page.wait_for_selector("#p-id")
    page.wait_for_selector("#p-birth_date")
    assert page.is_disabled("#manual-use")
    console.shot("manual-entry-invalid")
    page.fill("#m-id", "P-64")
    page.fill("#m-birth_date", "19700101")
    page.wait_for_selector("#manual-use:not([disabled])")
    assert page.locator("#manual-problems .problem").count() == 0
    page.click("#manual-use")
    assert console.text("#pt-id") == "P-64" and console.text("#pt-accession") == "unscheduled"
    assert console.page.is_enabled("#prepare") and console.page.is_disabled("#expose")


def test_guided_recalibration_with_the_operators_confirmations(
    generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(
        tmp_path, generator.device_path, calibration={"dark_frames": 2, "flood_frames": 2}
    )
    station = start_station(config)
    with station.client() as api:
        before = api.get("/api/status").json()["calibration"]["set_id"]
    console = open_console(station.url, "/console/calibration")
    page = console.page
    assert page.is_disabled("#cal-start"), "no start before the operator's confirmations"
    for box in ("#cal-c1", "#cal-c2", "#cal-c3"):
        page.check(box)
    page.click("#cal-start")
    fired_before_answer = generator.model.exposures
    page.wait_for_selector("#recal-question:not([hidden])")
    console.shot("recalibration-question")
    assert generator.model.exposures == fired_before_answer, "a flood before the answer"
    while page.get_attribute("#recal", "data-state") not in ("done", "failed", "cancelled"):
        page.wait_for_function(
            "['waiting', 'done', 'failed', 'cancelled'].includes("
            "document.querySelector('#recal').dataset.state)"
        )
        if page.get_attribute("#recal", "data-state") == "waiting":
            page.click("#recal-yes")
            page.wait_for_function("document.querySelector('#recal-question').hidden")
    assert page.get_attribute("#recal", "data-state") == "done", console.text("#recal")
    console.shot("recalibration-done")
    assert generator.model.exposures > fired_before_answer
    made = re.search(r"new set (\w+)", console.text("#recal-state"))
    assert made is not None and made.group(1) != before
    with station.client() as api:
        assert api.get("/api/calibration").json()["run"]["set_id"] == made.group(1)
        after = api.get("/api/status").json()["calibration"]["set_id"]
    assert after and after != before  # the new set, or a fresh dark derived from it since


def test_failed_delivery_shows_its_reason_and_retry_sends_it(
    orthanc, generator: SimulatedGenerator, start_station, helpers, open_console, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(
        tmp_path, generator.device_path, orthanc=orthanc, retry={"max_attempts": 1}
    )
    station = start_station(config)
    console = open_console(station.url)
    console.manual_patient("Retry^Button", "RB-1")
    console.protocol("HAND PA")
    orthanc.stop()
    console.prepare()
    uid = console.expose()
    console.page.click("#accept")
    row = f".img-row[data-uid='{uid}']"
    dest = f"{row} .dest[data-destination='orthanc']"
    console.page.wait_for_selector(f"{dest}[data-state='failed']")
    console.wait_text(dest, r"failed \(.+\)")  # the reason is shown
    console.shot("delivery-failed")
    orthanc.start()
    console.page.click(f"{row} .retry")
    console.page.wait_for_selector(f"{dest}[data-state='committed']")
    assert console.page.locator(f"{row} .retry").count() == 0
