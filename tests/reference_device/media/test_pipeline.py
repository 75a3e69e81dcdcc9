"""The media pipeline's parts without sockets: meter, reorder window, session, decoder thread."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.faults import Faults
from reference_device.media.decoder import DecoderPool
from reference_device.media.meter import BitrateMeter
from reference_device.media.reorder import ReorderBuffer
from reference_device.media.session import MediaSession, empty_view
from tests.reference_device.media.stream import RtpStream
from wire.rtp import RtpPacket


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def _packet(seq: int) -> RtpPacket:
    return RtpPacket(96, seq & 0xFFFF, 0, 1, bytes([seq & 0xFF]))


# -- meter ------------------------------------------------------------------------------------


def test_meter_is_payload_bits_over_the_window_and_falls_to_zero() -> None:
    clock = Clock()
    meter = BitrateMeter(clock=clock)
    for _ in range(300):  # 3 s of 125 kB/s = 1000 kbit/s, one packet per 10 ms
        meter.add(1250)
        clock.now += 0.01
    assert meter.kbps() == pytest.approx(1000, rel=0.01)
    clock.now += 1.0
    assert meter.kbps() == pytest.approx(500, rel=0.02)
    clock.now += 1.0
    assert meter.kbps() == 0.0
    assert meter.bytes_in_window() == 0


def test_meter_first_window_uses_the_time_since_the_first_byte() -> None:
    clock = Clock()
    meter = BitrateMeter(clock=clock)
    for _ in range(100):  # 1 s at 1000 kbit/s
        meter.add(1250)
        clock.now += 0.01
    assert meter.kbps() == pytest.approx(1000, rel=0.02)


# -- reorder ----------------------------------------------------------------------------------


def test_reorder_releases_in_order_and_counts_late() -> None:
    buffer = ReorderBuffer()
    released: list[int] = []
    for seq in (65534, 0, 65535, 2, 1, 3, 65533):
        released += [p.sequence_number for p in buffer.push(_packet(seq), 0.0)]
    assert released == [65534, 65535, 0, 1, 2, 3]
    assert buffer.late == 1 and buffer.held == 0


def test_reorder_gives_up_a_gap_after_the_delay_or_32_packets() -> None:
    buffer = ReorderBuffer(max_packets=32, max_delay=0.1)
    assert [p.sequence_number for p in buffer.push(_packet(10), 0.0)] == [10]
    assert buffer.push(_packet(12), 0.0) == []
    assert buffer.due() == pytest.approx(0.1)
    assert buffer.flush_due(0.05) == []
    assert [p.sequence_number for p in buffer.flush_due(0.1)] == [12]
    assert buffer.push(_packet(11), 0.2) == [] and buffer.late == 1
    for seq in range(14, 46):  # 32 held behind the missing 13
        assert buffer.push(_packet(seq), 0.2) == []
    out = buffer.push(_packet(46), 0.2)
    assert [p.sequence_number for p in out] == list(range(14, 47))


# -- session ----------------------------------------------------------------------------------


def _session(faults: tuple[str, ...] = ()) -> tuple[MediaSession, DecoderPool, Clock]:
    clock = Clock()
    pool = DecoderPool()
    session = MediaSession("udp", Faults(faults), pool, name="t", clock=clock)
    session.payload_type = 96
    return session, pool, clock


def test_session_filters_in_order_and_counts_each_drop_once() -> None:
    async def body() -> None:
        session, pool, _ = _session()
        good = RtpPacket(96, 100, 0, 7, b"\x09\x10")
        session.receive(good.to_bytes())  # before confirm
        session.confirm()
        session.receive(b"\x80\xc9\x00\x01\x00\x00\x00\x07")  # RTCP RR
        session.receive(b"\x00" * 30)  # version 0
        session.receive(b"\x80")  # truncated
        session.receive(RtpPacket(97, 101, 0, 7, b"x").to_bytes())
        session.receive(RtpPacket(96, 101, 0, 7, b"\x09\x10").to_bytes())  # locks SSRC 7
        session.receive(RtpPacket(96, 102, 0, 8, b"\x09\x10").to_bytes())
        session.receive(RtpPacket(96, 101, 0, 7, b"\x09\x10").to_bytes())  # duplicate
        session.receive(RtpPacket(96, 102, 0, 7, bytes(65535 - 12)).to_bytes())  # oversized
        view = session.view()
        expected = {
            "early": 1,
            "rtcp": 1,
            "malformed": 2,
            "wrong_pt": 1,
            "wrong_ssrc": 1,
            "late": 1,
            "packets": 2,
            "bytes": 2 + 65535 - 12,
        }
        assert {k: view[k] for k in expected} == expected
        assert view["ssrc"] == 7 and view["call"] == "active"
        session.close()
        assert session.view()["call"] == "ended" and session.bitrate_kbps() == 0.0
        await pool.close()

    _run(body)


def test_session_reorders_decodes_and_joins_its_thread(units: list[bytes]) -> None:
    async def body() -> None:
        session, pool, clock = _session()
        session.confirm()
        stream = RtpStream(ssrc=5)
        packets = [p for i, unit in enumerate(units[:30]) for p in stream.frame(unit, i)]
        rng = random.Random(3)
        for start in range(0, len(packets), 8):  # shuffle within windows of 8
            chunk = packets[start : start + 8]
            rng.shuffle(chunk)
            for packet in chunk:
                session.receive(packet.to_bytes())
            clock.now += 1 / 30
        view = poll_until(
            session.view,
            lambda v: v["frames_decoded"] == 30,
            timeout=3.0,
            expected="30 frames decoded",
        )
        assert view["late"] == 0 and view["lost"] == 0 and view["packets"] == len(packets)
        assert (view["width"], view["height"]) == (640, 360)
        assert pool.running == 1
        session.close()
        await pool.close()
        assert pool.running == 0

    _run(body)


def test_session_waits_for_a_keyframe(units: list[bytes]) -> None:
    async def body() -> None:
        session, pool, _ = _session()
        session.confirm()
        stream = RtpStream()
        for index, unit in enumerate(units[1:11]):  # P frames only: nothing to start from
            for packet in stream.frame(unit, index):
                session.receive(packet.to_bytes())
        view = session.view()
        assert view["waiting_keyframe"] == 10 and view["frames_decoded"] == 0
        assert pool.running == 0  # no decoder thread before a keyframe
        session.close()
        await pool.close()

    _run(body)


def test_fua_broken_fault_loses_fragmented_nal_units(units: list[bytes]) -> None:
    async def body() -> None:
        session, pool, _ = _session(("fua_broken",))
        session.confirm()
        stream = RtpStream()
        for index, unit in enumerate(units[:5]):
            for packet in stream.frame(unit, index):
                session.receive(packet.to_bytes())
        view = session.view()
        assert view["fu_dropped"] >= 5 and view["waiting_keyframe"] > 0
        session.close()
        await pool.close()

    _run(body)


def test_decoder_survives_a_garbage_access_unit(units: list[bytes]) -> None:
    async def body() -> None:
        session, pool, _ = _session()
        session.confirm()
        stream = RtpStream()
        for index, unit in enumerate(units[:60]):  # 60 fit the decoder queue: no overrun
            for packet in stream.frame(unit, index):
                session.receive(packet.to_bytes())
            if index == 30:  # a garbage non-IDR slice between two frames
                junk = RtpPacket(
                    96, stream.seq, 1, stream.ssrc, b"\x41" + bytes(range(256)) * 8, marker=True
                )
                stream.seq += 1
                session.receive(junk.to_bytes())
        view = poll_until(
            session.view,
            lambda v: v["frames_decoded"] == 60,
            timeout=5.0,
            expected="every real frame decoded around the garbage",
        )
        assert view["decode_errors"] == 1 and view["decoder_overrun"] == 0
        session.close()
        await pool.close()

    _run(body)


def test_empty_view_has_every_field() -> None:
    view = empty_view()
    assert set(view) == {
        "call",
        "packets",
        "bytes",
        "bitrate_kbps",
        "frames_decoded",
        "width",
        "height",
        "fps",
        "decode_errors",
        "lost",
        "late",
        "early",
        "wrong_ssrc",
        "wrong_pt",
        "malformed",
        "rtcp",
        "waiting_keyframe",
        "decoder_overrun",
        "fu_dropped",
        "corrupt",
        "ssrc",
        "payload_type",
        "transport",
        "bad_seq",
    }
