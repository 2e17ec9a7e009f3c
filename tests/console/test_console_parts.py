"""The console's parts without a browser: the patient check, the DI bands, the live
panel's judgements, the fragments' HTML, and the files the package ships."""

from __future__ import annotations

import importlib.resources
import re

import pytest

from panelgate.gateway.dicom.vr import vr_problem
from panelgate.station.console import TG305_REASONS, check_patient, di_band
from panelgate.station.console.routes import _environment, _sse
from panelgate.station.console.views import image_view, state_view


def test_patient_check_uses_the_header_validator() -> None:
    good = check_patient({"name": "Doe^Jane", "id": "P-1", "birth_date": "19700101", "sex": "F"})
    assert good.valid and good.problems == {}
    bad = check_patient({"name": "Doe^Jane", "id": "X" * 65, "birth_date": "1970-01-01"})
    assert set(bad.problems) == {"id", "birth_date"}
    assert bad.problems["id"] == vr_problem("LO", "X" * 65)
    assert bad.problems["birth_date"] == vr_problem("DA", "1970-01-01")


def test_patient_check_required_fields_and_sex() -> None:
    empty = check_patient({})
    assert empty.problems == {"name": "is required", "id": "is required"}
    assert "M, F or O" in check_patient({"name": "A^B", "id": "1", "sex": "X"}).problems["sex"]
    assert "backslash" in check_patient({"name": "A\\B", "id": "1"}).problems["name"]


@pytest.mark.parametrize(
    ("di", "band"),
    [(None, ""), (0.0, "green"), (1.0, "green"), (-1.0, "green"), (1.01, "amber"),
     (-3.0, "amber"), (3.01, "red"), (-7.5, "red")],
)  # fmt: skip
def test_di_bands_of_iec_62494_1(di: float | None, band: str) -> None:
    assert di_band(di) == band


def _status(**station: object) -> dict[str, object]:
    return {
        "station": {"ready": False, "reason": "no exam selected", "state": "idle", **station},
        "detector": {"connected": True},
        "generator": {"answering": True, "fault": ""},
        "calibration": {"set_id": "abc", "blocked": ""},
        "outbox": {"counts": {"pacs": {"pending": 1}}},
    }


def test_state_view_offers_prepare_only_when_the_room_can_expose() -> None:
    view = state_view(_status())
    assert view["prepare_ok"] and view["calibration_valid"] and view["big_state"] == "IDLE"
    blocked = _status()
    blocked["calibration"] = {"set_id": "abc", "blocked": "the gain map expired"}
    assert not state_view(blocked)["prepare_ok"]
    assert not state_view(blocked)["calibration_valid"]
    busy = state_view(_status(state="ready"))
    assert busy["big_state"] == "READY" and busy["busy"] and not busy["prepare_ok"]
    gone = _status()
    gone["generator"] = {"answering": False, "fault": "no answer"}
    assert not state_view(gone)["prepare_ok"]


def test_image_view_bands_and_delivery() -> None:
    image = {"sop_instance_uid": "1.2", "review": "accepted", "ei": 250.0, "di": -2.2,
             "destinations": {"a": {"state": "committed"}, "b": {"state": "failed"}}}  # fmt: skip
    view = image_view(image)
    assert view["di_band"] == "amber" and view["failed"]
    assert view["delivery_states"] == ["committed", "failed"]
    assert image_view({"sop_instance_uid": "1.3", "destinations": {}})["di"] is None


def test_fragments_escape_what_they_show() -> None:
    step = {
        "accession": "A<1>",
        "patient": {"name": "<script>x</script>", "id": "1", "birth_date": "", "sex": ""},
        "scheduled_procedure_step_description": "",
        "requested_procedure_description": "",
    }
    html = _environment().get_template("worklist.html").render(problem="", steps=[step])
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert re.search(r'data-accession="A&lt;1&gt;"', html)


def test_sse_frames_every_line() -> None:
    frame = _sse("state", "<p>a</p>\n<p>b</p>", 7)
    assert frame == "id: 7\nevent: state\ndata: <p>a</p>\ndata: <p>b</p>\n\n"


def test_the_package_ships_templates_and_vendored_htmx() -> None:
    root = importlib.resources.files("panelgate.station.console")
    for name in ("base.html", "console.html", "calibration.html", "state.html",
                 "images.html", "worklist.html", "validate.html"):  # fmt: skip
        assert (root / "templates" / name).is_file(), name
    htmx = (root / "static" / "htmx.min.js").read_text()
    sse = (root / "static" / "htmx-ext-sse.min.js").read_text()
    assert htmx.startswith("/* htmx 2.") and "Zero-Clause BSD" in htmx.splitlines()[0]
    assert sse.startswith("/* htmx-ext-sse 2.") and 'defineExtension("sse"' in sse
    for name in ("htmx.LICENSE", "htmx-ext-sse.LICENSE", "console.js", "console.css"):
        assert (root / "static" / name).is_file(), name
    assert [value for value, _ in TG305_REASONS] == [
        "positioning", "patient motion", "artefact", "exposure error", "equipment",
        "test image", "other",
    ]  # fmt: skip
