"""wire.h264: NAL headers, Annex-B, RFC 6184 packetizer/depacketizer, on synthetic and real streams.

The real stream is 30 frames of a moving test pattern encoded in memory with PyAV/libx264
(baseline, no B-frames, sliced threads so frames carry two slices, an IDR every 10 frames); it is
split into access units with FFmpeg's parser, the same way the media source fixture does.
"""

from __future__ import annotations

import io
import itertools
import socket
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import h264, rtp
from wire.h264 import (
    NAL_TYPE_FU_A,
    NAL_TYPE_IDR,
    NAL_TYPE_PPS,
    NAL_TYPE_SEI,
    NAL_TYPE_SLICE,
    NAL_TYPE_SPS,
    NAL_TYPE_STAP_A,
    AccessUnit,
    Depacketizer,
    Packetizer,
    RtpPayload,
    is_keyframe,
    join_annexb,
    parse_fu_a,
    parse_nal_header,
    parse_stap_a,
    split_annexb,
)
from wire.rtp import RtpPacket

PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)

FRAMES = 30
WIDTH, HEIGHT = 320, 240
GOP = 10
CLOCK_PER_FRAME = 3000  # 90 kHz at 30 fps
SSRC = 0x12345678

SPS = bytes.fromhex("6742c01e8c8d40a0fd00f08846a0")
PPS = bytes.fromhex("68ce3c80")
IDR = bytes([0x65]) + bytes(range(256)) * 12  # 3073 octets
SLICE = bytes([0x41]) + b"\x9a" * 500


# --- NAL headers and Annex-B -----------------------------------------------------------------


def test_nal_type_constants_match_rfc6184_table1() -> None:
    named = {
        "SLICE": 1,
        "IDR": 5,
        "SEI": 6,
        "SPS": 7,
        "PPS": 8,
        "AUD": 9,
        "FILLER": 12,
        "STAP_A": 24,
        "STAP_B": 25,
        "MTAP16": 26,
        "MTAP24": 27,
        "FU_A": 28,
        "FU_B": 29,
    }
    assert {name: getattr(h264, f"NAL_TYPE_{name}") for name in named} == named


def test_nal_header_fields() -> None:
    header = parse_nal_header(SPS)
    assert (header.forbidden, header.nri, header.type) == (False, 3, NAL_TYPE_SPS)
    assert header.to_byte() == SPS[0]
    assert parse_nal_header(b"\xfc").forbidden
    assert parse_nal_header(SLICE) == h264.NalHeader(False, 2, NAL_TYPE_SLICE)
    with pytest.raises(ValueError, match="empty"):
        parse_nal_header(b"")


def test_split_annexb_takes_both_start_codes_and_drops_trailing_zeros() -> None:
    stream = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x00\x01\x65\x88"
    assert split_annexb(stream) == [SPS, PPS, b"\x65\x88"]
    assert split_annexb(b"\x00" * 5 + b"\x00\x00\x01\x09\xf0") == [b"\x09\xf0"]
    assert split_annexb(b"") == [] and split_annexb(b"\x00\x00") == []
    assert split_annexb(b"\x00\x00\x01\x00\x00\x01\x67") == [b"\x67"]  # empty NAL unit skipped
    with pytest.raises(ValueError, match="3 octets before its first start code"):
        split_annexb(b"\x00\x07\x00\x00\x00\x01\x67")


def test_join_annexb_uses_four_octet_start_codes() -> None:
    assert join_annexb([SPS, PPS]) == b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS
    assert join_annexb([]) == b""


nal_units = st.builds(
    lambda nri, kind, body: bytes([(nri << 5) | kind]) + body,
    st.integers(0, 3),
    st.integers(1, 23),
    st.binary(max_size=4999).map(lambda b: b.replace(b"\x00", b"\x01")),
)


@PROPERTY
@given(st.lists(nal_units, max_size=8))
def test_property_annexb_join_split_identity(nals: list[bytes]) -> None:
    assert split_annexb(join_annexb(nals)) == nals


def test_is_keyframe() -> None:
    assert is_keyframe(join_annexb([SPS, PPS, IDR]))
    assert not is_keyframe(join_annexb([SLICE]))
    assert not is_keyframe(join_annexb([SPS, PPS]))
    assert not is_keyframe(b"") and not is_keyframe(b"\x65\x00\x00")


# --- packetizer ------------------------------------------------------------------------------


