"""One call's media pipeline: filter, order, meter, depacketize, gate on a keyframe, decode.

Every datagram (or RFC 4571 frame) the call's media socket receives goes through
:meth:`MediaSession.receive`, in this order; each drop is counted in exactly one counter:

1. RTCP (RFC 5761 §4 demultiplexing, :func:`wire.rtp.is_rtcp`) -> ``rtcp``, ignored;
2. not a parsable RTP packet -> ``malformed``;
3. the call is not confirmed yet (before the ACK of our 2xx, or before our ACK of their 2xx)
   -> ``early``: such packets never reach the meter or the decoder;
4. a payload type other than the negotiated one -> ``wrong_pt``;
5. the first SSRC accepted is locked for the call; any other -> ``wrong_ssrc``. When the SDP
   exchange named the SSRC (a GB28181 ``y=`` line: :attr:`MediaSession.expected_ssrc`) only that
   one is accepted, from the first packet on;
6. RFC 3550 A.1 sequence tracking (:class:`wire.rtp.SequenceTracker`): a duplicate -> ``late``,
   a packet before the first one -> ``late``, a jump beyond the tracker's window -> ``bad_seq``
   (two in a row are a sender restart: the reorder window starts over); ``lost`` is the tracker's;
7. the reorder window (:mod:`.reorder`): a packet older than what was released -> ``late``.

A packet released in order counts in ``packets`` and ``bytes`` (RTP payload octets: no RTP, UDP
or IP header, no padding) and its payload bytes go to the **bitrate meter at the moment of
release** (which is the moment of arrival unless it waited in the reorder window for a gap).
Then the payload is unpacked by the call's encoding (:attr:`MediaSession.encoding`, from the
rtpmap of the SDP exchange):

* ``H264``: the RFC 6184 depacketizer (:class:`wire.h264.Depacketizer`: ``fu_dropped``,
  ``corrupt``) makes access units;
* ``PS`` (GB28181 PS over RTP, 2016 Annex C.1): :class:`wire.ps.PsOverRtp` joins the packets of
  one frame (one pack per frame, one timestamp per frame) and :class:`wire.ps.PsDemuxer` (fed and
  flushed once per pack) takes the H.264 access units out of it. ``corrupt`` then counts the
  frames dropped for a loss inside them plus the access units the demuxer dropped as damaged;
  ``fu_dropped`` stays 0. The meter counts the same RTP payload octets, i.e. the PS octets.

Until the first access unit holding an IDR slice they are counted in ``waiting_keyframe``; from it
on each goes to the call's decoder thread, or is counted in ``decoder_overrun`` when that thread's
queue is full. Parameter sets the SDP offer carried in ``sprop-parameter-sets`` (RFC 6184 §8.1,
:attr:`MediaSession.parameter_sets`) are put in front of that first keyframe, so a stream that
sends them only out of band decodes.

A sequence gap (packets lost) asks the sender for a keyframe through
:attr:`MediaSession.keyframe_request` (the media port sends an RTCP PLI, RFC 4585 §6.3.1), at most
once per ``KEYFRAME_REQUEST_SPACING``; the decoder is fed on regardless (FFmpeg conceals until the
next IDR).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from reference_device.faults import Fault, Faults
from reference_device.media.decoder import DecoderPool, DecoderWorker, FrameStats
from reference_device.media.meter import BitrateMeter
from reference_device.media.reorder import ReorderBuffer
from wire.h264 import FU_END, NAL_TYPE_FU_A, AccessUnit, Depacketizer, is_keyframe
from wire.ps import PsDemuxer, PsOverRtp
from wire.rtp import RtpPacket, SequenceTracker, is_rtcp, seq_distance
from wire.sdp import ENCODING_H264, ENCODING_PS

log = logging.getLogger(__name__)

#: The largest access unit assembled (a 4K IDR frame is well below); beyond, it is abandoned.
MAX_ACCESS_UNIT: Final = 4 * 1024 * 1024

#: The shortest time between two keyframe requests (PLI) of one call.
KEYFRAME_REQUEST_SPACING: Final = 0.5

TRANSPORT_UDP: Final = "udp"
TRANSPORT_TCP: Final = "tcp"
#: The payload encodings a session unpacks (the rtpmap encoding names).
ENCODINGS: Final = (ENCODING_H264, ENCODING_PS)

MediaView = dict[str, Any]


@dataclass
class Counters:
    """The loop-side counters of one call (see the module docstring for what each counts)."""

    packets: int = 0
    bytes: int = 0
    late: int = 0
    early: int = 0
    wrong_ssrc: int = 0
    wrong_pt: int = 0
    malformed: int = 0
    rtcp: int = 0
    bad_seq: int = 0
    waiting_keyframe: int = 0
    decoder_overrun: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name, in field order (dataclasses.asdict deep-copies: 10x slower)."""
        return dict(vars(self))


