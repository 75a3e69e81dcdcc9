"""The judgements of media cases (suites/media) as functions of what a case observed: the
decoder's counters after a stream, the bitrate samples of a window, so a project test can feed
them a recorded bad observation and see them fail (tests/decoder_conformance/
test_negative_controls_media.py, counted by tests/test_negative_controls.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def decoded_all_problem(
    stats: Mapping[str, Any], frames_sent: int, packets_sent: int
) -> str | None:
    """Every frame sent decoded from every packet sent: reference/media.json's frames_decoded and
    packets (`stats`) equal what the sender sent. What was observed, None when they do."""
    if stats["frames_decoded"] == frames_sent and stats["packets"] == packets_sent:
        return None
    return f"frames_decoded {stats['frames_decoded']}, packets {stats['packets']}"


def early_media_reading(window: Sequence[float]) -> str:
    """The reading of early_media_counted the bitrate samples taken between the first RTP sent
    after the device's 200 and the ACK follow: `counted` when any is non-zero, else
    `not_counted`. Every series is one of the two: only a profile pinning one fails the other."""
    return "counted" if any(kbps for kbps in window) else "not_counted"