def test_sps_pps_aggregate_and_the_idr_is_fragmented() -> None:
    payloads = Packetizer(1200).packetize([SPS, PPS, IDR])
    assert [p.marker for p in payloads] == [False, False, False, True]
    stap = payloads[0].payload
    assert stap[0] == 0x60 | NAL_TYPE_STAP_A  # NRI is the highest of the aggregated NAL units
    assert parse_stap_a(stap) == [SPS, PPS]
    fragments = [parse_fu_a(p.payload) for p in payloads[1:]]
    assert [(f.start, f.end) for f in fragments] == [(True, False), (False, False), (False, True)]
    assert all(p.payload[0] == 0x60 | NAL_TYPE_FU_A for p in payloads[1:])  # F|NRI of the IDR
    assert all(f.nal_type == NAL_TYPE_IDR and f.nri == 3 for f in fragments)
    assert bytes([fragments[0].nal_header]) + b"".join(f.data for f in fragments) == IDR
    assert max(len(p.payload) for p in payloads) <= 1200
    sizes = [len(f.data) for f in fragments]
    assert max(sizes) - min(sizes) <= 1  # near-equal fragments


def test_single_nal_units_and_no_aggregation_when_they_do_not_fit() -> None:
    payloads = Packetizer(600).packetize([SLICE, SLICE])
    assert payloads == [RtpPayload(SLICE, False), RtpPayload(SLICE, True)]
    assert Packetizer(1200, aggregate=False).packetize([SPS, PPS]) == [
        RtpPayload(SPS, False),
        RtpPayload(PPS, True),
    ]
    # A NAL unit of exactly mtu octets is sent alone; one more octet and it is fragmented.
    exact = bytes([0x41]) + bytes(99)
    assert Packetizer(100).packetize([exact]) == [RtpPayload(exact, True)]
    assert len(Packetizer(99).packetize([exact])) == 2


def test_packetizer_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="mtu 2"):
        Packetizer(2)
    with pytest.raises(ValueError, match="no NAL units"):
        Packetizer().packetize([])
    with pytest.raises(ValueError, match="NAL unit 1 of the access unit is empty"):
        Packetizer().packetize([SPS, b""])


def to_packets(
    access_units: Sequence[Sequence[bytes]], mtu: int, first_seq: int, first_ts: int
) -> list[bytes]:
    """RTP datagrams for the access units, one timestamp per access unit."""
    packetizer = Packetizer(mtu)
    datagrams: list[bytes] = []
    seq = first_seq
    for index, nals in enumerate(access_units):
        timestamp = (first_ts + index * CLOCK_PER_FRAME) & 0xFFFFFFFF
        for payload, marker in packetizer.packetize(nals):
            packet = RtpPacket(96, seq, timestamp, SSRC, payload, marker=marker)
            datagrams.append(packet.to_bytes())
            seq = (seq + 1) & 0xFFFF
    return datagrams


def depacketize(
    datagrams: Sequence[bytes], depacketizer: Depacketizer | None = None
) -> list[AccessUnit]:
    depacketizer = depacketizer or Depacketizer()
    units: list[AccessUnit] = []
    for datagram in datagrams:
        units += depacketizer.push_packet(rtp.parse(datagram))
    return units + depacketizer.flush()


@PROPERTY
@given(
    st.lists(st.lists(nal_units, min_size=1, max_size=6), min_size=1, max_size=4),
    st.integers(200, 1400),
    st.integers(0, 65535),
    st.integers(0, 0xFFFFFFFF),
)
def test_property_packetize_depacketize_identity(
    access_units: list[list[bytes]], mtu: int, first_seq: int, first_ts: int
) -> None:
    datagrams = to_packets(access_units, mtu, first_seq, first_ts)
    assert all(len(rtp.parse(d).payload) <= mtu for d in datagrams)
    depacketizer = Depacketizer()
    units = depacketize(datagrams, depacketizer)
    assert [u.data for u in units] == [join_annexb(nals) for nals in access_units]
    assert not any(u.damaged for u in units)
    stats = depacketizer.stats
    assert (stats.corrupt, stats.unsupported, stats.fu_dropped, stats.gaps) == (0, 0, 0, 0)
    assert stats.access_units == len(access_units)


