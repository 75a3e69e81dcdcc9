"""Media benchmark of the reference decoder: meter accuracy and concurrent real-time decoding.

    .venv/bin/python benchmarks/media.py         # prints its figures; exit 1 if a target is missed
    .venv/bin/python benchmarks/media.py --ps    # the GB28181 PS parts (3 and 4) only
    .venv/bin/python benchmarks/media.py --h264  # the H.264 parts (1 and 2) only
    .venv/bin/python benchmarks/media.py --most 12  # try up to 12 concurrent calls (default 6)

1. Meter accuracy: one call receives 640x360 30 fps H.264 at 1000 kbit/s for 12 s. status.json's
   bitrate, sampled every 0.25 s, is compared with the video RTP payload the source actually sent
   (target: the mean over the steady part within 2%). FFmpeg's own estimate of the same stream
   (the sent access units muxed to MP4 with their timestamps and read back by libavformat, the
   code ffprobe uses; the ffprobe binary too, when installed) is printed beside it.
2. Concurrency: N calls at once, each 1280x720 30 fps at 2000 kbit/s for 8 s, N = 1, 2, ...
   A call is decoded in real time when every frame sent was decoded within 1 s of the end of
   its stream and the decoder queue never overflowed. Target: at least 4 calls. The device's CPU
   (cores used) and resident memory per call are printed.

3. PS meter accuracy: the same as part 1 for a GB28181 call. A gb28181 account registers to the
   suite's platform (peers/gb_platform.py), which calls it with `play()` (third-party call
   control over UDP, then an INVITE with an offer over TCP, the device passive) and sends
   640x360 30 fps H.264 at 1000 kbit/s as PS over RTP for 12 s. status.json's bitrate is compared
   with the PS payload sent (`sender.sent_kbps`: RTP payload, PS headers included; target within
   2%), and the PS overhead over the H.264 access units is printed.
4. PS concurrency: N GB28181 calls at once (one gb28181 account each, all registered to one
   platform), 1280x720 30 fps 2000 kbit/s for 8 s, judged as in part 2.

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
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import mean

import av

ROOT = Path(__file__).resolve().parent.parent
# As a script, benchmarks/ is sys.path[0] and its http.py would shadow the standard library's.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

from decoder_conformance.contract.catalogue import Catalogue  # noqa: E402
from decoder_conformance.device.accounts import DeviceSip, SipAccount, device_sip_address  # noqa: E402
from decoder_conformance.device.client import DeviceClient  # noqa: E402
from decoder_conformance.device.target import ReferenceProcess, start_reference  # noqa: E402
from decoder_conformance.media.encode import EncodedStream  # noqa: E402
from decoder_conformance.media.sender import RtpSender  # noqa: E402
from decoder_conformance.peers.gb.invite import GbPlay, MediaTransport, Style  # noqa: E402
from decoder_conformance.peers.gb_platform import GbPlatform  # noqa: E402
from decoder_conformance.peers.raw_ua import Leg, RawCaller, h264_offer  # noqa: E402
from decoder_conformance.waiting import WaitTimeout, poll_until  # noqa: E402
from wire import gb_id, sdp  # noqa: E402

REQ = "LOCAL-BENCH-000"
METER_TARGET = 0.02
CALLS_TARGET = 4
MOST_CALLS = 6  # the senders share the two cores; more says more about them than the device
DEVICE_WINDOW = 2.0  # the reference decoder's meter window (reference_device docs)
#: Part 3's calls: the standard's third-party call control over UDP, an offer over TCP.
PS_METER_RUNS: tuple[tuple[Style, MediaTransport], ...] = (
    ("third_party", "udp"),
    ("offer", "tcp_passive"),
)


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
    started = first_frame_at(sender)
    end = started + seconds

    def sample() -> float:
        samples.append((time.monotonic(), client.status(call.account.id).bitrate))
        return samples[-1][0]

    # Sampling cadence: poll_until's interval paces the samples until the stream has ended.
    poll_until(
        sample, lambda t: t >= end, timeout=seconds + 5, expected="the stream's end", interval=0.25
    )
    sender.wait(5.0)
    steady, reported, sent, error, per_sample = meter_error(samples, sender, started, end)
    libav, ffprobe = ffmpeg_estimate_kbps(stream)
    end_call(client, call)
    print("meter accuracy (640x360 30 fps, 1000 kbit/s CBR, 12 s, samples every 0.25 s)")
    print(f"  sent (RTP payload)          {sent:8.1f} kbit/s")
    print_meter_error(len(steady), reported, error, per_sample)
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
    decoded, realtime = judge_realtime(client, [c.account.id for c in calls], sent)
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


# --- GB28181: PS over RTP from the platform peer --------------------------------------------------


@dataclass
class GbCall:
    """One benchmark GB28181 call: the gb28181 account, its device ID and the platform's call."""

    account_id: int
    device_id: str
    play: GbPlay


