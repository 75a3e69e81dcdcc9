"""The registrar peer's mid-case abilities (holding its answers) and its proxy role (challenging
the device's INVITE, routing an INVITE to a registered contact), driven by a scripted UA on a
plain socket that sends the bytes a good or a faulty device would."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from decoder_conformance.peers.registrar import (
    INVITE_AUTH_URI,
    INVITE_CSEQ_NOT_INCREASING,
    Registrar,
    is_answer,
)
from wire import digest, sip

HOST = "127.0.0.1"


class ScriptedUa:
    """A UA on one UDP socket: sends what the test builds and reads the registrar's answers."""

    def __init__(self, registrar: Registrar) -> None:
        self.registrar = registrar
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(2.0)
        self.port: int = self.sock.getsockname()[1]
        self.call_id = sip.new_call_id(HOST)
        self.tag = sip.new_tag()

    def request(
        self, method: str, cseq: int, uri: str, headers: list[tuple[str, str]] | None = None
    ) -> sip.SipRequest:
        """Send `method` to the registrar (same Call-ID and From tag every time)."""
        request = sip.make_request(
            method,
            uri,
            sent_by=(HOST, self.port),
            from_uri=f"sip:alice@{HOST}",
            from_tag=self.tag,
            to_uri=uri,
            call_id=self.call_id,
            cseq=cseq,
            contact=f"sip:alice@{HOST}:{self.port}",
            headers=headers or [],
        )
        self.sock.sendto(request.to_bytes(), (HOST, self.registrar.port))
        return request

    def answer(self) -> sip.SipResponse:
        """The next response from the registrar."""
        data, _ = self.sock.recvfrom(65535)
        message = sip.parse(data)
        assert isinstance(message, sip.SipResponse), message
        return message

    def nothing(self, seconds: float) -> None:
        """No datagram within `seconds`."""
        self.sock.settimeout(seconds)
        with pytest.raises(TimeoutError):
            self.sock.recvfrom(65535)
        self.sock.settimeout(2.0)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@pytest.fixture
def registrar() -> Iterator[Registrar]:
    with Registrar(grant=30) as server:
        yield server


@pytest.fixture
def ua(registrar: Registrar) -> Iterator[ScriptedUa]:
    scripted = ScriptedUa(registrar)
    yield scripted
    scripted.close()


def _credentials(response: sip.SipResponse, method: str, uri: str, *, proxy: bool = False) -> str:
    header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    challenge = response.headers.get(header)
    assert challenge is not None, response
    return digest.build_authorization(challenge, method, uri, "alice", "secret").to_header()


def test_hold_all_then_keep_the_200_held(registrar: Registrar, ua: ScriptedUa) -> None:
    uri = f"sip:{registrar.address}"
    registrar.hold_all()
    ua.request("REGISTER", 1, uri)
    ua.nothing(0.3)  # the challenge is held
    released = registrar.release(keep_ok_held=True)
    assert released is not None and is_answer(released, 401)
    challenge = ua.answer()
    assert challenge.status_code == 401
    auth = _credentials(challenge, "REGISTER", uri)
    ua.request("REGISTER", 2, uri, [("Authorization", auth)])
    ua.nothing(0.3)  # the 200 is held
    ok = registrar.release()
    assert ok is not None and is_answer(ok, 200)
    assert ua.answer().status_code == 200
    ua.request("REGISTER", 3, uri, [("Authorization", auth)])  # not held any more
    assert ua.answer().status_code == 200


def test_invite_is_challenged_401_then_407_then_answered(
    registrar: Registrar, ua: ScriptedUa
) -> None:
    uri = f"sip:2001@{registrar.address}"
    ua.request("INVITE", 1, uri)
    first = ua.answer()
    assert first.status_code == 401
    auth = _credentials(first, "INVITE", uri)
    ua.request("INVITE", 2, uri, [("Authorization", auth)])
    second = ua.answer()
    assert second.status_code == 407
    proxy = _credentials(second, "INVITE", uri, proxy=True)
    ua.request("INVITE", 3, uri, [("Authorization", auth), ("Proxy-Authorization", proxy)])
    assert ua.answer().status_code == registrar.invite_final
    assert registrar.violations() == []


def test_wrong_invite_credentials_are_challenged_again(
    registrar: Registrar, ua: ScriptedUa
) -> None:
    uri = f"sip:2001@{registrar.address}"
    ua.request("INVITE", 1, uri)
    challenge = ua.answer()
    wrong = digest.build_authorization(
        challenge.headers.get("WWW-Authenticate") or "", "INVITE", uri, "alice", "wrong"
    )
    ua.request("INVITE", 2, uri, [("Authorization", wrong.to_header())])
    assert ua.answer().status_code == 401


@pytest.mark.negative_control("SIP-CALL-AUTH-002")
def test_invite_resent_with_the_same_cseq_and_another_digest_uri_is_recorded(
    registrar: Registrar, ua: ScriptedUa
) -> None:
    """What test_invite_retry_cseq_and_digest_uri asserts on: the violations of both codes."""
    uri = f"sip:2001@{registrar.address}"
    ua.request("INVITE", 1, uri)
    challenge = ua.answer()
    other = f"sip:2001@{HOST}"  # the port left out of the digest uri
    auth = _credentials(challenge, "INVITE", other)
    ua.request("INVITE", 1, uri, [("Authorization", auth)])  # a new branch, the same CSeq
    ua.answer()
    codes = [v.code for v in registrar.violations(INVITE_AUTH_URI, INVITE_CSEQ_NOT_INCREASING)]
    assert sorted(codes) == [INVITE_AUTH_URI, INVITE_CSEQ_NOT_INCREASING]


def test_route_invite_carries_record_route_and_bye_is_answered(
    registrar: Registrar, ua: ScriptedUa
) -> None:
    uri = f"sip:{registrar.address}"
    ua.request("REGISTER", 1, uri)
    auth = _credentials(ua.answer(), "REGISTER", uri)
    ua.request("REGISTER", 2, uri, [("Authorization", auth)])
    assert ua.answer().status_code == 200
    (binding,) = registrar.bindings.values()
    routed = registrar.route_invite(binding, body=b"", contact=f"sip:caller@{HOST}:9")
    data, _ = ua.sock.recvfrom(65535)
    invite = sip.parse(data)
    assert isinstance(invite, sip.SipRequest) and invite.method == "INVITE"
    assert invite.uri == binding.contact
    assert invite.headers.get_list("Record-Route") == [routed.record_route]
    bye = sip.make_request(
        "BYE",
        f"sip:caller@{HOST}:9",
        sent_by=(HOST, ua.port),
        from_uri=invite.to_addr.uri,
        from_tag=sip.new_tag(),
        to_uri=invite.from_addr.uri,
        to_tag=invite.from_addr.tag,
        call_id=routed.call_id,
        cseq=1,
        routes=[routed.record_route],
    )
    ua.sock.sendto(bye.to_bytes(), (HOST, registrar.port))
    assert ua.answer().status_code == 200
