"""wire.ps: GB28181 program stream mux/demux for H.264 and PS over RTP, on real and random streams.

The real stream is one second of the media fixture's test pattern (320x240, 25 fps, an IDR every
10 frames) from decoder_conformance.media.encode, cached per process. FFmpeg is used twice, through
PyAV: its ``mpeg`` muxer as a foreign PS source for our demuxer, and its ``mpeg`` demuxer as an
independent reader of our muxer's output.
"""

from __future__ import annotations

import io
import random
from fractions import Fraction

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoder_conformance.media.encode import EncodedStream
from wire import ps
from wire.h264 import join_annexb, split_annexb
from wire.ps import (
    STREAM_ID_PSM,
    STREAM_ID_VIDEO,
    STREAM_TYPE_H264,
    AccessUnit,
    PackHeader,
    PesPacket,
    ProgramStreamMap,
    PsDemuxer,
    PsOverRtp,
    PsParseError,
    SystemHeader,
    crc32_mpeg2,
    demux,
    iter_units,
    mux,
    packetize,
)
from wire.rtp import RtpPacket

PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)
FPS = 25
TICKS = 90_000 // FPS
GOP = 10
SSRC = 200000001  # a GB28181 y= value


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    stream = EncodedStream.cbr(320, 240, FPS, 300, 1.0, gop_seconds=GOP / FPS)
    assert [f.keyframe for f in stream.frames] == [i % GOP == 0 for i in range(FPS)]
    return [f.data for f in stream.frames]


def ps_of(frames: list[bytes], **options: int) -> list[bytes]:
    return [mux(frame, i * TICKS, **options) for i, frame in enumerate(frames)]


def codes(pack: bytes) -> list[int]:
    return [unit.code for unit in iter_units(pack)]


# --- units ---------------------------------------------------------------------------------


def test_crc32_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the catalogued CRC-32/MPEG-2 check value
    psm = ps.video_psm()
    assert crc32_mpeg2(psm) == 0  # a section followed by its CRC


@given(
    st.integers(0, (1 << 33) - 1),
    st.integers(0, 299),
    st.integers(1, (1 << 22) - 1),
    st.integers(0, 7),
)
@PROPERTY
def test_property_pack_header_round_trip(scr: int, ext: int, rate: int, stuffing: int) -> None:
    header = PackHeader(scr, rate, ext, stuffing)
    data = header.to_bytes()
    assert len(data) == 14 + stuffing and data[:4] == b"\x00\x00\x01\xba"
    assert PackHeader.parse(data) == header
    mpeg1 = PackHeader(scr, rate, mpeg1=True)
    assert PackHeader.parse(mpeg1.to_bytes()) == mpeg1


@given(st.integers(0, (1 << 33) - 1), st.none() | st.integers(0, (1 << 33) - 1))
@PROPERTY
def test_property_pes_timestamps_round_trip(pts: int, dts: int | None) -> None:
    packet = PesPacket(STREAM_ID_VIDEO, b"\x00\x00\x01\x09\xf0", pts, dts, data_alignment=True)
    assert PesPacket.parse(packet.to_bytes()) == packet


def test_system_header_and_psm_round_trip() -> None:
    header = SystemHeader(1234, streams=(ps.StreamBound(0xE0, 1, 1024),))
    assert SystemHeader.parse(header.to_bytes()) == header
    psm = ProgramStreamMap(
        (
            ps.ElementaryStreamInfo(0x1B, 0xE0),
            ps.ElementaryStreamInfo(0x90, 0xC0, b"\x0a\x04eng\x00"),
        ),
        version=3,
        descriptors=b"\x05\x04HDMV",
    )
    assert ProgramStreamMap.parse(psm.to_bytes()) == psm


def test_psm_crc_mismatch_names_offset_and_expected_value() -> None:
    data = bytearray(ps.video_psm())
    data[-1] ^= 1
    with pytest.raises(PsParseError, match=r"octet 16: expected CRC_32 0x[0-9A-F]{8}") as caught:
        ProgramStreamMap.parse(bytes(data))
    assert caught.value.offset == 16 and isinstance(caught.value, ValueError)


# --- mux -----------------------------------------------------------------------------------


