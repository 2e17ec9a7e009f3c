"""One error tree, one mapping to exit codes (panelgate.drivers.errors, acquisition.cli)."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

from panelgate.acquisition.cli import build_parser, exit_status, main
from panelgate.calibration import CalibrationCorrupt, CalibrationNotFound
from panelgate.drivers import (
    ConfigError,
    DetectorTimeout,
    PanelgateError,
    PatientExposed,
    ProtocolError,
    StorageError,
    TransportError,
    UsageError,
)
from panelgate.drivers import errors as errors_module
from panelgate.drivers.generator import GeneratorFault, GeneratorProtocolError, TechniqueOutOfRange
from panelgate.drivers.gige.errors import ProtocolError as GigeProtocolError
from panelgate.drivers.u3v.protocol import U3VProtocolError
from panelgate.gateway import DeliveryError, DicomBuildError, InvalidInstance, UnknownDestination


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UsageError("x"), 2),
        (ConfigError("x"), 2),
        (TechniqueOutOfRange("x"), 2),
        (CalibrationNotFound("x"), 2),
        (UnknownDestination("x"), 2),
        (DicomBuildError("x"), 2),
        # A device that sends garbage failed: that is not a usage error, though a ValueError.
        (GigeProtocolError("bad GVSP leader"), 1),
        (U3VProtocolError("bad magic"), 1),
        (GeneratorProtocolError("garbage"), 1),
        (DetectorTimeout("x"), 1),
        (TransportError("x"), 1),
        (GeneratorFault(10, "interlock"), 1),
        (CalibrationCorrupt("x"), 1),
        (InvalidInstance("x"), 1),
        (DeliveryError("x", retryable=True), 1),
        (StorageError("x"), 1),
        (PatientExposed("x"), 1),
        (KeyboardInterrupt(), 130),
        (BrokenPipeError(), 0),
        (OSError(28, "No space left on device"), 1),
        (RuntimeError("a bug"), 1),
    ],
)
def test_exit_status_is_a_property_of_the_class(error: BaseException, status: int) -> None:
    assert exit_status(error) == status


def test_protocol_errors_of_every_link_share_one_boundary_class() -> None:
    for cls in (GigeProtocolError, U3VProtocolError, GeneratorProtocolError):
        assert issubclass(cls, ProtocolError), cls


def _all_error_classes() -> set[type]:
    for package in ("drivers", "calibration", "gateway", "acquisition", "simulators"):
        root = importlib.import_module(f"panelgate.{package}")
        for info in pkgutil.walk_packages(root.__path__, f"panelgate.{package}."):
            importlib.import_module(info.name)
    seen: set[type] = {PanelgateError}
    todo = [PanelgateError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen and sub.__module__.startswith("panelgate."):
                seen.add(sub)
                todo.append(sub)
    return seen


def test_the_documented_tree_names_every_error_with_its_exit_status() -> None:
    """The one place that documents the tree (drivers/errors.py) holds to the code."""
    doc = errors_module.__doc__ or ""
    documented = {
        name: int(status)
        for name, status in re.findall(r"(?:──|│|\s)\s*([A-Z]\w+)\s+(1|2|130)\b", doc)
    }
    documented.update({n: int(s) for n, s in re.findall(r"(\w+) ([12])(?:,|$)", doc, re.M)})
    classes = {cls.__name__: cls.exit_status for cls in _all_error_classes()}
    assert documented == classes


def test_common_options_are_accepted_after_the_subcommand() -> None:
    args = build_parser().parse_args(["outbox", "list", "--config", "x.toml", "-vv", "--debug"])
    assert args.verbose == 2 and args.debug
    args = build_parser().parse_args(["-v", "outbox", "list", "--config", "x.toml"])
    assert args.verbose == 1 and not args.debug, "an option not repeated keeps its value"


def test_version_and_no_doubled_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("panelgate ")
    assert main(["grab", "--frames", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("panelgate: error: grab: ") and err.count("panelgate:") == 1
