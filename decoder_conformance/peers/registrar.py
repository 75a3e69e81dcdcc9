"""A SIP registrar peer on wire/: UDP and TCP on the suite host, port 0, kept bound until stopped.

It challenges with Digest (qop=auth or none), grants an expiry of its choosing (shorter than the
one asked for, to tell a refresh on the granted expiry from one on the requested expiry), and
plays the failures a decoder meets in the field: 403, 503 with Retry-After, silence, and
answering N REGISTERs before going silent. Mid-case it can hold its answers (the 200s, or every
one) until released, and go silent and answer again (set_mode). Every message in and out is
recorded as a `WireRecord` (monotonic time, both addresses, the raw bytes; `records()`);
`wait_for` waits for a recorded message and, on timeout, lists what came. Bytes from the device
that are not SIP are recorded unanswered: the case that reads them gets a DeviceFailure. Every
REGISTER is checked for the UA's duties of peers/register_duties.py (CSeq growth per Call-ID,
digest uri = Request-URI) and a breach kept in `violations()`. `is_register`,
`requested_expiry`, `is_authorized` and `is_answer` read a record's message.

It also plays the proxy of its domain: `route_invite` sends a registered contact an INVITE with
Record-Route (and `ack` ACKs the 2xx), a BYE is answered 200, and an INVITE from the device is
challenged 401 then 407 (`invite_challenges`) until its credentials answer both, then answered
`invite_final`; each INVITE's CSeq growth per Call-ID and digest uris are checked the same way.

Written by hand on wire/ because the registrar must misbehave on purpose and measure; no
maintained Python SIP server exposes that. The style follows pytest-httpserver: a server
thread, errors raised in it re-raised in the test.
"""

from __future__ import annotations

import enum
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from decoder_conformance import LOOPBACK
from decoder_conformance.contract.timing import record_wait
from decoder_conformance.device.client import DeviceClient, Status
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.register_duties import CSeqTracker, digest_uri_findings
from decoder_conformance.peers.sip_checks import GRANTED_STATES
from decoder_conformance.peers.sip_server import Route, SipSocketServer
from wire import digest
from wire.sip import (
    SipRequest,
    SipResponse,
    SipUri,
    make_request,
    make_response,
    new_call_id,
    new_tag,
)


@dataclass(frozen=True)
class RegisterViolation:
    """A REGISTER duty the device broke (codes in register_duties), with the REGISTER's record."""

    record: WireRecord
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.record.t:.3f} {self.code}: {self.detail} ({self.record.first_line})"


class Mode(enum.Enum):
    """How the registrar answers REGISTER."""

    NORMAL = "normal"  # challenge, then 200 granting an expiry
    FORBIDDEN = "forbidden"  # 403 to every REGISTER
    UNAVAILABLE = "unavailable"  # 503 with Retry-After
    SILENT = "silent"  # no answer at all
    DROP_AFTER = "drop_after"  # answer normally `answer_limit` REGISTERs, then silence


def asked_expiry(message: SipRequest | SipResponse) -> int | None:
    """The expiry a REGISTER asks for: the Contact's expires param, else the Expires header."""
    for contact in message.contacts:
        value = contact.params.get("expires")
        if value is not None:
            return int(value)
    header = message.headers.get("Expires")
    return int(header) if header is not None else None


def is_register(record: WireRecord) -> bool:
    """A REGISTER the registrar received (DeviceFailure when the device sent bytes that are not
    SIP: they are read here)."""
    if record.direction != "RX" or record.protocol != "sip":
        return False
    message = record.message
    return isinstance(message, SipRequest) and message.method == "REGISTER"


def requested_expiry(record: WireRecord) -> int | None:
    """The expiry a recorded REGISTER asks for (None when it names none)."""
    return asked_expiry(record.message)


def is_authorized(record: WireRecord) -> bool:
    """The recorded message carries an Authorization header."""
    return record.message.headers.get("Authorization") is not None


