"""The media-depth behaviours of the reference decoder and the faults that break them: on a
MediaSession without sockets, reordering (reorder_dropped), a foreign SSRC (foreign_ssrc_metered),
parameter sets from sprop-parameter-sets (sprop_ignored), recovery after loss
(loss_stalls_decoder) and the keyframe request a gap makes; over the wire, an offer of H.265 only
(h265_offer_accepted) and the PLI that reaches the sender."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.faults import Faults
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import KEYFRAME_REQUEST_SPACING, MediaSession, MediaView
from reference_device.sip.media import picture_loss_indication, sprop_parameter_sets
from tests.reference_device.media.stream import RtpStream, place_call
from tests.reference_device.sip.peer import LOCAL, Dialog, Peer, device
from wire import sdp
from wire.h264 import NAL_TYPE_PPS, NAL_TYPE_SPS, join_annexb, split_annexb
from wire.rtp import RTCP_PSFB, RtcpUnknown, parse_rtcp

FRAMES = 20
PARAMETER_SETS = (NAL_TYPE_SPS, NAL_TYPE_PPS)


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Feed = Callable[[MediaSession, Clock], None]


def _run(faults: tuple[str, ...], feed: Feed, done: Callable[[MediaView], bool]) -> MediaView:
    """A confirmed session with `faults`, fed by `feed`; its view once `done` holds."""

    async def body() -> MediaView:
        pool = DecoderPool()
        clock = Clock()
        session = MediaSession("udp", Faults(faults), pool, name="t", clock=clock)
        session.payload_type = 96
        session.confirm()
        try:
            feed(session, clock)
            return poll_until(session.view, done, timeout=5.0, expected="the decoder done")
        finally:
            session.close()
            await pool.close()

    return asyncio.run(body())


def _handled(count: int) -> Callable[[MediaView], bool]:
    """Every one of `count` access units handed to the decoder came out (frame or error)."""
    return lambda v: v["frames_decoded"] + v["decode_errors"] >= count


# -- reordering --------------------------------------------------------------------------------


@pytest.mark.parametrize("faults", [(), ("reorder_dropped",)])
def test_swapped_neighbours_are_all_used_unless_reorder_dropped(
    units: list[bytes], faults: tuple[str, ...]
) -> None:
    sent = swaps = 0

    def feed(session: MediaSession, clock: Clock) -> None:
        nonlocal sent, swaps
        stream = RtpStream()
        for index, unit in enumerate(units[:FRAMES]):
            packets = stream.frame(unit, index)
            # The second packet first (a reorder window of one); not in the first frame: a
            # packet before the very first one received cannot be told from a late one.
            if index and len(packets) > 1:
                packets[0], packets[1] = packets[1], packets[0]
                swaps += 1
            for packet in packets:
                session.receive(packet.to_bytes())
                sent += 1
            clock.now += 1 / 30

    # The loop-side counters are final at once; a clean run also waits for every frame.
    view = _run(faults, feed, (lambda v: True) if faults else _handled(FRAMES))
    assert swaps > 0
    if faults:
        assert view["late"] == swaps and view["packets"] <= sent - swaps, view
    else:
        assert view["late"] == 0 and view["packets"] == sent, view
        assert view["frames_decoded"] == FRAMES and view["fu_dropped"] == 0, view


# -- a second SSRC -----------------------------------------------------------------------------


@pytest.mark.parametrize("faults", [(), ("foreign_ssrc_metered",)])
def test_a_foreign_ssrc_is_not_metered_unless_foreign_ssrc_metered(
    units: list[bytes], faults: tuple[str, ...]
) -> None:
    ours = RtpStream()
    foreign = RtpStream()
    metered: list[int] = []

    def feed(session: MediaSession, clock: Clock) -> None:
        for index, unit in enumerate(units[:FRAMES]):
            for mine, theirs in zip(
                ours.frame(unit, index), foreign.frame(unit, index), strict=True
            ):
                session.receive(mine.to_bytes())
                session.receive(theirs.to_bytes())
            clock.now += 1 / 30
        metered.append(session.meter.bytes_in_window())

    view = _run(faults, feed, lambda v: True)
    assert view["wrong_ssrc"] > 0 and view["ssrc"] == ours.ssrc, view
    assert metered == [view["bytes"] * (2 if faults else 1)], (metered, view)


# -- sprop-parameter-sets ----------------------------------------------------------------------


def _without_parameter_sets(unit: bytes) -> bytes:
    return join_annexb([n for n in split_annexb(unit) if n[0] & 0x1F not in PARAMETER_SETS])


@pytest.mark.parametrize("faults", [(), ("sprop_ignored",)])
def test_sprop_parameter_sets_are_used_unless_sprop_ignored(
    units: list[bytes], faults: tuple[str, ...]
) -> None:
    sets = [n for n in split_annexb(units[0]) if n[0] & 0x1F in PARAMETER_SETS]
    assert len(sets) == 2

    def feed(session: MediaSession, clock: Clock) -> None:
        session.parameter_sets = join_annexb(sets)
        stream = RtpStream()
        for index, unit in enumerate(units[:FRAMES]):
            for packet in stream.frame(_without_parameter_sets(unit), index):
                session.receive(packet.to_bytes())
            clock.now += 1 / 30

    if faults:
        # Without the parameter sets nothing decodes: wait for every access unit to be refused.
        view = _run(faults, feed, lambda v: v["decode_errors"] >= FRAMES or v["frames_decoded"])
        assert view["frames_decoded"] == 0, view
    else:
        view = _run(faults, feed, _handled(FRAMES))
        assert view["frames_decoded"] == FRAMES and view["decode_errors"] == 0, view


def test_sprop_parameter_sets_are_read_from_the_offer_fmtp() -> None:
    sps, pps = b"\x67\x42\xc0\x1f\xab", b"\x68\xce\x3c\x80"
    value = ",".join(base64.b64encode(n).decode() for n in (sps, pps))
    offer = sdp.h264_offer(
        host="127.0.0.1",
        video_port=5000,
        payload_type=97,
        fmtp=f"packetization-mode=1; sprop-parameter-sets={value}",
    )
    assert sprop_parameter_sets(offer, 97) == join_annexb([sps, pps])
    assert sprop_parameter_sets(offer, 96) == b""  # another payload type
    assert sprop_parameter_sets(offer, None) == b""
    broken = sdp.h264_offer(host="127.0.0.1", video_port=5000, fmtp="sprop-parameter-sets=!!,Z0I=")
    assert sprop_parameter_sets(broken, 96) == b""


# -- a loss burst: recovery and the keyframe request -------------------------------------------


def _loss_then_idr(units: list[bytes]) -> Feed:
    """Frames 0-9, frame 10 lost, 11-19, then the IDR again and 9 frames after it."""

    def feed(session: MediaSession, clock: Clock) -> None:
        stream = RtpStream()
        order = list(range(FRAMES)) + list(range(10))
        for index, unit_index in enumerate(order):
            packets = stream.frame(units[unit_index], index)  # numbered even when lost: a gap
            if index != 10:
                for packet in packets:
                    session.receive(packet.to_bytes())
            clock.now += 1 / 30

    return feed


@pytest.mark.parametrize("faults", [(), ("loss_stalls_decoder",)])
def test_decoding_goes_on_after_loss_unless_loss_stalls_decoder(
    units: list[bytes], faults: tuple[str, ...]
) -> None:
    handed = FRAMES + 10 - 1  # every frame but the lost one
    if faults:
        view = _run(faults, _loss_then_idr(units), lambda v: v["waiting_keyframe"] >= handed - 10)
        assert view["frames_decoded"] <= 10 and view["lost"] > 0, view
    else:
        view = _run(faults, _loss_then_idr(units), _handled(handed))
        assert view["frames_decoded"] >= handed - 9 and view["waiting_keyframe"] == 0, view


@pytest.mark.parametrize("faults", [(), ("no_keyframe_request",)])
def test_a_gap_asks_for_a_keyframe_at_most_once_per_spacing_unless_no_keyframe_request(
    units: list[bytes], faults: tuple[str, ...]
) -> None:
    asked: list[tuple[float, int]] = []
    ssrc: list[int] = []

    def feed(session: MediaSession, clock: Clock) -> None:
        session.keyframe_request = lambda media: asked.append((clock.now, media))
        stream = RtpStream()
        ssrc.append(stream.ssrc)
        for index, unit in enumerate(units[:60]):
            packets = stream.frame(unit, index)
            lost = index in (10, 12, 40)  # two gaps within the spacing, one after it
            for packet in [] if lost else packets:
                session.receive(packet.to_bytes())
            clock.now += 1 / 30

    view = _run(faults, feed, lambda v: True)
    assert view["lost"] > 0, view  # the gaps were seen either way
    if faults:
        assert asked == [], asked
        return
    assert [media for _, media in asked] == ssrc * 2, asked
    assert asked[1][0] - asked[0][0] >= KEYFRAME_REQUEST_SPACING


def test_picture_loss_indication_is_rfc_4585_psfb_fmt_1() -> None:
    (packet,) = parse_rtcp(picture_loss_indication(0x11223344, 0xAABBCCDD))
    assert isinstance(packet, RtcpUnknown)
    assert (packet.type, packet.count) == (RTCP_PSFB, 1)
    assert packet.body == bytes.fromhex("11223344aabbccdd")


# -- over the wire: an H.265 offer, and the PLI on the caller's media socket -------------------


def _h265_offer() -> bytes:
    offer = sdp.h264_offer(host=LOCAL, video_port=9, fmtp=None, username="cam", session_id=1)
    video = offer.media[0]
    video.remove_attribute("rtpmap")
    video.add_attribute("rtpmap", sdp.RtpMap(96, sdp.ENCODING_H265, 90000).to_string())
    return offer.to_bytes()


@pytest.mark.parametrize("faults", [(), ("h265_offer_accepted",)])
def test_an_h265_only_offer_is_refused_unless_h265_offer_accepted(
    tmp_path: Path, faults: tuple[str, ...]
) -> None:
    with device(tmp_path, faults=faults) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        peer = Peer()
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(_h265_offer())
        if faults:
            ok = peer.response(200)
            dialog.take_tag(ok)
            dialog.ack()
            video = sdp.parse(ok.body).media[0]
            assert video.port != 0 and video.rtpmap(96) is not None, ok.body
            dialog.bye()
            peer.response(200, "BYE")
        else:
            peer.response(488)
        peer.close()


def test_a_gap_sends_a_pli_to_where_the_rtp_comes_from(tmp_path: Path, units: list[bytes]) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev)
        stream = RtpStream()
        call.media.settimeout(5.0)
        for index, unit in enumerate(units[:20]):
            packets = stream.frame(unit, index)  # numbered even when lost: a sequence gap
            for packet in packets if index != 10 else []:
                call.send(packet.to_bytes())
        data, source = call.media.recvfrom(2048)
        (pli,) = parse_rtcp(data)
        assert source == call.target
        assert isinstance(pli, RtcpUnknown) and (pli.type, pli.count) == (RTCP_PSFB, 1)
        assert int.from_bytes(pli.body[4:8], "big") == stream.ssrc
        call.bye()
        call.close()
