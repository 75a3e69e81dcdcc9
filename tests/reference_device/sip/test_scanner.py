"""What a SIP scanner can do to the reference decoder: enumerate extensions, hold the call slot.

Regressions of issue 11: svwar's INVITE (an audio-only offer) got 404 from an unknown extension
and 488 from a configured one (SIP-SEC-ENUM-001); one INVITE answered and never ACKed kept an
auto-answer account's only slot for 64*T1 (SIP-SEC-LOCK-001). Each fix is checked with its fault
on too (extension_enumerable, unacked_call_holds_slot), which restores the old behaviour.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.sip.calls import UNACKED_SLOT_HOLD_T1
from tests.reference_device.sip.peer import (
    AUDIO_ONLY,
    FAST_ARGS,
    Device,
    Dialog,
    Peer,
    device,
    h264_offer,
)
from wire import sip

T1 = int(FAST_ARGS[FAST_ARGS.index("--sip-t1-ms") + 1]) / 1000
HOLD = UNACKED_SLOT_HOLD_T1 * T1


def _final(peer: Peer, dialog: Dialog) -> sip.SipResponse:
    got = peer.expect(
        lambda m: (
            isinstance(m, sip.SipResponse)
            and m.call_id == dialog.call_id
            and m.cseq.method == "INVITE"
            and m.status_code >= 200
        ),
        f"a final answer to INVITE {dialog.call_id}",
    )
    assert isinstance(got.message, sip.SipResponse)
    return got.message


def _two_accounts(dev: Device) -> None:
    dev.account("one", localAccount="first")
    dev.ok("modify_call_cfg", id="1", auto_aws="1")
    dev.account("two", localAccount="second")


@pytest.mark.parametrize(("fault", "unknown_code"), [((), 488), (("extension_enumerable",), 404)])
def test_unknown_extension_answers_an_unusable_offer_like_a_configured_one(
    tmp_path: Path, fault: tuple[str, ...], unknown_code: int
) -> None:
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        _two_accounts(dev)
        answers = {}
        for user in ("first", "second", "nobody"):
            dialog = Dialog(peer, dev.sip_port(), user=user)
            dialog.invite(AUDIO_ONLY)
            answers[user] = _final(peer, dialog)
        assert [answers[u].status_code for u in ("first", "second")] == [488, 488]
        assert answers["nobody"].status_code == unknown_code
        if not fault:  # shaped alike: the same header fields, User-Agent included
            names = {u: sorted({h.key for h in a.headers}) for u, a in answers.items()}
            assert names["nobody"] == names["first"] == names["second"], names
        # An INVITE the device could take still learns that the user is unknown (RFC 3261
        # §8.2.2.1): the call itself would reveal a configured one.
        for body in (b"", h264_offer()):
            dialog = Dialog(peer, dev.sip_port(), user="nobody")
            dialog.invite(body)
            assert _final(peer, dialog).status_code == 404
        assert dev.state("call_status", 1) == dev.state("call_status", 2) == "idle"
    peer.close()


def _held_by_scanner(dev: Device, scanner: Peer) -> tuple[Dialog, sip.SipResponse]:
    """An auto-answer account whose only slot a 200 the scanner never ACKs holds."""
    dev.account(localAccount="dec")
    dev.ok("modify_call_cfg", id="1", auto_aws="1")
    held = Dialog(scanner, dev.sip_port())
    held.invite(h264_offer())
    ok = scanner.response(200)
    return held, ok


def _call(caller: Peer, dev: Device) -> tuple[Dialog, sip.SipResponse, float]:
    """One legitimate INVITE: its dialog, final answer and when it was sent."""
    dialog = Dialog(caller, dev.sip_port())
    sent = time.monotonic()
    dialog.invite(h264_offer(port=40010))
    return dialog, _final(caller, dialog), sent


def test_an_unacked_call_gives_its_slot_to_a_new_caller(tmp_path: Path) -> None:
    scanner, caller = Peer(), Peer()
    with device(tmp_path) as dev:
        held, ok = _held_by_scanner(dev, scanner)
        answered = time.monotonic()
        attempts: list[tuple[Dialog, sip.SipResponse, float]] = []

        def attempt() -> int:
            attempts.append(_call(caller, dev))
            return attempts[-1][1].status_code

        # One legitimate INVITE every T1 (each answered before the next) until one is taken.
        poll_until(
            attempt,
            lambda code: code != 486,
            timeout=10 * HOLD,
            interval=T1,
            expected="a legitimate INVITE not refused 486",
        )
        dialog, final, _sent = attempts[-1]
        accepted_after = time.monotonic() - answered
        refused_until = max((s - answered for _d, _f, s in attempts[:-1]), default=0.0)
        assert final.status_code == 200
        assert refused_until <= HOLD + T1 and accepted_after >= HOLD * 0.9, (
            refused_until,
            accepted_after,
        )
        dialog.take_tag(final)
        dialog.ack()
        # The scanner's 200 is still retransmitted (RFC 3261 §13.3.1.4), and no BYE comes
        # before its ACK; an ACK that still comes gets the call ended with BYE at once.
        scanner.response(200)
        scanner.nothing(lambda m: isinstance(m, sip.SipRequest) and m.method == "BYE", 2 * T1)
        held.take_tag(ok)
        held.ack()
        bye = scanner.request("BYE").message
        assert isinstance(bye, sip.SipRequest) and bye.call_id == held.call_id
        scanner.send(sip.make_response(bye, 200), dev.sip_port())
        dev.wait_state("call_status", "calling")  # the legitimate call stays up
        dialog.bye()
        caller.response(200, "BYE")
        dev.wait_state("call_status", "idle")
    scanner.close()
    caller.close()


def test_with_the_fault_the_unacked_call_keeps_its_slot(tmp_path: Path) -> None:
    scanner, caller = Peer(), Peer()
    with device(tmp_path, faults=("unacked_call_holds_slot",)) as dev:
        _held, _ok = _held_by_scanner(dev, scanner)
        answered = time.monotonic()
        scanner.response(200)  # a retransmission: past T1, and...
        while time.monotonic() - answered < 2 * HOLD:
            scanner.response(200)  # ... on until well past the hold the fix allows
        _dialog, final, _sent = _call(caller, dev)
        assert final.status_code == 486
    scanner.close()
    caller.close()
