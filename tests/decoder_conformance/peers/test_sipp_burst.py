"""peers.sipp.burst: a burst read back from SIPp's records and judged by policy 1."""

from __future__ import annotations

import pytest

from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers.capture import Direction, WireRecord
from decoder_conformance.peers.sipp.burst import (
    BurstCall,
    burst_calls,
    check_policy_1,
    unexpected_messages,
)

REQ = "SIP-CALL-BURST-001"
SIPP = ("127.0.0.1", 5061)
DEVICE = ("127.0.0.1", 5060)


def answered(n: int, at: float, hold: float = 0.150) -> BurstCall:
    """Call `n`, INVITE at `at`, 200 1 ms later, BYE after `hold`, its 200 1 ms later."""
    return BurstCall(f"{n}-1@127.0.0.1", at, 200, at + 0.001, at + 0.001 + hold, at + 0.002 + hold)


def refused(n: int, at: float, code: int = 486) -> BurstCall:
    return BurstCall(f"{n}-1@127.0.0.1", at, code, at + 0.001)


#: What the reference decoder does: every other call arrives while one is up and gets 486.
CLEAN = [answered(1, 0.0), refused(2, 0.1), answered(3, 0.2), refused(4, 0.3), answered(5, 0.4)]


def test_a_clean_burst_passes_and_names_the_contested_calls() -> None:
    assert [c.call_id[0] for c in check_policy_1(REQ, CLEAN)] == ["2", "4"]


def test_a_burst_without_overlap_is_not_contested() -> None:
    apart = [answered(1, 0.0, hold=0.05), answered(2, 0.1, hold=0.05)]
    assert check_policy_1(REQ, apart) == []


@pytest.mark.negative_control("SIP-CALL-BURST-001")
def test_two_calls_up_at_once_fail() -> None:
    """Recorded with the policy1_accepts_second fault: call 2 answered while call 1 is up."""
    both = [answered(n, 0.1 * (n - 1)) for n in range(1, 6)]
    with pytest.raises(DeviceFailure, match=r"\[SIP-CALL-BURST-001\] expected never two calls"):
        check_policy_1(REQ, both)


@pytest.mark.negative_control("SIP-CALL-BURST-001")
def test_a_call_refused_with_no_call_up_fails() -> None:
    """A leaked dialog: call 3 arrives after call 1 ended (and call 2 was refused), and is
    refused all the same."""
    leaked = [answered(1, 0.0), refused(2, 0.1), refused(3, 0.2), answered(4, 0.3)]
    with pytest.raises(DeviceFailure, match=r"3-1@127\.0\.0\.1: INVITE \+0\.200 s -> 486"):
        check_policy_1(REQ, leaked)


def test_transit_time_never_fails_a_refusal_near_a_call_end() -> None:
    """A refusal whose INVITE left before the 200 to a BYE came back may have met that call."""
    edge = [answered(1, 0.0), refused(2, 0.1515)]  # BYE sent at 0.151, its 200 at 0.152
    assert check_policy_1(REQ, edge) == []


def _record(t: float, direction: Direction, data: str) -> WireRecord:
    return WireRecord(t, direction, "udp", SIPP, DEVICE, data.replace("\n", "\r\n").encode())


def _message(first: str, call_id: str, cseq: str) -> str:
    return (
        f"{first}\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{call_id}-{cseq[0]}\n"
        f"From: <sip:c@127.0.0.1>;tag=a\nTo: <sip:d@127.0.0.1>\nCall-ID: {call_id}\n"
        f"CSeq: {cseq}\nContent-Length: 0\n\n"
    )


def test_burst_calls_reads_finals_and_byes_from_records() -> None:
    records = [
        _record(1.000, "TX", _message("INVITE sip:d@127.0.0.1 SIP/2.0", "c1", "1 INVITE")),
        _record(1.001, "RX", _message("SIP/2.0 100 Trying", "c1", "1 INVITE")),
        _record(1.002, "RX", _message("SIP/2.0 200 OK", "c1", "1 INVITE")),
        _record(1.003, "TX", _message("ACK sip:d@127.0.0.1 SIP/2.0", "c1", "1 ACK")),
        _record(1.100, "TX", _message("INVITE sip:d@127.0.0.1 SIP/2.0", "c2", "1 INVITE")),
        _record(1.101, "RX", _message("SIP/2.0 486 Busy Here", "c2", "1 INVITE")),
        _record(1.153, "TX", _message("BYE sip:d@127.0.0.1 SIP/2.0", "c1", "2 BYE")),
        _record(1.154, "RX", _message("SIP/2.0 200 OK", "c1", "2 BYE")),
    ]
    assert burst_calls(records) == [
        BurstCall("c1", 1.000, 200, 1.002, 1.153, 1.154),
        BurstCall("c2", 1.100, 486, 1.101),
    ]


def test_unexpected_messages_come_from_the_error_log() -> None:
    log = (
        "2026-01-01 10:00:00.000000 1767261600.000000: Aborting call on unexpected message "
        "for Call-Id '3-1@127.0.0.1': while expecting '200' (index 13), received 'SIP/2.0 404'\n"
        "2026-01-01 10:00:00.000000 1767261600.000000: some other note\n"
    )
    assert len(unexpected_messages(log)) == 1
