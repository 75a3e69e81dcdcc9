"""The reference decoder against the malformed-SIP corpus cases it once got wrong (regressions),
and the faults of the corpus groups shown against the behaviour without them.

The corpus (decoder_conformance/peers/malformed) found: a Call-ID breaking the RFC 3261 §25.1
grammar processed (an INVITE set up a call), a body without Content-Type processed (§20.15), a
Request-URI scheme other than sip answered 400 or 200 instead of 416 (§8.2.2.1), and an OPTIONS
in a dialog with a CSeq below the dialog's answered 200 instead of 500 (§12.2.2). Each case is
sent by the suite's own sender, which judges it as the suite does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.malformed.corpus import Case, all_cases
from decoder_conformance.peers.malformed.sender import Sender
from tests.reference_device.sip.peer import LOCAL, WAIT, Device, device

#: Corpus cases the reference decoder failed before its fix.
REGRESSIONS = (
    "mandatory-value/invite-call-id-01",
    "mandatory-value/options-call-id-02",
    "content-type/invite-untyped-sdp",
    "content-type/options-untyped-text",
    "uri-scheme/invite-00",
    "uri-scheme/options-01",
)


def _case(case_id: str) -> Case:
    return next(c for c in all_cases() if c.id == case_id)


@contextmanager
def _auto_answer(tmp_path: Path, *faults: str) -> Iterator[Device]:
    with device(tmp_path, faults=faults) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        yield dev


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_corpus_regressions(tmp_path: Path, transport: str) -> None:
    with _auto_answer(tmp_path) as dev:
        sender = Sender(LOCAL, (LOCAL, dev.sip_port()), "dec", transport, WAIT)
        for case_id in REGRESSIONS:
            result = sender.run(_case(case_id))
            assert result.problem is None, f"{case_id}: {result.problem}"
            assert not result.accepted, f"{case_id}: {result.answer_text}"
        assert dev.state("call_status") == "idle", dev.status()


def test_options_below_the_dialog_cseq_gets_500(tmp_path: Path) -> None:
    log: list[WireRecord] = []
    with _auto_answer(tmp_path) as dev:
        sender = Sender(LOCAL, (LOCAL, dev.sip_port()), "dec", "udp", WAIT)
        dialog = sender.open_dialog(log)
        result = sender.run(_case("dialog-existing/options-cseq-lower"), dialog)
        assert result.problem is None, result.problem
        assert result.answer is not None and result.answer.status_code == 500
        bye = sender.close_dialog(dialog, log)
        assert bye is not None and bye.is_success, "the dialog survives the refused OPTIONS"
        dev.wait_state("call_status", "idle")


@pytest.mark.parametrize(
    ("fault", "case_id"),
    [
        ("unsupported_lists_first_only", "require/invite-two-in-row"),
        ("untyped_body_accepted", "content-type/invite-untyped-sdp"),
    ],
)
def test_malformed_faults(tmp_path: Path, fault: str, case_id: str) -> None:
    """The case passes on the clean device and fails with the fault on."""
    case = _case(case_id)
    with _auto_answer(tmp_path / "clean") as dev:
        clean = Sender(LOCAL, (LOCAL, dev.sip_port()), "dec", "udp", WAIT).run(case)
    assert clean.problem is None, clean.problem
    with _auto_answer(tmp_path / "fault", fault) as dev:
        faulty = Sender(LOCAL, (LOCAL, dev.sip_port()), "dec", "udp", WAIT).run(case)
    assert faulty.problem is not None, f"{fault}: {faulty.answer_text}"
