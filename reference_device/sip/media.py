"""Media sockets of one call, bound on the transport's host (port 0), feeding a MediaSession.

* :class:`UdpMediaPort`: one UDP socket; every datagram (read whole: buffer of 65535 octets) goes
  to the session.
* :class:`TcpMediaPort`: for an offer of ``TCP/RTP/AVP`` (RFC 4571) we answer ``a=setup:passive``
  and listen; the first connection is accepted (the listener is then closed) and its stream is
  deframed with :class:`wire.rtp_tcp.Deframer`, each frame going to the session. A stream that
  loses its framing is counted ``malformed`` and closed; the call goes on.
* :class:`TcpActiveMediaPort`: for an offer of ``TCP/RTP/AVP`` with ``a=setup:passive`` (a
  GB28181 media server that listens) we answer ``a=setup:active`` and connect, from a socket bound
  when the port is made (its port is the one the answer advertises), to the offer's ``c=``/``m=``
  address once :meth:`TcpActiveMediaPort.start` is called (when the call's 2xx is sent). A failed
  connect is retried ``CONNECT_RETRIES`` times, ``CONNECT_SPACING`` (1 s) apart: GB/T 28181-2022
  Annex D asks for at least 3 retries at least 1 s apart. The stream is read as above (RFC 4571
  only, never RTSP ``$`` interleaving).

Reads are non-blocking callbacks on the event loop that handle at most ``READS_PER_WAKEUP``
reads before yielding, so a flood cannot starve the HTTP API or SIP. Decoding happens in the
session's worker thread, never here.

Keyframe requests: a UDP port answers the session's :attr:`MediaSession.keyframe_request` with an
RTCP PLI (RFC 4585 §6.3.1) sent from its socket to the address the call's RTP comes from
(symmetric RTP, RFC 4961): that is where a sender that sends from one socket reads. The offer's
``sprop-parameter-sets`` are read by :func:`sprop_parameter_sets`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import socket
import struct
import time
from typing import Final, Protocol

from reference_device.media.session import TRANSPORT_TCP, TRANSPORT_UDP, MediaSession
from reference_device.sip import names
from wire import sdp
from wire.h264 import START_CODE
from wire.rtp import RTCP_PSFB, RtcpUnknown
from wire.rtp_tcp import Deframer

log = logging.getLogger(__name__)

MAX_DATAGRAM: Final = 65535
#: Asked for (the kernel caps it at net.core.rmem_max): room for a keyframe burst at a few Mbit/s.
UDP_RECEIVE_BUFFER: Final = 1 << 20
TCP_CHUNK: Final = 65536
READS_PER_WAKEUP: Final = 64
#: Retries after a failed active connect, and the time between attempts (GB/T 28181-2022 Annex D:
#: at least 3 retries, at least 1 s apart).
CONNECT_RETRIES: Final = 3
CONNECT_SPACING: Final = 1.0
#: RFC 4585 §6.3.1: payload-specific feedback with FMT 1 is a Picture Loss Indication.
PLI_FMT: Final = 1


def picture_loss_indication(sender_ssrc: int, media_ssrc: int) -> bytes:
    """An RTCP PLI (RFC 4585 §6.1, §6.3.1): PSFB, FMT 1, our SSRC, the media source's SSRC."""
    return RtcpUnknown(RTCP_PSFB, PLI_FMT, struct.pack("!II", sender_ssrc, media_ssrc)).to_bytes()


def any_video_as_h264(description: sdp.SessionDescription) -> sdp.SessionDescription:
    """The h265_offer_accepted fault: every video format of the offer read as H.264 (the codec
    name is never compared), so an offer of H.265 only is answered as if it were H.264."""
    copy = sdp.parse(description.to_bytes())
    for media in copy.media:
        if media.media != "video":
            continue
        maps = media.rtpmaps()
        media.remove_attribute("rtpmap")
        for entry in maps:
            renamed = sdp.RtpMap(entry.payload_type, sdp.ENCODING_H264, entry.clock_rate)
            media.add_attribute("rtpmap", renamed.to_string())
    return copy


def sprop_parameter_sets(description: sdp.SessionDescription, payload_type: int | None) -> bytes:
    """The parameter sets of the offer's ``sprop-parameter-sets`` for `payload_type` (RFC 6184
    §8.1: base64 NAL units, comma-separated) as Annex-B bytes; b"" when absent or malformed."""
    if payload_type is None:
        return b""
    for media in description.media:
        if media.media != "video" or str(payload_type) not in media.formats:
            continue
        for parameter in (media.fmtp(payload_type) or "").split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() != "sprop-parameter-sets":
                continue
            try:
                nals = [base64.b64decode(v.strip(), validate=True) for v in value.split(",")]
            except (binascii.Error, ValueError):
                log.info("malformed sprop-parameter-sets %r: ignored", value[:80])
                return b""
            return b"".join(START_CODE + nal for nal in nals if nal)
    return b""


class MediaPort(Protocol):
    """What a call needs from its media socket."""

    host: str
    port: int
    transport: str
    session: MediaSession

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


