"""MPEG-2 program stream (ISO/IEC 13818-1 §2.5) carrying H.264, and PS over RTP, as GB/T 28181 uses
them (2016 Annex C.1, 2022 Annex C); no I/O.

Hand-written on purpose: FFmpeg's ``mpeg`` muxer writes MPEG-1 system packs, no program stream map
(PSM) and stream id 0xE2 for H.264, while GB28181 wants MPEG-2 packs, a system header and a PSM
(stream_type 0x1B, elementary_stream_id 0xE0) on every keyframe, and one frame per pack. The
reference decoder also needs a demuxer it can feed chunk by chunk from its own transport, that
reports damage instead of raising, and the fixtures need a muxer whose output they can perturb.
Standard library only.

What it does:

* Units: :class:`PackHeader` (MPEG-2, and MPEG-1 for reading FFmpeg), :class:`SystemHeader`,
  :class:`ProgramStreamMap` (CRC-32/MPEG-2, :func:`crc32_mpeg2`), :class:`PesPacket` (MPEG-2
  header; MPEG-1 headers are read); each parses (``PsParseError``: offset and what was expected)
  and serializes; :func:`iter_units` cuts a whole stream into its units.
* :func:`mux`: one H.264 access unit and its PTS -> one pack: pack header (SCR = DTS or PTS, no
  stuffing), on IDR access units a system header and a PSM, then PES packets of stream 0xE0 (PTS,
  optionally DTS, on the first one; ``PES_packet_length`` at most 65535, so a large IDR spans
  several PES packets of the same pack).
* :class:`PsDemuxer`: bytes in any chunking -> :class:`AccessUnit` (Annex-B bytes, PTS, DTS,
  keyframe) of the stream the PSM declares as H.264; :func:`demux` is the strict one-shot form.
* :func:`packetize` / :class:`PsOverRtp`: one pack per frame split over RTP packets that share the
  frame's timestamp, marker on the last; reassembly that drops (and counts) frames with a loss.

Demuxer decisions:

* Access units are cut where H.264 says a new one begins (§7.4.1.2.3: an AUD, SPS, PPS, SEI or NAL
  type 14-18, or a slice with first_mb_in_slice 0, after a slice of the current one), not at PES
  or pack boundaries: FFmpeg's packs are 2048 octets and one PES may end one frame and begin the
  next. A PTS belongs to the first access unit that begins in its PES (13818-1 §2.4.3.7). So an
  access unit is returned once the next one begins; where the transport delimits frames (PS over
  RTP: one frame per pack) call :meth:`PsDemuxer.flush` after each pack to get it at once.
* Stream types come from the PSM (GB28181 sends one with every keyframe). Video PES before the
  first PSM are dropped and counted (the P frames before the first IDR are not decodable anyway).
  A stream that never has a PSM (FFmpeg's) is read only with ``assume_h264=True``: then, until a
  PSM says otherwise, the first stream id in 0xE0-0xEF is taken as H.264.
* After a parse error the demuxer resynchronizes on the next pack start code (or, when only one
  unit was bad, skips that unit). The access unit in progress is dropped and counted, never
  returned with a hole; fed a stream without flushes that is also the frame before the damage,
  whose end cannot be told apart from the lost data, while with a flush per pack it is only the
  damaged frame.

Measured with PyAV 18.1 / FFmpeg 8.1 (tests/wire/test_ps.py keeps these true):

* FFmpeg's ``mpeg`` muxer writes MPEG-1 packs (12-octet pack header) of 2048 octets, a system
  header in the first pack only, no PSM, stream id 0xE2 for H.264 and MPEG-1 PES headers; a PES
  packet often ends one frame and begins the next, so only some frames get a PTS, offset by its
  0.5 s preload (45000). :class:`PsDemuxer` with ``assume_h264=True`` returns exactly the encoder's
  access units from it, each PTS on its frame.
* FFmpeg's ``mpeg`` demuxer (``av.open(BytesIO(ps), format="mpeg")``) reads this module's output
  correctly: it takes the codec (h264) from the PSM, and every frame of a 25-frame stream with
  IDRs every 10 frames and frames split over several PES packets decodes, keyframes flagged, with
  the muxed PTS. The reference decoder still uses :class:`PsDemuxer`: FFmpeg's demuxer pulls from
  a file-like object rather than taking datagrams as they come, and reports no damage.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from wire.h264 import (
    NAL_TYPE_AUD,
    NAL_TYPE_IDR,
    NAL_TYPE_PPS,
    NAL_TYPE_SEI,
    NAL_TYPE_SLICE,
    NAL_TYPE_SPS,
    is_keyframe,
    join_annexb,
)
from wire.rtp import RTP_HEADER_SIZE, RTP_SEQ_MOD, RtpPacket, seq_distance

# --- start codes, stream ids and types (13818-1 tables 2-18, 2-34; GB28181 Annex C) ---------

START_CODE_PREFIX = b"\x00\x00\x01"
PACK_START_CODE = 0xBA
SYSTEM_HEADER_START_CODE = 0xBB
PROGRAM_END_CODE = 0xB9
STREAM_ID_PSM = 0xBC
STREAM_ID_PRIVATE_1 = 0xBD
STREAM_ID_PADDING = 0xBE
STREAM_ID_PRIVATE_2 = 0xBF
STREAM_ID_AUDIO = 0xC0
STREAM_ID_VIDEO = 0xE0
VIDEO_STREAM_IDS = range(0xE0, 0xF0)
#: Stream ids whose PES packets have no optional header (13818-1 §2.4.3.7, the first ``if``).
_NO_PES_HEADER = frozenset({0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})

STREAM_TYPE_MPEG4 = 0x10
STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_H265 = 0x24
STREAM_TYPE_AAC = 0x0F
STREAM_TYPE_SVAC = 0x80
STREAM_TYPE_G711A = 0x90
STREAM_TYPE_G711U = 0x91

_PACK = bytes([0, 0, 1, PACK_START_CODE])
MPEG2_PACK_HEADER_SIZE = 14
MPEG1_PACK_HEADER_SIZE = 12
PES_HEADER_SIZE = 6  # start code, stream id, PES_packet_length
MAX_PES_LENGTH = 0xFFFF  # PES_packet_length is 16 bits
PTS_MOD = 1 << 33
#: 20 Mbit/s in the 50-octets-per-second unit of program_mux_rate (0 is forbidden).
DEFAULT_MUX_RATE = 50_000
#: P-STD buffer bound for the video stream in the system header, in units of 1024 octets.
VIDEO_BUFFER_BOUND_KIB = 1024
DEFAULT_MAX_ACCESS_UNIT = 8 * 1024 * 1024
DEFAULT_MAX_PACK = 8 * 1024 * 1024
DEFAULT_RTP_PAYLOAD = 1400
PS_PAYLOAD_TYPE = 96  # GB28181 a=rtpmap:96 PS/90000 (map by rtpmap, not by number)

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (13818-1 Annex A): polynomial 0x04C11DB7, initial 0xFFFFFFFF, not reflected,
    no final XOR; over a section followed by its own CRC it is 0."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


class PsParseError(ValueError):
    """A program stream that does not parse: the octet ``offset`` and what was ``expected`` there.

    Offsets count from the start of the data given to the parser (for :class:`PsDemuxer`, from
    the first octet ever fed).
    """

    def __init__(self, offset: int, expected: str, found: str = "") -> None:
        """``found`` describes what was there instead, when that helps."""
        self.offset = offset
        self.expected = expected
        self.found = found
        super().__init__(
            f"PS octet {offset}: expected {expected}" + (f", found {found}" if found else "")
        )

    def moved(self, base: int) -> PsParseError:
        """The same error with ``base`` added to its offset."""
        return PsParseError(self.offset + base, self.expected, self.found)


def _need(data: bytes, offset: int, size: int, what: str) -> None:
    if len(data) < offset + size:
        raise PsParseError(
            offset + len(data[offset:]),
            f"{size} octets of {what} from octet {offset}",
            f"the data ends after {max(0, len(data) - offset)}",
        )


def _check_start(data: bytes, offset: int, code: int, what: str) -> None:
    _need(data, offset, 4, what)
    if data[offset : offset + 3] != START_CODE_PREFIX or data[offset + 3] != code:
        raise PsParseError(offset, f"{what} start code 0x000001{code:02X}", data[offset:][:4].hex())


def _encode_timestamp(prefix: int, value: int) -> bytes:
    """The 5-octet PTS/DTS (or MPEG-1 SCR) field: a 4-bit prefix, 33 bits, three marker bits."""
    value %= PTS_MOD
    return bytes(
        [
            (prefix << 4) | ((value >> 29) & 0x0E) | 1,
            (value >> 22) & 0xFF,
            ((value >> 14) & 0xFE) | 1,
            (value >> 7) & 0xFF,
            ((value << 1) & 0xFE) | 1,
        ]
    )


def _decode_timestamp(data: bytes, offset: int, what: str) -> int:
    _need(data, offset, 5, what)
    b = data[offset : offset + 5]
    if not b[0] & b[2] & b[4] & 1:
        raise PsParseError(offset, f"the marker bits of the {what} set", b.hex())
    middle: int = _U16.unpack_from(b, 1)[0]
    low: int = _U16.unpack_from(b, 3)[0]
    return ((b[0] >> 1) & 0x07) << 30 | (middle >> 1) << 15 | low >> 1


# --- pack header (13818-1 §2.5.3.3; MPEG-1: 11172-1 §2.4.3.2) --------------------------------


@dataclass(frozen=True)
class PackHeader:
    """A pack header. ``scr_base`` is the 33-bit 90 kHz part of the SCR, ``scr_ext`` the 27 MHz
    remainder (0-299, MPEG-2 only), ``mux_rate`` in units of 50 octets/s, ``stuffing`` the count of
    0xFF octets after it (0-7, MPEG-2 only). ``mpeg1`` marks the 12-octet MPEG-1 form."""

    scr_base: int
    mux_rate: int = DEFAULT_MUX_RATE
    scr_ext: int = 0
    stuffing: int = 0
    mpeg1: bool = False

    @property
    def size(self) -> int:
        """Octets on the wire, stuffing included."""
        return MPEG1_PACK_HEADER_SIZE if self.mpeg1 else MPEG2_PACK_HEADER_SIZE + self.stuffing

    def to_bytes(self) -> bytes:
        """The pack header; ``ValueError`` when a field does not fit."""
        if not 0 < self.mux_rate < 1 << 22:
            raise ValueError(f"program_mux_rate {self.mux_rate} is outside 1-{(1 << 22) - 1}")
        base = self.scr_base % PTS_MOD
        if self.mpeg1:
            rate = self.mux_rate
            tail = [0x80 | (rate >> 15) & 0x7F, (rate >> 7) & 0xFF, ((rate << 1) & 0xFE) | 1]
            return _PACK + _encode_timestamp(2, base) + bytes(tail)
        if not 0 <= self.scr_ext < 300 or not 0 <= self.stuffing <= 7:
            raise ValueError(f"SCR extension {self.scr_ext} (0-299) or stuffing {self.stuffing}")
        ext = self.scr_ext
        fields = [
            0x40 | ((base >> 27) & 0x38) | 0x04 | ((base >> 28) & 0x03),
            (base >> 20) & 0xFF,
            ((base >> 12) & 0xF8) | 0x04 | ((base >> 13) & 0x03),
            (base >> 5) & 0xFF,
            ((base << 3) & 0xF8) | 0x04 | ((ext >> 7) & 0x03),
            ((ext << 1) & 0xFE) | 0x01,
            (self.mux_rate >> 14) & 0xFF,
            (self.mux_rate >> 6) & 0xFF,
            ((self.mux_rate << 2) & 0xFC) | 0x03,
            0xF8 | self.stuffing,
        ]
        return _PACK + bytes(fields) + b"\xff" * self.stuffing

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> PackHeader:
        """The pack header at ``offset`` (stuffing must be 0xFF octets)."""
        _check_start(data, offset, PACK_START_CODE, "pack header")
        _need(data, offset, 5, "pack header")
        first = data[offset + 4]
        if first >> 4 == 0x2:
            _need(data, offset, MPEG1_PACK_HEADER_SIZE, "MPEG-1 pack header")
            scr = _decode_timestamp(data, offset + 4, "MPEG-1 SCR")
            b = data[offset + 9 : offset + 12]
            if not b[0] & 0x80 or not b[2] & 1:
                raise PsParseError(offset + 9, "the marker bits around program_mux_rate", b.hex())
            rate = (b[0] & 0x7F) << 15 | b[1] << 7 | b[2] >> 1
            return cls(scr, rate, mpeg1=True)
        if first >> 6 != 0x1:
            raise PsParseError(offset + 4, "'01' (MPEG-2) or '0010' (MPEG-1) after 0x000001BA")
        _need(data, offset, MPEG2_PACK_HEADER_SIZE, "MPEG-2 pack header")
        b = data[offset + 4 : offset + MPEG2_PACK_HEADER_SIZE]
        if not b[0] & b[2] & b[4] & 0x04 or not b[5] & 1 or b[8] & 0x03 != 0x03:
            raise PsParseError(offset + 4, "the marker bits of the MPEG-2 pack header", b.hex())
        base = (
            ((b[0] >> 3) & 7) << 30
            | (b[0] & 3) << 28
            | b[1] << 20
            | ((b[2] >> 3) & 0x1F) << 15
            | (b[2] & 3) << 13
            | b[3] << 5
            | (b[4] >> 3) & 0x1F
        )
        ext = (b[4] & 3) << 7 | b[5] >> 1
        rate = b[6] << 14 | b[7] << 6 | b[8] >> 2
        stuffing = b[9] & 0x07
        _need(data, offset + MPEG2_PACK_HEADER_SIZE, stuffing, "pack stuffing")
        start = offset + MPEG2_PACK_HEADER_SIZE
        if data[start : start + stuffing].strip(b"\xff"):
            raise PsParseError(start, f"{stuffing} stuffing octets 0xFF")
        return cls(base, rate, ext, stuffing)


# --- system header (13818-1 §2.5.3.5) --------------------------------------------------------


@dataclass(frozen=True)
class StreamBound:
    """One stream entry of a system header: its id and P-STD buffer bound (scale 1 = 1024 octets,
    0 = 128 octets)."""

    stream_id: int
    buffer_scale: int
    buffer_size: int


@dataclass(frozen=True)
class SystemHeader:
    """The system header: bounds of the stream, flags and one :class:`StreamBound` per stream."""

    rate_bound: int
    audio_bound: int = 0
    video_bound: int = 1
    fixed: bool = False
    csps: bool = False
    audio_lock: bool = False
    video_lock: bool = False
    packet_rate_restriction: bool = False
    streams: tuple[StreamBound, ...] = ()

    def to_bytes(self) -> bytes:
        """The system header with its start code and length."""
        if not 0 < self.rate_bound < 1 << 22 or not 0 <= self.audio_bound <= 32:
            raise ValueError(f"rate_bound {self.rate_bound} or audio_bound {self.audio_bound}")
        if not 0 <= self.video_bound <= 16:
            raise ValueError(f"video_bound {self.video_bound} is outside 0-16")
        rate = self.rate_bound
        body = bytearray(
            [
                0x80 | (rate >> 15) & 0x7F,
                (rate >> 7) & 0xFF,
                ((rate << 1) & 0xFE) | 1,
                self.audio_bound << 2 | self.fixed << 1 | self.csps,
                self.audio_lock << 7 | self.video_lock << 6 | 0x20 | self.video_bound,
                self.packet_rate_restriction << 7 | 0x7F,
            ]
        )
        for entry in self.streams:
            if entry.stream_id < 0xB8 or entry.stream_id > 0xFF:
                raise ValueError(f"system header stream_id 0x{entry.stream_id:X} is below 0xB8")
            if not 0 <= entry.buffer_size < 1 << 13 or entry.buffer_scale not in (0, 1):
                raise ValueError(f"P-STD bound {entry.buffer_scale}/{entry.buffer_size}")
            bound = 0xC000 | entry.buffer_scale << 13 | entry.buffer_size
            body += bytes([entry.stream_id]) + _U16.pack(bound)
        return bytes([0, 0, 1, SYSTEM_HEADER_START_CODE]) + _U16.pack(len(body)) + bytes(body)

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> SystemHeader:
        """The system header at ``offset``; its length field must cover whole stream entries."""
        _check_start(data, offset, SYSTEM_HEADER_START_CODE, "system header")
        _need(data, offset, 6, "system header")
        (length,) = _U16.unpack_from(data, offset + 4)
        _need(data, offset + 6, length, "system header body")
        if length < 6 or (length - 6) % 3:
            raise PsParseError(offset + 4, "a header_length of 6 + 3 per stream", str(length))
        b = data[offset + 6 : offset + 6 + length]
        if not b[0] & 0x80 or not b[2] & 1 or not b[4] & 0x20:
            raise PsParseError(offset + 6, "the marker bits of the system header", b[:6].hex())
        streams = []
        for at in range(6, length, 3):
            stream_id, bound = b[at], _U16.unpack_from(b, at + 1)[0]
            if stream_id < 0xB8 or bound >> 14 != 0x3:
                raise PsParseError(
                    offset + 6 + at,
                    "a stream entry (stream_id >= 0xB8, then '11')",
                    b[at:][:3].hex(),
                )
            streams.append(StreamBound(stream_id, bound >> 13 & 1, bound & 0x1FFF))
        return cls(
            rate_bound=(b[0] & 0x7F) << 15 | b[1] << 7 | b[2] >> 1,
            audio_bound=b[3] >> 2,
            video_bound=b[4] & 0x1F,
            fixed=bool(b[3] & 2),
            csps=bool(b[3] & 1),
            audio_lock=bool(b[4] & 0x80),
            video_lock=bool(b[4] & 0x40),
            packet_rate_restriction=bool(b[5] & 0x80),
            streams=tuple(streams),
        )


# --- program stream map (13818-1 §2.5.4) -----------------------------------------------------


@dataclass(frozen=True)
class ElementaryStreamInfo:
    """One entry of a PSM: stream_type, elementary_stream_id and its descriptors (raw)."""

    stream_type: int
    stream_id: int
    descriptors: bytes = b""


@dataclass(frozen=True)
class ProgramStreamMap:
    """The PSM: which stream type each elementary stream id carries; CRC-32 checked on parse."""

    streams: tuple[ElementaryStreamInfo, ...]
    version: int = 0
    current_next: bool = True
    descriptors: bytes = b""

    def stream_type(self, stream_id: int) -> int | None:
        """The stream_type declared for ``stream_id``, or None."""
        return next((s.stream_type for s in self.streams if s.stream_id == stream_id), None)

    def to_bytes(self) -> bytes:
        """The PSM with its CRC-32/MPEG-2."""
        if not 0 <= self.version <= 31:
            raise ValueError(f"program_stream_map_version {self.version} is outside 0-31")
        entries = bytearray()
        for entry in self.streams:
            if not 0 <= entry.stream_type <= 0xFF or not 0 <= entry.stream_id <= 0xFF:
                raise ValueError(f"PSM entry {entry} does not fit one octet per field")
            entries += bytes([entry.stream_type, entry.stream_id])
            entries += _U16.pack(len(entry.descriptors)) + entry.descriptors
        # current_next_indicator, then reserved bits set (13818-1 writes them as 1).
        body = bytes([self.current_next << 7 | 0x60 | self.version, 0xFF])
        body += _U16.pack(len(self.descriptors)) + self.descriptors
        body += _U16.pack(len(entries)) + bytes(entries)
        length = len(body) + 4
        if length > MAX_PES_LENGTH:
            raise ValueError(f"PSM of {length} octets does not fit program_stream_map_length")
        section = bytes([0, 0, 1, STREAM_ID_PSM]) + _U16.pack(length) + body
        return section + _U32.pack(crc32_mpeg2(section))

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ProgramStreamMap:
        """The PSM at ``offset``; ``PsParseError`` for bad lengths or a CRC mismatch."""
        _check_start(data, offset, STREAM_ID_PSM, "program stream map")
        _need(data, offset, 6, "program stream map")
        (length,) = _U16.unpack_from(data, offset + 4)
        end = offset + 6 + length
        _need(data, offset + 6, length, "program stream map body")
        if length < 10:
            raise PsParseError(
                offset + 4, "a program_stream_map_length of at least 10", str(length)
            )
        (info_length,) = _U16.unpack_from(data, offset + 8)
        at = offset + 10 + info_length
        if at + 2 > end - 4:
            raise PsParseError(offset + 8, "a program_stream_info_length inside the PSM")
        descriptors = bytes(data[offset + 10 : at])
        (map_length,) = _U16.unpack_from(data, at)
        at += 2
        if at + map_length != end - 4:
            raise PsParseError(
                at - 2,
                f"an elementary_stream_map_length of {end - 4 - at} (up to the CRC)",
                str(map_length),
            )
        streams = []
        while at < end - 4:
            if at + 4 > end - 4:
                raise PsParseError(at, "4 octets of an elementary stream entry")
            stream_type, stream_id, info = data[at], data[at + 1], _U16.unpack_from(data, at + 2)[0]
            if at + 4 + info > end - 4:
                raise PsParseError(at + 2, "an elementary_stream_info_length inside the map")
            streams.append(
                ElementaryStreamInfo(stream_type, stream_id, bytes(data[at + 4 : at + 4 + info]))
            )
            at += 4 + info
        (crc,) = _U32.unpack_from(data, end - 4)
        computed = crc32_mpeg2(data[offset : end - 4])
        if crc != computed:
            raise PsParseError(end - 4, f"CRC_32 0x{computed:08X}", f"0x{crc:08X}")
        first = data[offset + 6]
        return cls(tuple(streams), first & 0x1F, bool(first & 0x80), descriptors)


# --- PES packets (13818-1 §2.4.3.6; MPEG-1: 11172-1 §2.4.3.3) --------------------------------


@dataclass(frozen=True)
class PesPacket:
    """A PES packet: stream id, payload, PTS/DTS (90 kHz, 33 bits) when present.

    :meth:`to_bytes` writes the MPEG-2 header (nothing but the flags and PTS/DTS) for stream ids
    that have one, and the payload alone for those that do not (padding, PSM, private stream 2).
    :meth:`parse` also reads MPEG-1 headers (``mpeg1``) and skips optional fields it does not use.
    """

    stream_id: int
    payload: bytes
    pts: int | None = None
    dts: int | None = None
    data_alignment: bool = False
    mpeg1: bool = False

    def header(self) -> bytes:
        """The optional PES header (empty for ids that have none)."""
        if self.stream_id in _NO_PES_HEADER:
            return b""
        if self.dts is not None and self.pts is None:
            raise ValueError("a PES packet with a DTS must carry a PTS")
        timestamps = b""
        flags = 0
        if self.pts is not None and self.dts is not None:
            timestamps = _encode_timestamp(3, self.pts) + _encode_timestamp(1, self.dts)
            flags = 0xC0
        elif self.pts is not None:
            timestamps = _encode_timestamp(2, self.pts)
            flags = 0x80
        return bytes([0x80 | self.data_alignment << 2, flags, len(timestamps)]) + timestamps

    def to_bytes(self) -> bytes:
        """The PES packet; ``ValueError`` when it exceeds ``PES_packet_length``."""
        if self.mpeg1:
            raise ValueError("only MPEG-2 PES headers are written")
        if not 0xBC <= self.stream_id <= 0xFF:
            raise ValueError(f"stream_id 0x{self.stream_id:X} is not a PES stream id")
        header = self.header()
        length = len(header) + len(self.payload)
        if length > MAX_PES_LENGTH:
            raise ValueError(f"PES_packet_length {length} exceeds {MAX_PES_LENGTH}")
        return bytes([0, 0, 1, self.stream_id]) + _U16.pack(length) + header + self.payload

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> PesPacket:
        """The PES packet at ``offset``; its length field must fit the data.

        ``PES_packet_length`` 0 (unbounded, video in transport streams) is refused: in a program
        stream it is the only way to find the next unit.
        """
        _need(data, offset, PES_HEADER_SIZE, "PES header")
        if data[offset : offset + 3] != START_CODE_PREFIX or data[offset + 3] < STREAM_ID_PSM:
            raise PsParseError(offset, "a PES start code 0x000001BC-FF", data[offset:][:4].hex())
        stream_id = data[offset + 3]
        (length,) = _U16.unpack_from(data, offset + 4)
        if length == 0:
            raise PsParseError(offset + 4, "a non-zero PES_packet_length")
        end = offset + PES_HEADER_SIZE + length
        _need(data, offset + PES_HEADER_SIZE, length, f"PES packet 0x{stream_id:02X}")
        at = offset + PES_HEADER_SIZE
        if stream_id in _NO_PES_HEADER:
            return cls(stream_id, bytes(data[at:end]))
        if data[at] >> 6 == 0x2:
            return cls._parse_mpeg2(data, at, end, stream_id)
        return cls._parse_mpeg1(data, at, end, stream_id)

    @classmethod
    def _parse_mpeg2(cls, data: bytes, at: int, end: int, stream_id: int) -> PesPacket:
        if at + 3 > end:
            raise PsParseError(at, "3 octets of MPEG-2 PES header flags inside the packet")
        flags, timing, header_length = data[at], data[at + 1], data[at + 2]
        if flags & 0x30:
            raise PsParseError(at, "PES_scrambling_control 00 (not scrambled)", f"0x{flags:02X}")
        payload_at = at + 3 + header_length
        if payload_at > end:
            raise PsParseError(at + 2, "a PES_header_data_length inside the packet")
        pts = dts = None
        pts_dts = timing >> 6
        if pts_dts == 0x1:
            raise PsParseError(at + 1, "PTS_DTS_flags 00, 10 or 11", "01 (forbidden)")
        if pts_dts & 0x2:
            if header_length < 5 * pts_dts - 5:
                raise PsParseError(at + 2, "a PES_header_data_length that holds the PTS/DTS")
            pts = _decode_timestamp(data, at + 3, "PTS")
            if pts_dts == 0x3:
                dts = _decode_timestamp(data, at + 8, "DTS")
        return cls(stream_id, bytes(data[payload_at:end]), pts, dts, bool(flags & 0x04))

    @classmethod
    def _parse_mpeg1(cls, data: bytes, at: int, end: int, stream_id: int) -> PesPacket:
        start = at
        while at < end and data[at] == 0xFF and at - start < 16:
            at += 1  # stuffing_byte, at most 16
        if at < end and data[at] >> 6 == 0x1:
            at += 2  # STD_buffer_scale and STD_buffer_size
        if at >= end:
            raise PsParseError(at, "an MPEG-1 PES header inside the packet")
        pts = dts = None
        kind = data[at] >> 4
        if data[at] == 0x0F:
            at += 1
        elif kind in (0x2, 0x3):
            pts = _decode_timestamp(data, at, "PTS")
            if kind == 0x3:
                dts = _decode_timestamp(data, at + 5, "DTS")
            at += 5 * (kind - 1)
            if at > end:
                raise PsParseError(end, "the MPEG-1 PTS/DTS inside the packet")
        else:
            raise PsParseError(
                at, "'10' (MPEG-2 PES header), or '0010', '0011' or 0x0F (MPEG-1)", hex(data[at])
            )
        return cls(stream_id, bytes(data[at:end]), pts, dts, mpeg1=True)


class Unit(NamedTuple):
    """One unit of a program stream: where it starts, its start code's last octet, its octets."""

    offset: int
    code: int
    data: bytes