def gb_account(
    client: DeviceClient, sip: DeviceSip, platform: GbPlatform, number: int
) -> tuple[int, str]:
    """A gb28181 account registering to `platform` (the page's fields, as the suite sets them)."""
    device_id = gb_id.make_id(gb_id.TYPE_DECODER, 500_000 + number)
    account_id = client.add_account(f"bench-gb-{number}", "gb28181")
    client.modify_call_cfg(account_id, type="gb28181", auto_aws="1")
    client.modify(
        account_id,
        type="gb28181",
        localAccount=device_id,
        localAddress=sip.bind,
        serverId=platform.platform_id,
        realm=platform.domain,
        registerServer=platform.host,
        registerPort=str(platform.port),
        username=device_id,
        password=platform.password,
    )
    platform.wait_registered(device_id, timeout=15.0)
    return account_id, device_id


def place_gb_call(
    client: DeviceClient,
    sip: DeviceSip,
    platform: GbPlatform,
    number: int,
    *,
    style: Style = "third_party",
    transport: MediaTransport | None = "udp",
) -> GbCall:
    """A registered gb28181 account and a confirmed PS call from the platform to it."""
    account_id, device_id = gb_account(client, sip, platform, number)
    play = platform.play(device_id, style=style, transport=transport, timeout=10.0)
    if not play.answered or play.media_error is not None:
        raise RuntimeError(
            f"GB call {number}: {play.code}, media: {play.media_error}\n{play.describe()}"
        )
    violations = play.violations()
    if violations:
        print(f"  (the call broke {len(violations)} duties: {[v.code for v in violations]})")
    client.wait_status(
        account_id, lambda s: s.call == "calling", timeout=5.0, expected="call_status calling"
    )
    return GbCall(account_id, device_id, play)


def end_gb_call(client: DeviceClient, call: GbCall) -> None:
    """BYE (the 200 checked by the platform), remove the account."""
    call.play.close()
    client.remove(call.account_id)


def meter_error(
    samples: list[tuple[float, float]], sender: RtpSender, started: float, end: float
) -> tuple[list[tuple[float, float]], float, float, float, list[float]]:
    """The steady samples (3 s after the start to `end`), their mean, what was sent over them,
    the mean's relative error, and each sample's error against its own meter window."""
    steady = [(t, kbps) for t, kbps in samples if started + 3.0 <= t <= end]
    reported = mean(kbps for _t, kbps in steady)
    sent = sender.sent_kbps(steady[0][0] - DEVICE_WINDOW, steady[-1][0], ssrc=sender.ssrc)
    per_sample = [
        abs(kbps - sender.sent_kbps(t - DEVICE_WINDOW, t, ssrc=sender.ssrc))
        / sender.sent_kbps(t - DEVICE_WINDOW, t, ssrc=sender.ssrc)
        for t, kbps in steady
    ]
    return steady, reported, sent, (reported - sent) / sent, per_sample


def print_meter_error(samples: int, reported: float, error: float, per_sample: list[float]) -> None:
    """The reported bitrate's lines of a meter-accuracy figure."""
    print(
        f"  reported (mean of {samples:2d})       {reported:8.1f} kbit/s   error {error:+.2%}"
        f"   (target within {METER_TARGET:.0%})"
    )
    print(
        f"  per sample vs its 2 s window: mean |error| {mean(per_sample):.2%}, "
        f"max {max(per_sample):.2%}"
    )


def first_frame_at(sender: RtpSender) -> float:
    """The monotonic time the sender sent its first frame (waits up to 5 s for it)."""
    started = poll_until(
        lambda: sender.started_at,
        lambda t: t is not None,
        timeout=5.0,
        expected="the sender's first frame",
    )
    assert started is not None
    return started


def sample_bitrate(
    client: DeviceClient, account_id: int, end: float, seconds: float
) -> list[tuple[float, float]]:
    """status.json's bitrate every 0.25 s until `end` (monotonic)."""
    samples: list[tuple[float, float]] = []

    def sample() -> float:
        samples.append((time.monotonic(), client.status(account_id).bitrate))
        return samples[-1][0]

    # Sampling cadence: poll_until's interval paces the samples until the stream has ended.
    poll_until(
        sample, lambda t: t >= end, timeout=seconds + 5, expected="the stream's end", interval=0.25
    )
    return samples


