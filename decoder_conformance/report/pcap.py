"""Packet captures (pcap) of what a case's peers sent and received, to open the call in Wireshark.

Input is any record with `t` (monotonic seconds), `transport` ("udp" or "tcp"), `src` and `dst`
((host, port) tuples of IPv4 literals) and `raw` (the bytes of the UDP datagram or of the TCP
write): a peer's wire record (peers/capture.py) has all of it, and report/ does not import peers/.

Each record becomes one Ethernet frame (link type EN10MB) carrying IPv4 and UDP, or TCP for
records over TCP, written with scapy's PcapWriter. The headers are packed here with `struct` and
their checksums computed with scapy's `checksum` (RFC 1071), because building each frame as a
scapy packet costs about 3 ms: a minute of video would take minutes to write. The tests dissect
the result with scapy and check every length and checksum against scapy's own.

The peers never see TCP segments (the kernel cuts and acknowledges them), so each TCP record
becomes one synthesized segment (flags PSH|ACK; one per 64000 bytes for a larger write) whose
sequence number accumulates per direction of its connection and whose acknowledgement is where
the other direction has got to: Wireshark then reassembles SIP over TCP as on a real capture.
MAC addresses are locally administered ones naming the IPv4 host (02:00:a:b:c:d).

Packet timestamps are wall-clock time: the monotonic `t` plus the offset between the two clocks,
sampled once when the capture is written (the clocks drift apart by at most NTP's slew rate,
0.5 ms per second, between a record and the write; a wall-clock step in between shifts them all).
"""

from __future__ import annotations

import io
import ipaddress
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

#: LINKTYPE_ETHERNET (https://www.tcpdump.org/linktypes.html).
LINKTYPE_ETHERNET = 1
#: The largest UDP payload an IPv4 datagram can carry (65535 - 20 - 8).
MAX_UDP_PAYLOAD = 65507
#: Bytes of one synthesized TCP segment; a larger write is cut into several.
TCP_SEGMENT = 64000
TTL = 64
TCP_WINDOW = 65535
ETHERTYPE_IPV4 = 0x0800
IPPROTO_TCP = 6
IPPROTO_UDP = 17
TCP_PSH_ACK = 0x18
IP_DONT_FRAGMENT = 0x4000

Address = tuple[str, int]


class PcapRecord(Protocol):
    """What a captured packet is made from (peers/capture.py's WireRecord has all of it)."""

    @property
    def t(self) -> float: ...

    @property
    def transport(self) -> str: ...

    @property
    def src(self) -> Address: ...

    @property
    def dst(self) -> Address: ...

    @property
    def raw(self) -> bytes: ...


@dataclass(frozen=True)
class Frame:
    """One Ethernet frame of the capture and its wall-clock time."""

    time: float
    data: bytes


def wall_offset() -> float:
    """Seconds to add to a monotonic time to get wall-clock time (sampled now)."""
    return time.time() - time.monotonic()


def _ipv4(host: str) -> bytes:
    try:
        return ipaddress.IPv4Address(host).packed
    except ValueError:
        raise ValueError(f"cannot capture {host!r}: not an IPv4 address") from None


def _mac(packed_ip: bytes) -> bytes:
    """A locally administered MAC address naming an IPv4 host: 02:00 then its four octets."""
    return b"\x02\x00" + packed_ip


def _isn(src: Address, dst: Address) -> int:
    """A deterministic initial sequence number for one direction of a connection."""
    return zlib.crc32(f"{src[0]}:{src[1]}>{dst[0]}:{dst[1]}".encode()) & 0xFFFFFFFF


class _TcpState:
    """Next sequence number per direction of every connection seen so far."""

    def __init__(self) -> None:
        self.next_seq: dict[tuple[Address, Address], int] = {}

    def seq(self, src: Address, dst: Address) -> int:
        return self.next_seq.setdefault((src, dst), _isn(src, dst))

    def advance(self, src: Address, dst: Address, length: int) -> None:
        self.next_seq[(src, dst)] = (self.seq(src, dst) + length) & 0xFFFFFFFF


def _frame(src_ip: bytes, dst_ip: bytes, proto: int, ip_id: int, transport: bytes) -> bytes:
    """Ethernet + IPv4 (checksummed) around a transport header and payload."""
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(transport),
        ip_id,
        IP_DONT_FRAGMENT,
        TTL,
        proto,
        0,
        src_ip,
        dst_ip,
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    ether = _mac(dst_ip) + _mac(src_ip) + struct.pack("!H", ETHERTYPE_IPV4)
    return ether + header + transport


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071), scapy's; imported here so the plugin starts fast."""
    from scapy.utils import checksum as scapy_checksum

    return int(scapy_checksum(data))


