"""The bitrate status.json reports, against the bitrate the suite actually sent."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.media.encode import EncodedStream

#: (kbit/s, width, height): 4000 kbit/s needs 720p for the encoder to reach its rate.
RATES = [(500, 640, 360), (1000, 640, 360), (4000, 1280, 720)]
WARMUP = 3.0  # the device's meter window fills and the encoder's VBV settles
SECONDS = 6.0


def streamed(media, call, stream):
    """Stream `stream` into `call` to the end while recording; (sender, recorder)."""
    recorder = media.record(call)
    sender = media.stream(call, stream)
    sender.wait(stream.duration + media.timeout)
    recorder.stop()
    return sender, recorder


@pytest.mark.req("SIP-MED-BR-001")
@pytest.mark.parametrize(("kbps", "width", "height"), RATES, ids=[f"{r[0]}k" for r in RATES])
def test_reported_bitrate_matches_sent(media, kbps, width, height):
    stream = EncodedStream.cbr(width, height, 30, kbps, SECONDS)
    call = media.call()
    sender, recorder = streamed(media, call, stream)
    start = sender.started_at + WARMUP
    media.check_bitrate(recorder, sender, start, sender.started_at + SECONDS)


@pytest.mark.req("SIP-MED-BR-002")
def test_bitrate_zero_after_bye(media):
    call = media.call()
    sender = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 4.0))
    media.wait_bitrate(
        call, lambda b: b > 0, "a non-zero bitrate while media flows", timeout=media.timeout
    )
    call.leg.bye()
    ok = call.leg.response(200, method="BYE", timeout=media.timeout)
    assert ok.status_code == 200
    sender.stop()
    media.wait_bitrate(call, lambda b: b == 0, "bitrate 0 within 3 s after BYE", timeout=3.0)


@pytest.mark.req("SIP-MED-BR-003")
def test_bitrate_zero_after_source_stops(media):
    call = media.call()
    sender = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 3.0))
    media.wait_bitrate(
        call, lambda b: b > 0, "a non-zero bitrate while media flows", timeout=media.timeout
    )
    sender.wait(3.0 + media.timeout)
    media.wait_bitrate(
        call, lambda b: b == 0, "bitrate 0 within 3 s after the media stopped", timeout=3.0
    )
    status = media.api.status(call.account.id)
    if status.call != "calling":
        raise ConformanceFailure(media.api.req, "the call still up (calling)", status.call)


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
    assert sender.stats().packets_dropped > 0, "the loss pattern dropped nothing"
    media.check_bitrate(recorder, sender, sender.started_at + WARMUP, sender.started_at + 5.0)
    status = media.api.status(call.account.id)
    byes = call.leg.requests("BYE")
    if status.call != "calling" or byes:
        observed = f"call_status {status.call}, BYE from the device: {bool(byes)}"
        raise ConformanceFailure(media.api.req, "the call kept up under loss", observed)


@pytest.mark.req("SIP-MED-EARLY-001")
def test_media_before_ack_not_counted(media):
    call = media.call(confirm=False)
    recorder = media.record(call)
    early = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 1.5))
    early.wait(1.5 + media.timeout)
    assert early.stats().packets_sent > 0
    counted = recorder.between(early.started_at, early.started_at + 1.5 + 0.5)
    call.leg.ack()
    media.wait_call(call.account, "calling", "the ACK confirmed the call")
    late = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 3.0))
    media.wait_bitrate(
        call, lambda b: b > 0, "a bitrate once the call is confirmed", timeout=media.timeout
    )
    late.stop()
    recorder.stop()
    if any(counted):
        raise ConformanceFailure(
            media.api.req, "bitrate 0 while the call was not confirmed", f"samples {counted}"
        )
