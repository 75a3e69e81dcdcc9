"""Unavoidable waits: the time a case must spend because the media or a protocol timer says so.

A case's wall time is judged against the waits it cannot avoid: a bitrate case must stream for
its window, a registration case must let a granted expiry run out, a silence case must hold for
one transaction timeout (64*T1 at the profile's shortest T1). Where such a wait happens it is
declared, and it is accounted into the case that is running:

- ``with unavoidable_wait("why", at_most=s):`` around a wait whose length the protocol sets (the
  interval the block lasted counts, capped at ``at_most`` seconds: a wait that overran a timer by
  the device's slowness is not unavoidable past the timer);
- ``unavoidable(seconds, "why")`` just before a wait of a known length (a sampling span, a hold),
  when wrapping it would take more than one line;
- ``record_wait(start, end, "why", ledger)`` for a wait measured elsewhere, e.g. by the RTP sender
  from its own thread (it takes the ledger with :func:`current_ledger` when it starts).

Each wait is an interval on the monotonic clock. A case's unavoidable time is the length of the
union of its intervals, clipped to the case, so waits that overlap (two streams at once, a timer
wait around a stream) count once. The plugin opens one :class:`WaitLedger` per case
(:func:`case_ledger`) and reads it when the case ends; outside a case (benchmarks, the library's
own tests) nothing is recorded. The current ledger lives in a context variable, not a module
global: a thread the case starts sees none unless it was handed one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Wait:
    """One unavoidable wait: monotonic start and end, and why it cannot be avoided."""

    start: float
    end: float
    why: str

    @property
    def seconds(self) -> float:
        """Its length (never negative)."""
        return max(0.0, self.end - self.start)


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals: overlapping waits count once."""
    total = 0.0
    reach = float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


class WaitLedger:
    """The unavoidable waits of one case; thread-safe (an RTP sender records from its thread)."""

    def __init__(self, start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self.end: float | None = None
        self._lock = threading.Lock()
        self._waits: list[Wait] = []

    def add(self, start: float, end: float, why: str) -> None:
        """Record a wait (ignored if empty or reversed)."""
        if end > start:
            with self._lock:
                self._waits.append(Wait(start, end, why))

    def close(self, end: float | None = None) -> None:
        """The case ended: waits declared past this moment are clipped to it."""
        self.end = time.monotonic() if end is None else end

    @property
    def waits(self) -> tuple[Wait, ...]:
        """Every wait recorded, in the order recorded."""
        with self._lock:
            return tuple(self._waits)

    def _clipped(self, waits: Iterable[Wait]) -> list[tuple[float, float]]:
        stop = float("inf") if self.end is None else self.end
        return [(max(w.start, self.start), min(w.end, stop)) for w in waits]

    def total(self) -> float:
        """Seconds of the case spent in at least one unavoidable wait (union, clipped)."""
        return union_seconds(self._clipped(self.waits))

    def by_reason(self) -> dict[str, float]:
        """Seconds per reason (each reason's own union; reasons may overlap each other)."""
        reasons: dict[str, list[Wait]] = {}
        for wait in self.waits:
            reasons.setdefault(wait.why, []).append(wait)
        return {why: union_seconds(self._clipped(ws)) for why, ws in reasons.items()}


_CURRENT: ContextVar[WaitLedger | None] = ContextVar("unavoidable_waits", default=None)


def current_ledger() -> WaitLedger | None:
    """The running case's ledger, or None outside a case."""
    return _CURRENT.get()


@contextmanager
def case_ledger() -> Iterator[WaitLedger]:
    """Open a ledger for one case (the plugin does, around setup, call and teardown)."""
    ledger = WaitLedger()
    token = _CURRENT.set(ledger)
    try:
        yield ledger
    finally:
        ledger.close()
        _CURRENT.reset(token)


def record_wait(start: float, end: float, why: str, ledger: WaitLedger | None = None) -> None:
    """Record a wait measured from ``start`` to ``end`` (monotonic) into ``ledger`` (default:
    the running case's; nothing happens outside a case)."""
    target = ledger if ledger is not None else current_ledger()
    if target is not None:
        target.add(start, end, why)


def unavoidable(seconds: float, why: str) -> None:
    """Declare that the case now waits ``seconds`` on purpose (a sampling span, a hold)."""
    now = time.monotonic()
    record_wait(now, now + max(0.0, seconds), why)


@contextmanager
def unavoidable_wait(why: str, *, at_most: float | None = None) -> Iterator[None]:
    """Account the time the block takes as unavoidable, at most ``at_most`` seconds of it."""
    start = time.monotonic()
    try:
        yield
    finally:
        end = time.monotonic()
        if at_most is not None:
            end = min(end, start + max(0.0, at_most))
        record_wait(start, end, why)
