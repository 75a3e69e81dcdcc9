"""Incoming calls: auto-answer, manual answer through answer.json, allow_in refusal.

Established calls are placed by the plain-socket caller (`raw_caller`): pjsua2 offers video in a
second audio slot and ends the call itself (BYE, "Unable to create media session") as soon as a
device accepts the video and rejects the audio, so it cannot hold a call with a receive-only
decoder. pjsua2 plays the caller wherever no media is negotiated (ringing, refusals).

call_status is judged only as a call in progress or none (conftest.py; which call state means
what is SIP-CALL-STAT-001's); the events themselves are proven on the wire.
"""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks
from decoder_conformance.waiting import WaitTimeout


@pytest.mark.req("SIP-CALL-IN-001")
def test_auto_answer_answers_200_at_once(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to the INVITE (auto_aws 1), observed {ok.status_code} "
        f"{ok.reason}; flow: {leg.flow()}"
    )
    # RFC 3261 §12.1.1 MUST: a 2xx creating a dialog carries a To tag and a Contact.
    problem = call_checks.dialog_2xx_problem(ok)
    assert problem is None, f"[{api.req}] {problem}, flow: {leg.flow()}"
    leg.ack()
    calls.established(account, why="the device answered 200 and got its ACK")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IN-001")
def test_auto_answer_answers_every_call_not_only_the_first(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    for number in (1, 2):
        leg = calls.answered(caller, account)
        leg.bye()
        bye_ok = leg.response(method="BYE", timeout=calls.timeout)
        assert bye_ok.status_code == 200, (
            f"[{api.req}] call {number}: expected 200 to BYE, observed {bye_ok.status_code}"
        )
        calls.ended(account, why=f"call {number} ended by the caller's BYE")


@pytest.mark.req("SIP-CALL-IN-002")
def test_manual_answer_rings_then_answer_json_answers(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    calls.answer(account)  # answer.json ok (else the case failed there)
    ok = leg.response(timeout=calls.timeout)
    assert call_checks.answered_as_told(True, ok.status_code), (
        f"[{api.req}] expected 200 after answer.json, observed {ok.status_code} {ok.reason}; "
        f"flow: {leg.flow()}"
    )
    leg.ack()
    calls.established(account, why="answer.json answered and the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IN-002")
def test_manual_answer_rings_for_pjsua_caller(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "0"})
    peer = pjsua("caller")
    handle = calls.ringing(peer, account)
    calls.answer(account)  # answer.json ok (else the case failed there)
    ok = calls.final(peer, handle)
    assert call_checks.answered_as_told(True, ok.message.status_code), (
        f"[{api.req}] expected 200 after answer.json, observed {ok.first_line!r}; "
        f"flow: {calls.flow(peer, handle)}"
    )
    # pjsua2 cannot keep a call whose audio the device rejects: it ends it with BYE itself.
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the pjsua2 caller ended the call")


@pytest.mark.req("SIP-CALL-ANS-001")
def test_answer_json_with_and_without_dir(api, calls, sip_account, raw_caller, readings):
    """answer.json's `dir` (reading answer_dir): one ringing call is answered with dir=sip_out,
    the page's example, and the next one without dir. A form the device refuses must leave the
    call ringing: the caller's CANCEL then gets 487, not a 200."""
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    taken = {}
    seen = []
    for form, extra in (("dir=sip_out", {"dir": "sip_out"}), ("no dir", {})):
        leg = caller.call(account, caller.offer())
        try:
            calls.leg_rings(leg, account)
        except AssertionError as exc:  # ringing itself is SIP-CALL-IN-002's
            raise NotExercised(f"the call did not ring: {exc}") from None
        reply = api.call("answer", {"id": str(account.id), **extra})
        if not reply.ok:
            leg.cancel()
        try:
            final = leg.response(timeout=calls.timeout)
        except WaitTimeout:
            if reply.ok:
                readings.none_of(
                    "answer_dir", f"answer.json with {form} ok, but no final answer: {leg.flow()}"
                )
            # a CANCEL left unanswered is SIP-CALL-CAN-001's
            raise NotExercised(f"the cancelled call got no final answer: {leg.flow()}") from None
        seen.append(
            f"answer.json with {form}: {reply.body!r}, then the caller got {final.status_code}"
            + ("" if reply.ok else " to its CANCELled INVITE")
        )
        if not call_checks.answered_as_told(reply.ok, final.status_code):
            readings.none_of("answer_dir", f"{'; '.join(seen)}; flow: {leg.flow()}")
        taken[form] = reply.ok
        if final.status_code == 200:
            leg.ack()
            leg.bye()
            leg.response(method="BYE", timeout=calls.timeout)
        try:
            calls.ended(account, why=f"the call answered or cancelled ({form}) is over")
        except AssertionError as exc:  # ending a call is SIP-CALL-BYE-001's / SIP-CALL-CAN-001's
            raise NotExercised(f"the call did not end: {exc}") from None
    reading = call_checks.answer_dir_reading(taken["dir=sip_out"], taken["no dir"])
    if reading is None:
        readings.none_of("answer_dir", "; ".join(seen))
    readings.follow("answer_dir", reading, "; ".join(seen))


@pytest.mark.req("SIP-CALL-IN-003")
@pytest.mark.parametrize("auto_aws", ["0", "true"])
def test_allow_in_2_refuses_with_403(api, calls, sip_account, pjsua, auto_aws):
    account = sip_account(call_cfg={"allow_in": "2", "auto_aws": auto_aws})
    peer = pjsua("caller")
    handle = peer.call(account.uri)
    final = calls.final(peer, handle)
    # The page says only "not allowed": any final refusal (4xx-6xx) follows it; which code
    # (403 is the reference's) is the device's choice.
    assert call_checks.refused(final.message.status_code), (
        f"[{api.req}] expected the call refused with a final 4xx-6xx (allow_in 2, auto_aws "
        f"{auto_aws}), observed {final.first_line!r}; flow: {calls.flow(peer, handle)}"
    )
    calls.state(peer, handle, "DISCONNECTED")
    calls.status_now(account, calls.ENDED, "a refused call never rings nor connects")


@pytest.mark.req("SIP-CALL-IN-004")
@pytest.mark.parametrize("auto_aws", ["0", "true"])
def test_allow_in_2_refuses_with_exactly_403(api, calls, sip_account, pjsua, auto_aws):
    account = sip_account(call_cfg={"allow_in": "2", "auto_aws": auto_aws})
    peer = pjsua("caller")
    handle = peer.call(account.uri)
    final = calls.final(peer, handle)
    code = final.message.status_code
    if not 400 <= code < 700:  # the refusal itself is SIP-CALL-IN-003's
        raise NotExercised(f"the call was not refused ({final.first_line!r})")
    assert code == 403, (
        f"[{api.req}] expected 403 Forbidden (allow_in 2, auto_aws {auto_aws}), observed "
        f"{final.first_line!r}; flow: {calls.flow(peer, handle)}"
    )
    calls.state(peer, handle, "DISCONNECTED")


@pytest.mark.req("SIP-CALL-IN-005")
def test_auto_answer_sends_only_100_before_the_200(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    ok = leg.response(timeout=calls.timeout)
    if ok.status_code != 200:  # the automatic answer itself is SIP-CALL-IN-001's
        raise NotExercised(f"the INVITE was answered {ok.status_code} {ok.reason}, not 200")
    leg.ack()
    provisional = [r.status_code for r in leg.responses() if r.status_code not in (100, 200)]
    assert not provisional, (
        f"[{api.req}] expected the INVITE answered at once (only 100 Trying before the 200), "
        f"observed {provisional}; flow: {leg.flow()}"
    )
    calls.established(account, why="the device answered 200 and got its ACK")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IN-006")
def test_manual_answer_sends_180_while_ringing(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "0"})
    peer = pjsua("caller")
    handle = calls.ringing(peer, account)
    ringing = calls.response(peer, handle, 180)
    calls.answer(account)
    ok = calls.final(peer, handle)
    if ok.message.status_code != 200:  # answer.json itself is SIP-CALL-IN-002's
        raise NotExercised(f"answer.json did not answer the call: {ok.first_line!r}")
    assert ringing.t <= ok.t, (
        f"[{api.req}] expected 180 before the 200, flow: {calls.flow(peer, handle)}"
    )
    # pjsua2 cannot keep a call whose audio the device rejects: it ends it with BYE itself.
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the pjsua2 caller ended the call")
