"""The pcap writer: frames read back with scapy (addresses, ports, payloads, order, checksums)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import rdpcap

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.report.pcap import (
    LINKTYPE_ETHERNET,
    TCP_SEGMENT,
    pcap_bytes,
    write_pcap,
)
from wire.rtp import RtpPacket
from wire.rtp_tcp import frame as rfc4571_frame

DEVICE = ("127.0.0.1", 5060)
PEER = ("127.0.0.2", 40000)
OFFSET = 1_700_000_000.0  # wall minus monotonic, fixed so timestamps are exact

INVITE = (
    b"INVITE sip:7001@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:40000;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\n"
    b"From: <sip:c@127.0.0.2>;tag=1\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: pcap-1\r\n"
    b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:40000;branch=z9hG4bK-1\r\n"
    b"From: <sip:c@127.0.0.2>;tag=1\r\nTo: <sip:7001@127.0.0.1>;tag=2\r\nCall-ID: pcap-1\r\n"
    b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)


def read(path: Path) -> list[Packet]:
    return list(rdpcap(str(path)))


def checksums_hold(frame: Packet) -> bool:
    """Rebuilding the frame with scapy computing lengths and checksums gives the same bytes."""
    copy = Ether(bytes(frame))
    del copy[IP].chksum, copy[IP].len
    transport = copy[UDP] if UDP in copy else copy[TCP]
    del transport.chksum
    if UDP in copy:
        del copy[UDP].len
    return bytes(Ether(bytes(copy))) == bytes(frame)


def test_udp_records_become_ethernet_ipv4_udp_frames_in_time_order(tmp_path: Path) -> None:
    rtp = RtpPacket(96, 7, 1234, 0xDEADBEEF, b"\x65" * 1000, marker=True).to_bytes()
    records = [
        # Given out of order: the capture is in time order.
        WireRecord(10.5, "RX", "udp", PEER, DEVICE, OK),
        WireRecord(10.0, "TX", "udp", PEER, DEVICE, INVITE),
        WireRecord(11.25, "TX", "udp", PEER, ("127.0.0.1", 6000), rtp, protocol="rtp"),
    ]
    path = tmp_path / "call.pcap"
    assert write_pcap(path, records, offset=OFFSET) == 3
    assert int.from_bytes(path.read_bytes()[20:24], "little") == LINKTYPE_ETHERNET

    frames = read(path)
    assert [float(f.time) for f in frames] == [OFFSET + 10.0, OFFSET + 10.5, OFFSET + 11.25]
    invite, ok, media = frames
    assert (invite[IP].src, invite[UDP].sport, invite[IP].dst, invite[UDP].dport) == (
        "127.0.0.2",
        40000,
        "127.0.0.1",
        5060,
    )
    # The RX record is from the device to the peer.
    assert (ok[IP].src, ok[UDP].sport, ok[IP].dst, ok[UDP].dport) == (
        "127.0.0.1",
        5060,
        "127.0.0.2",
        40000,
    )
    assert bytes(invite[UDP].payload) == INVITE
    assert bytes(ok[UDP].payload) == OK
    assert bytes(media[UDP].payload) == rtp and media[UDP].dport == 6000
    for frame in frames:
        assert frame[IP].version == 4 and frame[IP].proto == 17
        assert frame[IP].len == len(frame[IP]) and frame[UDP].len == len(frame[UDP])
        assert checksums_hold(frame), frame.summary()
    assert invite[Ether].src == "02:00:7f:00:00:02" and invite[Ether].dst == "02:00:7f:00:00:01"


def test_tcp_records_get_psh_ack_segments_with_accumulating_sequence_numbers() -> None:
    register = INVITE.replace(b"INVITE", b"REGISTER").replace(b"UDP", b"TCP")
    answer = OK.replace(b"UDP", b"TCP")
    big = b"x" * (TCP_SEGMENT + 10)
    records = [
        WireRecord(1.0, "TX", "tcp", PEER, DEVICE, register),
        WireRecord(1.1, "RX", "tcp", PEER, DEVICE, answer),
        WireRecord(1.2, "TX", "tcp", PEER, DEVICE, register),
        WireRecord(1.3, "TX", "tcp", PEER, DEVICE, big),  # cut into two segments
        # Another connection from the same host: its own sequence space.
        WireRecord(1.4, "TX", "tcp", ("127.0.0.2", 40001), DEVICE, register),
    ]
    frames = [Ether(bytes(f)) for f in rdpcap_bytes(pcap_bytes(records, offset=OFFSET))]
    assert len(frames) == 6
    assert all(f[TCP].flags == "PA" for f in frames)
    assert all(checksums_hold(f) for f in frames)
    first, reply, second, big_a, big_b, other = frames
    assert bytes(first[TCP].payload) == register and bytes(reply[TCP].payload) == answer
    assert (reply[IP].src, reply[TCP].sport) == DEVICE
    assert second[TCP].seq == (first[TCP].seq + len(register)) % 2**32
    assert reply[TCP].ack == second[TCP].seq  # the device has everything the peer sent so far
    assert second[TCP].ack == (reply[TCP].seq + len(answer)) % 2**32
    assert big_a[TCP].seq == (second[TCP].seq + len(register)) % 2**32
    assert big_b[TCP].seq == (big_a[TCP].seq + TCP_SEGMENT) % 2**32
    assert bytes(big_a[TCP].payload) + bytes(big_b[TCP].payload) == big
    assert other[TCP].sport == 40001 and other[TCP].seq != big_b[TCP].seq


def test_rtp_over_tcp_keeps_the_rfc4571_framing() -> None:
    packet = RtpPacket(96, 1, 0, 1, b"\x09\x10").to_bytes()
    record = WireRecord(2.0, "TX", "tcp", PEER, DEVICE, rfc4571_frame(packet), protocol="rtp")
    (frame,) = rdpcap_bytes(pcap_bytes([record], offset=OFFSET))
    payload = bytes(frame[TCP].payload)
    assert payload[:2] == len(packet).to_bytes(2, "big") and payload[2:] == packet


def test_empty_capture_and_bad_records() -> None:
    empty = pcap_bytes([])
    assert len(empty) == 24  # the global header only: Wireshark opens it
    assert rdpcap_bytes(empty) == []
    with pytest.raises(ValueError, match="IPv4"):
        pcap_bytes([WireRecord(0.0, "TX", "udp", ("::1", 5060), DEVICE, b"x")])
    with pytest.raises(ValueError, match="does not fit"):
        pcap_bytes([WireRecord(0.0, "TX", "udp", PEER, DEVICE, b"x" * 70000)])


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Wireshark) not installed")
def test_tshark_dissects_sip_over_udp_and_tcp(tmp_path: Path) -> None:
    path = tmp_path / "sip.pcap"
    write_pcap(
        path,
        [
            WireRecord(1.0, "TX", "udp", PEER, DEVICE, INVITE),
            WireRecord(1.1, "RX", "tcp", PEER, DEVICE, OK),
        ],
    )
    shown = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert shown.stdout.split() == ["pcap-1", "pcap-1"], shown.stdout + shown.stderr


def rdpcap_bytes(data: bytes) -> list[Packet]:
    """rdpcap of an in-memory capture."""
    import io

    return list(rdpcap(io.BytesIO(data)))
