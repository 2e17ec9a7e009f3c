"""What the console's fragments show, computed from the station's status and image list.

The templates only lay out; the judgements are made here, where they are tested: the
colour band of a deviation index (IEC 62494-1:2008, 5.3: the DI is 10·log10(EI/EI_T);
|DI| <= 1 is within the usual range, 1 < |DI| <= 3 calls for attention, beyond 3 for
action), whether the expose control may be offered, and the big state word.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BIG_STATE", "di_band", "image_view", "state_view"]

BIG_STATE = {
    "idle": "IDLE",
    "preparing": "PREP",
    "ready": "READY",
    "exposing": "EXPOSING",
    "readout": "READOUT",
    "processing": "PROCESSING",
    "queued": "DONE",
    "failed": "FAILED",
}
"""The workflow state (``GET /api/status`` ``station.state``) as the big display says it."""

_BUSY = frozenset({"preparing", "ready", "exposing", "readout", "processing"})


def di_band(di: float | None) -> str:
    """Return ``green``, ``amber`` or ``red`` for a deviation index (IEC 62494-1), or ``""``.

    Parameters
    ----------
    di : float or None
        The deviation index in DI units (decibel-like: +1 is about 26 % more dose than
        the target exposure index); None when the image has none.
    """
    if di is None:
        return ""
    magnitude = abs(di)
    if magnitude <= 1.0:
        return "green"
    if magnitude <= 3.0:
        return "amber"
    return "red"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def image_view(image: dict[str, Any]) -> dict[str, Any]:
    """One image of ``GET /api/images`` with its DI band and its delivery summarised.

    Dose and exposure-index fields are shown when the image carries them (``ei``,
    ``di``, ``dap_dgycm2``; the station adds them as processing and dose reporting
    provide them).
    """
    di = _number(image.get("di", image.get("deviation_index")))
    ei = _number(image.get("ei", image.get("exposure_index")))
    destinations = image.get("destinations") or {}
    states = sorted({str(d.get("state", "")) for d in destinations.values()})
    return {
        **image,
        "ei": ei,
        "di": di,
        "di_band": di_band(di),
        "dap_dgycm2": _number(image.get("dap_dgycm2")),
        "delivery_states": states,
        "failed": "failed" in states,
    }


def state_view(status: dict[str, Any]) -> dict[str, Any]:
    """Return the live panel's content from ``GET /api/status`` (see the module docstring)."""
    station = status.get("station") or {}
    calibration = status.get("calibration") or {}
    generator = status.get("generator") or {}
    state = str(station.get("state", "idle"))
    calibration_valid = bool(calibration.get("set_id")) and not calibration.get("blocked")
    detector = status.get("detector") or {}
    busy = state in _BUSY
    return {
        "status": status,
        "state": state,
        "big_state": BIG_STATE.get(state, state.upper()),
        "ready": bool(station.get("ready")),
        "reason": str(station.get("reason", "")),
        "calibration_valid": calibration_valid,
        "prepare_ok": calibration_valid
        and bool(detector.get("connected"))
        and bool(generator.get("answering"))
        and not busy,
        "busy": busy,
        "generator_fault": str(generator.get("fault") or ""),
        "last_failure": station.get("last_failure") or "",
    }
