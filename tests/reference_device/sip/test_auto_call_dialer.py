"""The auto_call dialer after each way its call can end, answer.json's dir, allow_in_num above 1.

Regression: the callee's BYE used to stop the dialer for good. The call table had no move
`idle -> reconnecting`, so the dialer's own status update raised IllegalTransitionError and the
task died; the re-dial never came. The faults dialer_stops_after_remote_bye, answer_ignores_dir
and allow_in_num_capped_at_one are each shown against the behaviour without them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reference_device.status import CallMachine, CallStatus
from tests.reference_device.sip.peer import (
    LOCAL,
    Device,
    Dialog,
    Peer,
    Received,
    device,
    h264_offer,
    respond,
)
from wire import sdp, sip

#: Timer B of the test device (64 * T1 = 64 * 50 ms) plus its 200 ms retry base and slack.
TIMED_OUT_REDIAL = 64 * 0.05 + 0.2 + 2.0


def _is(method: str) -> Callable[[sip.SipMessage], bool]:
    return lambda m: isinstance(m, sip.SipRequest) and m.method == method


def _invite(callee: Peer) -> tuple[sip.SipRequest, Received]:
    got = callee.request("INVITE")
    assert isinstance(got.message, sip.SipRequest)
    return got.message, got


def _auto_call(dev: Device, callee: Peer) -> None:
    dev.account()
    dev.ok("modify_call_cfg", id="1", sip_out_url=f"cam@{LOCAL}:{callee.port}", auto_call="1")


def _answer(callee: Peer, invite: sip.SipRequest, port: int) -> str:
    """200 with a sendonly answer; the callee's To tag."""
    ok = sip.make_response(invite, 200, to_tag="callee")
    ok.headers.add("Contact", f"<sip:cam@{LOCAL}:{callee.port}>")
    answer = sdp.answer_video_recvonly(sdp.parse(invite.body), LOCAL, 43000)
    answer.media[0].direction = "sendonly"
    ok.set_body(answer.to_bytes(), "application/sdp")
    callee.send(ok, port)
    return "callee"


def _auto_call_up(dev: Device, callee: Peer) -> tuple[sip.SipRequest, str, int]:
    """auto_call dials `callee`, which answers 200 and gets the ACK, and call_status shows
    calling: (the INVITE, the callee's To tag, the device's port)."""
    _auto_call(dev, callee)
    invite, got = _invite(callee)
    tag = _answer(callee, invite, got.remote[1])
    callee.request("ACK")
    dev.wait_state("call_status", "calling")
    return invite, tag, got.remote[1]


def _callee_bye(callee: Peer, invite: sip.SipRequest, tag: str, port: int) -> None:
    bye = sip.make_request(
        "BYE",
        invite.contacts[0].uri,
        sent_by=(LOCAL, callee.port),
        from_uri=invite.to_addr.uri,
        from_tag=tag,
        to_uri=invite.from_addr.uri,
        to_tag=invite.from_addr.tag,
        call_id=invite.call_id or "",
        cseq=1,
    )
    callee.send(bye, port)


@pytest.mark.parametrize("move", [CallStatus.RECONNECTING, CallStatus.ERROR])
def test_call_table_lets_the_dialer_move_from_idle(move: CallStatus) -> None:
    machine = CallMachine()
    machine.transition(move)  # raised IllegalTransitionError before the fix
    assert machine.state is move


