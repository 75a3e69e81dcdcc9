"""What the device decodes, and media over TCP."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.waiting import WaitTimeout, poll_until

#: Equal frames_decoded polls (0.25 s apart) that count as settled.
SETTLED_POLLS = 4


def media_stats(api, account_id):
    reply = api.call("reference/media", {"id": str(account_id)})
    return api.expect_ok(reply, data_schema="ReferenceMediaOk")


@pytest.mark.req("SIP-MED-FRM-001")
@pytest.mark.needs("reference_extensions")
def test_every_frame_sent_is_decoded(media):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 3.0)
    call = media.call()
    sender = media.stream(call, stream)
    sent = sender.wait(stream.duration + media.timeout).frames_sent
    try:
        stats = poll_until(
            lambda: media_stats(media.api, call.account.id),
            lambda s: s["frames_decoded"] >= sent,
            timeout=media.timeout,
            expected=f"{sent} frames decoded",
        )
    except WaitTimeout as exc:
        raise ConformanceFailure(media.api.req, f"{sent} frames decoded", str(exc)) from None
    if stats["frames_decoded"] != sent:
        raise ConformanceFailure(
            media.api.req, f"{sent} frames decoded", f"{stats['frames_decoded']} decoded"
        )
    size = (stats["width"], stats["height"])
    if size != (640, 360):
        raise ConformanceFailure(media.api.req, "decoded at 640x360 (as sent)", f"{size}")


@pytest.mark.req("SIP-MED-TCP-001")
@pytest.mark.needs("tcp_media")
def test_media_over_tcp(media):
    call = media.call(tcp=True)
    recorder = media.record(call)
    sender = media.stream(call, EncodedStream.cbr(640, 360, 30, 1000, 6.0))
    sender.wait(6.0 + media.timeout)
    recorder.stop()
    media.check_bitrate(recorder, sender, sender.started_at + 3.0, sender.started_at + 6.0)


@pytest.mark.req("SIP-MED-LOSS-001")
@pytest.mark.needs("reference_extensions")
@pytest.mark.parametrize("loss", [0.01, 0.05], ids=["1pct", "5pct"])
def test_loss_still_decodes(media, loss):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 4.0)
    call = media.call()
    sender = media.stream(call, stream, loss_fraction=loss, seed=11)
    stats = sender.wait(stream.duration + media.timeout)
    if stats.packets_dropped == 0:
        raise NotExercised("harness: the loss pattern dropped nothing")
    # Frames hit by loss may not decode; the rest must, and the loss must have been seen.
    try:
        poll_until(
            lambda: media_stats(media.api, call.account.id),
            lambda s: s["frames_decoded"] >= stats.frames_sent // 2 and s["lost"] > 0,
            timeout=media.timeout,
            expected="at least half the frames decoded and loss counted",
        )
    except WaitTimeout as exc:
        raise ConformanceFailure(media.api.req, "decoding to go on under loss", str(exc)) from None
    # The counter once the device is done with what was sent: the poll above stops at the first
    # sample over half, so only a settled count can show frames counted twice (or invented).
    history: list[int] = []

    def settled(s):
        history.append(s["frames_decoded"])
        return len(history) >= SETTLED_POLLS and len(set(history[-SETTLED_POLLS:])) == 1

    try:
        decoded = poll_until(
            lambda: media_stats(media.api, call.account.id),
            settled,
            timeout=media.timeout,
            interval=0.25,
            expected=f"frames_decoded to stop changing ({SETTLED_POLLS} equal polls)",
        )
    except WaitTimeout as exc:
        raise ConformanceFailure(
            media.api.req, "the decoded-frame count to settle once the source stopped", str(exc)
        ) from None
    if decoded["frames_decoded"] > stats.frames_sent:
        raise ConformanceFailure(
            media.api.req,
            f"at most the {stats.frames_sent} frames sent decoded",
            f"frames_decoded {decoded['frames_decoded']} (history {history})",
        )
    status = media.api.status(call.account.id)
    if status.call not in media.ESTABLISHED or call.leg.requests("BYE"):
        raise ConformanceFailure(
            media.api.req,
            "the call kept up under loss",
            f"call_status {status.call}; flow: {call.leg.flow()}",
        )
