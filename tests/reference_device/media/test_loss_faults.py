"""Packet loss against the loss_frames_double_counted fault, on a MediaSession without sockets."""

from __future__ import annotations

import asyncio

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.faults import Faults
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import MediaSession, MediaView
from tests.reference_device.media.stream import RtpStream

#: Frames sent: the IDR and P frames only (the stream has no second keyframe), few enough for the
#: decoder queue to take them all.
SENT = 40
#: The P frame whose packets are all lost.
LOST = 10


def _decode(units: list[bytes], faults: tuple[str, ...], *, lose: bool) -> MediaView:
    """Feed the first SENT frames to a fresh session (frame LOST's packets dropped when `lose`);
    the view once the decoder has taken every access unit handed to it."""
    handed = SENT - 1 if lose else SENT  # every frame that arrives whole is one access unit
    extra = SENT - 1 - LOST if lose and faults else 0  # frames LOST+1.. counted again

    async def body() -> MediaView:
        pool = DecoderPool()
        session = MediaSession("udp", Faults(faults), pool, name="t")
        session.payload_type = 96
        session.confirm()
        stream = RtpStream()
        for index, unit in enumerate(units[:SENT]):
            packets = stream.frame(unit, index)  # numbered even when lost: a sequence gap
            if lose and index == LOST:
                continue
            for packet in packets:
                session.receive(packet.to_bytes())
        try:
            return poll_until(
                session.view,
                lambda v: v["frames_decoded"] + v["decode_errors"] == handed + extra,
                timeout=5.0,
                expected=f"{handed} access units decoded (plus {extra} counted again)",
            )
        finally:
            session.close()
            await pool.close()

    return asyncio.run(body())


@pytest.mark.parametrize("fault", [(), ("loss_frames_double_counted",)])
def test_frames_decoded_never_exceeds_frames_sent_under_loss_unless_faulty(
    units: list[bytes], fault: tuple[str, ...]
) -> None:
    view = _decode(units, fault, lose=True)
    assert view["lost"] > 0 and view["decoder_overrun"] == 0, view
    frames = view["frames_decoded"]
    if fault:
        assert frames > SENT, view  # every frame after the loss counted twice
    else:
        assert frames <= SENT - 1, view  # the lost frame is not decoded, nothing twice


def test_loss_frames_double_counted_changes_nothing_without_loss(units: list[bytes]) -> None:
    view = _decode(units, ("loss_frames_double_counted",), lose=False)
    assert view["lost"] == 0 and view["frames_decoded"] == SENT, view
