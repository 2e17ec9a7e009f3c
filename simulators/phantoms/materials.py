"""Linear attenuation coefficients of the phantoms' materials as a function of tube voltage.

The beam is represented by one effective energy (a documented simplification of the
polyenergetic spectrum)::

    E_eff(kV) = 0.45 · kV   (keV)

close to the mean energy of a tungsten-anode spectrum with 2.5 mm Al total filtration once
it is hardened by a patient (the common rule "one third to one half of the kVp", Bushberg
et al., *The Essential Physics of Medical Imaging*, 3rd ed., ch. 3): 31.5 keV at 70 kV,
54 keV at 120 kV. The mass attenuation coefficients μ/ρ (coherent scattering included)
are NIST's (J. H. Hubbell and S. M. Seltzer, *Tables of X-Ray Mass Attenuation
Coefficients and Mass Energy-Absorption Coefficients*, NISTIR 5632, the values XCOM
gives), rounded to four figures, at 20-150 keV; between two energies log μ/ρ is
interpolated linearly in log E (the usual power-law interpolation of those tables). The
K edges of lead (88.0 keV) and tungsten (69.5 keV) are in the tables as two rows at the
same energy. Lung is soft tissue at the density of inflated lung, 0.26 g/cm³ (ICRU Report
46); bone is ICRU-44 cortical bone (1.92 g/cm³): a trabecular bone is given as its
cortical-equivalent path length.
"""

from __future__ import annotations

import enum
import itertools
import math

import numpy as np

__all__ = [
    "KV_RANGE",
    "Material",
    "effective_energy_kev",
    "mu_per_mm",
    "mu_rho_cm2_per_g",
    "slab_transmission",
]

_E_KEV = (20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 150.0)


class Material(enum.Enum):
    """The materials of the phantoms and accessories (value: name as NIST writes it)."""

    SOFT_TISSUE = "Tissue, Soft (ICRU-44)"
    LUNG = "Lung, inflated (soft tissue at 0.26 g/cm3)"
    BONE = "Bone, Cortical (ICRU-44)"
    ALUMINIUM = "Aluminum"
    LEAD = "Lead"
    TUNGSTEN = "Tungsten"
    WATER = "Water, Liquid"


_DENSITY_G_PER_CM3 = {
    Material.SOFT_TISSUE: 1.06,
    Material.LUNG: 0.26,
    Material.BONE: 1.92,
    Material.ALUMINIUM: 2.699,
    Material.LEAD: 11.35,
    Material.TUNGSTEN: 19.30,
    Material.WATER: 1.0,
}

_SOFT = (0.8205, 0.3790, 0.2688, 0.2264, 0.2048, 0.1823, 0.1693, 0.1492)
_MU_RHO: dict[Material, tuple[tuple[float, float], ...]] = {
    Material.SOFT_TISSUE: tuple(zip(_E_KEV, _SOFT, strict=True)),
    Material.LUNG: tuple(zip(_E_KEV, _SOFT, strict=True)),
    Material.BONE: tuple(
        zip(_E_KEV, (4.001, 1.331, 0.6655, 0.4242, 0.3148, 0.2229, 0.1855, 0.1480), strict=True)
    ),
    Material.ALUMINIUM: tuple(
        zip(_E_KEV, (3.441, 1.128, 0.5685, 0.3681, 0.2778, 0.2018, 0.1704, 0.1378), strict=True)
    ),
    Material.WATER: tuple(
        zip(_E_KEV, (0.8096, 0.3756, 0.2683, 0.2269, 0.2059, 0.1837, 0.1707, 0.1505), strict=True)
    ),
    Material.LEAD: (
        (20.0, 86.36),
        (30.0, 30.32),
        (40.0, 14.36),
        (50.0, 8.041),
        (60.0, 5.021),
        (80.0, 2.419),
        (88.0045, 1.910),
        (88.0045, 7.683),
        (100.0, 5.549),
        (150.0, 2.014),
    ),
    Material.TUNGSTEN: (
        (20.0, 65.73),
        (30.0, 22.73),
        (40.0, 10.67),
        (50.0, 5.949),
        (60.0, 3.713),
        (69.525, 2.552),
        (69.525, 11.23),
        (80.0, 7.810),
        (100.0, 4.438),
        (150.0, 1.581),
    ),
}

KV_RANGE = (40.0, 150.0)
"""Tube voltages the model covers, kV (effective energies 18-67.5 keV)."""


def effective_energy_kev(kv: float) -> float:
    """Return the effective energy of a beam at ``kv`` kilovolts, keV (0.45 · kV).

    Raises
    ------
    ValueError
        A tube voltage outside :data:`KV_RANGE` or not finite.
    """
    if not (math.isfinite(kv) and KV_RANGE[0] <= kv <= KV_RANGE[1]):
        raise ValueError(f"kv must be within {KV_RANGE[0]:g}-{KV_RANGE[1]:g} kV, got {kv!r}")
    return 0.45 * kv


def mu_rho_cm2_per_g(material: Material, energy_kev: float) -> float:
    """Return μ/ρ of ``material`` at ``energy_kev`` (log-log interpolation of NIST's table).

    Above a K edge (the table's second row at the edge energy) the higher value holds;
    below 20 keV (down to 18 keV, 40 kV) the first interval is extrapolated.

    Raises
    ------
    ValueError
        An energy outside 18-150 keV.
    """
    if not (math.isfinite(energy_kev) and 18.0 <= energy_kev <= 150.0):
        raise ValueError(f"energy_kev must be within 18-150 keV, got {energy_kev!r}")
    table = _MU_RHO[material]
    for (e0, m0), (e1, m1) in itertools.pairwise(table):
        if e1 > e0 and (energy_kev <= e1 or (e1, m1) == table[-1]):
            w = (math.log(energy_kev) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return math.exp(math.log(m0) + w * (math.log(m1) - math.log(m0)))
    raise AssertionError("unreachable: the table ends at 150 keV")  # pragma: no cover


def mu_per_mm(material: Material, kv: float) -> float:
    """Return the linear attenuation coefficient μ of ``material`` at ``kv``, per mm.

    ``μ = (μ/ρ)(E_eff(kV)) · ρ / 10`` (cm²/g · g/cm³ = 1/cm, tenfold per mm).

    Raises
    ------
    ValueError
        A tube voltage outside :data:`KV_RANGE`.
    """
    return mu_rho_cm2_per_g(material, effective_energy_kev(kv)) * _DENSITY_G_PER_CM3[material] / 10


def slab_transmission(material: Material, thickness_mm: float, kv: float) -> float:
    """Return ``exp(-μ·t)``: the primary transmission of a slab (Beer-Lambert)."""
    return float(np.exp(-mu_per_mm(material, kv) * thickness_mm))
