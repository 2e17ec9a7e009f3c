"""The console end to end in Chromium: worklist -> CHEST PA -> prepare -> expose -> preview
-> reject with a reason -> repeat (asks why) -> accept -> committed in Orthanc, on the page.

The station is ``panelgate station`` (a subprocess) with dcmtk's wlmscpfs, Orthanc with
Storage Commitment and a simulated generator on a pty; the page drives it as a
technician would, with the mouse and the keyboard.
"""

from __future__ import annotations

import json
from pathlib import Path

from panelgate.simulators.generator import SimulatedGenerator

STUDY_UID = "1.2.826.0.1.3680043.8.498.4343"


def _orthanc_instances(orthanc, uid: str) -> list[str]:  # type: ignore[no-untyped-def]
    query = {"Level": "Instance", "Query": {"SOPInstanceUID": uid}}
    return list(orthanc.rest("/tools/find", method="POST", data=json.dumps(query).encode()))


def test_worklist_to_committed_with_a_reject_and_a_repeat(
    orthanc, worklist_scp, generator: SimulatedGenerator, start_station, helpers,
    open_console, tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    items = [
        helpers.item("ACC43", "Test^Console", "CN-7", STUDY_UID),
        helpers.item("ACC44", "Other^Patient", "CN-8", STUDY_UID + ".1"),
    ]
    wl_port = worklist_scp(items)
    config = helpers.config(tmp_path, generator.device_path, orthanc=orthanc, worklist_port=wl_port)
    station = start_station(config)
    console = open_console(station.url)
    page = console.page

    page.wait_for_selector(".wl-row")
    assert page.locator(".wl-row").count() == 2
    page.fill("#wl-search", "cn-7")  # client-side: the search never leaves the page
    page.wait_for_selector(".wl-row:has-text('ACC44')", state="hidden")
    assert page.locator(".wl-row:visible").count() == 1
    console.shot("worklist")
    assert page.is_disabled("#prepare") and page.is_disabled("#expose")
    page.click(".wl-pick[data-accession='ACC43']")
    # the patient is shown before any exposure: name, ID, birth date, sex
    assert console.text("#pt-name") == "Test^Console" and console.text("#pt-id") == "CN-7"
    assert console.text("#pt-birth") == "19700101" and console.text("#pt-sex") == "O"
    assert console.text("#pt-accession") == "ACC43"
    assert page.is_disabled("#expose"), "Expose before Prepare"

    console.protocol("CHEST PA")
    console.prepare()
    console.wait_text("#big-state", "^READY$")
    console.shot("ready")
    first = console.expose()
    assert page.get_attribute("#pv-canvas", "data-uid") == first
    assert "kV" in console.text("#pv-technique") and "mAs" in console.text("#pv-technique")
    console.wait_text("#big-state", "^DONE$")
    console.shot("preview")
    with station.client() as api:  # the dose of the image is shown with it (issue 16)
        (shown,) = [i for i in api.get("/api/images").json() if i["sop_instance_uid"] == first]
    dap = shown["dap_dgycm2"]
    assert dap > 0 and console.text("#pv-dap") == f"{dap:.3f} dGy·cm²"

    page.select_option("#reject-reason", "positioning")
    page.click("#reject")
    page.wait_for_selector(f".img-row[data-uid='{first}'][data-review='rejected']")
    assert "positioning" in console.text(f".img-row[data-uid='{first}']")

    # a second exposure of the same step asks why before anything moves
    exposures_before = generator.model.exposures
    page.click("#prepare")
    page.wait_for_selector("#repeat-dialog[open]")
    console.shot("repeat-reason")
    assert generator.model.exposures == exposures_before
    page.select_option("#repeat-reason", "positioning")
    page.click("#repeat-ok")
    page.wait_for_selector("#expose:not([disabled])")
    second = console.expose()
    assert second != first

    page.click("#accept")
    row = f".img-row[data-uid='{second}']"
    page.wait_for_selector(f"{row}[data-review='accepted']")
    page.wait_for_selector(f"{row} .dest[data-destination='orthanc'][data-state='committed']")
    console.shot("committed")

    assert len(_orthanc_instances(orthanc, second)) == 1
    assert _orthanc_instances(orthanc, first) == [], "a rejected image is never sent"
    with station.client() as api:
        images = {i["sop_instance_uid"]: i for i in api.get("/api/images").json()}
    assert images[first]["review"] == "rejected" and images[first]["review_reason"] == "positioning"
    assert images[second]["repeat_of"] == first
    assert console.errors == []
