"""The incoming-call flows again with SIPp, an independent SIP stack (Debian sip-tester).

SIPp runs its scenario in a worker thread while the case polls status.json, so the established
call is seen from the API (call_status calling) as well as on SIPp's wire; SIPp holds each call
`HOLD_MS` before its BYE. A missing SIPp raises ToolMissing: the case is broken, not failed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from decoder_conformance.waiting import poll_until
from wire import sdp

HOLD_MS = 1000
SIPP_TIMEOUT = 20.0


def _run_while_polling(api, calls, sipp, account, scenario):
    """Run `scenario` against `account`; the call_status seen while it ran, and SIPp's result."""
    with ThreadPoolExecutor(1, thread_name_prefix="sipp") as pool:
        future = pool.submit(
            sipp,
            scenario,
            account.sip.address,
            service=account.local_account,
            variables={"pause_ms": str(HOLD_MS)},
            timeout=SIPP_TIMEOUT,
        )
        state, _ = poll_until(
            lambda: (api.status(account.id).call, future.done()),
            lambda seen: seen[0] == "calling" or seen[1],
            timeout=calls.timeout + HOLD_MS / 1000,
            expected="call_status calling while SIPp holds the call",
        )
        result = future.result()  # ToolMissing / SippError propagate: the case is broken
    return state, result


def _answer_sdp(result, where):
    oks = [
        r.message
        for r in result.records()
        if r.direction == "RX"
        and not r.is_request
        and r.message.status_code == 200
        and r.message.cseq.method == "INVITE"
    ]
    assert oks, f"expected a 200 to the INVITE in {where}: {result.describe()}"
    return sdp.parse(oks[0].body)


@pytest.mark.req("SIP-CALL-IND-001")
def test_sipp_h264_call_completes(api, calls, sip_account, sipp):
    account = sip_account(call_cfg={"auto_aws": "1"})
    state, result = _run_while_polling(api, calls, sipp, account, "uac_invite_h264")
    assert result.ok and result.successful == 1, (
        f"[{api.req}] expected SIPp's INVITE/ACK/BYE call to complete: {result.describe()}"
    )
    assert state == "calling", (
        f"[{api.req}] expected call_status calling while SIPp held the call, last seen {state!r}"
    )
    answer = _answer_sdp(result, "SIPp's log")
    calls.receive_only_h264(answer, "the answer to SIPp", account.sip.host, 96)
    calls.status_is(account, "idle", why="SIPp's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IND-002")
def test_sipp_bodyless_invite_completes(api, calls, sip_account, sipp):
    account = sip_account(call_cfg={"auto_aws": "1"})
    state, result = _run_while_polling(api, calls, sipp, account, "uac_invite_no_sdp")
    assert result.ok and result.successful == 1, (
        f"[{api.req}] expected SIPp's bodyless INVITE (offer in the 200, answer in the ACK) "
        f"to complete: {result.describe()}"
    )
    assert state == "calling", (
        f"[{api.req}] expected call_status calling while SIPp held the call, last seen {state!r}"
    )
    offer = _answer_sdp(result, "SIPp's log")
    calls.receive_only_h264(offer, "the device's offer to SIPp", account.sip.host)
    calls.status_is(account, "idle", why="SIPp's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IND-003")
def test_sipp_audio_only_invite_gets_488(api, calls, sip_account, sipp):
    account = sip_account(call_cfg={"auto_aws": "1"})
    result = sipp(
        "uac_invite_audio_only",
        account.sip.address,
        service=account.local_account,
        timeout=SIPP_TIMEOUT,
    )
    assert result.ok and result.successful == 1, (
        f"[{api.req}] expected SIPp's audio-only INVITE refused with 488: {result.describe()}"
    )
    finals = [
        r.message.status_code
        for r in result.records()
        if r.direction == "RX" and not r.is_request and r.message.status_code >= 200
    ]
    assert finals and finals[0] == 488, (
        f"[{api.req}] expected 488 as the final answer, observed {finals}"
    )
    calls.status_now(account, "idle", "a refused offer never connects")
