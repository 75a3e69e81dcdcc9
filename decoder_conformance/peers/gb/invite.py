"""The platform's real-time video call into a GB28181 decoder: INVITE, ACK, PS media, BYE.

Written from GB/T 28181-2016/2022 as the project's notes summarise it (notes/gb28181.md §4 "How
a platform gets video into a decoder", §6), not from any device's code. Two INVITE styles:

1. ``third_party`` (third-party call control, 2016/2022 §9.2.2.2, J.5.7-J.5.11): a bodyless
   INVITE; the device's 200 carries its offer (``a=recvonly``, ``PS/90000``, its address); the
   platform's ACK carries the answer (``a=sendonly``, ``y=``, ``f=``, the platform's media
   address). The device picks the transport in its offer: `transport` says which the case
   expects (None takes any).
2. ``offer``: the INVITE carries the platform's offer (``o=<platform ID>``, ``s=Play``,
   ``c=<suite host>``, ``m=video <port> RTP/AVP 96`` or ``TCP/RTP/AVP 96``, ``a=sendonly``,
   ``a=rtpmap:96 PS/90000``, ``y=`` unless `with_y` is False, ``f=``); the device answers
   ``recvonly`` echoing ``y=`` (or choosing one when the offer had none, notes §6.2).

TCP media (2016 Annex L, 2022 Annex D; RFC 4571 framing) in both setup roles, named by the
DEVICE's role: ``tcp_passive`` (the device listens, the platform's sender connects from the port
it advertised) and ``tcp_active`` (the platform listens on the suite host, port 0, and the device
connects).

Headers of the INVITE (2016 §9.2.3, Annex F, Annex K): Request-URI ``sip:<device ID>@<the
address the device registered from>``, From the platform, To the device, Contact, ``Allow``,
``Subject: <platform ID>:<y>,<device ID>:0`` (the media's sender, then its receiver) and, with
an offer, ``Content-Type: application/sdp``. The INVITE client transaction is RFC 3261
§17.1.1: over UDP Timer A retransmits (T1 doubling) until a provisional or final answer, Timer B
gives up at 64*T1; a non-2xx final is ACKed in the transaction (same branch, again for each
retransmission); a 2xx is ACKed in the dialog (§13.2.2.4: a new branch, the remote target from
the 2xx Contact, the route set from its Record-Route), and that ACK is sent again for every
retransmitted 2xx.

Every device duty the platform can see is checked on every call and kept as a `Violation` of
the platform (codes and sources in gb/checks.py). A non-2xx final is returned, not raised; a
device that never answers raises DeviceTimeout (a DeviceFailure) after a CANCEL when it had sent
a provisional answer.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol

from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import PAYLOAD_PS, RtpSender
from decoder_conformance.peers.capture import WireRecord, rtp_records
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb.checks import Finding, Violation
from decoder_conformance.peers.gb.transport import (
    T1,
    ClientTransaction,
    Route,
    route_to_contact,
)
from decoder_conformance.waiting import Deadline, DeviceTimeout, poll_until
from wire import gb_id, gb_sdp, sdp
from wire.sdp import (
    DIRECTION_INACTIVE,
    DIRECTION_SENDONLY,
    SETUP_ACTIVE,
    SETUP_ACTPASS,
    SETUP_PASSIVE,
    MediaDescription,
    RtpMap,
    SessionDescription,
)
from wire.sip import (
    CONTENT_TYPE_SDP,
    SipRequest,
    SipResponse,
    make_ack_for_non_2xx,
    make_cancel,
    make_request,
    new_branch,
    new_call_id,
    new_tag,
)

Style = Literal["third_party", "offer"]
MediaTransport = Literal["udp", "tcp_passive", "tcp_active"]
STYLES: tuple[Style, ...] = ("third_party", "offer")
TRANSPORTS: tuple[MediaTransport, ...] = ("udp", "tcp_passive", "tcp_active")

#: 2016 §9.2.3: the methods a GB INVITE should list.
ALLOW = "INVITE, ACK, INFO, CANCEL, BYE, OPTIONS, MESSAGE"
#: ``f=`` of the platform's SDP: H.264 (code 2), everything else unknown, every slash kept.
DEFAULT_FORMAT = "v/2////a///"
TIMER_B = 64 * T1  # INVITE transaction timeout (RFC 3261 §17.1.1.2)
#: How long to wait for the 487 (or a late 200) after a CANCEL.
CANCEL_GRACE = 2.0


class CallState(enum.Enum):
    """Where the platform's call stands."""

    CALLING = "calling"  # INVITE sent, no answer yet (Timer A runs over UDP)
    PROCEEDING = "proceeding"  # a provisional answer came
    ANSWERED = "answered"  # a 2xx came; the ACK is being built
    CONFIRMED = "confirmed"  # the 2xx was ACKed: the dialog and the media are up
    REJECTED = "rejected"  # a non-2xx final (ACKed)
    TIMED_OUT = "timed_out"  # Timer B, or the caller's deadline, passed with no final answer
    ENDED = "ended"  # BYE sent and answered (or not), or the device's BYE


