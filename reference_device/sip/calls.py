"""One call (incoming or outgoing): its state machine, its dialog, its SDP and its media port.

Call states (`CallState`, every move through `Call._transition`, logged):

* incoming: `ringing` (1xx sent) -> `answered` (2xx sent, waiting for the ACK; the 2xx is
  retransmitted T1, 2*T1 .. T2 until the ACK, and after 64*T1 without one a BYE ends the call,
  RFC 3261 §13.3.1.4) -> `confirmed`;
* outgoing: `inviting` -> `early` (1xx) -> `confirmed` (2xx, ACK sent) or `failed`; `cancelling`
  while our CANCEL is in flight;
* `terminating` while our BYE is in flight; `ended` at the end.

SDP: receive-only H.264 video. An offer's payload type is kept (never renumbered); a bodyless
INVITE gets an offer in the 2xx and its answer is read from the ACK (no acceptable answer: BYE).
A re-INVITE's new address/port and direction are followed (sendonly/inactive = hold).

Media (reference_device/media/): the call's MediaSession accepts RTP only once the call is
`confirmed`, with the payload type of the SDP exchange (the type in our answer, or in the answer
to our offer). An offer of `TCP/RTP/AVP` gets a TCP media port that listens (`a=setup:passive`);
an offer that wants us to connect (`a=setup:passive` or `holdconn`) is refused with 488, and a
re-INVITE cannot switch the call between UDP and TCP (488).

GB28181 (the owner's account is of type gb28181, `CallOwner.gb28181`): the same state machine,
policies and media pipeline, with the SDP of :mod:`.gb_call`: a bodyless INVITE gets a
`recvonly` PS (and H.264) offer with `o=<device ID>` and `s=Play` in the 200 and the answer, with
its `y=` SSRC, is read from the ACK (third-party call control); an INVITE with a `sendonly` offer
is answered `recvonly` with the offer's PS (else H.264) payload number and its `y=` echoed, or one
of our own when it has none. Over TCP an `a=setup:passive` offer is answered `active` and we
connect (:class:`~.media.TcpActiveMediaPort`, from the 2xx on, with the 2022 retries). Media is
unpacked by the negotiated encoding (PS over RTP: `reference_device/media/session.py`) and only
RTP with the SSRC of the `y=` line is taken. An offer we cannot take is refused with 488 (never
the SIP readings' 415); a re-INVITE of a GB call is refused with 488.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, Protocol

from reference_device.faults import Fault, Faults
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import TRANSPORT_TCP, TRANSPORT_UDP, MediaSession
from reference_device.readings import Point, Readings
from reference_device.sip import gb_call, names
from reference_device.sip.dialog import MAX_FORWARDS, USER_AGENT, Dialog, LocalContact
from reference_device.sip.media import (
    MediaPort,
    TcpActiveMediaPort,
    TcpMediaPort,
    UdpMediaPort,
    any_video_as_h264,
    sprop_parameter_sets,
)
from reference_device.sip.transaction import ServerTransaction, Timers, TransactionLayer
from reference_device.sip.transport import Flow, Transport
from wire import digest, sdp, sip

log = logging.getLogger(__name__)

ALLOW: Final = "INVITE, ACK, BYE, CANCEL, OPTIONS"
SDP_TYPE: Final = "application/sdp"
RENUMBERED_PT: Final = 96
#: T1s an incoming call's 2xx may wait for its ACK and still keep its allow_in_num slot against
#: a new INVITE (2xx sent at 0, retransmitted at T1, 3*T1, 7*T1: four chances to ACK). Past it a
#: new caller takes the slot (Call.give_up_slot), so one scanner INVITE that is answered and
#: never ACKed does not lock an auto-answer account for 64*T1 (SIP-SEC-LOCK-001).
UNACKED_SLOT_HOLD_T1: Final = 8
#: What the ip_1000 reading of bitrate_definition meters per packet besides the RTP payload:
#: the RTP fixed header (12), UDP (8) and IPv4 (20) headers.
IP_RTP_HEADERS: Final = 40


class CallState(StrEnum):
    """The states of one call."""

    RINGING = "ringing"
    ANSWERED = "answered"
    INVITING = "inviting"
    EARLY = "early"
    CANCELLING = "cancelling"
    CONFIRMED = "confirmed"
    TERMINATING = "terminating"
    ENDED = "ended"
    FAILED = "failed"


S = CallState
_MOVES: Final = {
    S.RINGING: frozenset({S.ANSWERED, S.ENDED}),
    S.ANSWERED: frozenset({S.CONFIRMED, S.TERMINATING, S.ENDED}),
    S.INVITING: frozenset({S.EARLY, S.CONFIRMED, S.CANCELLING, S.FAILED, S.ENDED, S.TERMINATING}),
    S.EARLY: frozenset({S.CONFIRMED, S.CANCELLING, S.FAILED, S.ENDED, S.TERMINATING}),
    S.CANCELLING: frozenset({S.ENDED, S.TERMINATING}),
    S.CONFIRMED: frozenset({S.TERMINATING, S.ENDED}),
    S.TERMINATING: frozenset({S.ENDED}),
}


#: A challenge realm any realm matches (the account's realm "*", as the page's example).
ANY_REALM: Final = "*"


@dataclass(frozen=True)
class InviteCredentials:
    """The account's digest credentials, for a challenge to our INVITE."""

    username: str
    password: str
    realm: str = ANY_REALM


