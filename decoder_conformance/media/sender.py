"""The sender: an encoded stream as paced RTP, with impairments and the ground truth of what left.

:class:`RtpSender` sends a stream as RTP (RFC 3550; RFC 6184 packetization-mode 1, or 0, through
:class:`wire.h264.Packetizer`) to the one ``host:port`` the decoder put in its SDP, over UDP or
over TCP with RFC 4571 framing, paced in real time from a background thread. It can drop (also a
burst of whole frames), reorder, and bring in a second SSRC, keeps what the decoder sends back to
its UDP socket (RTCP feedback), and keeps the ground truth (every packet and frame it sent
or dropped, with monotonic send times) from which a case computes the bitrate it sent over any
window. Each packet record keeps a reference to the bytes sent, so ``peers.capture.rtp_records``
can give them as wire records for the case's pcap on demand, at no cost on the paced send path.

With ``payload="ps"`` it is the GB28181 media source instead: each access unit becomes one MPEG-2
program stream pack (:func:`wire.ps.mux`: system header and PSM on keyframes, PTS = the frame's RTP
timestamp) split over RTP packets by :func:`wire.ps.packetize` (GB/T 28181-2016 Annex C.1), under
the negotiated payload type and the SSRC of the ``y=`` line; pacing, transports, impairments and
ground truth are the same, and the payload octets counted are the PS octets.

Written on PyAV and ``wire/`` rather than FFmpeg's ``rtp`` muxer because the muxer neither paces
nor lets a packet be dropped or reordered, and fixes the sequence number and SSRC policy.
Sending costs about 0.03 s of CPU per second of 1000 kbit/s media; frames leave within 4 ms of
their schedule.
"""

from __future__ import annotations

import random
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from decoder_conformance import LOOPBACK
from decoder_conformance.contract.timing import current_ledger, record_wait
from decoder_conformance.failures import NotExercised
from decoder_conformance.media.encode import EncodedFrame, EncodedStream
from decoder_conformance.waiting import DeviceTimeout
from wire.h264 import DEFAULT_MTU, Packetizer, RtpPayload, split_annexb
from wire.ps import mux as ps_mux
from wire.ps import packetize as ps_packetize
from wire.rtp import RTP_MAX_PAYLOAD_TYPE, RtpPacket
from wire.rtp_tcp import frame as rfc4571_frame

RTP_CLOCK_RATE = 90_000  # H.264 RTP clock (RFC 6184 §8.2.1)
TIMESTAMP_MOD = 1 << 32
SEQUENCE_MOD = 1 << 16
#: What the RTP payload carries: RFC 6184 H.264, or GB28181 PS packs (``a=rtpmap:<pt> PS/90000``).
PAYLOAD_H264 = "h264"
PAYLOAD_PS = "ps"
#: Seconds a TCP connect or send may stall before the sending thread fails.
TCP_SEND_TIMEOUT = 5.0


def parse_destination(destination: str | tuple[str, int]) -> tuple[str, int]:
    """``"host:port"`` or ``(host, port)`` as ``(host, port)``; ``ValueError`` when malformed."""
    if isinstance(destination, tuple):
        host, port = destination
    else:
        host, sep, port_text = destination.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(f"media destination {destination!r} is not host:port")
        port = int(port_text)
    if not 1 <= port <= 0xFFFF:
        raise ValueError(
            f"media destination port {port} is outside 1-65535 (port 0 in SDP rejects the stream)"
        )
    return host, port


