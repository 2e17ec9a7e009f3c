"""The one attribute validator (gateway/dicom/vr.py): what pydicom lets through, we refuse."""

from __future__ import annotations

import pytest

from panelgate.gateway.dicom.vr import vr_problem


@pytest.mark.parametrize(
    ("vr", "value", "problem"),
    [
        ("LO", "P" * 65, "64"),
        ("LO", "P\\1", "backslash"),
        ("SH", "A\tB", "control"),
        ("PN", "Doe\nJane", "control"),
        ("PN", "A^B^C^D^E^F", "at most 5 components"),
        ("PN", "A=B=C=D", "3"),
        ("PN", "D" * 65, "64"),
        ("DA", "20260231", "not a calendar date"),
        ("DA", "2026-01-01", "DA"),
        ("CS", "m", "CS"),
        ("UI", "1.02.3", "UI"),
        ("LT", "a\x00b", "control"),
    ],
)
def test_values_that_cannot_be_stored_are_named(vr: str, value: str, problem: str) -> None:
    found = vr_problem(vr, value)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("PN", "Doe^Jane^M^Dr^PhD"),
        ("PN", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("LO", "Ünïcode is fine"),
        ("LT", "line one\r\nline two\tTAB"),
        ("DA", "20240229"),
        ("DA", ""),
        ("CS", "M"),
    ],
)
def test_valid_values_pass(vr: str, value: str) -> None:
    assert vr_problem(vr, value) is None