def test_access_unit_ends_on_timestamp_change_without_marker() -> None:
    depacketizer = Depacketizer()
    assert depacketizer.push(SPS, False, 1, 1000) == []
    assert depacketizer.push(PPS, False, 2, 1000) == []
    done = depacketizer.push(SLICE, False, 3, 4000)  # the marker packet never came
    assert done == [AccessUnit(1000, join_annexb([SPS, PPS]), False)]
    assert depacketizer.push(SLICE, True, 4, 4000) == [
        AccessUnit(4000, join_annexb([SLICE, SLICE]), False)
    ]
    assert depacketizer.flush() == []


def test_sequence_wrap_is_not_a_gap() -> None:
    datagrams = to_packets([[SPS, PPS, IDR], [SLICE], [SLICE, SLICE]], 400, 65530, 0)
    seqs = [rtp.parse(d).sequence_number for d in datagrams]
    assert 65535 in seqs and 0 in seqs
    depacketizer = Depacketizer()
    units = depacketize(datagrams, depacketizer)
    assert [u.data for u in units] == [
        join_annexb([SPS, PPS, IDR]),
        join_annexb([SLICE]),
        join_annexb([SLICE, SLICE]),
    ]
    assert depacketizer.stats.gaps == 0 and depacketizer.stats.out_of_order == 0


def test_lost_fu_a_middle_fragment_drops_that_nal_unit_only() -> None:
    datagrams = to_packets([[SPS, PPS, IDR], [SLICE]], 1200, 65534, 0)
    kinds = [rtp.parse(d).payload[0] & 0x1F for d in datagrams]
    assert kinds == [NAL_TYPE_STAP_A, NAL_TYPE_FU_A, NAL_TYPE_FU_A, NAL_TYPE_FU_A, NAL_TYPE_SLICE]
    depacketizer = Depacketizer()
    units = depacketize(datagrams[:2] + datagrams[3:], depacketizer)
    assert units == [
        AccessUnit(0, join_annexb([SPS, PPS]), True),
        AccessUnit(CLOCK_PER_FRAME, join_annexb([SLICE]), False),
    ]
    stats = depacketizer.stats
    assert (stats.fu_dropped, stats.fu_discarded, stats.gaps, stats.lost) == (1, 1, 1, 1)
    assert (stats.corrupt, stats.damaged) == (0, 1)


def test_lost_fu_a_start_fragment_is_loss_not_corruption() -> None:
    datagrams = to_packets([[SLICE], [IDR], [SLICE]], 1200, 100, 0)
    depacketizer = Depacketizer()
    units = depacketize([datagrams[0], *datagrams[2:]], depacketizer)
    assert [u.data for u in units] == [join_annexb([SLICE]), join_annexb([SLICE])]
    assert (depacketizer.stats.fu_dropped, depacketizer.stats.fu_discarded) == (1, 2)
    assert depacketizer.stats.corrupt == 0


def test_lost_marker_packet_damages_both_neighbours() -> None:
    datagrams = to_packets([[SPS, SLICE], [SLICE], [SLICE]], 510, 0, 0)
    assert len(datagrams) == 4
    depacketizer = Depacketizer()
    units = depacketize([datagrams[0], *datagrams[2:]], depacketizer)  # SLICE of AU 0 lost
    assert [(u.timestamp, u.damaged) for u in units] == [
        (0, True),
        (CLOCK_PER_FRAME, True),
        (2 * CLOCK_PER_FRAME, False),
    ]


HOSTILE_CASES: list[tuple[str, list[bytes], str]] = [
    ("empty payload", [b""], "corrupt"),
    ("forbidden bit", [b"\xe1\x00"], "corrupt"),
    ("STAP-A size truncated", [b"\x78\x00"], "corrupt"),
    ("STAP-A NAL truncated", [b"\x78\x00\x05\x67\x42"], "corrupt"),
    ("STAP-A zero size", [b"\x78\x00\x00"], "corrupt"),
    ("STAP-A empty", [b"\x78"], "corrupt"),
    ("STAP-A nested FU", [b"\x78\x00\x02\x7c\x85"], "corrupt"),
    ("FU-A without FU header", [b"\x7c"], "corrupt"),
    ("FU-A start and end", [b"\x7c\xc5\x00"], "corrupt"),
    ("FU-A of type 0", [b"\x7c\x80\x00"], "corrupt"),
    ("FU-A middle without start", [b"\x7c\x05\x11"], "corrupt"),
    ("FU-A end without start", [b"\x7c\x45\x11"], "corrupt"),
    ("FU-A type changes", [b"\x7c\x85\x11", b"\x7c\x41\x22"], "corrupt"),
    ("STAP-B", [b"\x79\x00\x00\x00\x02\x67\x42"], "unsupported"),
    ("MTAP16", [b"\x7a" + bytes(8)], "unsupported"),
    ("MTAP24", [b"\x7b" + bytes(8)], "unsupported"),
    ("FU-B", [b"\x7d\x85\x00\x01\x11"], "unsupported"),
    ("type 0", [b"\x00\x01"], "unsupported"),
    ("type 30", [b"\x1e\x01"], "unsupported"),
    ("type 31", [b"\x1f\x01"], "unsupported"),
]


