"""Plain-socket SIP user agents on wire/: a caller and a callee the case drives step by step.

Why not pjsua2 for these: pjsua2 offers video in a second audio slot (the wheel has no video).
When the device accepts the video and rejects the audio with port 0, as a receive-only decoder
must, pjsua2 finds no usable media and ends the call at once (BYE "Unable to create media
session"; after a bodyless INVITE, BYE "SDP offer/answer incomplete"). And pjsua2 answers the
device's video-only offer with 488, so it cannot be the callee of the device's outgoing call.

Written by hand on wire/ because the case must decide every step (when to ring, when to ACK,
what SDP to send) and see every byte; no maintained Python SIP library gives both without I/O
policies of its own.

Every datagram in and out is kept as a `WireRecord` (`records()`), raw bytes and all. A datagram
from the device that is not SIP is kept too and not acted on; the case fails (DeviceFailure)
where it reads that record's `message`, e.g. while waiting for an answer to its INVITE.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import Address, Direction, WireRecord
from decoder_conformance.waiting import Deadline, DeviceTimeout
from wire import sdp, sip

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
    """An SDP offer from `host` (the suite host): PCMU audio on `media_port + 2` if `audio`,
    H.264 video on `media_port` if `video` (wire.sdp.h264_offer)."""
    return sdp.h264_offer(
        host=host,
        video_port=media_port if video else None,
        audio_port=media_port + 2 if audio else None,
        payload_type=payload_type,
        direction=direction,
        session_id=4242,
        session_version=version,
        username="conformance",
        session_name="conformance",
    ).to_bytes()


class RawUa:
    """A SIP user agent on one UDP socket of the suite host, on `wire/`, that the case steers.

    `host` (default 127.0.0.1; the --suite-host of a lab run) is bound and written in Via,
    Contact, Call-ID and SDP. The agent sends only to the device's address it is given (the
    account's get_binds address) and to the sender of what it received.

    The reader thread records every datagram and does only what RFC 3261 makes automatic: a BYE
    or OPTIONS from the device gets 200, a non-2xx final answer to our INVITE gets its ACK, a
    retransmitted 2xx we already ACKed gets the same ACK again.
    """

    role = "peer"

    def __init__(self, user: str, req: str, *, host: str = LOOPBACK) -> None:
        self.user = user
        self.req = req
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.local: Address = self.sock.getsockname()
        # A second socket only so the SDP names a port this peer really holds.
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((host, 0))
        self._records: list[WireRecord] = []
        self.cond = threading.Condition()
        self.closed = False
        self._acks: dict[str, bytes] = {}  # Call-ID -> the ACK sent for its 2xx
        self._thread = threading.Thread(target=self._read, name=f"raw-{user}", daemon=True)
        self._thread.start()

    # -- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.local[1])

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

    def roles(self) -> dict[str, str]:
        """Ladder lifeline name of this peer's address."""
        return {self.address: self.role}

    # -- I/O ----------------------------------------------------------------------------------

    def _record(self, direction: Direction, remote: Address, data: bytes) -> WireRecord:
        record = WireRecord(time.monotonic(), direction, "udp", self.local, remote, data)
        with self.cond:
            self._records.append(record)
            self.cond.notify_all()
        return record

    def _read(self) -> None:
        while not self.closed:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data.strip():
                continue  # a CRLF keep-alive, not a message
            record = self._record("RX", peer, data)
            try:
                message = record.message
            except DeviceFailure:
                continue  # kept; the case that reads it fails
            self._automatic(message, peer)

    #: Methods whose automatic answer the reader holds back (see `hold_answers`).
    held: frozenset[str] = frozenset()

    def hold_answers(self, *methods: str) -> None:
        """From now on leave the device's `methods` (e.g. BYE) unanswered, retransmissions too:
        the case answers them with `answer_held`, or never (the device's transaction times out).
        No argument answers automatically again."""
        self.held = frozenset(m.upper() for m in methods)

    def answer_held(self, request: WireRecord, code: int) -> sip.SipResponse:
        """Answer a request the device sent (one held back, or a CANCEL) with `code`, to where
        it came from; the To tag it carries is kept (an in-dialog request has ours)."""
        message = request.message
        if not isinstance(message, sip.SipRequest):
            raise NotExercised(
                f"harness invariant: answer_held() of a request, not {request.label!r}"
            )
        response = sip.make_response(message, code, to_tag=sip.new_tag())
        self.send(response, request.remote)
        return response

    def _automatic(self, message: sip.SipMessage, peer: Address) -> None:
        if isinstance(message, sip.SipRequest):
            if message.method in ("BYE", "OPTIONS") and message.method not in self.held:
                self.send(sip.make_response(message, 200), peer)
            return
        if message.cseq.method != "INVITE" or message.is_provisional:
            return
        if message.is_success:
            ack = self._acks.get(message.call_id or "")
            if ack is not None:  # a retransmitted 2xx: ACK it again
                self.send_bytes(ack, peer)
        else:
            self._ack_failure(message, peer)

    def _ack_failure(self, response: sip.SipResponse, peer: Address) -> None:
        """Hook for callers: ACK a non-2xx final answer (RFC 3261 §17.1.1.3)."""

    def send(self, message: sip.SipMessage, peer: Address) -> None:
        """Send `message` to `peer` and record it."""
        self.send_bytes(message.to_bytes(), peer)

    def send_bytes(self, data: bytes, peer: Address) -> None:
        """Send a datagram to `peer` and record it (recorded first: an answer may come at once)."""
        self._record("TX", peer, data)
        self.sock.sendto(data, peer)

    # -- what was seen ------------------------------------------------------------------------

    def records(self) -> list[WireRecord]:
        """Every datagram received (RX) and sent (TX) so far, in order."""
        with self.cond:
            return list(self._records)

    def seen(self, call_id: str | None = None) -> list[WireRecord]:
        """Every datagram so far (of `call_id`: DeviceFailure if one from the device is not SIP)."""
        records = self.records()
        if call_id is None:
            return records
        return [r for r in records if r.message.call_id == call_id]

    def flow(self, call_id: str | None = None) -> str:
        """Everything seen so far (of `call_id`), for assertion messages; never raises."""

        def of_call(record: WireRecord) -> bool:
            try:
                return call_id is None or record.message.call_id == call_id
            except (DeviceFailure, ValueError):
                return True  # not SIP: shown with every call, it may belong to any

        shown = [f"{r.direction} {r.label}" for r in self.records() if of_call(r)]
        return ", ".join(shown) or "nothing"

    def wait_for(
        self, match: Callable[[WireRecord], bool], timeout: float, *, expected: str, nth: int = 1
    ) -> WireRecord:
        """The `nth` received datagram matching `match`; DeviceTimeout naming what arrived.

        `match` reads the records' messages: a datagram from the device that is not SIP raises
        DeviceFailure here.
        """
        deadline = Deadline(timeout)
        with self.cond:
            while True:
                found = [r for r in self._records if r.direction == "RX" and match(r)]
                if len(found) >= nth:
                    return found[nth - 1]
                if deadline.expired:
                    raise DeviceTimeout(
                        f"[{self.req}] after {timeout:.1f} s the {self.role} {self.address} "
                        f"expected {expected}; seen: {self.flow()}"
                    )
                self.cond.wait(deadline.remaining)

    def none_for(
        self, match: Callable[[WireRecord], bool], window: float, *, expected: str, count: int = 0
    ) -> None:
        """At most `count` received datagrams match `match` until `window` s pass."""
        deadline = Deadline(window)
        with self.cond:
            while True:
                found = [r for r in self._records if r.direction == "RX" and match(r)]
                if len(found) > count:
                    raise DeviceFailure(
                        f"[{self.req}] expected {expected} within {window:.1f} s at the "
                        f"{self.role} {self.address}; observed: {self.flow()}"
                    )
                if deadline.expired:
                    return
                self.cond.wait(deadline.remaining)

    def close(self) -> None:
        """Stop reading and close the sockets."""
        self.closed = True
        self._thread.join(1.0)
        self.sock.close()
        self.media.close()


