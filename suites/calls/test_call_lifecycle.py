"""auto_call's call ended by the callee (it refuses, never answers, hangs up) and what the device
does next; answer.json's dir on an established outgoing call and an unknown dir.

The page lists call_status idle, out, in, calling, error, close and reconnecting but not when each
shows, and does not say whether auto_call dials again once a call is over. What it does make
certain: an attempt that ended is no call, so call_status stops claiming one (in, out, calling)
and bitrate is 0. Whether the device re-dials, and which state it shows meanwhile, are the
readings auto_call_after_refusal / _timeout / _remote_bye (SIP-CALL-LIFE-001..003): each case
samples status.json from the end of the call until the callee sees a new INVITE (a new Call-ID)
or the window (the state timeout) passes, and records the reading the samples show.

The callee is the plain-socket `raw_callee`: the case decides whether it refuses, stays silent,
or answers and later sends BYE.
"""

from __future__ import annotations

import time

import pytest

from decoder_conformance.contract.timing import record_wait
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import RtpSender
from decoder_conformance.peers.call_checks import (
    after_the_end_reading,
    answer_outgoing_reading,
    changes_call,
)
from decoder_conformance.peers.capture import rtp_records
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sdp, sip

#: How often status.json is sampled after the end (a state held for a retry base is seen).
SAMPLE_EVERY = 0.05
#: The window of a negative check: nothing the device does after answer.json may touch the call.
UNTOUCHED_WINDOW = 0.5


def _auto_call(sip_account, callee):
    """An account whose auto_call dials `callee`."""
    return sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})


def _first_invite(calls, callee):
    """The device's first INVITE and its offer (an offer the suite cannot answer: broken)."""
    record = callee.wait_invite(calls.timeout)
    request = record.message
    if not isinstance(request, sip.SipRequest):  # pragma: no cover - wait_invite returns INVITEs
        raise NotExercised(f"harness invariant: {record.label!r} is not an INVITE")
    offer = calls.sdp_of(request.body, request.content_type or "", "the device's INVITE")
    calls.usable_offer(offer, "the device's offer")
    return record, offer


