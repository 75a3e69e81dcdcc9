"""Ending calls: hangup.json, the caller's BYE, the caller's CANCEL, and "1211" afterwards."""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks


def _hangup_ok(api, account):
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))


@pytest.mark.req("SIP-CALL-HUP-001")
def test_hangup_json_sends_bye_on_an_established_call(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    leg = calls.answered(raw_caller(), account)
    if leg.requests("BYE"):
        raise NotExercised(f"the device sent BYE before hangup.json; flow: {leg.flow()}")
    _hangup_ok(api, account)
    bye = leg.wait_request("BYE", timeout=calls.timeout)
    assert bye.to_addr.tag == leg.from_tag and bye.from_addr.tag == leg.remote_tag, (
        f"[{api.req}] expected the BYE in the call's dialog (From tag {leg.remote_tag}, To tag "
        f"{leg.from_tag}), observed From {bye.headers.get('From')!r} To {bye.headers.get('To')!r}"
    )
    calls.ended(account, why="hangup.json sent BYE and the caller answered 200")


@pytest.mark.req("SIP-CALL-HUP-001")
def test_hangup_json_ends_a_manually_answered_call(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    calls.answer(account)
    leg.response(200, timeout=calls.timeout)
    leg.ack()
    calls.established(account, why="answer.json answered and the 200 was ACKed")
    _hangup_ok(api, account)
    calls.ended_by_device(leg, account, why="hangup.json sent BYE and the caller answered 200")


def _hangup_ringing(api, calls, readings, account, *, final_of, still_ringing, cancel, flow):
    """hangup.json on a ringing incoming call, judged by the readings of hangup_ringing.

    `final_of()`: the caller's final response (waits); `still_ringing()`: True while the caller
    has no final response; `cancel()`: the caller gives up (after a 1211). Either reading ends
    with the call over on the device.
    """
    reply = api.call("hangup", {"id": str(account.id)})
    api.expect_envelope(reply)
    if reply.ok:
        code = final_of()
        seen = f"hangup.json ok, then the caller got {code}; flow: {flow()}"
        if call_checks.hangup_ringing_reading(True, reply.msg, code, False) is None:
            readings.none_of("hangup_ringing", seen)
        readings.follow("hangup_ringing", "decline", seen)
        calls.ended(account, why=f"the ringing call was declined with {code}")
        return
    ringing = reply.msg == "1211" and still_ringing()
    if call_checks.hangup_ringing_reading(False, reply.msg, None, ringing) == "no_call_1211":
        readings.follow(
            "hangup_ringing",
            "no_call_1211",
            f"hangup.json error 1211 and the call still rings; flow: {flow()}",
        )
        cancel()
        calls.ended(account, why="the caller cancelled the ringing call")
        return
    readings.none_of(
        "hangup_ringing",
        f"hangup.json answered {reply.body!r}; the caller's call: {flow()}",
    )


@pytest.mark.req("SIP-CALL-HUP-002")
def test_hangup_json_declines_a_ringing_call(api, calls, sip_account, pjsua, readings):
    account = sip_account(call_cfg={"auto_aws": "0"})
    peer = pjsua("caller")
    handle = calls.ringing(peer, account)

    def final_of():
        return calls.final(peer, handle).message.status_code

    def still_ringing():
        return not any(
            (r.status_of("INVITE") or 0) >= 200
            for r in calls.seen(peer, handle)
            if r.direction == "RX"
        )

    def cancel():
        if not peer.hangup(handle):
            raise NotExercised("the pjsua2 caller could not send CANCEL")

    _hangup_ringing(
        api,
        calls,
        readings,
        account,
        final_of=final_of,
        still_ringing=still_ringing,
        cancel=cancel,
        flow=lambda: calls.flow(peer, handle),
    )
    calls.state(peer, handle, "DISCONNECTED")


@pytest.mark.req("SIP-CALL-HUP-002")
def test_hangup_json_on_a_ringing_call_plain_caller(api, calls, sip_account, raw_caller, readings):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)

    def cancel():
        leg.cancel()
        leg.response(method="CANCEL", timeout=calls.timeout)

    _hangup_ringing(
        api,
        calls,
        readings,
        account,
        final_of=lambda: leg.response(timeout=calls.timeout).status_code,
        still_ringing=lambda: not any(r.status_code >= 200 for r in leg.responses()),
        cancel=cancel,
        flow=leg.flow,
    )


@pytest.mark.req("SIP-CALL-HUP-004")
# Only a device that declines a ringing call on hangup.json has a decline whose code to check:
# under the reading no_call_1211 (judged by SIP-CALL-HUP-002) there is none.
@pytest.mark.only_reading("hangup_ringing", "decline")
def test_hangup_json_declines_a_ringing_call_with_603(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    reply = api.call("hangup", {"id": str(account.id)})
    if not reply.ok:  # the device follows another reading of SIP-CALL-HUP-002 (1211)
        leg.cancel()
        leg.response(method="CANCEL", timeout=calls.timeout)
        raise NotExercised(f"hangup.json on a ringing call answered {reply.body!r}, not ok")
    final = leg.response(timeout=calls.timeout)
    if not (400 <= final.status_code < 500 or final.status_code >= 600):  # SIP-CALL-HUP-002's
        raise NotExercised(f"the ringing call was not declined; flow: {leg.flow()}")
    assert final.status_code == 603, (
        f"[{api.req}] expected 603 Decline after hangup.json on a ringing call, observed "
        f"{final.status_code} {final.reason}; flow: {leg.flow()}"
    )
    calls.ended(account, why="the ringing call was declined")


def _end_by_hangup_json(api, calls, account, leg):
    _hangup_ok(api, account)
    leg.wait_request("BYE", timeout=calls.timeout)


def _end_by_remote_bye(api, calls, account, leg):
    leg.bye()
    ok = leg.response(method="BYE", timeout=calls.timeout)
    assert ok.status_code == 200, f"[{api.req}] expected 200 to BYE, observed {ok.status_code}"


@pytest.mark.req("SIP-CALL-HUP-003")
@pytest.mark.parametrize(
    "end", [_end_by_hangup_json, _end_by_remote_bye], ids=["hangup-json", "remote-bye"]
)
def test_no_call_again_after_an_established_call_ended(api, calls, sip_account, raw_caller, end):
    account = sip_account(call_cfg={"auto_aws": "true"})
    leg = calls.answered(raw_caller(), account)
    end(api, calls, account, leg)
    calls.ended(account, why="the call ended")
    api.expect_error(api.call("answer", {"id": str(account.id), "dir": "sip_out"}), "no_call")
    api.expect_error(api.call("hangup", {"id": str(account.id)}), "no_call")
    calls.status_now(account, calls.ENDED, "answer.json and hangup.json had no call to act on")


@pytest.mark.req("SIP-CALL-HUP-003")
def test_no_call_again_after_a_cancelled_call(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "0"})
    peer = pjsua("caller")
    handle = calls.ringing(peer, account)
    if not peer.hangup(handle):
        raise NotExercised("the pjsua2 caller could not send CANCEL")
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the caller cancelled the ringing call")
    api.expect_error(api.call("answer", {"id": str(account.id), "dir": "sip_out"}), "no_call")
    api.expect_error(api.call("hangup", {"id": str(account.id)}), "no_call")


@pytest.mark.req("SIP-CALL-BYE-001")
def test_remote_bye_is_answered_200_and_the_call_ends(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    leg = calls.answered(raw_caller(), account)
    leg.bye()
    ok = leg.response(method="BYE", timeout=calls.timeout)
    problem = call_checks.caller_bye_problem(ok)
    assert problem is None, f"[{api.req}] {problem}; flow: {leg.flow()}"
    calls.ended(account, why="the caller's BYE was answered 200")
    assert not leg.requests("BYE"), (
        f"[{api.req}] expected no BYE from the device for a call the caller ended; "
        f"flow: {leg.flow()}"
    )


@pytest.mark.req("SIP-CALL-BYE-001")
def test_remote_bye_ends_a_manually_answered_call(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    calls.answer(account)
    leg.response(200, timeout=calls.timeout)
    leg.ack()
    calls.established(account, why="answer.json answered and the 200 was ACKed")
    leg.bye()
    ok = leg.response(method="BYE", timeout=calls.timeout)
    problem = call_checks.caller_bye_problem(ok)
    assert problem is None, f"[{api.req}] {problem}"
    calls.ended(account, why="the caller's BYE was answered 200")


@pytest.mark.req("SIP-CALL-CAN-001")
def test_cancel_while_ringing_gets_200_and_487(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "0"})
    peer = pjsua("caller")
    handle = calls.ringing(peer, account)
    if not peer.hangup(handle):
        raise NotExercised("the pjsua2 caller could not send CANCEL")
    calls.response(peer, handle, 200, method="CANCEL")
    final = calls.final(peer, handle)
    assert final.message.status_code == 487, (
        f"[{api.req}] expected 487 Request Terminated to the cancelled INVITE, observed "
        f"{final.first_line!r}; flow: {calls.flow(peer, handle)}"
    )
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the ringing call was cancelled")


@pytest.mark.req("SIP-CALL-CAN-001")
def test_cancel_while_ringing_plain_caller(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    calls.leg_rings(leg, account)
    leg.cancel()
    cancel_ok = leg.response(method="CANCEL", timeout=calls.timeout)
    assert cancel_ok.status_code == 200, (
        f"[{api.req}] expected 200 to CANCEL, observed {cancel_ok.status_code}; flow: {leg.flow()}"
    )
    final = leg.response(timeout=calls.timeout)
    assert final.status_code == 487, (
        f"[{api.req}] expected 487 to the cancelled INVITE, observed {final.status_code} "
        f"{final.reason}; flow: {leg.flow()}"
    )
    calls.ended(account, why="the ringing call was cancelled")
