"""The SIP core of the GB28181 platform: UDP and TCP on the suite host, records, transactions.

One background thread serves a UDP socket and a TCP listener bound to port 0 (the same number when
free, like the registrar). Every message in and out is a `WireRecord`. On top of the bytes it does
only what RFC 3261 makes automatic, so the platform logic above sees each request once:

- server transactions (§17.2.2): a retransmitted request (same top Via branch, CSeq method) gets
  the answer already sent, again, and is not handed up; a request left unanswered (silence) is
  handed up again when it is retransmitted;
- client transactions over UDP (§17.1.2): a request the platform sends is retransmitted on Timer E
  (T1 doubling up to T2) until a final answer or Timer F (64*T1); the final answer is kept.

`SipServer` knows no GB rule: subclasses implement `_on_request` and `_on_response`.
"""

from __future__ import annotations

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
from wire.sip import SipRequest, SipResponse, parse_stream

T1 = 0.5  # RFC 3261 §17.1.1.1: RTT estimate
T2 = 4.0  # the longest retransmit interval of non-INVITE requests
TIMER_F = 64 * T1  # non-INVITE transaction timeout


@dataclass
class Route:
    """Where a message goes: the transport, the far end and, over TCP, the connection."""

    transport: Transport
    remote: Address
    sock: socket.socket | None = field(default=None, repr=False)


@dataclass
class ClientTransaction:
    """A request the platform sent, its retransmission timer and its final answer."""

    branch: str
    request: SipRequest
    route: Route
    record: WireRecord
    interval: float = T1
    next_at: float = 0.0
    give_up_at: float = 0.0
    final: SipResponse | None = None
    final_record: WireRecord | None = None
    timed_out: bool = False


def _tx_key(message: SipRequest | SipResponse) -> tuple[str, str] | None:
    vias = message.vias
    if not vias or vias[0].branch is None:
        return None
    return vias[0].branch, message.cseq.method


