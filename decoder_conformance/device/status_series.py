"""The status.json series of one account, sampled through a case so its evidence shows the path.

A background thread polls status.json on its own client (so the samples do not crowd the case's
HTTP exchanges) until stopped. The series is evidence (a table of the changes and a bitrate plot
attached to the case); cases judge end states themselves.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

from decoder_conformance.device.client import DeviceClient, Status

#: Seconds between samples: fine enough to see a state that lasts a retransmission interval.
SAMPLE_EVERY = 0.1


@dataclass(frozen=True)
class Sample:
    """One status.json reading (or the error that replaced it) at monotonic time `t`."""

    t: float
    status: Status | None
    error: str = ""

    def row(self) -> tuple[str, ...]:
        """The columns a change table shows."""
        if self.status is None:
            return ("error", self.error)
        s = self.status
        return (s.account, s.register, s.call, "live" if s.bitrate else "0")


@dataclass
class StatusRecorder:
    """Samples status.json of `account_id` every `every` seconds between start() and stop()."""

    client: DeviceClient
    account_id: int
    every: float = SAMPLE_EVERY
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StatusRecorder:
        """Start sampling in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, name=f"status-{self.account_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        """Stop sampling (waits for the thread) and return the series."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.timeout + 1.0)
        return self.series()

    def series(self) -> list[Sample]:
        """The samples so far."""
        with self._lock:
            return list(self.samples)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                sample = Sample(now, self.client.status(self.account_id))
            except Exception as exc:  # a sample records any failure; sampling goes on
                sample = Sample(now, None, f"{type(exc).__name__}: {exc}"[:200])
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(self.every)

    def changes_text(self, start: float | None = None) -> str:
        """A table of the samples where anything but the bitrate value changed, with times."""
        series = self.series()
        if not series:
            return "no status.json sample was taken"
        origin = series[0].t if start is None else start
        lines = ["   t (s)  account_status  register_status  call_status  bitrate"]
        last: tuple[str, ...] | None = None
        for sample in series:
            row = sample.row()
            if row != last:
                lines.append(f"{sample.t - origin:8.2f}  " + "  ".join(f"{c:<15}" for c in row))
                last = row
        lines.append(f"({len(series)} samples every {self.every} s)")
        return "\n".join(lines)

    def bitrates_between(self, start: float, end: float) -> list[float]:
        """The reported bitrates sampled in [start, end] (monotonic times)."""
        return [
            float(s.status.bitrate)
            for s in self.series()
            if s.status is not None and start <= s.t <= end
        ]

    def bitrate_points(self, start: float | None = None) -> list[tuple[float, float]]:
        """(t seconds from `start`, reported kbit/s) for a plot."""
        series = self.series()
        origin = series[0].t if series and start is None else (start or 0.0)
        return [(s.t - origin, float(s.status.bitrate)) for s in series if s.status is not None]


def bitrate_error(reported: list[float], sent_kbps: float, tolerance: float) -> str | None:
    """Why the median of `reported` samples is not within `tolerance` of `sent_kbps` (None: it
    is). Fewer than 4 samples is itself the reason: one reading proves no rate."""
    if len(reported) < 4:
        return f"{len(reported)} status.json samples in the window (at least 4 are needed)"
    if sent_kbps <= 0:
        return f"nothing was sent in the window ({sent_kbps:.0f} kbit/s)"
    value = statistics.median(reported)
    error = (value - sent_kbps) / sent_kbps
    if abs(error) > tolerance:
        return (
            f"median {value:.0f} kbit/s ({error:+.1%}) of the {sent_kbps:.0f} kbit/s sent over "
            f"{len(reported)} samples {[round(r) for r in reported]}"
        )
    return None