def test_keyframe_packs_carry_system_header_and_psm_declaring_h264_on_e0(
    frames: list[bytes],
) -> None:
    for index, pack in enumerate(ps_of(frames)):
        units = list(iter_units(pack))
        header = PackHeader.parse(units[0].data)
        assert units[0].code == 0xBA and header.scr_base == index * TICKS and header.stuffing == 0
        assert not header.mpeg1 and header.mux_rate > 0
        if index % GOP == 0:
            assert [u.code for u in units[1:3]] == [0xBB, STREAM_ID_PSM]
            system = SystemHeader.parse(units[1].data)
            assert [s.stream_id for s in system.streams] == [STREAM_ID_VIDEO]
            psm_bytes = units[2].data
            assert crc32_mpeg2(psm_bytes) == 0
            psm = ProgramStreamMap.parse(psm_bytes)
            assert [(s.stream_type, s.stream_id) for s in psm.streams] == [(0x1B, 0xE0)]
            rest = units[3:]
        else:
            rest = units[1:]
        assert {u.code for u in rest} == {STREAM_ID_VIDEO}, "nothing but video PES after them"
        pes = [PesPacket.parse(u.data) for u in rest]
        assert pes[0].pts == index * TICKS and pes[0].dts is None and pes[0].data_alignment
        assert b"".join(p.payload for p in pes) == frames[index]


def test_dts_is_written_when_given_and_scr_follows_it(frames: list[bytes]) -> None:
    pack = mux(frames[1], 9000, dts=6000)
    units = list(iter_units(pack))
    assert PackHeader.parse(units[0].data).scr_base == 6000
    pes = PesPacket.parse(units[1].data)
    assert (pes.pts, pes.dts) == (9000, 6000)
    assert demux(mux(frames[0], 0) + pack)[1] == AccessUnit(frames[1], 9000, 6000, False)


def test_large_idr_spans_pes_packets_of_at_most_65535() -> None:
    rng = random.Random(7)
    body = bytes(rng.choice(range(1, 256)) for _ in range(200_000))
    nals = [
        bytes.fromhex("6742c01e8c8d40a0fd00f08846a0"),
        bytes.fromhex("68ce3c80"),
        b"\x65\x88" + body,
    ]
    pack = mux(nals, 1234)
    video = [u for u in iter_units(pack) if u.code == STREAM_ID_VIDEO]
    lengths = [int.from_bytes(u.data[4:6], "big") for u in video]
    assert len(video) == 4 and max(lengths) == 65535
    pes = [PesPacket.parse(u.data) for u in video]
    assert [p.pts for p in pes] == [1234, None, None, None]
    assert [p.data_alignment for p in pes] == [True, False, False, False]
    assert demux(pack) == [AccessUnit(join_annexb(nals), 1234, None, True)]


def test_small_pes_limit_splits_real_frames_and_still_round_trips(frames: list[bytes]) -> None:
    packs = ps_of(frames, max_pes_length=500)
    assert max(len(u.data) for p in packs for u in iter_units(p) if u.code == 0xE0) == 506
    assert [u.data for u in demux(b"".join(packs))] == frames


def test_mux_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        mux(b"", 0)
    with pytest.raises(ValueError, match="empty"):
        mux([b"\x67", b""], 0)
    with pytest.raises(ValueError, match="max_pes_length"):
        mux(b"\x00\x00\x01\x65\x80", 0, max_pes_length=8)


# --- demux -------------------------------------------------------------------------------------


def test_real_stream_round_trips(frames: list[bytes]) -> None:
    units = demux(b"".join(ps_of(frames)))
    assert [u.data for u in units] == frames
    assert [u.pts for u in units] == [i * TICKS for i in range(len(frames))]
    assert [u.keyframe for u in units] == [i % GOP == 0 for i in range(len(frames))]


def test_any_chunking_gives_the_same_access_units(frames: list[bytes]) -> None:
    stream = b"".join(ps_of(frames))
    rng = random.Random(1)
    for chunk in (1, 7, 1400, None):
        demuxer = PsDemuxer()
        got: list[AccessUnit] = []
        at = 0
        while at < len(stream):
            size = chunk or rng.randint(1, 3000)
            got += demuxer.feed(stream[at : at + size])
            at += size
        got += demuxer.flush()
        assert [u.data for u in got] == frames and not demuxer.errors, chunk


