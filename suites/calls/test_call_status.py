"""What each call_status state means: the reading call_status_meaning (SIP-CALL-STAT-001).

The page lists call_status's states (idle, out, in, calling, error, close, reconnecting) without
their meanings. These are the only cases that observe which call state a device shows at which
moment of a call; every other case judges only a call in progress (in, out or calling) or none
(conftest.py). Each moment is first proven on the wire; a step that fails there is another
requirement's defect (SIP-CALL-IN-002, SIP-CALL-OUT-001, ...) and leaves this case nothing to
observe (broken, not failed here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sdp, sip

POINT = "call_status_meaning"
#: Per reading of the point, the call state of (a call being set up, the established call), for
#: an incoming and for an outgoing call. Both readings show idle once the call is over.
INCOMING = call_checks.INCOMING
OUTGOING = call_checks.OUTGOING


@contextmanager
def _step(what: str) -> Iterator[None]:
    """A step another requirement judges: if the device fails it, this case is not exercised."""
    try:
        yield
    except AssertionError as exc:  # DeviceFailure, DeviceTimeout, ConformanceFailure
        raise NotExercised(f"{what} failed (another requirement's): {exc}") from None


def _state(api, calls, account, accept: tuple[str, ...], moment: str) -> str:
    """call_status once it is one of `accept` (polled up to the state timeout), else the last
    state seen (the caller judges it against the readings)."""
    try:
        return poll_until(
            lambda: api.status(account.id).call,
            lambda state: state in accept,
            timeout=calls.timeout,
            expected=f"call_status {' or '.join(accept)} ({moment})",
        )
    except WaitTimeout:
        return api.status(account.id).call


def _judge(readings, table, *, setup: str, established: str, over: str, flow: str) -> None:
    """Record the reading whose states were seen; none_of when no reading shows them."""
    seen = (
        f"call_status {setup!r} while the call was set up, {established!r} once established, "
        f"{over!r} once over; flow: {flow}"
    )
    name = call_checks.call_status_reading(table, setup=setup, established=established, over=over)
    if name is None:
        readings.none_of(POINT, seen)
    readings.follow(POINT, name, seen)


def _established_after(table, setup: str) -> tuple[str, ...]:
    """The established states the readings that show `setup` for a call being set up allow."""
    return tuple(est for ring, est in table.values() if ring == setup) or tuple(
        est for _, est in table.values()
    )


@pytest.mark.req("SIP-CALL-STAT-001")
def test_call_status_through_an_incoming_call(api, calls, sip_account, raw_caller, readings):
    account = sip_account(call_cfg={"auto_aws": "0"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer())
    with _step("the call to ring"):
        calls.leg_rings(leg, account)
    setup = _state(
        api, calls, account, tuple(s for s, _ in INCOMING.values()), "the incoming call rings"
    )
    with _step("answer.json on the ringing call"):
        calls.answer(account)
        ok = leg.response(timeout=calls.timeout)
    if ok.status_code != 200:
        raise NotExercised(f"answer.json did not answer the call (SIP-CALL-IN-002): {leg.flow()}")
    leg.ack()
    established = _state(
        api,
        calls,
        account,
        _established_after(INCOMING, setup),
        "answer.json answered and the 200 was ACKed",
    )
    leg.bye()
    with _step("the caller's BYE"):
        bye_ok = leg.response(method="BYE", timeout=calls.timeout)
    if bye_ok.status_code != 200:
        raise NotExercised(f"the caller's BYE was answered {bye_ok.status_code} (SIP-CALL-BYE-001)")
    over = _state(api, calls, account, ("idle",), "the caller's BYE was answered 200")
    _judge(readings, INCOMING, setup=setup, established=established, over=over, flow=leg.flow())


@pytest.mark.req("SIP-CALL-STAT-001")
def test_call_status_through_an_outgoing_call(api, calls, sip_account, raw_callee, readings):
    callee = raw_callee("callee")
    account = sip_account(call_cfg={"auto_call": "1", "sip_out_url": callee.target})
    with _step("the auto_call INVITE with a usable offer (SIP-CALL-OUT-001)"):
        invite = callee.wait_invite(calls.timeout)
        request = invite.message
        if not isinstance(request, sip.SipRequest):  # pragma: no cover - wait_invite's INVITEs
            raise NotExercised(f"harness invariant: {invite.label!r} is not an INVITE")
        offer = calls.sdp_of(request.body, request.content_type or "", "the device's INVITE")
    calls.usable_offer(offer, "the device's offer")
    callee.respond(invite, 180)
    setup = _state(
        api, calls, account, tuple(s for s, _ in OUTGOING.values()), "our 180 is the only answer"
    )
    answer = sdp.answer_video_recvonly(offer, callee.host, callee.media_port)
    index, _ = calls.h264_video(answer, "the callee's answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # the callee is the video source
    callee.respond(invite, 200, answer.to_bytes())
    with _step("the device's ACK to the callee's 200"):
        callee.wait_for(
            lambda s: (
                s.is_request and s.message.method == "ACK" and s.message.call_id == request.call_id
            ),
            calls.timeout,
            expected="the device's ACK to our 200",
        )
    established = _state(
        api,
        calls,
        account,
        _established_after(OUTGOING, setup),
        "the callee answered 200 and the device ACKed",
    )
    with _step("hangup.json on the established call (SIP-CALL-OUT-002)"):
        api.expect_ok(api.call("hangup", {"id": str(account.id)}))
        callee.wait_for(
            lambda s: s.is_request and s.message.method == "BYE",
            calls.timeout,
            expected="the device's BYE after hangup.json",
        )
    over = _state(api, calls, account, ("idle",), "hangup.json ended the call")
    _judge(
        readings,
        OUTGOING,
        setup=setup,
        established=established,
        over=over,
        flow=callee.flow(request.call_id),
    )