@pytest.mark.parametrize(
    ("payloads", "counter"), [c[1:] for c in HOSTILE_CASES], ids=[c[0] for c in HOSTILE_CASES]
)
def test_hostile_payloads_are_counted_never_raised(payloads: list[bytes], counter: str) -> None:
    depacketizer = Depacketizer()
    units: list[AccessUnit] = []
    for seq, payload in enumerate(payloads, 1):
        units += depacketizer.push(payload, False, seq, 0)
    units += depacketizer.push(SLICE, True, len(payloads) + 1, 0)
    assert getattr(depacketizer.stats, counter) == 1
    assert units == [AccessUnit(0, join_annexb([SLICE]), True)]  # later data still gets through


def test_stap_a_helper_errors_are_precise() -> None:
    with pytest.raises(ValueError, match="not STAP-A"):
        parse_stap_a(SPS)
    with pytest.raises(ValueError, match="announces 5 octets but only 2 remain"):
        parse_stap_a(b"\x78\x00\x05\x67\x42")
    with pytest.raises(ValueError, match="size field at octet 1 is truncated"):
        parse_stap_a(b"\x78\x00")
    with pytest.raises(ValueError, match="both the start and the end bit"):
        parse_fu_a(b"\x7c\xc5\x00")
    with pytest.raises(ValueError, match="not FU-A"):
        parse_fu_a(SLICE)


def test_duplicates_and_late_packets_are_dropped() -> None:
    depacketizer = Depacketizer()
    depacketizer.push(SPS, False, 10, 0)
    assert depacketizer.push(SPS, False, 10, 0) == []
    assert depacketizer.push(PPS, False, 9, 0) == []
    done = depacketizer.push(SLICE, True, 11, 0)
    assert done == [AccessUnit(0, join_annexb([SPS, SLICE]), False)]
    assert depacketizer.stats.out_of_order == 2


def test_oversized_access_unit_is_abandoned() -> None:
    depacketizer = Depacketizer(max_access_unit=2000)
    units: list[AccessUnit] = []
    for seq in range(10):
        units += depacketizer.push(SLICE, False, seq, 0)
    units += depacketizer.push(SLICE, True, 10, 0)
    assert units == [] and depacketizer.stats.oversize == 1
    assert depacketizer.push(SLICE, True, 11, 3000) == [
        AccessUnit(3000, join_annexb([SLICE]), False)
    ]


hostile_payloads = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda t, rest: bytes([t]) + rest, st.integers(0, 255), st.binary(max_size=40)),
    st.builds(
        lambda t, fu, rest: bytes([t, fu]) + rest,
        st.sampled_from([0x1C, 0x3C, 0x5C, 0x7C, 0x9C, 0x18, 0x78]),
        st.integers(0, 255),
        st.binary(max_size=20),
    ),
)


@PROPERTY
@given(
    st.lists(
        st.tuples(hostile_payloads, st.booleans(), st.integers(-3, 4), st.integers(0, 2)),
        max_size=60,
    )
)
def test_property_depacketizer_never_raises_on_hostile_input(
    packets: list[tuple[bytes, bool, int, int]],
) -> None:
    depacketizer = Depacketizer(max_access_unit=500)
    seq, timestamp, units = 0, 0, []
    for payload, marker, step, ts_step in packets:
        seq = (seq + step) & 0xFFFF
        timestamp += ts_step
        units += depacketizer.push(payload, marker, seq, timestamp)
    units += depacketizer.flush()
    stats = depacketizer.stats
    assert stats.access_units == len(units) and stats.packets == len(packets)
    assert all(split_annexb(u.data) for u in units)
    assert all(len(u.data) <= 500 for u in units)


