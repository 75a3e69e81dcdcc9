"""Plain-socket SIP user agents on wire/: a caller and a callee the case drives step by step.

Why not pjsua2 for these: pjsua2 offers video in a second audio slot (the wheel has no video).
When the device accepts the video and rejects the audio with port 0, as a receive-only decoder
must, pjsua2 finds no usable media and ends the call at once (BYE "Unable to create media
session"; after a bodyless INVITE, BYE "SDP offer/answer incomplete"). And pjsua2 answers the
device's video-only offer with 488, so it cannot be the callee of the device's outgoing call.

Written by hand on wire/ because the case must decide every step (when to ring, when to ACK,
what SDP to send) and see every byte; no maintained Python SIP library gives both without I/O
policies of its own.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decoder_conformance import LOOPBACK
from decoder_conformance.report.ladder import LadderMessage, sip_label
from decoder_conformance.waiting import Deadline, DeviceTimeout
from wire import sip

if TYPE_CHECKING:
    from decoder_conformance.device.accounts import SipAccount


# --- plain-socket user agents on wire/ ---------------------------------------------------------


def h264_offer(
    media_port: int,
    *,
    payload_type: int = 96,
    audio: bool = True,
    video: bool = True,
    direction: str = "sendonly",
    version: int = 1,
    host: str = LOOPBACK,
) -> bytes:
    """An SDP offer from `host` (the suite host): PCMU audio if `audio`, H.264 video if `video`."""
    lines = [
        "v=0",
        f"o=conformance 4242 {version} IN IP4 {host}",
        "s=conformance",
        f"c=IN IP4 {host}",
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
    """A SIP user agent on one UDP socket of the suite host, on `wire/`, that the case steers.

    `host` (default 127.0.0.1; the --suite-host of a lab run) is bound and written in Via,
    Contact, Call-ID and SDP. The agent sends only to the device's address it is given (the
    account's get_binds address) and to the sender of what it received.

    The reader thread records every datagram and does only what RFC 3261 makes automatic: a BYE
    or re-INVITE-free in-dialog request from the device gets 200, a non-2xx final answer to our
    INVITE gets its ACK, a retransmitted 2xx we already ACKed gets the same ACK again.
    """

    role = "peer"

    def __init__(self, user: str, req: str, *, host: str = LOOPBACK) -> None:
        self.user = user
        self.req = req
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        # A second socket only so the SDP names a port this peer really holds.
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((host, 0))
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
        """'HOST:PORT' (the suite host, 127.0.0.1 by default)."""
        return f"{self.host}:{self.port}"

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.address}>"

    def offer(self, **kwargs: Any) -> bytes:
        """An SDP offer naming this peer's host and media port (`h264_offer` has the options)."""
        return h264_offer(self.media_port, host=self.host, **kwargs)

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
                    raise DeviceTimeout(
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
                isinstance(s.message, sip.SipRequest)
                and s.message.call_id == self.call_id
                and s.message.method == method
            ),
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

    def __init__(self, user: str, req: str, *, host: str = LOOPBACK) -> None:
        self.legs: dict[str, Leg] = {}
        super().__init__(user, req, host=host)

    def call(self, account: SipAccount, body: bytes | None = None) -> Leg:
        """INVITE `account` (bodyless when `body` is None)."""
        device = (account.sip.host, account.sip.port)
        leg = Leg(
            self,
            device,
            account.uri,
            sip.new_call_id(self.host),
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

    def __init__(self, user: str, req: str, *, host: str = LOOPBACK) -> None:
        super().__init__(user, req, host=host)
        self.tags: dict[str, str] = {}  # Call-ID -> our To tag

    @property
    def target(self) -> str:
        """What sip_out_url takes: 'user@HOST:PORT'."""
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
                    raise DeviceTimeout(
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
