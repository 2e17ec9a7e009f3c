"""Offline calibration inputs are checked before anything is computed or stored.

Issue 11, section 2. ``panelgate calibrate all --darks F --floods F.. --serial S``: levels
that do not fit the flood stacks, truncated TIFF and npy files, another rank or dtype,
stacks of different shapes are each refused with exit 2 and one line naming the file or
option, and the calibration store is unchanged. Re-running with the same inputs says that
the set is already stored instead of pretending to store a new one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from panelgate.acquisition.cli import main
from panelgate.calibration import CalibrationStore
from panelgate.simulators import PanelModel, PanelSpec

SHAPE = (40, 48)


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    model = PanelModel(PanelSpec(width=SHAPE[1], height=SHAPE[0]), seed=9)
    return {
        "darks": np.stack([model.read() for _ in range(4)]),
        "f4": np.stack([model.read(4.0) for _ in range(3)]),
        "f8": np.stack([model.read(8.0) for _ in range(3)]),
        "f16": np.stack([model.read(16.0) for _ in range(3)]),
    }


@pytest.fixture
def rig(tmp_path: Path, frames: dict[str, np.ndarray]) -> Path:
    """Good stacks as .npy and TIFF, and a store holding one set built from other stacks."""
    for name, data in frames.items():
        np.save(tmp_path / f"{name}.npy", data)
        tifffile.imwrite(tmp_path / f"{name}.tif", data, photometric="minisblack")
    store = tmp_path / "store"
    argv = ["calibrate", "all", "--darks", str(tmp_path / "darks.npy"), "--floods"]
    argv += [str(tmp_path / "f8.npy"), "--serial", "OTHER", "--store", str(store)]
    assert main(argv) == 0
    return tmp_path


def _store_listing(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*"))


def _truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _write(path: Path, data: np.ndarray) -> Path:
    if path.suffix == ".npy":
        np.save(path, data)
    else:
        tifffile.imwrite(path, data, photometric="minisblack")
    return path


Prepare = Callable[[Path], list[str]]


def _args(d: Path, darks: str = "darks.npy", floods: tuple[str, ...] = ("f4.npy",)) -> list[str]:
    return ["--darks", str(d / darks), "--floods", *[str(d / f) for f in floods]]


def _truncated_tiff(d: Path) -> list[str]:
    _truncate(d / "darks.tif", 0.5)
    return _args(d, "darks.tif")


def _truncated_plain_tiff(d: Path) -> list[str]:
    # no tifffile metadata: the page chain itself is broken
    tifffile.imwrite(d / "plain.tif", np.load(d / "f4.npy"), photometric="minisblack",
                     metadata=None)  # fmt: skip
    _truncate(d / "plain.tif", 0.6)
    return _args(d, floods=("plain.tif",))


def _truncated_tiff_in_first_page(d: Path) -> list[str]:
    _truncate(d / "f4.tif", 0.1)
    return _args(d, floods=("f4.tif",))


def _truncated_npy(d: Path) -> list[str]:
    _truncate(d / "f4.npy", 0.9)
    return _args(d)


def _not_npy(d: Path) -> list[str]:
    (d / "f4.npy").write_text("not an array\n")
    return _args(d)


def _rank4(d: Path) -> list[str]:
    _write(d / "r4.npy", np.zeros((2, 2, *SHAPE), np.uint16))
    return _args(d, floods=("r4.npy",))


def _rank1(d: Path) -> list[str]:
    _write(d / "r1.npy", np.zeros(100, np.uint16))
    return _args(d, "r1.npy")


def _float_npy(d: Path) -> list[str]:
    _write(d / "fl.npy", np.zeros((3, *SHAPE), np.float32))
    return _args(d, floods=("fl.npy",))


def _uint8_tiff(d: Path) -> list[str]:
    _write(d / "u8.tif", np.zeros((3, *SHAPE), np.uint8))
    return _args(d, floods=("u8.tif",))


def _other_shape_flood(d: Path) -> list[str]:
    _write(d / "small.npy", np.zeros((3, 32, 32), np.uint16))
    return [*_args(d, floods=("f4.npy", "small.npy")), "--levels", "4,8"]


def _other_shape_lag(d: Path) -> list[str]:
    _write(d / "lag.tif", np.zeros((1, 32, 32), np.uint16))
    return [*_args(d), "--lag", str(d / "lag.tif")]


def _mixed_pages(d: Path) -> list[str]:
    tifffile.imwrite(d / "mixed.tif", np.zeros(SHAPE, np.uint16))
    tifffile.imwrite(d / "mixed.tif", np.zeros((32, 32), np.uint16), append=True)
    return _args(d, floods=("mixed.tif",))


def _one_dark(d: Path) -> list[str]:
    _write(d / "one.npy", np.zeros((1, *SHAPE), np.uint16))
    return _args(d, "one.npy")


def _missing(d: Path) -> list[str]:
    return [*_args(d, floods=("f4.npy", "absent.tif")), "--levels", "4,8"]


def _levels_count(d: Path) -> list[str]:
    return [*_args(d, floods=("f4.npy", "f8.npy")), "--levels", "4,8,16"]


def _levels_missing(d: Path) -> list[str]:
    return _args(d, floods=("f4.npy", "f8.npy", "f16.npy"))


def _levels_one_too_few(d: Path) -> list[str]:
    return [*_args(d, floods=("f4.npy", "f8.npy", "f16.npy")), "--levels", "4,8"]


def _levels_single_flood(d: Path) -> list[str]:
    return [*_args(d), "--levels", "4,8"]


def _levels_decreasing(d: Path) -> list[str]:
    return [*_args(d, floods=("f8.npy", "f4.npy")), "--levels", "8,4"]


def _levels_nan(d: Path) -> list[str]:
    return [*_args(d, floods=("f4.npy", "f8.npy")), "--levels", "4,nan"]


# (prepare the inputs, words the one line must hold: "{d}" is the stack folder)
CASES: list[tuple[Prepare, list[str]]] = [
    (_truncated_tiff, ["{d}/darks.tif", "declares 4 frames, 1 can be read"]),
    (_truncated_plain_tiff, ["{d}/plain.tif", "damaged TIFF"]),
    (_truncated_tiff_in_first_page, ["{d}/f4.tif"]),
    (_truncated_npy, ["{d}/f4.npy", "truncated", "(3, 40, 48) uint16"]),
    (_not_npy, ["{d}/f4.npy", "not a NumPy .npy file"]),
    (_rank4, ["{d}/r4.npy", "(N, H, W)", "(2, 2, 40, 48)"]),
    (_rank1, ["{d}/r1.npy", "(N, H, W)", "(100,)"]),
    (_float_npy, ["{d}/fl.npy", "expected uint16 frames", "float32"]),
    (_uint8_tiff, ["{d}/u8.tif", "expected uint16 frames", "uint8"]),
    (_other_shape_flood, ["{d}/small.npy", "(32, 32)", "(40, 48)", "one frame shape"]),
    (_other_shape_lag, ["{d}/lag.tif", "lag frames", "(32, 32)"]),
    (_mixed_pages, ["{d}/mixed.tif", "frame 2", "one shape"]),
    (_one_dark, ["{d}/one.npy", "at least 2"]),
    (_missing, ["{d}/absent.tif", "no such file"]),
    (_levels_count, ["--levels", "3 level(s) given for 2 flood stack(s)"]),
    (_levels_one_too_few, ["--levels", "2 level(s) given for 3 flood stack(s)"]),
    (_levels_single_flood, ["--levels", "2 level(s) given for 1 flood stack(s)"]),
    (_levels_missing, ["--levels", "3 flood stacks needs their air kerma"]),
    (_levels_decreasing, ["--levels", "strictly increasing"]),
    (_levels_nan, ["--levels", "finite"]),
]


@pytest.mark.parametrize(("prepare", "words"), CASES, ids=[c[0].__name__[1:] for c in CASES])
def test_bad_offline_input_is_refused_before_anything_is_stored(
    rig: Path, prepare: Prepare, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "store"
    before = _store_listing(store)
    argv = ["calibrate", "all", *prepare(rig), "--serial", "REC", "--store", str(store)]
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("panelgate: error: "), err
    for word in words:
        assert word.format(d=rig) in lines[0], (word, lines[0])
    assert _store_listing(store) == before, "the calibration store is unchanged"


def test_levels_given_one_per_flood_stack_are_stored_as_valid_json(
    rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "new-store"
    argv = ["calibrate", "all", *_args(rig, "darks.tif", ("f4.tif", "f8.npy", "f16.tif"))]
    assert main([*argv, "--levels", "4,8,16", "--serial", "REC", "--store", str(store)]) == 0
    assert "multi-point, 3 segments" in capsys.readouterr().out
    [entry] = CalibrationStore(store).sets()

    def no_constants(name: str) -> float:
        raise AssertionError(f"{name} in a manifest is not JSON")

    manifest = json.loads((entry.path / "manifest.json").read_text(), parse_constant=no_constants)
    assert manifest["levels_ugy"] == [4.0, 8.0, 16.0]


def test_single_point_from_several_floods_needs_no_levels(
    rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "sp-store"
    argv = ["calibrate", "all", *_args(rig, floods=("f4.npy", "f8.npy")), "--single-point"]
    assert main([*argv, "--serial", "REC", "--store", str(store)]) == 0
    assert "single-point" in capsys.readouterr().out


def test_the_same_inputs_again_are_refused_before_computing(
    rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "store"
    argv = ["calibrate", "all", *_args(rig, floods=("f4.npy", "f8.npy")), "--levels", "4,8"]
    argv += ["--serial", "REC", "--store", str(store)]
    assert main(argv) == 0
    set_id = capsys.readouterr().out.splitlines()[0].removeprefix("calibration set ")
    before = _store_listing(store)
    (rig / "copy").mkdir()  # the same content elsewhere is the same input
    for name in ("darks.npy", "f4.npy", "f8.npy"):
        (rig / "copy" / name).write_bytes((rig / name).read_bytes())
    again = [a.replace(str(rig), str(rig / "copy")) if a.endswith(".npy") else a for a in argv]
    assert main(again) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, "one line, nothing computed"
    assert f"calibration set {set_id} was built from these same stacks" in lines[0]
    assert str(store / set_id) in lines[0]
    assert _store_listing(store) == before


def test_other_options_on_the_same_stacks_store_a_new_set(
    rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "store"
    argv = ["calibrate", "all", *_args(rig, floods=("f4.npy", "f8.npy")), "--levels", "4,8"]
    argv += ["--serial", "REC", "--store", str(store)]
    assert main(argv) == 0
    assert main([*argv, "--single-point"]) == 0, "another gain model: another set"
    assert len(CalibrationStore(store).sets()) == 3


def test_a_set_with_the_same_maps_is_not_stored_twice(
    rig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = rig / "store"
    argv = ["calibrate", "all", *_args(rig, floods=("f4.npy", "f8.npy")), "--levels", "4,8"]
    argv += ["--serial", "REC", "--store", str(store)]
    assert main(argv) == 0
    set_id = capsys.readouterr().out.splitlines()[0].removeprefix("calibration set ")
    before = _store_listing(store)
    # another temperature is another input, but it does not change the maps (nor the id)
    assert main([*argv, "--temp-c", "31"]) == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("panelgate: ")]
    assert len(errors) == 1
    assert f"calibration set {set_id} is already stored in {store / set_id}" in errors[0]
    assert _store_listing(store) == before
