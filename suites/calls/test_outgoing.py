"""Outgoing calls: auto_call to sip_out_url, a call in progress while it rings and once up,
hangup.json and no re-dial after it, the device's own offer.

Which call state the device shows while its INVITE rings and once it is answered is the reading
call_status_meaning (SIP-CALL-STAT-001, test_call_status.py); these cases judge only a call in
progress (in, out or calling) or none. Whether auto_call dials again after the callee ends the
call (BYE) the page does not say: no case here lets the callee end a call, so none judges it.

The callee is the plain-socket `raw_callee` (the case decides when it rings and answers, so the
call is observed in progress while it rings) or SIPp's `uas_answer` scenario. pjsua2 cannot be the
callee: it answers the device's video-only offer with 488.
"""

from __future__ import annotations

import pytest

from decoder_conformance.contract.timing import unavoidable
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks
from decoder_conformance.waiting import poll_until
from wire import sdp, sip

#: How long the callee watches for a re-dial after hangup.json. A deadline window for an event
#: that must NOT happen (the reference decoder re-dials a call the callee ended after 1 s, which
#: the page leaves open and no case judges).
REDIAL_WINDOW = 2.0


def _ringing_then_answered(api, calls, account, callee, nth=1):
    """The device's INVITE #nth: rung, then answered; call_status shows a call in progress at
    each moment (which state is SIP-CALL-STAT-001's reading)."""
    invite = callee.wait_invite(calls.timeout, nth=nth)
    request = invite.message
    if not isinstance(request, sip.SipRequest):  # pragma: no cover - wait_invite returns INVITEs
        raise NotExercised(f"harness invariant: {invite.label!r} is not an INVITE")
    offer = calls.sdp_of(request.body, request.content_type or "", "the device's INVITE")
    calls.usable_offer(offer, "the device's offer")
    callee.respond(invite, 180)
    calls.status_is(account, *calls.IN_PROGRESS, why="our 180 Ringing is the only answer so far")
    answer = sdp.answer_video_recvonly(offer, callee.host, callee.media_port)
    index, _ = calls.h264_video(answer, "the callee's answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # the callee is the video source
    callee.respond(invite, 200, answer.to_bytes())
    callee.wait_for(
        lambda s: (
            s.is_request and s.message.method == "ACK" and s.message.call_id == request.call_id
        ),
        calls.timeout,
        expected="the device's ACK to our 200",
    )
    calls.status_is(
        account,
        *calls.IN_PROGRESS,
        why="the callee answered 200 and the device ACKed",
    )
    return request


@pytest.mark.req("SIP-CALL-OUT-001")
def test_auto_call_invites_sip_out_url(api, calls, sip_account, raw_callee):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    invite = _ringing_then_answered(api, calls, account, callee)
    assert call_checks.invite_reaches(invite, callee.user, callee.host, callee.port), (
        f"[{api.req}] expected the INVITE sent to sip:{callee.target}, observed {invite.uri}"
    )
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    callee.wait_for(
        lambda s: s.is_request and s.message.method == "BYE",
        calls.timeout,
        expected="the device's BYE after hangup.json",
    )
    calls.ended(account, why="hangup.json ended the outgoing call")


@pytest.mark.req("SIP-CALL-OUT-001")
def test_auto_call_to_sipp_callee(api, calls, sip_account, sipp_uas):
    uas = sipp_uas("uas_answer", role="callee (SIPp)", calls=1, timeout=30)
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": f"callee@{uas.address}"})
    calls.status_is(account, *calls.IN_PROGRESS, why="SIPp answers 180 then 200 at once")
    invites = [
        r
        for r in uas.records()
        if r.direction == "RX" and r.is_request and r.message.method == "INVITE"
    ]
    assert invites, f"[{api.req}] expected SIPp to have received the device's INVITE"
    # hangup.json only once the call is up (SIPp's 200 ACKed): while it still rings, the device
    # CANCELs, which SIPp's scenario does not expect, and the case would judge a race.
    poll_until(
        uas.records,
        lambda records: any(
            r.direction == "RX" and r.is_request and r.message.method == "ACK" for r in records
        ),
        timeout=calls.timeout,
        expected="the device's ACK to SIPp's 200",
    )
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    result = uas.wait(calls.timeout)
    calls.ended(account, why="hangup.json ended the outgoing call")
    assert call_checks.sipp_completed(result), (
        f"[{api.req}] expected SIPp's callee scenario to complete 1 call (INVITE with m=video, "
        f"ACK, BYE): {result.describe()}"
    )


@pytest.mark.req("SIP-CALL-OUT-002")
def test_hangup_json_ends_the_outgoing_call_and_it_is_not_redialled(
    api, calls, sip_account, raw_callee
):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    first = _ringing_then_answered(api, calls, account, callee)
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    bye = callee.wait_for(
        lambda s: s.is_request and s.message.method == "BYE",
        calls.timeout,
        expected="the device's BYE after hangup.json",
    )
    assert call_checks.in_dialog(bye.message, first), (
        f"[{api.req}] expected the BYE in the call's dialog ({first.call_id}), observed "
        f"{bye.message.call_id}"
    )
    calls.ended(account, why="hangup.json sent BYE and the callee answered 200")
    # Whether auto_call dials again after hangup.json is SIP-CALL-OUT-003's (a practice): not
    # judged here.


@pytest.mark.req("SIP-CALL-OUT-003")
def test_no_redial_after_hangup_json_until_the_settings_change(api, calls, sip_account, raw_callee):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    first = _ringing_then_answered(api, calls, account, callee)
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    callee.wait_for(
        lambda s: s.is_request and s.message.method == "BYE" and s.message.call_id == first.call_id,
        calls.timeout,
        expected="the device's BYE after hangup.json",
    )
    calls.ended(account, why="hangup.json sent BYE and the callee answered 200")
    unavoidable(REDIAL_WINDOW, "no re-dial may come over the window")
    callee.none_for(
        lambda s: (
            s.is_request and s.message.method == "INVITE" and s.message.call_id != first.call_id
        ),
        REDIAL_WINDOW,
        expected="no new INVITE after hangup.json while the call settings are unchanged",
    )
    calls.status_now(account, calls.ENDED, "no re-dial after hangup.json")
    # Positive control: a change of the call settings makes the device dial again.
    api.modify_call_cfg(account.id, sip_out_url=f"redial@{callee.address}")
    second = _ringing_then_answered(api, calls, account, callee, nth=2)
    assert sip.SipUri.parse(second.uri).user == "redial", (
        f"[{api.req}] expected the new INVITE to the changed sip_out_url, observed {second.uri}"
    )
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended(account, why="hangup.json ended the second outgoing call")


@pytest.mark.req("SIP-CALL-SDP-005")
def test_own_offer_in_the_auto_call_invite_is_shaped_for_a_decoder(
    api, calls, sip_account, raw_callee
):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    invite = _ringing_then_answered(api, calls, account, callee)
    offer = calls.sdp_of(invite.body, invite.content_type or "", "the device's INVITE")
    calls.offer_shape(offer, "the device's offer in its INVITE", account.sip.host)
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended(account, why="hangup.json ended the outgoing call")


@pytest.mark.req("SIP-CALL-ACK-001")
def test_ack_of_the_2xx_matches_the_invite(api, calls, sip_account, raw_callee):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    invite = _ringing_then_answered(api, calls, account, callee)
    problems = callee.ack_problems(invite.call_id or "")
    assert not problems, f"[SIP-CALL-ACK-001] {'; '.join(problems)}; flow: {callee.flow()}"
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended(account, why="hangup.json ended the outgoing call")
