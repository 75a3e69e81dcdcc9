"""SDP session descriptions (RFC 4566) and the RFC 3264 offer/answer steps a video decoder needs.

Hand-written on purpose: the Python SDP packages either belong to a media stack that also does
I/O (aiortc's ``sdp.py`` is tied to WebRTC and rewrites what it parses) or are unmaintained; a
conformance suite needs a codec that keeps every line in order, keeps unknown lines such as the
GB28181 ``y=`` (SSRC) and ``f=`` (media format) lines untouched, and serializes a parsed
description back to the same bytes. Standard library only, no I/O.

Model: a description is its session-level lines (``(type, value)`` pairs, ``v=`` first) and a list
of :class:`MediaDescription` (the ``m=`` line fields plus the lines that follow it). Typed views
(:class:`Origin`, :class:`Connection`, :class:`RtpMap`, direction) are parsed from those lines on
demand and written back into them, so order and unknown lines survive.

Builders: :func:`answer_video_recvonly` and :func:`make_video_offer_recvonly` for the decoder
side, :func:`h264_offer` / :func:`h264_media` for the peers that send it H.264.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

SdpLine: TypeAlias = tuple[str, str]

CRLF = "\r\n"

DIRECTION_SENDRECV = "sendrecv"
DIRECTION_SENDONLY = "sendonly"
DIRECTION_RECVONLY = "recvonly"
DIRECTION_INACTIVE = "inactive"
DIRECTIONS = (DIRECTION_SENDRECV, DIRECTION_SENDONLY, DIRECTION_RECVONLY, DIRECTION_INACTIVE)
DEFAULT_DIRECTION = DIRECTION_SENDRECV  # RFC 4566 §6

PROTO_RTP_AVP = "RTP/AVP"
PROTO_RTP_AVPF = "RTP/AVPF"
PROTO_TCP_RTP_AVP = "TCP/RTP/AVP"  # RFC 4571 framing; GB28181 TCP media
PROTO_TCP_RTP_AVPF = "TCP/RTP/AVPF"
RTP_VIDEO_PROTOS = (PROTO_RTP_AVP, PROTO_RTP_AVPF, PROTO_TCP_RTP_AVP, PROTO_TCP_RTP_AVPF)

ENCODING_H264 = "H264"
ENCODING_H265 = "H265"
ENCODING_PS = "PS"  # GB28181 MPEG program stream
ENCODING_PCMU = "PCMU"
PCMU_PAYLOAD_TYPE = 0  # static (RFC 3551 table 4)
AUDIO_CLOCK_RATE = 8000
# Constrained Baseline level 3.1, non-interleaved mode (RFC 6184 §8.1): what every decoder takes.
H264_DEFAULT_FMTP = "profile-level-id=42e01f;packetization-mode=1"
# RFC 6184 §8.2.2: the media format configuration parameters, which an answer keeps as offered
# (the level part of profile-level-id excepted) or it removes the payload type.
H264_PACKETIZATION_MODE = "packetization-mode"
H264_PROFILE_LEVEL_ID = "profile-level-id"
H264_CONFIGURATION_PARAMETERS = (H264_PROFILE_LEVEL_ID, H264_PACKETIZATION_MODE)
# Single NAL unit (0), non-interleaved (1), interleaved (2) (RFC 6184 §6.2-6.4); 0 when absent.
H264_MODE_SINGLE_NAL = 0
H264_MODE_NON_INTERLEAVED = 1
H264_MODE_INTERLEAVED = 2
VIDEO_CLOCK_RATE = 90000
DYNAMIC_PT_MIN = 96
DYNAMIC_PT_MAX = 127

# RFC 4145 a=setup values, and what an answerer picks for each offered one (§4.1).
SETUP_ACTIVE = "active"
SETUP_PASSIVE = "passive"
SETUP_ACTPASS = "actpass"
SETUP_HOLDCONN = "holdconn"
SETUP_ANSWER_FOR_OFFER = {
    SETUP_ACTIVE: SETUP_PASSIVE,
    SETUP_PASSIVE: SETUP_ACTIVE,
    SETUP_ACTPASS: SETUP_PASSIVE,
    SETUP_HOLDCONN: SETUP_HOLDCONN,
}

# Static RTP payload types (RFC 3551 table 4 and 5) used when no a=rtpmap is given.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
    26: ("JPEG", 90000),
    31: ("H261", 90000),
    32: ("MPV", 90000),
    33: ("MP2T", 90000),
    34: ("H263", 90000),
}

# Order of session-level and media-level lines (RFC 4566 §5); GB28181 y=/f= go last.
_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "micbka"

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_DIGITS_RE = re.compile(r"[0-9]+")
_LINE_TYPE_RE = re.compile(r"[a-z]")


class SdpNegotiationError(ValueError):
    """The offer holds no media this answerer can accept; answer the INVITE with 488."""

    status_code = 488


def _fields(value: str, count: int, what: str) -> list[str]:
    parts = value.split(" ")
    if len(parts) != count or not all(parts):
        raise ValueError(f"{what} {value[:80]!r}: expected {count} fields separated by one space")
    return parts


def _int(text: str, what: str, limit: int | None = None) -> int:
    if _DIGITS_RE.fullmatch(text) is None:
        raise ValueError(f"{what} {text[:30]!r} is not a non-negative integer")
    value = int(text)
    if limit is not None and value > limit:
        raise ValueError(f"{what} {value} is larger than {limit}")
    return value


@dataclass(frozen=True)
class Origin:
    """The ``o=`` line: username, session id and version, network and address types, address."""

    username: str
    session_id: str
    session_version: str
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        """Parse the value of an ``o=`` line (ids kept as digit strings, leading zeros too)."""
        username, sess_id, sess_version, nettype, addrtype, address = _fields(value, 6, "o=")
        _int(sess_id, "o= session id")
        _int(sess_version, "o= session version")
        return cls(username, sess_id, sess_version, nettype, addrtype, address)

    def to_string(self) -> str:
        """The ``o=`` value."""
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True)
class Connection:
    """The ``c=`` line: network type, address type and address (TTL/count suffix kept)."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Connection:
        """Parse the value of a ``c=`` line."""
        nettype, addrtype, address = _fields(value, 3, "c=")
        return cls(nettype, addrtype, address)

    def to_string(self) -> str:
        """The ``c=`` value."""
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True)
class RtpMap:
    """An ``a=rtpmap:<pt> <encoding>/<clock>[/<params>]`` attribute."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    encoding_params: str | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse the value after ``rtpmap:``."""
        pt_text, space, rest = value.partition(" ")
        if not space:
            raise ValueError(f"a=rtpmap:{value[:60]!r}: expected '<pt> <encoding>/<clock>'")
        payload_type = _int(pt_text, "a=rtpmap payload type", 127)
        parts = rest.strip(" ").split("/")
        if len(parts) not in (2, 3) or not parts[0]:
            raise ValueError(f"a=rtpmap:{value[:60]!r}: expected '<encoding>/<clock>[/<params>]'")
        clock = _int(parts[1], "a=rtpmap clock rate")
        return cls(payload_type, parts[0], clock, parts[2] if len(parts) == 3 else None)

    def to_string(self) -> str:
        """The value after ``rtpmap:``."""
        extra = "" if self.encoding_params is None else f"/{self.encoding_params}"
        return f"{self.payload_type} {self.encoding_name}/{self.clock_rate}{extra}"


