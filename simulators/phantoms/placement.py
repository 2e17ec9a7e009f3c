"""Placing a phantom on a panel: what stands in the beam, and its rendering per technique.

A :class:`Placement` is the set-up of one exposure as a radiographer makes it: the
phantom on the table, the collimated field, the grid, the L/R marker. Simulated panels
take one from their URL (``phantom=``, ``field=``, ``grid=``, ``marker=``, parsed by
:meth:`Placement.from_keys`) or, per exposure, from their room
(:meth:`~panelgate.simulators.room.Room.place`). :class:`PlacedPhantom` renders it on one
panel at the tube voltage of each beam pulse: the bodies (path lengths) are built once,
the scenes are cached per kV.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import numpy.typing as npt

from .accessories import (
    GRID_PRIMARY,
    GRID_SCATTER,
    aliased_cycles_per_px,
    collimate,
    grid_lines,
    mark,
    scatter,
)
from .chest import chest_body
from .hand import hand_body
from .materials import Material, effective_energy_kev, mu_per_mm
from .qc_objects import edge_body, wedge_body
from .scene import Body, Field, Nodule, Scene, Truth, WedgeStep

__all__ = [
    "DEFAULT_GRID_LINES_PER_CM",
    "PHANTOMS",
    "PlacedPhantom",
    "Placement",
    "protocol_placement",
    "render",
]

_F32 = npt.NDArray[np.float32]

PHANTOMS = ("open", "wedge", "chest", "hand", "edge")
"""Names of the phantoms (``phantom=`` of a simulated panel's URL)."""

DEFAULT_GRID_LINES_PER_CM = 40.0
"""Line density of ``grid=on``, lines per cm (common grids have 40-80)."""

_BUILDERS: dict[str, Callable[[int, int, float], Body]] = {
    "chest": lambda h, w, _p: chest_body(h, w),
    "hand": lambda h, w, _p: hand_body(h, w),
    "wedge": wedge_body,
    "edge": edge_body,
}
_FIELD = re.compile(r"^(?P<w>[\d.]+)x(?P<h>[\d.]+)(?:@(?P<x>[-+\d.]+),(?P<y>[-+\d.]+))?$")


@dataclass(frozen=True)
class Placement:
    """One exposure's set-up on a simulated panel.

    Parameters
    ----------
    phantom : str
        One of :data:`PHANTOMS`.
    field_mm : tuple of float, optional
        Width and height of the collimated field on the panel, mm; None: the whole panel.
    field_offset_mm : tuple of float
        The field centre's offset from the panel centre, mm (x right, y down).
    grid_lines_per_cm : float, optional
        An anti-scatter grid of this line density; None: no grid.
    marker : str, optional
        ``"L"`` or ``"R"``: the lead marker in the field; None: no marker.
    scatter : bool
        Whether the phantom scatters (the convolution model of :mod:`.accessories`).

    Raises
    ------
    ValueError
        An unknown phantom or marker, or a size that is not positive.
    """

    phantom: str = "open"
    field_mm: tuple[float, float] | None = None
    field_offset_mm: tuple[float, float] = (0.0, 0.0)
    grid_lines_per_cm: float | None = None
    marker: str | None = None
    scatter: bool = True

    def __post_init__(self) -> None:
        if self.phantom not in PHANTOMS:
            raise ValueError(f"unknown phantom {self.phantom!r}; known: {', '.join(PHANTOMS)}")
        if self.marker not in (None, "L", "R"):
            raise ValueError(f"marker must be L or R, got {self.marker!r}")
        sizes = [*(self.field_mm or ()), self.grid_lines_per_cm or 1.0]
        if not all(math.isfinite(v) and v > 0 for v in sizes):
            raise ValueError(f"field sizes and grid density must be positive: {self}")
        if not all(math.isfinite(v) for v in self.field_offset_mm):
            raise ValueError(f"field offset must be finite: {self.field_offset_mm}")

    @classmethod
    def from_keys(
        cls,
        phantom: str = "open",
        field: str | None = None,
        grid: str | None = None,
        marker: str | None = None,
    ) -> Placement:
        """Parse the URL keys: ``field=WxH[@x,y]`` (mm), ``grid=on|off|LINES_PER_CM``.

        Raises
        ------
        ValueError
            A value that does not parse, with what was expected.
        """
        field_mm, offset = None, (0.0, 0.0)
        if field:
            m = _FIELD.match(field)
            if m is None:
                raise ValueError(f"field={field!r}: expected WxH or WxH@X,Y in mm")
            field_mm = (float(m["w"]), float(m["h"]))
            if m["x"] is not None:
                offset = (float(m["x"]), float(m["y"]))
        lines = None
        if grid not in (None, "", "off"):
            try:
                lines = DEFAULT_GRID_LINES_PER_CM if grid == "on" else float(grid)
            except ValueError:
                raise ValueError(f"grid={grid!r}: expected on, off or lines per cm") from None
        return cls(phantom, field_mm, offset, lines, marker.upper() if marker else None)

    def to_json(self) -> str:
        """Return the placement as JSON (the room's placement file)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Placement:
        """Parse :meth:`to_json`'s text.

        Raises
        ------
        ValueError
            Not such a text.
        """
        try:
            d = json.loads(text)
            field = tuple(d["field_mm"]) if d.get("field_mm") is not None else None
            return cls(
                str(d["phantom"]), field, tuple(d.get("field_offset_mm", (0.0, 0.0))),
                d.get("grid_lines_per_cm"), d.get("marker"), bool(d.get("scatter", True)),
            )  # fmt: skip
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a placement: {exc}") from None

    def field(self, height: int, width: int, pixel_pitch_mm: float) -> Field | None:
        """Return the field in pixel coordinates of a panel; None without collimation.

        Raises
        ------
        ValueError
            The field does not fit on the panel.
        """
        if self.field_mm is None:
            return None
        (w, h), (dx, dy) = self.field_mm, self.field_offset_mm
        x0 = width / 2 + (dx - w / 2) / pixel_pitch_mm
        y0 = height / 2 + (dy - h / 2) / pixel_pitch_mm
        x1, y1 = x0 + w / pixel_pitch_mm, y0 + h / pixel_pitch_mm
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height or min(x1 - x0, y1 - y0) < 4:
            size = f"{width * pixel_pitch_mm:.1f}x{height * pixel_pitch_mm:.1f} mm"
            raise ValueError(
                f"field {w:g}x{h:g} mm at {dx:+g},{dy:+g} mm does not fit the {size} panel"
            )
        return Field(x0, y0, x1, y1)

    def is_open(self) -> bool:
        """Return True when nothing at all stands in the beam."""
        return self == Placement(scatter=self.scatter)


def _nodules(
    body: Body, primary: _F32, scattered: _F32 | None, kv: float, k: float
) -> tuple[Nodule, ...]:
    """Truth of the nodules: the relative dip at the pixel holding each centre."""
    if body.nodule_mm is None:
        return ()
    delta = mu_per_mm(Material.SOFT_TISSUE, kv) - mu_per_mm(Material.LUNG, kv)
    out = []
    for n in body.nodules:
        r, c = int(n.centre_y_px), int(n.centre_x_px)
        with_p = float(primary[r, c])
        without_p = with_p * math.exp(delta * float(body.nodule_mm[r, c]))
        s = 0.0 if scattered is None else k * float(scattered[r, c])
        contrast = 1.0 - (with_p + s) / (without_p + s)
        out.append(Nodule(n.centre_x_px, n.centre_y_px, n.diameter_mm, n.diameter_px, contrast))
    return tuple(out)


def render(
    placement: Placement,
    height: int,
    width: int,
    pixel_pitch_mm: float,
    *,
    kv: float,
    body: Body | None = None,
) -> Scene:
    """Render ``placement`` on a panel at tube voltage ``kv``: transmission and truth.

    ``T = g(x) · (k_p · P + k_s · S)``: primary ``P`` (Beer-Lambert through the body, then
    blades and marker), scatter ``S`` from it; with a grid ``g`` its strips' shading and
    ``k_p``, ``k_s`` its primary and scatter transmissions, else 1.

    Raises
    ------
    ValueError
        A tube voltage outside the model's range, a field that does not fit.
    """
    if body is None and placement.phantom != "open":
        body = _BUILDERS[placement.phantom](height, width, pixel_pitch_mm)
    primary = body.primary(kv) if body else np.ones((height, width), dtype=np.float32)
    field = placement.field(height, width, pixel_pitch_mm)
    if field is not None:
        collimate(primary, field, kv)
    marker = None
    if placement.marker is not None:
        marker = mark(primary, placement.marker, field or Field(0, 0, width, height), kv)
    water = body.water_equivalent_mm() if body is not None and placement.scatter else None
    scattered = None
    if water is not None and float(water.max()) > 0:
        scattered = scatter(primary, water, body.mm_per_px)  # type: ignore[union-attr]
    k_p, k_s = (GRID_PRIMARY, GRID_SCATTER) if placement.grid_lines_per_cm else (1.0, 1.0)
    total = primary * np.float32(k_p)
    if scattered is not None:
        total += np.float32(k_s) * scattered
    lines = placement.grid_lines_per_cm
    if lines is not None:
        total *= grid_lines(width, pixel_pitch_mm, lines)
    np.clip(total, 0.0, 1.0, out=total)
    box = field or Field(0, 0, width, height)
    inner = (
        slice(math.ceil(box.y0_px), int(box.y1_px)),
        slice(math.ceil(box.x0_px), int(box.x1_px)),
    )
    spr = (
        0.0
        if scattered is None
        else float(k_s * scattered[inner].mean() / (k_p * primary[inner].mean()))
    )
    name = placement.phantom
    steps: tuple[WedgeStep, ...] = ()
    edge = None
    if body is not None:
        mu_al = mu_per_mm(Material.ALUMINIUM, kv)
        steps = tuple(WedgeStep(r, c, t, math.exp(-mu_al * t)) for r, c, t in body.wedge_steps)
        if body.edge is not None:
            plate = math.exp(-mu_per_mm(Material.TUNGSTEN, kv) * 1.0)
            edge = replace(body.edge, transmission=plate)
    truth = Truth(
        name, kv, effective_energy_kev(kv), body.mm_per_px if body else pixel_pitch_mm,
        field=field, nodules=_nodules(body, primary, scattered, kv, k_s / k_p) if body else (),
        wedge_steps=steps, edge=edge, marker=marker, grid_lines_per_cm=lines,
        grid_cycles_per_px=aliased_cycles_per_px(lines, pixel_pitch_mm) if lines else None,
        scatter_to_primary=spr,
    )  # fmt: skip
    return Scene(total, truth)


class PlacedPhantom:
    """A placement on one panel, rendered per tube voltage (bodies built once, thread-safe).

    Parameters
    ----------
    placement : Placement
        What stands in the beam.
    height, width : int
        The panel's matrix.
    pixel_pitch_mm : float
        The panel's pixel pitch, mm.
    """

    _KEEP = 4

    def __init__(
        self, placement: Placement, height: int, width: int, pixel_pitch_mm: float
    ) -> None:
        self.placement = placement
        self.shape = (height, width)
        self.pixel_pitch_mm = pixel_pitch_mm
        placement.field(height, width, pixel_pitch_mm)  # refuse a field that does not fit
        self._lock = threading.Lock()
        self._body: Body | None = None
        self._scenes: dict[float, Scene] = {}

    @property
    def prepared(self) -> bool:
        """Whether the body is built (or there is none to build)."""
        return self._body is not None or self.placement.phantom == "open"

    def prepare(self) -> None:
        """Build the body now (it is otherwise built by the first :meth:`scene`)."""
        with self._lock:
            self._build()

    def _build(self) -> None:
        name = self.placement.phantom
        if self._body is None and name != "open":
            self._body = _BUILDERS[name](*self.shape, self.pixel_pitch_mm)

    def scene(self, kv: float) -> Scene:
        """Return the scene at ``kv`` (cached for the last few tube voltages)."""
        key = round(float(kv), 3)
        with self._lock:
            if key not in self._scenes:
                self._build()
                if len(self._scenes) >= self._KEEP:
                    self._scenes.pop(next(iter(self._scenes)))
                self._scenes[key] = render(
                    self.placement, *self.shape, self.pixel_pitch_mm, kv=key, body=self._body
                )
            return self._scenes[key]

    def transmission(self, kv: float) -> _F32 | None:
        """Return the transmission at ``kv``; None when nothing stands in the beam."""
        if self.placement.is_open():
            return None
        return self.scene(kv).transmission


_PROTOCOL_PHANTOMS = {
    "CHEST": Placement("chest", grid_lines_per_cm=DEFAULT_GRID_LINES_PER_CM, marker="L"),
    "HAND": Placement("hand", marker="R"),
    "FINGER": Placement("hand", marker="R"),
    "WRIST": Placement("hand", marker="R"),
}


def protocol_placement(protocol: str) -> Placement | None:
    """Return the phantom a simulated room places for a protocol (``BODYPART [VIEW]``).

    Chest protocols get the chest PA behind a grid with an L marker; hand, finger and
    wrist protocols the hand PA with an R marker; anything else None (the panel keeps the
    phantom of its own URL). The whole panel is irradiated (no collimation).
    """
    words = protocol.split()
    return _PROTOCOL_PHANTOMS.get(words[0].upper()) if words else None
