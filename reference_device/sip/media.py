"""Media sockets of one call, bound on the transport's host (port 0), feeding a MediaSession.

* :class:`UdpMediaPort`: one UDP socket; every datagram (read whole: buffer of 65535 octets) goes
  to the session.
* :class:`TcpMediaPort`: for an offer of ``TCP/RTP/AVP`` (RFC 4571) we answer ``a=setup:passive``
  and listen; the first connection is accepted (the listener is then closed) and its stream is
  deframed with :class:`wire.rtp_tcp.Deframer`, each frame going to the session. A stream that
  loses its framing is counted ``malformed`` and closed; the call goes on.

Reads are non-blocking callbacks on the event loop that handle at most ``READS_PER_WAKEUP``
reads before yielding, so a flood cannot starve the HTTP API or SIP. Decoding happens in the
session's worker thread, never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Final, Protocol

from reference_device.media.session import TRANSPORT_TCP, TRANSPORT_UDP, MediaSession
from wire.rtp_tcp import Deframer

log = logging.getLogger(__name__)

MAX_DATAGRAM: Final = 65535
#: Asked for (the kernel caps it at net.core.rmem_max): room for a keyframe burst at a few Mbit/s.
UDP_RECEIVE_BUFFER: Final = 1 << 20
TCP_CHUNK: Final = 65536
READS_PER_WAKEUP: Final = 64


class MediaPort(Protocol):
    """What a call needs from its media socket."""

    host: str
    port: int
    transport: str
    session: MediaSession

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


def _bound(kind: int, host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setblocking(False)
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


class UdpMediaPort:
    """A bound UDP socket for one call's video."""

    transport = TRANSPORT_UDP

    def __init__(self, host: str, session: MediaSession) -> None:
        self.session = session
        self._sock = _bound(socket.SOCK_DGRAM, host)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._drain)
        self._closed = False
        log.info("media port udp %s:%d open", host, self.port)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def _drain(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on a later recv
                log.debug("media port %d: %s", self.port, exc)
                return
            self.session.receive(data)

    def close(self) -> None:
        """Stop reading, close the socket, end the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self.session.close()
        log.info("media port udp %s:%d closed", self.host, self.port)


class TcpMediaPort:
    """A listening TCP socket (RFC 4145 passive) accepting one RFC 4571 media connection."""

    transport = TRANSPORT_TCP

    def __init__(self, host: str, session: MediaSession) -> None:
        self.session = session
        self._listener: socket.socket | None = _bound(socket.SOCK_STREAM, host)
        try:
            self._listener.listen(1)
        except OSError:
            self._listener.close()
            raise
        self.host = host
        self.port = int(self._listener.getsockname()[1])
        self._conn: socket.socket | None = None
        self._deframer = Deframer()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._listener.fileno(), self._accept)
        self._closed = False
        log.info("media port tcp %s:%d listening", host, self.port)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    def _accept(self) -> None:
        if self._listener is None:
            return
        try:
            conn, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("media port tcp %d: accept failed: %s", self.port, exc)
            return
        self._close_listener()  # one connection per call (a=connection:new)
        conn.setblocking(False)
        self._conn = conn
        self._loop.add_reader(conn.fileno(), self._read)
        log.info("media port tcp %d: connection from %s:%d", self.port, *peer[:2])

    def _close_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._conn.fileno())
            self._conn.close()
            self._conn = None

    def _read(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            if self._conn is None:
                return
            try:
                data = self._conn.recv(TCP_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("media port tcp %d: %s", self.port, exc)
                self._close_conn()
                return
            if not data:
                log.info("media port tcp %d: peer closed the connection", self.port)
                self._close_conn()
                return
            try:
                frames = self._deframer.feed(data)
            except ValueError as exc:
                log.warning("media port tcp %d: %s; connection closed", self.port, exc)
                frames = list(getattr(exc, "packets", []))
                self.session.count_malformed()
                self._close_conn()
            for frame in frames:
                self.session.receive(frame)

    def close(self) -> None:
        """Close the listener and the connection, end the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._close_listener()
        self._close_conn()
        self.session.close()
        log.info("media port tcp %s:%d closed", self.host, self.port)