def _bound(kind: int, host: str, port: int = 0, *, reuse: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setblocking(False)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
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
        #: Where the call's RTP last came from: keyframe requests go there.
        self.source: tuple[str, int] | None = None
        self._rtcp_ssrc = secrets.randbits(32)
        session.keyframe_request = self._request_keyframe
        log.debug("media port udp %s:%d open", host, self.port)  # closed: INFO, with the port

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def _drain(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data, source = self._sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on a later recv
                log.debug("media port %d: %s", self.port, exc)
                return
            self.source = source[:2]
            self.session.receive(data)

    def _request_keyframe(self, media_ssrc: int) -> None:
        if self._closed or self.source is None:
            return
        try:
            self._sock.sendto(picture_loss_indication(self._rtcp_ssrc, media_ssrc), self.source)
        except OSError as exc:  # the sender's socket is gone: nothing to ask
            log.debug("media port %d: PLI to %s:%d failed: %s", self.port, *self.source, exc)
            return
        log.info("media port %d: PLI to %s:%d", self.port, *self.source)

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


class _Rfc4571Reader:
    """The connected half of a TCP media port: an RFC 4571 stream read into the session."""

    transport = TRANSPORT_TCP
    port: int
    session: MediaSession
    _loop: asyncio.AbstractEventLoop

    def _init_reader(self) -> None:
        self._conn: socket.socket | None = None
        self._deframer = Deframer()

    def _take_conn(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        self._conn = conn
        self._loop.add_reader(conn.fileno(), self._read)

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


class TcpMediaPort(_Rfc4571Reader):
    """A listening TCP socket (RFC 4145 passive) accepting one RFC 4571 media connection."""

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
        self._init_reader()
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
        self._take_conn(conn)
        log.info("media port tcp %d: connection from %s:%d", self.port, *peer[:2])

    def close(self) -> None:
        """Close the listener and the connection, end the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._close_listener()
        self._close_conn()
        self.session.close()
        log.info("media port tcp %s:%d closed", self.host, self.port)


class TcpActiveMediaPort(_Rfc4571Reader):
    """A TCP socket (RFC 4145 active) that connects to the peer's media address and reads one
    RFC 4571 media stream from it. Bound at once (the answer advertises its port); connects
    from :meth:`start` on, retrying on failure."""

    def __init__(
        self,
        host: str,
        session: MediaSession,
        remote: tuple[str, int],
        *,
        retries: int = CONNECT_RETRIES,
        spacing: float = CONNECT_SPACING,
    ) -> None:
        if retries < 0 or spacing < 0:
            raise ValueError(f"retries {retries} and spacing {spacing} must not be negative")
        self.session = session
        self.remote = remote
        self.retries = retries
        self.spacing = spacing
        # Each attempt connects from a fresh socket bound to this same port (a socket whose
        # connect failed is not reliably reusable on Linux: ECONNABORTED on the next try).
        self._sock: socket.socket | None = _bound(socket.SOCK_STREAM, host, reuse=True)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self._init_reader()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Monotonic times of the connect attempts made so far.
        self.attempts: list[float] = []
        #: True once connected; False once every attempt failed (or closed before); None before.
        self.connected: asyncio.Future[bool] = self._loop.create_future()
        log.info("media port tcp %s:%d (active, to %s:%d)", host, self.port, *remote)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def start(self) -> None:
        """Begin connecting (idempotent)."""
        if self._task is None and not self._closed:
            self._task = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        host, port = self.remote
        for attempt in range(1 + self.retries):
            if attempt:
                # The 2022 retry rule's spacing between connect attempts (a schedule, not a settle).
                await asyncio.sleep(self.spacing)
            sock = self._sock if attempt == 0 else self._fresh_socket()
            if sock is None:
                return
            self.attempts.append(time.monotonic())
            try:
                # sock_connect() would look a name up itself: only under --resolve-names; refused,
                # the attempt fails as an unreachable address does.
                names.check(host)
                await self._loop.sock_connect(sock, (host, port))
            except OSError as exc:
                log.info(
                    "media port tcp %d: connect %d/%d to %s:%d failed: %s",
                    self.port,
                    attempt + 1,
                    1 + self.retries,
                    host,
                    port,
                    exc,
                )
                continue
            self._sock = None
            self._take_conn(sock)
            log.info("media port tcp %d: connected to %s:%d", self.port, host, port)
            self._settle(True)
            return
        log.warning(
            "media port tcp %d: no connection to %s:%d after %d attempts",
            self.port,
            host,
            port,
            1 + self.retries,
        )
        self._settle(False)

    def _fresh_socket(self) -> socket.socket | None:
        """A new socket for the next attempt, bound to the advertised port (None once closed)."""
        if self._sock is None:
            return None
        self._sock.close()
        try:
            self._sock = _bound(socket.SOCK_STREAM, self.host, self.port, reuse=True)
        except OSError as exc:
            log.warning("media port tcp %d: cannot bind it again (%s); any port", self.port, exc)
            self._sock = _bound(socket.SOCK_STREAM, self.host, reuse=True)
        return self._sock

    def _settle(self, value: bool) -> None:
        if not self.connected.done():
            self.connected.set_result(value)

    def close(self) -> None:
        """Stop connecting, close the connection, end the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._close_conn()
        self._settle(False)
        self.session.close()
        log.info("media port tcp %s:%d closed", self.host, self.port)
