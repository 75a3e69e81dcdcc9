"""GB/T 28181 SDP extensions (2016 Annex F, 2022 Annex G) over the RFC 4566 model of ``wire.sdp``.

A separate module on purpose: :mod:`wire.sdp` is the generic RFC 4566/3264 codec every SIP call of
the suite uses, and it already keeps the GB lines (``y=``, ``f=``, ``u=``) untouched and byte-exact.
What GB adds is *meaning* (an SSRC derived from the SIP domain ID, a slash-structured media format,
session names, one-way media, Annex L TCP roles) and a strict peer's view of deviations, with clause
citations. That layer needs :mod:`wire.gb_id`; keeping it here keeps ``wire.sdp`` free of GB
imports and its API unchanged, and keeps every GB rule in one place. No I/O, standard library and
``wire`` only.

Lines and typed views (parsed on demand from a :class:`~wire.sdp.SessionDescription`, so line order
and unknown lines survive):

* ``y=`` (:class:`GbSsrc`): ten decimal digits, the RTP SSRC written in decimal. Digit 1 is 0 for
  real-time media and 1 for history (playback, download); digits 2-6 are digits 4-8 of the 20-digit
  SIP domain ID (``34020000002000000001`` gives ``20000``); digits 7-10 are a sequence unique in
  the domain. Real platforms put it after the media section (usual) or at session level; the
  standard's own J.4.5 example has nine digits, so reading is lenient (1-10 digits, taken as an
  integer) and :func:`gb_problems` reports what is not ten. :func:`ssrc_of`, :func:`make_ssrc`.
* ``f=`` (:class:`MediaFormat`): ``v/codec/resolution/framerate/rate_type/bitrate`` then
  ``a/codec/bitrate/sample_rate``; every field may be empty but keeps its slash
  (``f=v/2/5/25/1/4096a///``, ``f=v/////a/1/8/1``, ``f=v/2/4///a///``); an empty ``f=`` is read as
  all fields unknown.
* ``s=`` Play / Playback / Download (and Talk, 2016 only); ``u=`` (:class:`MediaUri`) the source
  channel ID and a parameter (``34020000001320000001:0``) for history media; ``t=`` the history
  time range; ``a=downloadspeed`` and ``a=filesize`` for downloads.
* ``a=rtpmap`` 96 PS/90000 (the GB payload), 98 H264/90000, 97 MPEG4/90000; always map by rtpmap,
  never by number (H.265 is 100 in 2022 and 99 in WVP).
* TCP media (2016 Annex L; 2022 Annex D): ``m=video <port> TCP/RTP/AVP 96`` with RFC 4571 framing,
  ``a=setup:active|passive`` (RFC 4145; by default the sender connects and the receiver listens)
  and ``a=connection:new``.

Builders for the two ways a platform gets video into a decoder (2016/2022 §9.2.2; in every one the
decoder's SDP is ``recvonly`` and the source's ``sendonly``):

1. third-party call control: the platform sends a bodyless INVITE, the decoder offers in its 200
   (:func:`gb_offer`: ``a=recvonly``, ``PS/90000``) and the platform answers in the ACK
   (:func:`gb_answer` on that offer: ``a=sendonly`` and ``y=``);
2. an INVITE carrying a ``sendonly`` PS offer with ``y=`` (:func:`gb_offer` with
   ``direction="sendonly"``), answered ``recvonly`` echoing the offer's ``y=`` (:func:`gb_answer`).

Every address a builder advertises is an IP literal given by the caller (no hostnames, no
``0.0.0.0``). :func:`gb_problems` lists what a strict peer would object to, each message citing
its clause. Errors are :class:`GbSdpError` (a ValueError); an offer with nothing acceptable raises
:class:`wire.sdp.SdpNegotiationError` (488).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from wire import gb_id, sdp
from wire.sdp import (
    DIRECTION_INACTIVE,
    DIRECTION_RECVONLY,
    DIRECTION_SENDONLY,
    DIRECTION_SENDRECV,
    PROTO_RTP_AVP,
    PROTO_TCP_RTP_AVP,
    SETUP_ACTIVE,
    SETUP_ACTPASS,
    SETUP_HOLDCONN,
    SETUP_PASSIVE,
    VIDEO_CLOCK_RATE,
    MediaDescription,
    RtpMap,
    SdpNegotiationError,
    SessionDescription,
)

# --- constants ------------------------------------------------------------------------------------

SESSION_PLAY = "Play"
SESSION_PLAYBACK = "Playback"
SESSION_DOWNLOAD = "Download"
SESSION_TALK = "Talk"  # voice talk-back; 2016 only, dropped in 2022
SESSION_NAMES_2016 = (SESSION_PLAY, SESSION_PLAYBACK, SESSION_DOWNLOAD, SESSION_TALK)
SESSION_NAMES_2022 = (SESSION_PLAY, SESSION_PLAYBACK, SESSION_DOWNLOAD)
HISTORY_SESSIONS = (SESSION_PLAYBACK, SESSION_DOWNLOAD)

ENCODING_PS = "PS"
ENCODING_H264 = "H264"
ENCODING_MPEG4 = "MPEG4"
ENCODING_H265 = "H265"
PS_PAYLOAD_TYPE = 96
MPEG4_PAYLOAD_TYPE = 97
H264_PAYLOAD_TYPE = 98
H265_PAYLOAD_TYPE_2022 = 100  # 2022 recommends 100; WVP offers 99: map by rtpmap
#: The payload types the standard's examples use (2016 Annex F).
GB_RTPMAPS: dict[int, RtpMap] = {
    PS_PAYLOAD_TYPE: RtpMap(PS_PAYLOAD_TYPE, ENCODING_PS, VIDEO_CLOCK_RATE),
    MPEG4_PAYLOAD_TYPE: RtpMap(MPEG4_PAYLOAD_TYPE, ENCODING_MPEG4, VIDEO_CLOCK_RATE),
    H264_PAYLOAD_TYPE: RtpMap(H264_PAYLOAD_TYPE, ENCODING_H264, VIDEO_CLOCK_RATE),
}

SSRC_LENGTH = 10
SSRC_REALTIME = "0"
SSRC_HISTORY = "1"
SSRC_MAX = 0xFFFFFFFF  # an RTP SSRC is 32 bits (RFC 3550 §5.1)
SEQUENCE_MAX = 9999

#: ``f=`` field codes (2016 Annex F; 2022 Annex G adds H.265).
VIDEO_CODECS = {1: "MPEG-4", 2: "H.264", 3: "SVAC", 4: "3GP", 5: "H.265 (2022)"}
RESOLUTIONS = {1: "QCIF", 2: "CIF", 3: "4CIF", 4: "D1", 5: "720P", 6: "1080P/I"}
RATE_TYPES = {1: "CBR", 2: "VBR"}
AUDIO_CODECS = {1: "G.711", 2: "G.723.1", 3: "G.729", 4: "G.722.1"}

# Clause citations used in problem messages.
CITE_SDP = "2016 Annex F; 2022 Annex G"
CITE_SSRC_ECHO = "2016 Annex F note 4; 2022 Annex G"
CITE_TCP = "2016 Annex L; 2022 Annex D; RFC 4145 §4"
CITE_PS = "2016 Annex C.1; 2022 Annex C"
CITE_FLOW = "2016 §9.2.2; 2022 §9.2.2"
CITE_OFFER_ANSWER = "RFC 3264 §6.1"

_DIGITS_RE = re.compile(r"[0-9]+")
_GB_PROTOS = (PROTO_RTP_AVP, PROTO_TCP_RTP_AVP)
_TCP_SETUPS = (SETUP_ACTIVE, SETUP_PASSIVE)


class GbSdpError(ValueError):
    """A GB28181 SDP line, or an argument for one, is malformed; the message names which."""


# --- y=: the SSRC ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GbSsrc:
    """A ``y=`` value: the RTP SSRC in decimal, kept as its digit string (leading zeros too)."""

    text: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> GbSsrc:
        """Read a ``y=`` value; surrounding spaces and tabs are ignored.

        Lenient by default, as platforms are: 1 to 10 decimal digits whose value fits in 32 bits
        (J.4.5 of the 2016 text itself has nine). With `strict`, exactly ten digits starting with
        0 or 1, as 2016 Annex F / 2022 Annex G write it.
        """
        value = text.strip(" \t")
        if _DIGITS_RE.fullmatch(value) is None:
            raise GbSdpError(f"y={text[:30]!r} is not a decimal SSRC")
        if len(value) > SSRC_LENGTH:
            raise GbSdpError(f"y={value[:30]} has {len(value)} digits, more than {SSRC_LENGTH}")
        if int(value) > SSRC_MAX:
            raise GbSdpError(f"y={value} is larger than a 32-bit RTP SSRC ({SSRC_MAX})")
        if strict:
            if len(value) != SSRC_LENGTH:
                raise GbSdpError(f"y={value} has {len(value)} digits, not {SSRC_LENGTH}")
            if value[0] not in (SSRC_REALTIME, SSRC_HISTORY):
                raise GbSdpError(f"y={value}: digit 1 is {value[0]}, not 0 (live) or 1 (history)")
        return cls(value)

    def __str__(self) -> str:
        return self.text

    @property
    def value(self) -> int:
        """The integer the RTP header carries."""
        return int(self.text)

    @property
    def is_standard(self) -> bool:
        """True for ten digits starting with 0 or 1."""
        return len(self.text) == SSRC_LENGTH and self.text[0] in (SSRC_REALTIME, SSRC_HISTORY)

    @property
    def history(self) -> bool | None:
        """Digit 1: False for real-time media, True for history, None if not a standard SSRC."""
        return None if not self.is_standard else self.text[0] == SSRC_HISTORY

    @property
    def domain_digits(self) -> str | None:
        """Digits 2-6 (digits 4-8 of the domain ID), None if not a standard SSRC."""
        return self.text[1:6] if self.is_standard else None

    @property
    def sequence(self) -> int | None:
        """Digits 7-10, the stream's number within the domain, None if not a standard SSRC."""
        return int(self.text[6:]) if self.is_standard else None


