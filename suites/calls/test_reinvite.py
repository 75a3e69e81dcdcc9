"""re-INVITE in an established incoming call: hold (inactive) and resume."""

from __future__ import annotations

import itertools

import pytest

from decoder_conformance.failures import harness_check
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


def _origins(leg):
    """(o= line, whole SDP) of each 2xx to INVITE the leg received, once per CSeq, in order."""
    seen, found = set(), []
    for response in leg.responses("INVITE"):
        number = response.cseq.number
        if 200 <= response.status_code < 300 and response.body and number not in seen:
            seen.add(number)
            found.append((sdp.parse(response.body).origin, response.body))
    return found


@pytest.mark.req("SIP-CALL-RE-002")
def test_reinvite_answers_raise_the_origin_version(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = calls.answered(caller, account)
    _reinvite(api, calls, leg, caller.offer(direction="inactive", version=2), "hold")
    _reinvite(api, calls, leg, caller.offer(direction="sendonly", version=3), "resume")
    origins = _origins(leg)
    harness_check(len(origins) == 3, f"the answers to the INVITE and 2 re-INVITEs: {origins}")
    for (before, old), (after, new) in itertools.pairwise(origins):
        same, now = (
            (o.username, o.session_id, o.nettype, o.addrtype, o.address) for o in (before, after)
        )
        assert same == now, (
            f"[SIP-CALL-RE-002] expected the o= line kept but for its version, observed "
            f"o={before.to_string()} then o={after.to_string()}"
        )
        changed = new.replace(after.to_string().encode(), b"") != old.replace(
            before.to_string().encode(), b""
        )
        if changed:
            assert int(after.session_version) > int(before.session_version), (
                f"[SIP-CALL-RE-002] expected a higher o= version for a changed session, "
                f"observed o={before.to_string()} then o={after.to_string()}"
            )
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended_by_device(leg, account, why="hangup.json ended the call")
