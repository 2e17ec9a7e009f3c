"""Guards of the package layout (see shared style guide, section 1)."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = (
    "station",
    "acquisition",
    "gateway",
    "calibration",
    "processing",
    "simulators",
    "drivers",
)


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        "panelgate." + ".".join(init.parent.relative_to(REPO).parts)
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert found - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - found == set(), "packages listed in pyproject that do not exist"


def test_every_subpackage_ships_py_typed() -> None:
    missing = [
        str(init.parent.relative_to(REPO))
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
        if not (init.parent / "py.typed").exists()
    ]
    assert missing == []


@pytest.mark.parametrize("name", FOLDERS)
def test_bare_folder_names_are_not_importable(name: str) -> None:
    # Tripwire: `python -m pytest` or a stray sys.path entry would make a second copy of
    # every module (and break isinstance/except). Only panelgate.<name> may exist.
    assert importlib.util.find_spec(name) is None, f"bare module {name!r} is importable"
    assert importlib.util.find_spec(f"panelgate.{name}") is not None


def test_no_root_init_and_no_tests_init() -> None:
    assert not (REPO / "__init__.py").exists()
    assert not (REPO / "panelgate").exists()
    assert list((REPO / "tests").rglob("__init__.py")) == []


@pytest.mark.parametrize("name", FOLDERS)
def test_every_module_imports_and_all_is_exact(name: str) -> None:
    package = importlib.import_module(f"panelgate.{name}")
    modules = [package] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"panelgate.{name}.")
    ]
    for module in modules:
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{module.__name__} has no __all__"
        missing = [n for n in exported if not hasattr(module, n)]
        assert missing == [], f"{module.__name__}.__all__ names missing objects {missing}"
        assert module.__doc__, f"{module.__name__} has no module docstring"
