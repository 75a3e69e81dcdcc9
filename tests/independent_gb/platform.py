"""A small GB28181 platform written from the standard alone (notes/gb28181.md, RFC 3261/2617).

Independence rule: nothing here imports or copies the project's own SIP, digest, MANSCDP, SDP or
PS code (wire/, decoder_conformance/peers/gb*) or the reference decoder's internals; it uses the
standard library and PyAV (to encode H.264 test frames) only. What it observes of a device goes
into plain dataclasses and `*_view()` dicts, so that a test can lay them beside what the suite's
own platform peer saw of the same device.

Parts, each usable on its own:

- SIP text (RFC 3261 §7): `parse_sip`, `build_request`, `build_response`, header helpers.
- Digest (RFC 2617 §3.2.2, notes §1 "Digest calculation"): `digest_response`, `parse_digest`.
- MANSCDP (notes §2-3, A.2): `manscdp_query`, `read_manscdp`.
- SDP (notes §4): `parse_sdp`, `answer_sdp`.
- PS (notes §4 "PS payload", ISO 13818-1 §2.5): `ps_pack`, `rtp_packets`, `encode_h264`,
  `cbr_frames`.
- `Platform`: registrar (401 Digest MD5 qop=auth, then 200 + Expires + GB Date), keepalive and
  MANSCDP MESSAGE sink, Query sender, and the third-party-call-control player (bodyless INVITE,
  answer in the ACK, PS over RTP, BYE).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import socket
import statistics
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

PLATFORM_ID = "34020000002000000001"  # type 200: central signalling server (notes §1)
SOURCE_ID = "34020000001320000001"  # type 132: the IPC the played video stands for
MANSCDP_TYPE = "Application/MANSCDP+xml"  # as the standard writes it (notes §6.6)
T1 = 0.5
T2 = 4.0

# --- SIP text (RFC 3261 §7, §20) ----------------------------------------------------------------

COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}


@dataclass
class SipMsg:
    """One SIP message: start line, headers in order (names as sent), body bytes."""

    start: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/")

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0] if self.is_request else self.cseq[1]

    @property
    def uri(self) -> str:
        return self.start.split(" ")[1] if self.is_request else ""

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start.split(" ")[1])

    def all(self, name: str) -> list[str]:
        """Every value of header `name` (any case, compact forms expanded); Via split on commas."""
        wanted = COMPACT.get(name.lower(), name.lower())
        values = [v for n, v in self.headers if COMPACT.get(n.lower(), n.lower()) == wanted]
        if wanted == "via":
            values = [part.strip() for v in values for part in v.split(",")]
        return values

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("CSeq") or "0 ?").partition(" ")
        return int(number), method.strip()

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def branch(self) -> str:
        return param(self.get("Via") or "", "branch") or ""


def parse_sip(data: bytes) -> SipMsg:
    """Parse a datagram (CRLF or bare LF line ends, folded header lines, Content-Length)."""
    if b"\r\n\r\n" in data:
        head, _, body = data.partition(b"\r\n\r\n")
    else:
        head, _, body = data.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    msg = SipMsg(lines[0].strip(), headers, body)
    length = msg.get("Content-Length")
    if length is not None and length.strip().isdigit():
        msg.body = body[: int(length)]
    return msg


def param(header: str, name: str) -> str | None:
    """A `;name=value` parameter of a header value (outside its <URI>)."""
    tail = header.rpartition(">")[2] if ">" in header else header
    for part in tail.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def uri_of(address: str) -> str:
    """The URI of a name-addr (`"x" <sip:u@h>;tag=1`) or addr-spec (`sip:u@h;tag=1`)."""
    match = re.search(r"<([^>]*)>", address)
    return match.group(1) if match else address.split(";", maxsplit=1)[0].strip()


def uri_parts(uri: str) -> tuple[str, str, int | None]:
    """(user, host, port) of a sip: URI; '' for an absent user."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";")[0].split("?")[0]
    user, _, hostport = rest.rpartition("@")
    host, _, port = hostport.partition(":")
    return user, host, int(port) if port.isdigit() else None


