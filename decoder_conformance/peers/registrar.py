"""A SIP registrar peer on wire/: UDP and TCP on the suite host, port 0, kept bound until stopped.

It challenges with Digest (qop=auth or none), grants an expiry of its choosing (shorter than the
one asked for, to tell a refresh on the granted expiry from one on the requested expiry), and
plays the failures a decoder meets in the field: 403, 503 with Retry-After, silence, and
answering N REGISTERs before going silent. Every message in and out is recorded with a
monotonic timestamp; `wait_for` waits for a recorded message and, on timeout, lists what came.

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
from wire import digest
from wire.sip import SipRequest, SipResponse, make_response, new_tag, parse, parse_stream


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


@dataclass(frozen=True)
class Record:
    """One message seen or sent by the registrar."""

    t: float
    direction: str  # "in" or "out"
    transport: str  # "udp" or "tcp"
    peer: tuple[str, int]
    message: SipRequest | SipResponse

    @property
    def first_line(self) -> str:
        """The start line, for reports."""
        return self.message.start_line()

    def is_register(self) -> bool:
        """A REGISTER request received."""
        return (
            self.direction == "in"
            and isinstance(self.message, SipRequest)
            and self.message.method == "REGISTER"
        )

    @property
    def expires(self) -> int | None:
        """The expiry a REGISTER asks for (None when it names none)."""
        return asked_expiry(self.message)

    @property
    def authorized(self) -> bool:
        """The message carries an Authorization header."""
        return self.message.headers.get("Authorization") is not None


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
        self.records: list[Record] = []
        self.bindings: dict[str, Binding] = {}
        self._nonces: set[str] = set()
        self._lock = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tcp_buffers: dict[socket.socket, bytearray] = {}
        self._answered = 0
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
            raise RuntimeError(f"registrar thread failed: {self._error!r}") from self._error

    def set_mode(self, mode: Mode, *, grant: int | None = None, answer_limit: int = 0) -> None:
        """Change behaviour mid-case (e.g. silent, then back to normal)."""
        with self._lock:
            self.mode, self.answer_limit, self._answered = mode, answer_limit, 0
            if grant is not None:
                self.grant = grant

    # -- observation -----------------------------------------------------------------------

    def registers(self) -> list[Record]:
        """Every REGISTER received, in order."""
        with self._lock:
            return [r for r in self.records if r.is_register()]

    def wait_for(
        self, predicate: Callable[[Record], bool], *, timeout: float, expected: str, since: int = 0
    ) -> Record:
        """The first record from index `since` on that matches; AssertionError listing all seen."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.check()
                for record in self.records[since:]:
                    if predicate(record):
                        return record
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(
                        f"  {r.t:.3f} {r.direction} {r.transport} {r.first_line}"
                        for r in self.records
                    )
                    raise AssertionError(
                        f"registrar {self.address}: after {timeout:.1f} s, expected {expected}; "
                        f"seen {len(self.records)} messages:\n{seen or '  (none)'}"
                    )
                self._lock.wait(left)

    def watch(
        self, predicate: Callable[[Record], bool], *, seconds: float, limit: int, since: int = 0
    ) -> list[Record]:
        """Records matching `predicate` over an observation window of `seconds`.

        For checks of what must NOT happen (a challenge loop, an early retry): returns as soon
        as more than `limit` match, else when the window ends.
        """
        deadline = time.monotonic() + seconds
        with self._lock:
            while True:
                self.check()
                found = [r for r in self.records[since:] if predicate(r)]
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
            self._handle(data, "udp", peer, sock)
        elif key.data == "listen":
            conn, _peer = sock.accept()
            conn.setblocking(False)
            self._tcp_buffers[conn] = bytearray()
            self._selector.register(conn, selectors.EVENT_READ, "tcp")
        else:
            chunk = sock.recv(65535)
            if not chunk:
                self._selector.unregister(sock)
                self._tcp_buffers.pop(sock, None)
                sock.close()
                return
            buffer = self._tcp_buffers[sock]
            buffer.extend(chunk)
            while (parsed := parse_stream(buffer)) is not None:
                message, used = parsed
                del buffer[:used]
                self._dispatch(message, "tcp", sock.getpeername(), sock)

    def _handle(
        self, data: bytes, transport: str, peer: tuple[str, int], sock: socket.socket
    ) -> None:
        if not data.strip():
            return  # keep-alive
        self._dispatch(parse(data), transport, peer, sock)

    def _dispatch(
        self,
        message: SipRequest | SipResponse,
        transport: str,
        peer: tuple[str, int],
        sock: socket.socket,
    ) -> None:
        self._record("in", transport, peer, message)
        if not isinstance(message, SipRequest) or message.method == "ACK":
            return
        response = self._respond(message)
        if response is None:
            return
        data = response.to_bytes()
        # Recorded before it is sent: a UA that acts on the answer (and a test that then reads
        # `records`) must find it there.
        self._record("out", transport, peer, response)
        if transport == "udp":
            sock.sendto(data, peer)
        else:
            sock.sendall(data)

    def _record(
        self,
        direction: str,
        transport: str,
        peer: tuple[str, int],
        message: SipRequest | SipResponse,
    ) -> None:
        with self._lock:
            self.records.append(Record(time.monotonic(), direction, transport, peer, message))
            self._lock.notify_all()

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
