"""The images the station made, awaiting review or decided, kept across restarts.

Layout under ``<state_dir>/images/`` (folders 0700, files 0600)::

    held/<SOPInstanceUID>.dcm       the DX instance as the workflow wrote it
    preview/<SOPInstanceUID>.png    its preview
    index/<SOPInstanceUID>.json     review decision and the last delivery states seen
    exposed/                        what a failure after the beam kept (the workflow's)

An image is ``pending`` review until the technician accepts it (it is then queued in the
outbox for every destination) or rejects it (it stays here and is never sent). The index
file is written atomically after the image; a held file without one (the station was
killed in between) is listed again as pending at start-up, so nothing made is lost.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from panelgate.drivers.fsio import private_dir, write_bytes_atomic

__all__ = ["ImageEntry", "ImageIndex", "Review"]


class Review:
    """The review decisions (plain strings, as they appear in the API)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImageEntry:
    """One image: the review decision, the delivery states last seen, how it was made.

    ``reason`` is the reject reason (AAPM TG-305, :mod:`.rejects`) and ``note`` the
    technician's free text; ``repeat_of`` the image this one repeats and
    ``repeat_reason`` why. The rest is what the reject analysis reports of each image
    (protocol, body part, view, delivered kV and mAs, EI, EI_T, DI, the operator): never
    patient data.
    """

    sop_instance_uid: str
    made_unix_s: float
    review: str = Review.PENDING
    reason: str = ""
    delivery: dict[str, dict[str, str]] = field(default_factory=dict)
    note: str = ""
    decided_unix_s: float | None = None
    operator: str = ""
    step_key: str = ""
    protocol: str = ""
    body_part: str = ""
    view: str = ""
    kv: float | None = None
    mas: float | None = None
    target_ei: float | None = None
    ei: float | None = None
    di: float | None = None
    dap_dgycm2: float | None = None  # dose-area product of the exposure (issue 16)
    repeat_of: str = ""
    repeat_reason: str = ""

    def to_json(self) -> bytes:
        """Serialise to UTF-8 JSON."""
        return json.dumps(asdict(self), sort_keys=True).encode()


class ImageIndex:
    """The station's images under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for folder in (self.held_dir, self.preview_dir, self.index_dir):
            private_dir(folder)
        self._lock = threading.Lock()
        self._entries: dict[str, ImageEntry] = {}

    @property
    def held_dir(self) -> Path:
        """Where the workflow writes the DX instances."""
        return self.root / "held"

    @property
    def preview_dir(self) -> Path:
        """Where the workflow writes the previews (its ``spool_dir/../preview``)."""
        return self.root / "preview"

    @property
    def index_dir(self) -> Path:
        """Where the review decisions are kept."""
        return self.root / "index"

    def load(self) -> list[str]:
        """Read the index; list again the held images that have no entry. Return those."""
        found: dict[str, ImageEntry] = {}
        for path in self.index_dir.glob("*.json"):
            try:
                data: dict[str, Any] = json.loads(path.read_bytes())
                found[path.stem] = ImageEntry(**data)
            except (ValueError, TypeError):
                continue  # unreadable: rebuilt from the held file below
        recovered = []
        for held in sorted(self.held_dir.glob("*.dcm")):
            if held.stem not in found:
                found[held.stem] = ImageEntry(held.stem, held.stat().st_mtime)
                recovered.append(held.stem)
        with self._lock:
            self._entries = found
        for uid in recovered:
            self._write(found[uid])
        return recovered

    def add(self, sop_instance_uid: str, **details: Any) -> ImageEntry:
        """Record a new image, pending review; ``details`` are :class:`ImageEntry` fields."""
        return self._store(ImageEntry(sop_instance_uid, time.time(), **details))

    def get(self, sop_instance_uid: str) -> ImageEntry | None:
        """Return the entry of one image, or None."""
        with self._lock:
            return self._entries.get(sop_instance_uid)

    def entries(self) -> list[ImageEntry]:
        """Every image, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: (e.made_unix_s, e.sop_instance_uid))

    def decide(
        self, sop_instance_uid: str, review: str, reason: str = "", *, note: str = "",
        operator: str = "",
    ) -> ImageEntry:  # fmt: skip
        """Record the review decision of an image, who made it and when."""
        with self._lock:
            entry = replace(
                self._entries[sop_instance_uid], review=review, reason=reason, note=note,
                operator=operator or self._entries[sop_instance_uid].operator,
                decided_unix_s=time.time(),
            )  # fmt: skip
        return self._store(entry)

    def delivery_seen(
        self, sop_instance_uid: str, destination: str, state: str, reason: str
    ) -> None:
        """Remember the last delivery state seen, for when the outbox has released the record."""
        with self._lock:
            entry = self._entries.get(sop_instance_uid)
            if entry is None:
                return
            delivery = {**entry.delivery, destination: {"state": state, "reason": reason}}
            entry = replace(entry, delivery=delivery)
        self._store(entry)

    def held_path(self, sop_instance_uid: str) -> Path:
        """Return the DX file of an image."""
        return self.held_dir / f"{sop_instance_uid}.dcm"

    def preview_path(self, sop_instance_uid: str) -> Path:
        """Return the preview PNG of an image."""
        return self.preview_dir / f"{sop_instance_uid}.png"

    def _store(self, entry: ImageEntry) -> ImageEntry:
        with self._lock:
            self._entries[entry.sop_instance_uid] = entry
            self._write(entry)
        return entry

    def _write(self, entry: ImageEntry) -> None:
        write_bytes_atomic(self.index_dir / f"{entry.sop_instance_uid}.json", entry.to_json())