def is_answer(record: WireRecord, code: int | None = None) -> bool:
    """A response the registrar sent (with status `code`, when given)."""
    if record.direction != "TX" or record.is_request:
        return False
    message = record.message
    return isinstance(message, SipResponse) and (code is None or message.status_code == code)


@dataclass
class Binding:
    """A registered contact."""

    aor: str
    contact: str
    expires: int
    at: float


@dataclass(frozen=True)
class RoutedInvite:
    """An INVITE the registrar sent to a registered contact as a proxy forwards one."""

    request: SipRequest
    #: the Record-Route value it carried (the registrar, loose routing)
    record_route: str
    destination: tuple[str, int]

    @property
    def call_id(self) -> str:
        """The INVITE's Call-ID."""
        return self.request.call_id or ""


#: The INVITE duties the registrar checks as the proxy of its domain (violation codes).
INVITE_AUTH_URI = "invite-auth-uri"
INVITE_CSEQ_NOT_INCREASING = "invite-cseq-not-increasing"
#: The challenges the registrar, as the proxy of its domain, puts to an INVITE from the device
#: before answering it (`invite_final`): the UAS's 401, then the proxy's 407.
INVITE_CHALLENGES = (401, 407)
_CHALLENGE_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}


@dataclass
class Registrar(SipSocketServer):
    """The registrar peer. Use as a context manager, or start()/stop()."""

    name = "registrar"
    #: (local, remote) of every accepted TCP connection is kept after it closes.
    _keep_closed_ends = True

    users: dict[str, str] = field(default_factory=lambda: {"alice": "secret"})
    realm: str = "conformance.test"
    grant: int | None = None  # the expiry granted; None grants what was asked
    qop: bool = True
    mode: Mode = Mode.NORMAL
    retry_after: int = 1
    answer_limit: int = 0
    #: The suite host the device can reach; loopback unless a lab says otherwise.
    host: str = LOOPBACK
    #: An INVITE from the device (the registrar playing its domain's proxy) is challenged with
    #: each of these codes in turn until it carries valid credentials for each, then answered
    #: `invite_final`.
    invite_challenges: tuple[int, ...] = INVITE_CHALLENGES
    invite_final: int = 486

    def __post_init__(self) -> None:
        super().__init__(self.host)
        self.bindings: dict[str, Binding] = {}
        self._nonces: set[str] = set()
        self._answered = 0
        #: While set, the 200s to authorized REGISTERs are held back (see hold_ok()).
        self._holding = False
        #: While set, every answer to REGISTER is held back, challenges too (see hold_all()).
        self._holding_all = False
        self._held: list[tuple[WireRecord, socket.socket, SipResponse]] = []
        self._cseqs = CSeqTracker()
        self._invite_cseqs = CSeqTracker()
        self._violations: list[RegisterViolation] = []
        #: Call-ID -> the challenge codes its INVITEs have answered with valid credentials.
        self._invite_passed: dict[str, set[int]] = {}

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Registrar:
        """Serve in a background thread."""
        self._start()
        return self

    def __enter__(self) -> Registrar:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_mode(self, mode: Mode, *, grant: int | None = None, answer_limit: int = 0) -> None:
        """Change behaviour mid-case (e.g. silent, then back to normal)."""
        with self._lock:
            self.mode, self.answer_limit, self._answered = mode, answer_limit, 0
            if grant is not None:
                self.grant = grant

    def hold_ok(self) -> None:
        """Hold back every 200 to REGISTER from now on (challenges and refusals still go out)
        until release(): a case can sample the device while the registration is still pending."""
        with self._lock:
            self._holding = True

    def hold_all(self) -> None:
        """Hold back every answer to REGISTER from now on (the challenge too) until release(): a
        case can sample the device while its first REGISTER has had no answer at all."""
        with self._lock:
            self._holding_all = True

    def release(self, *, keep_ok_held: bool = False) -> WireRecord | None:
        """Send the answers held since hold_ok() / hold_all() (retransmissions each get theirs),
        in order; the record of the first one sent, None if none was held. Later answers go out
        at once, except the 200s with `keep_ok_held` (as after hold_ok(), set before anything
        is sent, so the device's answer to a released challenge cannot slip through)."""
        with self._lock:
            self._holding, self._holding_all = keep_ok_held, False
            held, self._held = self._held, []
        first: WireRecord | None = None
        for received, sock, response in held:
            record = self._send(received, sock, response)
            first = first or record
        return first

    # -- observation -----------------------------------------------------------------------

    def registers(self) -> list[WireRecord]:
        """Every REGISTER received, in order."""
        with self._lock:
            return [r for r in self._records if is_register(r)]

    def _seen_label(self, record: WireRecord) -> str:
        return record.first_line

    def watch(
        self,
        predicate: Callable[[WireRecord], bool],
        *,
        seconds: float,
        limit: int,
        since: int = 0,
    ) -> list[WireRecord]:
        """Records matching `predicate` over an observation window of `seconds`.

        For checks of what must NOT happen (a challenge loop, an early retry): returns as soon
        as more than `limit` match, else when the window ends.
        """
        deadline = time.monotonic() + seconds
        with self._lock:
            while True:
                self.check()
                found = [r for r in self._records[since:] if predicate(r)]
                left = deadline - time.monotonic()
                if len(found) > limit or left <= 0:
                    record_wait(deadline - seconds, time.monotonic(), "registrar: watch window")
                    return found
                self._lock.wait(left)

    # -- serving ---------------------------------------------------------------------------

    def _on_message(self, received: WireRecord, route: Route) -> None:
        self._dispatch(received, self.udp if route.sock is None else route.sock)

    def _dispatch(self, received: WireRecord, sock: socket.socket) -> None:
        try:
            message = received.message
        except DeviceFailure:
            return  # recorded; not answered
        if not isinstance(message, SipRequest) or message.method == "ACK":
            return
        if message.method == "REGISTER":
            self._check(received, message)
        elif message.method == "INVITE":
            self._check_invite(received, message)
        response = self._respond(message)
        if response is None:
            return
        if message.method == "REGISTER":
            with self._lock:
                if self._holding_all or (self._holding and response.status_code == 200):
                    self._held.append((received, sock, response))
                    return
        self._send(received, sock, response)

    def _check(self, received: WireRecord, request: SipRequest) -> None:
        """The device's REGISTER duties (register_duties), kept as violations."""
        findings = self._cseqs.findings(request)
        header = request.headers.get("Authorization")
        if header is not None:
            try:
                credentials = digest.Credentials.parse(header)
            except ValueError:
                credentials = None  # an unreadable Authorization is answered with a challenge
            if credentials is not None:
                findings += digest_uri_findings(credentials, request)
        with self._lock:
            self._violations += [
                RegisterViolation(received, code, detail) for code, detail in findings
            ]

    def _check_invite(self, received: WireRecord, request: SipRequest) -> None:
        """An INVITE's CSeq growth per Call-ID (RFC 3261 §22.2) and digest uris (§22.4), kept
        as violations under codes of their own (INVITE_CSEQ_NOT_INCREASING, INVITE_AUTH_URI)."""
        findings = [
            (
                INVITE_CSEQ_NOT_INCREASING,
                f"CSeq {request.cseq.number} again on Call-ID {request.call_id} (RFC 3261 §22.2: "
                "a request sent again with credentials takes a higher CSeq)",
            )
            for _ in self._invite_cseqs.findings(request)
        ]
        for _, header in _CHALLENGE_HEADERS.values():
            credentials = _credentials(request.headers.get(header))
            if credentials is not None:
                findings += [
                    (INVITE_AUTH_URI, f"{header}: {detail}")
                    for _, detail in digest_uri_findings(credentials, request)
                ]
        with self._lock:
            self._violations += [
                RegisterViolation(received, code, detail) for code, detail in findings
            ]

    def violations(self, *codes: str) -> list[RegisterViolation]:
        """The REGISTER duties the device broke so far (of `codes`, when given), in order."""
        with self._lock:
            return [v for v in self._violations if not codes or v.code in codes]

    def _send(self, received: WireRecord, sock: socket.socket, response: SipResponse) -> WireRecord:
        """Record `response` to `received`, then send it back the way the request came."""
        data = response.to_bytes()
        # Recorded before it is sent: a UA that acts on the answer (and a test that then reads
        # `records()`) must find it there.
        record = self._record("TX", received.transport, received.local, received.remote, data)
        if received.transport == "udp":
            sock.sendto(data, received.remote)
        else:
            sock.sendall(data)
        return record

    def _respond(self, request: SipRequest) -> SipResponse | None:
        if request.method == "INVITE":
            return self._invite(request)
        if request.method == "BYE":
            return make_response(request, 200)  # the dialog ends here, as at the far UA
        if request.method != "REGISTER":
            response = make_response(request, 405, to_tag=new_tag())
            response.headers.add("Allow", "REGISTER")
            return response
        with self._lock:
            mode = self.mode
            if mode is Mode.DROP_AFTER:
                if self._answered >= self.answer_limit:
                    return None
                self._answered += 1
        if mode is Mode.SILENT:
            return None
        if mode is Mode.FORBIDDEN:
            return make_response(request, 403, to_tag=new_tag())
        if mode is Mode.UNAVAILABLE:
            response = make_response(request, 503, to_tag=new_tag())
            response.headers.add("Retry-After", str(self.retry_after))
            return response
        return self._register(request)

    def _challenge(self, request: SipRequest, code: int = 401) -> SipResponse:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        challenge = digest.Challenge(
            realm=self.realm, nonce=nonce, algorithm="MD5", qop=["auth"] if self.qop else None
        )
        response = make_response(request, code, to_tag=new_tag())
        response.headers.add(_CHALLENGE_HEADERS[code][0], challenge.to_header())
        return response

    def _valid(self, value: str | None, request: SipRequest) -> bool:
        """Credentials of one of our nonces, right for the user's password and the request's
        method. A digest uri other than the Request-URI is taken, as on REGISTER: it is kept as
        a violation (`_check_invite`), so that defect fails its own requirement only."""
        credentials = _credentials(value)
        if credentials is None:
            return False
        password = self.users.get(credentials.username)
        with self._lock:
            known_nonce = credentials.nonce in self._nonces
        return (
            password is not None
            and known_nonce
            and credentials.realm == self.realm
            and digest.verify(credentials, password, request.method)
        )

    def _invite(self, request: SipRequest) -> SipResponse:
        """The device's INVITE: each challenge of `invite_challenges` until its credentials
        answer it (kept per Call-ID, so a UA that resends only the newest header still gets
        through), then `invite_final`."""
        with self._lock:
            passed = self._invite_passed.setdefault(request.call_id or "", set())
        for code in self.invite_challenges:
            if self._valid(request.headers.get(_CHALLENGE_HEADERS[code][1]), request):
                with self._lock:
                    passed.add(code)
        for code in self.invite_challenges:
            if code not in passed:
                return self._challenge(request, code)
        return make_response(request, self.invite_final, to_tag=new_tag())

    # -- the proxy role --------------------------------------------------------------------

    def route_invite(self, binding: Binding, *, body: bytes, contact: str) -> RoutedInvite:
        """Send `binding`'s contact an INVITE as the proxy of its domain forwards one: from the
        registrar's UDP address (its Via), the contact as Request-URI, the AOR in To, a
        Record-Route naming the registrar (loose routing) and the Contact of the calling UA
        behind it (`contact`), where in-dialog requests go through the route."""
        uri = SipUri.parse(binding.contact)
        destination = (uri.host, uri.port or 5060)
        record_route = f"<sip:{self.host}:{self.port};lr>"
        request = make_request(
            "INVITE",
            binding.contact,
            sent_by=(self.host, self.port),
            from_uri=f"sip:caller@{self.host}",
            from_tag=new_tag(),
            to_uri=binding.aor,
            call_id=new_call_id(self.host),
            cseq=1,
            contact=contact,
            headers=[("Record-Route", record_route)],
            body=body,
        )
        self._send_to(request, destination)
        return RoutedInvite(request, record_route, destination)

    def ack(self, invite: RoutedInvite, ok: SipResponse) -> SipRequest:
        """ACK the device's 2xx to a routed INVITE, as the proxy forwards the caller's ACK: to
        the device's Contact (the 2xx's), in the dialog the 2xx made."""
        contacts = ok.contacts
        target = contacts[0].uri if contacts else invite.request.uri
        uri = SipUri.parse(target)
        request = invite.request
        ack = make_request(
            "ACK",
            target,
            sent_by=(self.host, self.port),
            from_uri=request.from_addr.uri,
            from_tag=request.from_addr.tag or "",
            to_uri=request.to_addr.uri,
            to_tag=ok.to_addr.tag,
            call_id=invite.call_id,
            cseq=request.cseq.number,
            contact=request.headers.get("Contact"),
        )
        self._send_to(ack, (uri.host, uri.port or 5060))
        return ack

    def _send_to(self, request: SipRequest, destination: tuple[str, int]) -> WireRecord:
        """Record `request`, then send it over UDP to `destination`."""
        data = request.to_bytes()
        record = self._record("TX", "udp", (self.host, self.port), destination, data)
        self.udp.sendto(data, destination)
        return record

    def _register(self, request: SipRequest) -> SipResponse:
        header = request.headers.get("Authorization")
        if header is None:
            return self._challenge(request)
        credentials = digest.Credentials.parse(header)
        password = self.users.get(credentials.username)
        with self._lock:
            known_nonce = credentials.nonce in self._nonces
        if (
            password is None
            or not known_nonce
            or credentials.realm != self.realm
            or not digest.verify(credentials, password, "REGISTER")
        ):
            # A wrong password is answered with a fresh challenge (RFC 3261 §22.4 practice);
            # a UA that re-sends the same credentials forever is a finding of its own.
            return self._challenge(request)
        aor = str(request.to_addr.uri)
        named = asked_expiry(request)
        asked = 3600 if named is None else named
        response = make_response(request, 200, to_tag=new_tag())
        if asked == 0:
            with self._lock:
                self.bindings.pop(aor, None)
            response.headers.add("Expires", "0")
            return response
        granted = asked if self.grant is None else min(asked, self.grant)
        contacts = request.contacts
        contact = str(contacts[0].uri) if contacts else ""
        with self._lock:
            self.bindings[aor] = Binding(aor, contact, granted, time.monotonic())
        response.headers.add("Contact", f"<{contact}>;expires={granted}")
        response.headers.add("Expires", str(granted))
        return response


