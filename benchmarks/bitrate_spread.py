"""The clean reference meter's spread at the bitrate case's rates, and the readings' spread.

    .venv/bin/python benchmarks/bitrate_spread.py            # 20 runs per rate (about 2.5 min)
    .venv/bin/python benchmarks/bitrate_spread.py --runs 30

SIP-MED-BR-001 (suites/media/test_bitrate.py) streams a 6 s encode and compares the median of
status.json's bitrate sampled every 0.25 s from 3 s to 6 s with the payload sent over the same
window. This repeats exactly that, RUNS times per rate, against the bundled reference decoder
with no fault: one call per rate (the three at once, as 2-core CI runs them), each sending the
case's encode back to back RUNS times (timestamps and sequence numbers continue, as one call
would), and each repetition's 3-6 s window is judged as the case judges its own. A window at
another offset of the encode is not a run of the case: the error depends on where the encode's
keyframes and VBV swings fall, so judging any 3 s window would measure the content, not the
meter.

It prints per rate the median, p5/p95 and the largest relative error against what the reference
meter counts (RTP payload per 1000 bits, reading `payload_1000`), the largest over all rates, the
tolerance a profile pinning that reading may take from it (the largest error plus MARGIN, rounded
up to 0.5%), and the sent rate under each reading of `bitrate_definition` against payload_1000
at the case's packet sizes (the widest ratio is how far apart the readings lie, what a profile
that pins none must admit). Exit 1 when the derived tolerance is above the one
profiles/reference.toml pins ([media].bitrate_tolerance): the measurement no longer supports it.
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median, quantiles

ROOT = Path(__file__).resolve().parent.parent
# As a script, benchmarks/ is sys.path[0] and its http.py would shadow the standard library's.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

from benchmarks.media import Call, end_call, place_call  # noqa: E402
from decoder_conformance.contract.catalogue import Catalogue  # noqa: E402
from decoder_conformance.device.accounts import DeviceSip, device_sip_address  # noqa: E402
from decoder_conformance.device.client import DeviceClient  # noqa: E402
from decoder_conformance.device.target import start_reference  # noqa: E402
from decoder_conformance.media.bitrate import DEFINITIONS, widest_ratio  # noqa: E402
from decoder_conformance.media.encode import EncodedStream  # noqa: E402
from decoder_conformance.media.sender import RtpSender  # noqa: E402

REQ = "LOCAL-BENCH-000"
#: suites/media/test_bitrate.py's RATES, WARMUP and window (3 s to 6 s of its stream).
RATES = [(500, 640, 360), (1000, 640, 360), (4000, 1280, 720)]
WARMUP = 3.0
SAMPLE_EVERY = 0.25  # the case's sampling cadence
RUNS = 20
STREAM_SECONDS = 6.0  # the case's encode; each repetition is one run
#: Added to the largest error seen: room for a busier machine than the one measured on. 0.5%
#: was not enough: with the other core busy (CI's second worker) the 500 kbit/s case read -1.51%
#: and -1.65% (2026-12-02), the meter lagging behind a starved receive loop.
MARGIN = 0.010
REFERENCE = "payload_1000"  # what the reference decoder's meter counts


@dataclass
class Sampler:
    """status.json's bitrate of one account every SAMPLE_EVERY s, on its own client."""

    client: DeviceClient
    account_id: int
    samples: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.client.status(self.account_id).bitrate))
            next_at += SAMPLE_EVERY
            # The sampling cadence, not a settle delay: stop() ends the wait at once.
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Sampler:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(5.0)


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method) of `values`."""
    return quantiles(values, n=100, method="inclusive")[p - 1]


def run_rate(
    sender: RtpSender, sampler: Sampler, runs: int
) -> tuple[list[float], dict[str, float]]:
    """The relative error of each run, and each reading's rate over the whole measured span."""
    started = sender.started_at
    if started is None:
        raise RuntimeError("the sender never started")
    errors = []
    packets = sender.sent_packets(sender.ssrc)
    for k in range(runs):
        lo = started + k * STREAM_SECONDS + WARMUP
        hi = started + (k + 1) * STREAM_SECONDS
        reported = [kbps for t, kbps in sampler.samples if lo <= t <= hi]
        if len(reported) < 4:
            raise RuntimeError(f"run {k}: {len(reported)} samples in its window")
        sent = DEFINITIONS[REFERENCE].kbps(packets, lo, hi)
        errors.append((median(reported) - sent) / sent)
    span = (started, started + runs * STREAM_SECONDS)
    readings = {name: d.kbps(packets, *span) for name, d in DEFINITIONS.items()}
    return errors, readings


