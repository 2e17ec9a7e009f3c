"""What a placed phantom is: its transmission map and the truth it is measured against.

A phantom builder returns a :class:`Body`: the path length (mm) of the beam through each
material at every pixel, independent of the technique. :meth:`Body.primary` turns it into
the primary transmission at a tube voltage by Beer-Lambert's law,
``T = exp(−Σ μ_m(kV) · L_m)`` (μ from :mod:`.materials`). The accessories
(:mod:`.accessories`) add collimation, a lead marker, scatter and a grid, and a
:class:`Scene` holds the result with its :class:`Truth`: the field, the nodules, the wedge
steps, the edge, the marker, the grid, as processing and QC are measured against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .materials import Material, effective_energy_kev, mu_per_mm

__all__ = ["Body", "Edge", "Field", "Marker", "Nodule", "Scene", "Truth", "WedgeStep"]

_F32 = npt.NDArray[np.float32]

_TISSUES = (Material.SOFT_TISSUE, Material.LUNG, Material.BONE, Material.WATER)
_DENSITY = {Material.SOFT_TISSUE: 1.06, Material.LUNG: 0.26, Material.BONE: 1.92,
            Material.WATER: 1.0}  # fmt: skip


@dataclass(frozen=True)
class Field:
    """The irradiated field: a rectangle in pixel coordinates (pixel i spans [i, i+1)).

    ``x0_px``/``x1_px`` are its left and right edges, ``y0_px``/``y1_px`` its top and
    bottom, as fractional pixel positions (the blades need not fall on a pixel border).
    """

    x0_px: float
    y0_px: float
    x1_px: float
    y1_px: float

    @property
    def edges_px(self) -> tuple[float, float, float, float]:
        """Return ``(left, top, right, bottom)``, as :mod:`panelgate.processing.quality` takes."""
        return self.x0_px, self.y0_px, self.x1_px, self.y1_px


@dataclass(frozen=True)
class Nodule:
    """A spherical lung nodule: centre (pixel coordinates), size and contrast.

    ``contrast`` is the relative dip of the scene's transmission at the centre against the
    same scene without the nodule, ``1 − T_with / T_without`` (scatter and grid included).
    """

    centre_x_px: float
    centre_y_px: float
    diameter_mm: float
    diameter_px: float
    contrast: float


@dataclass(frozen=True)
class WedgeStep:
    """One aluminium step of the step wedge: its pixel box, thickness and transmission."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    aluminium_mm: float
    transmission: float


@dataclass(frozen=True)
class Edge:
    """The slanted edge (IEC 62220-1-1): the plate covers the side right of the edge line.

    The line passes through (``centre_x_px``, ``centre_y_px``), tilted ``angle_deg`` from
    the columns (clockwise: its x grows with y by ``tan(angle)``).
    """

    angle_deg: float
    centre_x_px: float
    centre_y_px: float
    plate: str
    transmission: float


@dataclass(frozen=True)
class Marker:
    """The lead letter (L or R) and its pixel box (rows, cols, end exclusive)."""

    letter: str
    rows: tuple[int, int]
    cols: tuple[int, int]


@dataclass(frozen=True)
class Truth:
    """What a scene contains, in pixel coordinates of the panel.

    Parameters
    ----------
    phantom : str
        Its name (open, wedge, chest, hand, edge).
    kv, effective_energy_kev : float
        The technique it was rendered at.
    mm_per_px : float
        Size of a pixel in the phantom's plane (the anatomy is scaled to fill the panel).
    field : Field or None
        The collimated field; None: the whole panel is irradiated.
    nodules, wedge_steps : tuple
        Lung nodules and wedge steps, empty when the phantom has none.
    edge, marker : Edge or Marker or None
        The slanted edge and the L/R marker when present.
    grid_lines_per_cm : float or None
        Line density of the anti-scatter grid; None: no grid.
    grid_cycles_per_px : float or None
        Where the grid's lines fall in the image's spectrum, aliased into 0-0.5.
    scatter_to_primary : float
        Mean scatter-to-primary ratio behind the phantom in the field (0: no scatter).
    """

    phantom: str
    kv: float
    effective_energy_kev: float
    mm_per_px: float
    field: Field | None = None
    nodules: tuple[Nodule, ...] = ()
    wedge_steps: tuple[WedgeStep, ...] = ()
    edge: Edge | None = None
    marker: Marker | None = None
    grid_lines_per_cm: float | None = None
    grid_cycles_per_px: float | None = None
    scatter_to_primary: float = 0.0