class SipServer:
    """UDP + TCP SIP endpoint on `host` (loopback unless a lab says otherwise), port 0."""

    name = "sip-server"

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._records: list[WireRecord] = []
        self._lock = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tcp_buffers: dict[socket.socket, bytearray] = {}
        self._tcp_ends: dict[socket.socket, tuple[Address, Address]] = {}
        #: (branch, method) -> the answer sent, for retransmitted requests.
        self._answered: dict[tuple[str, str], bytes] = {}
        self._client: dict[str, ClientTransaction] = {}
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.port: int = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.tcp.bind((host, self.port))
        except OSError:
            self.tcp.bind((host, 0))
        self.tcp_port: int = self.tcp.getsockname()[1]
        self.tcp.listen(16)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """HOST:PORT of the UDP transport."""
        return f"{self.host}:{self.port}"

    @property
    def tcp_address(self) -> str:
        """HOST:PORT of the TCP listener (the UDP port number unless it was taken)."""
        return f"{self.host}:{self.tcp_port}"

    def roles(self) -> dict[str, str]:
        """Ladder lifeline names of this peer's addresses."""
        if self.tcp_port == self.port:
            return {self.address: self.name}
        return {self.address: f"{self.name} (UDP)", self.tcp_address: f"{self.name} (TCP)"}

    def _start(self) -> None:
        self.udp.setblocking(False)
        self.tcp.setblocking(False)
        self._selector.register(self.udp, selectors.EVENT_READ, "udp")
        self._selector.register(self.tcp, selectors.EVENT_READ, "listen")
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every socket; re-raise an error the server thread hit."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self.udp.close()
        self.tcp.close()
        self.check()

    def check(self) -> None:
        """Re-raise, in the caller's thread, an exception the server thread hit."""
        if self._error is not None:
            raise NotExercised(f"{self.name} thread failed: {self._error!r}") from self._error

    # -- observation -----------------------------------------------------------------------

    def records(self) -> list[WireRecord]:
        """Every message received (RX) and sent (TX) so far, in order."""
        with self._lock:
            return list(self._records)

    def seen_text(self, records: list[WireRecord] | None = None) -> str:
        """One line per record, for timeout messages."""
        shown = self.records() if records is None else records
        lines = [f"  {r.t:.3f} {r.direction} {r.transport} {r.label}" for r in shown]
        return "\n".join(lines) or "  (none)"

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
                    raise DeviceTimeout(
                        f"{self.name} {self.address}: after {timeout:.1f} s, expected {expected}; "
                        f"seen {len(self._records)} messages:\n{self.seen_text(self._records)}"
                    )
                self._lock.wait(left)

    def _wait_state(self, ready: Callable[[], str | None], *, timeout: float) -> None:
        """Wait on the server's condition until `ready()` returns None; its last text on timeout.

        `ready` runs under the lock and returns None when done, else what is still missing.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.check()
                missing = ready()
                if missing is None:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(
                        f"{self.name} {self.address}: after {timeout:.1f} s, {missing}"
                    )
                # States also change with time alone (a binding lapses): wake up to re-check.
                self._lock.wait(min(left, 0.05))

    # -- sending ---------------------------------------------------------------------------

    def reply(self, received: WireRecord, route: Route, response: SipResponse) -> WireRecord:
        """Answer `received` the way it came; a retransmission of it gets the same bytes."""
        data = response.to_bytes()
        message = received.message
        if isinstance(message, SipRequest):
            key = _tx_key(message)
            if key is not None:
                with self._lock:
                    self._answered[key] = data
        return self._send_bytes(route, data)

    def send_request(self, route: Route, request: SipRequest) -> ClientTransaction:
        """Send `request` (a client transaction: retransmitted over UDP until a final answer)."""
        key = _tx_key(request)
        if key is None:
            raise NotExercised(f"harness invariant: {request.method} has no Via branch")
        record = self._send_bytes(route, request.to_bytes())
        now = time.monotonic()
        tx = ClientTransaction(
            key[0], request, route, record, next_at=now + T1, give_up_at=now + TIMER_F
        )
        with self._lock:
            self._client[key[0]] = tx
        return tx

    def _send_bytes(self, route: Route, data: bytes) -> WireRecord:
        if route.transport == "udp":
            local: Address = (self.host, self.port)
        else:
            if route.sock is None or route.sock not in self._tcp_ends:
                raise NotExercised(
                    f"{self.name}: the TCP connection from {route.remote} is closed; cannot send"
                )
            local = self._tcp_ends[route.sock][0]
        # Recorded before it is sent: a UA that acts on it at once must find it in records().
        record = self._record("TX", route.transport, local, route.remote, data)
        if route.transport == "udp":
            self.udp.sendto(data, route.remote)
        elif route.sock is not None:
            route.sock.sendall(data)
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

    # -- serving ---------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                for key, _events in self._selector.select(timeout=self._timer_wait()):
                    self._ready(key)
                self._retransmit()
        except BaseException as exc:  # re-raised in the test thread by check()
            self._error = exc
            with self._lock:
                self._lock.notify_all()

    def _timer_wait(self) -> float:
        with self._lock:
            due = [tx.next_at for tx in self._client.values() if tx.final is None]
        if not due:
            return 0.05
        return max(0.0, min(0.05, min(due) - time.monotonic()))

    def _retransmit(self) -> None:
        now = time.monotonic()
        with self._lock:
            pending = [
                tx
                for tx in self._client.values()
                if tx.final is None and not tx.timed_out and tx.next_at <= now
            ]
        for tx in pending:
            if now >= tx.give_up_at:
                tx.timed_out = True
                continue
            if tx.route.transport == "udp":
                self._send_bytes(tx.route, tx.request.to_bytes())
            tx.interval = min(tx.interval * 2, T2)
            tx.next_at = now + tx.interval

    def _ready(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if key.data == "udp":
            data, peer = sock.recvfrom(65535)
            if not data.strip():
                return  # keep-alive
            record = self._record("RX", "udp", (self.host, self.port), peer, data)
            self._dispatch(record, Route("udp", peer))
        elif key.data == "listen":
            conn, peer = sock.accept()
            conn.setblocking(False)
            self._tcp_buffers[conn] = bytearray()
            self._tcp_ends[conn] = (conn.getsockname(), peer)
            self._selector.register(conn, selectors.EVENT_READ, "tcp")
        else:
            self._read_tcp(sock)

    def _read_tcp(self, sock: socket.socket) -> None:
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
                # Not SIP: recorded as it came (the case reading it fails the device), closed.
                self._record("RX", "tcp", local, peer, bytes(buffer))
                self._close_tcp(sock)
                return
            if parsed is None:
                break
            _message, used = parsed
            data = bytes(buffer[:used])
            del buffer[:used]
            self._dispatch(self._record("RX", "tcp", local, peer, data), Route("tcp", peer, sock))
        if not buffer.strip(b"\r\n"):
            buffer.clear()  # CRLF keep-alives (RFC 5626 §3.5.1) are not messages

    def _close_tcp(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        self._tcp_buffers.pop(sock, None)
        self._tcp_ends.pop(sock, None)
        sock.close()

    def _dispatch(self, received: WireRecord, route: Route) -> None:
        try:
            message = received.message
        except DeviceFailure:
            return  # recorded; the case that reads it fails the device
        try:
            key = _tx_key(message)
        except ValueError:
            key = None  # no CSeq: the platform logic refuses it
        if isinstance(message, SipResponse):
            self._response(received, message, key)
            return
        if message.method == "ACK":
            return
        if key is not None:
            with self._lock:
                sent = self._answered.get(key)
            if sent is not None:  # a retransmission: the same answer again (§17.2.2)
                self._send_bytes(route, sent)
                return
        self._on_request(received, message, route)

    def _response(
        self, received: WireRecord, response: SipResponse, key: tuple[str, str] | None
    ) -> None:
        with self._lock:
            tx = None if key is None else self._client.get(key[0])
            first_final = tx is not None and not response.is_provisional and tx.final is None
            if tx is not None and first_final:
                tx.final, tx.final_record = response, received
            self._lock.notify_all()
        if tx is not None and first_final:
            self._on_response(received, response, tx)

    # -- the platform's part ---------------------------------------------------------------

    def _on_request(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        raise NotImplementedError

    def _on_response(
        self, received: WireRecord, response: SipResponse, tx: ClientTransaction
    ) -> None:
        raise NotImplementedError
