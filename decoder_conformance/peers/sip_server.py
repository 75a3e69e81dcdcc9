"""The socket side shared by the SIP peers: UDP and TCP on the suite host, port 0, one thread.

`SipSocketServer` binds a UDP socket and a TCP listener (the same port number when free), serves
both from one selector in a background thread, frames TCP streams with `wire.sip.parse_stream`
(per-connection buffers; CRLF keep-alives are not messages), and records every message as a
`WireRecord` (`records()`). Bytes on a TCP connection that are not SIP are recorded as they came
and the connection is closed: the case that reads them fails the device. Each received message is
handed to `_on_message(record, route)`, where the `Route` says how it came: UDP from a peer
address, or a TCP connection and its peer. An exception in the thread is re-raised by `check()`.

Used by the registrar peer and by the GB28181 platform's SIP core.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.capture import Address, Direction, Transport, WireRecord
from decoder_conformance.waiting import DeviceTimeout
from wire.sip import parse_stream


@dataclass
class Route:
    """Where a message goes: the transport, the far end and, over TCP, the connection."""

    transport: Transport
    remote: Address
    sock: socket.socket | None = field(default=None, repr=False)


class SipSocketServer:
    """UDP + TCP SIP endpoint on `host` (loopback unless a lab says otherwise), port 0."""

    #: The thread's name, and the peer's name in errors and ladder roles.
    name = "sip-server"
    #: Keep the (local, remote) ends of a TCP connection after it closes.
    _keep_closed_ends = False

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._records: list[WireRecord] = []
        self._lock = threading.Condition()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tcp_buffers: dict[socket.socket, bytearray] = {}
        #: (local, remote) of every accepted TCP connection.
        self._tcp_ends: dict[socket.socket, tuple[Address, Address]] = {}
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.port: int = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.tcp.bind((host, self.port))
        except OSError:
            # The UDP port number is taken for TCP: keep UDP, give TCP its own port.
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
                        f"seen {len(self._records)} messages:\n{self._seen_text(self._records)}"
                    )
                self._lock.wait(left)

    def _seen_text(self, records: list[WireRecord]) -> str:
        """One line per record, for timeout messages."""
        lines = [f"  {r.t:.3f} {r.direction} {r.transport} {self._seen_label(r)}" for r in records]
        return "\n".join(lines) or "  (none)"

    def _seen_label(self, record: WireRecord) -> str:
        """How a record is named in `_seen_text`."""
        return record.label

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
                self._tick()
        except BaseException as exc:  # re-raised in the test thread by check()
            self._error = exc
            with self._lock:
                self._lock.notify_all()

    def _timer_wait(self) -> float:
        """How long the loop may block in select()."""
        return 0.05

    def _tick(self) -> None:
        """Run after each select(), in the server thread (timers)."""

    def _ready(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if key.data == "udp":
            data, peer = sock.recvfrom(65535)
            if not data.strip():
                return  # keep-alive
            record = self._record("RX", "udp", (self.host, self.port), peer, data)
            self._on_message(record, Route("udp", peer))
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
                # Not SIP: no way to find the next message in the stream. Recorded as it came
                # (the case that reads it fails the device), and the connection closed.
                self._record("RX", "tcp", local, peer, bytes(buffer))
                self._close_tcp(sock)
                return
            if parsed is None:
                break
            _message, used = parsed
            data = bytes(buffer[:used])
            del buffer[:used]
            record = self._record("RX", "tcp", local, peer, data)
            self._on_message(record, Route("tcp", peer, sock))
        if not buffer.strip(b"\r\n"):
            buffer.clear()  # CRLF keep-alives (RFC 5626 §3.5.1) are not messages

    def _close_tcp(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        self._tcp_buffers.pop(sock, None)
        if not self._keep_closed_ends:
            self._tcp_ends.pop(sock, None)
        sock.close()

    def _on_message(self, received: WireRecord, route: Route) -> None:
        """A message received (already recorded), and the way it came."""
        raise NotImplementedError
