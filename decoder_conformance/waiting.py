"""Deadlines on the monotonic clock, and polling against them.

Every wait in the suite goes through here, so a timeout always says what was expected and what
was last seen, and nothing sleeps "to let things settle". Stopping a process the suite started
(terminate, wait, kill) is here too: device/ and peers/ both start some.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from decoder_conformance.failures import DeviceFailure, NotExercised

T = TypeVar("T")


class WaitTimeout(Exception):
    """A deadline passed before the awaited condition held (the root; raise a subclass)."""


class DeviceTimeout(WaitTimeout, DeviceFailure):
    """The device did not reach the awaited state or send the awaited message in time (failed)."""


class PeerTimeout(WaitTimeout, NotExercised):
    """A peer or tool of the suite did not do its part in time (broken)."""


@dataclass
class Deadline:
    """One monotonic deadline for one operation."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.start + self.seconds - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.start + self.seconds


def poll_until(
    probe: Callable[[], T],
    accept: Callable[[T], bool],
    *,
    timeout: float,
    expected: str,
    interval: float = 0.05,
    timeout_error: type[WaitTimeout] = DeviceTimeout,
) -> T:
    """Call `probe` until `accept(value)` holds; return that value.

    Raises `timeout_error` (DeviceTimeout: what is awaited is the device's doing; PeerTimeout for
    the suite's own peers and tools) naming `expected` and the last value seen.
    """
    deadline = Deadline(timeout)
    seen: list[T] = []
    while True:
        value = probe()
        if accept(value):
            return value
        seen.append(value)
        if deadline.expired:
            last = seen[-1] if seen else "nothing"
            raise timeout_error(
                f"after {timeout:.1f} s: expected {expected}; last seen {last!r} "
                f"({len(seen)} polls)"
            )
        # A poll interval, not a settle delay: the loop ends on the condition or the deadline.
        time.sleep(min(interval, deadline.remaining))


def sample_over(
    probe: Callable[[], T], seconds: float, *, timeout: float, interval: float, expected: str
) -> list[T]:
    """`probe`'s values every `interval` until `seconds` have passed, in order (at least one).

    For a state sampled through a span the case holds open (an answer held back): the span ends
    the sampling; `timeout` (at least `seconds`) bounds it should a probe be slow.
    """
    samples: list[T] = []
    until = time.monotonic() + seconds

    def sample() -> T:
        samples.append(probe())
        return samples[-1]

    poll_until(
        sample,
        lambda _: time.monotonic() >= until,
        timeout=timeout,
        interval=interval,
        expected=expected,
    )
    return samples


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """Terminate, wait up to `grace` s, then kill and wait again: never leave the process behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)
