"""SIP transports: one UDP socket and one TCP listener on the same HOST:PORT.

A `Transport` owns both sockets of one bound address and the TCP connections accepted on it.
Incoming messages are handed to one callback with the `Flow` to answer on. Sockets are bound
synchronously (so a refused bind is known at once, before the API answers) and read with
`loop.add_reader` (UDP) or an asyncio protocol (accepted TCP connections). Everything is closed
by `Transport.close()`.

Responses to a request received over UDP go where RFC 3261 §18.2.2 says: the source IP (the
`received` address) and the top Via's sent-by port (5060 when it has none), or the source port
when the Via asks for it with `rport` (RFC 3581 §4). `reply_flow()` picks that address.

Load: the UDP socket asks for a receive buffer of `UDP_RECEIVE_BUFFER` (the kernel's default of
about 200 KB holds only a few hundred small datagrams, so a burst of OPTIONS or INVITEs that
arrives while the loop is busy was dropped and cost the sender a 500 ms retransmission).
`top_via()` parses only the top Via, once per request: the parser has checked every Via already.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from wire import sip

log = logging.getLogger(__name__)

UDP: Final = "UDP"
TCP: Final = "TCP"
MAX_DATAGRAM: Final = 65535
#: Asked for on each SIP UDP socket (the kernel caps it at net.core.rmem_max).
UDP_RECEIVE_BUFFER: Final = 1 << 21
EPHEMERAL_ATTEMPTS: Final = 8
TCP_BACKLOG: Final = 64
MAX_STREAM_BUFFER: Final = 1 << 20
DEFAULT_SIP_PORT: Final = 5060

#: (transport, message, flow, the request's top Via as stamped on receipt or None).
MessageCallback = Callable[["Transport", sip.SipMessage, "Flow", "sip.Via | None"], None]


@dataclass(frozen=True)
class Flow:
    """Where to send: a transport, a protocol and a peer address (a TCP connection if any)."""

    transport: Transport
    protocol: str
    addr: tuple[str, int]
    connection: TcpConnection | None = None

    @property
    def reliable(self) -> bool:
        """True over TCP: no retransmissions, timers D/K/I/J are zero."""
        return self.protocol == TCP

    def send(self, message: sip.SipMessage) -> None:
        """Send `message` on this flow (best effort: a closed connection drops it, logged)."""
        self.send_bytes(message.to_bytes())

    def send_bytes(self, data: bytes) -> None:
        """Send a serialized message on this flow (best effort, as send())."""
        if self.connection is not None:
            self.connection.send(data)
        else:
            self.transport.send_udp(data, self.addr)


def top_via(message: sip.SipMessage) -> sip.Via | None:
    """The top Via of `message` (None without one); ValueError when it is malformed.

    Only the first element is parsed (`message.vias` parses them all, on every access).
    """
    first = message.headers.get("Via")
    elements = sip.split_header_values(first) if first is not None else []
    if not elements:  # no Via, or a blank first one: the whole list decides
        vias = message.vias
        return vias[0] if vias else None
    return sip.Via.parse(elements[0])


def stamped_top_via(request: sip.SipRequest, source: tuple[str, int]) -> sip.Via | None:
    """Stamp `request`'s top Via as received from `source` (sip.stamp_received: RFC 3261
    §18.2.1 received, RFC 3581 §4 rport) and return it parsed (None: absent or malformed).

    The Via is parsed once; stamp_received (which parses it again) runs only when it changes
    something: a bare rport, or a sent-by host other than the source address.
    """
    try:
        via = top_via(request)
    except ValueError:
        return None  # stamp_received leaves an unparsable Via as it is
    if via is None:
        return None
    if (via.rport_requested and via.rport is None) or via.host != source[0]:
        sip.stamp_received(request, source)
        try:
            return top_via(request)
        except ValueError:  # pragma: no cover - the stamped Via is built from a parsed one
            return None
    return via


def reply_flow(request: sip.SipRequest, flow: Flow, via: sip.Via | None = None) -> Flow:
    """The flow responses to `request` (received on `flow`) take (RFC 3261 §18.2.2).

    TCP answers on its connection, and a request without a usable Via keeps the source
    address. The host is always the source IP, so no name in sent-by is ever looked up.
    `via`: the request's top Via when the caller has parsed it already.
    """
    if flow.connection is not None:
        return flow
    if via is None:
        try:
            via = top_via(request)
        except ValueError:
            return flow
    if via is None or via.rport_requested:
        return flow
    port = via.port or DEFAULT_SIP_PORT
    if port == flow.addr[1]:
        return flow
    return Flow(flow.transport, flow.protocol, (flow.addr[0], port))


class TcpConnection(asyncio.Protocol):
    """One accepted TCP connection: frames messages with `parse_stream`."""

    def __init__(self, owner: Transport) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)

    @property
    def is_open(self) -> bool:
        """Whether the connection can still carry a message."""
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1]))
        self._owner.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            try:
                parsed = sip.parse_stream(self._buffer)
            except ValueError as exc:
                log.warning("TCP %s:%d: unparsable stream, closing: %s", *self.peer, exc)
                self.close()
                return
            if parsed is None:
                if len(self._buffer) > MAX_STREAM_BUFFER:
                    self.close()
                return
            message, used = parsed
            del self._buffer[:used]
            flow = Flow(self._owner, TCP, self.peer, self)
            self._owner.deliver(message, flow)

    def send(self, data: bytes) -> None:
        """Write `data`, or log that the connection is gone."""
        if self._transport is None or self._transport.is_closing():
            log.warning("TCP %s:%d: connection closed, %d bytes dropped", *self.peer, len(data))
            return
        self._transport.write(data)

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


def _bind(kind: socket.SocketKind, host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(TCP_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on host:port (same port number); port 0 picks one free for both.

    For port 0 the UDP socket is bound first and TCP then takes its number; on a collision the
    pair is dropped and tried again a few times. Raises OSError when it cannot be done.
    """
    attempts = EPHEMERAL_ATTEMPTS if port == 0 else 1
    last: OSError | None = None
    for _ in range(attempts):
        udp = _bind(socket.SOCK_DGRAM, host, port)
        with contextlib.suppress(OSError):
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        bound = int(udp.getsockname()[1])
        try:
            tcp = _bind(socket.SOCK_STREAM, host, bound)
        except OSError as exc:
            udp.close()
            last = exc
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
            continue
        return udp, tcp
    assert last is not None
    raise last