@dataclass(frozen=True)
class Impairments:
    """What the sender does to the packet stream on purpose; all of it seeded and reproducible.

    * ``loss_every``: drop every k-th packet (the k-th, 2k-th, ...), 0 for none.
    * ``loss_fraction``: drop each packet with this probability (seeded), e.g. 0.01 or 0.05.
    * ``reorder``: probability of swapping a packet with the next one of the same frame.
    * ``other_ssrc_from``: from this frame index on, a second source (its own random SSRC,
      sequence and timestamp bases) sends: ``other_ssrc_mode`` ``"switch"`` moves all media to
      it, ``"add"`` sends each frame from both sources.
    * ``loss_burst``: ``(first frame, frames)``: every packet of those frames is dropped (a burst
      of loss, e.g. a link outage), on top of the other losses.

    A dropped packet still consumes its sequence number (it is lost on the way, as on a network).
    """

    loss_every: int = 0
    loss_fraction: float = 0.0
    reorder: float = 0.0
    other_ssrc_from: int | None = None
    other_ssrc_mode: str = "switch"
    loss_burst: tuple[int, int] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss_every < 0 or self.loss_every == 1:
            raise ValueError(f"loss_every {self.loss_every} must be 0 (off) or at least 2")
        for name in ("loss_fraction", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} {value} is outside [0, 1)")
        if self.other_ssrc_mode not in ("switch", "add"):
            raise ValueError(f"other_ssrc_mode {self.other_ssrc_mode!r} is not switch or add")
        if self.other_ssrc_from is not None and self.other_ssrc_from < 0:
            raise ValueError(f"other_ssrc_from {self.other_ssrc_from} is negative")
        if self.loss_burst is not None and (self.loss_burst[0] < 0 or self.loss_burst[1] < 1):
            raise ValueError(f"loss_burst {self.loss_burst} is not (first frame >= 0, frames >= 1)")

    def burst_drops(self, frame: int) -> bool:
        """Whether frame `frame` lies in the loss burst."""
        if self.loss_burst is None:
            return False
        first, count = self.loss_burst
        return first <= frame < first + count


@dataclass(frozen=True)
class PacketRecord:
    """One RTP packet the sender sent or dropped.

    ``t`` is the monotonic time it was sent (or would have been); ``payload_size`` is the RTP
    payload (the H.264 data: NAL units, STAP-A or FU-A; in PS mode the part of the frame's PS pack
    it carries), ``size`` the whole RTP packet (the UDP payload: 12-octet header plus payload;
    the RFC 4571 length prefix is not included).
    """

    t: float
    frame: int
    ssrc: int
    sequence_number: int
    timestamp: int
    marker: bool
    payload_size: int
    size: int
    dropped: bool
    #: The RTP packet's bytes (a reference to the buffer that was sent, not a copy), for the
    #: pcap; not compared or shown.
    data: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class FrameRecord:
    """One frame sent: stream frame index, source, RTP timestamp, and monotonic send times of its
    first and last packet (dropped packets included, as scheduled). In PS mode ``pack_size`` is
    the octets of its PS pack (the PTS in it is ``timestamp``); 0 in H.264 mode."""

    index: int
    ssrc: int
    timestamp: int
    first_t: float
    last_t: float
    keyframe: bool
    packets: int
    pack_size: int = 0


@dataclass(frozen=True)
class SendStats:
    """Totals of what the sender sent so far.

    ``ps_bytes`` is the PS octets sent (RTP payload of the packets not dropped) in PS mode, the
    same count as ``payload_bytes``; 0 in H.264 mode.
    """

    frames_sent: int
    packets_sent: int
    packets_dropped: int
    packets_reordered: int
    payload_bytes: int
    rtp_bytes: int
    send_errors: int
    ps_bytes: int = 0


@dataclass(frozen=True)
class Received:
    """A datagram that came back to the sender's UDP socket (RTCP feedback such as a PLI, RFC
    4585), with the monotonic time it was read (within one frame interval of its arrival)."""

    t: float
    source: tuple[str, int]
    data: bytes


@dataclass
class _Source:
    ssrc: int
    sequence: int
    timestamp_base: int

    def next_sequence(self) -> int:
        value = self.sequence
        self.sequence = (self.sequence + 1) % SEQUENCE_MOD
        return value


def _random_u32() -> int:
    return secrets.randbits(32)


