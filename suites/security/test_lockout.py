"""Scanner lock-out: one INVITE answered and never ACKed must not keep legitimate callers out
for longer than the profile allows ([security].max_lockout, else 64*T1).

A scanner (a plain-socket caller that never ACKs) calls an auto-answering account with
allow_in_num 1 and policy 1 (the page's "only one incoming call"). From the scanner's 200 on, a
legitimate caller sends an INVITE every POLL s; each refusal (486 or another) is ACKed and noted.
The lock-out lies between the last refused attempt and the first legitimate INVITE answered 2xx
(times from the scanner's 200): both are recorded and attached with every attempt, and the case
fails only when a refusal came after the bound (a lock-out surely longer than the bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from decoder_conformance.device.client import ConformanceFailure, as_number
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from decoder_conformance.waiting import DeviceTimeout, WaitTimeout, poll_until
from wire import sip

#: Seconds between two legitimate INVITEs: the resolution of the measured lock-out.
POLL = 0.05


@dataclass(frozen=True)
class Attempt:
    """One legitimate INVITE: when it was sent (s after the scanner's 200) and what it got."""

    at: float
    code: int | None  # None: no final answer within the state timeout
    leg: Leg


def _sent_time(leg: Leg) -> float:
    return next(
        r.t
        for r in leg.ua.records()
        if r.direction == "TX" and r.message.call_id == leg.call_id and r.message.method == "INVITE"
    )


def _final_time(leg: Leg) -> float:
    return next(
        r.t
        for r in leg.ua.records()
        if r.direction == "RX"
        and isinstance(r.message, sip.SipResponse)
        and r.message.call_id == leg.call_id
        and r.message.cseq.method == "INVITE"
        and r.message.status_code >= 200
    )


def _attach(lines: list[str]) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach("\n".join(lines), name="lock-out", attachment_type=allure.attachment_type.TEXT)


@pytest.mark.req("SIP-SEC-LOCK-001")
def test_unacked_scanner_invite_locks_out_within_the_bound(
    api, sip_account, raw_caller, device_target, *, timers, evidence, record_property
):
    account = sip_account(call_cfg={"auto_aws": "true"})
    allow_in_num = as_number(api.call_cfg(account.id).get("allow_in_num"))
    if allow_in_num != 1:  # the page's default is 1; set it where the device shows another
        api.call("modify_call_cfg", {"id": str(account.id), "allow_in_num": "1"})
        allow_in_num = as_number(api.call_cfg(account.id).get("allow_in_num"))
    policy = as_number(api.account(account.id).get("call_in_options", {}).get("policy"))
    if (allow_in_num, policy) != (1, 1):
        raise NotExercised(
            f"the case needs allow_in_num 1 and policy 1; call_cfg.json allow_in_num "
            f"{allow_in_num!r}, account.json policy {policy!r}"
        )
    profile = device_target.profile
    bound = profile.lockout_bound
    # Measured until an RFC-conforming device must have ended the scanner's call (64*T1).
    horizon = max(bound, profile.timers.transaction_timeout) + timers.state_timeout

    scanner: RawCaller = raw_caller("scanner")
    held = scanner.call(account, scanner.offer())
    answer = held.response(timeout=timers.state_timeout)
    if answer.status_code != 200:
        raise NotExercised(
            f"the scanner's INVITE to an auto-answering account was answered "
            f"{answer.status_code}, not 200: nothing holds the slot; {held.flow()}"
        )
    answered_at = _final_time(held)

    caller: RawCaller = raw_caller("legitimate")
    attempts: list[Attempt] = []
    lines = [f"scanner's 200 at 0.000 s (never ACKed); bound {bound:.3f} s"]
    evidence.add_attacher(lambda: _attach(lines))

    def attempt() -> Attempt:
        leg = caller.call(account, caller.offer())
        try:
            final = leg.response(timeout=timers.state_timeout)
        except DeviceTimeout:
            leg.cancel()
            done = Attempt(_sent_time(leg) - answered_at, None, leg)
        else:
            done = Attempt(_final_time(leg) - answered_at, final.status_code, leg)
        attempts.append(done)
        lines.append(f"legitimate INVITE answered at {done.at:.3f} s: {done.code or 'nothing'}")
        return done

    try:
        taken = poll_until(
            attempt,
            lambda a: a.code is not None and 200 <= a.code < 300,
            timeout=horizon,
            interval=POLL,
            expected="a legitimate INVITE answered 2xx",
        )
    except WaitTimeout:
        refused = sorted({a.code for a in attempts if a.code is not None})
        raise ConformanceFailure(
            api.req,
            f"a legitimate caller answered 2xx within {bound:.3f} s of the scanner's 200",
            f"locked out for all of {horizon:.1f} s ({len(attempts)} INVITEs refused {refused})",
        ) from None
    taken.leg.ack()
    refusals = [a for a in attempts if a is not taken]
    last_refused = max((a.at for a in refusals), default=0.0)
    refused = sorted({a.code for a in refusals if a.code is not None})
    record_property("lockout_s", f"{taken.at:.3f}")
    record_property("last_refused_s", f"{last_refused:.3f}")
    record_property("refused with", ", ".join(map(str, refused)) or "(none)")
    lines.append(
        f"lock-out between {last_refused:.3f} s (last refusal) and {taken.at:.3f} s (first "
        f"2xx); refusals {refused}"
    )
    taken.leg.bye()
    taken.leg.response(200, method="BYE", timeout=timers.state_timeout)
    if last_refused > bound:
        raise ConformanceFailure(
            api.req,
            f"a legitimate caller answered 2xx within {bound:.3f} s of the scanner's 200",
            f"refused until {last_refused:.3f} s, first answered 2xx at {taken.at:.3f} s "
            f"({len(refusals)} INVITEs refused {refused})",
        )