def _credentials(value: str | None) -> digest.Credentials | None:
    """Parsed digest credentials; None when absent or unreadable (answered with a challenge)."""
    if value is None:
        return None
    try:
        return digest.Credentials.parse(value)
    except ValueError:
        return None


def wait_granted(
    api: DeviceClient,
    account_id: int,
    timeout: float,
    when: str = "once the registrar answered 200",
) -> Status:
    """status.json shows a granted register_status (any reading of register_status_granted)."""
    return api.wait_status(
        account_id,
        lambda s: s.register in GRANTED_STATES,
        timeout=timeout,
        expected=f"register_status {' or '.join(GRANTED_STATES)} {when}",
    )


def wait_registered(
    api: DeviceClient,
    account_id: int,
    server: Registrar,
    *,
    timeout: float,
    since: int = 0,
    answer_timeout: float | None = None,
) -> tuple[WireRecord, Status]:
    """The registrar's 200 to a REGISTER (from record `since` on, within `answer_timeout`, else
    `timeout`), then a granted register_status in status.json within `timeout`: (the 200's
    record, that status)."""
    ok = server.wait_for(
        lambda r: is_answer(r, 200) and r.message.cseq.method == "REGISTER",
        since=since,
        timeout=answer_timeout or timeout,
        expected="the registrar's 200 to a REGISTER",
    )
    return ok, wait_granted(api, account_id, timeout)