def build_request(
    method: str, uri: str, headers: Sequence[tuple[str, str]], body: bytes = b""
) -> bytes:
    lines = [f"{method} {uri} SIP/2.0", *(f"{n}: {v}" for n, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build_response(
    request: SipMsg,
    code: int,
    reason: str,
    *,
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    to_tag: str | None = None,
) -> bytes:
    """A response copying Via, From, To (with `to_tag` added when it has none), Call-ID, CSeq."""
    to = request.get("To") or ""
    if to_tag and param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    headers = [("Via", v) for v in request.all("Via")]
    headers += [
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.get("CSeq") or ""),
        *extra,
    ]
    lines = [f"SIP/2.0 {code} {reason}", *(f"{n}: {v}" for n, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def gb_date(now: datetime | None = None) -> str:
    """The §9.10 time-sync Date value: yyyy-MM-ddTHH:mm:ss.SSS (not RFC 1123)."""
    now = now or datetime.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


# --- Digest (RFC 2617 §3.2.2) -------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_response(
    username: str,
    realm: str,
    password: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """request-digest: MD5(HA1:nonce:HA2), or with qop=auth MD5(HA1:nonce:nc:cnonce:qop:HA2)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def parse_digest(header: str) -> dict[str, str]:
    """The parameters of a `Digest k=v, k="v"` header (keys lower-cased, quotes removed)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    found = re.findall(r'([A-Za-z-]+)\s*=\s*("([^"]*)"|[^,\s]*)', rest)
    return {key.lower(): quoted if raw.startswith('"') else raw for key, raw, quoted in found}


def digest_ok(fields: dict[str, str], password: str, method: str) -> bool:
    """Whether an Authorization's response matches, using its own realm and uri (as WVP does)."""
    qop = fields.get("qop")
    expected = digest_response(
        fields.get("username", ""),
        fields.get("realm", ""),
        password,
        method=method,
        uri=fields.get("uri", ""),
        nonce=fields.get("nonce", ""),
        qop=qop,
        nc=fields.get("nc", ""),
        cnonce=fields.get("cnonce", ""),
    )
    return secrets.compare_digest(expected, fields.get("response", "").lower())


# --- MANSCDP (notes §2, §3; A.2) ----------------------------------------------------------------


def manscdp_query(cmd_type: str, sn: int, device_id: str, encoding: str = "GB2312") -> bytes:
    """A `<Query>` body with child elements (not attributes, notes §6.8), in `encoding`."""
    root = ET.Element("Query")
    for tag, text in (("CmdType", cmd_type), ("SN", str(sn)), ("DeviceID", device_id)):
        ET.SubElement(root, tag).text = text
    text = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="{encoding}"?>\r\n{text}\r\n'.encode(encoding)


@dataclass
class Manscdp:
    """A MANSCDP body as read: its declared encoding, whether the bytes decode with it, the root
    element and its direct children's text."""

    declared: str | None
    decodes: bool
    root: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    element: ET.Element | None = None
    error: str = ""

    @property
    def cmd_type(self) -> str:
        return self.fields.get("CmdType", "")

    @property
    def sn(self) -> int | None:
        value = self.fields.get("SN", "")
        return int(value) if value.isdigit() else None

    def items(self) -> list[dict[str, str]]:
        """The Catalog's DeviceList items as dicts of their children's text."""
        if self.element is None:
            return []
        return [
            {child.tag: (child.text or "").strip() for child in item}
            for item in self.element.iter("Item")
        ]

    def list_num(self) -> int | None:
        if self.element is None:
            return None
        device_list = self.element.find("DeviceList")
        num = device_list.get("Num") if device_list is not None else None
        return int(num) if num is not None and num.isdigit() else None


def read_manscdp(body: bytes) -> Manscdp:
    """Read a body by its XML declaration's encoding (UTF-8 when it declares none)."""
    match = re.match(rb'\s*<\?xml[^>]*?encoding\s*=\s*["\']([^"\']+)["\']', body)
    declared = match.group(1).decode("ascii", "replace") if match else None
    known = declared is None or _known(declared)
    codec = declared if declared and known else "utf-8"
    try:
        text = body.decode(codec)
        decodes = known
    except UnicodeDecodeError:
        text = body.decode(codec, "replace")
        decodes = False
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        element = ET.fromstring(text.strip())
    except ET.ParseError as error:
        return Manscdp(declared, decodes, error=f"not XML: {error}")
    fields = {child.tag: (child.text or "").strip() for child in element if len(child) == 0}
    return Manscdp(declared, decodes, element.tag, fields, element)


def _known(encoding: str | None) -> bool:
    try:
        "".encode(encoding or "utf-8")
    except LookupError:
        return False
    return True


# --- SDP (notes §4) -----------------------------------------------------------------------------


@dataclass
class Sdp:
    origin_user: str = ""
    session: str = ""
    address: str = ""
    media: str = ""
    port: int = 0
    proto: str = ""
    formats: list[str] = field(default_factory=list)
    rtpmap: dict[str, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    y: str | None = None
    f: str | None = None
    attributes: list[str] = field(default_factory=list)


def parse_sdp(body: bytes) -> Sdp:
    """The first video (else first) media of an SDP body, with session-level c= as fallback."""
    sdp = Sdp()
    media_seen = False
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "o":
            sdp.origin_user = value.split(" ")[0]
        elif kind == "s":
            sdp.session = value
        elif kind == "c" and (media_seen or not sdp.address):
            sdp.address = value.split(" ")[-1]
        elif kind == "m":
            if media_seen and sdp.media == "video":
                break
            parts = value.split()
            sdp.media, sdp.port, sdp.proto, sdp.formats = (
                parts[0],
                int(parts[1]),
                parts[2],
                parts[3:],
            )
            media_seen = True
        elif kind == "a":
            sdp.attributes.append(value)
            if value in ("sendonly", "recvonly", "sendrecv", "inactive"):
                sdp.direction = value
            elif value.startswith("rtpmap:"):
                pt, _, encoding = value[7:].partition(" ")
                sdp.rtpmap[pt] = encoding.strip()
        elif kind == "y":
            sdp.y = value.strip()
        elif kind == "f":
            sdp.f = value.strip()
    return sdp


def ps_payload_type(sdp: Sdp) -> str | None:
    """The payload type the SDP maps to PS/90000 (by rtpmap, never by number: notes §6.17)."""
    for pt, encoding in sdp.rtpmap.items():
        if encoding.upper() == "PS/90000" and pt in sdp.formats:
            return pt
    return None


def answer_sdp(source_id: str, address: str, port: int, pt: str, ssrc: str) -> bytes:
    """The media server's answer carried in the ACK: its c=/m=, a=sendonly and y= (J.5.9)."""
    lines = [
        "v=0",
        f"o={source_id} 0 0 IN IP4 {address}",
        "s=Play",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=video {port} RTP/AVP {pt}",
        "a=sendonly",
        f"a=rtpmap:{pt} PS/90000",
        f"y={ssrc}",
        "f=v/2/////a///",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def live_ssrc(platform_id: str, serial: int) -> str:
    """y=: '0' (live) + digits 4-8 of the domain ID + a 4-digit serial (notes §4)."""
    return f"0{platform_id[3:8]}{serial % 10000:04d}"


# --- PS (ISO 13818-1 §2.5.3; notes §4 "PS payload") ---------------------------------------------

VIDEO_STREAM_ID = 0xE0
STREAM_TYPE_H264 = 0x1B
MUX_RATE = 50_000  # units of 50 bytes/s: 20 Mbit/s, above any test stream
PES_MAX = 0xFFFF


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def pack_header(scr: int) -> bytes:
    """MPEG-2 pack header (14 bytes): SCR base `scr` (90 kHz), extension 0, no stuffing."""
    bits = (
        (0b01 << 46)
        | (((scr >> 30) & 0x7) << 43)
        | (1 << 42)
        | (((scr >> 15) & 0x7FFF) << 27)
        | (1 << 26)
        | ((scr & 0x7FFF) << 11)
        | (1 << 10)
        | (0 << 1)  # SCR extension
        | 1
    )
    rate = (MUX_RATE << 2) | 0b11
    return b"\x00\x00\x01\xba" + bits.to_bytes(6, "big") + rate.to_bytes(3, "big") + b"\xf8"


def system_header() -> bytes:
    """System header: one video stream (0xE0), no audio."""
    body = bytearray()
    body += ((1 << 23) | (MUX_RATE << 1) | 1).to_bytes(3, "big")  # marker, rate_bound, marker
    body.append((0 << 2) | (0 << 1) | 0)  # audio_bound 0, fixed 0, CSPS 0
    body.append((1 << 7) | (1 << 6) | (1 << 5) | 1)  # audio lock, video lock, marker, video_bound 1
    body.append(0x7F)  # packet_rate_restriction 0, reserved
    body += bytes([VIDEO_STREAM_ID, 0xE0 | 0x08, 0x00])  # '11', scale 1, size bound 2048 KiB
    return b"\x00\x00\x01\xbb" + len(body).to_bytes(2, "big") + bytes(body)


def program_stream_map(stream_type: int = STREAM_TYPE_H264) -> bytes:
    """PSM naming the one elementary stream 0xE0 with `stream_type` (0x1B H.264), with its CRC."""
    es_map = bytes([stream_type, VIDEO_STREAM_ID, 0x00, 0x00])
    body = bytes([0xE0, 0xFF]) + b"\x00\x00" + len(es_map).to_bytes(2, "big") + es_map
    length = len(body) + 4
    head = b"\x00\x00\x01\xbc" + length.to_bytes(2, "big") + body
    return head + _crc32_mpeg(head).to_bytes(4, "big")


def _timestamp(prefix: int, value: int) -> bytes:
    bits = (
        (prefix << 36)
        | (((value >> 30) & 0x7) << 33)
        | (1 << 32)
        | (((value >> 15) & 0x7FFF) << 17)
        | (1 << 16)
        | ((value & 0x7FFF) << 1)
        | 1
    )
    return bits.to_bytes(5, "big")


def pes_packets(es: bytes, pts: int) -> bytes:
    """The frame as PES packets of stream 0xE0; the first carries the PTS, all fit 16-bit length."""
    out = bytearray()
    first = True
    offset = 0
    while first or offset < len(es):
        header = bytes([0x80, 0x80, 5]) + _timestamp(0b0010, pts) if first else b"\x80\x00\x00"
        room = PES_MAX - len(header)
        chunk = es[offset : offset + room]
        out += b"\x00\x00\x01" + bytes([VIDEO_STREAM_ID])
        out += (len(header) + len(chunk)).to_bytes(2, "big") + header + chunk
        offset += len(chunk)
        first = False
    return bytes(out)


def ps_pack(es: bytes, pts: int, keyframe: bool) -> bytes:
    """One frame in one PS pack; a keyframe's pack carries the system header and the PSM."""
    head = pack_header(max(0, pts - 3600))
    if keyframe:
        head += system_header() + program_stream_map()
    return head + pes_packets(es, pts)


def rtp_packets(
    payload: bytes, *, seq: int, timestamp: int, ssrc: int, pt: int = 96, mtu: int = 1400
) -> list[bytes]:
    """One PS pack split over RTP packets sharing `timestamp`; marker on the last (RFC 2250)."""
    chunks = [payload[i : i + mtu] for i in range(0, len(payload), mtu)] or [b""]
    packets = []
    for index, chunk in enumerate(chunks):
        marker = 0x80 if index == len(chunks) - 1 else 0
        header = bytes([0x80, marker | pt]) + ((seq + index) & 0xFFFF).to_bytes(2, "big")
        header += (timestamp & 0xFFFFFFFF).to_bytes(4, "big") + (ssrc & 0xFFFFFFFF).to_bytes(
            4, "big"
        )
        packets.append(header + chunk)
    return packets


@dataclass(frozen=True)
class Frame:
    """One encoded H.264 access unit (Annex B) and whether it is an IDR."""

    data: bytes
    keyframe: bool


def encode_h264(count: int, fps: int = 25, size: tuple[int, int] = (320, 180)) -> list[Frame]:
    """`count` frames of a moving gradient encoded with libx264 (SPS/PPS before each IDR, one IDR
    a second), Annex B byte stream."""
    import av
    import numpy as np

    width, height = size
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base, context.framerate = Fraction(1, fps), Fraction(fps, 1)
    context.bit_rate, context.gop_size = 200_000, fps
    context.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": f"repeat-headers=1:keyint={fps}:min-keyint={fps}:scenecut=0:annexb=1",
    }
    context.open()
    frames: list[Frame] = []
    grid = np.add.outer(np.arange(height), np.arange(width))
    for index in range(count):
        luma = ((grid + index * 4) % 256).astype(np.uint8)
        picture = np.stack([luma, luma[::-1], 255 - luma], -1)
        video = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        video.pts = index
        frames += [Frame(bytes(p), bool(p.is_keyframe)) for p in context.encode(video)]
    frames += [Frame(bytes(p), bool(p.is_keyframe)) for p in context.encode(None)]
    return frames


def filler_nal(size: int) -> bytes:
    """An H.264 filler-data NAL unit (type 12) of exactly `size` >= 6 bytes, start code included."""
    return b"\x00\x00\x00\x01\x0c" + b"\xff" * (size - 6) + b"\x80"


def cbr_frames(frames: Iterable[Frame], kbps: float, fps: int) -> list[Frame]:
    """Pad each frame with filler NAL units so the stream's bytes track `kbps` frame by frame
    (a frame above its budget is carried as debt into the following ones)."""
    budget = kbps * 1000 / 8 / fps
    out: list[Frame] = []
    target = 0.0
    total = 0
    for frame in frames:
        target += budget
        pad = int(target - total - len(frame.data))
        data = frame.data + (filler_nal(pad) if pad >= 6 else b"")
        total += len(data)
        out.append(Frame(data, frame.keyframe))
    return out


# --- the platform -------------------------------------------------------------------------------


@dataclass
class Seen:
    """One SIP message the platform received, with its monotonic arrival time and source."""

    t: float
    msg: SipMsg
    source: tuple[str, int]
    answered: int | None = None


@dataclass
class KeepaliveSeen:
    t: float
    from_user: str
    body: Manscdp
    content_type: str
    answered: int


@dataclass
class ResponseSeen:
    t: float
    from_user: str
    body: Manscdp
    content_type: str
    raw: bytes


@dataclass
class QuerySent:
    sn: int
    cmd_type: str
    device_id: str
    answer: int | None = None
    answer_body: bytes = b""
    responses: list[ResponseSeen] = field(default_factory=list)

    def complete(self) -> bool:
        if not self.responses:
            return False
        if self.cmd_type != "Catalog":
            return True
        sum_num = self.responses[0].body.fields.get("SumNum", "")
        if not sum_num.isdigit():
            return True
        return sum(len(r.body.items()) for r in self.responses) >= int(sum_num)


@dataclass
class PlayResult:
    """What the platform saw of one play: the INVITE's answer, the offer, what it sent."""

    invite_code: int = 0
    invite_reason: str = ""
    contact: str | None = None
    #: the device's SDP (its offer in the 200, or its answer to the platform's offer)
    offer: Sdp | None = None
    offer_raw: bytes = b""
    #: the platform's SDP (its answer in the ACK, or its offer in the INVITE)
    answer_raw: bytes = b""
    ssrc: str = ""
    media_to: tuple[str, int] | None = None
    frames_sent: int = 0
    packets_sent: int = 0
    ps_bytes: int = 0
    rtp_bytes: int = 0
    seconds: float = 0.0
    started_at: float = 0.0
    samples: list[tuple[float, Any]] = field(default_factory=list)
    bye_code: int | None = None
    device_bye: bool = False

    @property
    def ps_kbps(self) -> float:
        return self.ps_bytes * 8 / 1000 / self.seconds if self.seconds else 0.0

    @property
    def rtp_kbps(self) -> float:
        return self.rtp_bytes * 8 / 1000 / self.seconds if self.seconds else 0.0


class Platform:
    """The platform: one UDP socket on 127.0.0.1 (port 0), served by a background thread."""

    def __init__(
        self,
        platform_id: str = PLATFORM_ID,
        *,
        password: str = "12345678",
        grant: int = 3600,
        host: str = "127.0.0.1",
    ) -> None:
        self.platform_id = platform_id
        self.domain = platform_id[:10]
        self.password = password
        self.grant = grant
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.tag = new_tag()
        self.nonces: set[str] = set()
        self.cond = threading.Condition()
        self.seen: list[Seen] = []
        self.sent: list[tuple[float, bytes, tuple[str, int]]] = []
        self.registers: list[Seen] = []
        self.bindings: dict[str, tuple[Seen, int]] = {}
        self.keepalives: list[KeepaliveSeen] = []
        self.other_messages: list[ResponseSeen] = []
        self.queries: dict[int, QuerySent] = {}
        self.answers: dict[tuple[str, str], bytes] = {}
        self.pending: dict[str, list[SipMsg]] = {}
        self.acks: dict[str, tuple[bytes, tuple[str, int]]] = {}
        self.device_byes: list[SipMsg] = []
        self.errors: list[BaseException] = []
        self.next_sn = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="independent-gb", daemon=True)

    # lifecycle

    def __enter__(self) -> Platform:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sock.close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # wire

    def _send(self, data: bytes, to: tuple[str, int]) -> None:
        with self.cond:
            self.sent.append((time.monotonic(), data, to))
        self.sock.sendto(data, to)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self._dispatch(parse_sip(data), source)
            except Exception as error:  # kept and re-raised by check()
                self.errors.append(error)

    def check(self) -> None:
        """Re-raise an error the server thread hit."""
        if self.errors:
            raise self.errors[0]

    def _dispatch(self, msg: SipMsg, source: tuple[str, int]) -> None:
        if not msg.is_request:
            self._on_response(msg, source)
            return
        key = (msg.branch, msg.method)
        if msg.method != "ACK" and key in self.answers:  # a retransmission: same answer
            self._send(self.answers[key], source)
            return
        seen = Seen(time.monotonic(), msg, source)
        with self.cond:
            self.seen.append(seen)
        handler = {
            "REGISTER": self._on_register,
            "MESSAGE": self._on_message,
            "BYE": self._on_bye,
        }.get(msg.method)
        if msg.method == "ACK":
            return
        if handler is None:
            code = 200 if msg.method in ("OPTIONS", "NOTIFY", "INFO") else 405
            self._answer(seen, code, "OK" if code == 200 else "Method Not Allowed")
        else:
            handler(seen)
        with self.cond:
            self.cond.notify_all()

    def _answer(
        self, seen: Seen, code: int, reason: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        data = build_response(seen.msg, code, reason, extra=extra, to_tag=self.tag)
        self.answers[(seen.msg.branch, seen.msg.method)] = data
        seen.answered = code
        self._send(data, seen.source)

    def _on_response(self, msg: SipMsg, source: tuple[str, int]) -> None:
        with self.cond:
            self.seen.append(Seen(time.monotonic(), msg, source))
            if msg.method == "INVITE" and 200 <= msg.status < 300 and msg.call_id in self.acks:
                data, to = self.acks[msg.call_id]  # the 2xx came again: our ACK was lost
                self._send(data, to)
            if msg.branch in self.pending:
                self.pending[msg.branch].append(msg)
            self.cond.notify_all()

    # registrar (notes §1)

    def _on_register(self, seen: Seen) -> None:
        msg = seen.msg
        with self.cond:
            self.registers.append(seen)
        expires_text = msg.get("Expires") or param(msg.get("Contact") or "", "expires")
        if expires_text is None or not expires_text.strip().isdigit():
            self._answer(seen, 400, "Missing Expires")
            return
        authorization = msg.get("Authorization")
        fields = parse_digest(authorization or "")
        if not fields or fields.get("nonce") not in self.nonces:
            nonce = secrets.token_hex(16)
            self.nonces.add(nonce)
            challenge = (
                f'Digest realm="{self.domain}", nonce="{nonce}", '
                f'opaque="{secrets.token_hex(8)}", algorithm=MD5, qop="auth"'
            )
            self._answer(seen, 401, "Unauthorized", [("WWW-Authenticate", challenge)])
            return
        if not digest_ok(fields, self.password, "REGISTER"):
            self._answer(seen, 403, "Forbidden")
            return
        requested = int(expires_text)
        granted = min(requested, self.grant)
        device_id = uri_parts(uri_of(msg.get("From") or ""))[0]
        contact = msg.get("Contact") or ""
        extra = [("Date", gb_date()), ("Expires", str(granted))]
        if contact:
            extra.insert(0, ("Contact", f"<{uri_of(contact)}>;expires={granted}"))
        self._answer(seen, 200, "OK", extra)
        with self.cond:
            if granted:
                self.bindings[device_id] = (seen, granted)
            else:
                self.bindings.pop(device_id, None)

    def wait_registered(self, device_id: str, timeout: float) -> Seen:
        """The REGISTER the platform granted `device_id` (a live binding)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while device_id not in self.bindings:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    lines = [f"{s.msg.start} -> {s.answered}" for s in self.registers]
                    raise TimeoutError(f"{device_id} not registered; REGISTERs: {lines}")
                self.cond.wait(remaining)
            return self.bindings[device_id][0]

    def wait_register(self, predicate: Callable[[SipMsg], bool], timeout: float) -> Seen:
        """The first REGISTER received that matches `predicate`, once answered."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [s for s in self.registers if predicate(s.msg) and s.answered]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no such REGISTER; {[s.msg.start for s in self.registers]}")
                self.cond.wait(remaining)

    # MESSAGE: keepalives and query responses (notes §2, §3)

    def _on_message(self, seen: Seen) -> None:
        msg = seen.msg
        device = uri_parts(uri_of(msg.get("From") or ""))[0]
        if device not in self.bindings:
            self._answer(seen, 404, "Device Not Found")  # WVP's answer (notes §2, §6.10)
            return
        body = read_manscdp(msg.body)
        content_type = msg.get("Content-Type") or ""
        self._answer(seen, 200, "OK")
        with self.cond:
            if body.root == "Notify" and body.cmd_type == "Keepalive":
                self.keepalives.append(KeepaliveSeen(seen.t, device, body, content_type, 200))
                return
            entry = ResponseSeen(seen.t, device, body, content_type, msg.body)
            query = self.queries.get(body.sn) if body.sn is not None else None
            if body.root == "Response" and query is not None:
                query.responses.append(entry)
            else:
                self.other_messages.append(entry)

    def wait_keepalives(self, count: int, timeout: float) -> list[KeepaliveSeen]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.keepalives) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.keepalives)} of {count} keepalives came")
                self.cond.wait(remaining)
            return list(self.keepalives)

    def _device_route(self, device_id: str) -> tuple[str, tuple[str, int]]:
        """Request-URI and destination for `device_id`: its registered Contact (host:port)."""
        seen, _ = self.bindings[device_id]
        contact = uri_of(seen.msg.get("Contact") or "")
        _, host, port = uri_parts(contact)
        destination = (host, port or 5060) if host else seen.source
        return f"sip:{device_id}@{destination[0]}:{destination[1]}", destination

    def _request(
        self,
        method: str,
        device_id: str,
        extra: Sequence[tuple[str, str]],
        body: bytes = b"",
        *,
        uri: str | None = None,
        dest: tuple[str, int] | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        to_tag: str | None = None,
        timeout: float = 8.0,
    ) -> SipMsg:
        """Send a request as a UDP client transaction (T1 doubling to T2); its final answer."""
        route_uri, route_dest = self._device_route(device_id)
        branch = new_branch()
        to = f"<sip:{device_id}@{self.domain}>" + (f";tag={to_tag}" if to_tag else "")
        headers = [
            ("Via", f"SIP/2.0/UDP {self.address};rport;branch={branch}"),
            ("From", f"<sip:{self.platform_id}@{self.domain}>;tag={self.tag}"),
            ("To", to),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@{self.host}"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "independent-gb"),
            *extra,
        ]
        data = build_request(method, uri or route_uri, headers, body)
        destination = dest or route_dest
        with self.cond:
            self.pending[branch] = []
        deadline = time.monotonic() + timeout
        interval = T1
        self._send(data, destination)
        next_at = time.monotonic() + interval
        with self.cond:
            while True:
                answers = self.pending[branch]
                final = next((a for a in answers if a.status >= 200), None)
                if final is not None:
                    del self.pending[branch]
                    return final
                now = time.monotonic()
                if now >= deadline:
                    del self.pending[branch]
                    raise TimeoutError(f"no final answer to {method} within {timeout} s")
                if now >= next_at and not (method == "INVITE" and answers):
                    self._send(data, destination)
                    interval = min(interval * 2, T2)
                    next_at = now + interval
                self.cond.wait(max(0.0, min(next_at, deadline) - now))

    def query(self, device_id: str, cmd_type: str, *, encoding: str = "GB2312") -> int:
        """Send a `<Query>` MESSAGE; its SN (the device's answer to the MESSAGE is kept)."""
        with self.cond:
            sn = self.next_sn
            self.next_sn += 1
            query = QuerySent(sn, cmd_type, device_id)
            self.queries[sn] = query
        answer = self._request(
            "MESSAGE",
            device_id,
            [("Content-Type", MANSCDP_TYPE)],
            manscdp_query(cmd_type, sn, device_id, encoding),
        )
        with self.cond:
            query.answer, query.answer_body = answer.status, answer.body
        return sn

    def wait_response(self, sn: int, timeout: float) -> QuerySent:
        """The query once its Response(s) are whole (a Catalog: SumNum items)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            query = self.queries[sn]
            while not query.complete():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{query.cmd_type} SN {sn}: answer {query.answer}, "
                        f"{len(query.responses)} Response(s); others: "
                        f"{[(m.body.root, m.body.fields) for m in self.other_messages]}"
                    )
                self.cond.wait(remaining)
            return query

    # BYE from the device (notes §4 "Teardown")

    def _on_bye(self, seen: Seen) -> None:
        with self.cond:
            self.device_byes.append(seen.msg)
        self._answer(seen, 200, "OK")

    # play: third-party call control (notes §4 "How a platform gets video into a decoder", 1)

    def play(
        self,
        device_id: str,
        frames: Sequence[Frame],
        *,
        style: str = "third_party",
        fps: int = 25,
        seconds: float = 4.0,
        source_id: str = SOURCE_ID,
        serial: int = 1,
        sample: Callable[[], Any] | None = None,
        sample_every: float = 0.25,
    ) -> PlayResult:
        """Play `frames` into the device, then BYE.

        `style` "third_party" (notes §4 scenario 1, J.5.7-J.5.11): a bodyless INVITE; the
        device's offer comes in its 200; the platform's answer (its c=/m=, a=sendonly, y=) goes
        in the ACK. "offer" (scenario 2): the INVITE carries that SDP as an offer; the device
        answers recvonly in its 200, echoing y=; the ACK is bodyless. Then `seconds` of PS over
        RTP at `fps`, paced, to the device's c=/m=, with the SSRC of the y= in force. `sample`
        is called every `sample_every` s while media flows (e.g. status.json), its values kept.
        """
        result = PlayResult(ssrc=live_ssrc(self.platform_id, serial))
        call_id = f"{secrets.token_hex(8)}@{self.host}"
        contact = f"<sip:{self.platform_id}@{self.address}>"
        media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            media.bind((self.host, 0))
            platform_sdp = answer_sdp(
                source_id, self.host, media.getsockname()[1], "96", result.ssrc
            )
            headers = [
                ("Contact", contact),
                ("Allow", "INVITE, ACK, INFO, CANCEL, BYE, OPTIONS, MESSAGE"),
                ("Subject", f"{source_id}:0,{device_id}:0"),
            ]
            body = b""
            if style == "offer":
                headers.append(("Content-Type", "application/sdp"))
                body = result.answer_raw = platform_sdp
            final = self._request("INVITE", device_id, headers, body, call_id=call_id)
            result.invite_code, result.invite_reason = final.status, final.start.split(" ", 2)[-1]
            if not 200 <= final.status < 300:
                return result
            result.contact = final.get("Contact")
            result.offer_raw = final.body
            result.offer = device_sdp = parse_sdp(final.body)
            to_tag = param(final.get("To") or "", "tag")
            remote_uri = (
                uri_of(result.contact) if result.contact else self._device_route(device_id)[0]
            )
            _, r_host, r_port = uri_parts(remote_uri)
            dialog_dest = (r_host, r_port or 5060)
            pt = ps_payload_type(device_sdp) or "96"
            ack_headers = [
                ("Via", f"SIP/2.0/UDP {self.address};rport;branch={new_branch()}"),
                ("From", f"<sip:{self.platform_id}@{self.domain}>;tag={self.tag}"),
                ("To", final.get("To") or ""),
                ("Call-ID", call_id),
                ("CSeq", "1 ACK"),
                ("Max-Forwards", "70"),
                ("Contact", contact),
            ]
            ack_body = b""
            if style != "offer":
                result.answer_raw = ack_body = answer_sdp(
                    source_id, self.host, media.getsockname()[1], pt, result.ssrc
                )
                ack_headers.append(("Content-Type", "application/sdp"))
            elif device_sdp.y and device_sdp.y.strip().isdigit():
                result.ssrc = device_sdp.y.strip()  # the answer's y= is in force
            ack = build_request("ACK", remote_uri, ack_headers, ack_body)
            with self.cond:
                self.acks[call_id] = (ack, dialog_dest)
            self._send(ack, dialog_dest)
            address = device_sdp.address or dialog_dest[0]
            result.media_to = (address, device_sdp.port)
            if device_sdp.port:
                self._stream(
                    media,
                    result,
                    frames=frames,
                    fps=fps,
                    seconds=seconds,
                    pt=int(pt),
                    sample=sample,
                    sample_every=sample_every,
                )
        finally:
            media.close()
        with self.cond:
            result.device_bye = any(b.call_id == call_id for b in self.device_byes)
        if not result.device_bye:
            bye = self._request(
                "BYE",
                device_id,
                [("Contact", contact)],
                uri=remote_uri,
                dest=dialog_dest,
                call_id=call_id,
                cseq=2,
                to_tag=to_tag,
            )
            result.bye_code = bye.status
        return result

    def _stream(
        self,
        media: socket.socket,
        result: PlayResult,
        *,
        frames: Sequence[Frame],
        fps: int,
        seconds: float,
        pt: int,
        sample: Callable[[], Any] | None,
        sample_every: float,
    ) -> None:
        if result.media_to is None:
            return
        ssrc = int(result.ssrc)
        seq = secrets.randbelow(0x10000)
        ts_base = secrets.randbelow(1 << 31)
        done = threading.Event()
        sampler: threading.Thread | None = None
        start = time.monotonic()
        if sample is not None:

            def run() -> None:
                while not done.wait(sample_every):
                    try:
                        value = sample()
                    except Exception as error:
                        value = error
                    result.samples.append((time.monotonic() - start, value))

            sampler = threading.Thread(target=run, name="independent-gb-sample", daemon=True)
            sampler.start()
        total = round(seconds * fps)
        result.started_at = start
        try:
            for index in range(total):
                due = start + index / fps
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):  # pacing: frame i leaves at start + i/fps
                    break
                frame = frames[index % len(frames)]
                keyframe = frame.keyframe or index == 0
                if index == 0 and not frame.keyframe:
                    raise ValueError("the first frame to send must be a keyframe")
                clock = index * 90000 // fps
                pack = ps_pack(frame.data, 3600 + clock, keyframe)
                packets = rtp_packets(pack, seq=seq, timestamp=ts_base + clock, ssrc=ssrc, pt=pt)
                seq += len(packets)
                for packet in packets:
                    media.sendto(packet, result.media_to)
                result.frames_sent += 1
                result.packets_sent += len(packets)
                result.ps_bytes += len(pack)
                result.rtp_bytes += sum(len(p) for p in packets)
                with self.cond:
                    if self.device_byes and self.device_byes[-1].call_id in self.acks:
                        break
            # the last frame occupies a whole frame interval
            end = start + result.frames_sent / fps
            delay = end - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)  # pacing: the stream's last frame interval
            result.seconds = time.monotonic() - start
        finally:
            done.set()
            if sampler is not None:
                sampler.join(5)


# --- views: what the platform saw, as plain dicts to compare ------------------------------------


def host_form(host_port: str, domain: str) -> str:
    """'ip:port', 'ip', 'domain' (10-digit domain ID or its .spvmn.cn form) or 'other'."""
    host, _, port = host_port.partition(":")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host):
        return "ip:port" if port else "ip"
    if host in (domain, f"{domain}.spvmn.cn"):
        return "domain"
    return "other"


def registration_view(
    exchanges: Sequence[tuple[SipMsg, int | None]], platform_id: str, domain: str
) -> dict[str, Any]:
    """Registration facts from the device's REGISTERs (in order) and the platform's answers."""
    if not exchanges:
        return {"registers": 0}
    first = exchanges[0][0]
    authorized = [m for m, code in exchanges if m.get("Authorization") and code == 200]
    authorized = authorized or [m for m, _ in exchanges if m.get("Authorization")]
    auth = parse_digest(authorized[0].get("Authorization") or "") if authorized else {}
    r_user, r_host, r_port = uri_parts(first.uri)
    f_user, f_host, f_port = uri_parts(uri_of(first.get("From") or ""))
    t_user, t_host, t_port = uri_parts(uri_of(first.get("To") or ""))
    c_user, _, _ = uri_parts(uri_of(first.get("Contact") or ""))
    hp = lambda h, p: f"{h}:{p}" if p else h  # noqa: E731
    cseqs = [m.cseq[0] for m, _ in exchanges]
    return {
        "registers": len(exchanges),
        "codes": [code for _, code in exchanges],
        "request_uri_user": r_user,
        "request_uri_user_is_platform": r_user == platform_id,
        "request_uri_host_form": host_form(hp(r_host, r_port), domain),
        "from_user": f_user,
        "to_user": t_user,
        "from_host_form": host_form(hp(f_host, f_port), domain),
        "to_host_form": host_form(hp(t_host, t_port), domain),
        "from_equals_to": uri_of(first.get("From") or "") == uri_of(first.get("To") or ""),
        "contact_user": c_user,
        "expires": first.get("Expires"),
        "digest_username": auth.get("username"),
        "digest_qop": auth.get("qop"),
        "digest_has_cnonce_nc": bool(auth.get("cnonce") and auth.get("nc")),
        "digest_uri_is_request_uri": bool(authorized) and auth.get("uri") == authorized[0].uri,
        "digest_algorithm": (auth.get("algorithm") or "MD5").upper() if auth else None,
        "x_gb_ver": first.get("X-GB-ver"),
        "call_id_reused": len({m.call_id for m, _ in exchanges}) == 1,
        "cseq_increasing": all(b > a for a, b in itertools.pairwise(cseqs)),
        "via_rport": "rport" in (first.get("Via") or "").split(";")[1:]
        or any(p.strip().startswith("rport") for p in (first.get("Via") or "").split(";")),
    }


def unregister_view(exchanges: Sequence[tuple[SipMsg, int | None]]) -> dict[str, Any]:
    """Facts of the device's unregistration: its REGISTERs with Expires: 0.

    Whether a platform challenges an unregister on the bound Call-ID is the platform's policy
    (WVP and the suite's peer accept it unchallenged, notes §1), so the answers are not a fact of
    the device: what is, is that it ends at 200 and that any 401 was answered with credentials.
    """
    leaving = [(m, code) for m, code in exchanges if (m.get("Expires") or "").strip() == "0"]
    staying = [m for m, code in exchanges if code == 200 and (m.get("Expires") or "") != "0"]
    challenged = [i for i, (_, code) in enumerate(leaving) if code == 401]
    return {
        "sent": bool(leaving),
        "ends_with_200": bool(leaving) and leaving[-1][1] == 200,
        "challenge_answered_with_credentials": all(
            any(m.get("Authorization") for m, _ in leaving[i + 1 :]) for i in challenged
        ),
        "same_call_id_as_registration": bool(leaving and staying)
        and {m.call_id for m, _ in leaving} == {staying[0].call_id},
        "contact_user": uri_parts(uri_of(leaving[0][0].get("Contact") or ""))[0]
        if leaving
        else None,
    }


def interval_median(times: Sequence[float]) -> float | None:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.median(gaps) if gaps else None


def keepalive_view(
    items: Sequence[tuple[float, str | None, str | None, str | None]],
    *,
    encoding: str | None = None,
    decodes: bool | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """Keepalive facts from (arrival time, SN, DeviceID, Status) in order."""
    sns = [int(sn) for _, sn, _, _ in items if sn is not None and str(sn).isdigit()]
    return {
        "count": len(items),
        "interval_median_s": interval_median([t for t, _, _, _ in items]),
        "device_ids": sorted({d for _, _, d, _ in items if d is not None}),
        "statuses": sorted({s for _, _, _, s in items if s is not None}),
        "sn_all_present": len(sns) == len(items),
        "sn_increasing": all(b > a for a, b in itertools.pairwise(sns)),
        "encoding": encoding,
        "decodes": decodes,
        "content_type": content_type,
    }


def response_view(
    cmd_type: str,
    sn: int,
    answer: int | None,
    bodies: Sequence[Manscdp],
    device_id: str,
) -> dict[str, Any]:
    """Query-response facts from the Response bodies (read by `read_manscdp`) of one query."""
    first = bodies[0] if bodies else Manscdp(None, False)
    view: dict[str, Any] = {
        "answer_to_query": answer,
        "parts": len(bodies),
        "root": first.root,
        "cmd_type": first.cmd_type,
        "sn_matches": all(b.sn == sn for b in bodies) and bool(bodies),
        "device_id": first.fields.get("DeviceID"),
        "device_id_is_device": first.fields.get("DeviceID") == device_id,
        "encoding": first.declared,
        "decodes": all(b.decodes for b in bodies) and bool(bodies),
    }
    if cmd_type == "Catalog":
        items = [item for b in bodies for item in b.items()]
        sum_num = first.fields.get("SumNum", "")
        view |= {
            "sum_num": int(sum_num) if sum_num.isdigit() else None,
            "items": len(items),
            "item_ids": sorted(item.get("DeviceID", "") for item in items),
            "item_statuses": sorted({item.get("Status", "") for item in items}),
        }
    elif cmd_type == "DeviceInfo":
        view |= {
            "result": first.fields.get("Result"),
            "fields": sorted(first.fields),
        }
    elif cmd_type == "DeviceStatus":
        view |= {
            "result": first.fields.get("Result"),
            "online": first.fields.get("Online"),
            "status": first.fields.get("Status"),
        }
    return view
