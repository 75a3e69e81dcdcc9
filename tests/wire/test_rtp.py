"""wire.rtp: byte-exact RTP/RTCP round trips, truncation loops, RFC 5761 demux, seq tracking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import rtp
from wire.rtp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpUnknown,
    RtpPacket,
    SenderReport,
    SequenceTracker,
    is_rtcp,
    make_padding,
    parse_rtcp,
    seq_distance,
    serialize_rtcp,
)

PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)

# V=2, PT 96, seq 0x1234, ts 0xdeadbeef, SSRC 0x01020304, payload "hello".
PLAIN = bytes.fromhex("80601234deadbeef01020304") + b"hello"
# V=2 CC=2 M=1 PT 97, two CSRCs.
WITH_CSRC = bytes.fromhex("82e1ffff0000000a0badcafe") + bytes.fromhex("11111111 22222222") + b"\x65"
# X=1: profile 0xbede (RFC 8285 one-byte), one word of extension data.
WITH_EXTENSION = bytes.fromhex("9060000100000002cafebabebede000110ff0000") + b"payload"
# P=1: 3 octets of padding (00 00 03) after a 4-octet payload.
WITH_PADDING = bytes.fromhex("a060000200000003cafebabe") + b"abcd" + make_padding(3)
# Everything at once: P, X, CC=1, marker.
EVERYTHING = (
    bytes.fromhex("b1e0000300000004cafebabeaaaaaaaa100000020102030405060708")
    + b"\x7c\x85data"
    + make_padding(4)
)
VALID_RTP = {
    "plain": PLAIN,
    "csrc": WITH_CSRC,
    "extension": WITH_EXTENSION,
    "padding": WITH_PADDING,
    "everything": EVERYTHING,
}

BLOCK = ReportBlock(0x0A0B0C0D, 25, -3, (2 << 16) | 17, 120, 0x12345678, 0x00010000)
SR = SenderReport(0x11223344, 0xE1F2A3B4_C5D6E7F8, 90000, 1000, 1_200_000, [BLOCK])
RR = ReceiverReport(0x55667788, [BLOCK, ReportBlock(1, 0, 0, 65535, 0, 0, 0)])
# SDES with one chunk: SSRC, CNAME (1) "alice", end of list, no alignment needed.
SDES = RtcpUnknown(rtp.RTCP_SDES, 1, bytes.fromhex("11223344 0105616c696365 00"))
BYE = Bye([0x11223344], "camera off")
COMPOUND = serialize_rtcp([SR, RR, SDES, BYE])


@pytest.mark.parametrize("name", sorted(VALID_RTP))
def test_rtp_round_trip_is_byte_exact(name: str) -> None:
    data = VALID_RTP[name]
    packet = rtp.parse(data)
    assert packet.to_bytes() == data
    assert RtpPacket.parse(packet.to_bytes()) == packet


def test_rtp_fields() -> None:
    plain = rtp.parse(PLAIN)
    assert (plain.payload_type, plain.sequence_number, plain.timestamp, plain.ssrc) == (
        96,
        0x1234,
        0xDEADBEEF,
        0x01020304,
    )
    assert (plain.marker, plain.csrc, plain.extension_profile, plain.padding) == (
        False,
        [],
        None,
        b"",
    )
    assert plain.payload == b"hello"

    csrc = rtp.parse(WITH_CSRC)
    assert csrc.marker and csrc.payload_type == 97 and csrc.sequence_number == 65535
    assert csrc.csrc == [0x11111111, 0x22222222] and csrc.payload == b"\x65"

    ext = rtp.parse(WITH_EXTENSION)
    assert ext.extension_profile == 0xBEDE and ext.extension == bytes.fromhex("10ff0000")
    assert ext.payload == b"payload"

    padded = rtp.parse(WITH_PADDING)
    assert padded.payload == b"abcd" and padded.padding == b"\x00\x00\x03"

    everything = rtp.parse(EVERYTHING)
    assert everything.csrc == [0xAAAAAAAA] and everything.extension_profile == 0x1000
    assert everything.extension == bytes(range(1, 9)) and everything.payload == b"\x7c\x85data"
    assert len(everything.padding) == 4


def test_rtp_built_from_fields_serializes_as_rfc3550_says() -> None:
    packet = RtpPacket(96, 7, 3000, 0xABCDEF01, b"xy", marker=True, padding=make_padding(2))
    assert packet.to_bytes() == bytes.fromhex("a0e0000700000bb8abcdef01") + b"xy\x00\x02"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 12-octet header"),
        (bytes.fromhex("40601234deadbeef01020304"), "version is 1"),
        (bytes.fromhex("83601234deadbeef01020304") + bytes(8), "announces 3 CSRCs"),
        (bytes.fromhex("90601234deadbeef01020304bede"), "before the 4-octet extension header"),
        (bytes.fromhex("90601234deadbeef01020304bede0002") + bytes(4), "announces 2 words"),
        (bytes.fromhex("a0601234deadbeef01020304"), "no octets after the header"),
        (bytes.fromhex("a0601234deadbeef01020304") + b"ab\x00", "padding count of 0"),
        (bytes.fromhex("a0601234deadbeef01020304") + b"ab\x09", "padding count 9 is larger"),
    ],
)
def test_rtp_parse_errors_are_precise(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtp.parse(data)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (RtpPacket(payload_type=128), "payload type 128"),
        (RtpPacket(sequence_number=65536), "sequence number 65536"),
        (RtpPacket(timestamp=1 << 32), "RTP timestamp"),
        (RtpPacket(csrc=list(range(16))), "CSRC count 16"),
        (RtpPacket(extension_profile=1, extension=b"abc"), "not a whole number"),
        (RtpPacket(extension=b"abcd"), "without an extension profile"),
        (RtpPacket(padding=b"\x00\x01\x05"), "ending in its length"),
    ],
)
def test_rtp_serialize_refuses_fields_that_do_not_fit(packet: RtpPacket, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        packet.to_bytes()


@pytest.mark.parametrize("name", sorted(VALID_RTP))
def test_every_rtp_prefix_parses_or_raises_value_error(name: str) -> None:
    data = VALID_RTP[name]
    parsed = 0
    for size in range(len(data) + 1):
        try:
            packet = rtp.parse(data[:size])
        except ValueError:
            continue
        parsed += 1
        assert packet.to_bytes() == data[:size]
    assert parsed >= 1  # at least the whole packet


rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 65535),
    timestamp=st.integers(0, (1 << 32) - 1),
    ssrc=st.integers(0, (1 << 32) - 1),
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, (1 << 32) - 1), max_size=15),
    extension_profile=st.none() | st.integers(0, 0xFFFF),
    extension=st.just(b""),
    padding=st.none().map(lambda _: b"") | st.integers(1, 255).map(make_padding),
)


@PROPERTY
@given(rtp_packets, st.binary(max_size=3).map(lambda b: b * 4))
def test_property_rtp_fields_round_trip(packet: RtpPacket, extension: bytes) -> None:
    if packet.extension_profile is not None:
        packet.extension = extension
    data = packet.to_bytes()
    assert rtp.parse(data) == packet
    assert rtp.parse(data).to_bytes() == data


@PROPERTY
@given(st.sampled_from(sorted(VALID_RTP)), st.data())
def test_property_mutated_rtp_parses_or_raises_value_error(name: str, draw: st.DataObject) -> None:
    data = bytearray(VALID_RTP[name])
    for _ in range(draw.draw(st.integers(1, 4))):
        data[draw.draw(st.integers(0, len(data) - 1))] = draw.draw(st.integers(0, 255))
    try:
        packet = rtp.parse(bytes(data))
    except ValueError:
        return
    assert packet.to_bytes() == bytes(data)


def test_is_rtcp_demultiplexes_as_rfc5761_says() -> None:
    assert is_rtcp(SR.to_bytes()) and is_rtcp(RR.to_bytes()) and is_rtcp(COMPOUND)
    assert is_rtcp(BYE.to_bytes())
    for payload_type in (0, 8, 96, 127):
        for marker in (False, True):
            data = RtpPacket(payload_type, 1, 2, 3, b"x", marker=marker).to_bytes()
            assert not is_rtcp(data), (payload_type, marker)
    # PT 72-79 with the marker set is exactly what RFC 5761 forbids on a shared port: it reads as
    # RTCP SR..PSFB.
    assert is_rtcp(RtpPacket(72, marker=True).to_bytes())
    assert not is_rtcp(b"") and not is_rtcp(b"\x80") and not is_rtcp(b"\x00\xc8\x00\x00")


def test_rtcp_compound_round_trip_is_byte_exact() -> None:
    packets = parse_rtcp(COMPOUND)
    assert packets == [SR, RR, SDES, BYE]
    assert serialize_rtcp(packets) == COMPOUND
    sender = packets[0]
    assert isinstance(sender, SenderReport)
    assert sender.reports[0].cumulative_lost == -3
    assert sender.reports[0].highest_sequence == 131089
    assert [p.packet_type for p in packets] == [200, 201, 202, 203]


def test_rtcp_known_vector() -> None:
    # RR from SSRC 1, one block for SSRC 2: 10% lost (25/256), 5 lost, ext highest 0x00010005.
    data = bytes.fromhex("81c90007 00000001 00000002 19000005 00010005 00000020 11112222 00000004")
    (report,) = parse_rtcp(data)
    assert report == ReceiverReport(1, [ReportBlock(2, 25, 5, 0x10005, 32, 0x11112222, 4)])
    assert report.to_bytes() == data


def test_rtcp_padding_and_extension_survive() -> None:
    padded = ReceiverReport(9, [], extension=b"prof", padding=make_padding(4))
    data = serialize_rtcp([SR, padded])
    assert data[len(SR.to_bytes())] & 0x20  # P bit on the last packet
    assert parse_rtcp(data) == [SR, padded]
    assert serialize_rtcp(parse_rtcp(data)) == data


def test_bye_without_reason_and_with_odd_reason() -> None:
    for bye in (Bye([1, 2, 3]), Bye([], "x"), Bye([7], "abc"), Bye([7], "")):
        data = bye.to_bytes()
        assert len(data) % 4 == 0
        assert parse_rtcp(data) == [bye]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (bytes.fromhex("80c800"), "only 3 octets left"),
        (bytes.fromhex("40c90001 00000001"), "version is 1"),
        (bytes.fromhex("80c90002 00000001"), "length field says 8 octets"),
        (bytes.fromhex("81c90001 00000001"), "announces 1 report blocks"),
        (bytes.fromhex("80c80001 00000001"), "shorter than SSRC plus sender info"),
        (bytes.fromhex("80c90000"), "no room for the SSRC"),
        (bytes.fromhex("82cb0001 00000001"), "announces 2 sources"),
        (bytes.fromhex("81cb0002 00000001 09616263"), "reason announces 9 octets"),
        (bytes.fromhex("81cb0002 00000001 01610001"), "after its reason"),
        (bytes.fromhex("a0c90001 00000000"), "padding count of 0"),
        (COMPOUND + bytes.fromhex("80c9"), f"RTCP packet 4 at octet {len(COMPOUND)}"),
    ],
)
def test_rtcp_parse_errors_are_precise(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtcp(data)


def test_every_rtcp_prefix_parses_or_raises_value_error() -> None:
    boundaries = set()
    for size in range(len(COMPOUND) + 1):
        try:
            packets = parse_rtcp(COMPOUND[:size])
        except ValueError:
            continue
        boundaries.add(size)
        assert serialize_rtcp(packets) == COMPOUND[:size]
    lengths = [len(p.to_bytes()) for p in (SR, RR, SDES, BYE)]
    expected = {sum(lengths[: i + 1]) for i in range(4)}
    assert boundaries == expected


@PROPERTY
@given(st.data())
def test_property_mutated_rtcp_parses_or_raises_value_error(draw: st.DataObject) -> None:
    data = bytearray(COMPOUND)
    for _ in range(draw.draw(st.integers(1, 4))):
        data[draw.draw(st.integers(0, len(data) - 1))] = draw.draw(st.integers(0, 255))
    try:
        packets = parse_rtcp(bytes(data))
    except ValueError:
        return
    assert serialize_rtcp(packets) == bytes(data)


def test_report_block_refuses_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="cumulative lost 8388608"):
        ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0).to_bytes()
    with pytest.raises(ValueError, match="fraction lost 256"):
        ReportBlock(1, 256, 0, 0, 0, 0, 0).to_bytes()
    with pytest.raises(ValueError, match="count 32"):
        ReceiverReport(1, [BLOCK] * 32).to_bytes()


# --- sequence numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        (0, 1, 1),
        (1, 0, -1),
        (65535, 0, 1),
        (0, 65535, -1),
        (65500, 10, 46),
        (5, 5, 0),
        (0, 32767, 32767),
        (0, 32768, -32768),
    ],
)
def test_seq_distance_wraps(a: int, b: int, distance: int) -> None:
    assert seq_distance(a, b) == distance


def test_tracker_counts_across_the_wrap() -> None:
    tracker = SequenceTracker()
    assert all(tracker.update(seq & 0xFFFF) for seq in range(65530, 65540))
    assert (tracker.cycles, tracker.max_seq, tracker.extended_max) == (1, 3, 65536 + 3)
    assert (tracker.expected, tracker.received, tracker.lost) == (10, 10, 0)


def test_tracker_loss_duplicates_reordering_and_late() -> None:
    tracker = SequenceTracker()
    for seq in (100, 101, 103, 104):
        assert tracker.update(seq)
    assert (tracker.expected, tracker.lost) == (5, 1)
    assert not tracker.update(104)  # duplicate of the highest
    assert not tracker.update(101)  # duplicate of an older one
    assert tracker.duplicates == 2
    assert tracker.update(102)  # late but within the misorder window: fills the gap
    assert (tracker.reordered, tracker.lost) == (1, 0)
    assert not tracker.update(99)  # before the first packet
    assert tracker.late == 1
    assert tracker.received == 5 and tracker.lost == 0


def test_tracker_resynchronizes_after_two_consecutive_jumps() -> None:
    tracker = SequenceTracker()
    assert tracker.update(10) and tracker.update(11)
    assert not tracker.update(40000)  # a jump: A.1 waits for confirmation
    assert tracker.bad == 1 and tracker.max_seq == 11
    assert tracker.update(40001)  # the source restarted
    assert tracker.resyncs == 1 and tracker.max_seq == 40001
    assert tracker.update(40002)
    assert (tracker.expected, tracker.received, tracker.lost) == (4, 4, 0)
    assert not tracker.update(12)  # a straggler from the old run is now a jump
    assert not tracker.update(7)  # and so is a random one (not consecutive)
    assert tracker.resyncs == 1


@PROPERTY
@given(
    st.integers(0, 65535),
    st.lists(st.tuples(st.integers(0, 2), st.integers(-5, 2)), min_size=1, max_size=300),
)
def test_property_tracker_never_counts_negative_loss(
    start: int, steps: list[tuple[int, int]]
) -> None:
    tracker = SequenceTracker()
    accepted: set[int] = set()
    seq = start
    for advance, jitter in steps:
        seq = (seq + advance) & 0xFFFF
        candidate = (seq + jitter) & 0xFFFF
        if tracker.update(candidate):
            assert candidate not in accepted or tracker.cycles > 0
            accepted.add(candidate)
        assert tracker.lost >= 0
        assert tracker.expected - tracker.received == tracker.lost
    assert tracker.received + tracker.duplicates + tracker.late + tracker.bad == len(steps)
