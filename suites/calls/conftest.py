"""Local fixtures of the call-flow suites: a call toolkit, plain-socket peers, idle cleanup.

* `calls` (:class:`CallKit`): the steps every call case repeats, each proving the event on the
  wire (what the peer saw) and in status.json (a deadline poll), never with a sleep.
* `raw_caller` (:class:`RawCaller`): a UDP caller on `wire/` for calls that must stay up. pjsua2
  offers video in a second audio slot (it has no video) and, when the device accepts the video
  and rejects the audio with port 0, as a receive-only decoder must, pjsua2 finds no usable media
  and ends the call itself at once (BYE, "Unable to create media session"; a bodyless INVITE: BYE
  "SDP offer/answer incomplete"). pjsua2 plays the caller wherever no media is negotiated
  (ringing, CANCEL, 403/486/488/603) and where only the 200's SDP is checked.
* `raw_callee` (:class:`RawCallee`): a UDP callee on `wire/` that the device calls; the case
  decides when it rings and when it answers, so the device's `out` state can be observed while it
  rings (pjsua2 answers the device's video-only offer with 488 and cannot play this role).
* An autouse fixture hangs up any call a case left on its accounts, so the next case starts idle.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fixtures.client import ConformanceFailure, DeviceClient, Status
from fixtures.ladder import LadderMessage, sip_label
from fixtures.peer_fixtures import LADDERS, SipAccount
from fixtures.pjsua_peer import PeerEvent, PjsuaPeer, SipMessage
from fixtures.waiting import Deadline, WaitTimeout
from wire import sdp, sip

LOOPBACK = "127.0.0.1"


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
        match: Callable[[SipMessage], bool],
        timeout: float | None = None,
    ) -> SipMessage:
        """The first message of call `handle` the peer received matching `match`.

        A peer that never sees it is a device failure (PeerTimeout is an AssertionError).
        """
        call_id = self.call_id(peer, handle)
        return peer.wait_message(
            lambda m: m.direction == "RX" and m.call_id == call_id and match(m),
            self.timeout if timeout is None else timeout,
            expected=f"[{self.api.req}] {what}",
        )

    def response(
        self, peer: PjsuaPeer, handle: int, code: int, method: str = "INVITE"
    ) -> SipMessage:
        """The `code` response to the peer's `method` of call `handle`."""
        return self.received(
            peer,
            handle,
            f"a {code} response to {method}",
            lambda m: m.status == code and m.cseq_method == method,
        )

    def final(self, peer: PjsuaPeer, handle: int) -> SipMessage:
        """The first final (>= 200) response to the peer's INVITE of call `handle`."""
        return self.received(
            peer,
            handle,
            "a final response to the INVITE",
            lambda m: m.status is not None and m.status >= 200 and m.cseq_method == "INVITE",
        )

    def request(self, peer: PjsuaPeer, handle: int, method: str) -> SipMessage:
        """The first `method` request the device sent on call `handle`."""
        return self.received(
            peer,
            handle,
            f"a {method} from the device",
            lambda m: m.is_request and m.method == method,
        )

    def seen(self, peer: PjsuaPeer, handle: int) -> list[SipMessage]:
        """Every message of call `handle` so far (synchronised with the worker)."""
        call_id = self.call_id(peer, handle)
        return [m for m in peer.messages() if m.call_id == call_id]

    def flow(self, peer: PjsuaPeer, handle: int) -> str:
        """The call's messages as 'RX 180 INVITE, TX ACK, ...' for assertion messages."""
        return ", ".join(f"{m.direction} {m.label}" for m in self.seen(peer, handle)) or "none"

    def state(self, peer: PjsuaPeer, handle: int, state: str) -> PeerEvent:
        """The peer's call reaching `state`."""
        return peer.wait_call_state(handle, state, self.timeout)

    # -- composite steps ----------------------------------------------------------------------

    def answered(self, caller: RawCaller, account: SipAccount, body: bytes | None = None) -> Leg:
        """A call from the plain-socket `caller`, answered 200 and ACKed, status calling."""
        leg = caller.call(account, h264_offer(caller.media_port) if body is None else body)
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
            m
            for m in self.seen(peer, handle)
            if m.direction == "RX" and m.status is not None and m.status >= 200
        ]
        assert not finals, (
            f"[{self.api.req}] expected the call to ring without a final answer, observed "
            f"{[m.first_line for m in finals]}"
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
def state_timeout(device_target: Any) -> float:
    """Seconds the profile allows the device to reach a state."""
    return float(device_target.profile.timers.state_timeout)


@pytest.fixture
def calls(api: DeviceClient, state_timeout: float) -> CallKit:
    """The call toolkit for this case."""
    return CallKit(api, state_timeout)


# --- plain-socket user agents on wire/ ---------------------------------------------------------


def h264_offer(
    media_port: int,
    *,
    payload_type: int = 96,
    audio: bool = True,
    video: bool = True,
    direction: str = "sendonly",
    version: int = 1,
) -> bytes:
    """An SDP offer from 127.0.0.1: PCMU audio (if `audio`) and H.264 video (if `video`)."""
    lines = [
        "v=0",
        f"o=conformance 4242 {version} IN IP4 {LOOPBACK}",
        "s=conformance",
        f"c=IN IP4 {LOOPBACK}",
        "t=0 0",
    ]
    if audio:
        lines += [f"m=audio {media_port + 2} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]
    if video:
        lines += [
            f"m=video {media_port} RTP/AVP {payload_type}",
            f"a=rtpmap:{payload_type} H264/90000",
            f"a=fmtp:{payload_type} profile-level-id=42e01f;packetization-mode=1",
            f"a={direction}",
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class Seen:
    """One datagram a plain-socket user agent received (RX) or sent (TX)."""

    t: float
    direction: str
    peer: tuple[str, int]
    message: sip.SipMessage

    @property
    def label(self) -> str:
        """'INVITE sip:..' or '200 OK' (with the CSeq method for responses)."""
        m = self.message
        if isinstance(m, sip.SipResponse):
            return f"{m.status_code} {m.reason} ({m.cseq.method})"
        return m.method

    @property
    def is_request(self) -> bool:
        return isinstance(self.message, sip.SipRequest)


class RawUa:
    """A SIP user agent on one UDP socket of 127.0.0.1, on `wire/`, that the case steers.

    The reader thread records every datagram and does only what RFC 3261 makes automatic: a BYE
    or re-INVITE-free in-dialog request from the device gets 200, a non-2xx final answer to our
    INVITE gets its ACK, a retransmitted 2xx we already ACKed gets the same ACK again.
    """

    role = "peer"

    def __init__(self, user: str, req: str) -> None:
        self.user = user
        self.req = req
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.1)
        # A second socket only so the SDP names a port this peer really holds.
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((LOOPBACK, 0))
        self.log: list[Seen] = []
        self.errors: list[str] = []
        self.cond = threading.Condition()
        self.closed = False
        self._acks: dict[str, bytes] = {}  # Call-ID -> the ACK sent for its 2xx
        self._thread = threading.Thread(target=self._read, name=f"raw-{user}", daemon=True)
        self._thread.start()

    # -- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def media_port(self) -> int:
        return int(self.media.getsockname()[1])

    @property
    def address(self) -> str:
        """'127.0.0.1:PORT'."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.address}>"

    def offer(self, **kwargs: Any) -> bytes:
        """An SDP offer naming this peer's media port (see `h264_offer` for the options)."""
        return h264_offer(self.media_port, **kwargs)

    # -- I/O ----------------------------------------------------------------------------------

    def _read(self) -> None:
        while not self.closed:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                message = sip.parse(data)
            except ValueError as exc:
                with self.cond:
                    self.errors.append(f"unparsable datagram from {peer}: {exc}: {data[:200]!r}")
                    self.cond.notify_all()
                continue
            with self.cond:
                self.log.append(Seen(time.monotonic(), "RX", peer, message))
                self.cond.notify_all()
            self._automatic(message, peer)

    def _automatic(self, message: sip.SipMessage, peer: tuple[str, int]) -> None:
        if isinstance(message, sip.SipRequest):
            if message.method in ("BYE", "OPTIONS"):
                self.send(sip.make_response(message, 200), peer)
            return
        if message.cseq.method != "INVITE" or message.is_provisional:
            return
        if message.is_success:
            ack = self._acks.get(message.call_id or "")
            if ack is not None:  # a retransmitted 2xx: ACK it again
                self.sock.sendto(ack, peer)
        else:
            self._ack_failure(message, peer)

    def _ack_failure(self, response: sip.SipResponse, peer: tuple[str, int]) -> None:
        """Hook for callers: ACK a non-2xx final answer (RFC 3261 §17.1.1.3)."""

    def send(self, message: sip.SipMessage, peer: tuple[str, int]) -> None:
        """Send `message` to `peer` and record it."""
        self.sock.sendto(message.to_bytes(), peer)
        with self.cond:
            self.log.append(Seen(time.monotonic(), "TX", peer, message))

    # -- what was seen ------------------------------------------------------------------------

    def seen(self, call_id: str | None = None) -> list[Seen]:
        """Every datagram so far (of `call_id`)."""
        with self.cond:
            return [s for s in self.log if call_id is None or s.message.call_id == call_id]

    def flow(self, call_id: str | None = None) -> str:
        """Everything seen so far, for assertion messages."""
        return ", ".join(f"{s.direction} {s.label}" for s in self.seen(call_id)) or "nothing"

    def wait_for(
        self, match: Callable[[Seen], bool], timeout: float, *, expected: str, nth: int = 1
    ) -> Seen:
        """The `nth` received datagram matching `match`; WaitTimeout naming what arrived."""
        deadline = Deadline(timeout)
        with self.cond:
            while True:
                found = [s for s in self.log if s.direction == "RX" and match(s)]
                if len(found) >= nth:
                    return found[nth - 1]
                if deadline.expired:
                    raise WaitTimeout(
                        f"[{self.req}] after {timeout:.1f} s the {self.role} {self.address} "
                        f"expected {expected}; seen: {self.flow()}"
                    )
                self.cond.wait(deadline.remaining)

    def none_for(
        self, match: Callable[[Seen], bool], window: float, *, expected: str, count: int = 0
    ) -> None:
        """At most `count` received datagrams match `match` until `window` s pass."""
        deadline = Deadline(window)
        with self.cond:
            while True:
                found = [s for s in self.log if s.direction == "RX" and match(s)]
                if len(found) > count:
                    raise AssertionError(
                        f"[{self.req}] expected {expected} within {window:.1f} s at the "
                        f"{self.role} {self.address}; observed: {self.flow()}"
                    )
                if deadline.expired:
                    return
                self.cond.wait(deadline.remaining)

    def ladder(self) -> tuple[list[LadderMessage], dict[str, str]]:
        """This peer's messages as ladder rows."""
        rows = []
        for s in self.seen():
            other = f"{s.peer[0]}:{s.peer[1]}"
            src, dst = (self.address, other) if s.direction == "TX" else (other, self.address)
            text = s.message.to_bytes().decode("utf-8", "replace")
            rows.append(LadderMessage(s.t, src, dst, sip_label(text.split("\r\n", 1)[0]), text))
        return rows, {self.address: self.role}

    def close(self) -> None:
        """Stop reading and close the sockets."""
        self.closed = True
        self._thread.join(1.0)
        self.sock.close()
        self.media.close()


@dataclass
class Leg:
    """One call a RawCaller placed: its INVITE, dialog identifiers and what came back."""

    ua: RawCaller
    device: tuple[str, int]
    uri: str
    call_id: str
    from_tag: str
    invite: sip.SipRequest
    cseq: int = 1
    remote_tag: str | None = None
    target: str = ""

    def _responses(self, method: str) -> Callable[[Seen], bool]:
        return lambda s: (
            isinstance(s.message, sip.SipResponse)
            and s.message.call_id == self.call_id
            and s.message.cseq.method == method
        )

    def response(
        self,
        code: int | None = None,
        *,
        method: str = "INVITE",
        timeout: float,
        nth: int = 1,
        cseq: int | None = None,
    ) -> sip.SipResponse:
        """The `nth` response to our `method` (with `code`; None: the first final one).

        `cseq` picks one transaction (a re-INVITE: the CSeq number it was sent with).
        """
        is_method = self._responses(method)

        def match(s: Seen) -> bool:
            if not is_method(s):
                return False
            if cseq is not None and s.message.cseq.number != cseq:
                return False
            status = s.message.status_code  # type: ignore[union-attr]
            return status >= 200 if code is None else status == code

        what = "a final response" if code is None else f"{code}"
        seen = self.ua.wait_for(match, timeout, expected=f"{what} to {method}", nth=nth)
        response = seen.message
        assert isinstance(response, sip.SipResponse)
        if method == "INVITE" and response.status_code > 100 and self.remote_tag is None:
            self.remote_tag = response.to_addr.tag
        if method == "INVITE" and response.is_success and response.contacts:
            self.target = response.contacts[0].uri
        return response

    def responses(self, method: str = "INVITE") -> list[sip.SipResponse]:
        """Every response to our `method` so far (retransmissions included)."""
        is_method = self._responses(method)
        return [
            s.message  # type: ignore[misc]
            for s in self.ua.seen(self.call_id)
            if s.direction == "RX" and is_method(s)
        ]

    def requests(self, method: str) -> list[sip.SipRequest]:
        """Requests `method` the device sent on this call."""
        return [
            s.message  # type: ignore[misc]
            for s in self.ua.seen(self.call_id)
            if s.direction == "RX" and s.is_request and s.message.method == method  # type: ignore[union-attr]
        ]

    def wait_request(self, method: str, *, timeout: float) -> sip.SipRequest:
        """The first `method` the device sent on this call."""
        seen = self.ua.wait_for(
            lambda s: (
                s.is_request and s.message.call_id == self.call_id and s.message.method == method
            ),  # type: ignore[union-attr]
            timeout,
            expected=f"a {method} from the device on call {self.call_id}",
        )
        assert isinstance(seen.message, sip.SipRequest)
        return seen.message

    def flow(self) -> str:
        """This call's messages, for assertion messages."""
        return self.ua.flow(self.call_id)

    def _request(
        self, method: str, cseq: int, *, uri: str = "", branch: str = ""
    ) -> sip.SipRequest:
        to = f"<{self.uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        request = sip.SipRequest(method, uri or self.target or self.uri)
        h = request.headers
        h.add("Via", f"SIP/2.0/UDP {self.ua.address};branch={branch or sip.new_branch()};rport")
        h.add("Max-Forwards", "70")
        h.add("From", f"<sip:{self.ua.user}@{self.ua.address}>;tag={self.from_tag}")
        h.add("To", to)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        h.add("Contact", self.ua.contact)
        h.add("User-Agent", "decoder-sip-conformance (raw)")
        h.add("Content-Length", "0")
        return request

    def ack(self, body: bytes = b"") -> None:
        """ACK the 2xx (with an SDP answer `body` for a bodyless INVITE)."""
        ack = self._request("ACK", self.cseq)
        if body:
            ack.set_body(body, "application/sdp")
        self.ua._acks[self.call_id] = ack.to_bytes()
        self.ua.send(ack, self.device)

    def bye(self) -> sip.SipRequest:
        """Send BYE in the dialog."""
        self.cseq += 1
        bye = self._request("BYE", self.cseq)
        self.ua.send(bye, self.device)
        return bye

    def cancel(self) -> sip.SipRequest:
        """CANCEL the INVITE (same branch, same CSeq number, RFC 3261 §9.1)."""
        branch = self.invite.vias[0].branch or ""
        cancel = self._request("CANCEL", 1, uri=self.invite.uri, branch=branch)
        cancel.headers.set("To", f"<{self.uri}>")
        self.ua.send(cancel, self.device)
        return cancel

    def reinvite(self, body: bytes) -> sip.SipRequest:
        """Send a re-INVITE in the dialog offering `body`."""
        self.cseq += 1
        invite = self._request("INVITE", self.cseq)
        invite.set_body(body, "application/sdp")
        self.ua.send(invite, self.device)
        return invite


class RawCaller(RawUa):
    """A caller on `wire/` that places INVITEs to the device and steers each dialog by hand."""

    role = "caller"

    def __init__(self, user: str, req: str) -> None:
        self.legs: dict[str, Leg] = {}
        super().__init__(user, req)

    def call(self, account: SipAccount, body: bytes | None = None) -> Leg:
        """INVITE `account` (bodyless when `body` is None)."""
        device = (account.sip.host, account.sip.port)
        leg = Leg(
            self,
            device,
            account.uri,
            sip.new_call_id(LOOPBACK),
            sip.new_tag(),
            sip.SipRequest("INVITE", account.uri),
        )
        invite = leg._request("INVITE", 1, uri=account.uri)
        if body is not None:
            invite.set_body(body, "application/sdp")
        leg.invite = invite
        self.legs[leg.call_id] = leg
        self.send(invite, device)
        return leg

    def _ack_failure(self, response: sip.SipResponse, peer: tuple[str, int]) -> None:
        leg = self.legs.get(response.call_id or "")
        if leg is None:
            return
        ack = sip.SipRequest("ACK", leg.invite.uri)
        ack.headers.add("Via", leg.invite.headers.get("Via") or "")
        ack.headers.add("Max-Forwards", "70")
        ack.headers.add("From", leg.invite.headers.get("From") or "")
        ack.headers.add("To", response.headers.get("To") or "")
        ack.headers.add("Call-ID", leg.call_id)
        ack.headers.add("CSeq", f"{leg.invite.cseq.number} ACK")
        ack.headers.add("Content-Length", "0")
        self.send(ack, peer)


class RawCallee(RawUa):
    """A callee on `wire/`: the device's INVITE rings or is answered when the case says so."""

    role = "callee"

    def __init__(self, user: str, req: str) -> None:
        super().__init__(user, req)
        self.tags: dict[str, str] = {}  # Call-ID -> our To tag

    @property
    def target(self) -> str:
        """What sip_out_url takes: 'user@127.0.0.1:PORT'."""
        return f"{self.user}@{self.address}"

    def invites(self) -> list[Seen]:
        """INVITEs received (retransmissions included)."""
        return [
            s
            for s in self.seen()
            if s.direction == "RX" and s.is_request and s.message.method == "INVITE"  # type: ignore[union-attr]
        ]

    def wait_invite(self, timeout: float, *, nth: int = 1) -> Seen:
        """The `nth` INVITE with a new Call-ID (retransmissions do not count)."""
        deadline = Deadline(timeout)
        with self.cond:
            while True:
                distinct = list({s.message.call_id: s for s in reversed(self.invites())}.values())
                distinct.reverse()
                if len(distinct) >= nth:
                    return distinct[nth - 1]
                if deadline.expired:
                    raise WaitTimeout(
                        f"[{self.req}] after {timeout:.1f} s the callee {self.address} expected "
                        f"INVITE #{nth} from the device; seen: {self.flow()}"
                    )
                self.cond.wait(deadline.remaining)

    def call_ids(self) -> list[str]:
        """Distinct Call-IDs of the INVITEs received."""
        return list(dict.fromkeys(s.message.call_id or "" for s in self.invites()))

    def respond(self, invite: Seen, code: int, body: bytes = b"") -> sip.SipResponse:
        """Answer `invite` with `code` (To tag and Contact added; SDP `body` when given)."""
        assert isinstance(invite.message, sip.SipRequest)
        tag = self.tags.setdefault(invite.message.call_id or "", sip.new_tag())
        response = sip.make_response(invite.message, code, to_tag=tag)
        if code > 100:
            response.headers.add("Contact", self.contact)
        if body:
            response.set_body(body, "application/sdp")
        self.send(response, invite.peer)
        return response


def _raw_factory(
    request: pytest.FixtureRequest, api: DeviceClient, kind: type[RawUa]
) -> Iterator[Callable[..., Any]]:
    made: list[RawUa] = []

    def make(user: str = "") -> Any:
        ua = kind(user or f"{kind.role}{len(made) + 1}", api.req)
        made.append(ua)
        request.node.stash.setdefault(LADDERS, []).append(ua.ladder)
        return ua

    yield make
    for ua in made:
        ua.close()
    errors = [e for ua in made for e in ua.errors]
    assert not errors, f"[{api.req}] the device sent unparsable SIP: {errors}"


@pytest.fixture
def raw_caller(request: pytest.FixtureRequest, api: DeviceClient) -> Iterator[Callable[..., Any]]:
    """`raw_caller(user=...)`: a plain-socket caller on 127.0.0.1:0, closed after the case."""
    yield from _raw_factory(request, api, RawCaller)


@pytest.fixture
def raw_callee(request: pytest.FixtureRequest, api: DeviceClient) -> Iterator[Callable[..., Any]]:
    """`raw_callee(user=...)`: a plain-socket callee on 127.0.0.1:0, closed after the case."""
    yield from _raw_factory(request, api, RawCallee)


# --- cleanup -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hang_up_leftovers(api: DeviceClient, sip_account: Any) -> Iterator[None]:
    """After the case's peers are stopped: hang up any call still on the case's accounts."""
    yield
    for account in sip_account.made:
        if api.status(account.id).call not in ("idle", "close", "error"):
            api.call("hangup", {"id": str(account.id)})


__all__ = ["CallKit", "Leg", "RawCallee", "RawCaller", "h264_offer"]
