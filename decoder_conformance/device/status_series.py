"""The status.json series of accounts, sampled through a case so its evidence shows the path.

A background thread polls status.json on its own client (so the samples do not crowd the case's
HTTP exchanges) until stopped: `StatusRecorder` one account, `AccountsRecorder` every account a
case adds, as it adds them. Each sample keeps the states as the device wrote them (no schema
check: a value outside the page's set is judged by device/status_judge.py, not lost to an
exception) and when its request left and its answer came. The series is evidence (a table of the
changes and a plot attached to the case) and the input of the status judge.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from decoder_conformance.device.client import DeviceClient, Status

#: Seconds between samples: fine enough to see a state that lasts a retransmission interval.
SAMPLE_EVERY = 0.1


@dataclass(frozen=True)
class Sample:
    """One status.json reading (or the error that replaced it): its request left at monotonic
    time `t` and its answer came at `answered` (the device's state is one it held in between)."""

    t: float
    status: Status | None
    error: str = ""
    answered: float = 0.0

    @property
    def until(self) -> float:
        """When the answer came (`t` for a sample made without that time)."""
        return max(self.t, self.answered)

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
            sample = take_sample(self.client, self.account_id)
            with self._lock:
                self.samples.append(sample)
            self._stop.wait(self.every)

    def changes_text(self, start: float | None = None) -> str:
        """A table of the samples where anything but the bitrate value changed, with times."""
        series = self.series()
        origin = (series[0].t if series else 0.0) if start is None else start
        return changes_table(series, origin, self.every)

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


def _state(value: Any) -> str:
    """A state as the device wrote it; a non-string is shown as JSON would (outside every set)."""
    return value if isinstance(value, str) else repr(value)


def read_status(body: Any) -> tuple[Status | None, str]:
    """(the four objects' states as written, "") or (None, why not) from a status.json body.

    Lenient on purpose: only what a series needs (an ok envelope and the four ids with a state);
    the schema of the objects is SIP-API-STAT-001's, their values the status judge's.
    """
    if not isinstance(body, dict) or body.get("result") != "ok":
        return None, f"not an ok answer: {str(body)[:160]}"
    data = body.get("data")
    items = {
        item["id"]: item
        for item in reversed(data if isinstance(data, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str) and "state" in item
    }
    missing = [k for k in ("account_status", "register_status", "call_status") if k not in items]
    if missing:
        return None, f"no state for {', '.join(missing)}: {str(data)[:160]}"
    rate = items.get("bitrate", {}).get("state", 0)
    numeric = isinstance(rate, int | float) and not isinstance(rate, bool)
    return (
        Status(
            account=_state(items["account_status"]["state"]),
            register=_state(items["register_status"]["state"]),
            register_extra=items["register_status"].get("extra_info"),
            call=_state(items["call_status"]["state"]),
            bitrate=float(rate) if numeric else 0.0,
        ),
        "",
    )


def take_sample(client: DeviceClient, account_id: int) -> Sample:
    """One status.json sample of `account_id`; any failure becomes the sample's error."""
    start = time.monotonic()
    try:
        reply = client.call("status", {"id": str(account_id)})
        status, why = read_status(reply.body)
    except Exception as exc:  # a sample records any failure; sampling goes on
        status, why = None, f"{type(exc).__name__}: {exc}"[:200]
    return Sample(start, status, why, time.monotonic())


@dataclass
class AccountsRecorder:
    """Samples status.json of every id `ids()` returns (read each round: a case adds accounts
    as it goes) every `every` seconds, in one thread, between start() and stop()."""

    client: DeviceClient
    ids: Callable[[], Iterable[int]]
    every: float = SAMPLE_EVERY
    _series: dict[int, list[Sample]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> AccountsRecorder:
        """Start sampling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="status-trace", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the sampling thread is still alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> dict[int, list[Sample]]:
        """Stop sampling (waits for the thread; idempotent) and return the series by account."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.timeout + 1.0)
        return self.series()

    def series(self) -> dict[int, list[Sample]]:
        """The samples so far, by account id (in the order the accounts appeared)."""
        with self._lock:
            return {aid: list(samples) for aid, samples in self._series.items()}

    def sample_now(self, account_id: int) -> Sample:
        """Take one sample of `account_id` at once and add it to its series (after stop(): the
        recorder's client is then free)."""
        sample = take_sample(self.client, account_id)
        with self._lock:
            self._series.setdefault(account_id, []).append(sample)
        return sample

    def latest(self, account_id: int) -> Sample | None:
        """The newest sample of `account_id`, if any."""
        with self._lock:
            samples = self._series.get(account_id)
            return samples[-1] if samples else None

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            for account_id in list(dict.fromkeys(self.ids())):
                sample = take_sample(self.client, account_id)
                with self._lock:
                    self._series.setdefault(account_id, []).append(sample)
            next_at += self.every
            # The sampling cadence (a missed round is not made up), not a settle delay.
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic())


def changes_table(series: list[Sample], origin: float, every: float = SAMPLE_EVERY) -> str:
    """A table of the samples where anything but the bitrate value changed, with times."""
    if not series:
        return "no status.json sample was taken"
    lines = ["   t (s)  account_status  register_status  call_status  bitrate"]
    last: tuple[str, ...] | None = None
    for sample in series:
        row = sample.row()
        if row != last:
            lines.append(f"{sample.t - origin:8.2f}  " + "  ".join(f"{c:<15}" for c in row))
            last = row
    lines.append(f"({len(series)} samples every {every} s)")
    return "\n".join(lines)


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