def _is_response_to(record: WireRecord, call_id: str, method: str) -> bool:
    message = record.message
    return (
        isinstance(message, sip.SipResponse)
        and message.call_id == call_id
        and message.cseq.method == method
    )


@dataclass
class Leg:
    """One call a RawCaller placed: its INVITE, dialog identifiers and what came back."""

    ua: RawCaller
    device: Address
    uri: str
    call_id: str
    from_tag: str
    invite: sip.SipRequest
    cseq: int = 1
    remote_tag: str | None = None
    target: str = ""

    def __post_init__(self) -> None:
        #: Every INVITE of this call (the initial one and re-INVITEs) by CSeq number.
        self.invites: dict[int, sip.SipRequest] = {}

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

        def match(record: WireRecord) -> bool:
            if not _is_response_to(record, self.call_id, method):
                return False
            message = record.message
            if not isinstance(message, sip.SipResponse):
                return False
            if cseq is not None and message.cseq.number != cseq:
                return False
            status = message.status_code
            return status >= 200 if code is None else status == code

        what = "a final response" if code is None else f"{code}"
        seen = self.ua.wait_for(match, timeout, expected=f"{what} to {method}", nth=nth)
        response = seen.message
        if not isinstance(response, sip.SipResponse):  # pragma: no cover - the match says so
            raise NotExercised(f"harness invariant: matched {seen.label!r} as a response")
        if method == "INVITE" and response.status_code > 100 and self.remote_tag is None:
            self.remote_tag = response.to_addr.tag
        if method == "INVITE" and response.is_success and response.contacts:
            self.target = response.contacts[0].uri
        return response

    def responses(self, method: str = "INVITE") -> list[sip.SipResponse]:
        """Every response to our `method` so far (retransmissions included)."""
        return [
            r.message
            for r in self.ua.records()
            if r.direction == "RX"
            and _is_response_to(r, self.call_id, method)
            and isinstance(r.message, sip.SipResponse)
        ]

    def requests(self, method: str) -> list[sip.SipRequest]:
        """Requests `method` the device sent on this call."""
        return [
            r.message
            for r in self.ua.records()
            if r.direction == "RX"
            and isinstance(r.message, sip.SipRequest)
            and r.message.call_id == self.call_id
            and r.message.method == method
        ]

    def wait_request(self, method: str, *, timeout: float) -> sip.SipRequest:
        """The first `method` the device sent on this call."""
        seen = self.ua.wait_for(
            lambda r: (
                isinstance(r.message, sip.SipRequest)
                and r.message.call_id == self.call_id
                and r.message.method == method
            ),
            timeout,
            expected=f"a {method} from the device on call {self.call_id}",
        )
        request = seen.message
        if not isinstance(request, sip.SipRequest):  # pragma: no cover - the match says so
            raise NotExercised(f"harness invariant: matched {seen.label!r} as a {method}")
        return request

    def flow(self) -> str:
        """This call's messages, for assertion messages."""
        return self.ua.flow(self.call_id)

    def _request(
        self, method: str, cseq: int, *, uri: str = "", branch: str = "", body: bytes = b""
    ) -> sip.SipRequest:
        return sip.make_request(
            method,
            uri or self.target or self.uri,
            sent_by=(self.ua.host, self.ua.port),
            from_uri=f"sip:{self.ua.user}@{self.ua.address}",
            from_tag=self.from_tag,
            to_uri=self.uri,
            to_tag=self.remote_tag,
            call_id=self.call_id,
            cseq=cseq,
            branch=branch or None,
            contact=self.ua.contact,
            headers=[("User-Agent", "decoder-sip-conformance (raw)")],
            body=body,
        )

    def ack(self, body: bytes = b"") -> None:
        """ACK the 2xx (with an SDP answer `body` for a bodyless INVITE)."""
        ack = self._request("ACK", self.cseq, body=body)
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
        cancel = sip.make_cancel(self.invite)
        self.ua.send(cancel, self.device)
        return cancel

    def reinvite(self, body: bytes) -> sip.SipRequest:
        """Send a re-INVITE in the dialog offering `body`."""
        self.cseq += 1
        invite = self._request("INVITE", self.cseq, body=body)
        self.invites[self.cseq] = invite
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
        call_id = sip.new_call_id(self.host)
        from_tag = sip.new_tag()
        invite = sip.make_request(
            "INVITE",
            account.uri,
            sent_by=(self.host, self.port),
            from_uri=f"sip:{self.user}@{self.address}",
            from_tag=from_tag,
            to_uri=account.uri,
            call_id=call_id,
            cseq=1,
            contact=self.contact,
            headers=[("User-Agent", "decoder-sip-conformance (raw)")],
            body=body or b"",
        )
        leg = Leg(self, device, account.uri, call_id, from_tag, invite)
        leg.invites[1] = invite
        self.legs[call_id] = leg
        self.send(invite, device)
        return leg

    def _ack_failure(self, response: sip.SipResponse, peer: Address) -> None:
        leg = self.legs.get(response.call_id or "")
        invite = None if leg is None else leg.invites.get(response.cseq.number)
        if invite is None:
            return  # not an INVITE of ours: nothing to ACK
        try:
            ack = sip.make_ack_for_non_2xx(invite, response)
        except ValueError:
            return  # it does not answer that INVITE (CSeq method differs): no ACK owed
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

    def invites(self) -> list[WireRecord]:
        """INVITEs received (retransmissions included)."""
        return [
            r
            for r in self.records()
            if r.direction == "RX"
            and isinstance(r.message, sip.SipRequest)
            and r.message.method == "INVITE"
        ]

    def wait_invite(self, timeout: float, *, nth: int = 1) -> WireRecord:
        """The `nth` INVITE with a new Call-ID (retransmissions do not count)."""
        deadline = Deadline(timeout)
        with self.cond:
            while True:
                distinct = list({r.message.call_id: r for r in reversed(self.invites())}.values())
                distinct.reverse()
                if len(distinct) >= nth:
                    return distinct[nth - 1]
                if deadline.expired:
                    raise DeviceTimeout(
                        f"[{self.req}] after {timeout:.1f} s the callee {self.address} expected "
                        f"INVITE #{nth} from the device; seen: {self.flow()}"
                    )
                self.cond.wait(deadline.remaining)

    def ack_problems(self, call_id: str) -> list[str]:
        """What is wrong with the device's ACKs to our 2xx on `call_id` (RFC 3261 §13.2.2.4:
        the INVITE's CSeq number with method ACK; §12.2.1.1: the dialog's Call-ID and tags).
        NotExercised when the call had no INVITE or no ACK to judge."""
        invites = [r.message for r in self.invites() if r.message.call_id == call_id]
        acks = [
            r.message
            for r in self.records()
            if r.direction == "RX"
            and isinstance(r.message, sip.SipRequest)
            and r.message.method == "ACK"
            and r.message.call_id == call_id
        ]
        if not invites or not acks or call_id not in self.tags:
            raise NotExercised(
                f"harness invariant: no answered INVITE and ACK on Call-ID {call_id} to judge; "
                f"seen: {self.flow(call_id)}"
            )
        invite = invites[0]
        problems = []
        for ack in acks:
            if (ack.cseq.number, ack.cseq.method) != (invite.cseq.number, "ACK"):
                problems.append(
                    f"ACK CSeq {ack.cseq.number} {ack.cseq.method}, the INVITE's was "
                    f"{invite.cseq.number} {invite.cseq.method} (RFC 3261 §13.2.2.4)"
                )
            if ack.from_addr.params.get("tag") != invite.from_addr.params.get("tag"):
                problems.append("ACK From tag is not the INVITE's (RFC 3261 §12.2.1.1)")
            if ack.to_addr.params.get("tag") != self.tags[call_id]:
                problems.append(
                    f"ACK To tag {ack.to_addr.params.get('tag')!r} is not the callee's "
                    f"{self.tags[call_id]!r} (RFC 3261 §12.2.1.1)"
                )
        return problems

    def call_ids(self) -> list[str]:
        """Distinct Call-IDs of the INVITEs received."""
        return list(dict.fromkeys(r.message.call_id or "" for r in self.invites()))

    def respond(self, invite: WireRecord, code: int, body: bytes = b"") -> sip.SipResponse:
        """Answer `invite` with `code` (To tag and Contact added; SDP `body` when given)."""
        request = invite.message
        if not isinstance(request, sip.SipRequest):
            raise NotExercised(f"harness invariant: respond() to a request, not {invite.label!r}")
        tag = self.tags.setdefault(request.call_id or "", sip.new_tag())
        response = sip.make_response(request, code, to_tag=tag)
        if code > 100:
            response.headers.add("Contact", self.contact)
        if body:
            response.set_body(body, "application/sdp")
        self.send(response, invite.remote)
        return response

    def bye(self, invite: WireRecord, *, cseq: int = 1) -> sip.SipRequest:
        """End the call of `invite`, which this callee answered 2xx: a BYE in its dialog
        (RFC 3261 §12.2.1.1: our To tag as From tag, the device's From as To, the device's Contact
        as Request-URI), sent where the INVITE came from. Its 200 is the case's to wait for."""
        request = invite.message
        call_id = (request.call_id or "") if isinstance(request, sip.SipRequest) else ""
        if not isinstance(request, sip.SipRequest) or call_id not in self.tags:
            raise NotExercised(
                f"harness invariant: bye() of an answered INVITE, not {invite.label!r}"
            )
        target = request.contacts[0].uri if request.contacts else request.uri
        bye = sip.make_request(
            "BYE",
            target,
            sent_by=(self.host, self.port),
            from_uri=request.to_addr.uri,
            from_tag=self.tags[call_id],
            to_uri=request.from_addr.uri,
            to_tag=request.from_addr.tag,
            call_id=call_id,
            cseq=cseq,
            contact=self.contact,
            headers=[("User-Agent", "decoder-sip-conformance (raw)")],
        )
        self.send(bye, invite.remote)
        return bye
