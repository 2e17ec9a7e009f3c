"""``--json``: one JSON document on stdout, stable keys with units, the same facts as the text.

Issue 11 §2: ``calibration list``, ``calibration show``, ``outbox list``, ``outbox status``
and the ``grab`` summary. Each document is parsed with ``json.loads`` (so stdout holds
exactly one) and held to the store, the outbox or the saved files.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.stacks import FrameStack
from panelgate.calibration import CalibrationStore
from panelgate.gateway.outbox import Outbox, State
from panelgate.simulators import PanelModel, PanelSpec


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)  # fails unless stdout is exactly one document


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with one 3-point set of a 64² panel recorded at 31.5 °C."""
    model = PanelModel(PanelSpec(width=64, height=48), seed=5)
    np.save(tmp_path / "d.npy", np.stack([model.read() for _ in range(4)]))
    floods = []
    for level in (4.0, 8.0, 16.0):
        floods.append(str(tmp_path / f"f{level:g}.npy"))
        np.save(floods[-1], np.stack([model.read(level) for _ in range(4)]))
    root = tmp_path / "store"
    argv = ["calibrate", "all", "--darks", str(tmp_path / "d.npy"), "--floods", *floods]
    argv += ["--levels", "4,8,16", "--serial", "J-1", "--temp-c", "31.5"]
    assert main([*argv, "--store", str(root)]) == 0
    return root


VALIDITY_KEYS = (
    "status", "reasons", "gain_expires_utc", "dark_age_s", "gain_created_utc", "gain_temp_c",
    "derived_from",
)  # fmt: skip


def doc_created(doc: dict[str, Any]) -> str:
    return str(doc["sets"][0]["created_utc"])


def test_calibration_list_json_matches_the_store_and_the_table(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["calibration", "list", "--store", str(store), "--json"]) == 0
    doc = _json(capsys)
    [stored] = CalibrationStore(store).sets()
    assert stored.quality is not None, "an offline build measures its quality figures"
    validity = {key: doc["sets"][0].pop(key) for key in VALIDITY_KEYS}
    assert validity["status"] == "valid" and validity["reasons"] == []
    assert validity["gain_created_utc"] == stored.created_utc.isoformat()
    assert validity["gain_temp_c"] == 31.5 and validity["derived_from"] is None
    assert 0 <= validity["dark_age_s"] < 600 and validity["gain_expires_utc"] > doc_created(doc)
    assert doc == {
        "store": str(store),
        "sets": [
            {
                "set_id": stored.set_id,
                "serial": "J-1",
                "mode_key": stored.mode_key,
                "created_utc": stored.created_utc.isoformat(),
                "temp_c": 31.5,
                "n_dark": 4,
                "n_flood": stored.n_flood,
                "gain_points": 3,
                "residual_prnu_max_pct": stored.quality.residual_prnu_max_pct,
            }
        ],
    }
    assert main(["calibration", "list", "--store", str(store)]) == 0
    table = capsys.readouterr().out
    assert stored.set_id in table and "31.5" in table and "3-point" in table


def test_calibration_list_json_of_an_empty_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibration", "list", "--store", str(tmp_path / "none"), "--json"]) == 0
    assert _json(capsys) == {"store": str(tmp_path / "none"), "sets": []}


def test_calibration_show_json_matches_the_loaded_set(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [stored] = CalibrationStore(store).sets()
    cal = CalibrationStore(store).load(stored.set_id)
    capsys.readouterr()
    assert main(["calibration", "show", stored.set_id, "--store", str(store), "--json"]) == 0
    doc = _json(capsys)
    counts = cal.defect_counts()
    assert doc["set_id"] == cal.set_id and doc["path"] == str(store / cal.set_id)
    assert (doc["width_px"], doc["height_px"]) == (64, 48)
    assert doc["temp_c"] == 31.5 and doc["n_dark"] == 4 and doc["n_flood"] == cal.n_flood
    assert doc["created_utc"] == cal.created_utc.isoformat()
    assert doc["gain_points"] == 3 and doc["gain_levels_ugy"] == [4.0, 8.0, 16.0]
    assert doc["pedestal_counts"] == cal.pedestal_counts
    assert doc["defects"]["total"] == counts.pop("total")
    assert doc["defects"]["uncorrectable"] == counts.pop("uncorrectable")
    assert doc["defects"]["by_flag"] == counts
    assert main(["calibration", "show", stored.set_id, "--store", str(store)]) == 0
    text = capsys.readouterr().out
    assert f"defects:   {doc['defects']['total']} " in text and "3-point piecewise" in text


def test_grab_json_summary_matches_the_saved_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "sim://?width=64&height=48&seed=2&serial=SN-J"
    argv = ["grab", "--detector", url, "--frames", "3", "--dose", "5", "--out", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    doc = _json(capsys)
    assert doc["serial"] == "SN-J" and doc["dose_ugy"] == 5.0
    assert doc["mode"]["width"] == 64 and doc["mode"]["height"] == 48
    assert doc["saved"] == {
        "stack": str(tmp_path / "frames.npy"),
        "metadata": str(tmp_path / "frames.json"),
        "frames": 3,
    }
    frames = list(FrameStack(tmp_path / "frames.npy"))
    meta = json.loads((tmp_path / "frames.json").read_text())
    assert doc["mode_key"] == meta["mode_key"] and doc["counters"] == meta["counters"]
    assert [f["frame_id"] for f in doc["frames"]] == [f["frame_id"] for f in meta["frames"]]
    for summary, pixels in zip(doc["frames"], frames, strict=True):
        assert summary["mean_counts"] == pytest.approx(float(pixels.mean()))
        assert summary["std_counts"] == pytest.approx(float(pixels.std()))
        assert (summary["min_counts"], summary["max_counts"]) == (pixels.min(), pixels.max())
        assert isinstance(summary["temp_c"], float)


def test_grab_json_without_out_says_nothing_was_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["grab", "--detector", "sim://?width=32&height=32", "--json"]) == 0
    doc = _json(capsys)
    assert doc["saved"] is None and len(doc["frames"]) == 1 and doc["features"] == {}


# -- the outbox -------------------------------------------------------------------------

QUEUED_AT = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[outbox]\ndirectory = "{tmp_path / "outbox"}"\n\n'
        '[destinations.pacs]\nport = 104\ncalled_ae = "PACS"\n\n'
        '[destinations.backup]\nport = 105\ncalled_ae = "BACKUP"\n'
    )
    return path


