"""call_status while the device's own BYE or CANCEL is in flight, and once that request is over.

The page lists close among the call_status values without saying when it shows. The one moment a
call is neither up nor over is while hangup.json's BYE (or CANCEL) waits for its answer, so the
peer holds that answer back and the case samples status.json meanwhile: which listed state the
device shows is the reading call_status_closing (SIP-CALL-CLOSE-001). What RFC 3261 §15.1.1 makes
certain is judged apart (SIP-CALL-CLOSE-002): a BYE answered 481, or never, still ends the call,
so call_status stops claiming one.
"""

from __future__ import annotations

import time

import pytest

from decoder_conformance.contract.timing import record_wait, unavoidable
from decoder_conformance.failures import NotExercised
from decoder_conformance.waiting import WaitTimeout, poll_until, sample_over

#: How long the peer holds its answer at most (seconds): a quarter of the device's transaction
#: timeout at most, so the device is still waiting for it when the last sample is taken.
HOLD = 0.5
#: How often status.json is sampled while the answer is held.
SAMPLE_EVERY = 0.05
#: The no-call states a device may show (the page's call_status values that name no call).
NO_CALL = ("close", "idle", "error", "reconnecting")


def _hold(timers):
    return min(HOLD, timers.transaction_timeout / 4)


def _sample_for(api, account, seconds, timers):
    """call_status samples over `seconds`, in order."""
    unavoidable(seconds, "sampling status.json while an answer is held back")
    return sample_over(
        lambda: api.status(account.id).call,
        seconds,
        timeout=seconds + timers.state_timeout,
        interval=SAMPLE_EVERY,
        expected=f"status.json samples over {seconds:.2f} s",
    )


def _history(states):
    """`a -> b -> c`: the states in order, repeats folded."""
    shown = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    return " -> ".join(shown) or "no sample"


def _closing_reading(calls, samples):
    """The reading of call_status_closing the last sample shows (None: a value off the page)."""
    last = samples[-1]
    if last in calls.IN_PROGRESS:
        return "unchanged"
    return last if last in NO_CALL else None


def _judge_closing(readings, calls, samples, what):
    seen = f"{what}; call_status while it was unanswered: {_history(samples)}"
    reading = _closing_reading(calls, samples)
    off_the_page = [s for s in samples if s not in (*calls.IN_PROGRESS, *NO_CALL)]
    if reading is None or off_the_page:
        readings.none_of("call_status_closing", seen)
    readings.follow("call_status_closing", reading, seen)


def _device_request(peer, method, call_id, calls, after):
    """The device's `method` on `call_id` (its record), sent after `after`."""
    return peer.wait_for(
        lambda r: r.is_request_of(method) and r.message.call_id == call_id,
        calls.timeout,
        expected=f"the device's {method} on {call_id} after {after}",
    )


def _hung_up_call(api, calls, sip_account, raw_caller):
    """An incoming call answered and up, whose caller holds its answers to BYE; hangup.json
    ends it: (account, caller, the BYE's record)."""
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    caller.hold_answers("BYE")
    leg = calls.answered(caller, account)
    if leg.requests("BYE"):
        raise NotExercised(f"the device sent BYE before hangup.json; flow: {leg.flow()}")
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    bye = _device_request(caller, "BYE", leg.call_id, calls, "hangup.json (SIP-CALL-HUP-001)")
    return account, caller, bye


@pytest.mark.req("SIP-CALL-CLOSE-001")
def test_state_while_the_bye_is_unanswered(
    api, calls, sip_account, raw_caller, readings, *, timers
):
    account, caller, bye = _hung_up_call(api, calls, sip_account, raw_caller)
    hold = _hold(timers)
    samples = _sample_for(api, account, hold, timers)
    caller.answer_held(bye, 200)
    _judge_closing(readings, calls, samples, f"hangup.json's BYE held {hold:g} s")
    calls.ended(account, why="the caller answered the BYE 200")


@pytest.mark.req("SIP-CALL-CLOSE-001")
def test_state_while_the_cancel_is_unanswered(
    api, calls, sip_account, raw_callee, readings, *, timers
):
    """auto_call rings at the callee (180), hangup.json cancels it; the callee holds the 200 to
    the CANCEL and the 487 to the INVITE, then sends both."""
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    invite = callee.wait_invite(calls.timeout)
    call_id = invite.message.call_id
    callee.respond(invite, 180)
    calls.status_is(account, *calls.IN_PROGRESS, why="the device's call rings at the callee")
    reply = api.call("hangup", {"id": str(account.id)})
    api.expect_envelope(reply)
    if not reply.ok:
        raise NotExercised(
            f"hangup.json on the ringing outgoing call answered {reply.body!r}: no CANCEL to hold"
        )
    try:
        cancel = _device_request(callee, "CANCEL", call_id, calls, "hangup.json")
    except WaitTimeout as exc:  # what hangup.json does to a ringing call is not this case's
        raise NotExercised(f"hangup.json sent no CANCEL: {exc}") from None
    hold = _hold(timers)
    samples = _sample_for(api, account, hold, timers)
    callee.respond(cancel, 200)
    callee.respond(invite, 487)
    callee.wait_for(
        lambda r: r.is_request_of("ACK") and r.message.call_id == call_id,
        calls.timeout,
        expected="the device's ACK to our 487 (RFC 3261 §17.1.1.3)",
    )
    _judge_closing(readings, calls, samples, f"hangup.json's CANCEL held {hold:g} s")

    def over():
        # A device may dial again after the cancelled attempt (the page does not say it must
        # not): a new INVITE ends the wait as well as a state naming no call.
        redialled = [c for c in callee.call_ids() if c != call_id]
        return bool(redialled) or api.status(account.id).call in NO_CALL

    poll_until(
        over,
        bool,
        timeout=calls.timeout,
        expected="call_status naming no call (or a new INVITE) once the CANCEL and 487 were sent",
    )


@pytest.mark.req("SIP-CALL-CLOSE-002")
@pytest.mark.parametrize("answer", ["481", "none"])
def test_call_ends_when_the_bye_fails(api, calls, sip_account, raw_caller, timers, *, answer):
    account, caller, bye = _hung_up_call(api, calls, sip_account, raw_caller)
    if answer == "481":
        caller.answer_held(bye, 481)
        what = "the caller answered the device's BYE 481"
        over_at = time.monotonic()
    else:
        what = (
            f"the caller never answered the device's BYE (Timer F {timers.transaction_timeout:g} s)"
        )
        over_at = bye.t + timers.transaction_timeout
        record_wait(bye.t, over_at, "Timer F: the device's BYE goes unanswered")
    samples = []

    def call_status():
        samples.append(api.status(account.id).call)
        return samples[-1]

    try:
        poll_until(
            call_status,
            # judged once the transaction is over: a state shown before then may change again
            lambda state: state not in calls.IN_PROGRESS and time.monotonic() >= over_at,
            timeout=max(0.0, over_at - time.monotonic()) + calls.timeout,
            expected="call_status naming no call",
        )
    except WaitTimeout:
        raise AssertionError(
            f"[{api.req}] expected call_status to leave {'/'.join(calls.IN_PROGRESS)} within "
            f"{calls.timeout:g} s once the BYE's transaction was over ({what}; RFC 3261 §15.1.1: "
            f"the session and the dialog are over), observed {_history(samples)}; "
            f"flow: {caller.flow(bye.message.call_id)}"
        ) from None
