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

from decoder_conformance.device.accounts import SipAccount
from decoder_conformance.device.client import ConformanceFailure, DeviceClient, Status
from decoder_conformance.device.target import Target
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.pjsua.controller import PeerEvent, PjsuaPeer
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from wire import sdp, sip

# --- call toolkit ------------------------------------------------------------------------------


@dataclass
class CallKit:
    """Steps of a call case against one device: `api` for status.json, pjsua2 peers for the wire."""

    api: DeviceClient
    timeout: float

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

    def status_now(self, account: SipAccount, state: str, why: str) -> None:
        """call_status must be `state` right now (a state that must hold, not one to wait for)."""
        seen = self.api.status(account.id).call
        if seen != state:
            raise ConformanceFailure(self.api.req, f"call_status {state} ({why})", repr(seen))

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

    def answered(self, caller: RawCaller, account: SipAccount, body: bytes | None = None) -> Leg:
        """A call from the plain-socket `caller`, answered 200 and ACKed, status calling."""
        leg = caller.call(account, caller.offer() if body is None else body)
        ok = leg.response(timeout=self.timeout)
        assert ok.status_code == 200, (
            f"[{self.api.req}] expected 200 to an INVITE offering H.264 video to an "
            f"auto-answering account, observed {ok.status_code} {ok.reason}; flow: {leg.flow()}"
        )
        leg.ack()
        self.status_is(account, "calling", why="the device answered 200 and got its ACK")
        return leg

    def ended_by_device(self, leg: Leg, account: SipAccount, why: str) -> sip.SipRequest:
        """The device's BYE on `leg` (answered 200 by the caller), then status idle."""
        bye = leg.wait_request("BYE", timeout=self.timeout)
        self.status_is(account, "idle", why=why)
        return bye

    def ringing(self, peer: PjsuaPeer, account: SipAccount, **offer: Any) -> int:
        """A call from `peer` ringing at `account` (180 seen, status in); its handle."""
        handle = peer.call(account.uri, **offer)
        self.response(peer, handle, 180)
        self.state(peer, handle, "EARLY")
        self.status_is(account, "in", why="the caller got 180 Ringing")
        finals = [
            r
            for r in self.seen(peer, handle)
            if r.direction == "RX" and (r.status_of("INVITE") or 0) >= 200
        ]
        assert not finals, (
            f"[{self.api.req}] expected the call to ring without a final answer, observed "
            f"{[r.first_line for r in finals]}"
        )
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

    def receive_only_h264(
        self,
        description: sdp.SessionDescription,
        where: str,
        host: str,
        payload_type: int | None = None,
    ) -> sdp.MediaDescription:
        """The m=video of `description`: H.264 in rtpmap (with `payload_type`), recvonly, a real
        port and a c= address of the device's host."""
        _, video = self.video(description, where)
        req = self.api.req
        assert video.port != 0, (
            f"[{req}] expected a non-zero video port in {where}: {video.m_value()}"
        )
        h264 = [r for r in video.rtpmaps() if r.encoding_name.upper() == "H264"]
        assert h264, f"[{req}] expected an H264 rtpmap in the m=video of {where}: {video.lines}"
        if payload_type is not None:
            assert video.formats == [str(payload_type)] and h264[0].payload_type == payload_type, (
                f"[{req}] expected payload type {payload_type} (the offer's) in {where}, observed "
                f"m={video.m_value()} rtpmap {[r.to_string() for r in h264]}"
            )
        assert video.direction == sdp.DIRECTION_RECVONLY, (
            f"[{req}] expected a=recvonly on the video of {where}, observed {video.direction}"
        )
        connection = video.connection or description.connection
        assert connection is not None and connection.address == host, (
            f"[{req}] expected c= {host} (where the device listens) in {where}, observed "
            f"{None if connection is None else connection.to_string()}"
        )
        return video


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
        if api.status(account.id).call not in ("idle", "close", "error"):
            api.call("hangup", {"id": str(account.id)})


__all__ = ["CallKit"]
