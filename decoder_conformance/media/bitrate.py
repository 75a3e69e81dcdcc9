"""What "current bit rate, Kbps" may count: the readings of point `bitrate_definition`.

The vendor page says only "current bit rate, ... Unit Kbps" (SIP-MED-BR-001), so a meter may count
the RTP payload, the whole RTP packet (plus the 12-octet fixed header) or the IP datagram (plus
UDP's 8 and IPv4's 20 octets), per 1000 or per 1024 bits. Each is a reading; the sent rate under
each is computed from the sender's own packet records, so the comparison needs no assumption about
packet sizes. A kbyte/s figure (a factor 8) is none of them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

#: RFC 3550 §5.1 fixed header (no CSRC, no extension: what the suite's sender writes).
RTP_HEADER: Final = 12
#: IPv4 header without options (20) plus UDP header (8), over UDP.
IP_UDP_HEADERS: Final = 28


class SentPacket(Protocol):
    """The fields of a sent packet the definitions need (the sender's PacketRecord)."""

    @property
    def t(self) -> float:
        """The monotonic send time."""

    @property
    def payload_size(self) -> int:
        """The RTP payload octets."""


@dataclass(frozen=True)
class Definition:
    """One reading: which octets are counted (`payload`, `rtp`, `ip`) and the kilo (1000, 1024)."""

    name: str
    counts: str
    kilo: int

    @property
    def overhead(self) -> int:
        """Octets counted per packet on top of the RTP payload."""
        return {"payload": 0, "rtp": RTP_HEADER, "ip": RTP_HEADER + IP_UDP_HEADERS}[self.counts]

    def kbps(self, packets: Iterable[SentPacket], start: float, end: float) -> float:
        """The rate of `packets` sent in [start, end) under this definition."""
        if end <= start:
            raise ValueError(f"empty window [{start}, {end})")
        octets = sum(p.payload_size + self.overhead for p in packets if start <= p.t < end)
        return octets * 8 / self.kilo / (end - start)


DEFINITIONS: Final[Mapping[str, Definition]] = MappingProxyType(
    {
        f"{counts}_{kilo}": Definition(f"{counts}_{kilo}", counts, kilo)
        for counts in ("payload", "rtp", "ip")
        for kilo in (1000, 1024)
    }
)


def sent_by_definition(packets: Iterable[SentPacket], start: float, end: float) -> dict[str, float]:
    """The sent rate over [start, end) under every definition, by reading name."""
    kept = list(packets)
    return {name: d.kbps(kept, start, end) for name, d in DEFINITIONS.items()}


def widest_ratio(sent: Mapping[str, float]) -> float:
    """The largest over the smallest rate of `sent` (how far apart the readings lie)."""
    return max(sent.values()) / min(sent.values())


@dataclass(frozen=True)
class BitrateMatch:
    """The reported median against the sent rate of each definition considered."""

    reported: float
    #: reading name -> relative error of the reported median against it
    errors: dict[str, float]
    tolerance: float

    @property
    def matching(self) -> list[str]:
        """The readings the reported median is within `tolerance` of, closest first."""
        inside = [n for n, e in self.errors.items() if abs(e) <= self.tolerance]
        return sorted(inside, key=lambda n: abs(self.errors[n]))

    def describe(self) -> str:
        """Every considered reading with its error, for a failure message or a recorded reading."""
        parts = [f"{n} {e:+.2%}" for n, e in sorted(self.errors.items(), key=lambda i: i[1])]
        return f"median {self.reported:.0f} kbit/s against " + ", ".join(parts)


def match_definitions(
    reported: list[float],
    sent: Mapping[str, float],
    tolerance: float,
    *,
    only: str | None = None,
) -> BitrateMatch:
    """The median of `reported` against each definition of `sent` (only `only`'s when pinned)."""
    if only is not None and only not in sent:
        raise ValueError(f"unknown bitrate definition {only!r} (known: {sorted(sent)})")
    value = statistics.median(reported)
    names = [only] if only is not None else list(sent)
    return BitrateMatch(value, {n: (value - sent[n]) / sent[n] for n in names}, tolerance)