def test_flush_per_pack_returns_each_frame_at_once(frames: list[bytes]) -> None:
    streaming, framed = PsDemuxer(), PsDemuxer()
    for index, pack in enumerate(ps_of(frames)):
        # Without flush a frame is known complete only when the next one begins.
        assert [u.data for u in streaming.feed(pack)] == frames[index - 1 : index][:index]
        expected = AccessUnit(frames[index], index * TICKS, None, index % GOP == 0)
        assert framed.feed(pack) == [] and framed.flush() == [expected]
    assert [u.data for u in streaming.flush()] == frames[-1:]
    assert not streaming.errors and not framed.errors


def test_stuffing_other_streams_psm_anywhere_and_pes_without_pts(frames: list[bytes]) -> None:
    audio = PesPacket(0xC0, b"\xd5" * 160, pts=100).to_bytes()
    private = PesPacket(0xBD, b"\x80\x01\x00\x00" + b"\x11" * 40).to_bytes()
    padding = PesPacket(0xBE, b"\xff" * 30).to_bytes()
    psm = ProgramStreamMap(
        (ps.ElementaryStreamInfo(0x90, 0xC0), ps.ElementaryStreamInfo(0x1B, 0xE0))
    ).to_bytes()
    first, second = frames[0], frames[1]
    half = len(second) // 2
    stream = b"".join(
        [
            PackHeader(0, stuffing=5).to_bytes(),
            psm,
            audio,
            PesPacket(0xE0, first, pts=0).to_bytes(),
            private,
            PackHeader(3600, stuffing=7).to_bytes(),
            psm,  # a PSM in a pack that is no keyframe
            PesPacket(0xE0, second[:half], pts=3600).to_bytes(),
            padding,
            PesPacket(0xE0, second[half:]).to_bytes(),  # no PTS: same access unit
            audio,
            PackHeader(7200).to_bytes(),
            PesPacket(0xE0, frames[2]).to_bytes(),  # no PTS at all
            b"\x00\x00\x01\xb9",
        ]
    )
    demuxer = PsDemuxer()
    units = demuxer.feed(stream) + demuxer.flush()
    assert units == [
        AccessUnit(first, 0, None, True),
        AccessUnit(second, 3600, None, False),
        AccessUnit(frames[2], None, None, False),
    ]
    assert demuxer.stats.skipped_pes == {0xC0: 2, 0xBD: 1, 0xBE: 1}
    assert demuxer.stats.psms == 2 and demuxer.stats.packs == 3 and not demuxer.errors


def test_psm_without_h264_stream_selects_nothing(frames: list[bytes]) -> None:
    h265 = ProgramStreamMap((ps.ElementaryStreamInfo(0x24, 0xE0),)).to_bytes()
    stream = PackHeader(0).to_bytes() + h265 + PesPacket(0xE0, frames[0], pts=0).to_bytes()
    demuxer = PsDemuxer(assume_h264=True)
    assert demuxer.feed(stream) + demuxer.flush() == []
    assert demuxer.stream_id is None and demuxer.stats.skipped_pes == {0xE0: 1}


def test_video_before_the_first_psm_is_dropped_and_counted(frames: list[bytes]) -> None:
    packs = ps_of(frames)
    demuxer = PsDemuxer()
    units = demuxer.feed(b"".join(packs[5:])) + demuxer.flush()  # joined mid-GOP
    assert [u.data for u in units] == frames[10:]
    assert demuxer.stats.before_psm == 5 and not demuxer.errors
    with pytest.raises(PsParseError, match="PSM"):
        demux(b"".join(packs[5:]))


def test_corrupt_input_is_reported_with_offset_and_the_stream_recovers(
    frames: list[bytes],
) -> None:
    packs = ps_of(frames)
    stream = bytearray(b"".join(packs))
    bad_at = len(packs[0]) + len(packs[1]) + 4  # the first octet after frame 2's pack start code
    stream[bad_at] = 0x00  # neither '01' nor '0010'
    demuxer = PsDemuxer()
    units = demuxer.feed(b"junk" + bytes(stream)) + demuxer.flush()
    assert [str(e) for e in demuxer.errors] == [
        "PS octet 0: expected a pack start code 0x000001BA",
        f"PS octet {4 + bad_at}: expected '01' (MPEG-2) or '0010' (MPEG-1) after 0x000001BA",
    ]
    # Frame 2's pack is refused; frame 1, not yet known to be complete, goes with it (see
    # test_flush_per_pack_limits_damage_to_the_damaged_frame); frame 3 is found again.
    assert [u.data for u in units] == [frames[0], *frames[3:]]
    assert demuxer.stats.dropped_access_units == 1
    assert demuxer.stats.resync_octets == 4 + len(packs[2]) - 1
    with pytest.raises(PsParseError) as caught:
        demux(bytes(stream))
    assert (caught.value.offset, caught.value.expected) == (bad_at, caught.value.expected)


