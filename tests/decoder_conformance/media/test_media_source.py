"""The media source: CBR encode accuracy, RTP on the wire (UDP and RFC 4571 TCP), pacing,
impairments, ground truth against what a local receiver got, and the destination rule.

One 3 s 640x360 30 fps 1000 kbit/s stream is encoded once (cached) and shared. Only the
real-time case runs at speed 1; the impairment cases send the same stream 4x faster.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import pytest

from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.pattern import pattern_planes
from decoder_conformance.media.sender import Impairments, RtpSender, parse_destination
from decoder_conformance.waiting import Deadline, WaitTimeout
from wire.h264 import NAL_TYPE_PPS, NAL_TYPE_SPS, Depacketizer, split_annexb
from wire.rtp import RtpPacket, seq_distance
from wire.rtp_tcp import Deframer

FPS = 30
KBPS = 1000
SECONDS = 3
PT = 96


@pytest.fixture(scope="module")
def stream() -> EncodedStream:
    return EncodedStream.cbr(640, 360, FPS, KBPS, SECONDS)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@dataclass(frozen=True)
class Arrival:
    t: float
    packet: RtpPacket


def receive_udp(sock: socket.socket, sender: RtpSender, timeout: float) -> list[Arrival]:
    """Everything that arrives while the sender runs, then what is left in the socket."""
    deadline = Deadline(timeout)
    got: list[Arrival] = []
    while True:
        finished = sender.finished
        sock.settimeout(min(0.2, max(0.01, deadline.remaining)))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            if finished:
                return got
            if deadline.expired:
                raise WaitTimeout(
                    f"sender still running after {timeout} s; got {len(got)}"
                ) from None
            continue
        got.append(Arrival(time.monotonic(), RtpPacket.parse(data)))


def decode(packets: list[RtpPacket]) -> tuple[int, int]:
    """(frames decoded, damaged access units) from packets of one SSRC, in sequence order.

    Damaged units may fail to decode; an undamaged one must not."""
    depacketizer = Depacketizer()
    codec = av.CodecContext.create("h264", "r")
    units = []
    for packet in sorted(
        packets, key=lambda p: seq_distance(packets[0].sequence_number, p.sequence_number)
    ):
        units.extend(depacketizer.push_packet(packet))
    units.extend(depacketizer.flush())
    frames = 0
    for unit in units:
        try:
            frames += len(codec.decode(av.Packet(unit.data)))
        except av.error.InvalidDataError:
            assert unit.damaged, "an undamaged access unit failed to decode"
    frames += len(codec.decode(None))
    return frames, sum(u.damaged for u in units)


# --- encoding --------------------------------------------------------------------------------


def test_cbr_bitrate_per_second_and_gop(stream: EncodedStream) -> None:
    per_second = stream.kbps_per_second()
    assert len(stream.frames) == FPS * SECONDS and len(per_second) == SECONDS
    for second, kbps in enumerate(per_second[1:], 2):
        assert abs(kbps - KBPS) <= 0.05 * KBPS, f"second {second}: {kbps:.0f} kbit/s ({per_second})"
    assert stream.keyframe_indices == [0, 30, 60]
    for frame in stream.frames:
        types = {nal[0] & 0x1F for nal in split_annexb(frame.data)}
        assert ({NAL_TYPE_SPS, NAL_TYPE_PPS} <= types) == frame.keyframe, (frame.index, types)
    again = EncodedStream.cbr(640, 360, FPS, KBPS, SECONDS)
    assert again.segments == stream.segments  # served from the cache, encode time included


def test_gop_and_bitrate_change() -> None:
    changed = EncodedStream.bitrate_change(300, 900, 1, 2, width=320, height=180, gop_seconds=0.5)
    assert changed.keyframe_indices == [0, 15, 30, 45]
    assert [s.kbps for s in changed.segments] == [300, 900]
    before, after = changed.kbps_per_second()
    assert 2.4 < after / before < 3.6, (before, after)
    with pytest.raises(ValueError, match="inside"):
        EncodedStream.bitrate_change(300, 900, 2, 2)


def test_pattern_is_deterministic_and_carries_the_counter() -> None:
    y7, u7, v7 = pattern_planes(64, 48, 7)
    y7b, _, _ = pattern_planes(64, 48, 7)
    y8, _, _ = pattern_planes(64, 48, 8)
    assert (y7 == y7b).all() and y7.shape == (48, 64) and u7.shape == v7.shape == (24, 32)
    assert (y7[:14, :50] != y8[:14, :50]).any()  # the last digit of the counter changed


# --- UDP, real time --------------------------------------------------------------------------


def test_udp_real_time_rtp_and_ground_truth(stream: EncodedStream, receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    with RtpSender(stream, f"127.0.0.1:{port}", PT) as sender:
        got = receive_udp(receiver, sender, timeout=10)
        stats = sender.wait(1)
    packets = [a.packet for a in got]
    assert stats.packets_sent == len(packets) > len(stream.frames)
    assert stats.packets_dropped == 0 and stats.frames_sent == len(stream.frames)
    assert {p.ssrc for p in packets} == {sender.ssrc}
    assert {p.payload_type for p in packets} == {PT}
    assert packets[0].sequence_number == sender.first_sequence
    for previous, current in itertools.pairwise(packets):
        assert seq_distance(previous.sequence_number, current.sequence_number) == 1
    timestamps = sorted(
        {p.timestamp for p in packets}, key=lambda t: (t - packets[0].timestamp) % (1 << 32)
    )
    assert timestamps[0] == sender.first_timestamp and len(timestamps) == len(stream.frames)
    assert {(b - a) % (1 << 32) for a, b in itertools.pairwise(timestamps)} == {3000}
    markers = [i for i, p in enumerate(packets) if p.marker]
    assert len(markers) == len(stream.frames)
    for i in markers[:-1]:
        assert packets[i + 1].timestamp != packets[i].timestamp  # marker = last of its frame
    assert stats.payload_bytes == sum(len(p.payload) for p in packets)
    assert stats.rtp_bytes == sum(len(p.to_bytes()) for p in packets)
    # Pacing: frame i's marker packet arrives at first + i/fps.
    arrivals = [got[i].t for i in markers]
    span = arrivals[-1] - got[0].t
    assert abs(span - (len(stream.frames) - 1) / FPS) < 0.2, f"last frame after {span:.3f} s"
    late = max(abs(t - (arrivals[0] + i / FPS)) for i, t in enumerate(arrivals))
    assert late < 0.1, f"a frame arrived {late * 1000:.0f} ms off its schedule"
    # Ground truth window: seconds 2-3 of payload, within 5 % of the encoded rate.
    assert sender.started_at is not None
    kbps = sender.sent_kbps(sender.started_at + 1, sender.started_at + 3)
    assert abs(kbps - KBPS) < 0.05 * KBPS, kbps
    assert [t for t, _ in sender.per_second()] == [1.0, 2.0, 3.0]
    assert decode(packets) == (len(stream.frames), 0)


def test_fields_are_random_per_sender(stream: EncodedStream) -> None:
    one, two = (RtpSender(stream, "127.0.0.1:9", PT) for _ in range(2))
    try:
        fields = [(s.ssrc, s.first_sequence, s.first_timestamp) for s in (one, two)]
        assert fields[0] != fields[1] and one.ssrc != one.other_ssrc
        assert one.local_address is not None and one.local_address[0] == "127.0.0.1"
    finally:
        one.stop()
        two.stop()


# --- impairments (4x speed) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("impairments", "low", "high"),
    [(Impairments(loss_fraction=0.05, seed=7), 0.03, 0.07), (Impairments(loss_every=10), 0.1, 0.1)],
    ids=["5-percent", "every-10th"],
)
def test_loss(
    stream: EncodedStream,
    receiver: socket.socket,
    impairments: Impairments,
    low: float,
    high: float,
) -> None:
    port = receiver.getsockname()[1]
    with RtpSender(stream, ("127.0.0.1", port), PT, impairments=impairments, speed=4) as sender:
        got = receive_udp(receiver, sender, timeout=10)
        stats = sender.wait(1)
    total = stats.packets_sent + stats.packets_dropped
    assert low - 0.005 <= stats.packets_dropped / total <= high + 0.005, stats
    if impairments.loss_every:
        assert stats.packets_dropped == total // impairments.loss_every
    packets = [a.packet for a in got]
    assert len(packets) == stats.packets_sent
    gaps = sum(
        seq_distance(a.sequence_number, b.sequence_number) - 1
        for a, b in itertools.pairwise(packets)
    )
    unseen = _run_length(sender, 0) + _run_length(sender, -1)  # no gap shows these
    assert gaps + unseen == stats.packets_dropped, (gaps, unseen, stats)
    assert stats.payload_bytes == sum(len(p.payload) for p in packets)
    frames, damaged = decode(packets)
    assert frames >= len(stream.frames) * 0.5 and damaged > 0


def _run_length(sender: RtpSender, end: int) -> int:
    """Dropped packets at the very start (end=0) or very end (end=-1): no gap shows them."""
    order = sender.packets if end == 0 else sender.packets[::-1]
    count = 0
    for record in order:
        if not record.dropped:
            break
        count += 1
    return count


def test_reorder_and_a_second_ssrc(stream: EncodedStream, receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    impairments = Impairments(reorder=0.1, other_ssrc_from=60, other_ssrc_mode="add", seed=3)
    with RtpSender(stream, f"127.0.0.1:{port}", PT, impairments=impairments, speed=4) as sender:
        got = receive_udp(receiver, sender, timeout=10)
        stats = sender.wait(1)
    packets = [a.packet for a in got]
    assert [p.ssrc for p in packets[:3]] == [sender.ssrc] * 3
    assert {p.ssrc for p in packets} == {sender.ssrc, sender.other_ssrc}
    first = [p for p in packets if p.ssrc == sender.ssrc]
    second = [p for p in packets if p.ssrc == sender.other_ssrc]
    assert len({p.timestamp for p in second}) == len(stream.frames) - 60
    assert stats.frames_sent == len(stream.frames) + len(stream.frames) - 60
    descents = sum(
        seq_distance(a.sequence_number, b.sequence_number) < 0
        for group in (first, second)
        for a, b in itertools.pairwise(group)
    )
    assert descents == stats.packets_reordered > 0
    assert sender.payload_bytes(0, float("inf"), sender.ssrc) == sum(len(p.payload) for p in first)
    assert decode(first) == (len(stream.frames), 0)
    assert decode(second) == (len(stream.frames) - 60, 0)  # it starts at an IDR


def test_switch_to_another_ssrc(stream: EncodedStream, receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    impairments = Impairments(other_ssrc_from=30)
    with RtpSender(stream, f"127.0.0.1:{port}", PT, impairments=impairments, speed=4) as sender:
        got = receive_udp(receiver, sender, timeout=10)
        sender.wait(1)
    ssrcs = [a.packet.ssrc for a in got]
    switch = ssrcs.index(sender.other_ssrc)
    assert set(ssrcs[:switch]) == {sender.ssrc} and set(ssrcs[switch:]) == {sender.other_ssrc}
    assert got[switch - 1].packet.marker  # the switch happens between frames


# --- TCP (RFC 4571) --------------------------------------------------------------------------


def test_tcp_rfc4571_round_trip(stream: EncodedStream) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = RtpSender(stream, listener.getsockname(), PT, tcp=True, speed=4).start()
        try:
            conn, peer = listener.accept()
            assert peer[0] == "127.0.0.1"
            deframer = Deframer()
            packets: list[RtpPacket] = []
            conn.settimeout(0.2)
            deadline = Deadline(10)
            with conn:
                # The sender keeps the connection open until stop(): the last chunk can arrive
                # before `finished` is set, so a quiet connection re-checks instead of blocking.
                while not (sender.finished and len(packets) == sender.stats().packets_sent):
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        assert not deadline.expired, "the TCP stream stalled"
                        continue
                    if not chunk:
                        break
                    packets.extend(RtpPacket.parse(p) for p in deframer.feed(chunk))
            stats = sender.wait(10)
        finally:
            sender.stop()
    assert deframer.pending == 0 and len(packets) == stats.packets_sent
    assert stats.payload_bytes == sum(len(p.payload) for p in packets)
    assert deframer.octets == stats.rtp_bytes + 2 * stats.packets_sent
    assert decode(packets) == (len(stream.frames), 0)


def test_error_in_the_sending_thread_is_raised_in_the_caller(stream: EncodedStream) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = RtpSender(stream, listener.getsockname(), PT, tcp=True, speed=4).start()
        conn, _ = listener.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # reset: the sender's next writes fail
        with pytest.raises(RuntimeError, match="RTP sender thread failed"):
            sender.wait(10)
        with pytest.raises(RuntimeError, match="RTP sender thread failed"):
            sender.stop()


# --- destination rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "192.0.2.2:5004",
        "localhost:5004",
        "127.0.0.2:5004",
        "0.0.0.0:5004",
        "127.0.0.1:0",
        "127.0.0.1",
        "127.0.0.1:x",
    ],
)
def test_other_destinations_are_refused(stream: EncodedStream, destination: str) -> None:
    with pytest.raises(ValueError, match=r"refusing|port|host:port"):
        RtpSender(stream, destination, PT)


def test_an_explicitly_allowed_device_host_is_accepted(stream: EncodedStream) -> None:
    sender = RtpSender(stream, "192.0.2.2:5004", PT, allowed_hosts=["192.0.2.2"])
    assert (sender.host, sender.port) == parse_destination("192.0.2.2:5004")
    sender.stop()  # never started: nothing was sent; the socket is closed
    with pytest.raises(ValueError, match="payload type"):
        RtpSender(stream, "127.0.0.1:5004", 128)


def test_media_comes_from_the_suite_host(stream: EncodedStream, receiver: socket.socket) -> None:
    """bind_host (--suite-host) is where the media leaves from; it never widens the destinations.

    127.0.0.2 stands for a lab suite host: bound here, never sent to (traffic goes to 127.0.0.1).
    """
    suite_host = "127.0.0.2"
    sender = RtpSender(
        stream, receiver.getsockname(), PT, bind_host=suite_host, speed=4.0, allowed_hosts=()
    )
    local = sender.local_address
    assert local is not None and local[0] == suite_host
    receiver.settimeout(5.0)
    sender.start()
    try:
        _data, source = receiver.recvfrom(65535)
    finally:
        sender.stop()
    assert source == local
    with pytest.raises(ValueError, match="refusing"):
        RtpSender(stream, f"{suite_host}:5004", PT, bind_host=suite_host)
    with pytest.raises(TypeError, match="not one string"):
        RtpSender(stream, "192.0.2.2:5004", PT, allowed_hosts="192.0.2.2")
