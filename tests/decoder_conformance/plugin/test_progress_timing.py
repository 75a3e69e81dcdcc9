"""The ledger of unavoidable waits (contract/timing.py) and how the plugin reads it per case."""

from __future__ import annotations

import contextvars
import socket
import threading

import pytest

from decoder_conformance.contract.timing import (
    WaitLedger,
    case_ledger,
    current_ledger,
    record_wait,
    unavoidable,
    unavoidable_wait,
    union_seconds,
)
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import RtpSender


def test_union_counts_overlapping_waits_once() -> None:
    assert union_seconds([]) == 0.0
    assert union_seconds([(0, 2), (1, 3)]) == pytest.approx(3.0)
    assert union_seconds([(0, 1), (2, 3)]) == pytest.approx(2.0)
    assert union_seconds([(0, 10), (2, 3), (4, 5)]) == pytest.approx(10.0)
    assert union_seconds([(5, 6), (0, 1), (0.5, 5.5)]) == pytest.approx(6.0)


def test_a_ledger_clips_waits_to_the_case() -> None:
    ledger = WaitLedger(start=100.0)
    ledger.add(90.0, 102.0, "began before the case")
    ledger.add(101.0, 103.0, "overlaps")
    ledger.add(104.0, 120.0, "declared past the end")
    ledger.add(5.0, 4.0, "reversed: ignored")
    ledger.close(110.0)
    assert len(ledger.waits) == 3
    assert ledger.total() == pytest.approx(3.0 + 6.0)
    assert ledger.by_reason()["declared past the end"] == pytest.approx(6.0)


def test_outside_a_case_nothing_is_recorded() -> None:
    # An empty context: as a benchmark or a peer's own thread runs, with no case open.
    def outside() -> None:
        assert current_ledger() is None
        unavoidable(1.0, "no case")
        record_wait(0.0, 1.0, "no case")

    contextvars.Context().run(outside)


def test_waits_declared_in_a_case_reach_its_ledger_and_stop_with_it() -> None:
    outer = current_ledger()  # the plugin runs each project test in a ledger too
    with case_ledger() as ledger:
        assert current_ledger() is ledger
        unavoidable(0.0, "an empty wait counts nothing")
        with unavoidable_wait("a protocol timer", at_most=0.0):
            pass
        record_wait(ledger.start, ledger.start + 0.2, "measured elsewhere")
        unavoidable(60.0, "declared, then the case ended early")
    assert current_ledger() is outer
    assert [w.why for w in ledger.waits] == [
        "measured elsewhere",
        "declared, then the case ended early",
    ]
    # clipped to the case's end: the 60 s declared count only as long as the case lasted
    assert ledger.end is not None
    assert ledger.total() == pytest.approx(ledger.end - ledger.start)


def test_unavoidable_wait_counts_at_most_the_timer() -> None:
    with case_ledger() as ledger:
        never = threading.Event()
        # The block outlasts its 0.05 s timer (waits 0.2 s for an event that never comes).
        with unavoidable_wait("timer", at_most=0.05):
            never.wait(0.2)
    assert ledger.total() == pytest.approx(0.05, abs=0.01)


def test_a_thread_records_only_into_the_ledger_it_was_handed() -> None:
    seen: list[object] = []
    with case_ledger() as ledger:
        handed = current_ledger()

        def sender() -> None:
            seen.append(current_ledger())  # a thread of its own sees no case
            record_wait(ledger.start, ledger.start + 0.1, "stream", handed)

        worker = threading.Thread(target=sender)
        worker.start()
        worker.join(5)
    assert seen == [None]
    assert ledger.end is not None
    assert ledger.total() == pytest.approx(min(0.1, ledger.end - ledger.start))
    assert ledger.waits[0].why == "stream"


def test_the_rtp_sender_records_its_stream_into_the_case_that_started_it() -> None:
    stream = EncodedStream.cbr(160, 120, 10, 100, 0.5)  # 5 frames, 0.4 s on the schedule
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with case_ledger() as ledger, RtpSender(stream, sink.getsockname(), 96) as sender:
            sender.wait(5.0)
    assert sender.started_at is not None and sender.finished_at is not None
    assert [w.why for w in ledger.waits] == [f"media: RTP stream to 127.0.0.1:{sender.port}"]
    assert ledger.total() == pytest.approx(sender.finished_at - sender.started_at)
    assert ledger.total() >= 0.35
