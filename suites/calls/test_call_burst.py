"""A burst of incoming calls from SIPp (uac_invite_load): each answered or refused as policy 1
and allow_in_num 1 say, and none left half-open.

SIPp places BURST_CALLS calls at BURST_RATE calls/s to an auto-answering account, each held
HOLD_MS, longer than the gap between two calls, so calls arrive while another is up and the
policy decides. The scenario ACKs a refusal (403, 480, 486, 488, 500, 503, 600, 603) and ends the
call there, so every call ends on a path of the scenario; anything else is SIPp's "unexpected
message". A missing SIPp raises ToolMissing: the case is broken, not failed.

What happened at the device is read from SIPp's own message log (peers/sipp/burst.py, whose
intervals hold whatever the transit time).
"""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.sipp.burst import (
    REFUSALS,
    burst_calls,
    check_policy_1,
    ladder,
    unexpected_messages,
)

BURST_CALLS = 20
BURST_RATE = 10.0
#: Longer than the 100 ms between two calls: the next call arrives while this one is up.
HOLD_MS = 150
SIPP_TIMEOUT = 10.0


@pytest.mark.req("SIP-CALL-BURST-001")
def test_a_burst_of_calls_is_answered_per_policy_and_leaves_nothing_open(
    api, calls, sip_account, sipp, raw_caller
):
    account = calls.policy_1_account(sip_account, 1)
    result = sipp(
        "uac_invite_load",
        account.sip.address,
        service=account.local_account,
        calls=BURST_CALLS,
        rate=BURST_RATE,
        variables={"pause_ms": str(HOLD_MS)},
        timeout=SIPP_TIMEOUT,
    )
    burst = burst_calls(result.records())
    req = api.req
    # The event first: SIPp placed the burst and every call got a final answer.
    if len(burst) != BURST_CALLS:
        raise NotExercised(f"SIPp sent {len(burst)} of {BURST_CALLS} INVITEs: {result.describe()}")
    unanswered = [c.call_id for c in burst if c.final is None]
    if unanswered:
        raise ConformanceFailure(
            req, "a final answer to each INVITE of the burst", f"none to {unanswered}"
        )
    other = sorted({c.final for c in burst if c.final != 200 and c.final not in REFUSALS})
    if other:
        if all(c is not None and 400 <= c < 700 for c in other):
            raise NotExercised(
                f"the device refused with {other}, which uac_invite_load.xml does not ACK; "
                f"add them to its refusals: {result.describe()}"
            )
        raise ConformanceFailure(
            req,
            "each call answered 200 or refused with a final 4xx-6xx",
            f"{other}: {ladder(burst)}",
        )
    unexpected = unexpected_messages(result.errors_text)
    if unexpected or not result.ok or result.successful != BURST_CALLS:
        raise ConformanceFailure(
            req,
            f"all {BURST_CALLS} calls of the burst on a path of the scenario, no unexpected "
            "message (a BYE from the device, an unanswered BYE, a stray response)",
            f"{unexpected[:3]}; {result.describe()}",
        )
    contested = check_policy_1(req, burst)
    if not contested:
        raise NotExercised(
            f"no call of the burst surely arrived while another was up, so the policy was not "
            f"put to the test (SIPp kept no overlap): {ladder(burst)}"
        )
    # None left half-open: the account is idle, OPTIONS is answered 200 (RFC 3261 §11.2: with
    # the answer an INVITE would get), and one more call is answered and ends.
    calls.ended(account, why="every call of the burst was answered and hung up, or refused")
    options = sipp("uac_options", account.sip.address, service=account.local_account, timeout=5)
    if not (options.ok and options.successful == 1):
        raise ConformanceFailure(
            req, "200 to an OPTIONS after the burst (no call left up)", options.describe()
        )
    leg = calls.answered(raw_caller(), account)
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the call after the burst was hung up")
