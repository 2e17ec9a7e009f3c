"""The technique of a calibration flood: kV and mAs that give an air kerma at the detector.

A gain calibration asks for floods of a known air kerma at the detector (calibration.md
§3: several levels for a multi-point gain); a generator is set in kV and mAs. The kV is
the beam quality, ``[calibration] flood_kv`` (70 kV by default: the tube voltage of RQA5,
IEC 62220-1-1, and the vendors' usual calibration beam, calibration.md §3). The mAs of
each level comes from a tube-output model (:class:`TubeOutput`)::

    K = Y · (kV / kV_ref) ^ n · mAs / SID²          (µGy, SID in metres, Y at 1 m)

``Y`` is the tube output in µGy per mAs at ``kV_ref`` and 1 m (defaults 50 µGy/mAs at
80 kV: a tungsten target with 2.5 mm Al total filtration gives 40-60, IPEM Report 91),
``n`` how it grows with the tube voltage (about 2 for a tungsten target at a fixed
filtration), and the inverse square of the source-to-image distance ``SID``
(``flood_sid_m``). Measure the tube's output with a dosemeter at the detector and set
``tube_output_ugy_per_mas`` to it: the flood checks (:mod:`.flood_checks`) accept a level
within a tolerance of what the model promises.

Every level's technique is checked against the generator's ranges before anything moves
(:func:`flood_techniques`); each flood is checked again before its beam
(:func:`check_before_flood`), as every exposure is (:mod:`.preflight`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from panelgate.drivers import DetectorState, IncompatibleState
from panelgate.drivers.generator import TechniqueLimits, TechniqueOutOfRange

from .config import CalibrationConfig
from .exposure import TriggerMode
from .pipeline import Pipeline
from .preflight import check_trigger

__all__ = ["FloodTechnique", "TubeOutput", "check_before_flood", "flood_techniques"]


@dataclass(frozen=True)
class TubeOutput:
    """The tube-output model of the module docstring.

    Parameters
    ----------
    ugy_per_mas : float
        Air kerma per mAs at ``ref_kv`` and 1 m from the focus, in µGy/mAs.
    ref_kv : float
        Tube voltage of ``ugy_per_mas``, in kV.
    kv_exponent : float
        Exponent of the output's growth with the tube voltage.

    Raises
    ------
    ValueError
        A value that is not positive and finite.
    """

    ugy_per_mas: float = 50.0
    ref_kv: float = 80.0
    kv_exponent: float = 2.0

    def __post_init__(self) -> None:
        for name in ("ugy_per_mas", "ref_kv", "kv_exponent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value!r}")

    @classmethod
    def of(cls, config: CalibrationConfig) -> TubeOutput:
        """Return the model of ``[calibration]``'s ``tube_output_*`` keys."""
        return cls(
            config.tube_output_ugy_per_mas, config.tube_output_kv, config.tube_output_kv_exponent
        )

    def ugy_per_mas_at(self, kv: float, sid_m: float) -> float:
        """Return the air kerma per mAs at the detector, µGy/mAs, at ``kv`` and ``sid_m``."""
        return float(self.ugy_per_mas * (kv / self.ref_kv) ** self.kv_exponent / sid_m**2)

    def mas_for(self, air_kerma_ugy: float, kv: float, sid_m: float) -> float:
        """Return the mAs that gives ``air_kerma_ugy`` µGy at the detector."""
        return air_kerma_ugy / self.ugy_per_mas_at(kv, sid_m)


@dataclass(frozen=True)
class FloodTechnique:
    """The technique of one flood level, checked against the generator's ranges.

    Parameters
    ----------
    level_ugy : float
        Air kerma wanted at the detector, µGy.
    kv, mas, ma : float
        Tube voltage (kV), current-time product (mAs) and current (mA).
    exposure_ms : float
        The exposure time this gives, ms.
    """

    level_ugy: float
    kv: float
    mas: float
    ma: float
    exposure_ms: float

    def __str__(self) -> str:
        return (
            f"{self.level_ugy:g} µGy: {self.kv:g} kV, {self.mas:.3g} mAs "
            f"({self.ma:g} mA, {self.exposure_ms:.3g} ms)"
        )


def flood_techniques(
    levels_ugy: Sequence[float],
    config: CalibrationConfig,
    *,
    limits: TechniqueLimits,
    ma_now: float,
) -> tuple[FloodTechnique, ...]:
    """Return each level's technique from the tube-output model, lowest level first.

    Parameters
    ----------
    levels_ugy : sequence of float
        Air kerma at the detector of each level, µGy.
    config : CalibrationConfig
        ``flood_kv``, ``flood_sid_m`` and the ``tube_output_*`` keys.
    limits : TechniqueLimits
        The generator's ranges; ``ma_now`` its tube current in mA.

    Raises
    ------
    TechniqueOutOfRange
        A level whose mAs the generator cannot give (nothing moved); the message names the
        level, the mAs and the generator's range.
    """
    tube = TubeOutput.of(config)
    techniques = []
    for level in sorted(levels_ugy):
        mas = tube.mas_for(level, config.flood_kv, config.flood_sid_m)
        try:
            exposure_ms = limits.check(config.flood_kv, mas, ma_now)
        except TechniqueOutOfRange as exc:
            raise TechniqueOutOfRange(
                f"flood level {level:g} µGy needs {mas:.3g} mAs at {config.flood_kv:g} kV and "
                f"{config.flood_sid_m:g} m ({tube.ugy_per_mas_at(config.flood_kv, 1.0):.3g} "
                f"µGy/mAs at 1 m): {exc}; nothing was fired"
            ) from None
        techniques.append(FloodTechnique(level, config.flood_kv, mas, ma_now, exposure_ms))
    return tuple(techniques)


def check_before_flood(
    pipeline: Pipeline, kv: float, mas: float, ma: float | None, *, limits: TechniqueLimits,
    ma_now: float, trigger: TriggerMode | None = None,
) -> float:  # fmt: skip
    """Check what a raw exposure needs before its beam; return its exposure time in ms.

    The part of :func:`~.preflight.check_before_beam` that concerns a frame nobody will see
    as an image: the technique within the generator's ranges, the detector connected and in
    a readout mode, and (given ``trigger``) its trigger source the workflow's trigger mode
    (:func:`~.preflight.check_trigger`).

    Raises
    ------
    TechniqueOutOfRange
        A value outside the generator's range.
    IncompatibleState
        The detector is not connected, or has no readout mode.
    UsageError
        The panel's trigger source is not ``trigger``.
    """
    exposure_ms = limits.check(kv, mas, ma if ma is not None else ma_now)
    detector = pipeline.detector
    if detector.status().state is DetectorState.DISCONNECTED:
        raise IncompatibleState("the detector is not connected")
    detector.mode  # noqa: B018 - raises IncompatibleState when no mode is set
    if trigger is not None:
        check_trigger(detector, trigger)
    return exposure_ms