# --- a real H.264 stream ---------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedStream:
    """What the encoder produced: the Annex-B byte stream and its access units (parser output)."""

    annexb: bytes
    access_units: list[bytes]


def pattern_frame(index: int) -> np.ndarray:
    """A moving gradient and checkerboard with a small noise block, frame ``index``."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = (xx + index * 4) % 256
    image[..., 1] = (yy * 2) % 256
    image[..., 2] = ((xx // 20 + yy // 20 + index) % 2) * 200
    noise = np.random.default_rng(index).integers(0, 255, (32, 48, 3))
    image[100:132, 100:148] = noise
    return image


@pytest.fixture(scope="module")
def encoded() -> EncodedStream:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = 300_000
        stream.codec_context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "bf": "0",
            "g": str(GOP),
        }
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    annexb = buffer.getvalue()
    parser = av.CodecContext.create("h264", "r")
    units = [bytes(p) for p in parser.parse(annexb)] + [bytes(p) for p in parser.parse(b"")]
    assert len(units) == FRAMES, f"parser found {len(units)} access units, encoder got {FRAMES}"
    return EncodedStream(annexb, units)


def decode(access_units: Sequence[bytes]) -> dict[int, np.ndarray]:
    """Decode with PyAV; frames keyed by the index of the access unit they came from."""
    decoder = av.CodecContext.create("h264", "r")
    frames: dict[int, np.ndarray] = {}

    def collect(frames_out: Iterator[av.VideoFrame]) -> None:
        for frame in frames_out:
            assert frame.pts is not None
            frames[frame.pts] = frame.to_ndarray(format="gray")

    for index, unit in enumerate(access_units):
        packet = av.Packet(unit)
        packet.pts = index
        collect(iter(decoder.decode(packet)))
    collect(iter(decoder.decode(None)))
    return frames


def test_real_stream_round_trips_through_packetizer_and_depacketizer(
    encoded: EncodedStream,
) -> None:
    nal_lists = [split_annexb(unit) for unit in encoded.access_units]
    assert [is_keyframe(u) for u in encoded.access_units] == [i % GOP == 0 for i in range(FRAMES)]
    datagrams = to_packets(nal_lists, 1200, 65500, 0xFFFF0000)  # both counters wrap
    kinds = Counter(rtp.parse(d).payload[0] & 0x1F for d in datagrams)
    assert kinds[NAL_TYPE_STAP_A] >= 1 and kinds[NAL_TYPE_FU_A] >= 1 and kinds[NAL_TYPE_SLICE] >= 1
    depacketizer = Depacketizer()
    units = depacketize(datagrams, depacketizer)
    assert [split_annexb(u.data) for u in units] == nal_lists
    assert [u.data for u in units] == [join_annexb(n) for n in nal_lists]
    assert [u.timestamp for u in units] == [
        (0xFFFF0000 + i * CLOCK_PER_FRAME) & 0xFFFFFFFF for i in range(FRAMES)
    ]
    assert depacketizer.stats.damaged == 0 and depacketizer.stats.gaps == 0
    frames = decode([u.data for u in units])
    assert sorted(frames) == list(range(FRAMES))
    reference = decode(encoded.access_units)
    assert all(np.array_equal(frames[i], reference[i]) for i in range(FRAMES))


def test_real_stream_with_a_lost_fu_a_middle_fragment_recovers_at_the_next_keyframe(
    encoded: EncodedStream,
) -> None:
    nal_lists = [split_annexb(unit) for unit in encoded.access_units]
    mtu = 400
    datagrams = to_packets(nal_lists, mtu, 0, 0)
    # The first FU-A middle fragment of a P frame (after the first access unit).
    victim = next(
        i
        for i, d in enumerate(datagrams)
        if (p := rtp.parse(d)).timestamp > 0
        and p.payload[0] & 0x1F == NAL_TYPE_FU_A
        and not p.payload[1] & (h264.FU_START | h264.FU_END)
    )
    lost = rtp.parse(datagrams[victim])
    frame_index = lost.timestamp // CLOCK_PER_FRAME
    assert 0 < frame_index < GOP
    depacketizer = Depacketizer()
    units = depacketize(datagrams[:victim] + datagrams[victim + 1 :], depacketizer)

    stats = depacketizer.stats
    assert (stats.fu_dropped, stats.gaps, stats.lost, stats.corrupt) == (1, 1, 1, 0)
    assert [u.damaged for u in units].count(True) == stats.damaged == 1
    by_index = {u.timestamp // CLOCK_PER_FRAME: u for u in units}
    damaged_nals = split_annexb(by_index[frame_index].data) if frame_index in by_index else []
    assert len(damaged_nals) == len(nal_lists[frame_index]) - 1  # exactly one NAL unit dropped
    for index, nals in enumerate(nal_lists):
        if index != frame_index:
            assert split_annexb(by_index[index].data) == nals

    frames = decode([by_index[i].data for i in sorted(by_index)])
    reference = decode(encoded.access_units)
    assert all(np.array_equal(frames[i], reference[i]) for i in range(GOP, FRAMES))


# --- FFmpeg's own RTP muxer ------------------------------------------------------------------


def receive(sock: socket.socket, until: int, timeout: float = 5.0) -> list[bytes]:
    """Datagrams from ``sock`` until ``until`` of them carried the RTP marker bit."""
    sock.settimeout(timeout)
    datagrams: list[bytes] = []
    markers = 0
    while markers < until:
        try:
            datagram = sock.recv(65535)
        except TimeoutError:
            raise AssertionError(
                f"FFmpeg's rtp muxer: {len(datagrams)} datagrams with {markers} markers arrived,"
                f" expected {until} markers"
            ) from None
        datagrams.append(datagram)
        markers += bool(datagram[1] & 0x80)
    return datagrams


def test_ffmpeg_rtp_muxer_output_depacketizes_to_the_encoder_access_units(
    encoded: EncodedStream,
) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control,
    ):
        media.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        media.bind(("127.0.0.1", 0))
        control.bind(("127.0.0.1", 0))
        url = (
            f"rtp://127.0.0.1:{media.getsockname()[1]}?pkt_size=1200"
            f"&rtcpport={control.getsockname()[1]}"
        )
        with (
            av.open(io.BytesIO(encoded.annexb), format="h264") as source,
            av.open(
                url, "w", format="rtp", options={"payload_type": "96", "ssrc": str(SSRC)}
            ) as sink,
        ):
            stream = sink.add_stream_from_template(source.streams.video[0])
            stream.time_base = Fraction(1, 90000)
            index = 0
            assert isinstance(source, av.container.InputContainer)
            for packet in source.demux():
                if packet.size == 0:
                    continue
                packet.stream = stream
                packet.time_base = stream.time_base
                packet.pts = packet.dts = index * CLOCK_PER_FRAME
                sink.mux(packet)
                index += 1
        datagrams = receive(media, FRAMES)
        control.settimeout(5.0)
        report = control.recv(65535)

    packets = [rtp.parse(d) for d in datagrams]
    assert all(p.to_bytes() == d for p, d in zip(packets, datagrams, strict=True))
    assert {(p.ssrc, p.payload_type) for p in packets} == {(SSRC, 96)}
    assert all(len(d) <= 1200 for d in datagrams)
    assert all(
        rtp.seq_distance(a.sequence_number, b.sequence_number) == 1
        for a, b in itertools.pairwise(packets)
    )
    kinds = Counter(p.payload[0] & 0x1F for p in packets)
    assert kinds[NAL_TYPE_FU_A] > 0 and kinds[NAL_TYPE_STAP_A] > 0, kinds

    depacketizer = Depacketizer()
    units = depacketize(datagrams, depacketizer)
    assert [split_annexb(u.data) for u in units] == [split_annexb(u) for u in encoded.access_units]
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(units)}
    assert steps == {CLOCK_PER_FRAME}
    assert depacketizer.stats.corrupt == depacketizer.stats.unsupported == 0

    assert rtp.is_rtcp(report) and not any(rtp.is_rtcp(d) for d in datagrams)
    (sender_report, *_rest) = rtp.parse_rtcp(report)
    assert isinstance(sender_report, rtp.SenderReport) and sender_report.ssrc == SSRC
    assert rtp.serialize_rtcp(rtp.parse_rtcp(report)) == report


def test_types_of_real_nal_units_are_recognised(encoded: EncodedStream) -> None:
    first = [parse_nal_header(n).type for n in split_annexb(encoded.access_units[0])]
    assert first[:2] == [NAL_TYPE_SPS, NAL_TYPE_PPS] and NAL_TYPE_SEI in first
    assert NAL_TYPE_IDR in first
