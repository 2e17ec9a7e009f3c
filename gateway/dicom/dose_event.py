"""One irradiation event as the dose SR reports it, and the device that observed it.

An :class:`IrradiationEvent` is what PS3.16 TID 10003 (Irradiation Event X-Ray Data)
says of one exposure: its Irradiation Event UID (the image's (0008,3010)), when it
started, the delivered technique, the dose (:class:`~.dose.EventDose`), the target region
and view, the acquisition protocol and the Exposure Index of IEC 62494-1. It is plain
data, converted to and from a JSON-ready ``dict`` so that an exposure log can keep it
(:mod:`panelgate.acquisition.exposure_log`) and the SR can be rebuilt from the log.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from .dose import EventDose

__all__ = ["DeviceObserver", "IrradiationEvent"]


@dataclass(frozen=True)
class DeviceObserver:
    """The device that made the exposures (PS3.16 TID 1004, Device Observer Identifying).

    Parameters
    ----------
    uid : str
        Device Observer UID (121012): stable for the device.
    name, manufacturer, model, serial : str
        Device Observer Name (121013), Manufacturer (121014), Model Name (121015) and
        Serial Number (121016).
    """

    uid: str
    name: str
    manufacturer: str
    model: str
    serial: str


@dataclass(frozen=True)
class IrradiationEvent:
    """One exposure, as TID 10003 reports it (units in the names).

    Parameters
    ----------
    irradiation_event_uid : str
        Irradiation Event UID (113769), the same as the image's (0008,3010).
    started : datetime.datetime
        DateTime Started (111526), time-zone aware.
    kvp, tube_current_ma, exposure_time_ms, exposure_mas : float
        Delivered technique.
    dose : EventDose
        DAP, entrance dose, distances and field of the event.
    body_part, view_position, image_laterality : str
        Body Part Examined (a key of ``ANATOMY_CODES``), View Position (a key of
        ``VIEW_CODES`` or empty) and Image Laterality.
    acquisition_protocol : str
        The protocol the technician chose (125203).
    exposure_index, target_exposure_index : float or None
        IEC 62494-1 EI and EI_T; None when the detector has no dose calibration.
    sop_instance_uid, series_instance_uid : str
        The image the exposure made (empty when none was made).
    """

    irradiation_event_uid: str
    started: dt.datetime
    kvp: float
    tube_current_ma: float
    exposure_time_ms: float
    exposure_mas: float
    dose: EventDose
    body_part: str
    view_position: str
    image_laterality: str
    acquisition_protocol: str
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    sop_instance_uid: str = ""
    series_instance_uid: str = ""

    def __post_init__(self) -> None:
        if self.started.tzinfo is None:
            raise ValueError("an irradiation event's start must be time-zone aware")

    @property
    def deviation_index(self) -> float | None:
        """DI = 10 · log10(EI / EI_T) (IEC 62494-1), None without both."""
        if not (self.exposure_index and self.target_exposure_index):
            return None
        return 10.0 * math.log10(self.exposure_index / self.target_exposure_index)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready ``dict`` (the start as ISO 8601 with its offset)."""
        data = asdict(self)
        data["started"] = self.started.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IrradiationEvent:
        """Rebuild an event from :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            A missing or malformed field.
        """
        try:
            fields = dict(data)
            fields["started"] = dt.datetime.fromisoformat(fields["started"])
            fields["dose"] = EventDose(**fields["dose"])
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an irradiation event record: {exc}") from None
