"""RTP data packets and RTCP reports (RFC 3550), parsed and serialized with no I/O.

Hand-written on purpose: aiortc's ``rtp.py`` (the model for this module) is part of a WebRTC stack
and needs its native dependencies; scapy's RTP/RTCP layers are dissectors that accept anything and
do not say why a packet is malformed. A conformance suite and a reference decoder fed from the
network need a codec whose ``parse`` either returns a packet that serializes back to the same bytes
or raises a ``ValueError`` saying which field was wrong, never an ``IndexError`` or
``struct.error``. Standard library only.

What it does:

* :class:`RtpPacket` with :func:`parse` / :meth:`RtpPacket.to_bytes` (RFC 3550 §5.1):
  CSRC list, header extension (profile and data kept as received), padding (stripped from the
  payload and kept apart, so the round trip is byte-exact).
* :func:`is_rtcp` tells RTCP from RTP on a multiplexed port (RFC 5761 §4).
* RTCP compound packets (RFC 3550 §6): :func:`parse_rtcp` returns :class:`SenderReport`,
  :class:`ReceiverReport`, :class:`Bye` and :class:`RtcpUnknown` items (SDES, APP, feedback and any
  other type are kept as raw bodies); :func:`serialize_rtcp` writes them back byte for byte.
* :func:`seq_distance` and :class:`SequenceTracker` (RFC 3550 Appendix A.1) count what a receiver
  reports: expected, received, lost, duplicates, late packets and sequence-number cycles.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

# --- RTP (RFC 3550 §5.1) ---------------------------------------------------------------------

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
RTP_MAX_CSRC = 15
RTP_SEQ_MOD = 1 << 16
RTP_MAX_PAYLOAD_TYPE = 127
RTP_EXTENSION_HEADER_SIZE = 4

_RTP_HEADER = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_MAX_U32 = 0xFFFFFFFF

# --- RTCP (RFC 3550 §6.4-6.6, RFC 4585 §6.1) -------------------------------------------------

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_RTPFB = 205  # RFC 4585 transport-layer feedback (NACK)
RTCP_PSFB = 206  # RFC 4585 payload-specific feedback (PLI, FIR)
RTCP_HEADER_SIZE = 4
RTCP_MAX_COUNT = 31
RTCP_REPORT_BLOCK_SIZE = 24
RTCP_SENDER_INFO_SIZE = 20

# RFC 5761 §4: an RTCP packet type is in 192-223 (its second octet); RTP payload types 64-95
# would collide with it once the marker bit is set, so they must not be used on a shared port.
RTCP_DEMUX_MIN = 192
RTCP_DEMUX_MAX = 223

_RTCP_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!QIII")
_REPORT_BLOCK = struct.Struct("!IB3sIIII")


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{what} {value} is outside {low}-{high}")


def _check_padding(padding: bytes, what: str) -> None:
    """Padding, when present, ends in its own length (RFC 3550 §5.1, P bit)."""
    if padding and (len(padding) > 255 or padding[-1] != len(padding)):
        raise ValueError(
            f"{what} padding of {len(padding)} octets must be 1-255 octets ending in its length"
            f" (last octet is {padding[-1]})"
        )


def make_padding(size: int) -> bytes:
    """``size`` octets of RFC 3550 padding: zeros, then the count itself (``size`` in 1-255)."""
    _check_range(size, 1, 255, "padding size")
    return bytes(size - 1) + bytes([size])


def _split_padding(body: bytes, what: str) -> tuple[bytes, bytes]:
    """Split ``body`` (after the fixed header) into content and padding when the P bit is set."""
    if not body:
        raise ValueError(f"{what} has the padding bit set but no octets after the header")
    count = body[-1]
    if count == 0:
        raise ValueError(f"{what} has the padding bit set but a padding count of 0")
    if count > len(body):
        raise ValueError(
            f"{what} padding count {count} is larger than the {len(body)} octets after the header"
        )
    return body[:-count], body[-count:]


@dataclass
class RtpPacket:
    """One RTP data packet (RFC 3550 §5.1); the version is always 2.

    ``padding`` holds the padding octets exactly as received (the last one is their count) and is
    empty when the P bit is clear; ``payload`` never includes them. ``extension_profile`` is None
    when the X bit is clear; ``extension`` is the extension data without its 4-octet header (a
    multiple of 4 octets long).
    """

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    extension_profile: int | None = None
    extension: bytes = b""
    padding: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; ``ValueError`` names the field that is wrong or truncated."""
        if len(data) < RTP_HEADER_SIZE:
            raise ValueError(
                f"RTP packet of {len(data)} octets is shorter than the"
                f" {RTP_HEADER_SIZE}-octet header"
            )
        first, second, seq, timestamp, ssrc = _RTP_HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP version is {version}, expected {RTP_VERSION}")
        has_padding = bool(first & 0x20)
        has_extension = bool(first & 0x10)
        csrc_count = first & 0x0F
        offset = RTP_HEADER_SIZE
        end = offset + 4 * csrc_count
        if end > len(data):
            raise ValueError(
                f"RTP header announces {csrc_count} CSRCs ({end} octets) but the packet has"
                f" {len(data)} octets"
            )
        csrc = [_U32.unpack_from(data, offset + 4 * i)[0] for i in range(csrc_count)]
        offset = end
        extension_profile: int | None = None
        extension = b""
        if has_extension:
            if offset + RTP_EXTENSION_HEADER_SIZE > len(data):
                raise ValueError(
                    f"RTP extension bit set but the packet ends at octet {len(data)}, before the"
                    f" 4-octet extension header at octet {offset}"
                )
            extension_profile, words = struct.unpack_from("!HH", data, offset)
            offset += RTP_EXTENSION_HEADER_SIZE
            end = offset + 4 * words
            if end > len(data):
                raise ValueError(
                    f"RTP extension announces {words} words ({4 * words} octets) but only"
                    f" {len(data) - offset} octets follow its header"
                )
            extension = bytes(data[offset:end])
            offset = end
        body = bytes(data[offset:])
        padding = b""
        if has_padding:
            body, padding = _split_padding(body, "RTP packet")
        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=body,
            marker=bool(second & 0x80),
            csrc=csrc,
            extension_profile=extension_profile,
            extension=extension,
            padding=padding,
        )

    def to_bytes(self) -> bytes:
        """Serialize; ``ValueError`` when a field does not fit its RFC 3550 width."""
        _check_range(self.payload_type, 0, RTP_MAX_PAYLOAD_TYPE, "RTP payload type")
        _check_range(self.sequence_number, 0, RTP_SEQ_MOD - 1, "RTP sequence number")
        _check_range(self.timestamp, 0, _MAX_U32, "RTP timestamp")
        _check_range(self.ssrc, 0, _MAX_U32, "RTP SSRC")
        _check_range(len(self.csrc), 0, RTP_MAX_CSRC, "RTP CSRC count")
        for source in self.csrc:
            _check_range(source, 0, _MAX_U32, "RTP CSRC")
        _check_padding(self.padding, "RTP")
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        parts = [
            _RTP_HEADER.pack(
                first | (0x10 if self.extension_profile is not None else 0),
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            ),
            *(_U32.pack(source) for source in self.csrc),
        ]
        if self.extension_profile is not None:
            _check_range(self.extension_profile, 0, 0xFFFF, "RTP extension profile")
            if len(self.extension) % 4:
                raise ValueError(
                    f"RTP extension data of {len(self.extension)} octets is not a whole number"
                    " of 32-bit words"
                )
            _check_range(len(self.extension) // 4, 0, 0xFFFF, "RTP extension length in words")
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        elif self.extension:
            raise ValueError("RTP extension data given without an extension profile")
        parts.append(self.payload)
        parts.append(self.padding)
        return b"".join(parts)


def parse(data: bytes) -> RtpPacket:
    """Parse one RTP packet (same as :meth:`RtpPacket.parse`)."""
    return RtpPacket.parse(data)


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on an RTP/RTCP-multiplexed port is RTCP (RFC 5761 §4).

    The second octet of an RTCP packet is its packet type, 192-223; for RTP it is the marker bit
    and the payload type, which RFC 5761 keeps out of 64-95 so the two never collide.
    """
    if len(data) < 2 or data[0] >> 6 != RTP_VERSION:
        return False
    return RTCP_DEMUX_MIN <= data[1] <= RTCP_DEMUX_MAX


# --- RTCP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1), carried by SR and RR packets.

    ``cumulative_lost`` is signed (24 bits: duplicates can make it negative);
    ``highest_sequence`` is the extended highest sequence number received (cycles << 16 | seq).
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        """Parse the 24-octet block at ``offset``."""
        if offset + RTCP_REPORT_BLOCK_SIZE > len(data):
            raise ValueError(
                f"RTCP report block at octet {offset} needs {RTCP_REPORT_BLOCK_SIZE} octets, only"
                f" {max(0, len(data) - offset)} remain"
            )
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        return cls(
            ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter, lsr, dlsr
        )

    def to_bytes(self) -> bytes:
        """The 24-octet block."""
        _check_range(self.fraction_lost, 0, 255, "RTCP fraction lost")
        _check_range(self.cumulative_lost, -(1 << 23), (1 << 23) - 1, "RTCP cumulative lost")
        for value, what in (
            (self.ssrc, "SSRC"),
            (self.highest_sequence, "highest sequence"),
            (self.jitter, "jitter"),
            (self.lsr, "LSR"),
            (self.dlsr, "DLSR"),
        ):
            _check_range(value, 0, _MAX_U32, f"RTCP report block {what}")
        lost = self.cumulative_lost.to_bytes(3, "big", signed=True)
        return _REPORT_BLOCK.pack(
            self.ssrc,
            self.fraction_lost,
            lost,
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )


@dataclass
class RtcpPacket:
    """Base of the RTCP packet types; ``padding`` is kept as for :class:`RtpPacket`."""

    padding: bytes = field(default=b"", kw_only=True)

    @property
    def packet_type(self) -> int:
        """The RTCP packet type (second octet)."""
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _body(self) -> bytes:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """This packet with its common header; the body must be a whole number of words."""
        count = self._count()
        _check_range(count, 0, RTCP_MAX_COUNT, f"RTCP {self.packet_type} count")
        _check_padding(self.padding, "RTCP")
        body = self._body() + self.padding
        if len(body) % 4:
            raise ValueError(
                f"RTCP packet type {self.packet_type}: body plus padding is {len(body)} octets,"
                " not a whole number of 32-bit words"
            )
        words = len(body) // 4
        _check_range(words, 0, 0xFFFF, "RTCP length in words")
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | count
        return _RTCP_HEADER.pack(first, self.packet_type, words) + body


@dataclass
class SenderReport(RtcpPacket):
    """RTCP SR (RFC 3550 §6.4.1). ``ntp_timestamp`` is the 64-bit NTP time as one integer;
    ``extension`` is any profile-specific data after the report blocks."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    @property
    def packet_type(self) -> int:
        """Always :data:`RTCP_SR`."""
        return RTCP_SR

    def _count(self) -> int:
        return len(self.reports)

    def _body(self) -> bytes:
        _check_range(self.ssrc, 0, _MAX_U32, "SR SSRC")
        _check_range(self.ntp_timestamp, 0, (1 << 64) - 1, "SR NTP timestamp")
        _check_range(self.rtp_timestamp, 0, _MAX_U32, "SR RTP timestamp")
        _check_range(self.packet_count, 0, _MAX_U32, "SR packet count")
        _check_range(self.octet_count, 0, _MAX_U32, "SR octet count")
        info = _U32.pack(self.ssrc) + _SENDER_INFO.pack(
            self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        return info + b"".join(r.to_bytes() for r in self.reports) + self.extension


@dataclass
class ReceiverReport(RtcpPacket):
    """RTCP RR (RFC 3550 §6.4.2); ``extension`` is any profile-specific data after the blocks."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""

    @property
    def packet_type(self) -> int:
        """Always :data:`RTCP_RR`."""
        return RTCP_RR

    def _count(self) -> int:
        return len(self.reports)

    def _body(self) -> bytes:
        _check_range(self.ssrc, 0, _MAX_U32, "RR SSRC")
        return _U32.pack(self.ssrc) + b"".join(r.to_bytes() for r in self.reports) + self.extension


@dataclass
class Bye(RtcpPacket):
    """RTCP BYE (RFC 3550 §6.6): the sources leaving and an optional reason.

    The reason is decoded as UTF-8 with ``surrogateescape`` so any octets survive the round trip.
    """

    sources: list[int] = field(default_factory=list)
    reason: str | None = None

    @property
    def packet_type(self) -> int:
        """Always :data:`RTCP_BYE`."""
        return RTCP_BYE

    def _count(self) -> int:
        return len(self.sources)

    def _body(self) -> bytes:
        for source in self.sources:
            _check_range(source, 0, _MAX_U32, "BYE SSRC/CSRC")
        body = b"".join(_U32.pack(s) for s in self.sources)
        if self.reason is not None:
            text = self.reason.encode("utf-8", "surrogateescape")
            _check_range(len(text), 0, 255, "BYE reason length")
            body += bytes([len(text)]) + text
            body += bytes(-len(body) % 4)
        return body


@dataclass
class RtcpUnknown(RtcpPacket):
    """Any other RTCP packet (SDES, APP, feedback, ...): type, the 5-bit count field, raw body."""

    type: int
    count: int
    body: bytes

    @property
    def packet_type(self) -> int:
        """The type as received."""
        return self.type

    def _count(self) -> int:
        return self.count

    def _body(self) -> bytes:
        _check_range(self.type, 0, 255, "RTCP packet type")
        return self.body


def _parse_reports(body: bytes, offset: int, count: int, what: str) -> list[ReportBlock]:
    end = offset + count * RTCP_REPORT_BLOCK_SIZE
    if end > len(body):
        raise ValueError(
            f"RTCP {what} announces {count} report blocks ({end} octets of body) but its body"
            f" has {len(body)} octets"
        )
    return [ReportBlock.parse(body, offset + i * RTCP_REPORT_BLOCK_SIZE) for i in range(count)]


def _parse_bye(body: bytes, count: int, padding: bytes) -> Bye:
    end = 4 * count
    if end > len(body):
        raise ValueError(
            f"RTCP BYE announces {count} sources ({end} octets) but its body has {len(body)}"
        )
    sources = [_U32.unpack_from(body, 4 * i)[0] for i in range(count)]
    rest = body[end:]
    reason: str | None = None
    if rest:
        size = rest[0]
        if 1 + size > len(rest):
            raise ValueError(
                f"RTCP BYE reason announces {size} octets but only {len(rest) - 1} follow"
            )
        reason = rest[1 : 1 + size].decode("utf-8", "surrogateescape")
        tail = rest[1 + size :]
        if len(tail) != -(1 + size) % 4 or any(tail):
            raise ValueError(
                f"RTCP BYE has {len(tail)} octets after its reason; expected"
                f" {-(1 + size) % 4} zero octets of alignment"
            )
    return Bye(sources, reason, padding=padding)


def _parse_one(packet_type: int, count: int, body: bytes, padding: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        if len(body) < 4 + RTCP_SENDER_INFO_SIZE:
            raise ValueError(
                f"RTCP SR body of {len(body)} octets is shorter than SSRC plus sender info"
                f" ({4 + RTCP_SENDER_INFO_SIZE})"
            )
        (ssrc,) = _U32.unpack_from(body)
        ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 4)
        offset = 4 + RTCP_SENDER_INFO_SIZE
        reports = _parse_reports(body, offset, count, "SR")
        extension = body[offset + count * RTCP_REPORT_BLOCK_SIZE :]
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, extension, padding=padding)
    if packet_type == RTCP_RR:
        if len(body) < 4:
            raise ValueError(f"RTCP RR body of {len(body)} octets has no room for the SSRC")
        (ssrc,) = _U32.unpack_from(body)
        reports = _parse_reports(body, 4, count, "RR")
        extension = body[4 + count * RTCP_REPORT_BLOCK_SIZE :]
        return ReceiverReport(ssrc, reports, extension, padding=padding)
    if packet_type == RTCP_BYE:
        return _parse_bye(body, count, padding)
    return RtcpUnknown(packet_type, count, body, padding=padding)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse an RTCP compound packet (or a single one) into its packets, in order.

    Every packet must carry version 2 and a length that fits the datagram; ``ValueError`` says
    which packet (by index and octet offset) is wrong. An empty datagram is an error.
    """
    if not data:
        raise ValueError("RTCP datagram is empty")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        where = f"RTCP packet {len(packets)} at octet {offset}"
        if offset + RTCP_HEADER_SIZE > len(data):
            raise ValueError(
                f"{where}: only {len(data) - offset} octets left, the header needs"
                f" {RTCP_HEADER_SIZE}"
            )
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, offset)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"{where}: version is {version}, expected {RTP_VERSION}")
        end = offset + RTCP_HEADER_SIZE + 4 * words
        if end > len(data):
            raise ValueError(
                f"{where}: length field says {4 * words} octets of body but only"
                f" {len(data) - offset - RTCP_HEADER_SIZE} remain"
            )
        body = bytes(data[offset + RTCP_HEADER_SIZE : end])
        padding = b""
        if first & 0x20:
            body, padding = _split_padding(body, where)
        try:
            packets.append(_parse_one(packet_type, first & 0x1F, body, padding))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        offset = end
    return packets


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """The compound packet made of ``packets``, in order."""
    return b"".join(packet.to_bytes() for packet in packets)


