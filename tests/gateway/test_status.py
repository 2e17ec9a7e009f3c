"""Every DIMSE status is classified; nothing unknown or empty is taken for success."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from panelgate.gateway.pacs import Outcome, classify, describe


def _status(code: int, comment: str | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment
    return ds


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0x0000, Outcome.SUCCESS),
        (0xB000, Outcome.WARNING),
        (0xB006, Outcome.WARNING),
        (0xB007, Outcome.WARNING),
        (0xA700, Outcome.RETRY),
        (0xA7FF, Outcome.RETRY),
        (0x0110, Outcome.RETRY),
        (0x0213, Outcome.RETRY),
        (0xA900, Outcome.FAIL),
        (0xC000, Outcome.FAIL),
        (0xCFFF, Outcome.FAIL),
        (0x0122, Outcome.FAIL),
        (0x0124, Outcome.FAIL),
        (0x1234, Outcome.FAIL),
    ],
)
def test_codes(code: int, outcome: Outcome) -> None:
    assert classify(_status(code)) is outcome


@pytest.mark.parametrize("status", [None, Dataset()])
def test_missing_status_means_retry_never_success(status: Dataset | None) -> None:
    assert classify(status) is Outcome.RETRY
    assert "no status" in describe(status)


def test_describe_names_code_and_comment() -> None:
    assert describe(_status(0xA700, "disk full")) == "0xA700 (out of resources): disk full"
    assert describe(_status(0xC123)) == "0xC123 (cannot understand)"
