"""Link-rate pacing of the simulated device's stream packets.

A GigE Vision device cannot put packets on the wire faster than its link: at 1000BASE-T an
8192-byte GVSP packet occupies the link for about 66 µs, and the inter-packet delay
GevSCPD (GigE Vision 2.x, bootstrap register SCPD, 0x0D08) adds to that. A Python sender
on loopback has no such limit: unpaced, it writes a whole frame into the host's socket
within a millisecond, and a host whose receive buffer is smaller than that burst (aravis
sizes it to one payload, and Linux charges about 16 KiB of buffer per 8 KiB datagram on
``lo``) loses packets it would never lose behind a real link. :class:`LinkPacer` spaces
packets as the link would, allowing a small burst (a NIC's transmit queue) so that the
sender sleeps only every few packets.
"""

from __future__ import annotations

import threading
import time

__all__ = ["ETHERNET_OVERHEAD_BYTES", "LinkPacer"]

#: Bytes on the wire per frame besides the IP packet: MAC header 14, FCS 4, preamble and
#: start delimiter 8, inter-frame gap 12 (IEEE 802.3).
ETHERNET_OVERHEAD_BYTES = 38
_MIN_SLEEP_S = 0.0002  #: shorter sleeps cost more than they are worth (timer slack)


class LinkPacer:
    """Blocks a sender so that its packets leave no faster than a link of the given speed.

    Thread-safe: the frame sender and the resend path share one link.

    Parameters
    ----------
    bits_per_s : float
        Link speed (1e9 for GigE). 0 disables pacing (the inter-packet delay still applies).
    burst_bytes : int
        Wire bytes the sender may run ahead of the link before it sleeps.
    """

    def __init__(self, bits_per_s: float, burst_bytes: int = 64 * 1024) -> None:
        if bits_per_s < 0 or burst_bytes < 0:
            raise ValueError(f"link speed and burst must be >= 0, got {bits_per_s}, {burst_bytes}")
        self._s_per_byte = 8.0 / bits_per_s if bits_per_s else 0.0
        self._max_ahead_s = max(burst_bytes * self._s_per_byte, _MIN_SLEEP_S)
        self._free_at = 0.0  #: perf_counter time at which the link has sent all packets so far
        self._lock = threading.Lock()

    def wire_s(self, ip_bytes: int, packets: int = 1, gap_s: float = 0.0) -> float:
        """Seconds the link is busy with ``packets`` datagrams of ``ip_bytes`` in all.

        Parameters
        ----------
        ip_bytes : int
            IP datagram bytes of all the packets together.
        packets : int
            How many packets (each adds the Ethernet framing and ``gap_s``).
        gap_s : float
            Idle time after each packet (GevSCPD).
        """
        return (ip_bytes + packets * ETHERNET_OVERHEAD_BYTES) * self._s_per_byte + packets * gap_s

    def wait(self, ip_bytes: int, gap_s: float = 0.0) -> None:
        """Reserve the link for one packet of ``ip_bytes``, sleeping when too far ahead.

        Parameters
        ----------
        ip_bytes : int
            IP datagram size (IP + UDP + GVSP header + data).
        gap_s : float
            Extra idle time after the packet (GevSCPD, converted to seconds).
        """
        wire_s = self.wire_s(ip_bytes, 1, gap_s)
        if wire_s <= 0:
            return
        with self._lock:
            now = time.perf_counter()
            start = max(self._free_at, now)  # an idle link does not save up credit
            self._free_at = start + wire_s
            ahead_s = start - now
        if ahead_s > self._max_ahead_s:
            time.sleep(ahead_s)