def domain_digits_of(domain_id: str) -> str:
    """Digits 4-8 of a domain ID, the part a ``y=`` carries as its digits 2-6.

    `domain_id` is the 20-digit ID of the SIP domain (its central signalling server) or the
    10-digit domain itself; both have the same first ten digits.
    """
    if len(domain_id) == gb_id.ID_LENGTH:
        gb_id.GbId.parse(domain_id, known_type_only=False)
    elif len(domain_id) != gb_id.DOMAIN_LENGTH or _DIGITS_RE.fullmatch(domain_id) is None:
        raise GbSdpError(
            f"domain ID {domain_id[:30]!r} is neither 20 digits (an ID) nor 10 (a domain)"
        )
    return domain_id[3:8]


def make_ssrc(domain_id: str, *, realtime: bool = True, sequence: int) -> str:
    """The ten-digit ``y=`` value: live/history flag, digits 4-8 of `domain_id`, `sequence`.

    ``make_ssrc("34020000002000000001", sequence=1)`` is ``"0200000001"``. `sequence` is 0-9999
    and should be unique among the domain's current streams (2016 Annex F; 2022 Annex G).
    """
    if isinstance(sequence, bool) or not 0 <= sequence <= SEQUENCE_MAX:
        raise GbSdpError(f"SSRC sequence {sequence!r} is not 0-{SEQUENCE_MAX}")
    flag = SSRC_REALTIME if realtime else SSRC_HISTORY
    return f"{flag}{domain_digits_of(domain_id)}{sequence:04d}"


