"""A small reorder window: RTP packets in, the same packets out in sequence order.

A packet that is next in sequence is released at once (with any held packets that follow it);
one that arrives after a gap is held. The gap is given up - the release jumps to the oldest held
packet - when more than ``max_packets`` are held or the oldest held one has waited ``max_delay``
seconds, whichever comes first. A packet older than what was already released (or a second copy
of a held one) is dropped and counted in ``late``. Pure: the caller passes the time and asks
:meth:`ReorderBuffer.due` when to come back.
"""

from __future__ import annotations

from typing import Final

from wire.rtp import RtpPacket, seq_distance

MAX_PACKETS: Final = 32
MAX_DELAY: Final = 0.1


class ReorderBuffer:
    """Releases packets in sequence order within a window of packets and time."""

    def __init__(self, max_packets: int = MAX_PACKETS, max_delay: float = MAX_DELAY) -> None:
        self.max_packets = max_packets
        self.max_delay = max_delay
        self.late = 0
        self._next: int | None = None  # the sequence number released next
        self._held: dict[int, tuple[RtpPacket, float]] = {}

    @property
    def held(self) -> int:
        """Packets waiting for a gap before them to fill."""
        return len(self._held)

    def push(self, packet: RtpPacket, now: float) -> list[RtpPacket]:
        """Take one packet; returns the packets now released, in order."""
        seq = packet.sequence_number
        if self._next is None:
            self._next = seq
        if seq_distance(self._next, seq) < 0 or seq in self._held:
            self.late += 1
            return []
        self._held[seq] = (packet, now)
        return self._drain(now)

    def due(self) -> float | None:
        """When the oldest held packet's wait runs out (None when nothing is held)."""
        if not self._held:
            return None
        return min(at for _, at in self._held.values()) + self.max_delay

    def flush_due(self, now: float) -> list[RtpPacket]:
        """Give up the gaps whose wait ran out by ``now``; the packets released."""
        return self._drain(now)

    def reset(self) -> list[RtpPacket]:
        """Release everything held, in order, and start over (the sender restarted)."""
        released: list[RtpPacket] = []
        while self._held:
            released.extend(self._skip_gap())
        self._next = None
        return released

    def _drain(self, now: float) -> list[RtpPacket]:
        released = self._run()
        while self._held and (
            len(self._held) > self.max_packets
            or min(at for _, at in self._held.values()) + self.max_delay <= now
        ):
            released.extend(self._skip_gap())
        return released

    def _skip_gap(self) -> list[RtpPacket]:
        assert self._next is not None
        start = self._next
        self._next = min(self._held, key=lambda s: seq_distance(start, s))
        return self._run()

    def _run(self) -> list[RtpPacket]:
        """Release the held packets that continue the sequence without a gap."""
        released: list[RtpPacket] = []
        seq = self._next
        while seq is not None and seq in self._held:
            released.append(self._held.pop(seq)[0])
            seq = (seq + 1) & 0xFFFF
        self._next = seq
        return released