def test_broken_video_pes_drops_its_access_unit_only(frames: list[bytes]) -> None:
    packs = [bytearray(p) for p in ps_of(frames)]
    units = list(iter_units(bytes(packs[4])))
    assert units[1].code == 0xE0
    packs[4][units[1].offset + 7] = 0x40  # PTS_DTS_flags 01 (forbidden)
    demuxer = PsDemuxer()
    got = demuxer.feed(b"".join(packs)) + demuxer.flush()
    assert [u.data for u in got] == frames[:3] + frames[5:]
    assert (
        demuxer.stats.errors == 1
        and demuxer.stats.dropped_access_units == 1
        and "PTS_DTS_flags" in str(demuxer.errors[0])
    )
    assert demuxer.errors[0].offset == sum(map(len, packs[:4])) + units[1].offset + 7


def test_flush_per_pack_limits_damage_to_the_damaged_frame(frames: list[bytes]) -> None:
    packs = ps_of(frames[:6])
    broken = bytearray(packs[3])
    broken[14 + 7] = 0x40  # the first PES of a P frame: PTS_DTS_flags 01 (forbidden)
    packs[3] = bytes(broken)
    demuxer = PsDemuxer()
    got = [unit for pack in packs for unit in demuxer.feed(pack) + demuxer.flush()]
    assert [u.data for u in got] == frames[:3] + frames[4:6]
    assert demuxer.stats.errors == 1 and demuxer.stats.dropped_access_units == 1


def test_truncated_stream_drops_the_last_access_unit(frames: list[bytes]) -> None:
    stream = b"".join(ps_of(frames[:3]))
    demuxer = PsDemuxer()
    got = demuxer.feed(stream[:-10]) + demuxer.flush()
    assert [u.data for u in got] == frames[:1]  # frame 1 was not known to be complete
    assert demuxer.stats.dropped_access_units == 1
    assert demuxer.errors[0].expected == "the rest of the unit"
    with pytest.raises(PsParseError, match="the end of the data"):
        list(iter_units(stream[:-10]))


SMALL_FRAMES = [
    join_annexb(
        [
            bytes.fromhex("6742c01e8c8d40a0fd00f08846a0"),
            bytes.fromhex("68ce3c80"),
            b"\x65\x88" + bytes(range(1, 250)) * 4,
        ]
    ),
    join_annexb([b"\x41\x9a" + bytes(range(1, 200))]),
]


@given(st.binary(max_size=400), st.integers(0, 2000), st.integers(1, 500))
@settings(max_examples=60, deadline=None)
def test_property_demuxer_never_raises_on_damaged_input(
    junk: bytes, where: int, chunk: int
) -> None:
    stream = bytearray(b"".join(ps_of([SMALL_FRAMES[0], SMALL_FRAMES[1]])))
    where %= len(stream)
    stream[where : where + len(junk)] = junk
    demuxer = PsDemuxer()
    for at in range(0, len(stream), chunk):
        for unit in demuxer.feed(bytes(stream[at : at + chunk])):
            assert unit.data
    demuxer.flush()


# --- FFmpeg (PyAV 18 / FFmpeg 8) ---------------------------------------------------------------


