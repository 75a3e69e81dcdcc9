"""wire.rtp_tcp: RFC 4571 framing, deframing of a stream cut anywhere, the max_length guard."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.rtp import RtpPacket
from wire.rtp_tcp import Deframer, FrameTooLarge, frame

PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)

PACKET = RtpPacket(96, 1, 2, 3, b"payload", marker=True).to_bytes()


def test_frame_prefixes_the_big_endian_length() -> None:
    assert frame(PACKET) == bytes([0, len(PACKET)]) + PACKET
    assert frame(b"\xff" * 300)[:2] == b"\x01\x2c"
    assert frame(b"") == b"\x00\x00"
    assert len(frame(bytes(65535))) == 65537
    with pytest.raises(ValueError, match="65536 octets does not fit"):
        frame(bytes(65536))


def test_deframer_handles_partial_and_multiple_frames() -> None:
    deframer = Deframer()
    stream = frame(PACKET) + frame(b"second") + frame(b"third")
    assert deframer.feed(stream[:1]) == []  # half a length prefix
    assert deframer.feed(stream[1:5]) == []
    assert deframer.pending == 5
    assert deframer.feed(stream[5:]) == [PACKET, b"second", b"third"]
    assert deframer.pending == 0 and deframer.frames == 3 and deframer.octets == len(stream)


def test_zero_length_frames_are_skipped() -> None:
    deframer = Deframer()
    assert deframer.feed(frame(b"") + frame(b"a") + frame(b"") + frame(b"") + frame(b"b")) == [
        b"a",
        b"b",
    ]
    assert (deframer.frames, deframer.empty) == (2, 3)


def test_max_length_guard_says_what_was_seen() -> None:
    deframer = Deframer(max_length=1500)
    stream = frame(b"ok") + b"\x17\x70" + bytes(10)
    with pytest.raises(FrameTooLarge, match="stream octet 4 announces 6000 octets") as caught:
        deframer.feed(stream)
    assert isinstance(caught.value, ValueError)
    assert "max_length 1500" in str(caught.value) and "1770" in str(caught.value)
    assert caught.value.packets == [b"ok"]  # what came before the bad frame is not lost
    with pytest.raises(FrameTooLarge, match="announces 6000"):
        deframer.feed(frame(b"more"))  # framing is lost for good


def test_max_length_is_checked_on_construction() -> None:
    for bad in (0, 65536):
        with pytest.raises(ValueError, match=f"max_length {bad}"):
            Deframer(bad)


@PROPERTY
@given(
    st.lists(st.binary(max_size=1500), max_size=20),
    st.lists(st.integers(1, 700), min_size=1, max_size=50),
)
def test_property_stream_cut_into_random_chunks_deframes_to_the_packets(
    packets: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(frame(p) for p in packets)
    deframer = Deframer()
    received: list[bytes] = []
    offset, index = 0, 0
    while offset < len(stream):
        size = cuts[index % len(cuts)]
        received += deframer.feed(stream[offset : offset + size])
        offset += size
        index += 1
    assert received == [p for p in packets if p]
    assert deframer.pending == 0
    assert deframer.empty == sum(1 for p in packets if not p)


@PROPERTY
@given(st.binary(max_size=300), st.integers(1, 400))
def test_property_garbage_stream_yields_packets_or_value_error(garbage: bytes, limit: int) -> None:
    deframer = Deframer(max_length=limit)
    try:
        packets = deframer.feed(garbage)
    except ValueError:
        return
    assert all(0 < len(p) <= limit for p in packets)
    assert sum(len(p) + 2 for p in packets) + deframer.empty * 2 + deframer.pending == len(garbage)
