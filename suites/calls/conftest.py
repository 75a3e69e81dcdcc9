"""Local fixtures of the call-flow suites: a call toolkit, plain-socket peers, idle cleanup.

* `calls` (:class:`CallKit`): the steps every call case repeats, each proving the event on the
  wire (what the peer saw) and in status.json (a deadline poll), never with a sleep.
* `raw_caller` / `raw_callee` (peers/raw_ua.py, via the plugin) play the caller of calls that
  must stay up and the callee of the device's own calls; pjsua2 plays the caller wherever no
  media is negotiated (see peers/raw_ua.py for why).
* An autouse fixture hangs up any call a case left on its accounts, so the next case starts idle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from decoder_conformance.device.accounts import SipAccount, SipAccounts
from decoder_conformance.device.client import ConformanceFailure, DeviceClient, Status, as_number
from decoder_conformance.device.target import Target
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import call_checks, sdp_checks
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.pjsua.controller import PeerEvent, PjsuaPeer
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from decoder_conformance.plugin.status_trace import trace_every_case
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sdp, sip

# --- call toolkit ------------------------------------------------------------------------------

# call_status. The page lists its values (idle, out, in, calling, error, close, reconnecting) but
# not what each means: which call state shows which moment of a call is the reading
# call_status_meaning, observed only by the cases of SIP-CALL-STAT-001 (test_call_status.py). Every
# other case judges only what holds under any reading: while a call rings or is up, call_status is
# one of the call states IN_PROGRESS; once it is over, it is none of them (ENDED: idle, or close,
# error, reconnecting, whose meanings the page does not give either). The events themselves (rung,
# answered, ended) are proven on the wire.
IN_PROGRESS = call_checks.IN_PROGRESS
ENDED = ("idle", "close", "error", "reconnecting")
#: The directions RFC 3264 §6.1 allows in the answer to a sendonly offered stream.
ANSWER_TO_SENDONLY = sdp_checks.ANSWER_TO_SENDONLY


@dataclass
class CallKit:
    """Steps of a call case against one device: `api` for status.json, pjsua2 peers for the wire."""

    api: DeviceClient
    timeout: float

    # The call_status sets above, for the cases (a conftest is not importable by module name).
    IN_PROGRESS = IN_PROGRESS
    ENDED = ENDED

    # -- status.json --------------------------------------------------------------------------

    def status_is(self, account: SipAccount, *states: str, why: str = "") -> Status:
        """Poll status.json until call_status is one of `states` (ConformanceFailure otherwise)."""
        wanted = " or ".join(states)
        return self.api.wait_status(
            account.id,
            lambda s: s.call in states,
            timeout=self.timeout,
            expected=f"call_status {wanted}" + (f" ({why})" if why else ""),
        )

    def status_now(self, account: SipAccount, states: tuple[str, ...], why: str) -> None:
        """call_status must be one of `states` right now (a state that must hold, not one to
        wait for)."""
        seen = self.api.status(account.id).call
        if seen not in states:
            raise ConformanceFailure(
                self.api.req, f"call_status {' or '.join(states)} ({why})", repr(seen)
            )

    def rings(
        self,
        account: SipAccount,
        responses: Callable[[], list[int]],
        flow: Callable[[], str],
    ) -> None:
        """An incoming call rings: a provisional answer above 100 reached the caller (180, 183)
        or status.json shows a call in progress, and no final answer came. `responses`: the codes
        the caller received to its INVITE so far. Which provisional a device sends, if any, is
        its choice (RFC 3261 §13.3.1.1: it MAY send 180)."""
        req = self.api.req
        try:
            poll_until(
                lambda: (responses(), self.api.status(account.id).call),
                lambda seen: any(code > 100 for code in seen[0]) or seen[1] in IN_PROGRESS,
                timeout=self.timeout,
                expected="a provisional answer above 100 or a call_status of a call in progress",
            )
        except WaitTimeout as exc:
            raise ConformanceFailure(
                req, "the call to ring (auto_aws 0)", f"{exc}; flow: {flow()}"
            ) from None
        finals = [code for code in responses() if code >= 200]
        assert not finals, (
            f"[{req}] expected the call to ring without a final answer (auto_aws 0), observed "
            f"{finals}; flow: {flow()}"
        )

    def leg_rings(self, leg: Leg, account: SipAccount) -> None:
        """The plain-socket caller's call rings at `account` (see rings())."""
        self.rings(account, lambda: [r.status_code for r in leg.responses()], leg.flow)

    # -- the pjsua2 peer's view of one call ---------------------------------------------------

    def call_id(self, peer: PjsuaPeer, handle: int) -> str:
        """The SIP Call-ID of `handle` (from the INVITE the peer sent or received)."""
        state = peer.call_state(handle)
        if state.call_id:
            return state.call_id
        event = peer.wait_event(
            lambda e: e.get("handle") == handle and bool(e.get("call_id")),
            self.timeout,
            expected=f"call {handle} to have a Call-ID",
        )
        return str(event["call_id"])

    def received(
        self,
        peer: PjsuaPeer,
        handle: int,
        what: str,
        match: Callable[[WireRecord], bool],
        timeout: float | None = None,
    ) -> WireRecord:
        """The first message of call `handle` the peer received matching `match`.

        A peer that never sees it is a device failure (PeerTimeout is an AssertionError).
        """
        call_id = self.call_id(peer, handle)
        return peer.wait_message(
            lambda r: r.direction == "RX" and r.message.call_id == call_id and match(r),
            self.timeout if timeout is None else timeout,
            expected=f"[{self.api.req}] {what}",
        )

    def response(
        self, peer: PjsuaPeer, handle: int, code: int, method: str = "INVITE"
    ) -> WireRecord:
        """The `code` response to the peer's `method` of call `handle`."""
        return self.received(
            peer,
            handle,
            f"a {code} response to {method}",
            lambda r: r.status_of(method) == code,
        )

    def final(self, peer: PjsuaPeer, handle: int) -> WireRecord:
        """The first final (>= 200) response to the peer's INVITE of call `handle`."""
        return self.received(
            peer,
            handle,
            "a final response to the INVITE",
            lambda r: (r.status_of("INVITE") or 0) >= 200,
        )

    def request(self, peer: PjsuaPeer, handle: int, method: str) -> WireRecord:
        """The first `method` request the device sent on call `handle`."""
        return self.received(
            peer,
            handle,
            f"a {method} from the device",
            lambda r: r.is_request_of(method),
        )

    def seen(self, peer: PjsuaPeer, handle: int) -> list[WireRecord]:
        """Every record of call `handle` so far (synchronised with the worker)."""
        call_id = self.call_id(peer, handle)
        return [r for r in peer.records() if r.message.call_id == call_id]

    def flow(self, peer: PjsuaPeer, handle: int) -> str:
        """The call's messages as 'RX 180 INVITE, TX ACK, ...' for assertion messages."""
        return ", ".join(f"{r.direction} {r.label}" for r in self.seen(peer, handle)) or "none"

    def state(self, peer: PjsuaPeer, handle: int, state: str) -> PeerEvent:
        """The peer's call reaching `state`."""
        return peer.wait_call_state(handle, state, self.timeout)

    # -- composite steps ----------------------------------------------------------------------

    def policy_1_account(self, sip_account: SipAccounts, allow_in_num: int) -> SipAccount:
        """An auto-answering account with `allow_in_num` and policy 1 (the page's default); broken
        when the device will not take that allow_in_num or shows another policy."""
        account = sip_account(call_cfg={"auto_aws": "true"})
        shown = self.api.call_cfg(account.id).get("allow_in_num")
        if as_number(shown) != allow_in_num:
            wanted = {"id": str(account.id), "allow_in_num": str(allow_in_num)}
            reply = self.api.call("modify_call_cfg", wanted)
            shown = self.api.call_cfg(account.id).get("allow_in_num")
            if as_number(shown) != allow_in_num:
                raise NotExercised(
                    f"the case needs allow_in_num {allow_in_num}; modify_call_cfg.json "
                    f"{reply.body!r}, call_cfg.json allow_in_num {shown!r}"
                )
        policy = self.api.account(account.id).get("call_in_options", {}).get("policy")
        if as_number(policy) != 1:
            raise NotExercised(
                f"the case needs policy 1, the page's default; account.json: {policy!r}"
            )
        return account

    def answered(self, caller: RawCaller, account: SipAccount, body: bytes | None = None) -> Leg:
        """A call from the plain-socket `caller`, answered 200 and ACKed, status established."""
        leg = caller.call(account, caller.offer() if body is None else body)
        ok = leg.response(timeout=self.timeout)
        assert ok.status_code == 200, (
            f"[{self.api.req}] expected 200 to an INVITE offering H.264 video to an "
            f"auto-answering account, observed {ok.status_code} {ok.reason}; flow: {leg.flow()}"
        )
        leg.ack()
        self.established(account, why="the device answered 200 and got its ACK")
        return leg

    def answer(self, account: SipAccount) -> None:
        """answer.json on the ringing call. The page lists `dir` ("sip_out") without saying
        what an incoming call takes (reading answer_dir, observed only by SIP-CALL-ANS-001): sent
        without it first, then with dir=sip_out, the page's own example, if that was refused, so
        the call is answered under every reading."""
        reply = self.api.call("answer", {"id": str(account.id)})
        if not reply.ok:
            reply = self.api.call("answer", {"id": str(account.id), "dir": "sip_out"})
        self.api.expect_ok(reply)

    def established(self, account: SipAccount, why: str) -> Status:
        """call_status shows a call in progress, as it must once the call is up (the wire proves
        it is up; which call state an established call shows is SIP-CALL-STAT-001's reading)."""
        return self.status_is(account, *IN_PROGRESS, why=why)

    def ended(self, account: SipAccount, why: str) -> Status:
        """call_status shows no call in progress (idle, or close, error, reconnecting)."""
        return self.status_is(account, *ENDED, why=why)

    def ended_by_device(self, leg: Leg, account: SipAccount, why: str) -> sip.SipRequest:
        """The device's BYE on `leg` (answered 200 by the caller), then the call over."""
        bye = leg.wait_request("BYE", timeout=self.timeout)
        self.ended(account, why=why)
        return bye

    def ringing(self, peer: PjsuaPeer, account: SipAccount, **offer: Any) -> int:
        """A call from `peer` ringing at `account` (see rings()); its handle."""
        handle = peer.call(account.uri, **offer)

        def codes() -> list[int]:
            codes = [r.status_of("INVITE") for r in self.seen(peer, handle) if r.direction == "RX"]
            return [code for code in codes if code is not None]

        self.rings(account, codes, lambda: self.flow(peer, handle))
        return handle

    def sdp_of(self, body: str | bytes, content_type: str, where: str) -> sdp.SessionDescription:
        """The SDP body of a message (`where` names it); a failure when there is none."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        assert text.strip(), f"[{self.api.req}] expected an SDP body in {where}"
        assert "application/sdp" in content_type.lower(), (
            f"[{self.api.req}] expected Content-Type application/sdp in {where}, "
            f"observed {content_type!r}"
        )
        try:
            return sdp.parse(text)
        except ValueError as exc:
            raise AssertionError(
                f"[{self.api.req}] the SDP of {where} does not parse: {exc}"
            ) from None

    def video(
        self, description: sdp.SessionDescription, where: str
    ) -> tuple[int, sdp.MediaDescription]:
        """(index, section) of the single m=video section of `description`."""
        found = [(i, m) for i, m in enumerate(description.media) if m.media == "video"]
        assert len(found) == 1, (
            f"[{self.api.req}] expected exactly one m=video section in {where}, observed "
            f"{[m.m_value() for m in description.media]}"
        )
        return found[0]

    def h264_video(
        self, description: sdp.SessionDescription, where: str
    ) -> tuple[int, sdp.MediaDescription]:
        """(index, section) of the m=video that carries H.264 (the first, if several)."""
        return sdp_checks.h264_video(self.api.req, description, where)

    def accepted_video(
        self,
        description: sdp.SessionDescription,
        where: str,
        payload_type: int | None = None,
    ) -> sdp.MediaDescription:
        """The m=video of an answer to a sendonly H.264 offer, as RFC 3264 requires it
        (peers/sdp_checks.accepted_video: accepted, H264 mapped, recvonly or inactive).

        `payload_type`: the offer's, which the answer SHOULD reuse (§6.1; SIP-CALL-SDP-003 only).
        """
        return sdp_checks.accepted_video(self.api.req, description, where, payload_type)

    def usable_offer(
        self, description: sdp.SessionDescription, where: str
    ) -> tuple[int, sdp.MediaDescription]:
        """The device's own offer must be answerable by the suite's video source: an H.264
        m=video. What a decoder offers is its choice (no RFC MUST), so an offer without one
        cannot be exercised further: NotExercised, not a failure."""
        try:
            return self.h264_video(description, where)
        except AssertionError as exc:
            raise NotExercised(
                f"{exc}: the suite has only an H.264 source to answer with"
            ) from None

    def offer_shape(self, description: sdp.SessionDescription, where: str, host: str) -> None:
        """The device's own offer as a decoder should shape it (SIP-CALL-SDP-005, a practice):
        a c= of its SIP `host` on the H.264 m=video, a single payload format there, and every
        other m-line at port 0."""
        index, video = self.usable_offer(description, where)
        req = self.api.req
        connection = video.connection or description.connection
        assert connection is not None and connection.address == host, (
            f"[{req}] expected c= {host} (the device's SIP host) in {where}, observed "
            f"{None if connection is None else connection.to_string()}"
        )
        assert len(video.formats) == 1, (
            f"[{req}] expected a single payload format on the m=video of {where}, observed "
            f"m={video.m_value()}"
        )
        others = [m.m_value() for i, m in enumerate(description.media) if i != index and m.port]
        assert not others, (
            f"[{req}] expected every other m-line of {where} at port 0, observed {others}"
        )


@pytest.fixture
def state_timeout(device_target: Target) -> float:
    """Seconds the profile allows the device to reach a state."""
    return float(device_target.profile.timers.state_timeout)


@pytest.fixture
def calls(api: DeviceClient, state_timeout: float) -> CallKit:
    """The call toolkit for this case."""
    return CallKit(api, state_timeout)


# --- cleanup -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hang_up_leftovers(api: DeviceClient, sip_account: Any) -> Iterator[None]:
    """After the case's peers are stopped: hang up any call still on the case's accounts."""
    yield
    for account in sip_account.made:
        if api.status(account.id).call in IN_PROGRESS:
            api.call("hangup", {"id": str(account.id)})


#: Every case here has its accounts' status.json traced and judged (plugin/status_trace.py).
_status_trace = trace_every_case()


__all__ = ["ANSWER_TO_SENDONLY", "ENDED", "IN_PROGRESS", "CallKit"]