def _unit_size(data: bytes | bytearray, at: int) -> int | None:
    """Octets of the unit at ``at`` (a start code is there); None until enough data is there."""
    if len(data) - at < 4:
        return None
    code = data[at + 3]
    if code == PACK_START_CODE:
        if len(data) - at < 5:
            return None
        if data[at + 4] >> 4 == 0x2:
            return MPEG1_PACK_HEADER_SIZE
        if data[at + 4] >> 6 != 0x1:
            raise PsParseError(at + 4, "'01' (MPEG-2) or '0010' (MPEG-1) after 0x000001BA")
        if len(data) - at < MPEG2_PACK_HEADER_SIZE:
            return None
        return MPEG2_PACK_HEADER_SIZE + (data[at + 13] & 0x07)
    if code == PROGRAM_END_CODE:
        return 4
    if code < SYSTEM_HEADER_START_CODE:
        raise PsParseError(
            at,
            "a pack, system header, PSM or PES start code (0x000001B9-FF)",
            f"0x000001{code:02X}",
        )
    if len(data) - at < PES_HEADER_SIZE:
        return None
    length: int = _U16.unpack_from(data, at + 4)[0]
    if length == 0 and code >= STREAM_ID_PSM:
        raise PsParseError(at + 4, "a non-zero PES_packet_length")
    return PES_HEADER_SIZE + length


