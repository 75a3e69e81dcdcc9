"""The plain-socket caller and callee: bound to, and advertising, the suite host (--suite-host)."""

from __future__ import annotations

import re
import socket

import pytest

from decoder_conformance.device.accounts import DeviceSip, SipAccount
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers.raw_ua import LOOPBACK, RawCallee, RawCaller, h264_offer
from decoder_conformance.report.summary import verdict
from wire import sip

#: Stands for a lab suite host: another address of this machine, bound, never sent to.
SUITE_HOST = "127.0.0.2"


def test_offer_names_its_host() -> None:
    assert b"c=IN IP4 127.0.0.1\r\n" in h264_offer(4000)
    offer = h264_offer(4000, host="192.0.2.1").decode()
    assert re.findall(r"^[oc]=(?:.* )?IN IP4 (\S+)\r$", offer, re.M) == ["192.0.2.1", "192.0.2.1"]


def test_caller_binds_and_advertises_the_suite_host() -> None:
    """The INVITE goes to a silent sink on 127.0.0.1 standing for the device."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((LOOPBACK, 0))
        sink.settimeout(5.0)
        port = sink.getsockname()[1]
        account = SipAccount(1, "7001", DeviceSip(LOOPBACK, port, f"{LOOPBACK}:{port}"))
        caller = RawCaller("c1", "LOCAL-TEST-000", host=SUITE_HOST)
        try:
            assert caller.sock.getsockname()[0] == caller.media.getsockname()[0] == SUITE_HOST
            assert caller.address == f"{SUITE_HOST}:{caller.port}"
            sip_port, media_port = caller.port, caller.media_port
            leg = caller.call(account, caller.offer())
            data, source = sink.recvfrom(65535)
        finally:
            caller.close()
    assert source == (SUITE_HOST, sip_port)
    invite = sip.parse(data)
    assert isinstance(invite, sip.SipRequest)
    assert invite.vias[0].host == SUITE_HOST
    assert sip.SipUri.parse(invite.from_addr.uri).host == SUITE_HOST
    assert str(invite.contacts[0].uri) == f"sip:c1@{SUITE_HOST}:{sip_port}"
    assert leg.call_id.endswith(f"@{SUITE_HOST}")
    body = invite.body.decode()
    assert set(re.findall(r"^[oc]=(?:.* )?IN IP4 (\S+)\r$", body, re.M)) == {SUITE_HOST}, body
    assert f"m=video {media_port} " in body


def test_callee_target_and_default_host() -> None:
    callee = RawCallee("d1", "LOCAL-TEST-000", host=SUITE_HOST)
    default = RawCallee("d2", "LOCAL-TEST-000")
    try:
        assert callee.target == f"d1@{SUITE_HOST}:{callee.port}"
        assert callee.contact == f"<sip:d1@{SUITE_HOST}:{callee.port}>"
        assert default.host == LOOPBACK and default.sock.getsockname()[0] == LOOPBACK
    finally:
        callee.close()
        default.close()


def test_a_device_answer_that_is_not_sip_reports_failed(request: pytest.FixtureRequest) -> None:
    """A fake device answers the raw caller's INVITE with bytes that are not SIP: the case that
    reads the answer gets a DeviceFailure (an AssertionError), and the summary says "failed"."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind((LOOPBACK, 0))
        device.settimeout(5.0)
        port = device.getsockname()[1]
        account = SipAccount(1, "7001", DeviceSip(LOOPBACK, port, f"{LOOPBACK}:{port}"))
        caller = RawCaller("c1", "LOCAL-TEST-000")
        try:
            leg = caller.call(account, caller.offer())
            _invite, source = device.recvfrom(65535)
            device.sendto(b"HTTP/1.1 400 Bad Request\r\n\r\nnot sip", source)
            call = pytest.CallInfo.from_call(lambda: leg.response(timeout=5.0), when="call")
            records = caller.records()
        finally:
            caller.close()

    assert call.excinfo is not None
    assert call.excinfo.errisinstance(DeviceFailure) and call.excinfo.errisinstance(AssertionError)
    assert "not a SIP message" in str(call.excinfo.value)
    assert "HTTP/1.1 400" in str(call.excinfo.value)
    # Kept as evidence, as it came, and shown in the flow without raising.
    assert [(r.direction, r.raw[:8]) for r in records] == [("TX", b"INVITE s"), ("RX", b"HTTP/1.1")]
    assert records[1].remote == (LOOPBACK, port) and records[1].local == caller.local
    assert "RX HTTP/1.1 400 Bad Request" in caller.flow(leg.call_id)

    report = pytest.TestReport.from_item_and_call(request.node, call)
    assert report.failed
    assert verdict(report, call) == "failed"