def ps_meter_accuracy(
    client: DeviceClient, sip: DeviceSip, number: int, style: Style, transport: MediaTransport
) -> bool:
    """Part 3 for one style and transport; True when the target is met."""
    seconds = 12.0
    stream = EncodedStream.cbr(640, 360, 30, 1000, seconds)
    with GbPlatform() as platform:
        call = place_gb_call(client, sip, platform, number, style=style, transport=transport)
        sender = call.play.send(1000, seconds, stream=stream)
        started = first_frame_at(sender)
        samples = sample_bitrate(client, call.account_id, started + seconds, seconds)
        sender.wait(5.0)
        end_gb_call(client, call)
    steady, reported, sent, error, per_sample = meter_error(
        samples, sender, started, started + seconds
    )
    h264 = sum(len(f.data) for f in stream.frames)
    ps = sum(f.pack_size for f in sender.frames)
    print(f"PS meter accuracy, {style} over {transport} (640x360 30 fps, 1000 kbit/s, 12 s)")
    print(
        f"  sent (PS payload of RTP)    {sent:8.1f} kbit/s   (PS over H.264: {ps / h264 - 1:+.2%})"
    )
    print_meter_error(len(steady), reported, error, per_sample)
    return abs(error) <= METER_TARGET


def concurrent_ps_calls(client: DeviceClient, sip: DeviceSip, pid: int, n: int) -> bool:
    """Part 4 for `n` calls; prints one line; True when every call was decoded in real time."""
    seconds = 8.0
    stream = EncodedStream.cbr(1280, 720, 30, 2000, seconds)
    with GbPlatform() as platform:
        calls = [place_gb_call(client, sip, platform, 100 + n * 10 + i) for i in range(n)]
        idle = process_sample(pid)
        senders = [c.play.send(2000, seconds, stream=stream) for c in calls]
        for sender in senders:
            sender.wait(seconds + 10)
        busy = process_sample(pid)
        sent = senders[0].stats().frames_sent
        decoded, realtime = judge_realtime(client, [c.account_id for c in calls], sent)
        for call in calls:
            end_gb_call(client, call)
    cores = (busy.cpu - idle.cpu) / (busy.t - idle.t)
    print(
        f"  {n} PS call(s): frames decoded {decoded} of {sent} each; device CPU {cores:.2f} cores "
        f"({cores / n:.2f} per call); RSS {busy.rss_mb:.0f} MB "
        f"({(busy.rss_mb - idle.rss_mb) / n:+.1f} MB per call while streaming); "
        f"{'real time' if realtime else 'NOT real time'}"
    )
    return realtime


def judge_realtime(
    client: DeviceClient, account_ids: list[int], sent: int
) -> tuple[list[int], bool]:
    """Frames decoded per account, and whether every call decoded all `sent` frames within 1 s
    of the end of its stream with no decoder overrun."""
    decoded = []
    realtime = True
    for account_id in account_ids:
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
    return decoded, realtime


def most_calls(label: str, run: Callable[[int], bool], most: int = MOST_CALLS) -> int:
    """N = 1, 2, ... `most` until a run is not real time; the largest N that was."""
    print(f"concurrent 1280x720 30 fps 2000 kbit/s {label} decoded in real time (2 cores)")
    best = 0
    for n in range(1, most + 1):
        if not run(n):
            break
        best = n
    print(
        f"  most {label} decoded in real time: {best} of the {most} tried "
        f"(target at least {CALLS_TARGET})"
    )
    return best


def main(argv: list[str]) -> int:
    """Run the parts asked for (all by default); exit 1 when a target is missed."""
    h264 = "--ps" not in argv
    ps = "--h264" not in argv
    most = int(argv[argv.index("--most") + 1]) if "--most" in argv else MOST_CALLS
    codes = {name: e.code for name, e in Catalogue().errors.items()}
    results: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        device: ReferenceProcess = start_reference(
            Path(tmp) / "state", extra_args=("--sip-t1-ms", "50")
        )
        try:
            client = DeviceClient(device.api_url, codes, req=REQ)
            sip = device_sip_address(client, device.api_url)
            pid = device.process.pid
            if h264:
                results.append(("meter", meter_accuracy(client, sip)))
                best = most_calls(
                    "calls", functools.partial(concurrent_calls, client, sip, pid), most
                )
                results.append(("calls", best >= CALLS_TARGET))
            if ps:
                for number, (style, transport) in enumerate(PS_METER_RUNS, 1):
                    ok = ps_meter_accuracy(client, sip, number, style, transport)
                    results.append((f"PS meter ({style}, {transport})", ok))
                best = most_calls(
                    "PS calls", functools.partial(concurrent_ps_calls, client, sip, pid), most
                )
                results.append(("PS calls", best >= CALLS_TARGET))
        finally:
            device.stop()
    missed = [name for name, ok in results if not ok]
    print("targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