def _with_checksum(src_ip: bytes, dst_ip: bytes, proto: int, segment: bytes, at: int) -> bytes:
    """`segment` with its checksum (over the IPv4 pseudo-header) written at offset `at`."""
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, proto, len(segment))
    value = checksum(pseudo + segment)
    if proto == IPPROTO_UDP and value == 0:
        value = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    return segment[:at] + struct.pack("!H", value) + segment[at + 2 :]


def frames(records: Iterable[PcapRecord], *, offset: float | None = None) -> list[Frame]:
    """The records as Ethernet frames in time order, each with its wall-clock time.

    `offset` (wall minus monotonic seconds) defaults to `wall_offset()` now. Raises ValueError for
    a transport other than udp/tcp, an address that is not IPv4, or a UDP payload too large.
    """
    if offset is None:
        offset = wall_offset()
    tcp = _TcpState()
    ip_id = 0
    out: list[Frame] = []
    for record in sorted(records, key=lambda r: r.t):
        src, dst, raw = record.src, record.dst, bytes(record.raw)
        src_ip, dst_ip = _ipv4(src[0]), _ipv4(dst[0])
        transport = record.transport.lower()
        segments: list[tuple[int, bytes]] = []
        if transport == "udp":
            if len(raw) > MAX_UDP_PAYLOAD:
                raise ValueError(
                    f"a {len(raw)}-byte UDP payload from {src} to {dst} does not fit in IPv4"
                )
            udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(raw), 0) + raw
            segments.append((IPPROTO_UDP, _with_checksum(src_ip, dst_ip, IPPROTO_UDP, udp, 6)))
        elif transport == "tcp":
            for start in range(0, max(len(raw), 1), TCP_SEGMENT):
                chunk = raw[start : start + TCP_SEGMENT]
                header = struct.pack(
                    "!HHIIBBHHH",
                    src[1],
                    dst[1],
                    tcp.seq(src, dst),
                    tcp.seq(dst, src),
                    5 << 4,  # data offset: 5 words, no options
                    TCP_PSH_ACK,
                    TCP_WINDOW,
                    0,
                    0,
                )
                segment = _with_checksum(src_ip, dst_ip, IPPROTO_TCP, header + chunk, 16)
                segments.append((IPPROTO_TCP, segment))
                tcp.advance(src, dst, len(chunk))
        else:
            raise ValueError(f"cannot capture transport {record.transport!r} (udp or tcp)")
        for proto, segment in segments:
            ip_id = (ip_id + 1) & 0xFFFF
            out.append(Frame(record.t + offset, _frame(src_ip, dst_ip, proto, ip_id, segment)))
    return out


def write_pcap(
    target: Path | BinaryIO, records: Iterable[PcapRecord], *, offset: float | None = None
) -> int:
    """Write `records` as a pcap to a path or a binary file; the number of frames written.

    A file object is flushed, not closed.
    """
    written = frames(records, offset=offset)
    if isinstance(target, Path):
        with target.open("wb") as handle:
            return _write(handle, written)
    return _write(target, written)


def _write(handle: BinaryIO, written: list[Frame]) -> int:
    from scapy.utils import PcapWriter  # imported here: scapy takes a second to load

    writer = PcapWriter(handle, linktype=LINKTYPE_ETHERNET, sync=True)
    writer.write_header(None)  # an empty capture still gets its global header
    for frame in written:
        seconds = int(frame.time)
        micros = round((frame.time - seconds) * 1_000_000)
        if micros == 1_000_000:
            seconds, micros = seconds + 1, 0
        writer.write_packet(frame.data, sec=seconds, usec=micros)
    writer.flush()
    return len(written)


def pcap_bytes(records: Iterable[PcapRecord], *, offset: float | None = None) -> bytes:
    """The pcap file of `records` as bytes."""
    buffer = io.BytesIO()
    write_pcap(buffer, records, offset=offset)
    return buffer.getvalue()


def attach_pcap(records: Iterable[PcapRecord], name: str = "capture") -> int:
    """Attach the pcap of `records` to the current Allure test; the number of frames in it.

    Nothing is attached (0) without records; without an Allure reporter listening (outside a
    test, or a run without --alluredir) allure.attach has no hook implementation to call.
    """
    written = frames(records)
    if not written:
        return 0
    buffer = io.BytesIO()
    _write(buffer, written)
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return 0
    allure.attach(
        buffer.getvalue(),
        name=f"{name} ({len(written)} packets)",
        attachment_type=allure.attachment_type.PCAP,
    )
    return len(written)
