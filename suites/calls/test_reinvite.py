"""re-INVITE in an established incoming call: hold (inactive) and resume."""

from __future__ import annotations

import pytest

from wire import sdp


def _reinvite(api, calls, leg, body, where):
    invite = leg.reinvite(body)
    ok = leg.response(timeout=calls.timeout, cseq=invite.cseq.number)
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to the {where} re-INVITE, observed {ok.status_code} "
        f"{ok.reason}; flow: {leg.flow()}"
    )
    leg.ack()
    answer = calls.sdp_of(ok.body, ok.content_type or "", f"the 200 to the {where} re-INVITE")
    index, video = calls.h264_video(answer, f"the answer to the {where} re-INVITE")
    return answer.media_direction(index), video


@pytest.mark.req("SIP-CALL-RE-001")
def test_reinvite_to_hold_is_answered_inactive_and_the_call_stays_up(
    api, calls, sip_account, raw_caller
):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = calls.answered(caller, account)
    direction, _ = _reinvite(api, calls, leg, caller.offer(direction="inactive", version=2), "hold")
    assert direction == sdp.DIRECTION_INACTIVE, (
        f"[{api.req}] expected the held video answered a=inactive, observed {direction}"
    )
    calls.status_now(account, calls.IN_PROGRESS, "a call on hold is still established")
    assert not leg.requests("BYE"), f"[{api.req}] expected no BYE for a hold; {leg.flow()}"
    leg.bye()
    ok = leg.response(method="BYE", timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected the held call still up (200 to BYE), observed {ok.status_code}"
    )
    calls.ended(account, why="the caller hung up")


@pytest.mark.req("SIP-CALL-RE-001")
def test_reinvite_hold_then_resume(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = calls.answered(caller, account)
    held, _ = _reinvite(api, calls, leg, caller.offer(direction="inactive", version=2), "hold")
    assert held == sdp.DIRECTION_INACTIVE, (
        f"[{api.req}] expected a=inactive for the hold, observed {held}"
    )
    calls.status_now(account, calls.IN_PROGRESS, "a call on hold is still established")
    resumed, video = _reinvite(
        api, calls, leg, caller.offer(direction="sendonly", version=3), "resume"
    )
    assert resumed == sdp.DIRECTION_RECVONLY and video.port != 0, (
        f"[{api.req}] expected the resumed video answered recvonly on a real port, observed "
        f"m={video.m_value()} a={resumed}"
    )
    calls.status_now(account, calls.IN_PROGRESS, "the resumed call is established")
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended_by_device(leg, account, why="hangup.json ended the resumed call")