_MOVES: dict[CallState, tuple[CallState, ...]] = {
    CallState.CALLING: (
        CallState.PROCEEDING,
        CallState.ANSWERED,
        CallState.REJECTED,
        CallState.TIMED_OUT,
    ),
    CallState.PROCEEDING: (CallState.ANSWERED, CallState.REJECTED, CallState.TIMED_OUT),
    CallState.ANSWERED: (CallState.CONFIRMED, CallState.ENDED),
    CallState.CONFIRMED: (CallState.ENDED,),
    # A late 2xx (or the 487) after the caller gave up and cancelled.
    CallState.TIMED_OUT: (CallState.ANSWERED, CallState.REJECTED, CallState.ENDED),
    CallState.REJECTED: (),
    CallState.ENDED: (),
}


class PlatformCore(Protocol):
    """What a call uses of the platform's SIP core (gb/transport.py, gb/registrar.py)."""

    platform_id: str
    domain: str
    host: str
    port: int
    tcp_port: int
    _lock: threading.Condition

    def send_request(self, route: Route, request: SipRequest) -> ClientTransaction: ...

    def _send_bytes(self, route: Route, data: bytes) -> WireRecord: ...

    def _wait_state(self, ready: Callable[[], str | None], *, timeout: float) -> None: ...

    def _violate(self, record: WireRecord, device_id: str, findings: Iterable[Finding]) -> None: ...

    def violations(
        self, code: str | None = None, device_id: str | None = None
    ) -> list[Violation]: ...

    def records(self) -> list[WireRecord]: ...


# --- the platform's media end ---------------------------------------------------------------------


