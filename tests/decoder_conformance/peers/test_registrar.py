"""The registrar peer: digest, granted expiry, fault modes, records; checked with pjsua2 as UA."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.pjsua.controller import PjsuaPeer
from decoder_conformance.peers.registrar import (
    Mode,
    Registrar,
    is_answer,
    is_authorized,
    is_register,
    requested_expiry,
)
from wire import sip


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[PjsuaPeer]:
    with PjsuaPeer("ua", log_dir=tmp_path) as ua:
        ua.start(user="alice")
        yield ua


def test_challenge_then_grant_shorter_expiry(peer: PjsuaPeer) -> None:
    with Registrar(grant=30) as registrar:
        peer.register(f"sip:{registrar.address}", "alice", "secret", expires=300)
        event = peer.wait_registration(200)
        assert event["expiration"] == 30, event  # pjsua: "expires" is its own refresh point
        first, second = registrar.registers()[:2]
        assert not is_authorized(first) and is_authorized(second)
        assert requested_expiry(first) == 300
        assert [r.first_line for r in registrar.records() if r.direction == "TX"][:2] == [
            "SIP/2.0 401 Unauthorized",
            "SIP/2.0 200 OK",
        ]
        assert next(iter(registrar.bindings.values())).expires == 30
        peer.unregister()
        peer.wait_registration(200)
        registrar.wait_for(
            lambda r: is_register(r) and requested_expiry(r) == 0,
            timeout=5,
            expected="an un-REGISTER (expires 0)",
        )
        assert registrar.bindings == {}


def test_wrong_password_is_challenged_again(peer: PjsuaPeer) -> None:
    with Registrar(qop=False) as registrar:
        peer.register(f"sip:{registrar.address}", "alice", "wrong")
        registrar.wait_for(
            lambda r: is_register(r) and is_authorized(r),
            timeout=5,
            expected="an authorized REGISTER",
        )
        out = registrar.wait_for(
            lambda r: is_answer(r, 401),
            since=2,
            timeout=5,
            expected="a second 401 after the wrong credentials",
        )
        assert registrar.bindings == {}, out


@pytest.mark.parametrize(("mode", "code"), [(Mode.FORBIDDEN, 403), (Mode.UNAVAILABLE, 503)])
def test_failure_modes(peer: PjsuaPeer, mode: Mode, code: int) -> None:
    with Registrar(mode=mode, retry_after=7) as registrar:
        peer.register(f"sip:{registrar.address}", "alice", "secret")
        peer.wait_registration(code)
        answer = registrar.wait_for(is_answer, timeout=5, expected="an answer")
        assert answer.message.status_code == code
        if code == 503:
            assert answer.message.headers.get("Retry-After") == "7"


def register_bytes(port: int, branch: str, expires: int = 60) -> bytes:
    return (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{port};branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: reg-test\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@127.0.0.1:{port}>\r\n"
        f"Expires: {expires}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_tcp_and_silence_then_drop_after() -> None:
    with (
        Registrar(mode=Mode.DROP_AFTER, answer_limit=1) as registrar,
        socket.create_connection(("127.0.0.1", registrar.tcp_port), timeout=5) as conn,
    ):
        conn.sendall(register_bytes(conn.getsockname()[1], sip.new_branch()))
        answer = sip.parse_stream(conn.recv(65535))
        assert answer is not None
        assert answer[0].status_code == 401  # type: ignore[union-attr]
        conn.sendall(register_bytes(conn.getsockname()[1], sip.new_branch()))
        registrar.wait_for(
            lambda r: len(registrar.registers()) == 2,
            timeout=5,
            expected="the second REGISTER recorded",
        )
        records = registrar.records()
        assert [r.direction for r in records] == ["RX", "TX", "RX"], "second unanswered"
        assert all(r.transport == "tcp" for r in records)
        local, peer = ("127.0.0.1", registrar.tcp_port), conn.getsockname()
        assert all((r.local, r.remote) == (local, peer) for r in records)
        assert records[1].src == local and records[1].dst == peer


def test_bytes_that_are_not_sip_are_recorded_and_fail_the_reader() -> None:
    """Not SIP from the device: kept as it came, unanswered; the case reading it fails."""
    with Registrar() as registrar, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.sendto(b"NOT SIP AT ALL\r\n\r\n", ("127.0.0.1", registrar.port))
        with pytest.raises(DeviceFailure, match="not a SIP message"):
            registrar.wait_for(is_register, timeout=2, expected="a REGISTER")
        (record,) = registrar.records()
        assert (record.direction, record.raw) == ("RX", b"NOT SIP AT ALL\r\n\r\n")
        assert record.remote == udp.getsockname()
        # Still serving: a real REGISTER after it is answered.
        udp.sendto(
            register_bytes(udp.getsockname()[1], sip.new_branch()), ("127.0.0.1", registrar.port)
        )
        udp.settimeout(5)
        assert sip.parse(udp.recv(65535)).status_code == 401  # type: ignore[union-attr]


def test_server_thread_errors_reach_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the registrar's own thread is the suite's (NotExercised: broken), not the
    device's."""
    registrar = Registrar().start()

    def broken(request: object) -> None:
        raise KeyError("registrar bug")

    monkeypatch.setattr(registrar, "_respond", broken)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(register_bytes(5060, sip.new_branch()), ("127.0.0.1", registrar.port))
        with pytest.raises(NotExercised, match="registrar thread failed") as caught:
            registrar.wait_for(lambda r: False, timeout=2, expected="nothing")
    assert not isinstance(caught.value, AssertionError)
    with pytest.raises(RuntimeError):
        registrar.stop()


def test_binds_and_names_the_suite_host() -> None:
    """`host` (--suite-host) is bound for UDP and TCP; 127.0.0.2 stands for a lab suite host."""
    registrar = Registrar(host="127.0.0.2")
    try:
        assert registrar.udp.getsockname()[0] == registrar.tcp.getsockname()[0] == "127.0.0.2"
        assert registrar.address == f"127.0.0.2:{registrar.port}"
    finally:
        registrar.udp.close()
        registrar.tcp.close()
    with Registrar() as default:
        assert default.host == "127.0.0.1" and default.address.startswith("127.0.0.1:")
