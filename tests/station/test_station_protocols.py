"""The protocol table: validated once with every problem named, defaults, chosen over the API."""

from __future__ import annotations

import signal
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.errors import ConfigError
from panelgate.gateway.dicom.context import ANATOMY_CODES, VIEW_CODES
from panelgate.simulators.generator import SimulatedGenerator
from panelgate.station.config import load_station_config, parse_station_config

DEFAULT_NAMES = [
    "CHEST PA", "CHEST LAT", "ABDOMEN AP", "PELVIS AP", "LSPINE AP", "LSPINE LAT", "SKULL PA",
    "SHOULDER AP", "HAND PA", "KNEE AP", "KNEE LAT", "FOOT AP",
]  # fmt: skip
PRESETS = {"chest", "abdomen", "spine", "skull", "extremity", "pelvis"}


def test_without_protocols_the_default_table_is_offered_with_codes() -> None:
    table = parse_station_config({}).protocols
    assert table.names() == DEFAULT_NAMES
    for entry in table.public():
        assert entry["body_part_code"]["value"] == ANATOMY_CODES[entry["body_part"]][0]
        assert entry["view_code"]["value"] == VIEW_CODES[entry["view"]][0]
        assert entry["kv"] > 0 and entry["mas"] > 0 and entry["target_ei"] > 0
        assert entry["preset"] in PRESETS and isinstance(entry["grid"], bool)
    assert table.get("chest lat") is not None and table.get("chest lat").view == "LL"


def test_a_bad_protocol_table_is_refused_naming_the_file_and_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(
        "[[protocols]]\n"
        'name = "WRIST PA"\nbody_part = "WRIST"\nview = "PA"\nkv = 55\nmas = 1\n'
        'target_ei = 500\npreset = "extremity"\n'
        "[[protocols]]\n"
        'name = "KNEE AP"\nbody_part = "KNEE"\nview = "AP"\nkv = 400\nmas = -1\n'
        'target_ei = 400\npreset = "extremity"\ncolour = "red"\n'
        "[[protocols]]\n"
        'name = "knee ap"\nbody_part = "KNEE"\nkv = 60\nmas = 2\ntarget_ei = 400\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_station_config(path)
    line = str(caught.value)
    assert line.startswith(f"{path}: ") and "\n" not in line
    for part in (
        "[[protocols]] #1 'WRIST PA': body_part 'WRIST'",
        "[[protocols]] #2 'KNEE AP': kv must be within",
        "[[protocols]] #2 'KNEE AP': mas must be positive",
        "[[protocols]] #2 'KNEE AP': unknown key colour",
        "[[protocols]] #3 'knee ap': preset is required",
        "[[protocols]] #3 'knee ap': name repeats that of #2",
    ):
        assert part in line, (part, line)


def test_a_configured_table_replaces_the_defaults() -> None:
    entry = {"name": "PAED CHEST AP", "body_part": "CHEST", "view": "AP", "kv": 70,
             "mas": 1, "grid": False, "target_ei": 300, "preset": "chest"}  # fmt: skip
    table = parse_station_config({"protocols": [entry]}).protocols
    (only,) = table.protocols
    assert (only.name, only.kv, only.workflow_protocol) == ("PAED CHEST AP", 70.0, "CHEST AP")


def test_choosing_a_protocol_sets_the_generator_and_the_image_ei_t(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    with station.client() as api:
        listed = api.get("/api/protocols").json()
        assert [p["name"] for p in listed] == DEFAULT_NAMES
        patient = {"id": "P-PROTO", "name": "Proto^Col"}
        exam = api.post("/api/exam", json={"patient": patient, "protocol": "KNEE LAT"})
        assert exam.status_code == 200, exam.text
        knee = next(p for p in listed if p["name"] == "KNEE LAT")
        assert (exam.json()["kv"], exam.json()["mas"]) == (knee["kv"], knee["mas"])
        assert exam.json()["target_ei"] == knee["target_ei"] and exam.json()["view"] == "LL"
        assert generator.model.kv == knee["kv"], "choosing the protocol set the generator"

        hand = api.post("/api/protocol", json={"protocol": "HAND PA", "kv": 57})
        assert hand.status_code == 200, hand.text
        assert (hand.json()["protocol"], hand.json()["kv"]) == ("HAND PA", 57.0)
        assert hand.json()["patient"]["id"] == "P-PROTO", "the same patient"
        assert generator.model.kv == 57.0
        assert api.post("/api/protocol", json={"protocol": "ELBOW"}).json()["field"] == "protocol"
        assert api.post("/api/protocol", json={"protocol": "HAND PA", "kv": 900}).status_code == 422

        assert api.post("/api/prepare").status_code == 200
        made = api.post("/api/expose")
        assert made.status_code == 200, made.text
        (image,) = api.get("/api/images").json()
        assert (image["protocol"], image["body_part"], image["view"]) == ("HAND PA", "HAND", "PA")
        hand_pa = next(p for p in listed if p["name"] == "HAND PA")
        assert image["target_ei"] == hand_pa["target_ei"]
    held = tmp_path / "state" / "images" / "held" / f"{image['sop_instance_uid']}.dcm"
    ds = pydicom.dcmread(held, stop_before_pixels=True)
    assert float(ds.TargetExposureIndex) == hand_pa["target_ei"]
    assert (ds.BodyPartExamined, ds.ViewPosition) == ("HAND", "PA")
    assert float(ds.KVP) == pytest.approx(57.0, rel=0.05), "delivered, near the set 57 kV"
    assert image["kv"] == pytest.approx(float(ds.KVP)), "the image lists the delivered kV"
    errors, _ = dciodvfy(held)
    assert errors == [], errors
    assert "PREP" in generator.model.commands and generator.model.exposures == 1
    assert station.signal(signal.SIGTERM) == 0