def iter_units(data: bytes) -> Iterator[Unit]:
    """The units of a whole program stream, in order; ``PsParseError`` at the first octet that is
    not a unit, or a unit cut short by the end of ``data``."""
    at = 0
    while at < len(data):
        if data[at : at + 3] != START_CODE_PREFIX:
            raise PsParseError(at, "a start code 0x000001", data[at:][:4].hex())
        size = _unit_size(data, at)
        if size is None or at + size > len(data):
            raise PsParseError(len(data), "the rest of the unit", "the end of the data")
        yield Unit(at, data[at + 3], bytes(data[at : at + size]))
        at += size


# --- mux ---------------------------------------------------------------------------------------


def video_psm(stream_type: int = STREAM_TYPE_H264, stream_id: int = STREAM_ID_VIDEO) -> bytes:
    """The PSM this muxer writes: one video stream (H.264 on 0xE0 by default), version 0."""
    return ProgramStreamMap((ElementaryStreamInfo(stream_type, stream_id),)).to_bytes()


def mux(
    access_unit: bytes | Sequence[bytes],
    pts: int,
    *,
    dts: int | None = None,
    keyframe: bool | None = None,
    mux_rate: int = DEFAULT_MUX_RATE,
    max_pes_length: int = MAX_PES_LENGTH,
) -> bytes:
    """One GB28181 pack holding one H.264 access unit.

    ``access_unit`` is Annex-B bytes (carried as given) or a list of NAL units (joined with
    4-octet start codes). ``pts``/``dts`` are 90 kHz and taken modulo 2**33; without ``dts`` only
    the PTS is written. ``keyframe`` (default: the access unit holds an IDR slice) adds the system
    header and the PSM. ``max_pes_length`` caps ``PES_packet_length``; the first PES packet carries
    the timestamps and data_alignment_indicator, the ones after it only data.
    """
    if isinstance(access_unit, bytes | bytearray):
        data = bytes(access_unit)
    elif any(not nal for nal in access_unit):
        raise ValueError("a NAL unit of the access unit is empty")
    else:
        data = join_annexb(access_unit)
    if not data:
        raise ValueError("access unit is empty")
    first_header = 3 + (10 if dts is not None else 5)
    if not first_header < max_pes_length <= MAX_PES_LENGTH:
        raise ValueError(f"max_pes_length {max_pes_length} is outside {first_header + 1}-65535")
    if keyframe is None:
        keyframe = is_keyframe(data)
    parts = [PackHeader(pts if dts is None else dts, mux_rate).to_bytes()]
    if keyframe:
        bound = StreamBound(STREAM_ID_VIDEO, 1, VIDEO_BUFFER_BOUND_KIB)
        parts.append(SystemHeader(mux_rate, streams=(bound,)).to_bytes())
        parts.append(video_psm())
    at = 0
    while at < len(data):
        first = at == 0
        room = max_pes_length - (first_header if first else 3)
        chunk = data[at : at + room]
        packet = PesPacket(
            STREAM_ID_VIDEO,
            chunk,
            pts if first else None,
            dts if first else None,
            data_alignment=first,
        )
        parts.append(packet.to_bytes())
        at += len(chunk)
    return b"".join(parts)