def ssrc_line_of(description: SessionDescription, index: int | None = None) -> str | None:
    """The raw ``y=`` value that applies: media `index`'s (or the first media section's that has
    one), else the session-level one; None when there is none."""
    sections = description.media if index is None else [description.media[index]]
    for media in sections:
        value = media.get_line("y")
        if value is not None:
            return value
    return description.get_line("y")


def gb_ssrc_of(description: SessionDescription, index: int | None = None) -> GbSsrc | None:
    """The ``y=`` that applies (see :func:`ssrc_line_of`), parsed leniently; None when absent."""
    value = ssrc_line_of(description, index)
    return None if value is None else GbSsrc.parse(value)


def ssrc_of(description: SessionDescription, index: int | None = None) -> int | None:
    """The ``y=`` value as the RTP SSRC integer (decimal per GB), None without a ``y=``.

    Found after the media section or at session level; GbSdpError when it is not a decimal
    32-bit number.
    """
    ssrc = gb_ssrc_of(description, index)
    return None if ssrc is None else ssrc.value


def place_ssrc(
    description: SessionDescription, ssrc: str, *, session_level: bool = False, index: int = 0
) -> None:
    """Put ``y=<ssrc>`` in one place only: after media `index` (the usual place) or at session
    level (where some platforms write it). Every other ``y=`` line is removed."""
    GbSsrc.parse(ssrc)
    _check_no_newline(ssrc, "y=")
    description.lines[:] = [line for line in description.lines if line[0] != "y"]
    for media in description.media:
        media.lines[:] = [line for line in media.lines if line[0] != "y"]
    if session_level:
        description.lines.append(("y", ssrc))
    else:
        _media_gb_lines_insert(description.media[index], "y", ssrc)


def _media_gb_lines_insert(media: MediaDescription, kind: str, value: str) -> None:
    """Append a GB line; ``y=`` goes before any ``f=`` (the order of the standard's examples)."""
    if kind == "y":
        for position, (line_type, _) in enumerate(media.lines):
            if line_type == "f":
                media.lines.insert(position, (kind, value))
                return
    media.lines.append((kind, value))


# --- f=: the media format -------------------------------------------------------------------------


def _slashed(text: str, count: int, what: str, strict: bool) -> tuple[str, ...]:
    if text == "":
        if strict:
            raise GbSdpError(f"f= {what} part is missing its {count} slashes ({CITE_SDP})")
        return ("",) * count
    if not text.startswith("/"):
        raise GbSdpError(f"f= {what} part {text[:30]!r} does not start with '/'")
    parts = text[1:].split("/")
    if len(parts) == count + 1 and parts[-1] == "" and what == "video" and not strict:
        parts.pop()  # a stray slash before "a": v/2/5/25/1/4096/a///
    if len(parts) > count:
        raise GbSdpError(f"f= {what} part {text[:40]!r} has {len(parts)} fields, not {count}")
    if len(parts) < count:
        if strict:
            raise GbSdpError(
                f"f= {what} part {text[:40]!r} has {len(parts)} fields, not {count}: "
                f"empty fields keep their slashes ({CITE_SDP})"
            )
        parts += [""] * (count - len(parts))
    for part in parts:
        if any(c.isspace() for c in part):
            raise GbSdpError(f"f= {what} field {part!r} contains white space")
        if strict and part and _DIGITS_RE.fullmatch(part) is None:
            raise GbSdpError(f"f= {what} field {part!r} is not a decimal code ({CITE_SDP})")
    return tuple(parts)


def _code(text: str) -> int | None:
    return int(text) if _DIGITS_RE.fullmatch(text) else None


@dataclass(frozen=True)
class MediaFormat:
    """An ``f=`` value; every field is its text, ``""`` when left empty (unknown)."""

    video_codec: str = ""
    resolution: str = ""
    framerate: str = ""
    rate_type: str = ""
    bitrate: str = ""
    audio_codec: str = ""
    audio_bitrate: str = ""
    sample_rate: str = ""

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> MediaFormat:
        """Read an ``f=`` value.

        Lenient by default: an empty value, a missing audio part, missing trailing fields and a
        stray slash before ``a`` are accepted. `strict` wants the full slash structure
        ``v/x/x/x/x/xa/x/x/x`` with decimal (or empty) fields.
        """
        value = text.strip(" \t")
        if value == "":
            if strict:
                raise GbSdpError(f"f= is empty; write f=v/////a/// for unknown ({CITE_SDP})")
            return cls()
        if not value.startswith("v"):
            raise GbSdpError(f"f={value[:40]!r} does not start with 'v' ({CITE_SDP})")
        video_text, marker, audio_text = value[1:].partition("a")
        if strict and not marker:
            raise GbSdpError(f"f={value[:40]!r} has no audio part 'a/x/x/x' ({CITE_SDP})")
        video = _slashed(video_text, 5, "video", strict)
        audio = _slashed(audio_text, 3, "audio", strict) if marker else ("", "", "")
        return cls(*video, *audio)

    def to_string(self) -> str:
        """The canonical ``f=`` value, every slash kept: ``v/2/5/25/1/4096a///``."""
        for name, part in self.fields().items():
            if "/" in part or "a" in part or any(c.isspace() for c in part):
                raise GbSdpError(f"f= field {name} {part!r} contains '/', 'a' or white space")
        video = "/".join(
            (self.video_codec, self.resolution, self.framerate, self.rate_type, self.bitrate)
        )
        audio = "/".join((self.audio_codec, self.audio_bitrate, self.sample_rate))
        return f"v/{video}a/{audio}"

    def __str__(self) -> str:
        return self.to_string()

    def fields(self) -> dict[str, str]:
        """Field name -> text, in ``f=`` order."""
        return {
            "video_codec": self.video_codec,
            "resolution": self.resolution,
            "framerate": self.framerate,
            "rate_type": self.rate_type,
            "bitrate": self.bitrate,
            "audio_codec": self.audio_codec,
            "audio_bitrate": self.audio_bitrate,
            "sample_rate": self.sample_rate,
        }

    @property
    def video_codec_code(self) -> int | None:
        """The video codec code (2 = H.264), None when empty or not a number."""
        return _code(self.video_codec)

    @property
    def framerate_value(self) -> int | None:
        """Frames per second, None when empty or not a number."""
        return _code(self.framerate)

    @property
    def bitrate_kbps(self) -> int | None:
        """The video bitrate in kbit/s, None when empty or not a number."""
        return _code(self.bitrate)


