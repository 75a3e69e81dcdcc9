"""A SIP registrar peer on wire/: UDP and TCP on the suite host, port 0, kept bound until stopped.

It challenges with Digest (qop=auth or none), grants an expiry of its choosing (shorter than the
one asked for, to tell a refresh on the granted expiry from one on the requested expiry), and
plays the failures a decoder meets in the field: 403, 503 with Retry-After, silence, and
answering N REGISTERs before going silent. Every message in and out is recorded as a
`WireRecord` (monotonic time, both addresses, the raw bytes; `records()`); `wait_for` waits for a
recorded message and, on timeout, lists what came. Bytes from the device that are not SIP are
recorded unanswered: the case that reads them gets a DeviceFailure. `is_register`,
`requested_expiry`, `is_authorized` and `is_answer` read a record's message.

Written by hand on wire/ because the registrar must misbehave on purpose and measure; no
maintained Python SIP server exposes that. The style follows pytest-httpserver: a server
thread, errors raised in it re-raised in the test.
"""

from __future__ import annotations

import enum
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import Address, Direction, Transport, WireRecord
from decoder_conformance.waiting import DeviceTimeout
from wire import digest
from wire.sip import SipRequest, SipResponse, make_response, new_tag, parse_stream


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
class Registrar:
    """The registrar peer. Use as a context manager, or start()/stop()."""

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
        self._records: list[WireRecord] = []
        self.bindings: dict[str, Binding] = {}
        self._nonces: set[str] = set()
        self._lock = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tcp_buffers: dict[socket.socket, bytearray] = {}
        #: (local, remote) of every accepted TCP connection, kept after it closes.
        self._tcp_ends: dict[socket.socket, tuple[Address, Address]] = {}
        self._answered = 0
        #: While set, the 200s to authorized REGISTERs are held back (see hold_ok()).
        self._holding = False
        self._held: list[tuple[WireRecord, socket.socket, SipResponse]] = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((self.host, 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.tcp.bind((self.host, self.port))
        except OSError:
            # The UDP port number is taken for TCP: keep UDP, give TCP its own port.
            self.tcp.bind((self.host, 0))
        self.tcp_port = self.tcp.getsockname()[1]
        self.tcp.listen(16)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """LOOPBACK:PORT of the UDP transport."""
        return f"{self.host}:{self.port}"

    @property
    def tcp_address(self) -> str:
        """HOST:PORT of the TCP listener (the UDP port number unless it was taken)."""
        return f"{self.host}:{self.tcp_port}"

    def roles(self) -> dict[str, str]:
        """Ladder lifeline names of this peer's addresses."""
        if self.tcp_port == self.port:
            return {self.address: "registrar"}
        return {self.address: "registrar (UDP)", self.tcp_address: "registrar (TCP)"}

    def start(self) -> Registrar:
        """Serve in a background thread."""
        self.udp.setblocking(False)
        self.tcp.setblocking(False)
        self._selector.register(self.udp, selectors.EVENT_READ, "udp")
        self._selector.register(self.tcp, selectors.EVENT_READ, "listen")
        self._thread = threading.Thread(target=self._serve, name="registrar", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket; re-raise an error the server thread hit."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self.udp.close()
        self.tcp.close()
        self.check()

    def __enter__(self) -> Registrar:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check(self) -> None:
        """Re-raise, in the caller's thread, an exception the server thread hit."""
        if self._error is not None:
            raise NotExercised(f"registrar thread failed: {self._error!r}") from self._error

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

    def records(self) -> list[WireRecord]:
        """Every message received (RX) and sent (TX) so far, in order."""
        with self._lock:
            return list(self._records)

    def registers(self) -> list[WireRecord]:
        """Every REGISTER received, in order."""
        with self._lock:
            return [r for r in self._records if is_register(r)]

    def wait_for(
        self,
        predicate: Callable[[WireRecord], bool],
        *,
        timeout: float,
        expected: str,
        since: int = 0,
    ) -> WireRecord:
        """The first record from index `since` on that matches; DeviceTimeout listing all seen."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.check()
                for record in self._records[since:]:
                    if predicate(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(
                        f"  {r.t:.3f} {r.direction} {r.transport} {r.first_line}"
                        for r in self._records
                    )
                    raise DeviceTimeout(
                        f"registrar {self.address}: after {timeout:.1f} s, expected {expected}; "
                        f"seen {len(self._records)} messages:\n{seen or '  (none)'}"
                    )
                self._lock.wait(left)

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

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                for key, _events in self._selector.select(timeout=0.05):
                    self._ready(key)
        except BaseException as exc:  # re-raised in the test thread by check()
            self._error = exc
            with self._lock:
                self._lock.notify_all()

    def _ready(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if key.data == "udp":
            data, peer = sock.recvfrom(65535)
            if not data.strip():
                return  # keep-alive
            local = (self.host, self.port)
            self._dispatch(self._record("RX", "udp", local, peer, data), sock)
        elif key.data == "listen":
            conn, peer = sock.accept()
            conn.setblocking(False)
            self._tcp_buffers[conn] = bytearray()
            self._tcp_ends[conn] = (conn.getsockname(), peer)
            self._selector.register(conn, selectors.EVENT_READ, "tcp")
        else:
            chunk = sock.recv(65535)
            if not chunk:
                self._close_tcp(sock)
                return
            buffer = self._tcp_buffers[sock]
            buffer.extend(chunk)
            local, peer = self._tcp_ends[sock]
            while buffer.strip(b"\r\n"):
                try:
                    parsed = parse_stream(buffer)
                except ValueError:
                    # Not SIP: no way to find the next message in the stream. Recorded as it
                    # came (the case that reads it fails the device), and the connection closed.
                    self._record("RX", "tcp", local, peer, bytes(buffer))
                    self._close_tcp(sock)
                    return
                if parsed is None:
                    break
                _message, used = parsed
                data = bytes(buffer[:used])
                del buffer[:used]
                self._dispatch(self._record("RX", "tcp", local, peer, data), sock)
            if not buffer.strip(b"\r\n"):
                buffer.clear()  # CRLF keep-alives (RFC 5626 §3.5.1) are not messages

    def _close_tcp(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        self._tcp_buffers.pop(sock, None)
        sock.close()

    def _dispatch(self, received: WireRecord, sock: socket.socket) -> None:
        try:
            message = received.message
        except DeviceFailure:
            return  # recorded; not answered
        if not isinstance(message, SipRequest) or message.method == "ACK":
            return
        response = self._respond(message)
        if response is None:
            return
        if message.method == "REGISTER" and response.status_code == 200:
            with self._lock:
                if self._holding:
                    self._held.append((received, sock, response))
                    return
        self._send(received, sock, response)

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

    def _record(
        self,
        direction: Direction,
        transport: Transport,
        local: Address,
        remote: Address,
        data: bytes,
    ) -> WireRecord:
        record = WireRecord(time.monotonic(), direction, transport, local, remote, data)
        with self._lock:
            self._records.append(record)
            self._lock.notify_all()
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
