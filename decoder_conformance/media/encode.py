"""The encoder: the test pattern as constant-bitrate H.264, one Annex-B access unit per frame.

:class:`EncodedStream` encodes with PyAV/libx264 as constant bitrate (``nal-hrd=cbr``, maxrate =
minrate = bitrate, VBV buffer half a second, filler data, baseline profile, no B-frames, an IDR
every ``gop_seconds``, no scene-cut IDRs). Encodes are cached per process by their parameters,
so cases that share a stream pay for it once. :meth:`EncodedStream.bitrate_change` joins two
encodes at an IDR.

Measured on the 2-core project machine (busy): 640x360 at 30 fps encodes at 100-250 fps with
``veryfast``, 1280x720 at 50-90 fps (``ultrafast``, chosen automatically from 720p up). With the
VBV buffer at half a second and ``vbv-init=0.5`` every second of a 500 or 1000 kbit/s 640x360
stream, the first included, lands within about 5 % of the target (x264's default fill of 0.9
with a one-second buffer overshoots the first 1-3 s by up to 40 %).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Final

import av

from decoder_conformance.media.pattern import pattern_frame
from wire.h264 import NAL_TYPE_PPS, NAL_TYPE_SPS, is_keyframe, join_annexb, split_annexb

#: Pixel count from which ``preset="auto"`` trades quality for speed (720p and up).
ULTRAFAST_FROM_PIXELS = 1280 * 720
DEFAULT_BUFSIZE_SECONDS = 0.5
#: Initial VBV fill; x264's default 0.9 makes the first 1-3 s overshoot by up to 40 %.
DEFAULT_VBV_INIT = 0.5
#: The NAL unit types of the parameter sets (H.264 §7.4.1.2).
PARAMETER_SETS: Final = (NAL_TYPE_SPS, NAL_TYPE_PPS)


@dataclass(frozen=True)
class EncodedFrame:
    """One access unit: its index in the stream, Annex-B bytes, and whether it holds an IDR."""

    index: int
    data: bytes
    keyframe: bool

    @property
    def size(self) -> int:
        """Octets of the access unit (start codes included)."""
        return len(self.data)


@dataclass(frozen=True)
class Segment:
    """A run of frames encoded by one encoder at one bitrate."""

    first_frame: int
    frames: int
    kbps: int
    preset: str
    encode_seconds: float


def _resolve_preset(preset: str, width: int, height: int) -> str:
    if preset != "auto":
        return preset
    return "ultrafast" if width * height >= ULTRAFAST_FROM_PIXELS else "veryfast"


@functools.lru_cache(maxsize=32)
def _encode_segment(
    width: int,
    height: int,
    fps: int,
    kbps: int,
    *,
    first_frame: int,
    frames: int,
    gop: int,
    preset: str,
    bufsize_kbit: int,
    vbv_init: float,
    slice_max_size: int = 0,
) -> tuple[tuple[EncodedFrame, ...], float]:
    """Encode frames ``first_frame`` .. ``first_frame + frames - 1`` of the pattern; cached.

    ``slice_max_size`` (octets, 0 for no limit) cuts each picture into slices whose NAL units
    fit it: what an RFC 6184 packetization-mode 0 sender needs (no fragmentation there).
    """
    started = time.perf_counter()
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = Fraction(1, fps)
    codec.framerate = Fraction(fps, 1)
    codec.bit_rate = kbps * 1000
    codec.options = {
        "preset": preset,
        "tune": "zerolatency",
        "profile": "baseline",
        "g": str(gop),
        "bf": "0",
        "sc_threshold": "0",
        "maxrate": f"{kbps}k",
        "minrate": f"{kbps}k",
        "bufsize": f"{bufsize_kbit}k",
        "x264-params": f"nal-hrd=cbr:force-cfr=1:scenecut=0:vbv-init={vbv_init}"
        + (f":slice-max-size={slice_max_size}" if slice_max_size else ""),
    }
    units: list[bytes] = []
    for index in range(first_frame, first_frame + frames):
        units.extend(bytes(packet) for packet in codec.encode(pattern_frame(width, height, index)))
    units.extend(bytes(packet) for packet in codec.encode(None))
    if len(units) != frames:
        raise RuntimeError(f"libx264 returned {len(units)} access units for {frames} frames")
    encoded = tuple(
        EncodedFrame(first_frame + i, unit, is_keyframe(unit)) for i, unit in enumerate(units)
    )
    return encoded, time.perf_counter() - started


@dataclass(frozen=True)
class EncodedStream:
    """An H.264 stream encoded ahead of time: one Annex-B access unit per frame.

    Build it with :meth:`cbr` or :meth:`bitrate_change` (both cached per process).
    """

    width: int
    height: int
    fps: int
    gop: int
    frames: tuple[EncodedFrame, ...]
    segments: tuple[Segment, ...]
    #: The picture sizes in stream order when they change (:meth:`resolution_change`), else ().
    sizes: tuple[tuple[int, int], ...] = ()

    @classmethod
    def cbr(
        cls,
        width: int = 640,
        height: int = 360,
        fps: int = 30,
        kbps: int = 1000,
        seconds: float = 3.0,
        *,
        gop_seconds: float = 1.0,
        preset: str = "auto",
        bufsize_seconds: float = DEFAULT_BUFSIZE_SECONDS,
        vbv_init: float = DEFAULT_VBV_INIT,
        slice_max_size: int = 0,
    ) -> EncodedStream:
        """``seconds`` of the pattern at a constant ``kbps`` (kbit/s, 1000 bit).

        ``preset`` ``"auto"`` is ``veryfast`` below 1280x720 and ``ultrafast`` from there on.
        ``bufsize_seconds`` sizes the VBV buffer; ``vbv_init`` is its initial fill. The pattern
        is easy to code: where x264 cannot spend the bitrate (1280x720 at 4000 kbit/s) the
        stream undershoots until the buffer is full and filler data starts (about
        ``(1 - vbv_init) * bufsize``: 3274, 3726, then 4000 kbit/s per second at 0.5; 3800,
        then 4000 at 0.9), where it can (640x360 at 1000 kbit/s) the first second overshoots by
        up to ``vbv_init * bufsize`` (+1 to +3 % at 0.5, +9 % at 0.9). ``slice_max_size`` > 0
        keeps every NAL unit within that many octets (for packetization-mode 0).
        """
        return cls.segmented(
            width,
            height,
            fps,
            [(seconds, kbps)],
            gop_seconds=gop_seconds,
            preset=preset,
            bufsize_seconds=bufsize_seconds,
            vbv_init=vbv_init,
            slice_max_size=slice_max_size,
        )

    @classmethod
    def bitrate_change(
        cls,
        kbps_before: int,
        kbps_after: int,
        change_at: float,
        seconds: float,
        *,
        width: int = 640,
        height: int = 360,
        fps: int = 30,
        gop_seconds: float = 1.0,
        preset: str = "auto",
        bufsize_seconds: float = DEFAULT_BUFSIZE_SECONDS,
        vbv_init: float = DEFAULT_VBV_INIT,
    ) -> EncodedStream:
        """``kbps_before`` for the first ``change_at`` seconds, then ``kbps_after``.

        The second encoder starts at frame ``change_at * fps`` with an IDR (SPS and PPS
        included), so the join is decodable and the frame counter continues across it.
        """
        if not 0 < change_at < seconds:
            raise ValueError(f"change_at {change_at} s must lie inside the {seconds} s stream")
        return cls.segmented(
            width,
            height,
            fps,
            [(change_at, kbps_before), (seconds - change_at, kbps_after)],
            gop_seconds=gop_seconds,
            preset=preset,
            bufsize_seconds=bufsize_seconds,
            vbv_init=vbv_init,
        )

    @classmethod
    def segmented(
        cls,
        width: int,
        height: int,
        fps: int,
        segments: Sequence[tuple[float, int]],
        *,
        gop_seconds: float = 1.0,
        preset: str = "auto",
        bufsize_seconds: float = DEFAULT_BUFSIZE_SECONDS,
        vbv_init: float = DEFAULT_VBV_INIT,
        slice_max_size: int = 0,
    ) -> EncodedStream:
        """Consecutive ``(seconds, kbps)`` segments, each from its own encoder, joined at IDRs."""
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"resolution {width}x{height} must be positive and even (4:2:0)")
        if not 1 <= fps <= 240:
            raise ValueError(f"fps {fps} is outside 1-240")
        if not segments:
            raise ValueError("a stream needs at least one (seconds, kbps) segment")
        if not 0.0 < vbv_init <= 1.0:
            raise ValueError(f"vbv_init {vbv_init} is outside (0, 1]")
        gop = round(gop_seconds * fps)
        if gop < 1:
            raise ValueError(f"gop_seconds {gop_seconds} is less than one frame at {fps} fps")
        resolved = _resolve_preset(preset, width, height)
        frames: list[EncodedFrame] = []
        parts: list[Segment] = []
        for seconds, kbps in segments:
            count = round(seconds * fps)
            if count < 1 or abs(count - seconds * fps) > 1e-6:
                raise ValueError(f"segment of {seconds} s is not a whole number of frames at {fps}")
            if not 16 <= kbps <= 100_000:
                raise ValueError(f"bitrate {kbps} kbit/s is outside 16-100000")
            bufsize = max(1, round(kbps * bufsize_seconds))
            encoded, took = _encode_segment(
                width,
                height,
                fps,
                kbps,
                first_frame=len(frames),
                frames=count,
                gop=gop,
                preset=resolved,
                bufsize_kbit=bufsize,
                vbv_init=vbv_init,
                slice_max_size=slice_max_size,
            )
            parts.append(Segment(len(frames), count, kbps, resolved, took))
            frames.extend(encoded)
        return cls(width, height, fps, gop, tuple(frames), tuple(parts))

    @classmethod
    def resolution_change(
        cls,
        before: tuple[int, int],
        after: tuple[int, int],
        change_at: float,
        seconds: float,
        *,
        fps: int = 30,
        kbps: int = 1000,
    ) -> EncodedStream:
        """``before`` (width, height) for ``change_at`` seconds, then ``after``: the second
        encoder starts with an IDR carrying its new SPS and PPS, as a source that changes its
        picture size mid-call sends it. :attr:`width`/:attr:`height` are the size *after* the
        change (the one a decoder shows at the end); :attr:`sizes` gives both.
        """
        if not 0 < change_at < seconds:
            raise ValueError(f"change_at {change_at} s must lie inside the {seconds} s stream")
        first = cls.cbr(*before, fps, kbps, change_at)
        count = round((seconds - change_at) * fps)
        if count < 1 or abs(count - (seconds - change_at) * fps) > 1e-6:
            raise ValueError(f"{seconds - change_at} s after the change is not whole frames")
        preset = _resolve_preset("auto", *after)
        # The second encoder continues the pattern's frame numbers (and starts with an IDR).
        tail, took = _encode_segment(
            *after,
            fps,
            kbps,
            first_frame=len(first.frames),
            frames=count,
            gop=first.gop,
            preset=preset,
            bufsize_kbit=max(1, round(kbps * DEFAULT_BUFSIZE_SECONDS)),
            vbv_init=DEFAULT_VBV_INIT,
        )
        segment = Segment(len(first.frames), count, kbps, preset, took)
        return cls(
            after[0],
            after[1],
            fps,
            first.gop,
            first.frames + tail,
            (*first.segments, segment),
            sizes=(before, after),
        )

    # -- parameter sets (RFC 6184 §8.1 sprop-parameter-sets) -------------------------------------

    def parameter_sets(self) -> tuple[bytes, ...]:
        """The SPS and PPS NAL units of the first keyframe (without start codes), in order."""
        for frame in self.frames:
            if frame.keyframe:
                return tuple(
                    nal for nal in split_annexb(frame.data) if nal[0] & 0x1F in PARAMETER_SETS
                )
        return ()

    def without_parameter_sets(self) -> EncodedStream:
        """The same stream with every SPS and PPS NAL unit taken out of the access units, as a
        sender that gives them only in ``sprop-parameter-sets`` sends it."""
        frames = tuple(
            EncodedFrame(
                f.index,
                join_annexb([n for n in split_annexb(f.data) if n[0] & 0x1F not in PARAMETER_SETS]),
                f.keyframe,
            )
            for f in self.frames
        )
        return replace(self, frames=frames)

    # -- figures from the access units -------------------------------------------------------

    @property
    def duration(self) -> float:
        """Seconds of media."""
        return len(self.frames) / self.fps

    @property
    def total_bytes(self) -> int:
        """Octets of all access units (Annex-B, start codes included)."""
        return sum(f.size for f in self.frames)

    @property
    def keyframe_indices(self) -> list[int]:
        """Indices of the frames holding an IDR."""
        return [f.index for f in self.frames if f.keyframe]

    @property
    def encode_seconds(self) -> float:
        """Wall time the encodes took when they were first made (cached since)."""
        return sum(s.encode_seconds for s in self.segments)

    def kbps_per_second(self) -> list[float]:
        """Bitrate of each whole second of media from the access-unit sizes (kbit/s, 1000 bit).

        Counts Annex-B bytes; RTP carries each NAL unit without its start code, so the payload
        is a little smaller (4 octets per NAL unit, plus STAP-A/FU-A headers the other way).
        """
        whole = len(self.frames) // self.fps
        return [
            sum(f.size for f in self.frames[s * self.fps : (s + 1) * self.fps]) * 8 / 1000
            for s in range(whole)
        ]
