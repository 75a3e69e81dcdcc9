"""Media benchmark of the reference decoder: meter accuracy and concurrent real-time decoding.

    .venv/bin/python benchmarks/media.py     # prints its figures; exit 1 if a target is missed

1. Meter accuracy: one call receives 640x360 30 fps H.264 at 1000 kbit/s for 12 s. status.json's
   bitrate, sampled every 0.25 s, is compared with the video RTP payload the source actually sent
   (target: the mean over the steady part within 2%). FFmpeg's own estimate of the same stream
   (the sent access units muxed to MP4 with their timestamps and read back by libavformat, the
   code ffprobe uses; the ffprobe binary too, when installed) is printed beside it.
2. Concurrency: N calls at once, each 1280x720 30 fps at 2000 kbit/s for 8 s, N = 1, 2, ...
   A call is decoded in real time when every frame sent was decoded within 1 s of the end of
   its stream and the decoder queue never overflowed. Target: at least 4 calls. The device's CPU
   (cores used) and resident memory per call are printed.

Everything runs on 127.0.0.1: the device is started here on ephemeral ports and stopped at the
end; the senders run in this process and share its two cores with the device, as in CI.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import mean

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from decoder_conformance.contract.catalogue import Catalogue  # noqa: E402
from decoder_conformance.device.accounts import DeviceSip, SipAccount, device_sip_address  # noqa: E402
from decoder_conformance.device.client import DeviceClient  # noqa: E402
from decoder_conformance.device.target import ReferenceProcess, start_reference  # noqa: E402
from decoder_conformance.media.encode import EncodedStream  # noqa: E402
from decoder_conformance.media.sender import RtpSender  # noqa: E402
from decoder_conformance.peers.raw_ua import Leg, RawCaller, h264_offer  # noqa: E402
from decoder_conformance.waiting import WaitTimeout, poll_until  # noqa: E402
from wire import sdp  # noqa: E402

REQ = "LOCAL-BENCH-000"
METER_TARGET = 0.02
CALLS_TARGET = 4
MOST_CALLS = 6  # the senders share the two cores; more says more about them than the device
DEVICE_WINDOW = 2.0  # the reference decoder's meter window (reference_device docs)


@dataclass
class Call:
    """One benchmark call: the account, the caller's dialog and where the media goes."""

    account: SipAccount
    caller: RawCaller
    leg: Leg
    destination: tuple[str, int]
    payload_type: int


def place_call(client: DeviceClient, sip: DeviceSip, number: int) -> Call:
    """An auto-answering account and a confirmed call to it from a raw caller."""
    account_id = client.add_account(f"bench-{number}")
    client.modify_call_cfg(account_id, auto_aws="1")
    client.modify(account_id, localAccount=str(9000 + number), localAddress=sip.bind)
    account = SipAccount(account_id, str(9000 + number), sip)
    caller = RawCaller(f"bench{number}", REQ)
    leg = caller.call(account, h264_offer(caller.media_port, audio=False))
    ok = leg.response(timeout=5.0)
    if ok.status_code != 200:
        raise RuntimeError(f"call {number}: {ok.status_code} {ok.reason}; {leg.flow()}")
    answer = sdp.parse(ok.body)
    index, pt = sdp.find_h264_video(answer)
    connection = answer.media_connection(index)
    assert connection is not None
    leg.ack()
    client.wait_status(
        account_id, lambda s: s.call == "calling", timeout=5.0, expected="call_status calling"
    )
    return Call(account, caller, leg, (connection.address, answer.media[index].port), pt)


def end_call(client: DeviceClient, call: Call) -> None:
    """BYE, close the caller, remove the account."""
    call.leg.bye()
    call.leg.response(200, method="BYE", timeout=5.0)
    call.caller.close()
    client.remove(call.account.id)


def media_stats(client: DeviceClient, account_id: int) -> dict[str, int]:
    """reference/media.json data of the account's call (its counters)."""
    reply = client.call("reference/media", {"id": str(account_id)})
    data = client.expect_ok(reply)
    return {k: int(v) for k, v in data.items() if isinstance(v, int | float)}