def ffmpeg_mpeg(frames: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpeg") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height = 320, 240
        for index, frame in enumerate(frames):
            packet = av.Packet(frame)
            packet.pts = packet.dts = index
            packet.time_base = Fraction(1, FPS)
            packet.stream = stream
            packet.is_keyframe = index % GOP == 0
            container.mux(packet)
    return buffer.getvalue()


def test_ffmpeg_mpeg_muxer_output_is_not_gb_shaped_but_demuxes_with_assume_h264(
    frames: list[bytes],
) -> None:
    data = ffmpeg_mpeg(frames)
    units = list(iter_units(data))
    # What the module docstring says FFmpeg writes: MPEG-1 packs, no PSM, H.264 on 0xE2.
    assert PackHeader.parse(units[0].data).mpeg1
    assert STREAM_ID_PSM not in {u.code for u in units}
    assert {u.code for u in units} >= {0xBA, 0xBB, 0xE2}
    assert PesPacket.parse(next(u.data for u in units if u.code == 0xE2)).mpeg1

    strict = PsDemuxer()
    assert strict.feed(data) + strict.flush() == [] and strict.stats.before_psm > 0

    demuxer = PsDemuxer(assume_h264=True)
    got = demuxer.feed(data) + demuxer.flush()
    assert demuxer.stream_id == 0xE2 and not demuxer.errors
    assert [u.data for u in got] == frames
    assert [u.keyframe for u in got] == [i % GOP == 0 for i in range(len(frames))]
    # FFmpeg delays by its 0.5 s preload, and only the first frame that begins in a PES packet
    # gets a PTS; every PTS it wrote lands on the right frame.
    stamped = [(i, u.pts) for i, u in enumerate(got) if u.pts is not None]
    assert 0 < len(stamped) < len(frames)
    assert all(pts == 45_000 + i * TICKS for i, pts in stamped)


def test_pyav_demuxer_decodes_our_ps(frames: list[bytes]) -> None:
    stream = b"".join(ps_of(frames, max_pes_length=2000))  # frames span PES packets
    with av.open(io.BytesIO(stream), format="mpeg") as container:
        assert [s.codec_context.name for s in container.streams] == ["h264"]
        decoded = [
            (frame.pts, frame.key_frame)
            for packet in container.demux()
            for frame in packet.decode()
        ]
    assert decoded == [(i * TICKS, i % GOP == 0) for i in range(len(frames))]


# --- PS over RTP -------------------------------------------------------------------------------


def test_packetize_splits_one_pack_with_one_timestamp_and_marker_last(frames: list[bytes]) -> None:
    pack = mux(frames[0], 0)
    packets = packetize(pack, 65534, 0x1_0000_0005, SSRC, max_payload=1000)
    assert [p.sequence_number for p in packets][:3] == [65534, 65535, 0]
    assert {p.timestamp for p in packets} == {5} and {p.payload_type for p in packets} == {96}
    assert [p.marker for p in packets] == [False] * (len(packets) - 1) + [True]
    assert (
        max(len(p.payload) for p in packets) == 1000
        and b"".join(p.payload for p in packets) == pack
    )
    assert RtpPacket.parse(packets[0].to_bytes()) == packets[0]


def rtp_stream(packs: list[bytes], max_payload: int = 500) -> list[list[RtpPacket]]:
    seq = 65530
    out = []
    for index, pack in enumerate(packs):
        packets = packetize(pack, seq, index * TICKS, SSRC, max_payload=max_payload)
        seq = (seq + len(packets)) % 65536
        out.append(packets)
    return out


def test_rtp_round_trip_then_ps_demux(frames: list[bytes]) -> None:
    packs = ps_of(frames)
    reassembler = PsOverRtp()
    demuxer = PsDemuxer()
    got: list[AccessUnit] = []
    for packets in rtp_stream(packs):
        for packet in packets:
            for pack in reassembler.push(packet):
                got += demuxer.feed(pack) + demuxer.flush()
    assert [u.data for u in got] == frames and reassembler.stats.packs == len(frames)
    assert reassembler.stats.dropped == reassembler.stats.lost == 0


def test_lost_middle_packet_drops_that_frame_only(frames: list[bytes]) -> None:
    packs = ps_of(frames[:5])
    reassembler = PsOverRtp(reorder_window=0)
    out: list[bytes] = []
    for index, packets in enumerate(rtp_stream(packs)):
        assert len(packets) >= 3
        for position, packet in enumerate(packets):
            if not (index == 2 and position == 1):
                out += reassembler.push(packet)
    out += reassembler.flush()
    assert out == packs[:2] + packs[3:]
    assert (reassembler.stats.gaps, reassembler.stats.lost, reassembler.stats.dropped) == (1, 1, 1)


def test_lost_marker_packet_drops_both_neighbours(frames: list[bytes]) -> None:
    packs = ps_of(frames[:4])
    reassembler = PsOverRtp(reorder_window=0)
    out: list[bytes] = []
    for index, packets in enumerate(rtp_stream(packs)):
        for packet in packets:
            if not (index == 1 and packet.marker):
                out += reassembler.push(packet)
    assert out + reassembler.flush() == [packs[0], packs[3]]
    assert reassembler.stats.dropped == 2


def test_reordering_within_the_window_is_repaired_beyond_it_is_loss(frames: list[bytes]) -> None:
    packs = ps_of(frames[:3])
    flat = [p for packets in rtp_stream(packs) for p in packets]
    swapped = [*flat[:3], flat[5], flat[3], flat[4], *flat[6:]]
    reassembler = PsOverRtp(reorder_window=4)
    out = [pack for p in [*swapped, flat[3]] for pack in reassembler.push(p)]
    assert out + reassembler.flush() == packs
    assert reassembler.stats.reordered == 2 and reassembler.stats.duplicates == 0
    assert reassembler.stats.late == 1  # the copy of flat[3] pushed again at the end

    late = flat[:3] + flat[4:10] + [flat[3]] + flat[10:]
    strict = PsOverRtp(reorder_window=2)
    out = [pack for p in late for pack in strict.push(p)] + strict.flush()
    assert packs[0] not in out and packs[1:] == [p for p in packs[1:] if p in out]
    assert strict.stats.lost == 1 and strict.stats.late == 1 and strict.stats.dropped == 1


def test_frame_without_marker_ends_on_the_next_timestamp(frames: list[bytes]) -> None:
    packs = ps_of(frames[:3])
    reassembler = PsOverRtp()
    out: list[bytes] = []
    for packets in rtp_stream(packs):
        for packet in packets:
            packet.marker = False
            out += reassembler.push(packet)
    assert out == packs[:2] and reassembler.flush() == []
    assert reassembler.stats.no_marker == 2 and reassembler.stats.dropped == 1


# --- properties ----------------------------------------------------------------------------


def escape(rbsp: bytes) -> bytes:
    """Emulation prevention (H.264 §7.4.1): no 0x000000-0x000003 inside a NAL unit."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@st.composite
def access_units(draw: st.DrawFn) -> list[bytes]:
    """A well-formed access unit: optional AUD/SPS/PPS/SEI, slices (the first with
    first_mb_in_slice 0), optional filler; random payloads ending in a non-zero octet."""
    body = st.binary(max_size=300).map(lambda b: escape(b + b"\x80"))
    idr = draw(st.booleans())
    prefix = draw(st.lists(st.sampled_from([9, 7, 8, 6]), max_size=3))
    nals = [bytes([0x60 | kind]) + draw(body) for kind in prefix]
    slice_type = 0x65 if idr else 0x41
    nals.append(bytes([slice_type, 0x80 | draw(st.integers(0, 127))]) + draw(body))
    for _ in range(draw(st.integers(0, 2))):
        nals.append(bytes([slice_type, draw(st.integers(1, 127))]) + draw(body))
    if draw(st.booleans()):
        nals.append(b"\x0c" + b"\xff" * draw(st.integers(0, 20)) + b"\x80")
    return nals


@given(
    st.lists(
        st.tuples(access_units(), st.integers(0, (1 << 33) - 1), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    st.integers(14, 2000),
    st.integers(1, 1500),
)
@PROPERTY
def test_property_mux_demux_and_rtp_identity(
    units: list[tuple[list[bytes], int, bool]], max_pes: int, max_payload: int
) -> None:
    stream = [(join_annexb(nals), pts, pts if with_dts else None) for nals, pts, with_dts in units]
    packs = [  # the first pack always carries the PSM, IDR or not
        mux(data, pts, dts=dts, keyframe=index == 0 or None, max_pes_length=max_pes)
        for index, (data, pts, dts) in enumerate(stream)
    ]
    expected = [
        AccessUnit(d, p, t, any(n[0] & 0x1F == 5 for n in split_annexb(d))) for d, p, t in stream
    ]
    assert demux(b"".join(packs)) == expected

    reassembler = PsOverRtp()
    demuxer = PsDemuxer()
    got: list[AccessUnit] = []
    seq = 100
    for index, pack in enumerate(packs):
        for packet in packetize(pack, seq, index * TICKS, SSRC, max_payload=max_payload):
            seq += 1
            for whole in reassembler.push(RtpPacket.parse(packet.to_bytes())):
                got += demuxer.feed(whole)
    assert got + demuxer.flush() == expected and not demuxer.errors


def test_stream_type_constants_match_gb28181_annex_c() -> None:
    assert STREAM_TYPE_H264 == 0x1B and ps.STREAM_TYPE_H265 == 0x24 and ps.STREAM_TYPE_G711A == 0x90
    assert STREAM_ID_VIDEO == 0xE0 and ps.STREAM_ID_AUDIO == 0xC0 and ps.PS_PAYLOAD_TYPE == 96
