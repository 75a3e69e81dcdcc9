"""The media source's abilities the media-depth cases use: a loss burst, packetization-mode 0,
datagrams read back from the decoder (RTCP feedback), streams without in-band parameter sets, and
a resolution change. The streams go to a local socket 4x faster than real time."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import av
import pytest

from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import Impairments, RtpSender
from decoder_conformance.waiting import poll_until
from wire.h264 import NAL_TYPE_PPS, NAL_TYPE_SPS, split_annexb
from wire.rtp import RtpPacket

PT = 96


@pytest.fixture(scope="module")
def stream() -> EncodedStream:
    return EncodedStream.cbr(640, 360, 30, 1000, 2.0)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def _drain(sock: socket.socket, count: int) -> list[tuple[RtpPacket, tuple[str, int]]]:
    got = []
    for _ in range(count):
        data, source = sock.recvfrom(65536)
        got.append((RtpPacket.parse(data), source[:2]))
    return got


def test_loss_burst_drops_every_packet_of_its_frames(
    stream: EncodedStream, receiver: socket.socket
) -> None:
    port = receiver.getsockname()[1]
    impairments = Impairments(loss_burst=(10, 3))
    with RtpSender(stream, ("127.0.0.1", port), PT, impairments=impairments, speed=4) as sender:
        stats = sender.wait(10)
        got = _drain(receiver, stats.packets_sent)
    assert {p.frame for p in sender.packets if p.dropped} == {10, 11, 12}
    assert not any(p.dropped for p in sender.packets if p.frame not in (10, 11, 12))
    lost = {p.sequence_number for p in sender.packets if p.dropped}
    assert lost and not lost & {packet.sequence_number for packet, _ in got}


@pytest.mark.parametrize("burst", [(-1, 2), (0, 0)])
def test_a_bad_loss_burst_is_refused(burst: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="loss_burst"):
        Impairments(loss_burst=burst)


def test_packetization_mode_0_sends_single_nal_unit_packets(receiver: socket.socket) -> None:
    sliced = EncodedStream.cbr(640, 360, 30, 1000, 1.0, slice_max_size=1100)
    assert max(len(n) for f in sliced.frames for n in split_annexb(f.data)) <= 1100
    port = receiver.getsockname()[1]
    with RtpSender(sliced, ("127.0.0.1", port), PT, packetization_mode=0, speed=4) as sender:
        stats = sender.wait(10)
        got = _drain(receiver, stats.packets_sent)
    nals = [n for f in sliced.frames for n in split_annexb(f.data)]
    assert [packet.payload for packet, _ in got] == nals  # one NAL unit per packet, in order
    assert {packet.payload[0] & 0x1F for packet, _ in got} <= set(range(1, 24))


def test_packetization_mode_0_refuses_a_nal_unit_larger_than_the_mtu(
    stream: EncodedStream,
) -> None:
    sender = RtpSender(stream, ("127.0.0.1", 9), PT, packetization_mode=0)
    try:
        with pytest.raises(ValueError, match="slice_max_size"):
            sender.start()
    finally:
        sender.stop()
    with pytest.raises(ValueError, match="packetization_mode"):
        RtpSender(stream, ("127.0.0.1", 9), PT, packetization_mode=2)


def test_datagrams_sent_back_to_the_sender_are_kept(
    stream: EncodedStream, receiver: socket.socket
) -> None:
    port = receiver.getsockname()[1]
    with RtpSender(stream, ("127.0.0.1", port), PT, speed=4) as sender:
        _, source = _drain(receiver, 1)[0]
        assert source == sender.local_address
        receiver.sendto(b"\x81\xce\x00\x02feedback", source)  # a PLI-shaped datagram back
        back = poll_until(sender.received, bool, timeout=5.0, expected="the datagram back")
        sender.wait(10)
    assert [(r.source, r.data) for r in back] == [
        (receiver.getsockname(), b"\x81\xce\x00\x02feedback")
    ]
    assert sender.received() == back  # kept after stop()


def test_parameter_sets_can_be_taken_out_of_band(stream: EncodedStream) -> None:
    sets = stream.parameter_sets()
    assert [n[0] & 0x1F for n in sets] == [NAL_TYPE_SPS, NAL_TYPE_PPS]
    bare = stream.without_parameter_sets()
    left = {n[0] & 0x1F for f in bare.frames for n in split_annexb(f.data)}
    assert not left & {NAL_TYPE_SPS, NAL_TYPE_PPS}
    assert [f.keyframe for f in bare.frames] == [f.keyframe for f in stream.frames]
    codec = av.CodecContext.create("h264", "r")
    head = b"".join(b"\x00\x00\x00\x01" + n for n in sets)
    frames = sum(
        len(codec.decode(av.Packet((head if i == 0 else b"") + f.data)))
        for i, f in enumerate(bare.frames)
    )
    assert frames == len(bare.frames)


def test_resolution_change_starts_the_new_size_at_an_idr() -> None:
    changed = EncodedStream.resolution_change((640, 360), (480, 270), 1.0, 2.0)
    assert (changed.width, changed.height) == (480, 270)
    assert changed.sizes == ((640, 360), (480, 270))
    assert len(changed.frames) == 60 and changed.frames[30].keyframe
    assert [f.index for f in changed.frames] == list(range(60))
    codec = av.CodecContext.create("h264", "r")
    sizes = [
        (fr.width, fr.height) for f in changed.frames for fr in codec.decode(av.Packet(f.data))
    ]
    assert sizes == [(640, 360)] * 30 + [(480, 270)] * 30
