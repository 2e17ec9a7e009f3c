"""Fault injection for the simulated GigE Vision panel, from the API or the command line.

A :class:`FaultPlan` is frozen; the device reads it when it needs it, and a new plan can be
installed at any time with :meth:`~.device.GigESimulator.set_faults`. On the command line
each ``--fault`` is ``KIND[:key=value,...]``::

    burst:every=5,packets=20      every 5th frame loses 20 consecutive packets
    stall:after=3,seconds=2       the stream stops for 2 s in the middle of frame 3
    disconnect:after=4[,seconds=S]  mid-frame 4 the device goes silent (GVCP and GVSP),
                                  for S seconds (forever when omitted), then reboots
    corrupt:ratio=0.01            1 % of stream packets get a garbage header
    heartbeat-loss:after=5        control privilege is dropped 5 s after it was taken
    temperature:celsius=55,after=2  DeviceTemperature jumps to 55 °C after 2 s
    pending:ms=300                writes are answered with PENDING_ACK and completed 300 ms later

Random packet loss has its own option (``--loss-ratio``), like aravis' fake camera.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["FaultPlan", "parse_fault"]


@dataclass(frozen=True)
class FaultPlan:
    """Which faults the device shows; all off by default.

    Parameters
    ----------
    loss_ratio : float
        Probability in [0, 1) that any stream packet (first send or resend) is dropped.
    burst_every_frames, burst_packets : int
        Every ``burst_every_frames``-th frame loses ``burst_packets`` consecutive packets.
    stall_after_frames : int
        Frame number (1-based) in the middle of which the stream stalls for ``stall_s``.
    disconnect_after_frames : int
        Frame number in the middle of which the device goes silent for ``disconnect_s``
        seconds (0 = until stopped), then comes back as if rebooted (no controller).
    corrupt_ratio : float
        Probability that a stream packet is sent with a garbage header.
    heartbeat_loss_after_s : float
        Seconds after control is taken at which the device drops it (0 = never).
    temperature_c, temperature_after_s : float
        DeviceTemperature jumps to ``temperature_c`` after ``temperature_after_s`` s of
        uptime (NaN = no excursion).
    pending_ms : int
        Register writes answered with PENDING_ACK and completed this much later (0 = off).
    """

    loss_ratio: float = 0.0
    burst_every_frames: int = 0
    burst_packets: int = 0
    stall_after_frames: int = 0
    stall_s: float = 0.0
    disconnect_after_frames: int = 0
    disconnect_s: float = 0.0
    corrupt_ratio: float = 0.0
    heartbeat_loss_after_s: float = 0.0
    temperature_c: float = math.nan
    temperature_after_s: float = 0.0
    pending_ms: int = 0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be in [0, 1), got {getattr(self, name)}"
            for name in ("loss_ratio", "corrupt_ratio")
            if not 0.0 <= getattr(self, name) < 1.0
        ]
        problems += [
            f"{f.name} must be >= 0, got {getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.name != "temperature_c" and not getattr(self, f.name) >= 0
        ]
        if not 0 <= self.pending_ms <= 60_000:
            problems.append(f"pending_ms must be 0..60000, got {self.pending_ms}")
        if problems:
            raise ValueError("invalid fault plan: " + "; ".join(problems))


_KINDS: dict[str, dict[str, tuple[str, type]]] = {
    "burst": {"every": ("burst_every_frames", int), "packets": ("burst_packets", int)},
    "stall": {"after": ("stall_after_frames", int), "seconds": ("stall_s", float)},
    "disconnect": {"after": ("disconnect_after_frames", int), "seconds": ("disconnect_s", float)},
    "corrupt": {"ratio": ("corrupt_ratio", float)},
    "heartbeat-loss": {"after": ("heartbeat_loss_after_s", float)},
    "temperature": {"celsius": ("temperature_c", float), "after": ("temperature_after_s", float)},
    "pending": {"ms": ("pending_ms", int)},
}


def parse_fault(text: str, plan: FaultPlan | None = None) -> FaultPlan:
    """Add one ``KIND[:key=value,...]`` fault to ``plan``.

    Raises
    ------
    ValueError
        Unknown kind or key, a value that is not a number, or a value out of range; the
        message names the accepted kinds and keys.
    """
    kind, _, rest = text.partition(":")
    keys = _KINDS.get(kind)
    if keys is None:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(_KINDS))}")
    changes: dict[str, float | int] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in keys:
            raise ValueError(
                f"fault {kind!r} takes {', '.join(f'{k}=N' for k in keys)}; got {item!r}"
            )
        field, type_ = keys[key]
        try:
            changes[field] = type_(value)
        except ValueError:
            raise ValueError(f"fault {kind}: {key}={value!r} is not a number") from None
    first = next(iter(keys.values()))[0]
    if first not in changes:
        raise ValueError(f"fault {kind!r} needs {next(iter(keys))}=N")
    return dataclasses.replace(plan or FaultPlan(), **changes)  # type: ignore[arg-type]
