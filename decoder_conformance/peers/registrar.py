"""A SIP registrar peer on wire/: UDP and TCP on the suite host, port 0, kept bound until stopped.

It challenges with Digest (qop=auth or none), grants an expiry of its choosing (shorter than the
one asked for, to tell a refresh on the granted expiry from one on the requested expiry), and
plays the failures a decoder meets in the field: 403, 503 with Retry-After, silence, and
answering N REGISTERs before going silent. Every message in and out is recorded as a
`WireRecord` (monotonic time, both addresses, the raw bytes; `records()`); `wait_for` waits for a
recorded message and, on timeout, lists what came. Bytes from the device that are not SIP are
recorded unanswered: the case that reads them gets a DeviceFailure. Every REGISTER is checked
for the UA's duties of peers/register_duties.py (CSeq growth per Call-ID, digest uri = Request-URI)
and a breach kept in `violations()`. `is_register`,
`requested_expiry`, `is_authorized` and `is_answer` read a record's message.

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
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.register_duties import CSeqTracker, digest_uri_findings
from decoder_conformance.peers.sip_server import Route, SipSocketServer
from wire import digest
from wire.sip import SipRequest, SipResponse, make_response, new_tag


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

    def __post_init__(self) -> None:
        super().__init__(self.host)
        self.bindings: dict[str, Binding] = {}
        self._nonces: set[str] = set()
        self._answered = 0
        #: While set, the 200s to authorized REGISTERs are held back (see hold_ok()).
        self._holding = False
        self._held: list[tuple[WireRecord, socket.socket, SipResponse]] = []
        self._cseqs = CSeqTracker()
        self._violations: list[RegisterViolation] = []

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

    def release(self) -> WireRecord | None:
        """Send the 200s held since hold_ok() (retransmissions each get theirs), in order; the
        record of the first one sent, None if none was held. Later 200s go out at once."""
        with self._lock:
            self._holding = False
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
        response = self._respond(message)
        if response is None:
            return
        if message.method == "REGISTER" and response.status_code == 200:
            with self._lock:
                if self._holding:
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

    def _challenge(self, request: SipRequest) -> SipResponse:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        challenge = digest.Challenge(
            realm=self.realm, nonce=nonce, algorithm="MD5", qop=["auth"] if self.qop else None
        )
        response = make_response(request, 401, to_tag=new_tag())
        response.headers.add("WWW-Authenticate", challenge.to_header())
        return response

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