@pytest.fixture
def outbox(tmp_path: Path, dx: Callable[..., Any]) -> Outbox:
    """Three instances for both destinations, queued at QUEUED_AT, QUEUED_AT + 10 and + 20 s.

    For pacs: the oldest was sent, the next failed (0x0122), the newest is pending; for
    backup all three are pending.
    """
    now = [QUEUED_AT]
    box = Outbox(tmp_path / "outbox", ["backup", "pacs"], clock=lambda: now[0])
    for seed in range(3):
        now[0] = QUEUED_AT + 10 * seed
        box.enqueue_dataset(dx(seed))
    oldest, middle, _ = box.records("pacs", State.PENDING)
    box.move(box.move(oldest, State.INFLIGHT), State.SENT)
    box.move(box.move(middle, State.INFLIGHT), State.FAILED, reason="0x0122", attempts=1)
    return box


def test_outbox_list_json_matches_the_records(
    tmp_path: Path, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "list", "--config", str(_config(tmp_path)), "--json"]) == 0
    raw = capsys.readouterr().out
    doc = json.loads(raw)
    assert doc["destinations"] == outbox.counts()
    assert doc["destinations"]["pacs"] == {
        "pending": 1, "inflight": 0, "sent": 1, "committed": 0, "failed": 1,
    }  # fmt: skip
    records = outbox.records()
    assert [(i["destination"], i["state"], i["sop_instance_uid"]) for i in doc["instances"]] == [
        (r.destination, r.state.value, r.sop_instance_uid) for r in records
    ]
    failed = [i for i in doc["instances"] if i["state"] == "failed"]
    assert [(i["reason"], i["attempts"]) for i in failed] == [("0x0122", 1)]
    assert doc["instances"][0]["enqueued_utc"] == "2023-11-14T22:13:20Z"
    assert "PID-SECRET-1" not in raw and "Doe^Jane" not in raw, "no patient data"

    config = str(_config(tmp_path))
    argv = ["outbox", "list", "--config", config, "--to", "pacs", "--state", "failed", "--json"]
    assert main(argv) == 0
    doc = _json(capsys)
    assert list(doc["destinations"]) == ["pacs"] and len(doc["instances"]) == 1


def test_outbox_status_json_counts_states_and_ages_the_oldest_pending(
    tmp_path: Path, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path))
    before = time.time()
    assert main(["outbox", "status", "--config", config, "--json"]) == 0
    after = time.time()
    raw = capsys.readouterr().out
    doc = json.loads(raw)
    checked = dt.datetime.fromisoformat(doc["checked_utc"]).timestamp()
    assert math.floor(before) <= checked <= after
    assert set(doc["destinations"]) == {"backup", "pacs"}
    for name, status in doc["destinations"].items():
        assert status["counts"] == outbox.counts()[name]
    # backup: all three pending, the oldest queued at QUEUED_AT; pacs: only the newest, +20 s
    for name, queued in (("backup", QUEUED_AT), ("pacs", QUEUED_AT + 20)):
        age = doc["destinations"][name]["oldest_pending_age_s"]
        assert before - queued <= age <= after - queued
    assert "PID-SECRET-1" not in raw

    assert main(["outbox", "status", "--config", config]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("backup: 3 pending; oldest pending queued ")
    assert text[1].startswith("pacs: 1 pending, 1 sent, 1 failed; oldest pending queued ")


def test_outbox_status_json_without_pending_is_null_and_unknown_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path))
    assert main(["outbox", "status", "--config", config, "--to", "pacs", "--json"]) == 0
    doc = _json(capsys)
    assert doc["destinations"] == {
        "pacs": {
            "counts": {"pending": 0, "inflight": 0, "sent": 0, "committed": 0, "failed": 0},
            "oldest_pending_age_s": None,
        }
    }
    assert main(["outbox", "status", "--config", config, "--to", "nowhere", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["calibration", "list"], "gain_points"),
        (["calibration", "show"], "by_flag"),
        (["outbox", "list"], "enqueued_utc"),
        (["outbox", "status"], "oldest_pending_age_s"),
        (["grab"], "mean_counts"),
    ],
)
def test_help_documents_json_and_its_keys(
    argv: list[str], key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([*argv, "--help"])
    assert excinfo.value.code == 0
    text = capsys.readouterr().out
    assert "--json" in text and "--json prints one document:" in text and key in text
