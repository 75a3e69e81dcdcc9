"""H.264 over RTP (RFC 6184, packetization-mode 0 and 1): packetizer and depacketizer, no I/O.

Hand-written on purpose: aiortc's ``codecs/h264.py`` (the model for this module) is bound to its
encoder and WebRTC jitter buffer, and FFmpeg's RTP depacketizer is reachable from PyAV only
through an RTSP/SDP demuxer that owns the socket. The reference decoder needs a depacketizer it
can feed datagram by datagram from its own transport, that counts every kind of damage
(sequence gaps inside fragmented NAL units, truncated aggregation packets, unsupported types)
and never raises on hostile payloads; the fixtures need a packetizer whose output they can
perturb. Standard library only.

What it does:

* NAL unit headers (:func:`parse_nal_header`) and the named NAL unit types below.
* Annex-B byte streams: :func:`split_annexb` / :func:`join_annexb`, :func:`is_keyframe`.
* :class:`Packetizer`: one access unit (a list of NAL units) to RTP payloads - single NAL unit
  packets, STAP-A for runs of small NAL units (SPS+PPS), FU-A fragments for large ones - with the
  marker on the last payload.
* :class:`Depacketizer`: RTP payloads in sequence order to complete access units (Annex-B, 4-octet
  start codes), ending an access unit on the marker bit or on a timestamp change.
* Strict helpers for payloads (:func:`parse_stap_a`, :func:`parse_fu_a`) that raise
  ``ValueError``; the depacketizer uses them and turns each error into a counter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from wire.rtp import RtpPacket, seq_distance

# --- NAL unit types (H.264 table 7-1, RFC 6184 table 1) --------------------------------------

NAL_TYPE_SLICE = 1
NAL_TYPE_DPA = 2
NAL_TYPE_DPB = 3
NAL_TYPE_DPC = 4
NAL_TYPE_IDR = 5
NAL_TYPE_SEI = 6
NAL_TYPE_SPS = 7
NAL_TYPE_PPS = 8
NAL_TYPE_AUD = 9
NAL_TYPE_END_SEQUENCE = 10
NAL_TYPE_END_STREAM = 11
NAL_TYPE_FILLER = 12
NAL_TYPE_STAP_A = 24
NAL_TYPE_STAP_B = 25
NAL_TYPE_MTAP16 = 26
NAL_TYPE_MTAP24 = 27
NAL_TYPE_FU_A = 28
NAL_TYPE_FU_B = 29

#: Types a single NAL unit packet may carry (RFC 6184 §5.6); 0, 30 and 31 are unspecified.
SINGLE_NAL_TYPES = range(1, 24)

NAL_HEADER_SIZE = 1
STAP_A_LENGTH_SIZE = 2
FU_A_HEADER_SIZE = 2  # FU indicator + FU header
FU_START = 0x80
FU_END = 0x40

START_CODE = b"\x00\x00\x00\x01"
START_CODE_SHORT = b"\x00\x00\x01"

DEFAULT_MTU = 1200
MAX_PAYLOAD = 0xFFFF
#: Largest access unit the depacketizer assembles before it gives up on it (hostile input).
DEFAULT_MAX_ACCESS_UNIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class NalHeader:
    """The one-octet NAL unit header: forbidden_zero_bit, nal_ref_idc (NRI) and nal_unit_type."""

    forbidden: bool
    nri: int
    type: int

    @classmethod
    def from_byte(cls, value: int) -> NalHeader:
        """The header encoded in one octet."""
        return cls(bool(value & 0x80), (value >> 5) & 0x03, value & 0x1F)

    def to_byte(self) -> int:
        """The header as one octet."""
        if not 0 <= self.nri <= 3 or not 0 <= self.type <= 31:
            raise ValueError(f"NAL header NRI {self.nri} (0-3) or type {self.type} (0-31) invalid")
        return (0x80 if self.forbidden else 0) | (self.nri << 5) | self.type


def parse_nal_header(data: bytes) -> NalHeader:
    """The header of the NAL unit (or RTP payload) ``data``; ``ValueError`` when empty."""
    if not data:
        raise ValueError("NAL unit is empty: no header octet")
    return NalHeader.from_byte(data[0])


# --- Annex-B ---------------------------------------------------------------------------------


def _iter_annexb(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each NAL unit after a start code; trailing zero octets are not included."""
    position = data.find(START_CODE_SHORT)
    while position >= 0:
        start = position + len(START_CODE_SHORT)
        following = data.find(START_CODE_SHORT, start)
        end = len(data) if following < 0 else following
        while end > start and data[end - 1] == 0:
            end -= 1
        if end > start:
            yield start, end
        position = following


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte stream (3- or 4-octet start codes), without start codes.

    Zero octets before a start code (the 4-octet form, trailing_zero_8bits) are dropped, as are
    empty NAL units. ``ValueError`` when non-zero octets come before the first start code.
    """
    first = data.find(START_CODE_SHORT)
    head = data if first < 0 else data[:first]
    if any(head):
        raise ValueError(
            f"Annex-B stream has {len(head)} octets before its first start code, not all zero"
        )
    return [bytes(data[start:end]) for start, end in _iter_annexb(data)]


def join_annexb(nals: Sequence[bytes]) -> bytes:
    """An Annex-B byte stream of ``nals``, each after a 4-octet start code."""
    return b"".join(START_CODE + bytes(nal) for nal in nals)


def is_keyframe(access_unit: bytes) -> bool:
    """True when the Annex-B access unit holds an IDR slice (NAL type 5). Never raises."""
    return any(access_unit[start] & 0x1F == NAL_TYPE_IDR for start, _ in _iter_annexb(access_unit))


# --- payload helpers -------------------------------------------------------------------------


def parse_stap_a(payload: bytes) -> list[bytes]:
    """The NAL units aggregated in a STAP-A payload (RFC 6184 §5.7.1).

    ``ValueError`` for a payload that is not STAP-A, a truncated size field or NAL unit, a zero
    size, an aggregation with no NAL units, or an aggregated NAL unit that is not a single NAL
    unit type.
    """
    header = parse_nal_header(payload)
    if header.type != NAL_TYPE_STAP_A:
        raise ValueError(f"payload NAL type {header.type} is not STAP-A ({NAL_TYPE_STAP_A})")
    nals: list[bytes] = []
    offset = NAL_HEADER_SIZE
    while offset < len(payload):
        if offset + STAP_A_LENGTH_SIZE > len(payload):
            raise ValueError(f"STAP-A size field at octet {offset} is truncated")
        size = int.from_bytes(payload[offset : offset + STAP_A_LENGTH_SIZE], "big")
        offset += STAP_A_LENGTH_SIZE
        if size == 0:
            raise ValueError(f"STAP-A NAL unit {len(nals)} has size 0")
        if offset + size > len(payload):
            raise ValueError(
                f"STAP-A NAL unit {len(nals)} announces {size} octets but only"
                f" {len(payload) - offset} remain"
            )
        nal = bytes(payload[offset : offset + size])
        if nal[0] & 0x1F not in SINGLE_NAL_TYPES:
            raise ValueError(f"STAP-A NAL unit {len(nals)} has type {nal[0] & 0x1F}")
        nals.append(nal)
        offset += size
    if not nals:
        raise ValueError("STAP-A payload aggregates no NAL units")
    return nals


@dataclass(frozen=True)
class FuA:
    """One FU-A fragment (RFC 6184 §5.8): start/end flags, the fragmented NAL unit's header
    fields (F and NRI from the FU indicator, type from the FU header) and the fragment data."""

    start: bool
    end: bool
    forbidden: bool
    nri: int
    nal_type: int
    data: bytes

    @property
    def nal_header(self) -> int:
        """The reconstructed header octet of the fragmented NAL unit."""
        return (0x80 if self.forbidden else 0) | (self.nri << 5) | self.nal_type


def parse_fu_a(payload: bytes) -> FuA:
    """Parse a FU-A payload; ``ValueError`` when it is not FU-A, too short, has both S and E set,
    or fragments a type that is not a single NAL unit type."""
    header = parse_nal_header(payload)
    if header.type != NAL_TYPE_FU_A:
        raise ValueError(f"payload NAL type {header.type} is not FU-A ({NAL_TYPE_FU_A})")
    if len(payload) < FU_A_HEADER_SIZE:
        raise ValueError("FU-A payload has no FU header")
    fu = payload[1]
    start, end = bool(fu & FU_START), bool(fu & FU_END)
    if start and end:
        raise ValueError("FU-A header has both the start and the end bit set")
    nal_type = fu & 0x1F
    if nal_type not in SINGLE_NAL_TYPES:
        raise ValueError(f"FU-A fragments NAL type {nal_type}, not a single NAL unit type")
    return FuA(start, end, header.forbidden, header.nri, nal_type, bytes(payload[2:]))


# --- packetizer ------------------------------------------------------------------------------


class RtpPayload(NamedTuple):
    """One RTP payload and whether its packet carries the marker bit (last of the access unit)."""

    payload: bytes
    marker: bool


class Packetizer:
    """Access units to RFC 6184 packetization-mode 1 payloads of at most ``mtu`` octets.

    ``mtu`` is the largest RTP *payload* (the datagram is 12 octets more, plus any CSRC/extension).
    A NAL unit that fits is sent alone or, with the NAL units that follow it while they fit, in a
    STAP-A; a larger one is cut into FU-A fragments of near-equal size. With ``aggregate=False``
    no STAP-A is made (packetization-mode 0 for NAL units up to ``mtu``).
    """

    def __init__(self, mtu: int = DEFAULT_MTU, *, aggregate: bool = True) -> None:
        """``mtu``: 3-65535 octets of payload; ``aggregate``: allow STAP-A."""
        if not FU_A_HEADER_SIZE + 1 <= mtu <= MAX_PAYLOAD:
            raise ValueError(f"mtu {mtu} is outside {FU_A_HEADER_SIZE + 1}-{MAX_PAYLOAD}")
        self.mtu = mtu
        self.aggregate = aggregate

    def packetize(self, nals: Sequence[bytes]) -> list[RtpPayload]:
        """Payloads for one access unit, in order; the last one has ``marker`` True.

        ``ValueError`` for an empty access unit or an empty NAL unit.
        """
        if not nals:
            raise ValueError("access unit has no NAL units")
        for index, nal in enumerate(nals):
            if not nal:
                raise ValueError(f"NAL unit {index} of the access unit is empty")
        payloads: list[bytes] = []
        index = 0
        while index < len(nals):
            nal = nals[index]
            if len(nal) > self.mtu:
                payloads.extend(self._fragment(nal))
                index += 1
                continue
            group = [nal]
            size = NAL_HEADER_SIZE + STAP_A_LENGTH_SIZE + len(nal)
            while self.aggregate and index + len(group) < len(nals):
                following = nals[index + len(group)]
                if size + STAP_A_LENGTH_SIZE + len(following) > self.mtu:
                    break
                group.append(following)
                size += STAP_A_LENGTH_SIZE + len(following)
            payloads.append(bytes(nal) if len(group) == 1 else self._aggregate(group))
            index += len(group)
        return [RtpPayload(p, i == len(payloads) - 1) for i, p in enumerate(payloads)]

    def packetize_annexb(self, access_unit: bytes) -> list[RtpPayload]:
        """:meth:`packetize` for an access unit given as Annex-B bytes."""
        return self.packetize(split_annexb(access_unit))

    @staticmethod
    def _aggregate(group: Sequence[bytes]) -> bytes:
        forbidden = any(nal[0] & 0x80 for nal in group)
        nri = max(nal[0] & 0x60 for nal in group)
        header = (0x80 if forbidden else 0) | nri | NAL_TYPE_STAP_A
        parts = [bytes([header])]
        for nal in group:
            parts.append(len(nal).to_bytes(STAP_A_LENGTH_SIZE, "big"))
            parts.append(bytes(nal))
        return b"".join(parts)

    def _fragment(self, nal: bytes) -> list[bytes]:
        indicator = (nal[0] & 0xE0) | NAL_TYPE_FU_A
        nal_type = nal[0] & 0x1F
        data = memoryview(nal)[NAL_HEADER_SIZE:]
        room = self.mtu - FU_A_HEADER_SIZE
        count = -(-len(data) // room)
        base, extra = divmod(len(data), count)
        fragments: list[bytes] = []
        offset = 0
        for i in range(count):
            size = base + (1 if i < extra else 0)
            flags = (FU_START if i == 0 else 0) | (FU_END if i == count - 1 else 0)
            chunk = data[offset : offset + size]
            fragments.append(bytes([indicator, flags | nal_type]) + chunk)
            offset += size
        return fragments


# --- depacketizer ----------------------------------------------------------------------------


@dataclass
class DepacketizerStats:
    """What the depacketizer saw.

    A payload that carried nothing usable is counted in exactly one of ``corrupt``,
    ``unsupported``, ``out_of_order`` or ``fu_discarded``; a NAL unit lost to missing FU-A
    fragments is counted once in ``fu_dropped``.
    """

    packets: int = 0
    single: int = 0
    stap_a: int = 0
    fu_a: int = 0
    nal_units: int = 0
    access_units: int = 0
    #: Access units emitted with something missing (a sequence gap or a dropped NAL unit).
    damaged: int = 0
    #: Sequence gaps seen, and the packets they skipped.
    gaps: int = 0
    lost: int = 0
    #: Fragmented NAL units dropped because fragments were missing (gap, or no end fragment).
    fu_dropped: int = 0
    #: FU-A fragments discarded because their NAL unit was already dropped.
    fu_discarded: int = 0
    #: Payloads of types this receiver does not handle (STAP-B, MTAP, FU-B, 0, 30, 31).
    unsupported: int = 0
    #: Malformed payloads: empty, forbidden bit, truncated STAP-A, FU-A without start, ...
    corrupt: int = 0
    #: Payloads whose sequence number is not after the previous one (duplicate or late).
    out_of_order: int = 0
    #: Access units abandoned for growing beyond ``max_access_unit`` octets.
    oversize: int = 0


class AccessUnit(NamedTuple):
    """One reassembled access unit: RTP timestamp, Annex-B bytes, and whether it is damaged."""

    timestamp: int
    data: bytes
    damaged: bool


class Depacketizer:
    """RFC 6184 payloads, in sequence order, to access units. Never raises on payload contents.

    Feed each packet with :meth:`push` (or :meth:`push_packet`); an access unit is returned when a
    packet with the marker bit completes it, or when a packet with another timestamp starts the
    next one. Call :meth:`flush` at the end of the stream. A sequence gap in the middle of an FU-A
    drops that NAL unit (``stats.fu_dropped``); the access unit it belonged to is still returned
    with what survived, marked ``damaged``, unless nothing survived.
    """

    def __init__(self, max_access_unit: int = DEFAULT_MAX_ACCESS_UNIT) -> None:
        """``max_access_unit``: octets an access unit may grow to before it is abandoned."""
        self.max_access_unit = max_access_unit
        self.stats = DepacketizerStats()
        self._last_seq: int | None = None
        self._timestamp: int | None = None
        self._nals: list[bytes] = []
        self._size = 0
        self._damaged = False
        self._fu: bytearray | None = None  # the fragmented NAL unit being reassembled
        self._fu_type = 0
        self._fu_discarding = False  # skipping the rest of a dropped FU-A
        self._gap_before = False  # packets were lost just before the current one
        self._skipping = False  # the access unit in progress was abandoned (too large)

    def push_packet(self, packet: RtpPacket) -> list[AccessUnit]:
        """:meth:`push` with the fields of a parsed RTP packet."""
        return self.push(packet.payload, packet.marker, packet.sequence_number, packet.timestamp)

    def push(self, payload: bytes, marker: bool, seq: int, timestamp: int) -> list[AccessUnit]:
        """Take one RTP payload; returns the access units it completed (zero, one or two)."""
        self.stats.packets += 1
        seq &= 0xFFFF
        gap = False
        if self._last_seq is not None:
            distance = seq_distance(self._last_seq, seq)
            if distance <= 0:
                self.stats.out_of_order += 1
                return []
            if distance > 1:
                gap = True
                self.stats.gaps += 1
                self.stats.lost += distance - 1
                if self._fu is not None:
                    self._drop_fu()
        self._last_seq = seq
        done: list[AccessUnit] = []
        if self._timestamp is not None and timestamp != self._timestamp:
            # Packets lost at a boundary may have ended the previous access unit (its marker
            # packet) or begun this one: both are marked damaged.
            self._damaged = self._damaged or gap
            done.extend(self._finish())
        self._timestamp = timestamp
        self._damaged = self._damaged or gap
        self._gap_before = gap
        self._handle(payload)
        if marker:
            done.extend(self._finish())
        return done

    def flush(self) -> list[AccessUnit]:
        """Return the access unit in progress, if any (end of stream)."""
        return self._finish()

    def _handle(self, payload: bytes) -> None:
        nal_type = payload[0] & 0x1F if payload else 0
        if nal_type == NAL_TYPE_FU_A:
            self._handle_fu_a(payload)
            return
        if self._fu is not None:
            self._drop_fu()  # its end fragment never came
        self._fu_discarding = False
        if not payload or payload[0] & 0x80:
            self._corrupt()  # empty, or the forbidden bit says the sender found an error
        elif nal_type in SINGLE_NAL_TYPES:
            self.stats.single += 1
            self._add_nal(bytes(payload))
        elif nal_type == NAL_TYPE_STAP_A:
            try:
                nals = parse_stap_a(payload)
            except ValueError:
                self._corrupt()
                return
            self.stats.stap_a += 1
            for nal in nals:
                self._add_nal(nal)
        else:
            self.stats.unsupported += 1
            self._damaged = True

    def _handle_fu_a(self, payload: bytes) -> None:
        try:
            fragment = parse_fu_a(payload)
        except ValueError:
            fragment = None
        if fragment is None or fragment.forbidden:
            if self._fu is not None:
                self._drop_fu()
            elif fragment is not None:
                self._fu_discarding = not fragment.end  # skip the rest of this NAL unit
            self._corrupt()
            return
        self.stats.fu_a += 1
        if fragment.start:
            if self._fu is not None:  # a new start before the previous end
                self._drop_fu()
            self._fu_discarding = False
            self._fu = bytearray([fragment.nal_header])
            self._fu_type = fragment.nal_type
        elif self._fu is None:
            if self._gap_before and not self._fu_discarding:
                self.stats.fu_dropped += 1  # its start fragment was lost
                self._fu_discarding = True
            if self._fu_discarding:
                self.stats.fu_discarded += 1
                self._fu_discarding = not fragment.end
            else:
                self._corrupt()  # a middle or end fragment with no start and no loss before it
            return
        elif fragment.nal_type != self._fu_type:
            self._drop_fu()
            self._corrupt()
            return
        self._fu += fragment.data
        if len(self._fu) + self._size > self.max_access_unit:
            self._fu = None
            self._fu_discarding = not fragment.end
            if not self._skipping:
                self._abandon()
            return
        if fragment.end:
            nal = bytes(self._fu)
            self._fu = None
            self._add_nal(nal)

    def _drop_fu(self) -> None:
        self._fu = None
        self._fu_discarding = True
        self._damaged = True
        self.stats.fu_dropped += 1

    def _corrupt(self) -> None:
        self.stats.corrupt += 1
        self._damaged = True

    def _add_nal(self, nal: bytes) -> None:
        if self._skipping:
            return
        self._size += len(START_CODE) + len(nal)
        if self._size > self.max_access_unit:
            self._abandon()
            return
        self._nals.append(nal)
        self.stats.nal_units += 1

    def _abandon(self) -> None:
        self.stats.oversize += 1
        self._nals = []
        self._size = 0
        self._damaged = True
        self._skipping = True

    def _finish(self) -> list[AccessUnit]:
        if self._fu is not None:
            self._drop_fu()  # the access unit ended inside a fragmented NAL unit
        nals, damaged, timestamp = self._nals, self._damaged, self._timestamp
        self._nals, self._size, self._damaged, self._skipping = [], 0, False, False
        if not nals or timestamp is None:
            return []
        self.stats.access_units += 1
        if damaged:
            self.stats.damaged += 1
        return [AccessUnit(timestamp, join_annexb(nals), damaged)]
