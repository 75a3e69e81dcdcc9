"""A second incoming call while one is up: call_in_options.policy 1, 2 and 3 (allow_in_num 1).

The cases write policy through modify_call_cfg.json, which the page does not document (it lists
policy only in account.json): they need the profile capability policy_write.
"""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks
from decoder_conformance.waiting import WaitTimeout

pytestmark = pytest.mark.needs("policy_write")


@pytest.mark.req("SIP-CALL-POL-001")
def test_policy_1_refuses_a_second_caller_with_486(api, calls, sip_account, raw_caller, pjsua):
    account = sip_account(call_cfg={"auto_aws": "true", "policy": "1"})
    first = calls.answered(raw_caller(), account)
    second = pjsua("second")
    handle = second.call(account.uri)
    final = calls.final(second, handle)
    # "other incoming calls are rejected": any final refusal; 486 is the reference's choice.
    assert 400 <= final.message.status_code < 700, (
        f"[{api.req}] expected the second caller refused with a final 4xx-6xx (policy 1), "
        f"observed {final.first_line!r}; flow: {calls.flow(second, handle)}"
    )
    calls.state(second, handle, "DISCONNECTED")
    assert not first.requests("BYE"), (
        f"[{api.req}] expected the first call kept (no BYE to it), observed: {first.flow()}"
    )
    calls.status_now(account, calls.IN_PROGRESS, "the first call stays up")
    # The first dialog is still alive on the device: its BYE is answered 200, not 481.
    first.bye()
    ok = first.response(method="BYE", timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected the first call still up (200 to its BYE), observed "
        f"{ok.status_code} {ok.reason}; flow: {first.flow()}"
    )
    calls.ended(account, why="the first caller hung up")


@pytest.mark.req("SIP-CALL-POL-001")
def test_policy_1_answers_again_once_the_first_call_ended(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true", "policy": "1"})
    caller_a, caller_b = raw_caller("a"), raw_caller("b")
    first = calls.answered(caller_a, account)
    refused = caller_b.call(account, caller_b.offer())
    busy = refused.response(timeout=calls.timeout)
    assert 400 <= busy.status_code < 700, (
        f"[{api.req}] expected the second caller refused with a final 4xx-6xx, observed "
        f"{busy.status_code} {busy.reason}; flow: {refused.flow()}"
    )
    calls.status_now(account, calls.IN_PROGRESS, "the first call stays up")
    first.bye()
    first.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the first caller hung up")
    again = calls.answered(caller_b, account)
    again.bye()
    again.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the second caller hung up")


def _replacement(api, calls, sip_account, raw_caller, policy):
    """Policy 2/3: the second call is answered, the first gets BYE; hangup.json ends the new one."""
    account = sip_account(call_cfg={"auto_aws": "true", "policy": policy})
    caller_a, caller_b = raw_caller("a"), raw_caller("b")
    first = calls.answered(caller_a, account)
    second = caller_b.call(account, caller_b.offer())
    ok = second.response(timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected the second call answered 200 (policy {policy}), observed "
        f"{ok.status_code} {ok.reason}; flow: {second.flow()}"
    )
    second.ack()
    first.wait_request("BYE", timeout=calls.timeout)
    calls.established(account, why="the second call replaced the first")
    assert not second.requests("BYE"), (
        f"[{api.req}] expected the new call kept, observed: {second.flow()}"
    )
    # The device now holds the second call: hangup.json ends that one.
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    calls.ended_by_device(second, account, why="hangup.json ended the replacing call")


@pytest.mark.req("SIP-CALL-POL-002")
def test_policy_2_replaces_the_current_call(api, calls, sip_account, raw_caller):
    _replacement(api, calls, sip_account, raw_caller, "2")


@pytest.mark.req("SIP-CALL-POL-003")
def test_policy_3_replaces_the_current_call(api, calls, sip_account, raw_caller, readings):
    """policy 3 repeats policy 2's words on the page: `replace_like_2` when the second call is
    answered and the first gets BYE, else `undocumented` (any behaviour, recorded)."""
    account = sip_account(call_cfg={"auto_aws": "true", "policy": "3"})
    caller_a, caller_b = raw_caller("a"), raw_caller("b")
    first = calls.answered(caller_a, account)
    second = caller_b.call(account, caller_b.offer())
    final = second.response(timeout=calls.timeout)
    if final.status_code == 200:
        second.ack()
    # The event: the second INVITE got its final answer. The first call's fate follows it.
    replaced = False
    if final.status_code == 200:
        try:
            first.wait_request("BYE", timeout=calls.timeout)
            replaced = True
        except WaitTimeout:
            replaced = False
    kept = not second.requests("BYE") if final.status_code == 200 else False
    seen = (
        f"second INVITE answered {final.status_code} {final.reason}; first call: "
        f"{first.flow()}; second call: {second.flow()}"
    )
    reading = call_checks.policy_3_reading(final.status_code, replaced, kept)
    readings.follow("policy_3_meaning", reading, seen)
    if reading == "replace_like_2":
        calls.established(account, why="the second call replaced the first")
    # Clean up without judging (the reading is recorded): the callers end what is still up.
    for leg in (first, second) if final.status_code == 200 else (first,):
        if not leg.requests("BYE"):
            leg.bye()


@pytest.mark.req("SIP-CALL-POL-004")
def test_policy_1_refuses_the_second_caller_with_exactly_486(
    api, calls, sip_account, raw_caller, pjsua
):
    account = sip_account(call_cfg={"auto_aws": "true", "policy": "1"})
    first = calls.answered(raw_caller(), account)
    second = pjsua("second")
    handle = second.call(account.uri)
    final = calls.final(second, handle)
    code = final.message.status_code
    if not 400 <= code < 700:  # the refusal itself is SIP-CALL-POL-001's
        raise NotExercised(f"the second call was not refused ({final.first_line!r})")
    assert code == 486, (
        f"[{api.req}] expected 486 Busy Here to the second caller (policy 1), observed "
        f"{final.first_line!r}; flow: {calls.flow(second, handle)}"
    )
    calls.state(second, handle, "DISCONNECTED")
    first.bye()
    first.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the first caller hung up")