def test_non_2xx_is_acked_by_the_wire_builder_and_records_carry_addresses() -> None:
    """The automatic ACK of a 486 reuses the INVITE's Via and the answer's To (RFC 3261
    §17.1.1.3); every datagram is a WireRecord with both addresses."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind((LOOPBACK, 0))
        device.settimeout(5.0)
        port = device.getsockname()[1]
        account = SipAccount(1, "7001", DeviceSip(LOOPBACK, port, f"{LOOPBACK}:{port}"))
        caller = RawCaller("c1", "LOCAL-TEST-000")
        try:
            leg = caller.call(account, caller.offer())
            data, source = device.recvfrom(65535)
            invite = sip.parse(data)
            assert isinstance(invite, sip.SipRequest)
            busy = sip.make_response(invite, 486, to_tag="dev")
            device.sendto(busy.to_bytes(), source)
            ack = sip.parse(device.recvfrom(65535)[0])
            assert leg.response(timeout=5.0).status_code == 486
            records = caller.records()
        finally:
            caller.close()
    assert isinstance(ack, sip.SipRequest) and ack.method == "ACK"
    assert ack.vias[0].branch == invite.vias[0].branch
    assert ack.to_addr.tag == "dev" and ack.cseq.number == 1
    assert [(r.direction, r.label.split()[0]) for r in records] == [
        ("TX", "INVITE"),
        ("RX", "486"),
        ("TX", "ACK"),
    ]
    assert all(r.transport == "udp" and r.protocol == "sip" for r in records)
    assert all(r.local == caller.local and r.remote == (LOOPBACK, port) for r in records)


def test_callee_bye_is_in_the_dialog_of_the_answered_invite() -> None:
    """The callee ends a call it answered: BYE to the device's Contact, tags swapped (RFC 3261
    §12.2.1.1), sent where the INVITE came from."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        device.bind((LOOPBACK, 0))
        device.settimeout(5.0)
        port = device.getsockname()[1]
        callee = RawCallee("d1", "LOCAL-TEST-000")
        try:
            invite = sip.make_request(
                "INVITE",
                f"sip:d1@{callee.address}",
                sent_by=(LOOPBACK, port),
                from_uri=f"sip:dec@{LOOPBACK}",
                from_tag="devtag",
                to_uri=f"sip:d1@{callee.address}",
                call_id="call-1",
                cseq=1,
                contact=f"sip:dec@{LOOPBACK}:{port}",
            )
            device.sendto(invite.to_bytes(), callee.local)
            record = callee.wait_invite(5.0)
            ok = callee.respond(record, 200)
            sent = callee.bye(record)
            data = b""
            while not data.startswith(b"BYE"):  # the 200 comes first
                data, _ = device.recvfrom(65535)
        finally:
            callee.close()
    bye = sip.parse(data)
    assert isinstance(bye, sip.SipRequest) and bye.to_bytes() == sent.to_bytes()
    assert bye.uri == f"sip:dec@{LOOPBACK}:{port}"
    assert bye.call_id == "call-1" and bye.cseq.method == "BYE"
    assert bye.from_addr.tag == ok.to_addr.tag and bye.to_addr.tag == "devtag"