class MediaSide:
    """The platform's media socket for one call, bound on the suite host, port 0, kept bound.

    ``udp``: the UDP socket the RTP leaves from (its port is in the platform's SDP);
    ``tcp_passive`` (the device listens): a TCP socket bound to the advertised port, connected
    to the device at send time; ``tcp_active`` (the device connects): a listening socket whose
    first connection is accepted at send time.
    """

    def __init__(
        self, transport: MediaTransport, host: str, *, listen_after: float | None = None
    ) -> None:
        """`listen_after` (tcp_active): listen only that many seconds after now, so the device's
        first connection attempts are refused and only its retries can connect (2022 Annex D)."""
        self.transport = transport
        self.host = host
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        if transport != "udp":
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self._listening = threading.Event()
        self._timer: threading.Timer | None = None
        #: Monotonic times the listening began and the device's connection was accepted.
        self.listening_at: float | None = None
        self.accepted_at: float | None = None
        if transport == "tcp_active":
            if listen_after is None:
                self._listen()
            else:
                self._timer = threading.Timer(listen_after, self._listen)
                self._timer.daemon = True
                self._timer.start()
        self._connection: socket.socket | None = None
        #: Where the media connection goes to (tcp_passive) or came from (tcp_active).
        self.peer: tuple[str, int] | None = None
        #: Connection attempts the device refused before it listened (tcp_passive).
        self.refused = 0

    @property
    def setup(self) -> str | None:
        """The platform's own a=setup role (the complement of the device's); None over UDP."""
        if self.transport == "udp":
            return None
        return SETUP_ACTIVE if self.transport == "tcp_passive" else SETUP_PASSIVE

    def socket_for_sender(
        self, destination: tuple[str, int], timeout: float
    ) -> tuple[socket.socket, tuple[str, int]]:
        """A socket for one RtpSender (a dup: the call keeps the original) and the far end.

        tcp_passive connects to `destination` (retrying a refused connect until the deadline);
        tcp_active accepts the device's connection; both within `timeout`, else DeviceTimeout.
        """
        if self.transport == "udp":
            return self._sock.dup(), destination
        if self._connection is None:
            if self.transport == "tcp_passive":
                self._connection = self._connect(destination, timeout)
                self.peer = destination
            else:
                self._connection, self.peer = self._accept(timeout)
        if self.peer is None:  # pragma: no cover - set with the connection
            raise NotExercised("harness invariant: a media connection without its peer")
        return self._connection.dup(), self.peer

    def _connect(self, destination: tuple[str, int], timeout: float) -> socket.socket:
        def attempt() -> socket.socket | None:
            sock = self._sock
            try:
                sock.settimeout(max(0.1, deadline.remaining))
                sock.connect(destination)
            except (ConnectionRefusedError, TimeoutError):
                # A failed connect leaves the socket unbound: bind a new one to the same port.
                self.refused += 1
                sock.close()
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._sock.bind((self.host, self.port))
                return None
            return sock

        deadline = Deadline(timeout)
        connected = poll_until(
            attempt,
            lambda s: s is not None,
            timeout=timeout,
            expected=(
                f"the device listening for the media connection on {destination[0]}:"
                f"{destination[1]} (its a=setup:passive; 2016 Annex L)"
            ),
            interval=0.1,
        )
        if connected is None:  # pragma: no cover - poll_until returns an accepted value
            raise NotExercised("harness invariant: connected without a socket")
        return connected

    def _listen(self) -> None:
        with contextlib.suppress(OSError):  # closed before the timer fired
            self._sock.listen(1)
            self.listening_at = time.monotonic()
            self._listening.set()

    def _accept(self, timeout: float) -> tuple[socket.socket, tuple[str, int]]:
        deadline = Deadline(timeout)
        if not self._listening.wait(deadline.remaining):
            raise NotExercised("harness invariant: the platform's media port never listened")
        self._sock.settimeout(max(0.1, deadline.remaining))
        try:
            connection, peer = self._sock.accept()
            self.accepted_at = time.monotonic()
        except TimeoutError:
            raise DeviceTimeout(
                f"after {timeout:.1f} s the device had not connected to the platform's media "
                f"port {self.host}:{self.port} (its a=setup:active; 2016 Annex L; 2022 Annex D "
                "asks for at least 3 attempts 1 s apart)"
            ) from None
        return connection, (peer[0], peer[1])

    def close(self) -> None:
        """Close the call's sockets (a sender's dup stays open until the sender stops)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._connection is not None:
            self._connection.close()
        self._sock.close()


# --- the call -------------------------------------------------------------------------------------


def _refusal(offer: SessionDescription, host: str, username: str) -> SessionDescription:
    """An answer that refuses every stream of `offer` (port 0, RFC 3264 §6): the ACK of a 2xx
    whose offer the platform cannot take must still carry an answer."""
    answer = gb_sdp.gb_offer(host, 9, username=username, direction=DIRECTION_SENDONLY)
    answer.media = [
        MediaDescription(m.media, 0, m.proto, list(m.formats) or ["0"]) for m in offer.media
    ]
    return answer


def _strip_ssrc(description: SessionDescription) -> None:
    description.lines[:] = [line for line in description.lines if line[0] != "y"]
    for media in description.media:
        media.lines[:] = [line for line in media.lines if line[0] != "y"]


class GbPlay:
    """One real-time video call of the platform into a GB28181 device (see the module doc).

    Made and started by ``GbPlatform.play()``. After it returns:

    - `code` / `response`: the final answer to the INVITE (a non-2xx is kept, not raised);
    - `device_sdp`: the device's SDP (parsed; None when absent or unreadable), `platform_sdp` the
      platform's (its offer in the INVITE, or its answer in the ACK);
    - `media_address` (host, port) and `transport` (the device's role: udp, tcp_passive,
      tcp_active) of the device's media; `payload_type` the PS payload type the RTP carries;
    - `ssrc`: the SSRC in force and `ssrc_from` whence: ``"device"`` (the answer's y=, echoed
      or, when the offer had none, the device's own; a changed one too, as WVP takes it, with
      its violation kept), ``"platform"`` (the platform's y=: third-party call control, where
      a y= in the device's offer is kept in `device_sdp` but not used, or no y= in an answer);
    - `media_error`: why no media can be sent on this call (the device's SDP has no usable PS
      video), None when it can;
    - `records()`, `violations()`, `send()`, `bye()`, and use as a context manager, which always
      ends the call and stops the senders.
    """

    def __init__(
        self,
        core: PlatformCore,
        device_id: str,
        route: Route,
        *,
        style: Style,
        transport: MediaTransport | None,
        ssrc: str,
        with_y: bool,
        media_format: str | None,
        payloads: Sequence[int | RtpMap] = (gb_sdp.PS_PAYLOAD_TYPE,),
        listen_after: float | None = None,
    ) -> None:
        if style not in STYLES:
            raise NotExercised(f"harness invariant: INVITE style {style!r} is not one of {STYLES}")
        if transport is not None and transport not in TRANSPORTS:
            raise NotExercised(
                f"harness invariant: media transport {transport!r} is not one of {TRANSPORTS}"
            )
        if transport is None and style == "offer":
            raise NotExercised("harness invariant: an offer names its transport (udp, tcp_...)")
        gb_sdp.GbSsrc.parse(ssrc, strict=True)
        self.core = core
        self.device_id = device_id
        self.route = route
        self.style: Style = style
        self.wanted: MediaTransport | None = transport
        self.with_y = with_y
        self.media_format = media_format
        self.payloads = tuple(payloads)
        self.listen_after = listen_after
        self.platform_ssrc = ssrc
        self.call_id = new_call_id(core.host)
        self.local_tag = new_tag()
        self.branch = new_branch()
        self.state = CallState.CALLING
        self.cseq = 1
        self.invite: SipRequest | None = None
        self.invite_record: WireRecord | None = None
        self.provisional: list[SipResponse] = []
        self.response: SipResponse | None = None
        self.response_record: WireRecord | None = None
        self.device_sdp: SessionDescription | None = None
        self.platform_sdp: SessionDescription | None = None
        self.media_address: tuple[str, int] | None = None
        self.transport: MediaTransport | None = None
        self.payload_type = gb_sdp.PS_PAYLOAD_TYPE
        self.ssrc = gb_sdp.GbSsrc.parse(ssrc).value
        self.ssrc_from = "platform"
        self.media_error: str | None = None
        self.ended_by_device = False
        self.bye_code: int | None = None
        self.senders: list[RtpSender] = []
        self.media: MediaSide | None = None
        self._remote_target: str | None = None
        self._remote_tag: str | None = None
        self._route_set: list[str] = []
        self._ack: bytes | None = None  # the ACK sent, again for each retransmitted final
        self._ack_route: Route | None = None
        #: The Via branch of the platform's BYE (None until it is sent), and its final answer.
        self.bye_branch: str | None = None
        self._bye_final: tuple[SipResponse, WireRecord] | None = None
        # Timers A and B run from the moment the INVITE is sent (start()).
        self._next_at = float("inf")
        self._interval = T1
        self._give_up_at = float("inf")

    # -- state -----------------------------------------------------------------------------

    def transition(self, to: CallState) -> None:
        """Move to `to`; NotExercised for a move the call cannot make (names the current state)."""
        if to not in _MOVES[self.state]:
            raise NotExercised(
                f"harness invariant: call {self.call_id} cannot go from {self.state.value} to "
                f"{to.value}"
            )
        self.state = to

    @property
    def code(self) -> int | None:
        """The final status of the INVITE, None when none came."""
        return None if self.response is None else self.response.status_code

    @property
    def answered(self) -> bool:
        """True when the INVITE got a 2xx."""
        return self.response is not None and self.response.is_success

    @property
    def ended(self) -> bool:
        """True once the call is over (BYE either way, rejected, or never answered)."""
        return self.state in (CallState.ENDED, CallState.REJECTED, CallState.TIMED_OUT)

    # -- evidence --------------------------------------------------------------------------

    def records(self) -> list[WireRecord]:
        """The SIP messages of this call (its Call-ID), both ways, in order."""
        found = []
        for record in self.core.records():
            try:
                if record.message.call_id == self.call_id:
                    found.append(record)
            except (ValueError, DeviceFailure):
                continue
        return found

    def media_records(self) -> list[WireRecord]:
        """The RTP packets the call's senders sent, as wire records (for the pcap)."""
        return [r for sender in self.senders for r in rtp_records(sender)]

    def violations(self, code: str | None = None) -> list[Violation]:
        """The device duties broken on this call's messages (of `code`, when given)."""
        mine = {id(r) for r in self.records()}
        return [v for v in self.core.violations(code, self.device_id) if id(v.record) in mine]

    def describe(self) -> str:
        """The call in one paragraph, for failure messages."""
        lines = "\n".join(f"    {r.t:.3f} {r.direction} {r.label}" for r in self.records())
        return (
            f"{self.style} call {self.call_id} to {self.device_id} ({self.state.value}; "
            f"transport {self.transport or self.wanted}):\n{lines or '    (no messages)'}"
        )

    # -- the INVITE transaction ------------------------------------------------------------

    def _local_port(self) -> int:
        return self.core.port if self.route.transport == "udp" else self.core.tcp_port

    def _contact(self) -> str:
        suffix = ";transport=tcp" if self.route.transport == "tcp" else ""
        return f"sip:{self.core.platform_id}@{self.core.host}:{self._local_port()}{suffix}"

    def _offer(self, media: MediaSide) -> SessionDescription:
        return gb_sdp.gb_offer(
            self.core.host,
            media.port,
            username=self.core.platform_id,
            direction=DIRECTION_SENDONLY,
            session_name=gb_sdp.SESSION_PLAY,
            tcp=media.transport != "udp",
            setup=media.setup,
            ssrc=self.platform_ssrc if self.with_y else None,
            media_format=self.media_format,
            payloads=self.payloads,
        )

    def start(self, timeout: float) -> None:
        """Send the INVITE, wait for its final answer, check it, ACK it (see the module doc)."""
        body = b""
        if self.style == "offer":
            if self.wanted is None:  # pragma: no cover - refused in __init__
                raise NotExercised("harness invariant: an offer without a transport")
            self.media = MediaSide(self.wanted, self.core.host, listen_after=self.listen_after)
            self.platform_sdp = self._offer(self.media)
            body = self.platform_sdp.to_bytes()
        host, port = self.route.remote
        subject_seq = self.platform_ssrc if self.with_y else "0"
        self.invite = make_request(
            "INVITE",
            f"sip:{self.device_id}@{host}:{port}",
            sent_by=(self.core.host, self._local_port()),
            transport=self.route.transport.upper(),
            from_uri=f"sip:{self.core.platform_id}@{self.core.domain}",
            from_tag=self.local_tag,
            to_uri=f"sip:{self.device_id}@{gb_id.realm_of(self.device_id)}",
            call_id=self.call_id,
            cseq=self.cseq,
            branch=self.branch,
            contact=self._contact(),
            headers=[
                ("Allow", ALLOW),
                # The platform sends and the decoder receives (Annex K: sender, then receiver).
                ("Subject", f"{self.core.platform_id}:{subject_seq},{self.device_id}:0"),
            ],
            body=body,
            content_type=CONTENT_TYPE_SDP if body else None,
        )
        try:
            self.invite_record = self.core._send_bytes(self.route, self.invite.to_bytes())
            now = time.monotonic()
            with self.core._lock:
                if self.state is CallState.CALLING:  # no answer yet
                    self._next_at = now + T1
                self._give_up_at = now + TIMER_B
            self._wait_final(timeout)
            self._after_final()
        except BaseException:
            self._close_media()
            raise

    def _wait_final(self, timeout: float) -> None:
        def ready() -> str | None:
            if self.response is not None:
                return None
            if self.state is CallState.TIMED_OUT:
                return None
            seen = ", ".join(f"{r.status_code} {r.reason}" for r in self.provisional) or "nothing"
            return (
                f"expected a final answer to the {self.style} INVITE to {self.device_id} "
                f"(Call-ID {self.call_id}); seen {seen}"
            )

        try:
            self.core._wait_state(ready, timeout=timeout)
        except DeviceTimeout as exc:
            self._give_up(str(exc))
        if self.response is None:
            self._give_up(f"Timer B ({TIMER_B:.0f} s) passed without a final answer to INVITE")

    def _give_up(self, why: str) -> None:
        """No final answer in time: CANCEL when the device had answered provisionally, then
        DeviceTimeout (a device that never answers an INVITE is a device defect)."""
        with self.core._lock:
            provisional = bool(self.provisional)
            if self.state in (CallState.CALLING, CallState.PROCEEDING):
                self.transition(CallState.TIMED_OUT)
        if provisional and self.invite is not None:
            self.core.send_request(self.route, make_cancel(self.invite))

            def settled() -> str | None:
                return None if self.response is not None else "a final answer after CANCEL"

            # The CANCEL's own outcome is not what this call reports: no 487 is not raised.
            with contextlib.suppress(DeviceTimeout):
                self.core._wait_state(settled, timeout=CANCEL_GRACE)
            if self.response is not None and self.response.is_success:
                self._after_final()  # a late 2xx: ACK it, then end it
                self.bye()
        raise DeviceTimeout(f"{why}\n{self.describe()}")

    def on_response(self, received: WireRecord, response: SipResponse) -> None:
        """A response to the INVITE (server thread): provisional, first final, retransmission."""
        resend: bytes | None = None
        with self.core._lock:
            if response.is_provisional:
                if self.state is CallState.CALLING:
                    self.transition(CallState.PROCEEDING)
                self.provisional.append(response)
                self._next_at = float("inf")  # §17.1.1.2: a provisional stops Timer A
            elif self.response is None:
                self.response, self.response_record = response, received
                self._next_at = float("inf")
                if response.is_success:
                    self.transition(CallState.ANSWERED)
                else:
                    self.transition(CallState.REJECTED)
                    ack = make_ack_for_non_2xx(self._sent_invite(), response)
                    self._ack, self._ack_route = ack.to_bytes(), self.route
                    resend = self._ack
            elif self._same_final(response):
                resend = self._ack  # a retransmitted final: the same ACK again (None: not yet)
            self.core._lock.notify_all()
        if resend is not None and self._ack_route is not None:
            self.core._send_bytes(self._ack_route, resend)

    def _same_final(self, response: SipResponse) -> bool:
        if self.response is None or response.status_code != self.response.status_code:
            return False
        try:
            return response.to_addr.tag == self.response.to_addr.tag
        except ValueError:
            return False

    def _sent_invite(self) -> SipRequest:
        if self.invite is None:
            raise NotExercised("harness invariant: a response to an INVITE that was not sent")
        return self.invite

    def tick(self, now: float) -> None:
        """Timers A and B (server thread, every loop): retransmit the INVITE over UDP."""
        with self.core._lock:
            if self.state is not CallState.CALLING or self.invite is None:
                return
            if now >= self._give_up_at:
                self.transition(CallState.TIMED_OUT)
                self.core._lock.notify_all()
                return
            if self.route.transport != "udp" or now < self._next_at:
                return
            self._interval *= 2  # Timer A doubles without a cap (§17.1.1.2)
            self._next_at = now + self._interval
            data = self.invite.to_bytes()
        self.core._send_bytes(self.route, data)

    # -- after the final answer ------------------------------------------------------------

    def _after_final(self) -> None:
        response, record = self.response, self.response_record
        if response is None or record is None:  # pragma: no cover - _wait_final saw one
            raise NotExercised("harness invariant: no final answer to act on")
        if not response.is_success:
            self._close_media()
            return
        findings = checks.invite_2xx_findings(response)
        self._dialog_from(response)
        if not response.body:
            findings.append(
                (
                    checks.INVITE_NO_SDP,
                    f"{response.status_code} to a{' bodyless' if self.style != 'offer' else 'n'} "
                    "INVITE without SDP: "
                    + (
                        "the device's offer belongs in it (RFC 3261 §13.2.1; 2016 §9.2.2.2)"
                        if self.style == "third_party"
                        else "the answer to the INVITE's offer belongs in it (RFC 3264 §6)"
                    ),
                )
            )
            self.media_error = "the 2xx carries no SDP"
        else:
            try:
                self.device_sdp = sdp.parse(response.body)
            except ValueError as exc:
                findings.append((checks.INVITE_SDP_UNREADABLE, f"the 2xx SDP: {exc} (RFC 4566)"))
                self.media_error = f"the 2xx SDP does not parse: {exc}"
        if self.device_sdp is not None:
            offer = self.platform_sdp if self.style == "offer" else None
            findings += checks.device_sdp_findings(
                self.device_sdp, device_id=self.device_id, offer=offer
            )
            self._read_media(self.device_sdp)
        self.core._violate(record, self.device_id, findings)
        mismatch = self._transport_mismatch()
        self._ack_2xx(response, refuse=self.media_error is not None or mismatch is not None)
        # _ack_2xx may find the offer unanswerable too (media_error set there).
        if self.media_error is not None or mismatch is not None:
            self.bye()
        if mismatch is not None:
            raise NotExercised(mismatch)

    def _dialog_from(self, response: SipResponse) -> None:
        """Remote tag, remote target (2xx Contact; the Request-URI without one), route set."""
        try:
            self._remote_tag = response.to_addr.tag
        except ValueError:
            self._remote_tag = None
        try:
            contacts = response.contacts
        except ValueError:
            contacts = []
        self._remote_target = str(contacts[0].sip_uri()) if contacts else self._sent_invite().uri
        # §12.1.2: the route set is the Record-Route list in reverse order.
        self._route_set = list(reversed(response.headers.get_list("Record-Route")))

    def _dialog_route(self) -> Route:
        """Where in-dialog requests go: the remote target when it is the device's own host over
        UDP (as query() does with a Contact), else the way the INVITE went."""
        return route_to_contact(self.route, self._remote_target)

    def _read_media(self, description: SessionDescription) -> None:
        """The device's media address, transport, PS payload type and the SSRC in force."""
        index = gb_sdp.video_index(description)
        if index is None:
            self.media_error = "the device's SDP has no active video section"
            return
        media = description.media[index]
        connection = description.media_connection(index)
        ps = checks.ps_payload_types(description, index)
        if connection is None:
            self.media_error = "the device's SDP has no c= for its video"
            return
        if not ps:
            self.media_error = "the device's SDP maps no payload type to PS/90000"
            return
        direction = description.media_direction(index)
        if direction in (DIRECTION_SENDONLY, DIRECTION_INACTIVE):
            # recvonly is the duty (a violation otherwise); sendrecv still receives.
            self.media_error = f"the device's SDP is a={direction}: it will not receive"
            return
        self.media_address = (connection.address.partition("/")[0], media.port)
        setup = gb_sdp.setup_of(media)
        if not gb_sdp.is_tcp(media):
            self.transport = "udp"
        elif setup == SETUP_ACTPASS:
            # The device lets the platform choose: the role the case asked for, else passive.
            wanted = self.wanted
            self.transport = wanted if wanted in ("tcp_passive", "tcp_active") else "tcp_passive"
        else:
            # RFC 4145 §4: no a=setup means active.
            self.transport = "tcp_passive" if setup == SETUP_PASSIVE else "tcp_active"
        if self.style == "offer":
            offered_tcp = self.wanted != "udp"
            if gb_sdp.is_tcp(media) != offered_tcp:
                offered = "TCP/RTP/AVP" if offered_tcp else "RTP/AVP"
                self.media_error = f"the device answered over {media.proto} an offer over {offered}"
            # The platform's offer fixed the roles (a wrong a=setup is kept as a violation).
            self.transport = self.wanted
            answered_y = gb_sdp.ssrc_line_of(description, index)
            value = None
            if answered_y is not None:
                try:
                    value = gb_sdp.GbSsrc.parse(answered_y).value
                except gb_sdp.GbSdpError:
                    value = None
            if value is not None:
                self.ssrc, self.ssrc_from = value, "device"
        else:
            self.payload_type = ps[0]

    def _transport_mismatch(self) -> str | None:
        if self.style != "third_party" or self.wanted is None or self.transport is None:
            return None
        if self.transport == self.wanted or self.media_error is not None:
            return None
        return (
            f"the case asked for {self.wanted} media, and the device's offer in its 200 is "
            f"{self.transport} (in third-party call control the device's offer picks the "
            "transport: configure the device, or play with transport=None)"
        )

    def _ack_2xx(self, response: SipResponse, *, refuse: bool) -> None:
        """ACK the 2xx in the dialog; third-party: with the platform's answer (or a refusal)."""
        body = b""
        if self.style == "third_party":
            offer = self.device_sdp
            if offer is None:
                body = b""  # no offer to answer: the ACK goes without a body
            else:
                if not refuse:
                    try:
                        body = self._answer(offer).to_bytes()
                    except ValueError as exc:  # SdpNegotiationError, GbSdpError
                        self.media_error = f"the platform cannot answer the device's offer: {exc}"
                        self._close_media()
                if not body:
                    self.platform_sdp = _refusal(offer, self.core.host, self.core.platform_id)
                    body = self.platform_sdp.to_bytes()
        # §13.2.2.4: the INVITE's CSeq number, a new branch, the dialog's target and route set.
        ack = self._in_dialog("ACK", self.cseq, body)
        route = self._dialog_route()
        with self.core._lock:
            self._ack, self._ack_route = ack.to_bytes(), route
            self.transition(CallState.CONFIRMED)
        self.core._send_bytes(route, ack.to_bytes())

    def _in_dialog(self, method: str, cseq: int, body: bytes) -> SipRequest:
        """A request in the dialog (RFC 3261 §12.2.1.1): remote target, tags, route set."""
        return make_request(
            method,
            self._remote_target or self._sent_invite().uri,
            sent_by=(self.core.host, self._local_port()),
            transport=self.route.transport.upper(),
            from_uri=f"sip:{self.core.platform_id}@{self.core.domain}",
            from_tag=self.local_tag,
            to_uri=f"sip:{self.device_id}@{gb_id.realm_of(self.device_id)}",
            to_tag=self._remote_tag or None,
            call_id=self.call_id,
            cseq=cseq,
            routes=self._route_set,
            contact=self._contact(),
            body=body,
            content_type=CONTENT_TYPE_SDP if body else None,
        )

    def _answer(self, offer: SessionDescription) -> SessionDescription:
        """The platform's answer to the device's offer: sendonly, y=, f=, its media address."""
        transport = self.transport or "udp"
        self.media = MediaSide(transport, self.core.host)
        setup = self.media.setup
        index = gb_sdp.video_index(offer)
        offered_setup = None if index is None else gb_sdp.setup_of(offer.media[index])
        answer = gb_sdp.gb_answer(
            offer,
            self.core.host,
            self.media.port,
            username=self.core.platform_id,
            ssrc=self.platform_ssrc,
            setup=setup if offered_setup == SETUP_ACTPASS else None,
            media_format=self.media_format,
        )
        if index is not None:
            # The platform sends: sendonly also to a sendrecv offer (RFC 3264 §6.1 allows it;
            # gb_answer mirrors sendrecv to recvonly, the decoder's side).
            answer.media[index].direction = DIRECTION_SENDONLY
        if not self.with_y:
            _strip_ssrc(answer)
        self.platform_sdp = answer
        return answer

    # -- media -----------------------------------------------------------------------------

    def send(
        self,
        bitrate_kbps: int,
        seconds: float,
        *,
        width: int = 640,
        height: int = 360,
        fps: int = 25,
        stream: EncodedStream | None = None,
        connect_timeout: float = 5.0,
        **options: Any,
    ) -> RtpSender:
        """A started PS-over-RTP sender of `seconds` of H.264 at `bitrate_kbps` (or `stream`) to
        the device's media address, at the SSRC in force and the negotiated PS payload type.

        Over UDP it sends from the port in the platform's SDP. tcp_active first accepts the
        device's connection, tcp_passive first connects to the device, both within
        `connect_timeout` (DeviceTimeout naming the address). `options` go to RtpSender
        (impairments, spread, speed, loops, mtu, ...). One sender at a time per call.
        """
        if self.media_error is not None:
            raise DeviceFailure(f"no media can be sent: {self.media_error}\n{self.describe()}")
        if self.state is not CallState.CONFIRMED:
            raise NotExercised(
                f"cannot send media on a call that is {self.state.value} (code {self.code})"
            )
        running = [s for s in self.senders if not s.finished]
        if running:
            raise NotExercised("harness invariant: the call's previous sender is still sending")
        if self.media is None or self.media_address is None or self.transport is None:
            raise NotExercised("harness invariant: a confirmed call without its media ends")
        device_host = self.route.remote[0]
        if self.media_address[0] not in (device_host, self.core.host):
            raise NotExercised(
                f"the device's SDP puts its media at {self.media_address[0]}, not at the host it "
                f"registered from ({device_host}): the suite sends only to the device's own host"
            )
        if stream is None:
            stream = EncodedStream.cbr(width, height, fps, bitrate_kbps, seconds)
        sock, destination = self.media.socket_for_sender(self.media_address, connect_timeout)
        try:
            sender = RtpSender(
                stream,
                destination,
                self.payload_type,
                tcp=self.transport != "udp",
                allowed_hosts=(device_host,),
                ssrc=self.ssrc,
                bind_host=self.core.host,
                payload=PAYLOAD_PS,
                sock=sock,
                **options,
            )
        except BaseException:
            sock.close()
            raise
        self.senders.append(sender)
        return sender.start()

    def stop_senders(self) -> None:
        """Stop every sender of the call (each re-raises its thread's error)."""
        errors = []
        for sender in self.senders:
            try:
                sender.stop()
            except RuntimeError as exc:
                errors.append(exc)
        if errors:
            raise NotExercised(f"a media sender of the call failed: {errors[0]!r}") from errors[0]

    def _close_media(self) -> None:
        if self.media is not None:
            self.media.close()

    # -- ending ----------------------------------------------------------------------------

    def bye(self, timeout: float = 5.0) -> int | None:
        """End the call: stop the senders, BYE in the dialog, check the answer is 200.

        Returns the BYE's final status (None when the call had already ended, by the device's
        BYE or never confirmed). A non-200 is kept as ``bye-not-200``; no answer in `timeout`
        raises DeviceTimeout.
        """
        try:
            self.stop_senders()
        finally:
            self._close_media()
        with self.core._lock:
            if self.state is not CallState.CONFIRMED:
                return None
            self.transition(CallState.ENDED)
            self.cseq += 1
            cseq = self.cseq
        request = self._in_dialog("BYE", cseq, b"")
        with self.core._lock:
            # Filed before the send: over TCP the 200 can come back before send_request() has
            # filed its own transaction, and the platform hands BYE answers to the call first.
            self.bye_branch = request.vias[0].branch
        tx = self.core.send_request(self._dialog_route(), request)

        def ready() -> str | None:
            if self._bye_final is not None or tx.timed_out:
                return None
            return f"expected a final answer to BYE {request.uri} (Call-ID {self.call_id})"

        self.core._wait_state(ready, timeout=timeout)
        final = self._bye_final
        if final is None:
            raise DeviceTimeout(f"Timer F passed without an answer to BYE\n{self.describe()}")
        response, record = final
        self.core._violate(record, self.device_id, checks.bye_findings(response))
        self.bye_code = response.status_code
        return self.bye_code

    def on_bye_response(self, received: WireRecord, response: SipResponse) -> None:
        """An answer to the platform's BYE (server thread): the first final is kept."""
        with self.core._lock:
            if not response.is_provisional and self._bye_final is None:
                self._bye_final = (response, received)
            self.core._lock.notify_all()

    def on_device_bye(self) -> None:
        """The device ended the call (its BYE was answered 200 by the platform)."""
        with self.core._lock:
            if self.state in (CallState.CONFIRMED, CallState.ANSWERED):
                self.transition(CallState.ENDED)
                self.ended_by_device = True
            self.core._lock.notify_all()

    def close(self) -> None:
        """End the call whatever its state: senders stopped, BYE if confirmed, sockets closed."""
        self.bye()

    def __enter__(self) -> GbPlay:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
            return
        # The body failed: end the call anyway, and keep the body's error the one raised, with
        # what went wrong in the teardown noted on it (never swallowed).
        try:
            self.close()
        except Exception as teardown:
            exc.add_note(f"ending the call also failed: {teardown!r}")
