"""Test helpers: an in-memory H.264 stream, RTP packets of it, a paced sender, and a call.

Self-contained on purpose (PyAV, ``wire/`` and the plain-socket SIP peer of
``tests/reference_sip/peer.py``): these tests check the reference decoder's media path, not the
suite's media source.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np
import requests

from tests.reference_device.sip.peer import LOCAL, Device, Dialog, Peer
from wire import sdp, sip
from wire.h264 import Packetizer, is_keyframe, split_annexb
from wire.rtp import RtpPacket
from wire.rtp_tcp import frame as rfc4571_frame

FPS = 30
MTU = 1188
CLOCK = 90_000
WIDTH, HEIGHT = 640, 360

Json = dict[str, Any]


def encode(seconds: float = 3.0, kbps: int = 1000) -> list[bytes]:
    """Access units (Annex-B) of a moving pattern: 640x360, 30 fps, CBR, baseline, one IDR."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base = Fraction(1, FPS)
    encoder.framerate = Fraction(FPS, 1)
    encoder.bit_rate = kbps * 1000
    encoder.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "bf": "0",
        "profile": "baseline",
        "maxrate": f"{kbps}k",
        "minrate": f"{kbps}k",
        "bufsize": f"{kbps}k",
        "x264-params": "nal-hrd=cbr:force-cfr=1:scenecut=0",
    }
    rng = np.random.default_rng(7)
    columns = np.arange(WIDTH, dtype=np.int64)[None, :]
    units: list[bytes] = []
    for index in range(round(seconds * FPS)):
        image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        image[:, :, 0] = (columns + 4 * index) % 256
        image[:, :, 1] = (np.arange(HEIGHT)[:, None] + 2 * index) % 256
        left = (5 * index) % (WIDTH - 100)
        image[100:200, left : left + 100] = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        units.extend(bytes(p) for p in encoder.encode(frame))
    units.extend(bytes(p) for p in encoder.encode(None))
    assert is_keyframe(units[0])
    return units


