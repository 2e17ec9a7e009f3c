"""The protocols the console offers: name (``BODYPART [VIEW]``) and technique.

The protocol picker lists :data:`DEFAULT_PROTOCOLS` (kV and mAs of a typical adult at
the station's distance), each of which the station checks again when the exam is
selected (``POST /api/exam``: the body part and view against the DX header's codes, the
technique against the generator's ranges). The technician may change kV and mAs before
preparing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PROTOCOLS", "Protocol"]


@dataclass(frozen=True)
class Protocol:
    """One anatomical programme: its name as ``POST /api/exam`` takes it, and a technique."""

    name: str
    kv: float
    mas: float

    @property
    def key(self) -> str:
        """The name as an HTML id fragment (``CHEST PA`` -> ``chest-pa``)."""
        return "-".join(self.name.lower().split())


DEFAULT_PROTOCOLS = (
    Protocol("CHEST PA", 110.0, 2.0),
    Protocol("ABDOMEN", 80.0, 20.0),
    Protocol("PELVIS", 80.0, 20.0),
    Protocol("SKULL", 75.0, 16.0),
    Protocol("HAND PA", 55.0, 2.0),
    Protocol("KNEE", 65.0, 6.3),
    Protocol("FOOT", 60.0, 4.0),
)
"""The protocols whose body part and view the station's DX header knows today."""