def empty_view(call: str = "none") -> MediaView:
    """media.json's data when the account has had no call."""
    return {
        "call": call,
        **Counters().as_dict(),
        "bitrate_kbps": 0,
        "frames_decoded": 0,
        "width": 0,
        "height": 0,
        "fps": 0.0,
        "decode_errors": 0,
        "lost": 0,
        "fu_dropped": 0,
        "corrupt": 0,
        "ssrc": None,
        "payload_type": None,
        "transport": None,
    }


class MediaSession:
    """The receive pipeline of one call's video."""

    def __init__(
        self,
        transport: str,
        faults: Faults,
        decoders: DecoderPool,
        *,
        name: str = "call",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.name = name
        self.faults = faults
        self.payload_type: int | None = None  # negotiated; set by the call from the SDP
        #: What the payload carries (``H264`` or ``PS``); set by the call with the payload type.
        self.encoding: str = ENCODING_H264
        #: The only SSRC accepted when the SDP exchange named one (GB28181 ``y=``), else None.
        self.expected_ssrc: int | None = None
        self.confirmed = False
        self.counters = Counters()
        self.ssrc: int | None = None
        self.meter = BitrateMeter(clock=clock)
        #: Octets metered per packet on top of its RTP payload (set by the call from the
        #: bitrate_definition reading: 0 counts the payload only).
        self.meter_overhead = 0
        # Only under the bitrate_held_when_media_stops fault: the last non-zero reading.
        self._held_kbps = 0.0
        self._clock = clock
        self._decoders = decoders
        self._tracker = SequenceTracker()
        self._reorder = ReorderBuffer()
        self._depacketizer = Depacketizer(max_access_unit=MAX_ACCESS_UNIT)
        # PS over RTP: packets in sequence order (ours: no second reorder window) to packs.
        self._ps = PsOverRtp(reorder_window=0, max_pack=MAX_ACCESS_UNIT)
        self._demuxer = PsDemuxer(max_access_unit=MAX_ACCESS_UNIT)
        self._decoder: DecoderWorker | None = None
        self._keyframe_seen = False
        # Only under the loss_frames_double_counted fault: in concealment since a loss, and the
        # frames counted a second time.
        self._concealing = False
        self._counted_twice = 0
        #: Annex-B SPS/PPS from the offer's sprop-parameter-sets (b"" when none), set by the call.
        self.parameter_sets = b""
        #: Sends a keyframe request for the given media SSRC (set by a UDP media port), or None.
        self.keyframe_request: Callable[[int], None] | None = None
        #: Keyframe requests made so far.
        self.keyframe_requests = 0
        self._last_request: float | None = None
        # Only under the reorder_dropped fault: the highest sequence number seen.
        self._highest: int | None = None
        # Only under the loss_stalls_decoder fault: no access unit reaches the decoder any more.
        self._stalled = False
        self._flush_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._final: MediaView | None = None
        #: The meter's reading at the moment the call ended.
        self.final_kbps = 0.0

    @property
    def closed(self) -> bool:
        """Whether the call's media has ended."""
        return self._final is not None

    def confirm(self) -> None:
        """The call is confirmed: media from now on is accepted."""
        self.confirmed = True

    # -- receive -------------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """One datagram (or RFC 4571 frame) from the media socket. Never raises on its content."""
        if self._final is not None:
            return
        counters = self.counters
        if is_rtcp(data):
            counters.rtcp += 1
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            counters.malformed += 1
            return
        if not self.confirmed:
            counters.early += 1
            return
        if packet.payload_type != self.payload_type:
            counters.wrong_pt += 1
            return
        if self.ssrc is None and self.expected_ssrc in (None, packet.ssrc):
            self.ssrc = packet.ssrc
            log.info(
                "%s: media from SSRC %#010x, payload type %d over %s",
                self.name,
                packet.ssrc,
                packet.payload_type,
                self.transport,
            )
        elif packet.ssrc != self.ssrc:
            counters.wrong_ssrc += 1
            if self.faults.on(Fault.FOREIGN_SSRC_METERED):
                # The fault: the meter counts every packet on the port, whatever its source.
                self.meter.add(len(packet.payload), self._clock())
            return
        if self.faults.on(Fault.REORDER_DROPPED) and self._drop_reordered(packet.sequence_number):
            return
        tracker = self._tracker
        before = (tracker.duplicates, tracker.late, tracker.bad, tracker.resyncs)
        if not tracker.update(packet.sequence_number):
            counters.late += (tracker.duplicates - before[0]) + (tracker.late - before[1])
            counters.bad_seq += tracker.bad - before[2]
            return
        now = self._clock()
        if tracker.resyncs != before[3]:
            log.info("%s: sender restarted its sequence numbers", self.name)
            self._release(self._reorder.reset(), now)
        late = self._reorder.late
        self._release(self._reorder.push(packet, now), now)
        counters.late += self._reorder.late - late
        self._schedule_flush(now)

    def _drop_reordered(self, seq: int) -> bool:
        """The reorder_dropped fault: a packet behind the highest sequence number seen is late."""
        if self._highest is not None and seq_distance(self._highest, seq) < 0:
            self.counters.late += 1
            return True
        self._highest = seq
        return False

    def _lost_packets(self, now: float) -> None:
        """A sequence gap: ask for a keyframe (rate-limited); the loss_stalls_decoder fault stops
        feeding the decoder for good."""
        if self.faults.on(Fault.LOSS_STALLS_DECODER):
            self._stalled = True
        if self.keyframe_request is None or self.ssrc is None:
            return
        if self.faults.on(Fault.NO_KEYFRAME_REQUEST):
            return
        if self._last_request is not None and now - self._last_request < KEYFRAME_REQUEST_SPACING:
            return
        self._last_request = now
        self.keyframe_requests += 1
        self.keyframe_request(self.ssrc)

    def count_malformed(self) -> None:
        """A transport-level framing error (RFC 4571 stream lost its framing)."""
        self.counters.malformed += 1

    def _schedule_flush(self, now: float) -> None:
        due = self._reorder.due()
        if due is None or self._flush_timer is not None:
            return
        self._flush_timer = self._loop.call_later(max(0.0, due - now), self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        if self._final is not None:
            return
        now = self._clock()
        self._release(self._reorder.flush_due(now), now)
        self._schedule_flush(now)

    def _release(self, packets: list[RtpPacket], now: float) -> None:
        if self.encoding == ENCODING_PS:
            self._release_ps(packets, now)
            return
        fua_broken = self.faults.on(Fault.FUA_BROKEN)
        double_counted = self.faults.on(Fault.LOSS_FRAMES_DOUBLE_COUNTED)
        for packet in packets:
            size = len(packet.payload)
            self.counters.packets += 1
            self.counters.bytes += size
            self.meter.add(size + self.meter_overhead, now)
            payload = packet.payload
            if fua_broken and size > 1 and payload[0] & 0x1F == NAL_TYPE_FU_A:
                # The fault: the FU header's end bit is masked off, so no fragmented NAL unit
                # is ever completed (dropped as fu_dropped when the next one starts).
                payload = payload[:1] + bytes([payload[1] & ~FU_END & 0xFF]) + payload[2:]
            gaps = self._depacketizer.stats.gaps
            units = self._depacketizer.push(
                payload, packet.marker, packet.sequence_number, packet.timestamp
            )
            if self._depacketizer.stats.gaps != gaps:
                self._lost_packets(now)
                if double_counted:
                    self._concealing = True
            for unit in units:
                if self._decode(unit.data) and double_counted:
                    self._count_concealed(unit)

    def _release_ps(self, packets: list[RtpPacket], now: float) -> None:
        """PS over RTP: meter the payload (PS octets), join each frame's pack, demux, decode."""
        for packet in packets:
            size = len(packet.payload)
            self.counters.packets += 1
            self.counters.bytes += size
            self.meter.add(size + self.meter_overhead, now)
            for pack in self._ps.push(packet):
                for unit in self._demuxer.feed(pack) + self._demuxer.flush():
                    self._decode(unit.data)

    def _decode(self, access_unit: bytes) -> bool:
        """Hand one access unit to the decoder thread; whether it was taken."""
        if self._stalled:
            self.counters.waiting_keyframe += 1
            return False
        if not self._keyframe_seen:
            if not is_keyframe(access_unit):
                self.counters.waiting_keyframe += 1
                return False
            self._keyframe_seen = True
            if self.parameter_sets and not self.faults.on(Fault.SPROP_IGNORED):
                # RFC 6184 §8.1: sprop-parameter-sets precede every other NAL unit.
                access_unit = self.parameter_sets + access_unit
        if self._decoder is None:
            self._decoder = self._decoders.start(f"decoder-{self.name}")
        if not self._decoder.submit(access_unit):
            self.counters.decoder_overrun += 1
            return False
        return True

    def _count_concealed(self, unit: AccessUnit) -> None:
        """The loss_frames_double_counted fault: from a loss until an undamaged keyframe, each
        access unit decoded is counted again as the concealment picture shown in its place."""
        if is_keyframe(unit.data) and not unit.damaged:
            self._concealing = False
        elif self._concealing:
            self._counted_twice += 1

    # -- read ----------------------------------------------------------------------------------

    def bitrate_kbps(self) -> float:
        """The meter now (0 once the call's media has ended)."""
        if self._final is not None:
            return 0.0
        kbps = self.meter.kbps()
        if self.faults.on(Fault.BITRATE_HELD_WHEN_MEDIA_STOPS):
            # The fault: the reading moves only while packets arrive; none keeps the last one.
            self._held_kbps = kbps or self._held_kbps
            return self._held_kbps
        return kbps

    def view(self) -> MediaView:
        """media.json's data for this call: live, or frozen at the end."""
        if self._final is not None:
            return dict(self._final)
        return self._view("active")

    def _view(self, call: str) -> MediaView:
        frames = self._decoder.stats() if self._decoder is not None else FrameStats(0, 0, 0, 0, 0)
        stats = self._depacketizer.stats
        ps = self.encoding == ENCODING_PS
        corrupt = (
            self._ps.stats.dropped + self._demuxer.stats.dropped_access_units
            if ps
            else stats.corrupt
        )
        return {
            "call": call,
            **self.counters.as_dict(),
            "bitrate_kbps": round(self.meter.kbps()) if call == "active" else 0,
            "frames_decoded": frames.frames_decoded + self._counted_twice,
            "width": frames.width,
            "height": frames.height,
            "fps": round(frames.fps, 1) if call == "active" else 0.0,
            "decode_errors": frames.decode_errors,
            "lost": self._tracker.lost,
            "fu_dropped": 0 if ps else stats.fu_dropped,
            "corrupt": corrupt,
            "ssrc": self.ssrc,
            "payload_type": self.payload_type,
            "transport": self.transport,
        }

    # -- end -----------------------------------------------------------------------------------

    def close(self) -> None:
        """The call ended: freeze the counters, stop the decoder thread (idempotent)."""
        if self._final is not None:
            return
        self.final_kbps = self.meter.kbps()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._final = self._view("ended")
        if self._decoder is not None:
            self._decoders.release(self._decoder)
        if any(self.counters.as_dict().values()):
            log.info("%s: media ended: %s", self.name, self._final)
        else:  # a call that got no media (a load test's): a short line, not a record per call
            log.debug("%s: media ended, nothing received", self.name)