class Transport:
    """UDP + TCP on one bound address; `host` is the IP the sockets are bound to."""

    def __init__(self, udp: socket.socket, tcp: socket.socket, on_message: MessageCallback) -> None:
        self._udp = udp
        self._tcp = tcp
        self._on_message = on_message
        self.host, self.port = str(udp.getsockname()[0]), int(udp.getsockname()[1])
        self.connections: set[TcpConnection] = set()
        self._loop = asyncio.get_running_loop()
        self._pending: set[asyncio.Task[object]] = set()
        self._closed = False
        self._loop.add_reader(udp.fileno(), self._read_udp)
        self._loop.add_reader(tcp.fileno(), self._accept)
        log.info("transport open on %s:%d (UDP+TCP)", self.host, self.port)

    @classmethod
    def open(cls, host: str, port: int, on_message: MessageCallback) -> Transport:
        """Bind UDP and TCP on host:port; OSError when the address cannot be bound."""
        udp, tcp = bind_pair(host, port)
        return cls(udp, tcp, on_message)

    @property
    def address(self) -> tuple[str, int]:
        """(bound IP, bound port)."""
        return self.host, self.port

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def udp_flow(self, addr: tuple[str, int]) -> Flow:
        """A UDP flow from this transport to `addr`."""
        return Flow(self, UDP, addr)

    def deliver(self, message: sip.SipMessage, flow: Flow) -> None:
        """Hand a received message to the callback (exceptions are logged, never raised)."""
        via = None
        if isinstance(message, sip.SipRequest):
            via = stamped_top_via(message, flow.addr)  # before any answer copies the Via
        try:
            self._on_message(self, message, flow, via)
        except Exception:
            log.exception("error handling a message from %s:%d", *flow.addr)

    def _read_udp(self) -> None:
        while True:
            try:
                data, addr = self._udp.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                log.debug("UDP %s:%d: %s", self.host, self.port, exc)
                return
            if not data.strip(b"\r\n"):
                continue  # keep-alive
            try:
                message = sip.parse(data)
            except sip.ShortBodyError as exc:
                # RFC 3261 §18.3: a request SHOULD get 400 (the stack refuses a body shorter
                # than its Content-Length); a response is discarded.
                if not isinstance(exc.message, sip.SipRequest):
                    log.warning("UDP from %s:%d: response dropped: %s", *addr, exc)
                    continue
                message = exc.message
            except ValueError as exc:
                log.warning("UDP from %s:%d: unparsable message dropped: %s", *addr, exc)
                continue
            self.deliver(message, Flow(self, UDP, (str(addr[0]), int(addr[1]))))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("TCP accept on %s:%d: %s", self.host, self.port, exc)
                return
            conn.setblocking(False)
            task: asyncio.Task[object] = self._loop.create_task(
                self._loop.connect_accepted_socket(lambda: TcpConnection(self), conn)
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def send_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram (dropped, logged, if the socket refuses it)."""
        if self._closed:
            log.warning("transport %s:%d closed, datagram to %s:%d dropped", *self.address, *addr)
            return
        try:
            self._udp.sendto(data, addr)
        except OSError as exc:
            log.warning("UDP send to %s:%d failed: %s", *addr, exc)

    def close(self) -> None:
        """Stop reading, close both sockets and every accepted connection."""
        if self._closed:
            return
        self._closed = True
        for sock in (self._udp, self._tcp):
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())
            sock.close()
        for task in list(self._pending):
            task.cancel()
        for conn in list(self.connections):
            conn.close()
        log.info("transport closed on %s:%d", self.host, self.port)