def _answered(calls, callee, record, offer, account):
    """200 with a sendonly H.264 answer, the device's ACK, a call in progress."""
    request = record.message
    answer = sdp.answer_video_recvonly(offer, callee.host, callee.media_port)
    index, _ = calls.h264_video(answer, "the callee's answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # the callee is the video source
    callee.respond(record, 200, answer.to_bytes())
    callee.wait_for(
        lambda r: r.is_request_of("ACK") and r.message.call_id == request.call_id,
        calls.timeout,
        expected="the device's ACK to our 200",
    )
    calls.established(account, why="the callee answered 200 and the device ACKed")


def _changes(samples):
    """The sampled (call_status, bitrate) pairs with repeats folded: 'out 0 -> error 0 -> ...'."""
    shown = []
    for sample in samples:
        if not shown or shown[-1] != sample:
            shown.append(sample)
    return " -> ".join(f"{call} {bitrate:g}" for call, bitrate in shown) or "no sample"


def _after_the_end(api, calls, account, callee, first, *, window, what):
    """Sample status.json until the callee sees an INVITE with a new Call-ID or `window` passes.

    Returns (reading, seen), the reading as call_checks.after_the_end_reading names it:
    `redial_<state>` with the last state of no call sampled before the re-dial
    (`redial_at_once` when none was), or `no_redial_<state>` with the state at the window's end.
    A device that still claims a call at the window's end, shows a state the readings do not
    name, or re-dials elsewhere, follows none of them: (None, seen).
    """
    first_id = first.message.call_id
    samples = []
    started = time.monotonic()

    def probe():
        status = api.status(account.id)
        samples.append((status.call, status.bitrate))
        return [r for r in callee.invites() if r.message.call_id != first_id]

    try:
        again = poll_until(
            probe,
            bool,
            timeout=window,
            expected="an INVITE with a new Call-ID",
            interval=SAMPLE_EVERY,
        )[0]
    except WaitTimeout:
        again = None
    waited = time.monotonic() - started
    record_wait(started, started + waited, "the window a re-dial may come in")
    seen = f"{what}; then status.json (call_status bitrate) {_changes(samples)}"
    if again is not None:
        seen += f"; a new INVITE {again.message.call_id} after {waited:.2f} s"
    else:
        seen += f"; no new INVITE within {window:g} s"
    # The judgement is call_checks.after_the_end_reading (fed recorded series by the project's
    # negative controls).
    reading, more = after_the_end_reading(
        samples, first.message, None if again is None else again.message
    )
    return reading, seen + more


def _judge(api, calls, account, readings, *, point, reading, seen):
    """Record the reading (none_of when there is none), then bitrate 0 within the state timeout
    (the re-dialled call, if any, carries no media)."""
    if reading is None:
        readings.none_of(point, seen)
    readings.follow(point, reading, seen)
    api.wait_status(
        account.id,
        lambda s: s.bitrate == 0,
        timeout=calls.timeout,
        expected="bitrate 0: the call is over and no other carries media",
    )


@pytest.mark.req("SIP-CALL-LIFE-001")
@pytest.mark.parametrize("code", [486, 603])
def test_auto_call_callee_refuses(api, calls, sip_account, raw_callee, readings, *, code):
    callee = raw_callee("callee")
    account = _auto_call(sip_account, callee)
    first, _ = _first_invite(calls, callee)
    callee.respond(first, code)
    callee.wait_for(
        lambda r: r.is_request_of("ACK") and r.message.call_id == first.message.call_id,
        calls.timeout,
        expected=f"the device's ACK to our {code} (RFC 3261 §17.1.1.3)",
    )
    reading, seen = _after_the_end(
        api, calls, account, callee, first, window=calls.timeout, what=f"the callee sent {code}"
    )
    _judge(
        api, calls, account, readings, point="auto_call_after_refusal", reading=reading, seen=seen
    )


@pytest.mark.req("SIP-CALL-LIFE-002")
def test_auto_call_callee_never_answers(
    api, calls, sip_account, raw_callee, readings, *, device_target
):
    """The callee sends nothing, not even 100: the INVITE transaction ends at Timer B (64*T1,
    the profile's sip_t1; RFC 3261 §17.1.1.2), after which the device has no call to claim."""
    timer_b = device_target.profile.timers.transaction_timeout
    callee = raw_callee("callee")
    account = _auto_call(sip_account, callee)
    first, _ = _first_invite(calls, callee)
    reading, seen = _after_the_end(
        api,
        calls,
        account,
        callee,
        first,
        window=timer_b + calls.timeout,
        what=f"the callee answered nothing (Timer B {timer_b:g} s)",
    )
    _judge(
        api, calls, account, readings, point="auto_call_after_timeout", reading=reading, seen=seen
    )


@pytest.mark.req("SIP-CALL-LIFE-003")
def test_auto_call_callee_hangs_up(
    api, calls, sip_account, raw_callee, readings, *, evidence, suite_host, device_hosts
):
    callee = raw_callee("callee")
    account = _auto_call(sip_account, callee)
    first, offer = _first_invite(calls, callee)
    _answered(calls, callee, first, offer, account)
    # Video into the call, so the bitrate that must drop has risen first.
    _, video = calls.h264_video(offer, "the device's offer")
    connection = video.connection or offer.connection
    if connection is None or video.port == 0:
        raise NotExercised(f"the device's offer names no media address: {video.m_value()}")
    payload_type = next(
        r.payload_type for r in video.rtpmaps() if r.encoding_name.upper() == "H264"
    )
    sender = RtpSender(
        EncodedStream.cbr(640, 360, 30, 1000, 4.0),
        (connection.address, video.port),
        payload_type,
        bind_host=suite_host,
        allowed_hosts=device_hosts,
    )
    evidence.add_records("RTP sender", lambda: rtp_records(sender))
    with sender.start():
        try:
            api.wait_status(
                account.id,
                lambda s: s.bitrate > 0,
                timeout=calls.timeout,
                expected="a non-zero bitrate while the callee streams video into the call",
            )
            media = "bitrate above 0 with video flowing"
        except ConformanceFailure:  # the meter itself is the media cases' (SIP-MED-*)
            media = "bitrate still 0 with video flowing"
        callee.bye(first)
        callee.wait_for(
            lambda r: r.status_of("BYE") == 200 and r.message.call_id == first.message.call_id,
            calls.timeout,
            expected="200 to the callee's BYE (RFC 3261 §15.1.2)",
        )
    reading, seen = _after_the_end(
        api, calls, account, callee, first, window=calls.timeout, what=f"{media}, the callee's BYE"
    )
    _judge(
        api,
        calls,
        account,
        readings,
        point="auto_call_after_remote_bye",
        reading=reading,
        seen=seen,
    )


# -- answer.json's dir ---------------------------------------------------------------------------


@pytest.mark.req("SIP-CALL-ANS-002")
def test_answer_on_an_outgoing_call(api, calls, sip_account, raw_callee, readings):
    """The page's only answer.json example, dir=sip_out, on a call the device placed (and then
    without dir and with an unknown one): each answers an envelope and none touches the call,
    which hangup.json then ends with a BYE in the same dialog."""
    callee = raw_callee("callee")
    account = _auto_call(sip_account, callee)
    first, offer = _first_invite(calls, callee)
    _answered(calls, callee, first, offer, account)
    call_id = first.message.call_id
    since = time.monotonic()
    replies = {}
    for form, extra in (
        ("dir=sip_out", {"dir": "sip_out"}),
        ("no dir", {}),
        ("dir=sip_bogus", {"dir": "sip_bogus"}),
    ):
        reply = api.call("answer", {"id": str(account.id), **extra})
        api.expect_envelope(reply)
        replies[form] = reply
    seen = "; ".join(f"answer.json with {form}: {r.body!r}" for form, r in replies.items())

    callee.none_for(
        lambda record: changes_call(record, since),
        UNTOUCHED_WINDOW,
        expected=f"the established outgoing call {call_id} left as it was after {seen}",
    )
    calls.status_now(account, calls.IN_PROGRESS, f"the outgoing call is still up after {seen}")
    readings.follow(
        "answer_outgoing_call", answer_outgoing_reading(replies["dir=sip_out"].ok), seen
    )
    # The call was up all along: hangup.json ends it with a BYE in its dialog.
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    callee.wait_for(
        lambda r: r.is_request_of("BYE") and r.message.call_id == call_id,
        calls.timeout,
        expected=f"the device's BYE on {call_id} after hangup.json",
    )
    calls.ended(account, why="hangup.json ended the outgoing call")


@pytest.mark.req("SIP-CALL-ANS-003")
def test_answer_with_an_unknown_dir(api, calls, sip_account, raw_caller):
    """A dir the page does not list answers nothing: refused, and the call rings on (the
    caller's CANCEL then gets 487, not 200)."""
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    try:
        calls.leg_rings(leg, account)
    except AssertionError as exc:  # ringing itself is SIP-CALL-IN-002's
        raise NotExercised(f"the call did not ring: {exc}") from None
    reply = api.call("answer", {"id": str(account.id), "dir": "sip_bogus"})
    api.expect_error(reply, "bad_value")
    leg.cancel()
    final = leg.response(timeout=calls.timeout)
    assert final.status_code == 487, (
        f"[{api.req}] expected the call still ringing after the refused answer.json (487 to "
        f"the INVITE once CANCELled), observed {final.status_code} {final.reason}; flow: "
        f"{leg.flow()}"
    )
    calls.ended(account, why="the caller cancelled the ringing call")
