"""``panelgate send DIR``: every entry that cannot be queued is named with its defect (issue 11).

The tests run as root, for whom ``chmod 000`` hides nothing: unreadable entries are made
with a dangling symbolic link, a FIFO, a link loop and a folder linked back into itself.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.gateway.outbox import Outbox


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[dicom]\ncalling_ae = "AGENT"\n\n[outbox]\ndirectory = "{tmp_path / "outbox"}"\n'
        'reserve_mb = 1\n\n[destinations.pacs]\nport = 11112\ncalled_ae = "PACS"\n'
    )
    return path


def test_send_dir_names_every_unreadable_entry_queues_the_rest_and_exits_1(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    good = [dx(1), dx(2)]
    good[0].save_as(folder / "a.dcm", enforce_file_format=True)
    good[1].save_as(folder / "sub" / "b.dcm", enforce_file_format=True)
    buffer = io.BytesIO()
    dx(3).save_as(buffer, enforce_file_format=True)
    (folder / "cut.dcm").write_bytes(buffer.getvalue()[:-10])
    (folder / "dangling.dcm").symlink_to(folder / "gone.dcm")
    os.mkfifo(folder / "pipe.dcm")
    (folder / "loop1").symlink_to(folder / "loop2")
    (folder / "loop2").symlink_to(folder / "loop1")
    (folder / "sub" / "up").symlink_to(folder)  # a folder linked back into itself

    rc = main(["send", str(folder), "--to", "pacs", "--config", str(_config(tmp_path))])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "2 instance(s) queued for pacs; 6 skipped" in out
    lines = err.splitlines()
    assert len(lines) == 6, err
    expected = {
        "cut.dcm": "truncated",
        "dangling.dcm": "dangling symbolic link",
        "pipe.dcm": "not a regular file (a FIFO)",
        "loop1": "symbolic link loop",
        "loop2": "symbolic link loop",
        "up": "symbolic link loop",
    }
    for name, defect in expected.items():
        (line,) = [x for x in lines if f"/{name}:" in x]
        assert line.startswith("panelgate send: skipped ") and defect in line, line
    outbox = Outbox(tmp_path / "outbox", ["pacs"])
    assert sorted(r.sop_instance_uid for r in outbox.records()) == sorted(
        str(ds.SOPInstanceUID) for ds in good
    )


def test_send_refuses_a_truncated_file_with_one_line_naming_it_and_exit_1(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    buffer = io.BytesIO()
    dx(4).save_as(buffer, enforce_file_format=True)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(buffer.getvalue()[:-100])
    rc = main(["send", str(cut), "--to", "pacs", "--config", str(_config(tmp_path))])
    (line,) = capsys.readouterr().err.splitlines()
    assert rc == 1
    assert line.startswith(f"panelgate: error: {cut}: truncated: element (7FE0,0010)"), line
    assert Outbox(tmp_path / "outbox", ["pacs"]).records() == []
