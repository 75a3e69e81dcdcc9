"""The incoming-call flows again with SIPp, an independent SIP stack (Debian sip-tester).

SIPp runs its scenario in a worker thread while the case polls status.json, so the call is seen
from the API (a call_status of a call in progress: in, out or calling, whichever the device's
reading of call_status_meaning shows, SIP-CALL-STAT-001) as well as on SIPp's wire; SIPp holds
each call `HOLD_MS` before its BYE. A missing SIPp raises ToolMissing: the case is broken, not
failed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from decoder_conformance.peers import call_checks
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
            lambda seen: seen[0] in calls.IN_PROGRESS or seen[1],
            timeout=calls.timeout + HOLD_MS / 1000,
            expected="a call_status of a call in progress while SIPp holds the call",
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
    account = sip_account(call_cfg={"auto_aws": "true"})
    state, result = _run_while_polling(api, calls, sipp, account, "uac_invite_h264")
    assert call_checks.sipp_completed(result), (
        f"[{api.req}] expected SIPp's INVITE/ACK/BYE call to complete: {result.describe()}"
    )
    assert state in calls.IN_PROGRESS, (
        f"[{api.req}] expected call_status {' or '.join(calls.IN_PROGRESS)} while SIPp "
        f"held the call, last seen {state!r}"
    )
    _answer_sdp(result, "SIPp's log")  # RFC 3261 §13.3.1.4: the 200 carries the answer
    calls.ended(account, why="SIPp's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IND-002")
def test_sipp_bodyless_invite_completes(api, calls, sip_account, sipp):
    account = sip_account(call_cfg={"auto_aws": "true"})
    state, result = _run_while_polling(api, calls, sipp, account, "uac_invite_no_sdp")
    assert call_checks.sipp_completed(result), (
        f"[{api.req}] expected SIPp's bodyless INVITE (offer in the 200, answer in the ACK) "
        f"to complete: {result.describe()}"
    )
    assert state in calls.IN_PROGRESS, (
        f"[{api.req}] expected call_status {' or '.join(calls.IN_PROGRESS)} while SIPp "
        f"held the call, last seen {state!r}"
    )
    _answer_sdp(result, "SIPp's log")  # RFC 3261 §13.3.1.4: the 200 carries an offer
    calls.ended(account, why="SIPp's BYE was answered 200")


@pytest.mark.req("SIP-CALL-IND-003")
def test_sipp_audio_only_invite_gets_488(api, calls, sip_account, sipp, readings):
    """The scenario expects 488 and ACKs it; another answer fails SIPp's call but not the
    device: the final answer SIPp received is judged by the readings of unacceptable_offer."""
    account = sip_account(call_cfg={"auto_aws": "true"})
    result = sipp(
        "uac_invite_audio_only",
        account.sip.address,
        service=account.local_account,
        timeout=SIPP_TIMEOUT,
    )
    finals = [
        r.message
        for r in result.records()
        if r.direction == "RX"
        and not r.is_request
        and r.message.cseq.method == "INVITE"
        and r.message.status_code >= 200
    ]
    if not finals:
        raise AssertionError(
            f"[{api.req}] expected a final answer to SIPp's audio-only INVITE: {result.describe()}"
        )
    final = finals[0]
    code = final.status_code
    seen = f"final answer {code} {final.reason}; SIPp: {result.describe()}"
    reading, more = call_checks.sipp_unacceptable_offer_reading(final)
    seen += more
    if reading is None:
        readings.none_of("unacceptable_offer_sipp", seen)
    if reading == "reject_488":
        assert call_checks.sipp_completed(result), (
            f"[{api.req}] expected SIPp's call (INVITE, 488, ACK) to complete: {result.describe()}"
        )
    readings.follow("unacceptable_offer_sipp", reading, seen)
    if code < 300:
        api.call("hangup", {"id": str(account.id)})  # SIPp ends the call itself; make sure
    calls.ended(account, why="the offer was refused, or the media-less call ended")