def media_format_of(
    description: SessionDescription, index: int | None = None
) -> MediaFormat | None:
    """The ``f=`` that applies (media level first, else session level), read leniently."""
    sections = description.media if index is None else [description.media[index]]
    for media in sections:
        value = media.get_line("f")
        if value is not None:
            return MediaFormat.parse(value)
    value = description.get_line("f")
    return None if value is None else MediaFormat.parse(value)


# --- u=: the history media source -----------------------------------------------------------------


@dataclass(frozen=True)
class MediaUri:
    """A ``u=`` value: the short form ``<source ID>:<parameter>`` or a general URI.

    2016 Annex F: the short form names the device (channel) that produced the recording; the
    general form is ``http://<storage device ID>[/folder]*/<file name>``.
    """

    channel_id: str | None = None
    parameter: str | None = None
    uri: str | None = None

    @classmethod
    def parse(cls, text: str) -> MediaUri:
        """Read a ``u=`` value."""
        value = text.strip(" \t")
        if value == "":
            raise GbSdpError(f"u= is empty ({CITE_SDP})")
        if "://" in value:
            return cls(uri=value)
        channel, colon, parameter = value.partition(":")
        return cls(channel_id=channel, parameter=parameter if colon else None)

    def to_string(self) -> str:
        """The ``u=`` value."""
        if self.uri is not None:
            return self.uri
        if self.channel_id is None:
            raise GbSdpError("u= needs a channel ID or a URI")
        return self.channel_id if self.parameter is None else f"{self.channel_id}:{self.parameter}"

    def __str__(self) -> str:
        return self.to_string()


def channel_uri(channel_id: str, parameter: int | str = 0) -> str:
    """The short ``u=`` value ``<channel ID>:<parameter>`` for a valid 20-digit channel ID."""
    gb_id.GbId.parse(channel_id, known_type_only=False)
    return MediaUri(channel_id, str(parameter)).to_string()


def media_uri_of(description: SessionDescription) -> MediaUri | None:
    """The session's ``u=``, None when absent."""
    value = description.get_line("u")
    return None if value is None else MediaUri.parse(value)


# --- small accessors ------------------------------------------------------------------------------


def _attribute_of(description: SessionDescription, name: str, index: int | None) -> str | None:
    sections = description.media if index is None else [description.media[index]]
    for media in sections:
        value = media.get_attribute(name)
        if value is not None:
            return value
    return description.get_attribute(name)


def _int_attribute(description: SessionDescription, name: str, index: int | None) -> int | None:
    value = _attribute_of(description, name, index)
    if value is None:
        return None
    if _DIGITS_RE.fullmatch(value.strip()) is None:
        raise GbSdpError(f"a={name}:{value[:30]!r} is not a decimal number ({CITE_SDP})")
    return int(value)


def download_speed_of(description: SessionDescription, index: int | None = None) -> int | None:
    """``a=downloadspeed`` (the download speed-up factor), None when absent."""
    return _int_attribute(description, "downloadspeed", index)


def file_size_of(description: SessionDescription, index: int | None = None) -> int | None:
    """``a=filesize`` (bytes, in a Download answer), None when absent."""
    return _int_attribute(description, "filesize", index)


def setup_of(media: MediaDescription) -> str | None:
    """The section's ``a=setup`` role, None when absent."""
    value = media.get_attribute("setup")
    return None if value is None else value.strip()


def is_tcp(media: MediaDescription) -> bool:
    """True for a ``TCP/...`` transport (RFC 4571 framing)."""
    return media.proto.upper().startswith("TCP/")


def video_index(description: SessionDescription) -> int | None:
    """Index of the first video section with a non-zero port, None when there is none."""
    for index, media in enumerate(description.media):
        if media.media == "video" and media.port != 0:
            return index
    return None


# --- builders -------------------------------------------------------------------------------------