class IllegalCallMoveError(RuntimeError):
    """A call was asked for a move its table does not allow."""


class CallOwner(Protocol):
    """What a call needs from its account's agent."""

    layer: TransactionLayer
    faults: Faults
    timers: Timers
    decoders: DecoderPool

    @property
    def readings(self) -> Readings: ...

    @property
    def contact(self) -> LocalContact: ...

    @property
    def transport(self) -> Transport | None: ...

    @property
    def gb28181(self) -> bool:
        """Whether the account is of type gb28181 (GB28181 SDP and PS video)."""
        ...

    def call_changed(self, call: Call) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


@dataclass
class RemoteMedia:
    """Where the peer wants (or would send) video, as its SDP says."""

    address: str
    port: int
    payload_type: int
    direction: str
    proto: str = sdp.PROTO_RTP_AVP
    setup: str | None = None
    #: what the payload carries (the rtpmap encoding name): H264, or PS for GB28181
    encoding: str = sdp.ENCODING_H264
    #: the only SSRC to accept (a GB28181 y= line), None to lock on the first one
    ssrc: int | None = None

    @property
    def transport(self) -> str:
        """`udp`, or `tcp` for an RFC 4571 (`TCP/...`) media line."""
        return TRANSPORT_TCP if self.proto.upper().startswith("TCP/") else TRANSPORT_UDP


def _parse_sdp(body: bytes) -> sdp.SessionDescription | None:
    try:
        return sdp.parse(body)
    except ValueError as exc:
        log.warning("unparsable SDP: %s", exc)
        return None


def _remote_media(description: sdp.SessionDescription) -> RemoteMedia:
    """The H.264 video of `description` (SdpNegotiationError when there is none)."""
    index, payload_type = sdp.find_h264_video(description)
    connection = description.media_connection(index)
    media = description.media[index]
    return RemoteMedia(
        connection.address if connection is not None else "",
        media.port,
        payload_type,
        description.media_direction(index),
        media.proto,
        media.get_attribute("setup"),
    )


def _gb_remote_media(media: gb_call.GbMedia) -> RemoteMedia:
    """A GB28181 peer's video as RemoteMedia (its encoding and y= SSRC included)."""
    return RemoteMedia(
        media.address,
        media.port,
        media.payload_type,
        media.direction,
        media.proto,
        media.setup,
        media.encoding,
        media.ssrc,
    )


def _check_media_transport(remote: RemoteMedia) -> None:
    """We only listen for TCP media: an offer that wants us to connect is refused."""
    if remote.transport == TRANSPORT_TCP and (remote.setup or sdp.SETUP_ACTIVE) not in (
        sdp.SETUP_ACTIVE,
        sdp.SETUP_ACTPASS,
    ):
        raise sdp.SdpNegotiationError(
            f"TCP media with a=setup:{remote.setup}: this device only accepts (a=setup:passive)"
        )


def _video_payload_type(description: sdp.SessionDescription) -> int | None:
    try:
        return sdp.find_h264_video(description)[1]
    except sdp.SdpNegotiationError:
        return None


def renumber(answer: sdp.SessionDescription, payload_type: int) -> None:
    """The `pt_renumbered` fault: rewrite the accepted video's payload type."""
    for media in answer.media:
        if media.port == 0:
            continue
        maps = media.rtpmaps()
        media.formats = [str(payload_type)]
        media.remove_attribute("rtpmap")
        for entry in maps[:1]:
            media.add_attribute(
                "rtpmap",
                sdp.RtpMap(
                    payload_type, entry.encoding_name, entry.clock_rate, entry.encoding_params
                ).to_string(),
            )


def unusable_offer_code(readings: Readings) -> int:
    """488, or 415 when the process follows reject_other_final (unacceptable_offer, or the
    same behaviour seen by SIPp: unacceptable_offer_sipp)."""
    if readings.follows(Point.UNACCEPTABLE_OFFER, "reject_other_final") or readings.follows(
        Point.UNACCEPTABLE_OFFER_SIPP, "reject_other_final"
    ):
        return 415
    return 488


