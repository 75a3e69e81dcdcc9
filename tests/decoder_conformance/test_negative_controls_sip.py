"""Negative controls of the sip-area cases (suites/sip): each feeds the function a case judges
with (decoder_conformance/peers/sip_checks.py) a recorded bad observation, a SIP message as a
device could send it or a register_status series, and sees it report the failure; a good one
passes. The reading functions must name a reading the requirement lists, so a None is the
case's `readings.none_of`, its failure.

Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers import sip_checks
from wire import sip


def _listed(req: str, reading: str | None) -> str:
    """`reading`, checked to be one `req` lists (a typo would make the case NotExercised)."""
    assert reading is not None
    requirement = Catalogue().requirements[req]
    return requirement.reading(reading).name


def _response(
    tag: str | None, via: str = "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-nc-opt"
) -> sip.SipResponse:
    to = "To: <sip:127.0.0.1:5060>" + (f";tag={tag}" if tag else "")
    parsed = sip.parse(
        (
            "SIP/2.0 200 OK\r\n"
            f"Via: {via}\r\n"
            "From: <sip:conformance@127.0.0.1:40000>;tag=suite\r\n"
            f"{to}\r\n"
            "Call-ID: nc-options@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(parsed, sip.SipResponse)
    return parsed


@pytest.mark.negative_control("SIP-OPT-001")
def test_options_answer_without_to_tag() -> None:
    assert sip_checks.options_to_tag_problem(_response("dev-1")) is None
    problem = sip_checks.options_to_tag_problem(_response(None))
    assert problem is not None and "no To tag" in problem and "200" in problem


@pytest.mark.negative_control("SIP-TRN-003")
@pytest.mark.parametrize(
    "error",
    [
        # What sip_request raises when the connection closes without a final answer...
        DeviceFailure("no final answer to OPTIONS over TCP from 127.0.0.1:5060 (received b'')"),
        # ... and when the device resets the connection or does not listen over TCP.
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=["closed-unanswered", "reset", "refused"],
)
def test_tcp_options_unanswered(error: Exception) -> None:
    def requester(_target: object, method: str, transport: str) -> sip.SipResponse:
        assert (method, transport) == ("OPTIONS", "tcp")
        raise error

    with pytest.raises(ConformanceFailure) as failed:
        sip_checks.options_answer(
            "SIP-TRN-003", requester, object(), "tcp", expected="a final answer over TCP"
        )
    assert failed.value.req == "SIP-TRN-003"
    assert type(error).__name__ in failed.value.observed

    answer = _response("dev-1")
    assert (
        sip_checks.options_answer(
            "SIP-TRN-003", lambda *_: answer, object(), "tcp", expected="a final answer over TCP"
        )
        is answer
    )


def _register(to_user: str, from_user: str) -> sip.SipRequest:
    parsed = sip.parse(
        (
            "REGISTER sip:127.0.0.1:5070 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-nc-reg\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{from_user}@127.0.0.1:5070>;tag=dev\r\n"
            f"To: <sip:{to_user}@127.0.0.1:5070>\r\n"
            "Call-ID: nc-register@127.0.0.1\r\n"
            "CSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{from_user}@127.0.0.1:5060>\r\n"
            "Expires: 3600\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(parsed, sip.SipRequest)
    return parsed


#: As the case names them: the account's localAccount and its username differ on purpose.
NAMED = {"local_account": "1001", "username": "alice"}


@pytest.mark.negative_control("SIP-REG-002")
def test_register_naming_neither_user() -> None:
    (followed,) = sip_checks.register_aor_readings(_register("1001", "1001"), NAMED)
    assert _listed("SIP-REG-002", followed) == "local_account"
    assert sip_checks.register_aor_readings(_register("alice", "alice"), NAMED) == ["username"]
    # A device naming another user (its SIP id), or To and From naming different users.
    assert sip_checks.register_aor_readings(_register("cam-1", "cam-1"), NAMED) == []
    assert sip_checks.register_aor_readings(_register("1001", "alice"), NAMED) == []


@pytest.mark.negative_control("SIP-REG-004")
def test_state_after_403_granted_or_unsettled() -> None:
    claimed = sip_checks.GRANTED_STATES
    good = sip_checks.register_failure_reading(["registering", "error"], "error", claimed)
    assert _listed("SIP-REG-004", good) == "error"
    # Recorded status series after the registrar's 403: a granted state on the way, the device
    # settling in a granted state, and one still registering when the wait ran out.
    assert (
        sip_checks.register_failure_reading(
            ["registering", "registered", "error"], "error", claimed
        )
        is None
    )
    assert sip_checks.register_failure_reading(["registered"], "registered", claimed) is None
    assert sip_checks.register_failure_reading(["registering"], "registering", claimed) is None
    # A profile pinning "connected": "registered" on the way is no claim under that pin.
    assert sip_checks.register_failure_reading(["registered", "off"], "off", ("connected",)) == (
        "off"
    )


@pytest.mark.negative_control("SIP-REG-013")
def test_state_after_200_not_granted() -> None:
    assert _listed("SIP-REG-013", sip_checks.register_granted_reading("registered")) == (
        "registered"
    )
    assert _listed("SIP-REG-013", sip_checks.register_granted_reading("on")) == "on"
    for state in ("registering", "error", "idle", "nothing"):
        assert sip_checks.register_granted_reading(state) is None


@pytest.mark.negative_control("SIP-REG-010")
def test_qop_in_answer_to_a_qop_less_challenge() -> None:
    plain = (
        'Digest username="alice", realm="conformance", nonce="abc123", '
        'uri="sip:127.0.0.1:5070", response="6629fae49393a05397450978507c4ef1", algorithm=MD5'
    )
    assert sip_checks.qop_less_answer_problem(plain) is None
    with_qop = plain + ', qop=auth, nc=00000001, cnonce="0a4f113b"'
    problem = sip_checks.qop_less_answer_problem(with_qop)
    assert problem is not None and "qop" in problem


@pytest.mark.negative_control("SIP-ROB-VIA-002")
def test_rport_left_bare_is_reported() -> None:
    source = ("127.0.0.1", 40000)
    bare = _response("d", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport")
    problem = sip_checks.rport_problem(bare, source, at_source_port=True)
    assert problem is not None and "rport=None" in problem and "received=None" in problem
    wrong = _response("d", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport=5070")
    assert sip_checks.rport_problem(wrong, source, at_source_port=True) is not None
    good = _response(
        "d", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport=40000;received=127.0.0.1"
    )
    assert sip_checks.rport_problem(good, source, at_source_port=True) is None
    # A device that answered at the sent-by port does not implement RFC 3581: no duty.
    assert sip_checks.rport_problem(bare, source, at_source_port=False) is None