def _address(host: str) -> tuple[str, str]:
    """``(addrtype, address)`` for an IP literal; hostnames and unspecified addresses refused."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise GbSdpError(
            f"address {host!r} is not an IP literal; advertise the loopback or the caller's "
            "address, never a hostname"
        ) from None
    if address.is_unspecified or address.is_multicast:
        raise GbSdpError(f"address {host} cannot receive unicast media")
    return ("IP6" if address.version == 6 else "IP4", str(address))


def _check_no_newline(text: str, what: str) -> None:
    if "\r" in text or "\n" in text:
        raise GbSdpError(f"{what} {text[:40]!r} contains CR or LF")


def _check_port(port: int) -> None:
    if isinstance(port, bool) or not 0 < port <= 65535:
        raise GbSdpError(f"media port {port!r} is not 1-65535")


def _check_username(username: str) -> None:
    _check_no_newline(username, "o= username")
    if not username or " " in username:
        raise GbSdpError(f"o= username {username!r} must be one non-empty token (a GB ID)")


def _session(
    addrtype: str,
    address: str,
    *,
    username: str,
    session_name: str,
    timing: str,
    uri: str | None,
    session_id: int | None,
    session_version: int | None,
) -> SessionDescription:
    _check_username(username)
    _check_no_newline(session_name, "s=")
    if not session_name:
        raise GbSdpError("s= is empty; GB uses Play, Playback or Download")
    sess_id = session_id if session_id is not None else secrets.randbelow(2**31)
    version = session_version if session_version is not None else sess_id
    if sess_id < 0 or version < 0:
        raise GbSdpError("session id and version must not be negative")
    lines: list[sdp.SdpLine] = [
        ("v", "0"),
        ("o", f"{username} {sess_id} {version} IN {addrtype} {address}"),
        ("s", session_name),
    ]
    if uri is not None:
        _check_no_newline(uri, "u=")
        MediaUri.parse(uri)
        lines.append(("u", uri))
    lines += [("c", f"IN {addrtype} {address}"), ("t", timing)]
    return SessionDescription(lines)


def _rtpmap_for(entry: int | RtpMap) -> RtpMap:
    if isinstance(entry, RtpMap):
        return entry
    if entry not in GB_RTPMAPS:
        raise GbSdpError(
            f"payload type {entry} has no GB default rtpmap ({sorted(GB_RTPMAPS)}); pass an RtpMap"
        )
    return GB_RTPMAPS[entry]


def _timing(timing: tuple[int, int] | None) -> str:
    if timing is None:
        return "0 0"
    start, stop = timing
    if start < 0 or stop < 0:
        raise GbSdpError(f"t={start} {stop}: times must not be negative")
    return f"{start} {stop}"


def gb_offer(
    local_ip: str,
    local_port: int,
    *,
    username: str,
    direction: str = DIRECTION_RECVONLY,
    session_name: str = SESSION_PLAY,
    media: str = "video",
    payloads: Sequence[int | RtpMap] = (PS_PAYLOAD_TYPE,),
    tcp: bool = False,
    setup: str | None = None,
    ssrc: str | None = None,
    media_format: MediaFormat | str | None = None,
    uri: str | None = None,
    timing: tuple[int, int] | None = None,
    download_speed: int | None = None,
    session_id: int | None = None,
    session_version: int | None = None,
) -> SessionDescription:
    """A GB28181 offer with one media section.

    Defaults give the decoder's offer in the 200 to a bodyless INVITE (third-party call control,
    2016/2022 §9.2.2.2)::

        v=0 / o=<username> ... IN IP4 <local_ip> / s=Play / c=IN IP4 <local_ip> / t=0 0
        m=video <local_port> RTP/AVP 96 / a=recvonly / a=rtpmap:96 PS/90000

    ``direction="sendonly"`` with `ssrc` gives a platform's (media source's) offer. `payloads` are
    payload types with a GB default rtpmap (96 PS, 97 MPEG4, 98 H264) or RtpMap entries. With
    `tcp` the transport is ``TCP/RTP/AVP`` plus ``a=setup`` and ``a=connection:new`` (Annex L);
    the default role is the one Annex L gives each end: the receiver listens (``passive``), the
    sender connects (``active``). `ssrc` adds ``y=`` and `media_format` ``f=`` after the media
    lines; `uri` (``u=``), `timing` (``t=<start> <stop>``) and `download_speed` serve Playback and
    Download sessions. `username` is the sender's 20-digit ID (``o=``).
    """
    addrtype, address = _address(local_ip)
    _check_port(local_port)
    if direction not in (DIRECTION_RECVONLY, DIRECTION_SENDONLY):
        raise GbSdpError(f"direction {direction!r}: GB media is one-way ({CITE_FLOW})")
    if media not in ("video", "audio"):
        raise GbSdpError(f"media {media!r} is not video or audio")
    if not payloads:
        raise GbSdpError("an offer needs at least one payload type")
    if setup is not None and not tcp:
        raise GbSdpError(f"a=setup:{setup} only applies to TCP media ({CITE_TCP})")
    role = setup or (SETUP_PASSIVE if direction == DIRECTION_RECVONLY else SETUP_ACTIVE)
    if tcp and role not in (SETUP_ACTIVE, SETUP_PASSIVE, SETUP_ACTPASS):
        raise GbSdpError(f"a=setup:{role} is not active, passive or actpass")
    description = _session(
        addrtype,
        address,
        username=username,
        session_name=session_name,
        timing=_timing(timing),
        uri=uri,
        session_id=session_id,
        session_version=session_version,
    )
    maps = [_rtpmap_for(entry) for entry in payloads]
    numbers = [m.payload_type for m in maps]
    if len(set(numbers)) != len(numbers):
        raise GbSdpError(f"payload types {numbers} repeat")
    section = MediaDescription(
        media, local_port, PROTO_TCP_RTP_AVP if tcp else PROTO_RTP_AVP, [str(n) for n in numbers]
    )
    section.add_attribute(direction)
    for entry in maps:
        section.add_attribute("rtpmap", entry.to_string())
    if tcp:
        section.add_attribute("setup", role)
        section.add_attribute("connection", "new")
    if download_speed is not None:
        if download_speed < 1:
            raise GbSdpError(f"a=downloadspeed:{download_speed} is not a positive factor")
        section.add_attribute("downloadspeed", str(download_speed))
    _add_gb_lines(section, ssrc, media_format)
    description.media.append(section)
    return description


def _add_gb_lines(
    section: MediaDescription, ssrc: str | None, media_format: MediaFormat | str | None
) -> None:
    if ssrc is not None:
        _check_no_newline(ssrc, "y=")
        section.lines.append(("y", GbSsrc.parse(ssrc).text))
    if media_format is not None:
        text = media_format if isinstance(media_format, str) else media_format.to_string()
        _check_no_newline(text, "f=")
        MediaFormat.parse(text)
        section.lines.append(("f", text))


def _answer_direction(offered: str) -> str:
    if offered in (DIRECTION_SENDONLY, DIRECTION_SENDRECV):
        return DIRECTION_RECVONLY
    if offered == DIRECTION_RECVONLY:
        return DIRECTION_SENDONLY
    return DIRECTION_INACTIVE


def _answer_setup(offered: str | None, choice: str | None) -> str:
    offered_role = offered or SETUP_ACTIVE  # RFC 4145 §4.1: no a=setup means active
    if offered_role == SETUP_ACTIVE:
        answer = SETUP_PASSIVE
    elif offered_role == SETUP_PASSIVE:
        answer = SETUP_ACTIVE
    elif offered_role == SETUP_ACTPASS:
        answer = choice or SETUP_PASSIVE
    elif offered_role == SETUP_HOLDCONN:
        answer = SETUP_HOLDCONN
    else:
        raise SdpNegotiationError(f"offered a=setup:{offered_role} is not RFC 4145")
    if choice is not None and choice != answer:
        raise GbSdpError(f"a=setup:{choice} does not complement the offered {offered_role}")
    return answer


def _choose(offer: SessionDescription, encodings: Sequence[str]) -> tuple[int, int]:
    """Pick by the answerer's preference among the offer's GB transports (RTP/AVP, TCP/RTP/AVP)."""
    usable = [m if m.proto.upper() in _GB_PROTOS else _unusable(m) for m in offer.media]
    probe = SessionDescription(offer.lines, usable, offer.line_ending)
    failure: SdpNegotiationError | None = None
    for encoding in encodings:
        try:
            return sdp.find_video_payload(probe, (encoding,))
        except SdpNegotiationError as exc:
            failure = exc
    raise SdpNegotiationError(
        f"no {'/'.join(encodings)} video over RTP/AVP or TCP/RTP/AVP in the offer"
        + (f": {str(failure).partition(': ')[2]}" if failure else "")
    )


def _unusable(media: MediaDescription) -> MediaDescription:
    """A port-0 copy of `media`: find_video_payload skips it."""
    return MediaDescription(media.media, 0, media.proto, list(media.formats), None, [])


def gb_answer(
    offer: SessionDescription,
    local_ip: str,
    local_port: int,
    *,
    username: str,
    ssrc: str | None = None,
    encodings: Sequence[str] = (ENCODING_PS,),
    setup: str | None = None,
    media_format: MediaFormat | str | None = None,
    file_size: int | None = None,
    session_id: int | None = None,
    session_version: int | None = None,
) -> SessionDescription:
    """The GB28181 answer to `offer` (RFC 3264 §6 with the GB lines).

    The first video section carrying one of `encodings` (tried in that order, mapped by rtpmap,
    the offer's payload number kept) is accepted on `local_ip`/`local_port`; every other section
    is refused with port 0. The direction mirrors the offer: ``sendonly`` -> ``recvonly`` (the
    decoder answering a platform's INVITE), ``recvonly`` -> ``sendonly`` (the platform's answer
    in the ACK of third-party call control). ``s=`` and ``t=`` are the offer's.

    ``y=``: the offer's value is echoed verbatim (2016 Annex F note 4: within a domain the
    platform picks the SSRC and the device echoes it); `ssrc` overrides it (the called domain
    picks it across domains, or the offer had none: choose one with :func:`make_ssrc`). A
    ``sendonly`` answer without any SSRC raises GbSdpError, since its receiver must learn it.

    Over TCP the ``a=setup`` role complements the offer's (active <-> passive; `setup` picks one
    for ``actpass``) and ``a=connection:new`` is added. `media_format` adds ``f=`` and
    `file_size` ``a=filesize`` (a Download answer). Raises :class:`~wire.sdp.SdpNegotiationError`
    (488) when nothing acceptable is offered, GbSdpError when the offer's ``y=`` is not a decimal
    32-bit SSRC.
    """
    addrtype, address = _address(local_ip)
    _check_port(local_port)
    index, payload_type = _choose(offer, encodings)
    offered = offer.media[index]
    direction = _answer_direction(offer.media_direction(index))
    chosen = ssrc if ssrc is not None else ssrc_line_of(offer, index)
    if ssrc is not None:
        GbSsrc.parse(ssrc, strict=True)
    if chosen is None and direction == DIRECTION_SENDONLY:
        raise GbSdpError(f"a sendonly answer must carry y= (pass ssrc; {CITE_SDP})")
    answer = _session(
        addrtype,
        address,
        username=username,
        session_name=offer.session_name or SESSION_PLAY,
        timing=offer.timing or "0 0",
        uri=None,
        session_id=session_id,
        session_version=session_version,
    )
    for position, media in enumerate(offer.media):
        if position != index:  # refused (RFC 3264 §6)
            answer.media.append(
                MediaDescription(media.media, 0, media.proto, list(media.formats) or ["0"])
            )
            continue
        entry = offered.rtpmap(payload_type)
        if entry is None:  # pragma: no cover - _choose only returns mapped payload types
            raise SdpNegotiationError(f"payload type {payload_type} has no rtpmap")
        section = MediaDescription(media.media, local_port, offered.proto, [str(payload_type)])
        section.add_attribute(direction)
        section.add_attribute("rtpmap", entry.to_string())
        if is_tcp(offered):
            section.add_attribute("setup", _answer_setup(setup_of(offered), setup))
            section.add_attribute("connection", "new")
        elif setup is not None:
            raise GbSdpError(f"a=setup:{setup} only applies to TCP media ({CITE_TCP})")
        if file_size is not None:
            if file_size < 0:
                raise GbSdpError(f"a=filesize:{file_size} is negative")
            section.add_attribute("filesize", str(file_size))
        _add_gb_lines(section, None if chosen is None else chosen.strip(" \t"), media_format)
        answer.media.append(section)
    return answer


# --- problems a strict peer reports ---------------------------------------------------------------


def _parsed(value: SessionDescription | bytes | str) -> SessionDescription:
    return value if isinstance(value, SessionDescription) else sdp.parse(value)


def _ssrc_problems(description: SessionDescription, problems: list[str]) -> None:
    places = [("session level", v) for k, v in description.lines if k == "y"]
    for number, media in enumerate(description.media):
        places += [(f"media {number}", v) for k, v in media.lines if k == "y"]
    values = {value.strip(" \t") for _, value in places}
    if len(places) > 1:
        where = ", ".join(place for place, _ in places)
        if len(values) > 1:
            problems.append(
                f"y= appears {len(places)} times with different values ({where}): which SSRC "
                f"applies is ambiguous ({CITE_SDP})"
            )
    for place, value in places:
        if value != value.strip(" \t"):
            problems.append(f"y={value!r} ({place}) has white space around the digits ({CITE_SDP})")
        try:
            GbSsrc.parse(value, strict=True)
        except GbSdpError as exc:
            problems.append(f"{exc} ({place}; {CITE_SDP})")
    ssrc = _lenient_ssrc(description)
    name = description.session_name
    if ssrc is not None and ssrc.is_standard:
        if name == SESSION_PLAY and ssrc.history:
            problems.append(f"y={ssrc}: digit 1 is 1 (history) in a s=Play session ({CITE_SDP})")
        if name in HISTORY_SESSIONS and ssrc.history is False:
            problems.append(
                f"y={ssrc}: digit 1 is 0 (real-time) in a s={name} session ({CITE_SDP})"
            )


def _cited(message: str, cite: str) -> str:
    """`message` ending in one citation: its own, else `cite`."""
    return message if message.endswith(")") and "2016" in message else f"{message} ({cite})"


def _lenient_ssrc(description: SessionDescription) -> GbSsrc | None:
    """The applicable ``y=``, None when absent or unreadable (reported elsewhere)."""
    try:
        return gb_ssrc_of(description)
    except GbSdpError:
        return None


def _session_problems(
    description: SessionDescription, edition: int | None, is_offer: bool, problems: list[str]
) -> None:
    name = description.session_name
    allowed = SESSION_NAMES_2022 if edition == 2022 else SESSION_NAMES_2016
    if name not in allowed:
        problems.append(
            f"s={name!r} is not one of {', '.join(allowed)}"
            + (" (Talk was dropped in 2022)" if name == SESSION_TALK else "")
            + f" ({CITE_SDP})"
        )
    username = description.origin.username
    if not gb_id.is_valid_id(username):
        problems.append(
            f"o= username {username!r} is not a 20-digit GB28181 ID (the sender's ID; {CITE_SDP})"
        )
    uri = description.get_line("u")
    if name in HISTORY_SESSIONS:
        if uri is None and is_offer:  # the request names the recording; an answer need not
            problems.append(f"s={name} without u= naming the recording's source ({CITE_SDP})")
        start, _, stop = description.timing.partition(" ")
        if start == "0" or stop == "0":
            problems.append(
                f"s={name} with t={description.timing}: history media needs its time range "
                f"({CITE_SDP})"
            )
    if uri is not None:
        parsed = MediaUri.parse(uri)
        if parsed.uri is None and (
            parsed.parameter is None or not gb_id.is_valid_id(parsed.channel_id or "")
        ):
            problems.append(
                f"u={uri!r} is neither '<20-digit source ID>:<parameter>' nor a URI ({CITE_SDP})"
            )


def _media_problems(
    description: SessionDescription, index: int, is_offer: bool, problems: list[str]
) -> None:
    media = description.media[index]
    where = f"m={media.m_value()}"
    connection = description.media_connection(index)
    if connection is None:
        problems.append(f"{where}: no c= at session or media level (RFC 4566 §5.7; {CITE_SDP})")
    else:
        host = connection.address.partition("/")[0]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            problems.append(f"c= address {host!r} is not an IP literal ({CITE_SDP})")
    if media.proto.upper() not in _GB_PROTOS:
        problems.append(
            f"{where}: transport {media.proto} is not RTP/AVP or TCP/RTP/AVP ({CITE_SDP})"
        )
    maps: list[RtpMap] = []
    for fmt in media.formats:
        if _DIGITS_RE.fullmatch(fmt) is None:
            continue
        entry = media.rtpmap(int(fmt))
        if entry is None:
            problems.append(
                f"{where}: payload type {fmt} has no a=rtpmap (RFC 4566 §6; {CITE_SDP})"
            )
        else:
            maps.append(entry)
    ps = [m for m in maps if m.encoding_name.upper() == ENCODING_PS]
    if not ps:
        problems.append(f"{where}: no a=rtpmap:<pt> PS/90000, the GB payload ({CITE_PS})")
    for entry in ps:
        if entry.clock_rate != VIDEO_CLOCK_RATE:
            problems.append(f"a=rtpmap:{entry.to_string()}: PS runs at 90000 Hz ({CITE_PS})")
    session_direction = any(description.get_attribute(d) == "" for d in sdp.DIRECTIONS)
    if not media.has_direction and not session_direction:
        problems.append(
            f"{where}: no direction attribute, so sendrecv: GB media is one-way, the decoder "
            f"recvonly and the source sendonly ({CITE_FLOW})"
        )
    direction = description.media_direction(index)
    if direction == DIRECTION_SENDONLY and ssrc_line_of(description, index) is None:
        problems.append(
            f"{where}: sendonly without y=; the receiver cannot check the SSRC ({CITE_SDP})"
        )
    setup = setup_of(media)
    if is_tcp(media):
        if setup is None:
            problems.append(f"{where}: TCP media without a=setup:active|passive ({CITE_TCP})")
        elif setup not in _TCP_SETUPS and not (is_offer and setup == SETUP_ACTPASS):
            problems.append(f"a=setup:{setup} is not active or passive ({CITE_TCP})")
        if media.get_attribute("connection") is None:
            problems.append(
                f"{where}: TCP media without a=connection:new (RFC 4145 §5 assumes new; {CITE_TCP})"
            )
    elif setup is not None:
        problems.append(
            f"a=setup:{setup} on UDP media {where}: a=setup is for TCP only ({CITE_TCP})"
        )
    for name in ("downloadspeed", "filesize"):
        value = media.get_attribute(name)
        if value is not None and _DIGITS_RE.fullmatch(value) is None:
            problems.append(f"a={name}:{value!r} is not a decimal number ({CITE_SDP})")
    if media.get_attribute("downloadspeed") is not None and (
        description.session_name != SESSION_DOWNLOAD
    ):
        problems.append(f"a=downloadspeed in a s={description.session_name} session ({CITE_SDP})")


def _format_problems(description: SessionDescription, problems: list[str]) -> None:
    values = [v for k, v in description.lines if k == "f"]
    values += [v for m in description.media for k, v in m.lines if k == "f"]
    for value in values:
        try:
            MediaFormat.parse(value, strict=True)
        except GbSdpError as exc:
            problems.append(_cited(str(exc), CITE_SDP))


def _answer_problems(
    answer: SessionDescription, offer: SessionDescription, problems: list[str]
) -> None:
    if len(answer.media) != len(offer.media):
        problems.append(
            f"the answer has {len(answer.media)} m= lines for the offer's {len(offer.media)} "
            f"(RFC 3264 §6)"
        )
    for index, (offered, answered) in enumerate(zip(offer.media, answer.media, strict=False)):
        if answered.port == 0 or offered.port == 0:
            continue
        if answered.proto.upper() != offered.proto.upper():
            problems.append(
                f"media {index}: answered over {answered.proto}, offered {offered.proto} "
                "(RFC 3264 §6.1)"
            )
        unknown = [f for f in answered.formats if f not in offered.formats]
        if unknown:
            problems.append(
                f"media {index}: payload types {unknown} were not offered ({CITE_OFFER_ANSWER})"
            )
        offered_direction = offer.media_direction(index)
        answered_direction = answer.media_direction(index)
        expected = _answer_direction(offered_direction)
        if answered_direction not in (expected, DIRECTION_INACTIVE):
            problems.append(
                f"media {index}: a={answered_direction} answers a={offered_direction}; "
                f"expected a={expected} ({CITE_OFFER_ANSWER}; {CITE_FLOW})"
            )
        if is_tcp(offered) and is_tcp(answered):
            offered_setup = setup_of(offered) or SETUP_ACTIVE
            answered_setup = setup_of(answered)
            complements = {
                SETUP_ACTIVE: (SETUP_PASSIVE,),
                SETUP_PASSIVE: (SETUP_ACTIVE,),
                SETUP_ACTPASS: (SETUP_ACTIVE, SETUP_PASSIVE),
                SETUP_HOLDCONN: (SETUP_HOLDCONN,),
            }.get(offered_setup, ())
            if answered_setup is not None and answered_setup not in complements:
                problems.append(
                    f"media {index}: a=setup:{answered_setup} does not complement the offered "
                    f"a=setup:{offered_setup}; expected {' or '.join(complements) or 'none'} "
                    f"({CITE_TCP})"
                )
        offered_ssrc = ssrc_line_of(offer, index)
        answered_ssrc = ssrc_line_of(answer, index)
        if offered_ssrc is not None and answered_ssrc is None:
            problems.append(
                f"media {index}: the offer had y={offered_ssrc.strip()} and the answer has no y= "
                f"({CITE_SSRC_ECHO})"
            )
        elif (
            offered_ssrc is not None
            and answered_ssrc is not None
            and offered_ssrc.strip(" \t") != answered_ssrc.strip(" \t")
        ):
            problems.append(
                f"media {index}: y={answered_ssrc.strip()} does not echo the offered "
                f"y={offered_ssrc.strip()}; within a domain the platform picks the SSRC "
                f"({CITE_SSRC_ECHO})"
            )


def gb_problems(
    description: SessionDescription | bytes | str,
    *,
    offer: SessionDescription | bytes | str | None = None,
    domain_id: str | None = None,
    edition: int | None = None,
) -> list[str]:
    """What a strict GB28181 peer would object to in `description`; empty when nothing.

    Checks the GB lines (``y=``: ten digits, live/history digit consistent with ``s=``, one value;
    ``f=``: the full slash structure; ``s=``, ``o=``, ``t=``, and ``u=`` in a history offer), and
    the first active video section: an IP literal ``c=``, RTP/AVP or TCP/RTP/AVP, an rtpmap per
    payload type, a PS/90000 rtpmap, a one-way direction, ``y=`` when sendonly, TCP with
    ``a=setup:active|passive`` and ``a=connection:new``, no ``a=setup`` over UDP. With `offer` it
    is checked as the answer to it: same m= count and transport, offered payload types only,
    mirrored direction, complementary setup, and the offer's ``y=`` echoed. With `domain_id` (20
    or 10 digits) the SSRC's digits 2-6 must come from it. `edition` 2022 also refuses
    ``s=Talk``. Each message
    names the line and cites its clause; SDP that cannot be parsed gives one message.
    """
    try:
        parsed = _parsed(description)
    except ValueError as exc:
        return [f"not parseable SDP: {exc} (RFC 4566 §5)"]
    problems: list[str] = []
    _session_problems(parsed, edition, offer is None, problems)
    _ssrc_problems(parsed, problems)
    _format_problems(parsed, problems)
    index = video_index(parsed)
    if index is None:
        problems.append(f"no m=video line with a non-zero port ({CITE_SDP})")
    else:
        _media_problems(parsed, index, offer is None, problems)
    if domain_id is not None:
        expected = domain_digits_of(domain_id)
        ssrc = _lenient_ssrc(parsed)
        if ssrc is not None and ssrc.is_standard and ssrc.domain_digits != expected:
            problems.append(
                f"y={ssrc}: digits 2-6 are {ssrc.domain_digits}, not {expected} (digits 4-8 of "
                f"the domain ID {domain_id}; {CITE_SDP})"
            )
    if offer is not None:
        try:
            offered = _parsed(offer)
        except ValueError as exc:
            problems.append(f"the offer is not parseable SDP: {exc} (RFC 4566 §5)")
        else:
            _answer_problems(parsed, offered, problems)
    return problems
