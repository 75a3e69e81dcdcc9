"""Bitrate meter: kbit/s of payload bytes over a sliding window on the monotonic clock.

What is counted is decided by the caller (:mod:`.session` adds the RTP payload of every packet it
releases in sequence order). The rate is ``bytes * 8 / span / 1000`` where ``span`` is the window
(2.0 s), or - during the first window of a stream - the time since the first byte (at least
``MIN_SPAN``), so the reading is right from the first second instead of ramping up for 2 s.
Once bytes stop arriving the reading falls to 0 when the last of them leaves the window, i.e.
at most ``window`` seconds later.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

WINDOW: Final = 2.0
#: The shortest span a rate is computed over (the first packets of a stream).
MIN_SPAN: Final = 0.5
#: Arrivals closer than this are summed into one entry (bounds memory under a flood).
BUCKET: Final = 0.001


class BitrateMeter:
    """Bytes added with :meth:`add`; :meth:`kbps` is the rate over the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError(f"window {window} must be positive")
        self.window = window
        self._clock = clock
        self._entries: deque[tuple[float, int]] = deque()  # (arrival time, bytes)
        self._in_window = 0
        self._first: float | None = None

    def add(self, count: int, now: float | None = None) -> None:
        """Count ``count`` bytes arriving at ``now`` (the clock when None)."""
        at = self._clock() if now is None else now
        if self._first is None:
            self._first = at
        entries = self._entries
        if entries and at - entries[-1][0] < BUCKET:
            first_at, summed = entries.pop()
            entries.append((first_at, summed + count))
        else:
            entries.append((at, count))
        self._in_window += count
        self._expire(at)

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        entries = self._entries
        while entries and entries[0][0] <= horizon:
            self._in_window -= entries.popleft()[1]

    def bytes_in_window(self, now: float | None = None) -> int:
        """Bytes that arrived in ``(now - window, now]``."""
        self._expire(self._clock() if now is None else now)
        return self._in_window

    def kbps(self, now: float | None = None) -> float:
        """kbit/s over the window (over the time since the first byte, during the first window)."""
        at = self._clock() if now is None else now
        count = self.bytes_in_window(at)
        if count == 0 or self._first is None:
            return 0.0
        span = min(self.window, max(MIN_SPAN, at - self._first))
        return count * 8 / span / 1000