@dataclass(frozen=True)
class Scene:
    """A phantom placed on the panel: transmission map (0..1, panel shape) and truth.

    The transmission is detector air kerma over open-field air kerma at every pixel.
    """

    transmission: _F32
    truth: Truth


@dataclass(frozen=True)
class _NoduleShape:
    centre_x_px: float
    centre_y_px: float
    diameter_mm: float
    diameter_px: float


@dataclass
class Body:
    """Path lengths of the beam through each material (mm), and the phantom's objects.

    Built once per phantom and panel size; :meth:`primary` renders it at a tube voltage.
    Lung nodules are soft tissue that displaces lung: ``nodule_mm`` holds their chords,
    already counted in the soft-tissue and lung paths, so a scene without them can be
    rendered for the truth.
    """

    name: str
    height: int
    width: int
    mm_per_px: float
    paths_mm: dict[Material, _F32] = field(default_factory=dict)
    nodule_mm: _F32 | None = None
    nodules: tuple[_NoduleShape, ...] = ()
    wedge_steps: tuple[tuple[tuple[int, int], tuple[int, int], float], ...] = ()
    edge: Edge | None = None
    plate: tuple[Material, float, _F32] | None = None
    """A plate (material, thickness mm) covering the given share of each pixel's area."""
    _water_mm: _F32 | None = field(default=None, init=False, repr=False, compare=False)

    def path(self, material: Material) -> _F32:
        """Return the path-length map of ``material``, made (zeros) on first use."""
        if material not in self.paths_mm:
            self.paths_mm[material] = np.zeros((self.height, self.width), dtype=np.float32)
        return self.paths_mm[material]

    def primary(self, kv: float, *, with_nodules: bool = True) -> _F32:
        """Primary transmission ``exp(−Σ μ_m(kV)·L_m)`` at ``kv`` (Beer-Lambert).

        ``with_nodules=False`` renders the same body with lung where the nodules are.
        """
        exponent = np.zeros((self.height, self.width), dtype=np.float32)
        for material, path in self.paths_mm.items():
            exponent += np.float32(mu_per_mm(material, kv)) * path
        if not with_nodules and self.nodule_mm is not None:
            delta = mu_per_mm(Material.SOFT_TISSUE, kv) - mu_per_mm(Material.LUNG, kv)
            exponent -= np.float32(delta) * self.nodule_mm
        out: _F32 = np.exp(-exponent).astype(np.float32)
        if self.plate is not None:  # area-weighted: open share + covered share · exp(−μt)
            material, thickness_mm, share = self.plate
            behind = np.float32(np.exp(-mu_per_mm(material, kv) * thickness_mm))
            out *= np.float32(1.0) - share * (np.float32(1.0) - behind)
        return out

    def water_equivalent_mm(self) -> _F32:
        """Mass thickness of the tissues along each ray as mm of water (scatter's source).

        Test objects of metal (wedge, edge, marker) scatter little and are left out.
        Computed once (the paths must not change afterwards).
        """
        if self._water_mm is None:
            total = np.zeros((self.height, self.width), dtype=np.float32)
            for material, path in self.paths_mm.items():
                if material in _TISSUES:
                    total += np.float32(_DENSITY[material]) * path
            self._water_mm = total
        return self._water_mm

    def truth(self, kv: float) -> Truth:
        """Return the truth of the bare body (no accessories; nodule contrast left 0)."""
        return Truth(self.name, kv, effective_energy_kev(kv), self.mm_per_px)