@dataclass
class RtpStream:
    """RTP packets for access units: random SSRC, sequence and timestamp starts (RFC 3550)."""

    payload_type: int = 96
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    seq: int = field(default_factory=lambda: secrets.randbits(16))
    timestamp: int = field(default_factory=lambda: secrets.randbits(32))
    packetizer: Packetizer = field(default_factory=lambda: Packetizer(mtu=MTU))

    def frame(self, access_unit: bytes, index: int) -> list[RtpPacket]:
        """The packets of frame `index`."""
        ts = (self.timestamp + index * CLOCK // FPS) & 0xFFFFFFFF
        packets = []
        for payload in self.packetizer.packetize(split_annexb(access_unit)):
            packets.append(
                RtpPacket(
                    self.payload_type, self.seq, ts, self.ssrc, payload.payload, payload.marker
                )
            )
            self.seq = (self.seq + 1) & 0xFFFF
        return packets


@dataclass
class SentLog:
    """Ground truth: (monotonic send time, RTP payload bytes) of every accepted-kind packet."""

    entries: list[tuple[float, int]] = field(default_factory=list)
    frames: int = 0
    first: float | None = None

    def add(self, at: float, size: int) -> None:
        if self.first is None:
            self.first = at
        self.entries.append((at, size))

    @property
    def total(self) -> int:
        return sum(size for _, size in self.entries)

    def kbps_like_the_meter(self, at: float, window: float = 2.0) -> float:
        """What the device's meter should read at `at`: bytes in the window over its span."""
        assert self.first is not None
        span = min(window, max(0.5, at - self.first))
        sent = sum(size for t, size in self.entries if at - span < t <= at)
        return sent * 8 / span / 1000


Send = Callable[[bytes], object]


def pace(
    units: list[bytes],
    stream: RtpStream,
    send: Send,
    log: SentLog,
    *,
    keep: Callable[[int], bool] = lambda n: True,
    after_frame: Callable[[int, float], None] | None = None,
    extra: Callable[[RtpPacket], list[bytes]] | None = None,
) -> None:
    """Send each access unit at start + i/30 s on the monotonic clock.

    The wait before each frame is real-time pacing of a live source, not a settle sleep.
    `keep(n)` decides whether the n-th packet is sent (loss); `extra(packet)` returns datagrams
    sent right after it (hostile copies, not counted in `log`); `after_frame(i, start)` runs
    after frame i (a status probe).
    """
    start = time.monotonic()
    number = 0
    for index, unit in enumerate(units):
        delay = start + index / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing: frame i leaves at start + i/30
        for packet in stream.frame(unit, index):
            number += 1
            if keep(number):
                send(packet.to_bytes())
                log.add(time.monotonic(), len(packet.payload))
            for datagram in extra(packet) if extra is not None else ():
                send(datagram)
        log.frames += 1
        if after_frame is not None:
            after_frame(index, start)


def offer(port: int, payload_type: int = 96, *, tcp: bool = False) -> bytes:
    """A sendonly H.264 offer on `port` (RTP/AVP, or TCP/RTP/AVP with a=setup:active)."""
    return sdp.h264_offer(
        host=LOCAL,
        video_port=port,
        payload_type=payload_type,
        fmtp="packetization-mode=1",
        tcp=tcp,
        username="cam",
        session_id=1,
        session_version=1,
    ).to_bytes()


@dataclass
class Call:
    """A call from a plain-socket caller to the device, with the caller's media socket."""

    dev: Device
    peer: Peer
    dialog: Dialog
    ok: sip.SipResponse
    answer: sdp.MediaDescription
    media: socket.socket
    target: tuple[str, int]

    def send(self, datagram: bytes) -> None:
        """One datagram to the port in the device's answer."""
        self.media.sendto(datagram, self.target)

    def ack(self) -> None:
        """ACK the 2xx: the call is confirmed."""
        self.dialog.ack()
        self.dev.wait_state("call_status", "calling")

    def bye(self) -> None:
        """BYE and its 200."""
        self.dialog.bye()
        self.peer.response(200, "BYE")

    def close(self) -> None:
        self.media.close()
        self.peer.close()


def place_call(dev: Device, *, payload_type: int = 96, tcp: bool = False, ack: bool = True) -> Call:
    """An auto-answered call with a real local media port; ACKed unless `ack` is False."""
    dev.ok("modify_call_cfg", id="1", auto_aws="1")
    peer = Peer()
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    media = socket.socket(socket.AF_INET, kind)
    media.bind((LOCAL, 0))
    dialog = Dialog(peer, dev.sip_port())
    dialog.invite(offer(media.getsockname()[1], payload_type, tcp=tcp))
    ok = peer.response(200)
    dialog.take_tag(ok)
    description = sdp.parse(ok.body)
    video = next(m for m in description.media if m.media == "video" and m.port != 0)
    connection = description.media_connection(description.media.index(video))
    assert connection is not None
    call = Call(dev, peer, dialog, ok, video, media, (connection.address, video.port))
    if ack:
        call.ack()
    return call


def media_json(dev: Device, account_id: str = "1", method: str = "GET") -> Json:
    """reference/media.json (the whole body)."""
    url = f"{dev.process.api_url}/reference/media.json"
    if method == "POST":
        body: Json = requests.post(url, data={"id": account_id}, timeout=5).json()
    else:
        body = requests.get(url, params={"id": account_id}, timeout=5).json()
    return body


def media_data(dev: Device) -> Json:
    """reference/media.json's data for account 1."""
    body = media_json(dev)
    assert body["result"] == "ok", body
    data: Json = body["data"]
    return data


def bitrate(dev: Device) -> int:
    """status.json `bitrate` state."""
    value = dev.state("bitrate")
    assert isinstance(value, int)
    return value


def tcp_frames(packets: list[RtpPacket]) -> bytes:
    """RFC 4571 frames of `packets`, concatenated."""
    return b"".join(rfc4571_frame(p.to_bytes()) for p in packets)
