"""The plain-socket caller and callee: bound to, and advertising, the suite host (--suite-host)."""

from __future__ import annotations

import re
import socket

from decoder_conformance.device.accounts import DeviceSip, SipAccount
from decoder_conformance.peers.raw_ua import LOOPBACK, RawCallee, RawCaller, h264_offer
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