@dataclass
class RtpSender:
    """Sends an :class:`EncodedStream` as RTP to the decoder's media address, paced in real time.

    ``destination`` is the ``host:port`` from the decoder's SDP answer, ``payload_type`` the
    payload type it answered with. Only ``127.0.0.1`` and the hosts in ``allowed_hosts`` (the
    configured lab device) are accepted: anything else is a ``ValueError``. ``bind_host`` is the
    suite host (``--suite-host``; 127.0.0.1 by default), the address the media comes from. Over UDP
    the socket is bound to ``bind_host`` port 0 when the sender is made and kept until
    :meth:`stop`; with ``tcp=True`` :meth:`start` connects to the destination from ``bind_host``
    and frames each packet per RFC 4571.

    Frame ``i`` is sent at ``start + i / fps / speed`` on the monotonic clock, its packets back to
    back (or spread over the frame interval with ``spread=True``). ``speed`` above 1 is for the
    fixture's own tests only. ``loops`` sends the stream that many times, timestamps and
    sequence numbers continuing.

    SSRC, first sequence number and first timestamp are random (RFC 3550 §5.1) unless given.
    Ground truth is in :attr:`packets` and :attr:`frames` (see :meth:`sent_kbps`); read it after
    :meth:`wait` or :meth:`stop`, or at any time through the locked accessors.

    ``payload="ps"`` sends GB28181 PS over RTP: frame ``i`` as one PS pack (system header and PSM
    when it is a keyframe) with PTS equal to its RTP timestamp, cut into RTP payloads of at most
    ``mtu`` octets by :func:`wire.ps.packetize`, marker on the last; pass the SSRC of the ``y=``
    line (``wire.gb_sdp.ssrc_of``) as ``ssrc`` and the payload type the SDP maps to ``PS/90000``.
    Payload octets (``payload_bytes``, :meth:`sent_kbps`, :meth:`per_second`) are then PS octets:
    a GB case compares the device's ``status.json`` bitrate to :meth:`sent_kbps`, the PS payload
    bitrate, because the device's meter counts RTP payload (PS headers included, RTP headers not);
    it is above the stream's H.264 bitrate by the PS headers (1.2% at 320x240 25 fps 500 kbit/s,
    measured). Each pack is made on the send path: mux and split take 0.02-0.07 ms a frame (a 27 kB
    720p IDR included), and frames leave within 5 ms of their schedule on loopback.

    ``packetization_mode`` 0 sends RFC 6184 single NAL unit packets only (§6.2: no STAP-A, no
    FU-A); every NAL unit must then fit ``mtu`` (encode with ``slice_max_size``), else
    :meth:`start` raises ``ValueError``. Over UDP, datagrams that come back to the sender's socket
    (RTCP feedback from the decoder, symmetric RTP) are kept: :meth:`received`.

    ``sock`` hands the sender a socket to send on instead of making one: over UDP a bound socket
    (the media then comes from the port the suite put in its SDP), with ``tcp=True`` a connected
    one (a connection the suite accepted from the device, GB28181 Annex L with the device in the
    active role, or one it connected from the port it advertised). ``destination`` is still the
    far end (the accepted connection's peer), and the sender closes the socket at :meth:`stop`:
    pass a ``dup()`` to keep a connection open after it.
    """

    stream: EncodedStream
    destination: str | tuple[str, int]
    payload_type: int
    tcp: bool = False
    allowed_hosts: Iterable[str] = ()
    mtu: int = DEFAULT_MTU
    impairments: Impairments = field(default_factory=Impairments)
    spread: bool = False
    speed: float = 1.0
    loops: int = 1
    ssrc: int = field(default_factory=_random_u32)
    first_sequence: int = field(default_factory=lambda: secrets.randbits(16))
    first_timestamp: int = field(default_factory=_random_u32)
    bind_host: str = LOOPBACK
    payload: str = PAYLOAD_H264
    sock: socket.socket | None = field(default=None, repr=False)
    packetization_mode: int = 1

    def __post_init__(self) -> None:
        host, port = parse_destination(self.destination)
        if isinstance(self.allowed_hosts, str):
            raise TypeError("allowed_hosts is a collection of hosts, not one string")
        self.allowed_hosts = tuple(self.allowed_hosts)
        allowed = {LOOPBACK, *self.allowed_hosts}
        if host not in allowed:
            raise ValueError(
                f"refusing to send media to {host}:{port}: only {sorted(allowed)} are allowed"
                " (127.0.0.1, or the lab device host given explicitly)"
            )
        self.host, self.port = host, port
        if not 0 <= self.payload_type <= RTP_MAX_PAYLOAD_TYPE:
            raise ValueError(f"payload type {self.payload_type} is outside 0-127")
        if self.speed <= 0 or self.loops < 1:
            raise ValueError(f"speed {self.speed} must be > 0 and loops {self.loops} >= 1")
        if self.payload not in (PAYLOAD_H264, PAYLOAD_PS):
            raise ValueError(f"payload {self.payload!r} is not {PAYLOAD_H264!r} or {PAYLOAD_PS!r}")
        if self.packetization_mode not in (0, 1):
            raise ValueError(f"packetization_mode {self.packetization_mode} is not 0 or 1")
        self.packetizer = Packetizer(self.mtu, aggregate=self.packetization_mode == 1)
        self._received: list[Received] = []
        self.other_ssrc = _random_u32()
        while self.other_ssrc == self.ssrc:
            self.other_ssrc = _random_u32()
        self.packets: list[PacketRecord] = []
        self.frames: list[FrameRecord] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._reordered = 0
        self._send_errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._local: tuple[str, int] | None = None
        if self.sock is not None:
            self._adopt(self.sock)
        elif not self.tcp:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind((self.bind_host, 0))
            self._local = self._sock.getsockname()

    def _adopt(self, sock: socket.socket) -> None:
        """Send on `sock` (given by the caller): a bound UDP socket, or a connected TCP one."""
        kind = socket.SOCK_STREAM if self.tcp else socket.SOCK_DGRAM
        if sock.type != kind:
            raise ValueError(
                f"sock is a {sock.type.name} socket; tcp={self.tcp} sends on a {kind.name} one"
            )
        local = sock.getsockname()
        if local[1] == 0:
            raise ValueError("sock is not bound: the media would come from no known port")
        if self.tcp:
            try:
                sock.getpeername()
            except OSError:
                raise ValueError("sock is a TCP socket that is not connected") from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # As a socket of its own: a TCP send that stalls for 5 s fails the thread, UDP blocks.
        sock.settimeout(TCP_SEND_TIMEOUT if self.tcp else None)
        self._sock = sock
        self._local = local

    # -- life cycle --------------------------------------------------------------------------

    @property
    def local_address(self) -> tuple[str, int] | None:
        """The (host, port) the media comes from, once there is a socket (kept after stop())."""
        return self._local

    @property
    def finished(self) -> bool:
        """True once the sending thread has ended (stream sent, stopped, or failed)."""
        return self._done.is_set()

    def start(self) -> RtpSender:
        """Packetize, connect (TCP), and send from a background thread."""
        if self._thread is not None:
            raise RuntimeError("RtpSender.start() called twice")
        # PS packs carry the frame's timestamp (PTS), so they are made per frame as it is sent.
        ps = self.payload == PAYLOAD_PS
        payloads = [
            [] if ps else self.packetizer.packetize_annexb(f.data) for f in self.stream.frames
        ]
        if self.packetization_mode == 0 and not ps:
            largest = max(len(n) for f in self.stream.frames for n in split_annexb(f.data))
            if largest > self.mtu:
                raise ValueError(
                    f"packetization-mode 0 cannot carry a {largest}-octet NAL unit in {self.mtu}"
                    " octets (RFC 6184 §6.2 allows no FU-A): encode with slice_max_size"
                )
        if self.tcp and self.sock is None:
            self._sock = socket.create_connection(
                (self.host, self.port), timeout=TCP_SEND_TIMEOUT, source_address=(self.bind_host, 0)
            )
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local = self._sock.getsockname()
        # Streaming is an unavoidable wait of the case that started it (its thread has no ledger).
        self._ledger = current_ledger()
        self._thread = threading.Thread(
            target=self._run, args=(payloads,), name="rtp-sender", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> SendStats:
        """Stop sending (at once), close the socket, re-raise an error the thread hit."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._sock is not None:
            self._sock.close()
        self.check()
        return self.stats()

    def wait(self, timeout: float) -> SendStats:
        """Wait until the whole stream was sent; ``WaitTimeout`` (saying how far it got) else."""
        if self._thread is None:
            raise RuntimeError("RtpSender.wait() before start()")
        if not self._done.wait(timeout):
            self.check()
            stats = self.stats()
            total = len(self.stream.frames) * self.loops
            raise DeviceTimeout(
                f"after {timeout:.1f} s the sender to {self.host}:{self.port} had sent"
                f" {stats.frames_sent} of {total} frames ({stats})"
            )
        self.check()
        return self.stats()

    def check(self) -> None:
        """Re-raise, in the caller's thread, an exception the sending thread hit."""
        if self._error is not None:
            raise RuntimeError(f"RTP sender thread failed: {self._error!r}") from self._error

    def __enter__(self) -> RtpSender:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- ground truth ------------------------------------------------------------------------

    def stats(self) -> SendStats:
        """Totals so far."""
        with self._lock:
            sent = [p for p in self.packets if not p.dropped]
            return SendStats(
                frames_sent=len(self.frames),
                packets_sent=len(sent),
                packets_dropped=len(self.packets) - len(sent),
                packets_reordered=self._reordered,
                payload_bytes=sum(p.payload_size for p in sent),
                rtp_bytes=sum(p.size for p in sent),
                send_errors=self._send_errors,
                ps_bytes=sum(p.payload_size for p in sent) if self.payload == PAYLOAD_PS else 0,
            )

    def received(self) -> list[Received]:
        """Datagrams that came back to the sender's UDP socket so far, in order (reads what is
        waiting first while the socket is open; always empty over TCP)."""
        self._read_back()
        with self._lock:
            return list(self._received)

    def _read_back(self) -> None:
        """Read, without blocking, what arrived on the UDP socket."""
        sock = self._sock
        if self.tcp or sock is None or sock.fileno() < 0:
            return
        while True:
            try:
                data, source = sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error for an earlier datagram, or the socket closed
                return
            with self._lock:
                self._received.append(Received(time.monotonic(), source[:2], data))

    def sent_packets(self, ssrc: int | None = None) -> list[PacketRecord]:
        """Packets actually sent (not dropped), in sending order; only ``ssrc``'s when given."""
        with self._lock:
            return [p for p in self.packets if not p.dropped and (ssrc is None or p.ssrc == ssrc)]

    def payload_bytes(self, start: float, end: float, ssrc: int | None = None) -> int:
        """RTP payload octets sent with ``start <= t < end`` (monotonic times)."""
        return sum(p.payload_size for p in self.sent_packets(ssrc) if start <= p.t < end)

    def sent_kbps(self, start: float, end: float, ssrc: int | None = None) -> float:
        """Bitrate of the RTP payload sent over ``[start, end)`` (monotonic), kbit/s (1000 bit).

        The payload is the video data the decoder meters: RTP headers (and UDP/IP, and the RFC
        4571 prefix) are not counted. ``ssrc`` limits it to one source (:attr:`ssrc` is the
        first, :attr:`other_ssrc` the second).
        """
        if end <= start:
            raise ValueError(f"window end {end} is not after its start {start}")
        return self.payload_bytes(start, end, ssrc) * 8 / 1000 / (end - start)

    def per_second(self, ssrc: int | None = None, step: float = 1.0) -> list[tuple[float, float]]:
        """``(t, kbps)`` per ``step`` from the start of sending: ``t`` is the window's end in
        seconds since :attr:`started_at`, ``kbps`` the payload bitrate over that window. Only
        whole windows within the frame slots sent so far (frame ``i`` owns ``[i/fps, (i+1)/fps)``).
        """
        if self.started_at is None:
            return []
        # The media sent so far covers the slots of the frames sent (the last one included).
        with self._lock:
            slots = len({f.index for f in self.frames})
        end = self.started_at + slots / self.stream.fps / self.speed
        series = []
        window = 0
        while self.started_at + (window + 1) * step <= end + 1e-9:
            lo = self.started_at + window * step
            series.append(((window + 1) * step, self.sent_kbps(lo, lo + step, ssrc)))
            window += 1
        return series

    # -- the sending thread ------------------------------------------------------------------

    def _run(self, payloads: list[list[RtpPayload]]) -> None:
        try:
            self._send_all(payloads)
        except BaseException as exc:  # re-raised in the caller's thread by check()
            self._error = exc
        finally:
            self.finished_at = time.monotonic()
            if self.started_at is not None:
                why = f"media: RTP stream to {self.host}:{self.port}"
                record_wait(self.started_at, self.finished_at, why, self._ledger)
            self._done.set()

    def _send_all(self, payloads: list[list[RtpPayload]]) -> None:
        rng = random.Random(self.impairments.seed)
        imp = self.impairments
        main = _Source(self.ssrc, self.first_sequence, self.first_timestamp)
        other = _Source(self.other_ssrc, secrets.randbits(16), _random_u32())
        interval = 1.0 / self.stream.fps / self.speed
        total = len(self.stream.frames) * self.loops
        packet_count = 0
        self.started_at = start = time.monotonic()
        for n in range(total):
            frame = self.stream.frames[n % len(self.stream.frames)]
            due = start + n * interval
            # Media pacing: wait for frame n's slot on the schedule (not a settle delay); stop()
            # ends the wait at once.
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            if imp.other_ssrc_from is None or n < imp.other_ssrc_from:
                sources = [main]
            elif imp.other_ssrc_mode == "switch":
                sources = [other]
            else:
                sources = [main, other]
            for source in sources:
                timestamp = (source.timestamp_base + n * RTP_CLOCK_RATE // self.stream.fps) % (
                    TIMESTAMP_MOD
                )
                frame_payloads, pack_size = self._frame_payloads(payloads, frame, timestamp)
                order = list(range(len(frame_payloads)))
                if imp.reorder:
                    i = 0
                    while i + 1 < len(order):
                        if rng.random() < imp.reorder:
                            order[i], order[i + 1] = order[i + 1], order[i]
                            self._reordered += 1
                            i += 2
                        else:
                            i += 1
                sequences = [source.next_sequence() for _ in order]
                first_t = time.monotonic()
                last_t = first_t
                for position, k in enumerate(order):
                    payload = frame_payloads[k]
                    if self.spread and position:
                        slot = due + interval * position / len(order)
                        # Media pacing inside the frame interval (spread mode).
                        if self._stop.wait(max(0.0, slot - time.monotonic())):
                            return
                    packet_count += 1
                    drop = (
                        (imp.loss_every and packet_count % imp.loss_every == 0)
                        or (imp.loss_fraction and rng.random() < imp.loss_fraction)
                        or imp.burst_drops(n)
                    )
                    packet = RtpPacket(
                        payload_type=self.payload_type,
                        sequence_number=sequences[k],
                        timestamp=timestamp,
                        ssrc=source.ssrc,
                        payload=payload.payload,
                        marker=payload.marker,
                    )
                    data = packet.to_bytes()
                    last_t = time.monotonic()
                    if not drop:
                        self._transmit(data)
                    with self._lock:
                        self.packets.append(
                            PacketRecord(
                                t=last_t,
                                frame=n,
                                ssrc=source.ssrc,
                                sequence_number=sequences[k],
                                timestamp=timestamp,
                                marker=payload.marker,
                                payload_size=len(payload.payload),
                                size=len(data),
                                dropped=bool(drop),
                                data=data,
                            )
                        )
                self._read_back()
                with self._lock:
                    self.frames.append(
                        FrameRecord(
                            n,
                            source.ssrc,
                            timestamp,
                            first_t,
                            last_t,
                            frame.keyframe,
                            len(order),
                            pack_size,
                        )
                    )

    def _frame_payloads(
        self, payloads: list[list[RtpPayload]], frame: EncodedFrame, timestamp: int
    ) -> tuple[list[RtpPayload], int]:
        """A frame's RTP payloads and, in PS mode, the size of its pack (PTS = ``timestamp``)."""
        if self.payload != PAYLOAD_PS:
            return payloads[frame.index], 0
        pack = ps_mux(frame.data, timestamp, keyframe=frame.keyframe)
        # Sequence numbers, SSRC and payload type are the loop's (per source, impairments).
        packets = ps_packetize(pack, 0, timestamp, 0, max_payload=self.mtu)
        return [RtpPayload(p.payload, p.marker) for p in packets], len(pack)

    def _transmit(self, data: bytes) -> None:
        if self._sock is None:
            raise NotExercised("harness invariant: the RTP sender sends with no socket")
        if self.tcp:
            self._sock.sendall(rfc4571_frame(data))
            return
        try:
            self._sock.sendto(data, (self.host, self.port))
        except ConnectionRefusedError:
            # An ICMP port-unreachable from an earlier datagram (the decoder closed its port):
            # counted, not fatal, as for any RTP sender.
            with self._lock:
                self._send_errors += 1