@pytest.mark.parametrize("fault", [(), ("dialer_stops_after_remote_bye",)])
def test_auto_call_redials_after_the_callee_hangs_up(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    callee = Peer()
    with device(tmp_path, faults=fault) as dev:
        invite, tag, port = _auto_call_up(dev, callee)
        _callee_bye(callee, invite, tag, port)
        callee.response(200, "BYE")
        if fault:
            dev.wait_state("call_status", "idle")
            callee.nothing(_is("INVITE"), 0.8)  # 4x the retry base: the dialer is gone
            assert dev.state("call_status") == "idle"
        else:
            dev.wait_state("call_status", "reconnecting")
            again, _ = _invite(callee)  # after the 200 ms retry base
            assert again.call_id != invite.call_id
            dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()


def test_auto_call_redials_after_its_invite_timed_out(tmp_path: Path) -> None:
    callee = Peer()
    with device(tmp_path) as dev:
        _auto_call(dev, callee)
        first, _ = _invite(callee)
        # Silent callee: the INVITE's retransmissions come, then Timer B ends the attempt.
        again = callee.expect(
            lambda m: (
                isinstance(m, sip.SipRequest)
                and m.method == "INVITE"
                and m.call_id != first.call_id
            ),
            "a new INVITE after Timer B",
            TIMED_OUT_REDIAL,
        )
        assert isinstance(again.message, sip.SipRequest)
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()


@pytest.mark.parametrize("fault", [(), ("answer_ignores_dir",)])
def test_answer_with_an_unknown_dir(tmp_path: Path, fault: tuple[str, ...]) -> None:
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        peer.response(180)
        reply = dev.call("answer", id="1", dir="sip_bogus")
        if fault:
            assert reply == {"result": "ok"}
            peer.response(200)
        else:
            assert reply == {"result": "error", "msg": "1203"}
            assert dev.state("call_status") == "in"
            dev.ok("answer", id="1", dir="sip_out")
            peer.response(200)
    peer.close()


@pytest.mark.parametrize("fault", [(), ("allow_in_num_capped_at_one",)])
def test_allow_in_num_2_takes_a_second_call(tmp_path: Path, fault: tuple[str, ...]) -> None:
    first_peer, second_peer, third_peer = Peer(), Peer(), Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1", allow_in_num="2")
        first = Dialog(first_peer, dev.sip_port())
        first.invite(h264_offer())
        first.take_tag(first_peer.response(200))
        first.ack()
        second = Dialog(second_peer, dev.sip_port())
        second.invite(h264_offer())
        if fault:
            second_peer.response(486)
        else:
            second.take_tag(second_peer.response(200))
            second.ack()
            third = Dialog(third_peer, dev.sip_port())
            third.invite(h264_offer())
            third_peer.response(486)  # policy 1 above allow_in_num
        first_peer.nothing(_is("BYE"), 0.2)
    for peer in (first_peer, second_peer, third_peer):
        peer.close()


# -- the readings of the points these paths observe (reference_device/readings.py) -------------


def test_reading_no_redial_after_refusal(tmp_path: Path) -> None:
    callee = Peer()
    with device(tmp_path, "--reading", "auto_call_after_refusal=no_redial_error") as dev:
        _auto_call(dev, callee)
        invite, got = _invite(callee)
        respond(callee, invite, 486, got.remote[1])
        callee.request("ACK")
        dev.wait_state("call_status", "error")
        callee.nothing(_is("INVITE"), 0.8)  # 4x the retry base
        assert dev.state("call_status") == "error"
        dev.ok("modify_call_cfg", id="1", sip_out_url=f"again@{LOCAL}:{callee.port}")
        again, _ = _invite(callee)  # a settings change dials again
        assert again.call_id != invite.call_id
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()


def test_reading_no_redial_after_the_callee_hangs_up(tmp_path: Path) -> None:
    callee = Peer()
    with device(tmp_path, "--reading", "auto_call_after_remote_bye=no_redial_idle") as dev:
        invite, tag, port = _auto_call_up(dev, callee)
        _callee_bye(callee, invite, tag, port)
        callee.response(200, "BYE")
        dev.wait_state("call_status", "idle")
        callee.nothing(_is("INVITE"), 0.8)
    callee.close()


@pytest.mark.parametrize("reading", [(), ("--reading", "answer_outgoing_call=ok_unchanged")])
def test_answer_sip_out_on_an_outgoing_call(tmp_path: Path, reading: tuple[str, ...]) -> None:
    callee = Peer()
    with device(tmp_path, *reading) as dev:
        _auto_call_up(dev, callee)
        reply = dev.call("answer", id="1", dir="sip_out")
        assert reply == ({"result": "ok"} if reading else {"result": "error", "msg": "1211"})
        assert dev.call("answer", id="1") == {"result": "error", "msg": "1211"}
        callee.nothing(lambda m: isinstance(m, sip.SipRequest), 0.3)  # the call is untouched
        assert dev.state("call_status") == "calling"
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()
