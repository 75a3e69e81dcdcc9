"""The GB28181 media source: :class:`RtpSender` with ``payload="ps"`` (PS over RTP), checked by
reassembling what a local receiver got with ``wire.ps.PsOverRtp`` and ``PsDemuxer``.

One 2 s 320x240 25 fps 500 kbit/s stream (IDR every second) is encoded once and shared. Only the
UDP case runs in real time (pacing and bitrate are measured there); TCP and loss run 4x faster.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import RTP_CLOCK_RATE, Impairments, RtpSender
from tests.decoder_conformance.media.test_media_source import receive_udp
from wire.gb_sdp import make_ssrc
from wire.ps import STREAM_ID_PSM, PsDemuxer, PsOverRtp, iter_units
from wire.rtp import RtpPacket
from wire.rtp_tcp import Deframer

FPS = 25
KBPS = 500
SECONDS = 2
PT = 98  # not 96: the sender must use the negotiated number
SSRC = int(make_ssrc("34020000002000000001", sequence=7))


@pytest.fixture(scope="module")
def stream() -> EncodedStream:
    return EncodedStream.cbr(320, 240, FPS, KBPS, SECONDS, gop_seconds=1.0)


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def receive_tcp(conn: socket.socket) -> list[RtpPacket]:
    """The RFC 4571 frames of a connection, read until the sender closes it."""
    deframer = Deframer()
    packets: list[RtpPacket] = []
    conn.settimeout(5.0)
    while chunk := conn.recv(65536):
        packets.extend(RtpPacket.parse(p) for p in deframer.feed(chunk))
    assert deframer.pending == 0
    return packets


def reassemble(packets: list[RtpPacket]) -> tuple[list[bytes], PsOverRtp]:
    """The whole packs, in order, and the reassembler (its stats)."""
    rtp = PsOverRtp()
    packs = [pack for packet in packets for pack in rtp.push(packet)]
    return packs + rtp.flush(), rtp


def check_frames(stream: EncodedStream, sender: RtpSender, packets: list[RtpPacket]) -> None:
    """Every frame arrived whole, as one pack with PTS = RTP timestamp, PSM only on keyframes."""
    assert {p.ssrc for p in packets} == {SSRC}
    assert {p.payload_type for p in packets} == {PT}
    packs, rtp = reassemble(packets)
    assert rtp.stats.lost == rtp.stats.dropped == rtp.stats.no_marker == 0, rtp.stats
    assert len(packs) == len(stream.frames) == len(sender.frames)
    demuxer = PsDemuxer()
    for frame, record, pack in zip(stream.frames, sender.frames, packs, strict=True):
        assert len(pack) == record.pack_size
        has_psm = any(unit.code == STREAM_ID_PSM for unit in iter_units(pack))
        assert has_psm == frame.keyframe, f"frame {frame.index}: PSM {has_psm}"
        units = demuxer.feed(pack) + demuxer.flush()
        assert len(units) == 1, f"frame {frame.index}: {len(units)} access units in its pack"
        (unit,) = units
        assert unit.data == frame.data and unit.keyframe == frame.keyframe
        assert unit.pts == record.timestamp, f"frame {frame.index}: PTS {unit.pts}"
    assert demuxer.stats.errors == 0, demuxer.errors
    # One timestamp per frame, advancing 90000/fps; the marker on each frame's last packet only.
    first = sender.first_timestamp
    step = RTP_CLOCK_RATE // FPS
    assert [r.timestamp for r in sender.frames] == [
        (first + i * step) % (1 << 32) for i in range(len(stream.frames))
    ]
    by_frame: dict[int, list[RtpPacket]] = {}
    for packet in packets:
        by_frame.setdefault(packet.timestamp, []).append(packet)
    for group in by_frame.values():
        assert [p.marker for p in group] == [False] * (len(group) - 1) + [True]


def test_ps_over_udp_frames_pacing_and_bitrate(stream: EncodedStream, udp: socket.socket) -> None:
    sender = RtpSender(stream, udp.getsockname(), PT, ssrc=SSRC, payload="ps").start()
    arrivals = receive_udp(udp, sender, 8.0)
    stats = sender.wait(5.0)
    packets = [a.packet for a in arrivals]
    check_frames(stream, sender, packets)
    assert stats.packets_sent == len(packets) and stats.packets_dropped == 0
    assert stats.ps_bytes == stats.payload_bytes == sum(len(p.payload) for p in packets)
    assert stats.frames_sent == len(stream.frames)

    # Pacing: frame i's first packet arrives at started_at + i/fps (measured at the receiver).
    assert sender.started_at is not None
    firsts: dict[int, float] = {}
    for arrival in arrivals:
        firsts.setdefault(arrival.packet.timestamp, arrival.t)
    lateness = [t - (sender.started_at + i / FPS) for i, t in enumerate(sorted(firsts.values()))]
    assert min(lateness) > -0.005 and max(lateness) < 0.05, (min(lateness), max(lateness))
    span = max(firsts.values()) - min(firsts.values())
    assert abs(span - (len(stream.frames) - 1) / FPS) < 0.05, span

    # Bitrate: PS payload per second of media, close to the target, a little above the H.264.
    ps_kbps = stats.ps_bytes * 8 / 1000 / stream.duration
    es_kbps = stream.total_bytes * 8 / 1000 / stream.duration
    assert 1.0 < ps_kbps / es_kbps < 1.03, (ps_kbps, es_kbps)
    assert abs(ps_kbps - KBPS) < 0.1 * KBPS, ps_kbps
    window = sender.sent_kbps(sender.started_at, sender.started_at + stream.duration)
    assert window == pytest.approx(ps_kbps, rel=1e-9)
    series = [kbps for _, kbps in sender.per_second()]
    assert len(series) == SECONDS and sum(series) / SECONDS == pytest.approx(ps_kbps, rel=1e-9)


def test_ps_over_tcp_rfc4571(stream: EncodedStream) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5.0)
        sender = RtpSender(
            stream, listener.getsockname(), PT, tcp=True, ssrc=SSRC, payload="ps", speed=4
        ).start()
        conn, _ = listener.accept()
    with conn:
        sender.wait(5.0)
        sender.stop()  # closes the connection: the receiver reads to its end
        packets = receive_tcp(conn)
    check_frames(stream, sender, packets)
    assert sender.stats().ps_bytes == sum(len(p.payload) for p in packets)


def test_ps_loss_is_dropped_and_counted(stream: EncodedStream, udp: socket.socket) -> None:
    impairments = Impairments(loss_every=9, seed=3)
    sender = RtpSender(
        stream,
        udp.getsockname(),
        PT,
        ssrc=SSRC,
        payload="ps",
        speed=4,
        impairments=impairments,
    ).start()
    packets = [a.packet for a in receive_udp(udp, sender, 8.0)]
    stats = sender.wait(5.0)
    dropped = [p for p in sender.packets if p.dropped]
    assert stats.packets_dropped == len(dropped) == len(sender.packets) // 9 > 0
    assert stats.packets_sent == len(packets) == len(sender.packets) - len(dropped)
    assert stats.ps_bytes == sum(len(p.payload) for p in packets)
    packs, rtp = reassemble(packets)
    assert rtp.stats.lost == len(dropped), rtp.stats
    damaged = {p.frame for p in dropped}
    # A loss damages its frame; one at a frame's edge also damages the neighbour.
    assert len(damaged) <= rtp.stats.dropped <= 2 * len(damaged)
    assert len(packs) == len(stream.frames) - rtp.stats.dropped
    demuxer = PsDemuxer()
    intact = [u for pack in packs for u in demuxer.feed(pack) + demuxer.flush()]
    whole = {stream.frames[f.index].data for f in sender.frames if f.index not in damaged}
    assert {u.data for u in intact} <= whole


def test_payload_is_checked(stream: EncodedStream) -> None:
    with pytest.raises(ValueError, match="payload"):
        RtpSender(stream, "127.0.0.1:9", PT, payload="mp2t")
    h264 = RtpSender(stream, "127.0.0.1:9", PT)
    assert h264.stats().ps_bytes == 0
    h264.stop()