def pinned_tolerance() -> float:
    """The tolerance profiles/reference.toml pins for the reference decoder's meter."""
    profile = tomllib.loads((ROOT / "profiles" / "reference.toml").read_text("utf-8"))
    return float(profile["media"]["bitrate_tolerance"])


def measure(client: DeviceClient, api_url: str, sip: DeviceSip, runs: int) -> bool:
    """Stream every rate at once, judge the windows, print the figures; True if the pin holds."""
    codes = {name: e.code for name, e in Catalogue().errors.items()}
    loops = runs
    streams = [EncodedStream.cbr(w, h, 30, kbps, STREAM_SECONDS) for kbps, w, h in RATES]
    calls: list[Call] = [place_call(client, sip, 300 + i) for i in range(len(RATES))]
    samplers = [Sampler(DeviceClient(api_url, codes, req=REQ), c.account.id).start() for c in calls]
    senders = [
        RtpSender(s, c.destination, c.payload_type, loops=loops)
        for s, c in zip(streams, calls, strict=True)
    ]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.wait(loops * STREAM_SECONDS + 10.0)
    finally:
        for sender in senders:
            sender.stop()
        for sampler in samplers:
            sampler.stop()
    worst = 0.0
    print(
        f"reference meter ({REFERENCE}), {runs} runs per rate of the case's window ({WARMUP:g} s "
        f"to {STREAM_SECONDS:g} s of its encode; median of samples every {SAMPLE_EVERY} s vs "
        "the payload sent)"
    )
    widest: list[float] = []
    table: list[str] = []
    for (kbps, w, h), sender, sampler in zip(RATES, senders, samplers, strict=True):
        errors, readings = run_rate(sender, sampler, runs)
        largest = max(abs(e) for e in errors)
        worst = max(worst, largest)
        print(
            f"  {kbps:5d} kbit/s {w}x{h}: median {median(errors):+.2%}  p5 "
            f"{percentile(errors, 5):+.2%}  p95 {percentile(errors, 95):+.2%}  "
            f"max |error| {largest:.2%}  ({len(errors)} runs)"
        )
        print(f"      runs, sorted: {' '.join(f'{e:+.2%}' for e in sorted(errors))}")
        sizes = [p.payload_size for p in sender.sent_packets(sender.ssrc)]
        base = readings[REFERENCE]
        ratios = "  ".join(f"{n} {v / base:.4f}" for n, v in readings.items())
        table.append(f"  {kbps:5d} kbit/s (mean payload {sum(sizes) / len(sizes):.0f} B): {ratios}")
        widest.append(widest_ratio(readings))
    derived = math.ceil((worst + MARGIN) * 200) / 200
    print(
        f"largest |error| over all rates {worst:.2%}; + {MARGIN:.1%}, rounded up to 0.5%: "
        f"tolerance {derived:.1%}"
    )
    print("each reading's sent rate against payload_1000 over the measured span:")
    print("\n".join(table))
    print(
        f"widest ratio between readings: {max(widest):.4f} (per rate: "
        f"{', '.join(f'{r:.4f}' for r in widest)})"
    )
    for call in calls:
        end_call(client, call)
    pinned = pinned_tolerance()
    print(
        f"profiles/reference.toml pins {pinned:.1%}: "
        f"{'supported' if derived <= pinned else 'NOT supported'} by this measurement"
    )
    return derived <= pinned


def main(argv: list[str]) -> int:
    """Measure; exit 1 when the measured spread does not support the reference profile's pin."""
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else RUNS
    if runs < 20:
        raise SystemExit("at least 20 runs per rate")
    codes = {name: e.code for name, e in Catalogue().errors.items()}
    with tempfile.TemporaryDirectory() as tmp:
        device = start_reference(Path(tmp) / "state", extra_args=("--sip-t1-ms", "50"))
        try:
            client = DeviceClient(device.api_url, codes, req=REQ)
            sip = device_sip_address(client, device.api_url)
            ok = measure(client, device.api_url, sip, runs)
        finally:
            device.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