def unknown_user_refusal(
    request: sip.SipRequest, readings: Readings, faults: Faults
) -> sip.SipResponse:
    """The answer to an INVITE whose Request-URI user is no account on the bind.

    An offer an account could not take (no usable H.264 video) gets what an account answers it
    (488, or 415 under the unacceptable_offer reading reject_other_final), shaped like an
    account's answer (User-Agent, a To tag); any other INVITE gets 404 (RFC 3261 §8.2.2.1). So a
    scanner's INVITE (svwar: an audio-only offer) cannot tell configured extensions from others
    by the answer (SIP-SEC-ENUM-001); an INVITE the device could take still learns it, but then
    the call itself would. The extension_enumerable fault answers 404 whatever the offer.
    """
    code = 404
    if request.body and not faults.on(Fault.EXTENSION_ENUMERABLE):
        description = _parse_sdp(request.body)
        try:
            if description is not None:
                _check_media_transport(_remote_media(description))
        except sdp.SdpNegotiationError:
            code = unusable_offer_code(readings)
        else:
            code = 488 if description is None else 404
    response = sip.make_response(request, code, to_tag=sip.new_tag())
    response.headers.add("User-Agent", USER_AGENT)
    return response


class Call:
    """One call of one account."""

    def __init__(self, owner: CallOwner, *, incoming: bool, flow: Flow) -> None:
        self.owner = owner
        self.incoming = incoming
        self.flow = flow
        self.state = S.RINGING if incoming else S.INVITING
        self.dialog: Dialog | None = None
        self.remote_media: RemoteMedia | None = None
        self.media: MediaPort | None = None
        self.created = time.monotonic()
        self.on_hold = False
        self.local_hangup = False
        self.answered_at: float | None = None  # when our 2xx to the initial INVITE went out
        self.slot_given_up = False  # see give_up_slot()
        self.ended: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.established: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._session_id = str(1 + secrets.randbelow(2**31))
        self._session_version = int(self._session_id)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        # incoming
        self.invite_tx: ServerTransaction | None = None
        self._ok: sip.SipResponse | None = None
        self._offer_sent = False
        self._pending_body = b""
        # The offer of the INVITE could not be taken (no usable H.264 video): refused as such.
        self._offer_unusable = False
        # outgoing
        self.invite: sip.SipRequest | None = None
        self._ack: sip.SipRequest | None = None
        self.call_id = ""
        self.timed_out = False  # our INVITE got no final answer at all (Timer B)
        self._target = ""
        self._from = ""
        self._offer = b""
        self._credentials: InviteCredentials | None = None
        # RFC 3261 §22.3: the credentials sent so far, by header, repeated on each retry.
        self._authorization: dict[str, str] = {}

    def __repr__(self) -> str:
        direction = "in" if self.incoming else "out"
        return f"<Call {direction} {self.call_id[:12]} {self.state.value}>"

    # -- state ---------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Not ended or failed."""
        return self.state not in (S.ENDED, S.FAILED)

    @property
    def counts(self) -> bool:
        """Counts against allow_in_num: alive, not being torn down, slot not given up."""
        return (
            self.live and self.state not in (S.TERMINATING, S.CANCELLING) and not self.slot_given_up
        )

    def unacked_for(self, now: float) -> float:
        """Seconds our 2xx to the initial INVITE has waited for its ACK (0 when not waiting)."""
        if self.state is not S.ANSWERED or self.answered_at is None:
            return 0.0
        return now - self.answered_at

    def give_up_slot(self) -> None:
        """Stop counting against allow_in_num: our 2xx has waited too long for its ACK and a new
        caller wants the slot. The 2xx is still retransmitted (RFC 3261 §13.3.1.4) and no BYE
        goes out before its ACK or the 64*T1 timeout (§15: the callee MUST NOT send BYE on a
        confirmed dialog before either); an ACK that still comes confirms the call, which is
        then ended with BYE at once (the slot is taken)."""
        log.info("call %s: 2xx un-ACKed; its slot goes to a new caller", self.call_id)
        self.slot_given_up = True

    def _transition(self, to: CallState) -> None:
        if to not in _MOVES.get(self.state, frozenset()):
            raise IllegalCallMoveError(f"{self!r}: cannot go from {self.state.value} to {to.value}")
        log.info(
            "call %s %s: %s -> %s",
            "in" if self.incoming else "out",
            self.call_id,
            self.state.value,
            to.value,
        )
        self.state = to
        if to in (S.CONFIRMED, S.ANSWERED) and not self.established.done():
            self.established.set_result(True)
        # Media counts from the ACK, or from our 2xx under early_media_counted=counted.
        counted_early = to is S.ANSWERED and self.owner.readings.follows(
            Point.EARLY_MEDIA_COUNTED, "counted"
        )
        if (to is S.CONFIRMED or counted_early) and self.media is not None:
            self.media.session.confirm()
        if to in (S.ENDED, S.FAILED):
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            if self.media is not None:
                self.media.close()
            if not self.established.done():
                self.established.set_result(False)
            if not self.ended.done():
                self.ended.set_result(self.local_hangup)
        self.owner.call_changed(self)

    def _timer(self, name: str, delay: float, action: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = asyncio.get_running_loop().call_later(delay, action)

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _open_media(
        self, transport: str = TRANSPORT_UDP, connect_to: tuple[str, int] | None = None
    ) -> MediaPort:
        """The call's media port: UDP, TCP listening, or TCP connecting to `connect_to`."""
        if self.media is None:
            owner = self.owner
            name = f"{'in' if self.incoming else 'out'}-{(self.call_id or '?')[:8]}"
            session = MediaSession(transport, owner.faults, owner.decoders, name=name)
            if owner.readings.follows(Point.BITRATE_DEFINITION, "ip_1000"):
                session.meter_overhead = IP_RTP_HEADERS
            host = owner.contact.host
            if connect_to is not None:
                self.media = TcpActiveMediaPort(host, session, connect_to)
            elif transport == TRANSPORT_TCP:
                self.media = TcpMediaPort(host, session)
            else:
                self.media = UdpMediaPort(host, session)
        return self.media

    def _media_payload_type(self, payload_type: int | None) -> None:
        """The payload type the SDP exchange settled on: the only one media may use."""
        if self.media is not None:
            self.media.session.payload_type = payload_type

    def _media_expects(self, remote: RemoteMedia) -> None:
        """GB28181: the payload type, encoding and SSRC media must carry (the SDP exchange's).

        Under the gb_ssrc_not_echoed fault any SSRC is taken (the first one is locked)."""
        if self.media is not None:
            session = self.media.session
            session.payload_type = remote.payload_type
            session.encoding = remote.encoding
            fault = self.owner.faults.on(Fault.GB_SSRC_NOT_ECHOED)
            session.expected_ssrc = None if fault else remote.ssrc

    def _next_version(self) -> str:
        self._session_version += 1
        return str(self._session_version)

    # -- incoming --------------------------------------------------------------------------------

    def accept_invite(self, request: sip.SipRequest, tx: ServerTransaction) -> int | None:
        """Take an incoming INVITE: prepare the SDP; a refusal status code, or None to go on."""
        self.invite_tx = tx
        self.call_id = request.call_id or ""
        self.dialog = Dialog.as_uas(request, sip.new_tag(), self.flow)
        if self.owner.faults.on(Fault.INVITE_IGNORES_RECORD_ROUTE):
            self.dialog.route_set = []  # the fault: in-dialog requests skip the proxies
        self._offer_unusable = False
        body = self._answer_or_offer(request)
        if body is None:
            if self.owner.gb28181:
                return 488  # GB/T 28181 Annex F note 5: 488 when the SDP cannot be met
            return self._unusable_offer_code() if self._offer_unusable else 488
        self._pending_body = body
        return None

    def _unusable_offer_code(self) -> int:
        return unusable_offer_code(self.owner.readings)

    def _answer_or_offer(self, request: sip.SipRequest) -> bytes | None:
        """The SDP for our 2xx: an answer to the offer, or an offer for a bodyless INVITE."""
        if self.owner.gb28181:
            return self._gb_answer_or_offer(request)
        host = self.owner.contact.host
        if not request.body:
            if self.owner.faults.on(Fault.BODYLESS_INVITE_488):
                return None
            media = self._open_media()
            self._offer_sent = True
            offer = sdp.make_video_offer_recvonly(
                host, media.port, session_id=self._session_id, session_version=self._next_version()
            )
            return offer.to_bytes()
        description = _parse_sdp(request.body)
        if description is None:
            return None
        if self.owner.faults.on(Fault.H265_OFFER_ACCEPTED):
            description = any_video_as_h264(description)
        try:
            remote = _remote_media(description)
            _check_media_transport(remote)
            media = self._open_media(remote.transport)
            answer = sdp.answer_video_recvonly(
                description,
                host,
                media.port,
                session_id=self._session_id,
                session_version=self._next_version(),
            )
        except sdp.SdpNegotiationError as exc:
            log.info("offer refused: %s", exc)
            self._offer_unusable = True
            return None
        if self.owner.faults.on(Fault.PT_RENUMBERED):
            renumber(answer, RENUMBERED_PT)
        if self.owner.faults.on(Fault.PACKETIZATION_MODE_DROPPED):
            for section in answer.media:  # the fault: no a=fmtp, i.e. mode 0 (RFC 6184 §8.1)
                section.remove_attribute("fmtp")
        self._media_payload_type(_video_payload_type(answer))
        if self.media is not None:  # parameter sets sent out of band (RFC 6184 §8.1)
            self.media.session.parameter_sets = sprop_parameter_sets(
                description, remote.payload_type
            )
        self._offer_sent = False
        self.remote_media = remote
        self.on_hold = remote.direction in (sdp.DIRECTION_SENDONLY, sdp.DIRECTION_INACTIVE)
        return answer.to_bytes()

    def _gb_answer_or_offer(self, request: sip.SipRequest) -> bytes | None:
        """GB28181: our offer for a bodyless INVITE (third-party call control), else our answer
        to the platform's sendonly offer (its y= echoed); None: refused (488)."""
        contact = self.owner.contact
        session_id = int(self._session_id)
        if not request.body:
            media = self._open_media()
            self._offer_sent = True
            offer = gb_call.make_offer(
                contact.host,
                media.port,
                device_id=contact.user,
                session_id=session_id,
                session_version=int(self._next_version()),
            )
            return offer.to_bytes()
        description = _parse_sdp(request.body)
        if description is None:
            return None
        try:
            offered = gb_call.read_offer(description)
            # The y= of our answer: the offer's (echoed), or ours when it has none. The
            # gb_ssrc_not_echoed fault answers an offered y= with one of its own.
            ssrc_text: str | None = None
            if offered.ssrc_text is None:
                ssrc_text = gb_call.choose_ssrc(contact.user)
            elif self.owner.faults.on(Fault.GB_SSRC_NOT_ECHOED):
                ssrc_text = gb_call.choose_ssrc(contact.user, avoid=offered.ssrc_text)
            transport = TRANSPORT_TCP if offered.tcp else TRANSPORT_UDP
            connect_to = (offered.address, offered.port) if offered.we_connect else None
            media = self._open_media(transport, connect_to)
            answer = gb_call.make_answer(
                description,
                contact.host,
                media.port,
                device_id=contact.user,
                ssrc=ssrc_text,
                session_id=session_id,
                session_version=int(self._next_version()),
            )
        except (sdp.SdpNegotiationError, ValueError) as exc:
            log.info("GB offer refused: %s", exc)
            self._offer_unusable = True
            return None
        remote = _gb_remote_media(offered)
        if ssrc_text is not None:  # media must carry the SSRC our answer named
            remote = replace(remote, ssrc=gb_call.ssrc_value(ssrc_text))
        self.remote_media = remote
        self._media_expects(self.remote_media)
        self._offer_sent = False
        self.on_hold = False
        return answer.to_bytes()

    def response(self, request: sip.SipRequest, code: int) -> sip.SipResponse:
        """A response to `request` in this call's dialog (our To tag, Contact on 1xx-2xx)."""
        tag = self.dialog.local_tag if self.dialog is not None else sip.new_tag()
        response = sip.make_response(request, code, to_tag=tag)
        if 100 < code < 300:
            response.headers.add("Contact", f"<{self.owner.contact.uri}>")
        response.headers.add("User-Agent", USER_AGENT)
        if code == 405:
            response.headers.add("Allow", ALLOW)
        return response

    def ring(self) -> None:
        """Send 180 Ringing."""
        assert self.invite_tx is not None
        self.invite_tx.respond(self.response(self.invite_tx.request, 180))

    def answer(self) -> None:
        """Send the 2xx with our SDP; retransmit it until the ACK (§13.3.1.4)."""
        assert self.invite_tx is not None
        ok = self.response(self.invite_tx.request, 200)
        ok.headers.add("Allow", ALLOW)
        ok.set_body(self._pending_body, SDP_TYPE)
        self._ok = ok
        self.invite_tx.respond(ok)
        self.answered_at = time.monotonic()
        self._transition(S.ANSWERED)
        self._await_ack(ok)
        if isinstance(self.media, TcpActiveMediaPort):
            self.media.start()  # the answer is out: connect to the listening peer

    def _await_ack(self, ok: sip.SipResponse) -> None:
        timers = self.owner.timers
        interval = timers.t1

        def retransmit() -> None:
            nonlocal interval
            if self._ok is None:
                return
            self.flow.send(ok)
            interval = min(interval * 2, timers.t2)
            self._timer("2xx", interval, retransmit)

        if not self.flow.reliable:
            self._timer("2xx", interval, retransmit)
        self._timer("ack", timers.timeout, self._no_ack)

    def _no_ack(self) -> None:
        self._cancel_timer("2xx")
        self._ok = None
        log.info("call %s: 2xx never ACKed within 64*T1: BYE", self.call_id)
        if self.state in (S.ANSWERED, S.CONFIRMED):
            self.bye()

    def decline(self, code: int) -> None:
        """Answer a ringing INVITE with a final failure (603, 486, 487) and end."""
        if self.invite_tx is not None and not self.invite_tx.final_sent:
            self.invite_tx.respond(self.response(self.invite_tx.request, code))
        self._transition(S.ENDED)

    def on_ack(self, ack: sip.SipRequest) -> None:
        """The ACK of our 2xx (INVITE or re-INVITE); reads the answer to an offer we sent."""
        if self._ok is None:
            return
        self._ok = None
        self._cancel_timer("2xx")
        self._cancel_timer("ack")
        if self._offer_sent:
            self._offer_sent = False
            description = _parse_sdp(ack.body) if ack.body else None
            try:
                if description is None:
                    raise sdp.SdpNegotiationError("the ACK carries no SDP answer")
                if self.owner.gb28181:
                    self.remote_media = _gb_remote_media(gb_call.read_answer(description))
                    self._media_expects(self.remote_media)
                else:
                    self.remote_media = _remote_media(description)
                    self._media_payload_type(self.remote_media.payload_type)
            except sdp.SdpNegotiationError as exc:
                log.info("call %s: no acceptable answer in the ACK (%s): BYE", self.call_id, exc)
                if self.state is S.ANSWERED:
                    self._transition(S.CONFIRMED)
                self.bye()
                return
        if self.state is S.ANSWERED:
            self._transition(S.CONFIRMED)
        if self.slot_given_up and self.state is S.CONFIRMED:
            log.info("call %s: ACKed after its slot went to another caller: BYE", self.call_id)
            self.bye()

    def on_cancel(self) -> bool:
        """The caller's CANCEL: 487 to a ringing INVITE; whether it was still ringing."""
        if self.state is not S.RINGING:
            return False
        self.decline(487)
        return True

    def on_reinvite(self, request: sip.SipRequest, tx: ServerTransaction) -> None:
        """A re-INVITE: follow the new address/port and direction; 200 with a fresh version."""
        if self.state is not S.CONFIRMED or self._ok is not None:
            tx.respond(self.response(request, 491))
            return
        if self.owner.gb28181:
            log.info("call %s: re-INVITE of a GB28181 call refused (488)", self.call_id)
            tx.respond(self.response(request, 488))
            return
        host = self.owner.contact.host
        media = self._open_media()
        if not request.body:
            proto = sdp.PROTO_TCP_RTP_AVP if media.transport == TRANSPORT_TCP else sdp.PROTO_RTP_AVP
            offer = sdp.make_video_offer_recvonly(
                host,
                media.port,
                session_id=self._session_id,
                session_version=self._next_version(),
                proto=proto,
            )
            body = offer.to_bytes()
            self._offer_sent = True
        else:
            description = _parse_sdp(request.body)
            try:
                if description is None:
                    raise sdp.SdpNegotiationError("unparsable offer")
                remote = _remote_media(description)
                _check_media_transport(remote)
                if remote.transport != media.transport:
                    raise sdp.SdpNegotiationError(
                        f"the call's media is {media.transport}; a re-INVITE cannot move it to"
                        f" {remote.transport}"
                    )
                # The fault: the answer keeps the session version of the previous SDP.
                stale = self.owner.faults.on(Fault.REINVITE_VERSION_NOT_RAISED)
                answer = sdp.answer_video_recvonly(
                    description,
                    host,
                    media.port,
                    session_id=self._session_id,
                    session_version=str(self._session_version) if stale else self._next_version(),
                )
            except sdp.SdpNegotiationError as exc:
                log.info("re-INVITE refused: %s", exc)
                tx.respond(self.response(request, 488))
                return
            if self.owner.faults.on(Fault.PT_RENUMBERED):
                renumber(answer, RENUMBERED_PT)
            self._media_payload_type(_video_payload_type(answer))
            self.remote_media = remote
            self.on_hold = remote.direction in (sdp.DIRECTION_SENDONLY, sdp.DIRECTION_INACTIVE)
            log.info(
                "call %s: re-INVITE -> media %s:%d %s",
                self.call_id,
                remote.address,
                remote.port,
                remote.direction,
            )
            body = answer.to_bytes()
            self._offer_sent = False
        ok = self.response(request, 200)
        ok.headers.add("Allow", ALLOW)
        ok.set_body(body, SDP_TYPE)
        self._ok = ok
        tx.respond(ok)
        self._await_ack(ok)
        self.owner.call_changed(self)

    def on_bye(self, request: sip.SipRequest, tx: ServerTransaction) -> None:
        """The peer's BYE: 200 and end."""
        tx.respond(self.response(request, 200))
        if self.live:
            if self.state is S.RINGING and self.invite_tx is not None:
                self.invite_tx.respond(self.response(self.invite_tx.request, 487))
            self._transition(S.ENDED)

    # -- outgoing --------------------------------------------------------------------------------

    def dial(
        self,
        target_uri: str,
        destination: tuple[str, int],
        credentials: InviteCredentials | None = None,
    ) -> None:
        """Send our INVITE with a receive-only H.264 offer to `destination`; a 401/407 is
        answered with `credentials` (the account's), when given."""
        contact = self.owner.contact
        self.call_id = sip.new_call_id(contact.host)
        media = self._open_media()
        offer = sdp.make_video_offer_recvonly(
            contact.host,
            media.port,
            session_id=self._session_id,
            session_version=self._next_version(),
        )
        self._target = target_uri
        self._from = f"<sip:{contact.user}@{contact.host}>;tag={sip.new_tag()}"
        self._offer = offer.to_bytes()
        self._credentials = credentials
        self._send_invite(1)

    def _send_invite(self, cseq: int) -> None:
        """Our INVITE (again, with the credentials gathered, after a challenge) in a new
        transaction: same Call-ID, From tag and offer, CSeq `cseq` (RFC 3261 §22.2)."""
        contact = self.owner.contact
        headers = sip.Headers()
        headers.add("Via", contact.via())
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", self._from)
        headers.add("To", f"<{self._target}>")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {sip.METHOD_INVITE}")
        headers.add("Contact", f"<{contact.uri}>")
        for name, value in self._authorization.items():
            headers.add(name, value)
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", USER_AGENT)
        invite = sip.SipRequest(sip.METHOD_INVITE, self._target, headers)
        invite.set_body(self._offer, SDP_TYPE)
        self.invite = invite
        tx = self.owner.layer.send_request(invite, self.flow, self._provisional)
        self.owner.spawn(self._await_final(tx.final))

    def _answer_challenge(self, response: sip.SipResponse) -> bool:
        """Send the INVITE again answering a 401/407 (RFC 3261 §22.2, §22.3); False when it
        cannot be answered: no credentials, an unusable challenge, another realm, or the same
        kind of challenge again without stale=true (the credentials were refused)."""
        credentials, invite = self._credentials, self.invite
        if credentials is None or invite is None or self.state is S.CANCELLING:
            return False
        if self.owner.faults.on(Fault.INVITE_CHALLENGE_UNANSWERED):
            return False  # the fault: a challenged INVITE is taken as refused
        proxy = response.status_code == 407
        asked = response.headers.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        header = "Proxy-Authorization" if proxy else "Authorization"
        try:
            challenge = digest.Challenge.parse(asked or "")
            if credentials.realm not in (ANY_REALM, "", challenge.realm):
                raise ValueError(f"realm {challenge.realm!r} is not {credentials.realm!r}")
            if header in self._authorization and not challenge.stale:
                raise ValueError("challenged again: credentials refused")
            answer = digest.build_authorization(
                challenge, sip.METHOD_INVITE, invite.uri, credentials.username, credentials.password
            )
        except ValueError as exc:
            log.info("call %s: %d not answered: %s", self.call_id, response.status_code, exc)
            return False
        self._authorization[header] = answer.to_header()
        kept = self.owner.faults.on(Fault.INVITE_AUTH_CSEQ_KEPT)  # the fault: CSeq not raised
        self._send_invite(invite.cseq.number if kept else invite.cseq.number + 1)
        return True

    def _provisional(self, response: sip.SipResponse) -> None:
        if self.state is S.INVITING and response.status_code > 100:
            self._transition(S.EARLY)

    async def _await_final(self, final: asyncio.Future[sip.SipResponse | None]) -> None:
        response = await final
        challenged = response is not None and response.status_code in (401, 407)
        if challenged and self.live and response is not None and self._answer_challenge(response):
            return
        if response is None or not response.is_success:
            code = 408 if response is None else response.status_code
            log.info("call %s: INVITE failed (%d)", self.call_id, code)
            self.timed_out = response is None
            if self.state is S.CANCELLING:
                self._transition(S.ENDED)
            elif self.live:
                self._transition(S.FAILED)
            return
        assert self.invite is not None
        self.dialog = Dialog.as_uac(self.invite, response, self.flow)
        self._send_ack()
        try:
            self.remote_media = _remote_media(sdp.parse(response.body))
            self._media_payload_type(self.remote_media.payload_type)
        except ValueError as exc:  # SdpNegotiationError is a ValueError too
            log.info("call %s: unusable answer (%s): BYE", self.call_id, exc)
            self._bye_after_answer()
            return
        if self.state is S.CANCELLING or not self.live:
            self._bye_after_answer()
            return
        self._transition(S.CONFIRMED)

    def _bye_after_answer(self) -> None:
        if self.state in (S.INVITING, S.EARLY):
            self._transition(S.CONFIRMED)
        self.bye()

    def _send_ack(self) -> None:
        assert self.dialog is not None and self.invite is not None
        number = self.invite.cseq.number
        if self.owner.faults.on(Fault.ACK_CSEQ_INCREMENTED):
            number += 1  # the fault: the ACK takes the next CSeq like a new request
        ack = self.dialog.request(sip.METHOD_ACK, self.owner.contact, cseq=number)
        self._ack = ack
        self._dialog_flow().send(ack)

    def on_stray_2xx(self, response: sip.SipResponse) -> None:
        """A retransmitted 2xx to our INVITE: ACK it again."""
        if self._ack is not None:
            self._dialog_flow().send(self._ack)

    def cancel(self) -> None:
        """CANCEL our unanswered INVITE (RFC 3261 §9.1)."""
        assert self.invite is not None
        request = sip.make_cancel(self.invite)
        self._transition(S.CANCELLING)
        self.owner.layer.send_request(request, self.flow)

    # -- ending ------------------------------------------------------------------------------------

    def _dialog_flow(self) -> Flow:
        """The flow in-dialog requests take: the TCP connection if still open, else UDP."""
        flow = self.flow
        if flow.connection is not None and flow.connection.is_open:
            return flow
        assert self.dialog is not None
        transport = self.owner.transport or flow.transport
        return transport.udp_flow(self._resolved_next_hop())

    def _resolved_next_hop(self) -> tuple[str, int]:
        assert self.dialog is not None
        try:
            host, port = self.dialog.next_hop()
        except ValueError:
            return self.flow.addr
        try:
            # sendto() would look a name up itself: only under --resolve-names (names.py).
            names.check(host)
        except names.NameLookupRefusedError as exc:
            log.warning(
                "call %s: in-dialog target %s not used, sent to %s:%d instead: %s",
                self.call_id,
                host,
                *self.flow.addr,
                exc,
            )
            return self.flow.addr
        return host, port

    def bye(self) -> None:
        """Send BYE in the dialog; `terminating` until its final answer or timeout."""
        if self.dialog is None or self.state in (S.TERMINATING, S.ENDED, S.FAILED):
            return
        self._cancel_timer("2xx")
        self._cancel_timer("ack")
        self._ok = None
        request = self.dialog.request(sip.METHOD_BYE, self.owner.contact)
        self._transition(S.TERMINATING)
        tx = self.owner.layer.send_request(request, self._dialog_flow())
        self.owner.spawn(self._await_bye(tx.final))

    async def _await_bye(self, final: asyncio.Future[sip.SipResponse | None]) -> None:
        response = await final
        log.info(
            "call %s: BYE answered %s",
            self.call_id,
            "nothing" if response is None else response.status_code,
        )
        failed = response is None or not response.is_success
        if failed and self.owner.faults.on(Fault.HANGUP_STATUS_STUCK_CALLING):
            return  # the fault: only a 2xx to the BYE ends the call; it stays for good
        if self.state is S.TERMINATING:
            self._transition(S.ENDED)

    def hangup(self) -> bool:
        """hangup.json: BYE when confirmed, 603 when ringing, CANCEL when dialling."""
        self.local_hangup = True
        if self.owner.faults.on(Fault.HANGUP_SENDS_NOTHING):
            self._ok = None
            if self.invite_tx is not None and not self.invite_tx.final_sent:
                self.invite_tx.abort()  # forgotten: the caller never hears a final answer
            if self.live:
                self._transition(S.ENDED)
            return True
        if self.state is S.RINGING:
            self.decline(603)
        elif self.state in (S.ANSWERED, S.CONFIRMED):
            self.bye()
        elif self.state in (S.INVITING, S.EARLY):
            self.cancel()
        else:
            return False
        return True

    def drop(self) -> None:
        """End locally without signalling (shutdown after the grace period)."""
        if self.live:
            self._transition(S.ENDED)