# --- demux -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessUnit:
    """One H.264 access unit out of the PS: Annex-B bytes as carried, PTS/DTS (None when the PES
    had none), and whether it holds an IDR slice."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool


@dataclass
class PsDemuxStats:
    """What the demuxer saw. Every error is also in :attr:`PsDemuxer.errors` (the latest ones)."""

    octets: int = 0
    packs: int = 0
    system_headers: int = 0
    psms: int = 0
    #: PES packets of the H.264 stream, and PES packets of other streams skipped, by stream id.
    video_pes: int = 0
    skipped_pes: Counter[int] = field(default_factory=Counter)
    #: Video PES packets dropped because no PSM had declared an H.264 stream yet.
    before_psm: int = 0
    access_units: int = 0
    errors: int = 0
    #: Octets skipped while looking for a pack start code (after an error, or at the start).
    resync_octets: int = 0
    #: Access units lost to an error (never returned with a hole), or grown too large.
    dropped_access_units: int = 0
    oversize: int = 0
    #: Elementary stream octets before the first access unit start (joined mid-frame).
    es_skipped: int = 0


_AU_START_TYPES = frozenset(
    {NAL_TYPE_SEI, NAL_TYPE_SPS, NAL_TYPE_PPS, NAL_TYPE_AUD, 14, 15, 16, 17, 18}
)
_VCL_TYPES = range(NAL_TYPE_SLICE, NAL_TYPE_IDR + 1)
MAX_ERRORS_KEPT = 32


class PsDemuxer:
    """Program stream octets, in any chunking, to H.264 access units. Never raises on input.

    :meth:`feed` returns the access units whose end it has seen (the next one began); :meth:`flush`
    returns the one in progress, for the end of the input or of a transport-delimited frame. A
    chunk that ends inside a unit is kept until the rest arrives.
    """

    def __init__(
        self, *, assume_h264: bool = False, max_access_unit: int = DEFAULT_MAX_ACCESS_UNIT
    ) -> None:
        """``assume_h264``: before any PSM, take the first 0xE0-0xEF stream as H.264 (FFmpeg);
        ``max_access_unit``: octets an access unit may grow to before it is dropped."""
        self.assume_h264 = assume_h264
        self.max_access_unit = max_access_unit
        self.stats = PsDemuxStats()
        self.errors: list[PsParseError] = []
        #: The H.264 stream being read, and the last PSM (None before the first).
        self.stream_id: int | None = None
        self.psm: ProgramStreamMap | None = None
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._synced = False  # at a unit boundary inside the stream (after a pack start code)
        self._reported = False  # the current resync already has its error
        self._es = bytearray()  # the access unit in progress, and what follows it so far
        self._scan = 0  # where the next start code search in _es begins
        self._in_au = False  # _es[0] begins an access unit
        self._has_vcl = False
        self._pts: int | None = None
        self._dts: int | None = None
        self._records: list[tuple[int, int, int, int | None]] = []  # PES with a PTS: start, end

    # -- units --

    def feed(self, data: bytes) -> list[AccessUnit]:
        """Take the next octets of the stream; returns the access units they completed."""
        self._buf += data
        self.stats.octets += len(data)
        out: list[AccessUnit] = []
        buf = self._buf
        at = 0
        while True:
            if not self._synced:
                found = buf.find(_PACK, at)
                end = found if found >= 0 else max(at, len(buf) - 3)
                if end > at:
                    if not self._reported:
                        self._error(PsParseError(at, "a pack start code 0x000001BA"))
                    self.stats.resync_octets += end - at
                    at = end
                if found < 0:
                    break
                self._synced, self._reported = True, False
            if len(buf) - at < 4:
                break
            if buf[at : at + 3] != START_CODE_PREFIX:
                self._resync(
                    PsParseError(at, "a start code 0x000001", bytes(buf[at : at + 4]).hex())
                )
                continue
            try:
                size = _unit_size(buf, at)
            except PsParseError as error:
                self._resync(error)
                at += 1
                continue
            if size is None or at + size > len(buf):
                break
            self._unit(bytes(buf[at : at + size]), at, out)
            if not self._synced:  # the unit was refused: look for the next pack from inside it
                at += 1
                continue
            at += size
        del buf[:at]
        self._base += at
        return out

    def flush(self) -> list[AccessUnit]:
        """End of input (or of a frame the transport delimits): return the access unit in
        progress. A unit cut short is an error and the access unit it belonged to is dropped."""
        if self._synced and self._buf:
            self._error(
                PsParseError(len(self._buf), "the rest of the unit", "the end of the input")
            )
            self._damage()
        self._base += len(self._buf)
        self._buf.clear()
        self._synced = False
        self._reported = False
        out = self._finish(len(self._es)) if self._in_au else []
        self._reset_es()
        return out

    def _error(self, error: PsParseError) -> None:
        self.stats.errors += 1
        self.errors.append(error.moved(self._base))
        del self.errors[:-MAX_ERRORS_KEPT]

    def _resync(self, error: PsParseError) -> None:
        self._error(error)
        self._reported = True
        self._synced = False
        self._damage()

    def _unit(self, unit: bytes, at: int, out: list[AccessUnit]) -> None:
        code = unit[3]
        video = code > STREAM_ID_PSM and self._is_video(code)
        try:
            if code == PACK_START_CODE:
                PackHeader.parse(unit)
                self.stats.packs += 1
            elif code == SYSTEM_HEADER_START_CODE:
                SystemHeader.parse(unit)
                self.stats.system_headers += 1
            elif code == STREAM_ID_PSM:
                self._take_psm(ProgramStreamMap.parse(unit))
            elif code == PROGRAM_END_CODE:
                pass
            elif video:
                pes = PesPacket.parse(unit)
                self.stats.video_pes += 1
                self._take_payload(pes, out)
            else:
                self.stats.skipped_pes[code] += 1
        except PsParseError as error:
            if code == PACK_START_CODE:
                self._resync(error.moved(at))  # a bad pack header leaves nothing to trust
            else:
                self._error(error.moved(at))  # the length was fine: skip just this unit
                if video:
                    if not (self._in_au and self._es):
                        self.stats.dropped_access_units += 1  # the PES began a frame
                    self._damage()

    def _take_psm(self, psm: ProgramStreamMap) -> None:
        self.stats.psms += 1
        self.psm = psm
        h264 = [s.stream_id for s in psm.streams if s.stream_type == STREAM_TYPE_H264]
        if self.stream_id not in h264:
            if self.stream_id is not None:
                self._damage()
            self.stream_id = h264[0] if h264 else None

    def _is_video(self, code: int) -> bool:
        if code == self.stream_id:
            return True
        if code in VIDEO_STREAM_IDS and self.psm is None:
            if self.assume_h264 and self.stream_id is None:
                self.stream_id = code
                return True
            self.stats.before_psm += 1
        return False

    # -- elementary stream --

    def _take_payload(self, pes: PesPacket, out: list[AccessUnit]) -> None:
        start = len(self._es)
        if start + len(pes.payload) > self.max_access_unit:
            self.stats.oversize += 1
            self._damage()
            start = 0
        self._es += pes.payload
        if pes.pts is not None:
            self._records.append((start, len(self._es), pes.pts, pes.dts))
        es = self._es
        at = es.find(START_CODE_PREFIX, self._scan)
        while at >= 0:
            header = at + 3
            if header >= len(es):
                break
            nal_type = es[header] & 0x1F
            vcl = nal_type in _VCL_TYPES
            if vcl and header + 1 >= len(es):
                break  # first_mb_in_slice is in the next octet
            begins = nal_type in _AU_START_TYPES or (vcl and es[header + 1] & 0x80 != 0)
            if begins and (self._has_vcl or not self._in_au):
                cut = at - 1 if at > 0 and es[at - 1] == 0 else at
                out.extend(self._finish(cut))
                at -= cut
            self._has_vcl = self._has_vcl or vcl
            self._scan = at + 3
            at = es.find(START_CODE_PREFIX, self._scan)
        else:
            self._scan = max(self._scan, len(es) - 2)

    def _finish(self, cut: int) -> list[AccessUnit]:
        """End the access unit in progress at ``cut`` in ``_es``; the next one begins there."""
        out = []
        if self._in_au and cut > 0:
            data = bytes(self._es[:cut])
            out.append(AccessUnit(data, self._pts, self._dts, is_keyframe(data)))
            self.stats.access_units += 1
        elif cut > 0:
            self.stats.es_skipped += cut
        del self._es[:cut]
        self._scan = max(0, self._scan - cut)
        self._pts = self._dts = None
        records = []
        for start, end, pts, dts in self._records:
            if end <= cut:
                continue  # no access unit began in that PES packet: its PTS applies to none
            if start <= cut:
                self._pts, self._dts = pts, dts  # the first access unit beginning in it
            else:
                records.append((start - cut, end - cut, pts, dts))
        self._records = records
        self._in_au, self._has_vcl = True, False
        return out

    def _damage(self) -> None:
        if self._in_au and self._es:
            self.stats.dropped_access_units += 1
        self.stats.es_skipped += 0 if self._in_au else len(self._es)
        self._reset_es()

    def _reset_es(self) -> None:
        self._es = bytearray()
        self._scan = 0
        self._in_au = self._has_vcl = False
        self._pts = self._dts = None
        self._records = []


def demux(data: bytes, *, assume_h264: bool = False) -> list[AccessUnit]:
    """All access units of a whole program stream; ``PsParseError`` (the first one) when anything
    in it is malformed, cut short, or when a video PES came before any PSM (without
    ``assume_h264``)."""
    demuxer = PsDemuxer(assume_h264=assume_h264)
    units = demuxer.feed(data) + demuxer.flush()
    if demuxer.errors:
        raise demuxer.errors[0]
    if demuxer.stats.before_psm:
        raise PsParseError(0, "a PSM declaring the video stream before its first PES")
    return units


# --- PS over RTP (GB28181 2016 Annex C.1 / 2022 §4.3.6; RFC 2250 §2 for system streams) ------


def packetize(
    pack: bytes,
    seq: int,
    timestamp: int,
    ssrc: int,
    *,
    pt: int = PS_PAYLOAD_TYPE,
    max_payload: int = DEFAULT_RTP_PAYLOAD,
) -> list[RtpPacket]:
    """One frame's pack as RTP packets of at most ``max_payload`` octets of payload, all with
    ``timestamp`` (taken modulo 2**32), sequence numbers from ``seq`` (wrapping), the marker on the
    last. The pack bytes are the payload as they are (no RFC 2250 header for system streams)."""
    if not pack:
        raise ValueError("pack is empty")
    if not 1 <= max_payload <= 0xFFFF - RTP_HEADER_SIZE:
        raise ValueError(f"max_payload {max_payload} is outside 1-{0xFFFF - RTP_HEADER_SIZE}")
    chunks = [pack[at : at + max_payload] for at in range(0, len(pack), max_payload)]
    return [
        RtpPacket(
            payload_type=pt,
            sequence_number=(seq + index) % RTP_SEQ_MOD,
            timestamp=timestamp & 0xFFFFFFFF,
            ssrc=ssrc,
            payload=bytes(chunk),
            marker=index == len(chunks) - 1,
        )
        for index, chunk in enumerate(chunks)
    ]


@dataclass
class PsRtpStats:
    """What the reassembler saw; ``dropped`` frames had a loss (or no end) and were never
    returned."""

    packets: int = 0
    packs: int = 0
    #: Sequence gaps and the packets they skipped.
    gaps: int = 0
    lost: int = 0
    dropped: int = 0
    #: Packets put back in order, and packets that came too late or twice (discarded).
    reordered: int = 0
    late: int = 0
    duplicates: int = 0
    #: Frames that ended on a timestamp change without the marker bit (returned: nothing lost).
    no_marker: int = 0
    oversize: int = 0
    #: Sequence jumps too large to be loss (a sender restart): tracking started again.
    resyncs: int = 0


MAX_DROPOUT = 3000


class PsOverRtp:
    """RTP packets of a PS-over-RTP stream (one SSRC) to whole packs, one per frame.

    Packets are taken in sequence order: one that arrives early waits until the ones before it
    come, or until more than ``reorder_window`` packets after the hole have come; then the missing
    ones are lost. A frame ends on its marker bit (or when the timestamp changes). A loss damages
    the frame it falls in; a loss between two frames damages both (it held the end of one or the
    start of the other). Damaged frames are dropped and counted in ``stats.dropped``.
    """

    def __init__(self, reorder_window: int = 4, max_pack: int = DEFAULT_MAX_PACK) -> None:
        """``reorder_window``: packets a hole may stay open (0: none); ``max_pack``: octets a frame
        may grow to before it is dropped."""
        if not 0 <= reorder_window <= 1000:
            raise ValueError(f"reorder_window {reorder_window} is outside 0-1000")
        self.reorder_window = reorder_window
        self.max_pack = max_pack
        self.stats = PsRtpStats()
        self._next: int | None = None  # extended sequence number expected next
        self._waiting: dict[int, RtpPacket] = {}
        self._parts: list[bytes] = []
        self._size = 0
        self._timestamp: int | None = None
        self._damaged = False  # the frame in progress lost something
        self._gap = False  # packets were lost just before the next one

    def push(self, packet: RtpPacket) -> list[bytes]:
        """Take one packet; returns the packs it completed (oldest first)."""
        self.stats.packets += 1
        out: list[bytes] = []
        if self._next is None:
            self._next = packet.sequence_number
        distance = seq_distance(self._next & 0xFFFF, packet.sequence_number)
        if distance > MAX_DROPOUT:
            self.stats.resyncs += 1
            out.extend(self._drain(final=True))
            self._end_frame(out, damaged=bool(self._parts))
            self._next, distance = packet.sequence_number, 0
        if distance < 0:
            self.stats.late += 1  # already taken, or already given up as lost
            return out
        extended = self._next + distance
        if extended in self._waiting:
            self.stats.duplicates += 1
            return out
        if distance == 0 and self._waiting:
            self.stats.reordered += 1  # it closes a hole that later packets opened
        self._waiting[extended] = packet
        out.extend(self._drain(final=False))
        return out

    def flush(self) -> list[bytes]:
        """End of stream: holes still open are loss, and a frame without its marker is dropped."""
        out = self._drain(final=True)
        if self._parts:
            self._end_frame(out, damaged=True)
        return out

    def _drain(self, *, final: bool) -> list[bytes]:
        out: list[bytes] = []
        while self._waiting and self._next is not None:
            packet = self._waiting.pop(self._next, None)
            if packet is None:
                if not final and max(self._waiting) - self._next <= self.reorder_window:
                    break
                following = min(self._waiting)
                self.stats.gaps += 1
                self.stats.lost += following - self._next
                self._next = following
                self._gap = True
                continue
            self._next += 1
            self._take(packet, out)
        return out

    def _take(self, packet: RtpPacket, out: list[bytes]) -> None:
        gap, self._gap = self._gap, False
        if self._parts and packet.timestamp != self._timestamp:
            damaged = self._damaged or gap
            if not damaged:
                self.stats.no_marker += 1
            self._end_frame(out, damaged=damaged)
        self._damaged = self._damaged or gap
        self._timestamp = packet.timestamp
        self._parts.append(packet.payload)
        self._size += len(packet.payload)
        if self._size > self.max_pack:
            if not self._damaged:
                self.stats.oversize += 1
            self._parts, self._size, self._damaged = [b""], 0, True
        if packet.marker:
            self._end_frame(out, damaged=self._damaged)

    def _end_frame(self, out: list[bytes], *, damaged: bool) -> None:
        if damaged:
            self.stats.dropped += 1
        elif self._parts:
            out.append(b"".join(self._parts))
            self.stats.packs += 1
        self._parts, self._size, self._damaged, self._timestamp = [], 0, False, None