def _attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    return name, (rest if colon else None)


def _line_index(lines: list[SdpLine], kind: str) -> int:
    for index, (line_type, _) in enumerate(lines):
        if line_type == kind:
            return index
    return -1


def _set_line(lines: list[SdpLine], kind: str, value: str, order: str) -> None:
    """Replace the first `kind` line, or insert it where RFC 4566 order puts it."""
    index = _line_index(lines, kind)
    if index >= 0:
        lines[index] = (kind, value)
        return
    rank = order.find(kind)
    for position, (line_type, _) in enumerate(lines):
        other = order.find(line_type)
        if rank >= 0 and (other > rank or other < 0):
            lines.insert(position, (kind, value))
            return
    lines.append((kind, value))


class _AttributeLines:
    """Attribute helpers over a list of lines (session or media level)."""

    lines: list[SdpLine]
    _order: str

    @property
    def attributes(self) -> list[tuple[str, str | None]]:
        """Every ``a=`` line as ``(name, value or None for a flag)``, in order."""
        return [_attribute(value) for kind, value in self.lines if kind == "a"]

    def get_attribute(self, name: str) -> str | None:
        """The value of the first ``a=name:value`` (``""`` for a flag), or None when absent."""
        for attr, value in self.attributes:
            if attr == name:
                return "" if value is None else value
        return None

    def get_attributes(self, name: str) -> list[str]:
        """The values of every ``a=name`` line (``""`` for flags)."""
        return ["" if v is None else v for a, v in self.attributes if a == name]

    def add_attribute(self, name: str, value: str | None = None) -> None:
        """Append ``a=name[:value]`` after the last attribute (before y=/f= lines)."""
        text = name if value is None else f"{name}:{value}"
        _set_line_after_last(self.lines, "a", text, self._order)

    def remove_attribute(self, name: str) -> int:
        """Remove every ``a=name`` line; returns how many were removed."""
        before = len(self.lines)
        self.lines[:] = [
            (k, v) for k, v in self.lines if not (k == "a" and _attribute(v)[0] == name)
        ]
        return before - len(self.lines)

    def _direction_attribute(self) -> str | None:
        for attr, value in self.attributes:
            if attr in DIRECTIONS and value is None:
                return attr
        return None

    def _set_direction(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        for index, (kind, value) in enumerate(self.lines):
            if kind == "a" and value in DIRECTIONS:
                self.lines[index] = ("a", direction)
                return
        self.add_attribute(direction)


def _set_line_after_last(lines: list[SdpLine], kind: str, value: str, order: str) -> None:
    last = max((i for i, (k, _) in enumerate(lines) if k == kind), default=-1)
    if last >= 0:
        lines.insert(last + 1, (kind, value))
        return
    rank = order.find(kind)
    for position, (line_type, _) in enumerate(lines):
        other = order.find(line_type)
        if other > rank or other < 0:
            lines.insert(position, (kind, value))
            return
    lines.append((kind, value))


def _parse_m_value(value: str) -> tuple[str, int, int | None, str, list[str]]:
    parts = value.split()
    if len(parts) < 3:
        raise ValueError(f"m={value[:80]!r}: expected '<media> <port> <proto> <fmt> ...'")
    media, port_text, proto = parts[0], parts[1], parts[2]
    if _TOKEN_RE.fullmatch(media) is None:
        raise ValueError(f"m={value[:80]!r}: media type {media!r} is not a token")
    port_part, slash, count_part = port_text.partition("/")
    port = _int(port_part, "m= port", 65535)
    count = _int(count_part, "m= port count") if slash else None
    if not all(_TOKEN_RE.fullmatch(p) for p in proto.split("/")):
        raise ValueError(f"m={value[:80]!r}: transport {proto!r} is not token/token")
    return media, port, count, proto, parts[3:]


@dataclass
class MediaDescription(_AttributeLines):
    """One media section: the ``m=`` fields and the lines after it, in order."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    lines: list[SdpLine] = field(default_factory=list)
    raw_m: str | None = field(default=None, compare=False, repr=False)

    _order = _MEDIA_ORDER

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        """A media section with no lines yet, from the value of its ``m=`` line."""
        media, port, count, proto, formats = _parse_m_value(value)
        return cls(media, port, proto, formats, count, [], value)

    def m_value(self) -> str:
        """The ``m=`` value; the original text when the fields are unchanged since parsing."""
        fields = (self.media, self.port, self.port_count, self.proto, self.formats)
        if self.raw_m is not None and _parse_m_value(self.raw_m) == fields:
            return self.raw_m
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join([self.media, port, self.proto, *self.formats])

    @property
    def connection(self) -> Connection | None:
        """The media-level ``c=`` line, if any."""
        index = _line_index(self.lines, "c")
        return None if index < 0 else Connection.parse(self.lines[index][1])

    @connection.setter
    def connection(self, value: Connection) -> None:
        _set_line(self.lines, "c", value.to_string(), self._order)

    @property
    def direction(self) -> str:
        """The media-level direction attribute, ``sendrecv`` when there is none.

        See :meth:`SessionDescription.media_direction` for the session-level fallback.
        """
        return self._direction_attribute() or DEFAULT_DIRECTION

    @direction.setter
    def direction(self, value: str) -> None:
        self._set_direction(value)

    @property
    def has_direction(self) -> bool:
        """True when the section carries its own direction attribute."""
        return self._direction_attribute() is not None

    def rtpmaps(self) -> list[RtpMap]:
        """Every ``a=rtpmap`` of the section, in order."""
        return [RtpMap.parse(v) for v in self.get_attributes("rtpmap")]

    def rtpmap(self, payload_type: int, *, static_defaults: bool = True) -> RtpMap | None:
        """The rtpmap for `payload_type`; for a static type without one, the RFC 3551 default."""
        for entry in self.rtpmaps():
            if entry.payload_type == payload_type:
                return entry
        if static_defaults and payload_type in STATIC_PAYLOAD_TYPES:
            name, clock = STATIC_PAYLOAD_TYPES[payload_type]
            return RtpMap(payload_type, name, clock)
        return None

    def fmtp(self, payload_type: int) -> str | None:
        """The format parameters of ``a=fmtp:<payload_type> ...``, or None."""
        prefix = f"{payload_type} "
        for value in self.get_attributes("fmtp"):
            if value.startswith(prefix):
                return value[len(prefix) :]
        return None

    def get_line(self, kind: str) -> str | None:
        """The value of the first line of type `kind` (e.g. ``"y"``, ``"f"``), or None."""
        index = _line_index(self.lines, kind)
        return None if index < 0 else self.lines[index][1]

    def all_lines(self) -> list[SdpLine]:
        """The ``m=`` line followed by the section's lines."""
        return [("m", self.m_value()), *self.lines]

    def to_string(self, line_ending: str = CRLF) -> str:
        """The section's text (``m=`` line first), e.g. to splice into another stack's SDP."""
        return "".join(f"{kind}={value}{line_ending}" for kind, value in self.all_lines())


@dataclass
class SessionDescription(_AttributeLines):
    """A whole SDP body: session-level lines (``v=`` first) and media sections."""

    lines: list[SdpLine]
    media: list[MediaDescription] = field(default_factory=list)
    line_ending: str = CRLF

    _order = _SESSION_ORDER

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; ValueError names the line number and what is wrong.

        Lines may end in CRLF or LF (kept in :attr:`line_ending` when consistent); trailing empty
        lines are ignored, an empty line elsewhere is an error.
        """
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"SDP is not UTF-8 (byte offset {exc.start})") from None
        else:
            text = data
        raw_lines = text.split("\n")
        if raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        lines: list[str] = []
        crlf = 0
        for raw in raw_lines:
            if raw.endswith("\r"):
                crlf += 1
            lines.append(raw.removesuffix("\r"))
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            raise ValueError("SDP is empty")
        line_ending = "\n" if crlf == 0 else CRLF
        session: list[SdpLine] = []
        media: list[MediaDescription] = []
        for number, line in enumerate(lines, 1):
            where = f"SDP line {number}"
            if "\r" in line:
                raise ValueError(f"{where}: bare CR inside the line")
            if len(line) < 2 or line[1] != "=" or _LINE_TYPE_RE.fullmatch(line[0]) is None:
                raise ValueError(f"{where}: expected '<letter>=<value>', got {line[:40]!r}")
            kind, value = line[0], line[2:]
            try:
                _check_line(kind, value)
                if number == 1 and (kind != "v" or value != "0"):
                    raise ValueError(f"the first line must be 'v=0', got {line[:40]!r}")
                if kind == "m":
                    media.append(MediaDescription.parse_m_line(value))
                elif media:
                    media[-1].lines.append((kind, value))
                else:
                    if kind in "vos" and _line_index(session, kind) >= 0:
                        raise ValueError(f"{kind}= appears twice at session level")
                    session.append((kind, value))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        for kind in "ost":
            if _line_index(session, kind) < 0:
                raise ValueError(f"SDP has no session-level {kind}= line (RFC 4566 §5)")
        return cls(session, media, line_ending)

    def to_string(self) -> str:
        """The SDP text."""
        all_lines = [*self.lines, *(line for m in self.media for line in m.all_lines())]
        ending = self.line_ending
        return "".join(f"{kind}={value}{ending}" for kind, value in all_lines)

    def to_bytes(self) -> bytes:
        """The SDP as UTF-8 bytes."""
        return self.to_string().encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def get_line(self, kind: str) -> str | None:
        """The value of the first session-level line of type `kind`, or None."""
        index = _line_index(self.lines, kind)
        return None if index < 0 else self.lines[index][1]

    @property
    def origin(self) -> Origin:
        """The ``o=`` line."""
        return Origin.parse(self.get_line("o") or "")

    @origin.setter
    def origin(self, value: Origin) -> None:
        _set_line(self.lines, "o", value.to_string(), self._order)

    @property
    def session_name(self) -> str:
        """The ``s=`` value."""
        return self.get_line("s") or ""

    @session_name.setter
    def session_name(self, value: str) -> None:
        _set_line(self.lines, "s", value, self._order)

    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=`` line, if any."""
        value = self.get_line("c")
        return None if value is None else Connection.parse(value)

    @connection.setter
    def connection(self, value: Connection) -> None:
        _set_line(self.lines, "c", value.to_string(), self._order)

    @property
    def timing(self) -> str:
        """The first ``t=`` value (``"0 0"`` for an unbounded session)."""
        return self.get_line("t") or ""

    @property
    def direction(self) -> str:
        """The session-level direction attribute, ``sendrecv`` when there is none."""
        return self._direction_attribute() or DEFAULT_DIRECTION

    @direction.setter
    def direction(self, value: str) -> None:
        self._set_direction(value)

    def media_direction(self, index: int) -> str:
        """Direction of media `index`: its own attribute, else the session's, else sendrecv."""
        media = self.media[index]
        return media._direction_attribute() or self.direction

    def media_connection(self, index: int) -> Connection | None:
        """The ``c=`` that applies to media `index` (its own, else the session's)."""
        return self.media[index].connection or self.connection


def _check_line(kind: str, value: str) -> None:
    """Syntax checks for the lines the offer/answer code reads."""
    if kind == "o":
        Origin.parse(value)
    elif kind == "c":
        Connection.parse(value)
    elif kind == "t":
        start, stop = _fields(value, 2, "t=")
        _int(start, "t= start time")
        _int(stop, "t= stop time")
    elif kind == "b":
        bwtype, colon, bandwidth = value.partition(":")
        if not colon or _TOKEN_RE.fullmatch(bwtype) is None:
            raise ValueError(f"b={value[:40]!r}: expected '<bwtype>:<bandwidth>'")
        _int(bandwidth, "b= bandwidth")
    elif kind == "a":
        name, attr_value = _attribute(value)
        if _TOKEN_RE.fullmatch(name) is None:
            raise ValueError(f"a={value[:40]!r}: attribute name {name!r} is not a token")
        if name == "rtpmap":
            RtpMap.parse(attr_value or "")
        elif name == "fmtp":
            pt_text, space, _ = (attr_value or "").partition(" ")
            if not pt_text or not space:
                raise ValueError(f"a={value[:40]!r}: expected 'fmtp:<format> <params>'")


def parse(data: bytes | str) -> SessionDescription:
    """Parse an SDP body (see :meth:`SessionDescription.parse`)."""
    return SessionDescription.parse(data)


# --- offer/answer (RFC 3264) ----------------------------------------------------------------------


def find_video_payload(
    offer: SessionDescription, encodings: Sequence[str] = (ENCODING_H264,)
) -> tuple[int, int]:
    """The first active RTP video section offering one of `encodings`: ``(media index, PT)``.

    The payload type is the offer's own, read from its ``a=rtpmap`` (never renumbered); formats
    are tried in the offer's order. Raises :class:`SdpNegotiationError` naming what was offered.
    """
    wanted = {e.upper() for e in encodings}
    seen: list[str] = []
    for index, media in enumerate(offer.media):
        if media.media != "video":
            continue
        if media.port == 0:
            seen.append(f"m={media.m_value()} (rejected, port 0)")
            continue
        if media.proto.upper() not in RTP_VIDEO_PROTOS:
            seen.append(f"m={media.m_value()} (transport {media.proto} not RTP)")
            continue
        names: list[str] = []
        for fmt in media.formats:
            if _DIGITS_RE.fullmatch(fmt) is None or int(fmt) > 127:
                continue
            entry = media.rtpmap(int(fmt))
            if entry is None:
                names.append(f"{fmt}=?")
                continue
            if entry.encoding_name.upper() in wanted:
                return index, entry.payload_type
            names.append(f"{fmt}={entry.encoding_name}")
        seen.append(f"m={media.m_value()} ({', '.join(names) or 'no rtpmap'})")
    offered = "; ".join(seen) if seen else "no m=video line"
    raise SdpNegotiationError(f"no acceptable {'/'.join(encodings)} video in the offer: {offered}")


def fmtp_parameters(fmtp: str | None) -> dict[str, str]:
    """The ``name=value`` parameters of an ``a=fmtp`` value (RFC 4566 §6), names lower-cased
    (media type parameter names are case-insensitive); a name without ``=`` maps to ``""``."""
    parameters: dict[str, str] = {}
    for item in (fmtp or "").split(";"):
        name, _, value = item.strip().partition("=")
        if name.strip():
            parameters.setdefault(name.strip().lower(), value.strip())
    return parameters


def h264_packetization_mode(fmtp: str | None) -> int:
    """The packetization-mode an H.264 ``a=fmtp`` value states: 0 when absent (RFC 6184 §8.1).

    ValueError when the parameter is there but not a decimal integer.
    """
    value = fmtp_parameters(fmtp).get(H264_PACKETIZATION_MODE)
    if value is None:
        return H264_MODE_SINGLE_NAL
    return _int(value, "packetization-mode")


def h264_answer_fmtp(offered_fmtp: str | None) -> str | None:
    """The ``a=fmtp`` value an answer gives an accepted H.264 payload type: the offer's media
    format configuration parameters (profile-level-id, packetization-mode) as offered, in the
    offer's order, since RFC 6184 §8.2.2 has them used symmetrically; None when it has none."""
    kept = []
    for item in (offered_fmtp or "").split(";"):
        name = item.strip().partition("=")[0].strip().lower()
        if name in H264_CONFIGURATION_PARAMETERS:
            kept.append(item.strip())
    return ";".join(kept) or None


def find_h264_video(offer: SessionDescription) -> tuple[int, int]:
    """``(media index, payload type)`` of the offer's H.264 video (see find_video_payload)."""
    return find_video_payload(offer, (ENCODING_H264,))


def answer_direction(offered: str) -> str:
    """The direction a receive-only answerer uses for an offered direction (RFC 3264 §6.1)."""
    if offered in (DIRECTION_SENDONLY, DIRECTION_SENDRECV):
        return DIRECTION_RECVONLY
    if offered in (DIRECTION_RECVONLY, DIRECTION_INACTIVE):
        return DIRECTION_INACTIVE
    raise ValueError(f"direction {offered!r} is not one of {', '.join(DIRECTIONS)}")


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _new_session_id() -> str:
    return str(1 + secrets.randbelow(2**62))


def _session_lines(
    address: str,
    *,
    session_id: str | None,
    session_version: str | None,
    username: str,
    session_name: str,
    timing: str,
) -> list[SdpLine]:
    sess_id = session_id if session_id is not None else _new_session_id()
    sess_version = session_version if session_version is not None else sess_id
    origin = Origin(username, sess_id, sess_version, "IN", _addrtype(address), address)
    Origin.parse(origin.to_string())  # validates the ids
    return [
        ("v", "0"),
        ("o", origin.to_string()),
        ("s", session_name),
        ("c", Connection("IN", _addrtype(address), address).to_string()),
        ("t", timing),
    ]


def _offered_ssrc(offer: SessionDescription, index: int) -> str | None:
    return offer.media[index].get_line("y") or offer.get_line("y")


def answer_video_recvonly(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    encodings: Sequence[str] = (ENCODING_H264,),
    session_id: str | None = None,
    session_version: str | None = None,
    username: str = "-",
    session_name: str = "-",
    fmtp: str | None = None,
    ssrc: str | None = None,
    h264_modes: Collection[int] = (H264_MODE_SINGLE_NAL, H264_MODE_NON_INTERLEAVED),
) -> SessionDescription:
    """An RFC 3264 answer that receives the offer's video and rejects everything else.

    The accepted section keeps the offer's payload type and rtpmap, gets ``c=``/port of
    `address`/`port`, and a direction mirrored from the offer (sendonly/sendrecv -> recvonly,
    recvonly/inactive -> inactive). Every other m-line is answered with port 0 and its offered
    formats (§6). ``t=`` equals the offer's. Over TCP the ``a=setup`` role follows RFC 4145 and
    ``a=connection:new`` is added. A ``y=`` SSRC (GB28181) is echoed unless `ssrc` overrides it.

    For H.264 the answer keeps the offer's profile-level-id and packetization-mode
    (:func:`h264_answer_fmtp`, RFC 6184 §8.2.2) unless `fmtp` gives the whole ``a=fmtp`` value;
    an offered packetization-mode outside `h264_modes` (the modes this answerer depacketizes)
    cannot be kept, so the offer is refused.
    Raises :class:`SdpNegotiationError` when no acceptable video is offered.
    """
    index, payload_type = find_video_payload(offer, encodings)
    if not 0 < port <= 65535:
        raise ValueError(f"answer port {port} is not 1-65535")
    offered = offer.media[index]
    entry = offered.rtpmap(payload_type)
    if fmtp is None and entry is not None and entry.encoding_name.upper() == ENCODING_H264:
        offered_fmtp = offered.fmtp(payload_type)
        try:
            mode = h264_packetization_mode(offered_fmtp)
        except ValueError as exc:
            raise SdpNegotiationError(f"H.264 payload type {payload_type}: {exc}") from None
        if mode not in h264_modes:
            raise SdpNegotiationError(
                f"H.264 payload type {payload_type} offers packetization-mode {mode}; this"
                f" answerer takes {sorted(h264_modes)} and must not answer another (RFC 6184"
                " §8.2.2)"
            )
        fmtp = h264_answer_fmtp(offered_fmtp)
    session = _session_lines(
        address,
        session_id=session_id,
        session_version=session_version,
        username=username,
        session_name=session_name,
        timing=offer.timing,
    )
    answer = SessionDescription(session)
    for position, media in enumerate(offer.media):
        if position != index:
            answer.media.append(
                MediaDescription(media.media, 0, media.proto, list(media.formats) or ["0"])
            )
            continue
        if entry is None:  # pragma: no cover - find_video_payload only returns mapped types
            raise SdpNegotiationError(f"payload type {payload_type} has no rtpmap")
        accepted = MediaDescription("video", port, offered.proto, [str(payload_type)])
        accepted.add_attribute("rtpmap", entry.to_string())
        if fmtp is not None:
            accepted.add_attribute("fmtp", f"{payload_type} {fmtp}")
        if offered.proto.upper().startswith("TCP/"):
            offered_setup = offered.get_attribute("setup") or SETUP_ACTIVE  # RFC 4145 §4.1
            setup = SETUP_ANSWER_FOR_OFFER.get(offered_setup)
            if setup is None:
                raise SdpNegotiationError(f"offered a=setup:{offered_setup} is not RFC 4145")
            accepted.add_attribute("setup", setup)
            accepted.add_attribute("connection", "new")
        accepted.direction = answer_direction(offer.media_direction(index))
        chosen_ssrc = ssrc if ssrc is not None else _offered_ssrc(offer, index)
        if chosen_ssrc is not None:
            accepted.lines.append(("y", chosen_ssrc))
        answer.media.append(accepted)
    return answer


def make_video_offer_recvonly(
    address: str,
    port: int,
    payload_type: int = DYNAMIC_PT_MIN,
    *,
    encoding: str = ENCODING_H264,
    clock_rate: int = VIDEO_CLOCK_RATE,
    proto: str = PROTO_RTP_AVP,
    session_id: str | None = None,
    session_version: str | None = None,
    username: str = "-",
    session_name: str = "-",
    setup: str = SETUP_PASSIVE,
    ssrc: str | None = None,
) -> SessionDescription:
    """A receive-only video offer, e.g. for the 200 to a bodyless INVITE (RFC 3261 §13.2.1).

    Over a TCP transport ``a=setup:<setup>`` and ``a=connection:new`` are added; `ssrc` adds a
    GB28181 ``y=`` line.
    """
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type {payload_type} is not 0-127")
    if not 0 < port <= 65535:
        raise ValueError(f"offer port {port} is not 1-65535")
    session = _session_lines(
        address,
        session_id=session_id,
        session_version=session_version,
        username=username,
        session_name=session_name,
        timing="0 0",
    )
    offer = SessionDescription(session)
    media = MediaDescription("video", port, proto, [str(payload_type)])
    media.add_attribute("rtpmap", RtpMap(payload_type, encoding, clock_rate).to_string())
    if proto.upper().startswith("TCP/"):
        media.add_attribute("setup", setup)
        media.add_attribute("connection", "new")
    media.direction = DIRECTION_RECVONLY
    if ssrc is not None:
        media.lines.append(("y", ssrc))
    offer.media.append(media)
    return offer


def _ipv4_literal(host: str, what: str) -> str:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{what} {host!r} is not an IPv4 literal (e.g. 192.0.2.1)") from None
    return host


def _check_one_line(text: str, what: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"{what} {text[:40]!r} contains CR or LF")


def _check_port(port: int, what: str) -> None:
    if not 0 < port <= 65535:
        raise ValueError(f"{what} {port} is not 1-65535")


def h264_media(
    *,
    port: int,
    payload_type: int = DYNAMIC_PT_MIN,
    fmtp: str | None = H264_DEFAULT_FMTP,
    direction: str | None = DIRECTION_SENDONLY,
    tcp: bool = False,
    setup: str | None = None,
    host: str | None = None,
) -> MediaDescription:
    """One H.264 video section of an offer (RFC 4566 §5.14, RFC 6184 §8.2.1).

    Lines: ``m=video <port> RTP/AVP <pt>``, ``c=IN IP4 <host>`` when `host` is given (a
    media-level connection), ``a=rtpmap:<pt> H264/90000``, ``a=fmtp:<pt> <fmtp>`` unless `fmtp`
    is None, ``a=<direction>`` unless `direction` is None (then the RFC 4566 default sendrecv
    applies). With `tcp` the transport is ``TCP/RTP/AVP`` (RFC 4571 framing) followed by
    ``a=setup:<setup>`` (RFC 4145 §4, default ``active``: the offerer connects) and
    ``a=connection:new`` (§5). ValueError for a port outside 1-65535, a payload type outside
    0-127, an empty `fmtp`, an unknown direction or setup role, `setup` without `tcp`, or a
    `host` that is not an IPv4 literal.
    """
    _check_port(port, "video port")
    if not 0 <= payload_type <= 127:
        raise ValueError(f"payload type {payload_type} is not 0-127")
    if fmtp is not None:
        if not fmtp.strip():
            raise ValueError("fmtp is empty; pass None to leave out the a=fmtp line")
        _check_one_line(fmtp, "fmtp")
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if setup is not None and not tcp:
        raise ValueError(f"a=setup:{setup} only applies to TCP media (pass tcp=True)")
    role = SETUP_ACTIVE if setup is None else setup
    if tcp and role not in SETUP_ANSWER_FOR_OFFER:
        raise ValueError(f"setup {role!r} is not one of {', '.join(SETUP_ANSWER_FOR_OFFER)}")
    proto = PROTO_TCP_RTP_AVP if tcp else PROTO_RTP_AVP
    media = MediaDescription("video", port, proto, [str(payload_type)])
    if host is not None:
        media.connection = Connection("IN", "IP4", _ipv4_literal(host, "media host"))
    media.add_attribute("rtpmap", RtpMap(payload_type, ENCODING_H264, VIDEO_CLOCK_RATE).to_string())
    if fmtp is not None:
        _check_line("a", f"fmtp:{payload_type} {fmtp}")
        media.add_attribute("fmtp", f"{payload_type} {fmtp}")
    if direction is not None:
        media.add_attribute(direction)
    if tcp:
        media.add_attribute("setup", role)
        media.add_attribute("connection", "new")
    return media


def h264_offer(
    *,
    host: str,
    video_port: int | None,
    payload_type: int = DYNAMIC_PT_MIN,
    fmtp: str | None = H264_DEFAULT_FMTP,
    direction: str | None = DIRECTION_SENDONLY,
    tcp: bool = False,
    setup: str | None = None,
    audio_port: int | None = None,
    session_id: int | None = None,
    session_version: int | None = None,
    username: str = "-",
    session_name: str = "-",
) -> SessionDescription:
    """An SDP offer (RFC 3264 §5) from a peer that sends H.264 video, e.g. a camera's INVITE.

    Session level (RFC 4566 §5): ``v=0``, ``o=<username> <session_id> <session_version> IN IP4
    <host>``, ``s=<session_name>``, ``c=IN IP4 <host>``, ``t=0 0``. `session_id` defaults to a
    random one and `session_version` to the id; a re-offer passes the same id and a higher
    version (RFC 3264 §8). Then, when `audio_port` is given, ``m=audio <audio_port> RTP/AVP 0``
    with ``a=rtpmap:0 PCMU/8000`` and ``a=sendrecv`` (for peers that offer audio too; a video
    decoder answers it with port 0), and, unless `video_port` is None, the video section of
    :func:`h264_media` (its options are the same). Serialize with ``.to_bytes()``.

    ValueError when `host` is not an IPv4 literal, neither port is given, the ports are equal,
    a session id/version is negative, or a :func:`h264_media` argument is bad.
    """
    address = _ipv4_literal(host, "host")
    if video_port is None and audio_port is None:
        raise ValueError("an offer needs a video_port, an audio_port or both")
    if video_port is not None and video_port == audio_port:
        raise ValueError(f"audio and video share port {video_port}; RTP needs one each")
    if video_port is None and (tcp or setup is not None):
        raise ValueError("tcp and setup apply to the video section, and there is none")
    _check_one_line(session_name, "session name")
    if not session_name:
        raise ValueError("session name is empty (RFC 4566 §5.3: use '-' for none)")
    for value, what in ((session_id, "session id"), (session_version, "session version")):
        if value is not None and value < 0:
            raise ValueError(f"{what} {value} is negative")
    offer = SessionDescription(
        _session_lines(
            address,
            session_id=None if session_id is None else str(session_id),
            session_version=None if session_version is None else str(session_version),
            username=username,
            session_name=session_name,
            timing="0 0",
        )
    )
    if audio_port is not None:
        _check_port(audio_port, "audio port")
        audio = MediaDescription("audio", audio_port, PROTO_RTP_AVP, [str(PCMU_PAYLOAD_TYPE)])
        pcmu = RtpMap(PCMU_PAYLOAD_TYPE, ENCODING_PCMU, AUDIO_CLOCK_RATE)
        audio.add_attribute("rtpmap", pcmu.to_string())
        audio.add_attribute(DIRECTION_SENDRECV)
        offer.media.append(audio)
    if video_port is not None:
        offer.media.append(
            h264_media(
                port=video_port,
                payload_type=payload_type,
                fmtp=fmtp,
                direction=direction,
                tcp=tcp,
                setup=setup,
            )
        )
    return offer
