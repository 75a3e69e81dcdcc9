"""Calls of the reference decoder through a proxy played by the test: the route set of an incoming
call, and digest challenges to its own INVITE; each against the fault that breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_device.sip.peer import LOCAL, Peer, device, h264_offer, respond
from wire import digest, sip

PASSWORD = "secret"


@pytest.mark.parametrize("fault", [(), ("invite_ignores_record_route",)])
def test_bye_follows_the_record_route(tmp_path: Path, fault: tuple[str, ...]) -> None:
    """The BYE of hangup.json goes to the proxy with Route = the Record-Route, Request-URI the
    caller's Contact; under invite_ignores_record_route straight to that Contact, no Route."""
    proxy, behind = Peer(), Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        port = dev.sip_port()
        record_route = f"<sip:{LOCAL}:{proxy.port};lr>"
        caller = f"sip:caller@{LOCAL}:{behind.port}"
        invite = sip.make_request(
            "INVITE",
            f"sip:dec@{LOCAL}:{port}",
            sent_by=(LOCAL, proxy.port),
            rport=False,
            from_uri=f"sip:caller@{LOCAL}",
            from_tag=sip.new_tag(),
            to_uri=f"sip:dec@{LOCAL}:{port}",
            call_id=sip.new_call_id(),
            cseq=1,
            contact=caller,
            headers=[("Record-Route", record_route)],
            body=h264_offer(),
        )
        proxy.send(invite, port)
        ok = proxy.response(200)
        assert ok.headers.get_list("Record-Route") == [record_route]
        ack = sip.make_request(
            "ACK",
            ok.contacts[0].uri,
            sent_by=(LOCAL, proxy.port),
            rport=False,
            from_uri=invite.from_addr.uri,
            from_tag=invite.from_addr.tag or "",
            to_uri=invite.to_addr.uri,
            to_tag=ok.to_addr.tag,
            call_id=invite.call_id or "",
            cseq=1,
        )
        proxy.send(ack, port)
        dev.wait_state("call_status", "calling")
        dev.ok("hangup", id="1")
        bye = (behind if fault else proxy).request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        assert bye.uri == caller
        assert bye.headers.get_list("Route") == ([] if fault else [record_route])
        respond(behind if fault else proxy, bye, 200, port)
        dev.wait_state("call_status", "idle")
    proxy.close()
    behind.close()


def _invite(callee: Peer) -> sip.SipRequest:
    got = callee.request("INVITE").message
    assert isinstance(got, sip.SipRequest)
    return got


@pytest.mark.parametrize("fault", [(), ("invite_challenge_unanswered",)])
def test_challenged_invite_is_sent_again_with_credentials(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    """A 401 then a 407 to the auto_call INVITE: the INVITE again on its Call-ID with CSeq + 1
    and a valid Authorization, then with Proxy-Authorization too; under
    invite_challenge_unanswered the attempt ends and the next INVITE is a new call without
    credentials."""
    callee = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account(username="u1", password=PASSWORD, realm="*")
        target = f"cam@{LOCAL}:{callee.port}"
        dev.ok("modify_call_cfg", id="1", sip_out_url=target, auto_call="1")
        first = _invite(callee)
        challenge = digest.Challenge(realm="lab", nonce="n401", qop=["auth"])
        respond(callee, first, 401, dev.sip_port(), WWW_Authenticate=challenge.to_header())
        second = _invite(callee)
        if fault:
            assert second.call_id != first.call_id  # the dialer's next attempt (retry base)
            assert second.headers.get("Authorization") is None
        else:
            assert second.call_id == first.call_id
            assert second.cseq.number == first.cseq.number + 1
            credentials = digest.Credentials.parse(second.headers.get("Authorization") or "")
            assert credentials.uri == second.uri == f"sip:{target}"
            assert digest.verify(credentials, PASSWORD, "INVITE", challenge=challenge)
            proxy = digest.Challenge(realm="lab", nonce="n407")
            respond(callee, second, 407, dev.sip_port(), Proxy_Authenticate=proxy.to_header())
            third = _invite(callee)
            assert third.call_id == first.call_id
            assert third.cseq.number == second.cseq.number + 1
            assert third.headers.get("Authorization") == second.headers.get("Authorization")
            answer = third.headers.get("Proxy-Authorization") or ""
            assert digest.verify(answer, PASSWORD, "INVITE", challenge=proxy)
            respond(callee, third, 486, dev.sip_port())
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()


@pytest.mark.parametrize("fault", [(), ("invite_auth_cseq_kept",)])
def test_authorized_invite_raises_the_cseq_unless_faulty(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    """The INVITE answering a 401 takes the next CSeq; under invite_auth_cseq_kept the same."""
    callee = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account(username="u1", password=PASSWORD, realm="*")
        dev.ok("modify_call_cfg", id="1", sip_out_url=f"cam@{LOCAL}:{callee.port}", auto_call="1")
        first = _invite(callee)
        challenge = digest.Challenge(realm="lab", nonce="n401")
        respond(callee, first, 401, dev.sip_port(), WWW_Authenticate=challenge.to_header())
        second = _invite(callee)
        assert second.call_id == first.call_id
        assert second.headers.get("Authorization") is not None
        assert second.vias[0].branch != first.vias[0].branch
        assert second.cseq.number == first.cseq.number + (0 if fault else 1)
        respond(callee, second, 486, dev.sip_port())
        dev.ok("modify_call_cfg", id="1", auto_call="0")
    callee.close()
