"""The bitrate status.json reports, against the bitrate the suite actually sent."""

from __future__ import annotations

import time

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.media.bitrate import match_definitions, sent_by_definition
from decoder_conformance.media.checks import early_media_reading
from decoder_conformance.media.encode import EncodedStream

#: (kbit/s, width, height): 4000 kbit/s needs 720p for the encoder to reach its rate.
RATES = [(500, 640, 360), (1000, 640, 360), (4000, 1280, 720)]
WARMUP = 3.0  # s: the device's meter window fills and the encoder's VBV settles (SIP-MED-BR-001)
SECONDS = 6.0
BITRATE_POINT = "bitrate_definition"


def streamed(media, call, stream):
    """Stream `stream` into `call` to the end while recording; (sender, recorder)."""
    recorder = media.record(call)
    sender = media.stream(call, stream)
    sender.wait(stream.duration + media.timeout)
    recorder.stop()
    return sender, recorder


@pytest.mark.req("SIP-MED-BR-001")
@pytest.mark.parametrize(("kbps", "width", "height"), RATES, ids=[f"{r[0]}k" for r in RATES])
def test_reported_bitrate_matches_sent(media, readings, kbps, width, height):
    """The median reported bitrate against the video sent, under the pinned bitrate_definition
    (with the profile's tolerance) or, unpinned, under any of its readings (the closest that
    matches is recorded): a kbyte/s or a 1024 mistake misses the pinned reading."""
    profile = media.device_target.profile
    pinned = profile.readings.get(BITRATE_POINT)
    tolerance = profile.media.bitrate_tolerance
    stream = EncodedStream.cbr(width, height, 30, kbps, SECONDS)
    call = media.call()
    sender, recorder = streamed(media, call, stream)
    start, end = sender.started_at + WARMUP, sender.started_at + SECONDS
    reported = recorder.between(start, end)
    if len(reported) < 4:
        raise ConformanceFailure(
            media.api.req,
            "at least 4 status.json samples in the window",
            f"{len(reported)}: {reported}",
        )
    sent = sent_by_definition(sender.sent_packets(sender.ssrc), start, end)
    match = match_definitions(reported, sent, tolerance, only=pinned)
    seen = f"{kbps} kbit/s {width}x{height}, {len(reported)} samples: {match.describe()}"
    if not match.matching:
        under = f"the pinned reading {pinned}" if pinned else "any reading of bitrate_definition"
        raise ConformanceFailure(
            media.api.req,
            f"status.json bitrate within {tolerance:.1%} of the video sent under {under}",
            seen,
        )
    readings.follow(BITRATE_POINT, match.matching[0], seen)


@pytest.mark.req("SIP-MED-BR-002")
def test_bitrate_zero_after_bye(media):
    call = media.call()
    sender = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 4.0))
    media.wait_bitrate(
        call, lambda b: b > 0, "a non-zero bitrate while media flows", timeout=media.timeout
    )
    call.leg.bye()
    call.leg.response(200, method="BYE", timeout=media.timeout)
    sender.stop()
    # The page gives no deadline: the profile's state timeout is the one the suite allows.
    media.wait_bitrate(
        call,
        lambda b: b == 0,
        f"bitrate 0 within the state timeout ({media.timeout:g} s) after the 200 to BYE",
        timeout=media.timeout,
    )


@pytest.mark.req("SIP-MED-BR-003")
def test_bitrate_zero_after_source_stops(media):
    call = media.call()
    sender = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 3.0))
    media.wait_bitrate(
        call, lambda b: b > 0, "a non-zero bitrate while media flows", timeout=media.timeout
    )
    sender.wait(3.0 + media.timeout)

    def still_up(when):
        # The case is about a call that stays up; one the device ended is not exercised here.
        status = media.api.status(call.account.id)
        if status.call not in media.ESTABLISHED or call.leg.requests("BYE"):
            raise NotExercised(
                f"the device ended the call {when} (call_status {status.call}; flow: "
                f"{call.leg.flow()}): bitrate 0 of a call that stays up was not observed"
            )

    still_up("when the media stopped")
    # The page gives no deadline: the profile's state timeout is the one the suite allows.
    try:
        media.wait_bitrate(
            call,
            lambda b: b == 0,
            f"bitrate 0 within the state timeout ({media.timeout:g} s) after the media stopped",
            timeout=media.timeout,
        )
    except ConformanceFailure:
        still_up("while its bitrate was awaited")  # then the bitrate is SIP-MED-BR-002's
        raise
    still_up("before its bitrate read 0")


@pytest.mark.req("SIP-MED-BR-004")
def test_bitrate_change_is_tracked(media):
    change_at, seconds = 4.0, 9.0
    stream = EncodedStream.bitrate_change(
        1000, 500, change_at, seconds, width=640, height=360, fps=30
    )
    call = media.call()
    sender, recorder = streamed(media, call, stream)
    media.check_bitrate(
        recorder, sender, sender.started_at + change_at + 3.0, sender.started_at + seconds
    )


@pytest.mark.req("SIP-MED-LOSS-001")
@pytest.mark.parametrize("loss", [0.01, 0.05], ids=["1pct", "5pct"])
def test_loss_keeps_call_and_meter(media, loss):
    call = media.call()
    recorder = media.record(call)
    sender = media.stream(
        call, EncodedStream.cbr(640, 360, 30, 1000, 5.0), loss_fraction=loss, seed=7
    )
    sender.wait(5.0 + media.timeout)
    recorder.stop()
    if sender.stats().packets_dropped == 0:
        raise NotExercised("harness: the loss pattern dropped nothing")
    media.check_bitrate(recorder, sender, sender.started_at + WARMUP, sender.started_at + 5.0)
    status = media.api.status(call.account.id)
    byes = call.leg.requests("BYE")
    if status.call not in media.ESTABLISHED or byes:
        observed = f"call_status {status.call}, BYE from the device: {bool(byes)}"
        raise ConformanceFailure(media.api.req, "the call kept up under loss", observed)


@pytest.mark.req("SIP-MED-EARLY-001")
def test_media_before_ack_counted_by_a_reading(media, readings):
    """RTP after the device's 200 and before the ACK: RFC 3264 §6/§7 let the answerer receive
    (and count) it once it has answered, so `counted` and `not_counted` are both readings."""
    call = media.call(confirm=False)
    recorder = media.record(call)
    early = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 1.5))
    early.wait(1.5 + media.timeout)
    if early.stats().packets_sent == 0:
        raise NotExercised("harness: no early RTP was sent")
    acked_at = time.monotonic()
    call.leg.ack()
    # The early window: from the first early packet to the ACK (nothing after it counts here).
    window = recorder.between(early.started_at, acked_at)
    media.wait_established(call.account, "the ACK confirmed the call")
    late = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 3.0))
    try:
        media.wait_bitrate(
            call, lambda b: b > 0, "a bitrate once the call is confirmed", timeout=media.timeout
        )
    except ConformanceFailure as exc:
        # Without a meter that moves at all, "not counted" cannot be told apart.
        raise NotExercised(f"the bitrate never moved after the ACK: {exc}") from None
    finally:
        late.stop()
        recorder.stop()
    if len(window) < 2:
        raise NotExercised(f"only {len(window)} bitrate samples before the ACK: {window}")
    seen = f"bitrate samples between the 200 and the ACK: {window}"
    readings.follow("early_media_counted", early_media_reading(window), seen)
