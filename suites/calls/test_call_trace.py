"""The status trace of a call, judged by the case that drives it (SIP-STAT-TRACE-001, 002, 004).

Every call case records status.json of its accounts through the whole case and is judged at its
end (plugin/status_trace.py, autouse from conftest.py); these cases drive the flows the trace
needs to see (a ringing call answered by answer.json, a call held up, a call ended by the
caller) and judge their own requirement in the call phase, after proving the trace held what it
judges.
"""

from __future__ import annotations

import pytest

from decoder_conformance.contract.timing import unavoidable
from decoder_conformance.device.status_judge import IN_PROGRESS
from decoder_conformance.failures import NotExercised
from decoder_conformance.waiting import poll_until

#: How long the trace must have seen the call in progress before the caller ends it (s): long
#: enough for a flicker of a few samples to show between two samples of the call.
HELD_FOR = 1.5


def assert_no_violations(trace, requirement):
    """The trace's verdict on `requirement`: no violation (NotExercised if the series never
    exercised it)."""
    trace.finish()
    if requirement not in trace.exercised:
        raise NotExercised(
            f"harness: the status trace did not exercise {requirement}; series: "
            f"{ {aid: len(s) for aid, s in trace.series().items()} }"
        )
    found = [
        f"account {aid}: {v.detail}" for aid, v in trace.violations if v.requirement == requirement
    ]
    assert not found, f"[{requirement}] " + "; ".join(found)


def in_progress_span(trace, account):
    """Seconds between the first and the last sample that show the account's call in progress
    (None before the first)."""
    times = [
        s.t
        for s in trace.series().get(account.id, [])
        if s.status is not None and s.status.call in IN_PROGRESS
    ]
    return times[-1] - times[0] if times else None


def sampled_in_progress(trace, account, timeout, *, apart=0.0):
    """Wait until the trace holds samples of the account's call in progress, the first and the
    last `apart` seconds apart (the trace samples every 0.1 s: a case that moves faster would
    leave it nothing to judge)."""
    poll_until(
        lambda: in_progress_span(trace, account),
        lambda span: span is not None and span >= apart,
        timeout=timeout + apart,
        expected=f"status.json samples of the call in progress {apart} s apart in the trace",
    )


def hung_up(calls, leg, account):
    """The caller's BYE, answered 200, and call_status showing the call over."""
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller's BYE was answered 200")


@pytest.mark.req("SIP-STAT-TRACE-001")
def test_every_state_through_a_manual_answer_is_in_the_page_sets(
    api, calls, sip_account, raw_caller, status_trace
):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    sampled_in_progress(status_trace, account, calls.timeout)
    calls.answer(account)
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, f"[{api.req}] expected 200 after answer.json: {leg.flow()}"
    leg.ack()
    calls.established(account, why="answered by answer.json and ACKed")
    sampled_in_progress(status_trace, account, calls.timeout)
    hung_up(calls, leg, account)
    assert_no_violations(status_trace, api.req)


@pytest.mark.req("SIP-STAT-TRACE-002")
def test_no_idle_or_error_while_the_call_is_up(api, calls, sip_account, raw_caller, status_trace):
    account = sip_account(call_cfg={"auto_aws": "true"})
    leg = calls.answered(raw_caller(), account)
    # The call stays up until the trace has seen it in progress for HELD_FOR seconds.
    unavoidable(HELD_FOR, "the call is held up for the trace")
    sampled_in_progress(status_trace, account, calls.timeout, apart=HELD_FOR)
    hung_up(calls, leg, account)
    assert_no_violations(status_trace, api.req)


@pytest.mark.req("SIP-STAT-TRACE-004")
def test_series_ends_with_no_call_in_progress(api, calls, sip_account, raw_caller, status_trace):
    account = sip_account(call_cfg={"auto_aws": "true"})
    leg = calls.answered(raw_caller(), account)
    sampled_in_progress(status_trace, account, calls.timeout)
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    # No wait for the end here: the trace gives the device the state timeout itself.
    assert_no_violations(status_trace, api.req)