def ffmpeg_estimate_kbps(stream: EncodedStream) -> tuple[float, float | None]:
    """libavformat's bit_rate for the stream muxed to MP4, and ffprobe's if it is installed."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        video = out.add_stream("h264", rate=stream.fps)
        video.width, video.height = stream.width, stream.height
        video.time_base = Fraction(1, stream.fps)
        for frame in stream.frames:
            packet = av.Packet(frame.data)
            packet.stream = video
            packet.time_base = Fraction(1, stream.fps)
            packet.pts = packet.dts = frame.index
            packet.is_keyframe = frame.keyframe
            out.mux(packet)
    data = buffer.getvalue()
    with av.open(io.BytesIO(data), "r", format="mp4") as back:
        libav = back.bit_rate / 1000
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return libav, None
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        tmp.write(data)
        tmp.flush()
        shown = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "format=bit_rate", "-of", "json", tmp.name],
            capture_output=True,
            text=True,
            check=True,
        )
    return libav, int(json.loads(shown.stdout)["format"]["bit_rate"]) / 1000


def meter_accuracy(client: DeviceClient, sip: DeviceSip) -> bool:
    """Part 1; True when the target is met."""
    seconds = 12.0
    stream = EncodedStream.cbr(640, 360, 30, 1000, seconds)
    call = place_call(client, sip, 1)
    sender = RtpSender(stream, call.destination, call.payload_type)
    samples: list[tuple[float, float]] = []
    sender.start()
    started = poll_until(
        lambda: sender.started_at,
        lambda t: t is not None,
        timeout=5.0,
        expected="the sender's first frame",
    )
    assert started is not None
    end = started + seconds

    def sample() -> float:
        samples.append((time.monotonic(), client.status(call.account.id).bitrate))
        return samples[-1][0]

    # Sampling cadence: poll_until's interval paces the samples until the stream has ended.
    poll_until(
        sample, lambda t: t >= end, timeout=seconds + 5, expected="the stream's end", interval=0.25
    )
    sender.wait(5.0)
    steady = [(t, kbps) for t, kbps in samples if started + 3.0 <= t <= end]
    reported = mean(kbps for _t, kbps in steady)
    sent = sender.sent_kbps(steady[0][0] - DEVICE_WINDOW, steady[-1][0], ssrc=sender.ssrc)
    error = (reported - sent) / sent
    per_sample = [
        abs(kbps - sender.sent_kbps(t - DEVICE_WINDOW, t, ssrc=sender.ssrc))
        / sender.sent_kbps(t - DEVICE_WINDOW, t, ssrc=sender.ssrc)
        for t, kbps in steady
    ]
    libav, ffprobe = ffmpeg_estimate_kbps(stream)
    end_call(client, call)
    print("meter accuracy (640x360 30 fps, 1000 kbit/s CBR, 12 s, samples every 0.25 s)")
    print(f"  sent (RTP payload)          {sent:8.1f} kbit/s")
    print(
        f"  reported (mean of {len(steady):2d})       {reported:8.1f} kbit/s   error {error:+.2%}"
        f"   (target within {METER_TARGET:.0%})"
    )
    print(
        f"  per sample vs its 2 s window: mean |error| {mean(per_sample):.2%}, "
        f"max {max(per_sample):.2%}"
    )
    print(f"  libavformat estimate (MP4)  {libav:8.1f} kbit/s (the whole stream)")
    shown = "not installed" if ffprobe is None else f"{ffprobe:8.1f} kbit/s"
    print(f"  ffprobe estimate            {shown}")
    return abs(error) <= METER_TARGET


@dataclass
class ProcessSample:
    """CPU seconds and resident memory of a process at one moment."""

    t: float
    cpu: float
    rss_mb: float


def process_sample(pid: int) -> ProcessSample:
    """Read /proc for `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return ProcessSample(time.monotonic(), cpu, rss / 1024)


def concurrent_calls(client: DeviceClient, sip: DeviceSip, pid: int, n: int) -> bool:
    """Part 2 for `n` calls; prints one line; True when every call was decoded in real time."""
    seconds = 8.0
    stream = EncodedStream.cbr(1280, 720, 30, 2000, seconds)
    calls = [place_call(client, sip, 100 + n * 10 + i) for i in range(n)]
    idle = process_sample(pid)
    senders = [RtpSender(stream, c.destination, c.payload_type) for c in calls]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.wait(seconds + 10)
    busy = process_sample(pid)
    sent = senders[0].stats().frames_sent
    decoded = []
    realtime = True
    for call in calls:
        account_id = call.account.id
        try:
            stats = poll_until(
                functools.partial(media_stats, client, account_id),
                lambda s: s["frames_decoded"] >= sent,
                timeout=1.0,
                expected=f"{sent} frames decoded",
            )
        except WaitTimeout:
            stats = media_stats(client, account_id)
            realtime = False
        decoded.append(stats["frames_decoded"])
        realtime &= stats["decoder_overrun"] == 0 and stats["frames_decoded"] == sent
    cores = (busy.cpu - idle.cpu) / (busy.t - idle.t)
    for call in calls:
        end_call(client, call)
    print(
        f"  {n} call(s): frames decoded {decoded} of {sent} each; device CPU {cores:.2f} cores "
        f"({cores / n:.2f} per call); RSS {busy.rss_mb:.0f} MB "
        f"({(busy.rss_mb - idle.rss_mb) / n:+.1f} MB per call while streaming); "
        f"{'real time' if realtime else 'NOT real time'}"
    )
    return realtime


def main() -> int:
    """Run both parts; exit 1 when a target is missed."""
    codes = {name: e.code for name, e in Catalogue().errors.items()}
    with tempfile.TemporaryDirectory() as tmp:
        device: ReferenceProcess = start_reference(
            Path(tmp) / "state", extra_args=("--sip-t1-ms", "50")
        )
        try:
            client = DeviceClient(device.api_url, codes, req=REQ)
            sip = device_sip_address(client, device.api_url)
            meter_ok = meter_accuracy(client, sip)
            print("concurrent 1280x720 30 fps 2000 kbit/s calls decoded in real time (2 cores)")
            best = 0
            for n in range(1, MOST_CALLS + 1):
                if not concurrent_calls(client, sip, device.process.pid, n):
                    break
                best = n
            print(
                f"  most calls decoded in real time: {best} of the {MOST_CALLS} tried "
                f"(target at least {CALLS_TARGET})"
            )
        finally:
            device.stop()
    missed = [name for name, ok in (("meter", meter_ok), ("calls", best >= CALLS_TARGET)) if not ok]
    print("targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