# --- sequence numbers (RFC 3550 Appendix A.1) ------------------------------------------------


def seq_distance(a: int, b: int) -> int:
    """How far sequence number ``b`` is after ``a`` (negative when before), modulo 2**16.

    The result is in -32768..32767: ``seq_distance(65535, 0) == 1``.
    """
    return ((b - a + 0x8000) & 0xFFFF) - 0x8000


MAX_DROPOUT = 3000
MAX_MISORDER = 100


class SequenceTracker:
    """Receiver statistics for one SSRC, after RFC 3550 Appendix A.1.

    Feed every sequence number with :meth:`update`; it returns False for a packet the receiver
    should drop: a duplicate, a packet from before the first one seen, or one too far behind or
    ahead of the highest so far (A.1's ``bad_seq``; two consecutive such packets are taken as a
    sender restart and tracking resynchronizes on the second). Counters are cumulative across
    resynchronizations: ``expected - received == lost`` always holds and ``lost`` is never
    negative (duplicates are detected, not counted as received).
    """

    def __init__(self, max_dropout: int = MAX_DROPOUT, max_misorder: int = MAX_MISORDER) -> None:
        """``max_dropout``: the largest forward jump accepted; ``max_misorder``: how far behind
        the highest sequence number a late packet may be and still count."""
        _check_range(max_dropout, 1, RTP_SEQ_MOD // 2, "max_dropout")
        _check_range(max_misorder, 1, RTP_SEQ_MOD // 2, "max_misorder")
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        self.received = 0
        self.duplicates = 0
        self.late = 0
        self.reordered = 0
        self.bad = 0
        self.resyncs = 0
        self._base: int | None = None  # extended sequence number of the first packet
        self._max = 0  # extended highest sequence number
        self._expected_before = 0  # expected packets of the runs before the last resync
        self._bad_seq: int | None = None
        self._seen: set[int] = set()

    @property
    def started(self) -> bool:
        """True once a packet has been accepted."""
        return self._base is not None

    @property
    def cycles(self) -> int:
        """How many times the sequence number wrapped from 65535 to 0 (in the current run)."""
        return self._max >> 16

    @property
    def max_seq(self) -> int:
        """The highest sequence number accepted (16 bits)."""
        return self._max & 0xFFFF

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number (cycles << 16 | max_seq), as RR reports it."""
        return self._max

    @property
    def expected(self) -> int:
        """Packets expected so far: the span from the first to the highest sequence number."""
        if self._base is None:
            return 0
        return self._expected_before + self._max - self._base + 1

    @property
    def lost(self) -> int:
        """Packets expected but not received (never negative: duplicates are not received)."""
        return self.expected - self.received

    def _start(self, seq: int) -> None:
        if self._base is not None:
            self._expected_before = self.expected
        self._base = self._max = seq
        self._seen = {seq}
        self._bad_seq = None
        self.received += 1

    def update(self, seq: int) -> bool:
        """Account for a packet with sequence number ``seq``; False means drop it."""
        _check_range(seq, 0, RTP_SEQ_MOD - 1, "RTP sequence number")
        if self._base is None:
            self._start(seq)
            return True
        delta = seq_distance(self.max_seq, seq)
        if 0 < delta < self.max_dropout:
            self._max += delta
            self._remember(self._max)
            self.received += 1
            self._bad_seq = None
            return True
        if -self.max_misorder < delta <= 0:
            extended = self._max + delta
            if extended in self._seen:
                self.duplicates += 1
                return False
            if extended < self._base:
                self.late += 1
                return False
            self._seen.add(extended)
            self.received += 1
            self.reordered += 1
            return True
        # A large jump either way: A.1 waits for a second, consecutive packet before restarting.
        if self._bad_seq is not None and seq == self._bad_seq:
            self.resyncs += 1
            self._start(seq)
            return True
        self.bad += 1
        self._bad_seq = (seq + 1) & 0xFFFF
        return False

    def _remember(self, extended: int) -> None:
        self._seen.add(extended)
        if len(self._seen) > 4 * self.max_misorder:
            floor = self._max - self.max_misorder
            self._seen = {s for s in self._seen if s >= floor}
