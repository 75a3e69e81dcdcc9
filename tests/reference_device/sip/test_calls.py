"""Incoming and outgoing calls of the reference decoder, driven from plain sockets."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reference_device.sip.peer import (
    AUDIO_ONLY,
    LOCAL,
    Device,
    Dialog,
    Peer,
    device,
    h264_offer,
    respond,
    video_of,
)
from wire import sdp, sip


def _is(method: str) -> Callable[[sip.SipMessage], bool]:
    return lambda m: isinstance(m, sip.SipRequest) and m.method == method


def _answered_call(
    dev: Device, peer: Peer, body: bytes | None = None
) -> tuple[Dialog, sip.SipResponse]:
    """An auto-answered, ACKed call from `peer`."""
    dialog = Dialog(peer, dev.sip_port())
    dialog.invite(h264_offer() if body is None else body)
    ok = peer.response(200)
    dialog.take_tag(ok)
    dialog.ack()
    dev.wait_state("call_status", "calling")
    return dialog, ok


@pytest.mark.parametrize(("fault", "expected_pt"), [((), "109"), (("pt_renumbered",), "96")])
def test_auto_answer_echoes_payload_type_and_binds_media(
    tmp_path: Path, fault: tuple[str, ...], expected_pt: str
) -> None:
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer(payload_type=109))
        peer.response(100)
        ok = peer.response(200)
        assert ok.content_type == "application/sdp"
        answer = sdp.parse(ok.body)
        assert [m.port for m in answer.media if m.media == "audio"] == [0]
        video = video_of(ok.body)
        assert video.formats == [expected_pt]
        assert video.rtpmaps()[0].payload_type == int(expected_pt)
        assert video.direction == "recvonly"
        assert answer.connection is not None and answer.connection.address == LOCAL
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(OSError, match="in use") as taken:  # the device holds the port
            probe.bind((LOCAL, video.port))
        assert taken.value.errno == errno.EADDRINUSE
        probe.close()
        dialog.confirm_and_hang_up(ok, dev)
    peer.close()


def test_offer_without_h264_gets_488(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        Dialog(peer, dev.sip_port()).invite(AUDIO_ONLY)
        peer.response(488)
        assert dev.state("call_status") == "idle"
    peer.close()


@pytest.mark.parametrize("fault", [(), ("bodyless_invite_488",)])
def test_bodyless_invite_gets_an_offer_and_reads_the_answer_in_the_ack(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite()
        if fault:
            peer.response(488)
            return
        ok = peer.response(200)
        offer = sdp.parse(ok.body)
        assert video_of(ok.body).direction == "recvonly"
        answer = sdp.answer_video_recvonly(offer, LOCAL, 41000)
        answer.media[0].direction = "sendonly"
        dialog.take_tag(ok)
        dialog.ack(answer.to_bytes())
        dev.wait_state("call_status", "calling")
        peer.nothing(_is("BYE"), 0.3)
    peer.close()


def test_bodyless_invite_with_answerless_ack_gets_bye(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite()
        dialog.take_tag(peer.response(200))
        dialog.ack()
        bye = peer.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
    peer.close()


def test_ringing_then_answer_json(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        peer.response(180)
        dev.wait_state("call_status", "in")
        peer.nothing(lambda m: isinstance(m, sip.SipResponse) and m.status_code >= 200, 0.2)
        dev.ok("answer", id="1")
        ok = peer.response(200)
        dialog.take_tag(ok)
        dialog.ack()
        dev.wait_state("call_status", "calling")
        assert dev.call("answer", id="1") == {"result": "error", "msg": "1211"}
    peer.close()


def test_cancel_before_answer_gets_487(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        peer.response(180)
        dev.wait_state("call_status", "in")
        dialog.cancel()
        peer.response(200, "CANCEL")
        peer.response(487)
        dev.wait_state("call_status", "idle")
    peer.close()


def test_allow_in_2_refuses_with_403(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", allow_in="2")
        Dialog(peer, dev.sip_port()).invite(h264_offer())
        peer.response(403)
    peer.close()


@pytest.mark.parametrize("fault", [(), ("policy1_accepts_second",)])
def test_policy_1_refuses_a_second_call_with_486(tmp_path: Path, fault: tuple[str, ...]) -> None:
    first, second = Peer(), Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1", policy="1")
        _answered_call(dev, first)
        Dialog(second, dev.sip_port()).invite(h264_offer())
        if fault:
            second.response(200)
        else:
            second.response(486)
        first.nothing(_is("BYE"), 0.2)
        assert dev.state("call_status") == "calling"
    first.close()
    second.close()


def test_policy_2_replaces_the_current_call(tmp_path: Path) -> None:
    first, second = Peer(), Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1", policy="2")
        _answered_call(dev, first)
        dialog = Dialog(second, dev.sip_port())
        dialog.invite(h264_offer())
        bye = first.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        respond(first, bye, 200, dev.sip_port())
        ok = second.response(200)
        dialog.take_tag(ok)
        dialog.ack()
        dev.wait_state("call_status", "calling")
    first.close()
    second.close()


def test_policy_3_replaces_a_ringing_call_with_487(tmp_path: Path) -> None:
    first, second = Peer(), Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", policy="3")
        Dialog(first, dev.sip_port()).invite(h264_offer())
        first.response(180)
        Dialog(second, dev.sip_port()).invite(h264_offer())
        first.response(487)
        second.response(180)
        dev.wait_state("call_status", "in")
    first.close()
    second.close()


@pytest.mark.parametrize("fault", [(), ("hangup_sends_nothing",)])
def test_hangup_json_sends_bye(tmp_path: Path, fault: tuple[str, ...]) -> None:
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        _answered_call(dev, peer)
        dev.ok("hangup", id="1")
        if fault:
            dev.wait_state("call_status", "idle")
            peer.nothing(_is("BYE"), 0.5)
            return
        bye = peer.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        assert dev.state("call_status") == "close"
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
        assert dev.call("hangup", id="1") == {"result": "error", "msg": "1211"}
    peer.close()


def test_hangup_json_declines_a_ringing_call_with_603(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path) as dev:
        dev.account()
        Dialog(peer, dev.sip_port()).invite(h264_offer())
        peer.response(180)
        dev.ok("hangup", id="1")
        peer.response(603)
        dev.wait_state("call_status", "idle")
    peer.close()


def test_unacked_200_is_retransmitted_then_bye(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path, "--sip-t1-ms", "20", "--sip-t2-ms", "160") as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        Dialog(peer, dev.sip_port()).invite(h264_offer())
        peer.response(200)
        peer.response(200)  # retransmitted (timer G)
        peer.response(200)
        bye = peer.request("BYE", timeout=3.0).message  # after 64*T1 = 1.28 s
        assert isinstance(bye, sip.SipRequest)
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
    peer.close()


@pytest.mark.parametrize("fault", [(), ("reinvite_version_not_raised",)])
def test_reinvite_follows_new_port_and_hold(tmp_path: Path, fault: tuple[str, ...]) -> None:
    """A re-INVITE's answer raises the o= version; under reinvite_version_not_raised it keeps
    the version of the first answer."""
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog, ok = _answered_call(dev, peer)
        first_version = int(sdp.parse(ok.body).origin.session_version)
        peer.send(
            dialog.make("INVITE", h264_offer(port=42000, direction="inactive")), dev.sip_port()
        )
        reok = peer.response(200)
        answer = sdp.parse(reok.body)
        if fault:
            assert int(answer.origin.session_version) == first_version
        else:
            assert int(answer.origin.session_version) > first_version
        assert video_of(reok.body).direction == "inactive"
        assert video_of(reok.body).port == video_of(ok.body).port
        dialog.ack()
        peer.send(
            dialog.make("INVITE", h264_offer(port=42002, direction="sendonly")), dev.sip_port()
        )
        assert video_of(peer.response(200).body).direction == "recvonly"
        dialog.ack()
        assert dev.state("call_status") == "calling"
    peer.close()


def test_tcp_invite_and_bye(tmp_path: Path) -> None:
    peer = Peer(tcp=True)
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        peer.connect(dev.sip_port())
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        ok = peer.response(200)
        assert video_of(ok.body).formats == ["109"]
        dialog.take_tag(ok)
        dialog.ack()
        dev.wait_state("call_status", "calling")
        dev.ok("hangup", id="1")
        bye = peer.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
    peer.close()


@pytest.mark.parametrize("fault", [(), ("ack_cseq_incremented",)])
def test_auto_call_out_then_calling_then_hangup_without_redial(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    """The ACK to the 2xx carries the INVITE's CSeq number (the next one under
    ack_cseq_incremented)."""
    callee = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", sip_out_url=f"cam@127.0.0.1:{callee.port}", auto_call="1")
        got = callee.request("INVITE")
        invite = got.message
        assert isinstance(invite, sip.SipRequest)
        assert invite.uri == f"sip:cam@127.0.0.1:{callee.port}"
        assert invite.from_addr.uri == "sip:dec@127.0.0.1"
        assert video_of(invite.body).direction == "recvonly"
        port = got.remote[1]
        respond(callee, invite, 180, port)
        dev.wait_state("call_status", "out")
        ok = sip.make_response(invite, 200, to_tag="callee")
        ok.headers.add("Contact", f"<sip:cam@127.0.0.1:{callee.port}>")
        answer = sdp.answer_video_recvonly(sdp.parse(invite.body), LOCAL, 43000)
        answer.media[0].direction = "sendonly"
        ok.set_body(answer.to_bytes(), "application/sdp")
        callee.send(ok, port)
        ack = callee.request("ACK").message
        assert isinstance(ack, sip.SipRequest) and ack.cseq.method == "ACK"
        assert ack.cseq.number == invite.cseq.number + (1 if fault else 0)
        dev.wait_state("call_status", "calling")
        dev.ok("hangup", id="1")
        bye = callee.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        respond(callee, bye, 200, port)
        dev.wait_state("call_status", "idle")
        callee.nothing(_is("INVITE"), 0.6)  # 3x the retry base: no re-dial after hangup.json
    callee.close()


def test_auto_call_failure_is_error_then_retried(tmp_path: Path) -> None:
    callee = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", sip_out_url=f"cam@127.0.0.1:{callee.port}", auto_call="1")
        got = callee.request("INVITE")
        assert isinstance(got.message, sip.SipRequest)
        respond(callee, got.message, 486, got.remote[1])
        callee.request("ACK")
        dev.wait_state("call_status", "reconnecting")
        again = callee.request("INVITE").message  # after the 200 ms retry base
        assert isinstance(again, sip.SipRequest)
        assert again.call_id != got.message.call_id
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()


def test_answer_and_hangup_without_call_are_1211(tmp_path: Path) -> None:
    with device(tmp_path) as dev:
        dev.account()
        assert dev.call("answer", id="1") == {"result": "error", "msg": "1211"}
        assert dev.call("hangup", id="1") == {"result": "error", "msg": "1211"}
