"""Calibration sets on disk: atomic, checksummed, tied to a detector serial and readout mode.

Format (``FORMAT_VERSION`` 1)
-----------------------------
One directory per set, named by its content id (:attr:`CalibrationSet.set_id`)::

    <store>/<set_id>/manifest.json      identity, conditions, and one entry per array
    <store>/<set_id>/dark.npy           float32 (H, W) offset map, counts
    <store>/<set_id>/gain.npy           float32 (H, W) single-point gain (mean 1)
    <store>/<set_id>/defects.npy        uint8 (H, W) DefectFlag bits
    <store>/<set_id>/pwl_breaks.npy     float32 (K−1, H, W)  ┐ only with a
    <store>/<set_id>/pwl_slopes.npy     float32 (K, H, W)    │ multi-point gain
    <store>/<set_id>/pwl_knots.npy      float64 (K−1,)       ┘

``manifest.json`` holds ``format`` ("panelgate-calibration"), ``format_version``,
``set_id``, ``serial``, ``mode_key``, ``created_utc`` (ISO 8601, when the dark was taken),
``temp_c`` (null when unknown), ``gain_created_utc`` and ``gain_temp_c`` (when and at what
temperature the gain and defect maps were measured), ``n_dark``, ``n_flood``,
``pedestal_counts``, ``replacement``, ``levels_ugy``, ``defect_flags`` (name → bit) and
``arrays``: name → ``{file, dtype, shape, sha256}``, ``defect_counts`` (flag name, ``total``
and ``uncorrectable`` → pixels) and, when the build measured them, ``quality``
(:class:`~.quality.CalibrationQuality`: ``maps_id`` and per level ``air_kerma_ugy``,
``residual_prnu_pct``, ``nnu_pct``; kept only when measured with the set's own gain and
defect maps; older sets have neither key); a set built offline from recorded
stacks also holds ``inputs_sha256``, the fingerprint of those stacks and the options; a set
whose dark was refreshed from another holds ``derived_from``, that set's id. Readers that
do not know a key ignore it; a manifest without ``gain_*`` keys was measured in one run
(the dark's time and temperature). Arrays are plain ``.npy`` (loaded with
``allow_pickle=False``); a derived set's unchanged maps are hard links to its parent's
files when the file system allows (checked by sha256 like any other).

Writing: every file goes into a private temporary directory (0700, files 0600) next to
the final one, is fsynced, the manifest last; the directory is then renamed into place and
the store directory fsynced, so a set is either complete or absent. Reading verifies the
format version, each file's size and sha256 (one pass per file, hashed as it is read, the
files in parallel: :mod:`.verified_npy`), its dtype and shape, the content id, and (when
asked) the serial and mode; any difference raises a typed error naming the file and the
mismatch.
Nothing is silently applied. :meth:`CalibrationStore.select` picks the newest set of a
detector and readout mode, and given :class:`~.dark.ValidityRules`, the newest whose gain
and defect maps are still valid (judged from the manifests, before any array is read).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.drivers.fsio import fsync_dir, write_bytes_atomic

from .calset import CalibrationSet, DefectFlag, PiecewiseGain
from .dark import Validity, ValidityRules, check_validity
from .errors import (
    CalibrationCorrupt,
    CalibrationFormatError,
    CalibrationMismatch,
    CalibrationNotFound,
)
from .export import export_maps
from .quality import CalibrationQuality
from .verified_npy import read_verified_npy

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "CalibrationStore", "StoredSet"]

FORMAT_NAME = "panelgate-calibration"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoredSet:
    """What the manifest says about one stored set (no arrays loaded)."""

    set_id: str
    serial: str
    mode_key: str
    created_utc: dt.datetime
    temp_c: float
    n_dark: int
    n_flood: int
    segments: int
    path: Path
    inputs_sha256: str | None = None
    """Fingerprint of the recorded inputs an offline set was built from (None otherwise)."""
    gain_created_utc: dt.datetime | None = None
    """When the gain and defect maps were measured (None: with the dark, ``created_utc``)."""
    gain_temp_c: float | None = None
    """Panel temperature of the gain and defect maps in °C (None: the dark's)."""
    derived_from: str | None = None
    """The set whose gain and defects this one keeps, when only its dark was re-taken."""
    defect_counts: dict[str, int] | None = None
    """Pixels per defect flag, ``total`` and ``uncorrectable`` (None: an older manifest)."""
    quality: CalibrationQuality | None = None
    """Residual PRNU and NNU per flood level (None: not measured)."""

    def validity(
        self,
        temp_c: float = math.nan,
        now_utc: dt.datetime | None = None,
        rules: ValidityRules | None = None,
    ) -> Validity:
        """Judge this set for its own detector and mode with the panel at ``temp_c``.

        With ``temp_c`` unknown (NaN: no panel to ask) only the ages are judged; the
        temperature reasons say it is unknown.
        """
        return check_validity(
            self.mode_key,
            self.temp_c,
            self.created_utc,
            frame_mode_key=self.mode_key,
            frame_temp_c=temp_c,
            now_utc=now_utc,
            rules=rules,
            gain_created_utc=self.gain_created_utc,
            gain_temp_c=self.gain_temp_c,
        )


def _temp(temp_c: float) -> float | None:
    """Return a temperature for the manifest: null when unknown."""
    return None if math.isnan(temp_c) else temp_c


def _read_temp(value: Any) -> float:
    return math.nan if value is None else float(value)


def _counts(value: Any) -> dict[str, int] | None:
    """Read the manifest's defect counts (None when an older manifest has none)."""
    if value is None:
        return None
    return {str(name): int(count) for name, count in dict(value).items()}


def _link_same(parent: tuple[Path, str] | None, digest: str, target: Path) -> bool:
    """Hard-link the parent's file to ``target`` when its recorded sha256 is ``digest``."""
    if parent is None or parent[1] != digest:
        return False
    try:
        os.link(parent[0], target)
    except OSError:  # another file system, no hard links, or the parent's file vanished
        return False
    return True


def _npy_bytes(arr: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(arr), allow_pickle=False)
    return buffer.getvalue()


class CalibrationStore:
    """A directory of calibration sets.

    Parameters
    ----------
    root : pathlib.Path
        The store directory; created (0700) on the first save.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing -------------------------------------------------------------------------
    def save(
        self,
        calset: CalibrationSet,
        *,
        inputs_sha256: str | None = None,
        derived_from: str | None = None,
    ) -> Path:
        """Write ``calset`` atomically; return its directory (unchanged if already stored).

        ``inputs_sha256`` fingerprints the recorded stacks and options an offline set was
        built from; it is kept in the manifest so that the same inputs can be recognised
        before they are computed again (:meth:`built_from`). ``derived_from`` names the
        stored set whose gain and defects ``calset`` keeps (a refreshed dark); maps equal
        to that set's are hard-linked rather than copied where the file system allows.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.root / calset.set_id
        if final.exists():
            self.load(calset.set_id)  # verify what is there rather than trust it
            return final
        tmp = self.root / f".tmp-{calset.set_id}-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o700)
        try:
            arrays: dict[str, npt.NDArray[Any]] = {
                "dark": calset.dark,
                "gain": calset.gain,
                "defects": calset.defects,
            }
            if calset.pwl is not None:
                arrays |= {
                    "pwl_breaks": calset.pwl.breaks,
                    "pwl_slopes": calset.pwl.slopes,
                    "pwl_knots": calset.pwl.knots,
                }
            parent = self._parent_arrays(derived_from)
            entries = {}
            for name, arr in arrays.items():
                data = _npy_bytes(arr)
                digest = hashlib.sha256(data).hexdigest()
                if not _link_same(parent.get(name), digest, tmp / f"{name}.npy"):
                    write_bytes_atomic(tmp / f"{name}.npy", data, sync_dir=False)
                entries[name] = {
                    "file": f"{name}.npy",
                    "dtype": arr.dtype.name,
                    "shape": list(arr.shape),
                    "bytes": len(data),
                    "sha256": digest,
                }
            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "set_id": calset.set_id,
                "serial": calset.serial,
                "mode_key": calset.mode_key,
                "created_utc": calset.created_utc.isoformat(),
                "temp_c": _temp(calset.temp_c),
                "gain_created_utc": calset.gain_utc.isoformat(),
                "gain_temp_c": _temp(calset.gain_at_temp_c),
                "n_dark": calset.n_dark,
                "n_flood": calset.n_flood,
                "pedestal_counts": calset.pedestal_counts,
                "replacement": calset.replacement,
                "levels_ugy": list(calset.pwl.levels_ugy) if calset.pwl else [],
                "defect_flags": DefectFlag.names(),
                "arrays": entries,
                "defect_counts": calset.defect_counts(),
            }
            if calset.quality is not None and calset.quality.fits(calset):
                manifest["quality"] = calset.quality.to_json()
            if inputs_sha256 is not None:
                manifest["inputs_sha256"] = inputs_sha256
            if derived_from is not None:
                manifest["derived_from"] = derived_from
            write_bytes_atomic(
                tmp / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode(), sync_dir=False
            )
            fsync_dir(tmp)
            tmp.rename(final)
            fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def _parent_arrays(self, set_id: str | None) -> dict[str, tuple[Path, str]]:
        """Files and sha256 of the stored set ``set_id`` by array name (none when absent)."""
        path = self.stored(set_id) if set_id else None
        if path is None:
            return {}
        arrays = self._manifest(path).get("arrays", {})
        return {name: (path / str(e["file"]), str(e["sha256"])) for name, e in arrays.items()}

    # -- reading -------------------------------------------------------------------------
    def stored(self, set_id: str) -> Path | None:
        """Return the directory of the set ``set_id`` when it is stored, else None.

        A set's id is a hash of its content, so a set built again from the same inputs
        has the id of the stored one: :meth:`save` would keep the stored set unchanged.
        """
        if not set_id or "/" in set_id or set_id.startswith("."):
            return None
        path = self.root / set_id
        return path if path.is_dir() else None

    def _manifest(self, set_dir: Path) -> dict[str, Any]:
        path = set_dir / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise CalibrationCorrupt(f"{path}: manifest missing") from None
        except (OSError, ValueError) as exc:
            raise CalibrationCorrupt(f"{path}: unreadable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise CalibrationFormatError(f"{path}: not a panelgate calibration manifest")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CalibrationFormatError(
                f"{path}: format version {version} is newer than this panelgate reads "
                f"({FORMAT_VERSION}); upgrade panelgate"
            )
        return manifest

    def _array(self, set_dir: Path, name: str, entry: dict[str, Any]) -> npt.NDArray[Any]:
        path = set_dir / str(entry["file"])
        arr = read_verified_npy(path, entry["bytes"], entry["sha256"], f"{name} map")
        if arr.dtype.name != entry["dtype"] or list(arr.shape) != entry["shape"]:
            raise CalibrationCorrupt(
                f"{path}: {arr.dtype}{arr.shape}, the manifest says "
                f"{entry['dtype']}{tuple(entry['shape'])}"
            )
        return arr

    def _arrays(self, set_dir: Path, entries: dict[str, Any]) -> dict[str, npt.NDArray[Any]]:
        """Read and verify every map of a set, the files side by side (a thread per core).

        Reading and hashing release the GIL, so the files are read in parallel; the first
        problem in the manifest's order is raised, as reading them one by one would.
        """
        if len(entries) <= 1:
            return {name: self._array(set_dir, name, e) for name, e in entries.items()}
        workers = min(len(entries), os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="calibration-read") as pool:
            futures = {n: pool.submit(self._array, set_dir, n, e) for n, e in entries.items()}
            return {name: future.result() for name, future in futures.items()}

    def _set_dir(self, set_id: str) -> Path:
        if not set_id or "/" in set_id or set_id.startswith("."):
            raise CalibrationNotFound(f"invalid calibration set id {set_id!r}")
        path = self.root / set_id
        if not path.is_dir():
            raise CalibrationNotFound(f"no calibration set {set_id!r} in {self.root}")
        return path

    def load(
        self, set_id: str, *, serial: str | None = None, mode_key: str | None = None
    ) -> CalibrationSet:
        """Load and verify one set.

        Parameters
        ----------
        set_id : str
            The set's id (its directory name).
        serial, mode_key : str, optional
            When given, the set must belong to this detector and readout mode.

        Raises
        ------
        CalibrationNotFound
            No such set.
        CalibrationMismatch
            Another detector serial or readout mode.
        CalibrationFormatError
            A newer or foreign format.
        CalibrationCorrupt
            A file missing, truncated, or failing its checksum.
        """
        set_dir = self._set_dir(set_id)
        manifest = self._manifest(set_dir)
        where = set_dir / MANIFEST
        if serial is not None and manifest["serial"] != serial:
            raise CalibrationMismatch(
                f"{where}: calibration set is for detector {manifest['serial']!r}, not {serial!r}"
            )
        if mode_key is not None and manifest["mode_key"] != mode_key:
            raise CalibrationMismatch(
                f"{where}: calibration set is for readout mode {manifest['mode_key']!r}, "
                f"not {mode_key!r}"
            )
        arrays = self._arrays(set_dir, manifest["arrays"])
        try:
            pwl = None
            if "pwl_slopes" in arrays:
                pwl = PiecewiseGain(
                    arrays["pwl_breaks"],
                    arrays["pwl_slopes"],
                    arrays["pwl_knots"],
                    tuple(float(v) for v in manifest.get("levels_ugy", [])),
                )
            temp = manifest.get("temp_c")
            gain_utc = manifest.get("gain_created_utc")
            calset = CalibrationSet(
                serial=str(manifest["serial"]),
                mode_key=str(manifest["mode_key"]),
                dark=arrays["dark"],
                gain=arrays["gain"],
                defects=arrays["defects"],
                pedestal_counts=float(manifest["pedestal_counts"]),
                created_utc=dt.datetime.fromisoformat(manifest["created_utc"]),
                temp_c=math.nan if temp is None else float(temp),
                n_dark=int(manifest["n_dark"]),
                n_flood=int(manifest["n_flood"]),
                pwl=pwl,
                replacement=manifest.get("replacement", "mean"),
                gain_created_utc=None if gain_utc is None else dt.datetime.fromisoformat(gain_utc),
                gain_temp_c=(
                    _read_temp(manifest["gain_temp_c"]) if "gain_temp_c" in manifest else None
                ),
                quality=CalibrationQuality.from_json(manifest.get("quality")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CalibrationCorrupt(f"{where}: inconsistent calibration set ({exc})") from None
        if calset.set_id != set_id:
            raise CalibrationCorrupt(f"{where}: content id {calset.set_id} is not {set_id}")
        return calset

    def sets(self) -> list[StoredSet]:
        """List every readable set, newest first (unreadable entries raise, naming the file)."""
        if not self.root.is_dir():
            return []
        found = []
        for set_dir in sorted(self.root.iterdir()):
            if set_dir.name.startswith(".") or not set_dir.is_dir():
                continue
            found.append(self._stored_set(set_dir))
        return sorted(found, key=lambda s: s.created_utc, reverse=True)

    def _stored_set(self, set_dir: Path) -> StoredSet:
        m = self._manifest(set_dir)
        gain_utc = m.get("gain_created_utc")
        try:
            return StoredSet(
                set_id=set_dir.name,
                serial=str(m["serial"]),
                mode_key=str(m["mode_key"]),
                created_utc=dt.datetime.fromisoformat(m["created_utc"]),
                temp_c=_read_temp(m.get("temp_c")),
                n_dark=int(m["n_dark"]),
                n_flood=int(m["n_flood"]),
                segments=int(m["arrays"].get("pwl_slopes", {"shape": [1]})["shape"][0]),
                path=set_dir,
                inputs_sha256=m.get("inputs_sha256"),
                gain_created_utc=None if gain_utc is None else dt.datetime.fromisoformat(gain_utc),
                gain_temp_c=_read_temp(m["gain_temp_c"]) if "gain_temp_c" in m else None,
                derived_from=m.get("derived_from"),
                defect_counts=_counts(m.get("defect_counts")),
                quality=CalibrationQuality.from_json(m.get("quality")),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            where = set_dir / MANIFEST
            raise CalibrationCorrupt(f"{where}: inconsistent manifest ({exc})") from None

    def describe(self, set_id: str) -> StoredSet:
        """Return what the manifest of the set ``set_id`` says (no arrays read).

        Raises
        ------
        CalibrationNotFound
            No such set.
        """
        return self._stored_set(self._set_dir(set_id))

    def built_from(self, inputs_sha256: str) -> StoredSet | None:
        """Return the stored set built from inputs with this fingerprint, if there is one."""
        return next((s for s in self.sets() if s.inputs_sha256 == inputs_sha256), None)

    def select(
        self,
        serial: str,
        mode_key: str,
        *,
        rules: ValidityRules | None = None,
        temp_c: float = math.nan,
        now_utc: dt.datetime | None = None,
    ) -> CalibrationSet:
        """Load the newest set for this detector and readout mode.

        Parameters
        ----------
        serial, mode_key : str
            The detector and its readout mode (:attr:`panelgate.drivers.ReadoutMode.key`).
        rules : ValidityRules, optional
            When given, the newest set whose gain and defect maps are still valid for the
            panel at ``temp_c`` (°C; NaN: unknown) at ``now_utc`` (now when omitted); a
            stale dark does not disqualify a set (a fresh one needs no X-rays).

        Raises
        ------
        CalibrationNotFound
            None stored (the message lists what is stored for the detector), or with
            ``rules`` none valid (the message says why the newest is not).
        """
        sets = self.sets()
        matching = [s for s in sets if s.serial == serial and s.mode_key == mode_key]
        if rules is None and matching:
            return self.load(matching[0].set_id, serial=serial, mode_key=mode_key)
        refused: list[tuple[StoredSet, Validity]] = []
        for entry in matching:
            validity = entry.validity(temp_c, now_utc, rules)
            if not validity.status.needs_recalibration:
                return self.load(entry.set_id, serial=serial, mode_key=mode_key)
            refused.append((entry, validity))
        if refused:
            newest, why = refused[0]
            raise CalibrationNotFound(
                f"no valid calibration for detector {serial!r} in mode {mode_key!r} in "
                f"{self.root}: the newest, {newest.set_id}, is {why}"
            )
        modes = sorted({s.mode_key for s in sets if s.serial == serial})
        raise CalibrationNotFound(
            f"no calibration for detector {serial!r} in mode {mode_key!r} in {self.root}"
            + (f" (stored modes: {', '.join(modes)})" if modes else "")
        )

    def export(self, set_id: str, out_dir: Path, fmt: str = "npy") -> list[Path]:
        """Write a set's maps as .npy or TIFF files, all or none (see :func:`export_maps`)."""
        return export_maps(self.load(set_id), out_dir, fmt)
