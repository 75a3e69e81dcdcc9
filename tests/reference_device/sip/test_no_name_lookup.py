"""The reference decoder looks up no host name unless started with --resolve-names.

In-process: the event loop's getaddrinfo is replaced by one that fails the test when asked about a
name, so "no lookup" is proved, not inferred from the outcome. End to end: `localhost` (which
/etc/hosts resolves without any traffic) as registerServer / sip_out_url host reaches the peer
only under --resolve-names.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.__main__ import parse_args
from reference_device.faults import Faults
from reference_device.gb.outbox import Outbox
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import MediaSession
from reference_device.sip import names
from reference_device.sip.calls import Call
from reference_device.sip.media import TcpActiveMediaPort
from reference_device.sip.registration import RegistrarConfig, Registration
from tests.reference_device.sip.peer import LOCAL, Device, Peer, device
from wire import sip

T = TypeVar("T")
NAME = "registrar.invalid"
LOOKED_UP = ("127.0.0.1", 5999)


@pytest.fixture(autouse=True)
def _lookups_off() -> Iterator[None]:
    """Every case starts with the process default (off) and leaves it so."""
    with names.resolving(False):
        yield


def _run_watched(make: Callable[[], Awaitable[T]]) -> tuple[T, list[str]]:
    """Run `make()` on a fresh loop whose getaddrinfo fails the test when given a name while
    lookups are off, and answers LOOKED_UP otherwise; the result and the hosts it was asked."""
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        asked.append(host)
        if not names.resolve_names() and not names.is_ip_literal(host):
            pytest.fail(f"getaddrinfo({host!r}) called while name lookups are off")
        address = (host, port) if names.is_ip_literal(host) else LOOKED_UP
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", address)]

    async def main() -> T:
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        return await make()

    return asyncio.run(main()), asked


@pytest.mark.parametrize(
    ("host", "literal"),
    [
        ("127.0.0.1", True),
        ("192.0.2.7", True),
        ("::1", True),
        ("[2001:db8::1]", True),
        ("localhost", False),
        ("registrar.invalid", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
    ],
)
def test_ip_literals_are_recognised(host: str, literal: bool) -> None:
    assert names.is_ip_literal(host) is literal


def test_cli_option_is_off_by_default() -> None:
    assert parse_args(["--state", "s"]).resolve_names is False
    assert parse_args(["--state", "s", names.RESOLVE_OPTION]).resolve_names is True


def test_cli_http_host_must_be_a_literal_without_the_option() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--state", "s", "--http", "localhost:0"])
    assert parse_args(["--state", "s", "--http", "localhost:0", names.RESOLVE_OPTION]).http == (
        "localhost",
        0,
    )


def _registration(server: str) -> Registration:
    """A Registration with only what `_destination` reads (no transport needed for it)."""
    registration = object.__new__(Registration)
    registration.config = RegistrarConfig(server, 5060, "", "", "", "dec")
    return registration


def test_registrar_name_is_not_looked_up(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        destination, asked = _run_watched(_registration(NAME)._destination)
    assert destination is None  # the "cannot resolve" path: register_status error
    assert asked == []
    warning = caplog.text
    assert NAME in warning and names.RESOLVE_OPTION in warning, warning


def test_registrar_literal_is_used_without_the_option() -> None:
    destination, asked = _run_watched(_registration("127.0.0.1")._destination)
    assert destination == ("127.0.0.1", 5060)
    assert asked == ["127.0.0.1"]


def test_registrar_name_is_looked_up_under_the_option() -> None:
    with names.resolving(True):
        destination, asked = _run_watched(_registration(NAME)._destination)
    assert asked == [NAME]
    assert destination == LOOKED_UP


def test_gb_platform_name_is_not_looked_up(caplog: pytest.LogCaptureFixture) -> None:
    outbox = object.__new__(Outbox)
    outbox._server, outbox._port = NAME, 5060  # only what destination() reads
    with caplog.at_level(logging.WARNING):
        destination, asked = _run_watched(outbox.destination)
    assert destination is None and asked == []
    assert NAME in caplog.text and names.RESOLVE_OPTION in caplog.text
    with names.resolving(True):
        destination, asked = _run_watched(outbox.destination)
    assert destination == LOOKED_UP and asked == [NAME]


def _call(next_hop: tuple[str, int]) -> Call:
    """A Call with only what `_resolved_next_hop` reads."""
    call = object.__new__(Call)
    call.dialog = cast(Any, SimpleNamespace(next_hop=lambda: next_hop))
    call.flow = cast(Any, SimpleNamespace(addr=(LOCAL, 5070)))
    call.call_id = "c1"
    return call


def test_in_dialog_target_name_is_not_handed_to_sendto(caplog: pytest.LogCaptureFixture) -> None:
    # sendto() resolves a name itself: the name must not get that far.
    with caplog.at_level(logging.WARNING):
        hop = _call(("callee.invalid", 5062))._resolved_next_hop()
    assert hop == (LOCAL, 5070)
    assert "callee.invalid" in caplog.text and names.RESOLVE_OPTION in caplog.text
    assert _call(("127.0.0.2", 5062))._resolved_next_hop() == ("127.0.0.2", 5062)
    with names.resolving(True):
        assert _call(("callee.invalid", 5062))._resolved_next_hop() == ("callee.invalid", 5062)


def test_gb_media_connect_to_a_name_fails_without_lookup(caplog: pytest.LogCaptureFixture) -> None:
    # The GB active-TCP media address comes from the platform's SDP c= line.
    async def connect() -> bool:
        pool = DecoderPool()
        session = MediaSession("tcp", Faults(), pool, name="active")
        port = TcpActiveMediaPort(LOCAL, session, ("media.invalid", 9), retries=0)
        try:
            port.start()
            return await asyncio.wait_for(port.connected, 5.0)
        finally:
            port.close()
            await pool.close()

    with caplog.at_level(logging.INFO):
        connected, asked = _run_watched(connect)
    assert connected is False and asked == []
    assert "media.invalid" in caplog.text and names.RESOLVE_OPTION in caplog.text


# -- end to end: the process and its command line ---------------------------------------------


def _register_to_localhost(dev: Device, registrar: Peer) -> None:
    dev.account(registerServer="localhost", registerPort=str(registrar.port))


def _wait_refusal(dev: Device, prefix: str) -> None:
    """Wait for the warning that names the refused host and the option."""
    poll_until(
        lambda: [
            line
            for line in dev.process.log_path.read_text().splitlines()
            if prefix in line and "'localhost'" in line and names.RESOLVE_OPTION in line
        ],
        bool,
        timeout=5.0,
        expected=f"a log line {prefix!r} naming 'localhost' and {names.RESOLVE_OPTION}",
        interval=0.05,
    )


def _is(method: str) -> Callable[[sip.SipMessage], bool]:
    return lambda m: isinstance(m, sip.SipRequest) and m.method == method


def test_process_does_not_register_to_a_name(tmp_path: Path) -> None:
    registrar = Peer()
    try:
        with device(tmp_path) as dev:
            _register_to_localhost(dev, registrar)
            _wait_refusal(dev, "registrar localhost: cannot resolve")
            registrar.nothing(_is("REGISTER"), 0.5)
            # The path an unresolvable registrar takes: no answer, retried; never registered.
            assert dev.state("register_status") not in ("registered", "connected")
    finally:
        registrar.close()


def test_process_registers_to_a_name_under_the_option(tmp_path: Path) -> None:
    registrar = Peer()
    try:
        with device(tmp_path, names.RESOLVE_OPTION) as dev:
            _register_to_localhost(dev, registrar)
            registrar.request("REGISTER")
    finally:
        registrar.close()


def test_process_does_not_dial_a_name(tmp_path: Path) -> None:
    callee = Peer()
    try:
        with device(tmp_path) as dev:
            dev.account()
            target = f"cam@localhost:{callee.port}"
            dev.ok("modify_call_cfg", id="1", sip_out_url=target, auto_call="1")
            _wait_refusal(dev, "account 1: cannot dial")
            dev.wait_state("call_status", "error")
            callee.nothing(_is("INVITE"), 0.5)
    finally:
        callee.close()


def test_process_dials_a_name_under_the_option(tmp_path: Path) -> None:
    callee = Peer()
    try:
        with device(tmp_path, names.RESOLVE_OPTION) as dev:
            dev.account()
            target = f"cam@localhost:{callee.port}"
            dev.ok("modify_call_cfg", id="1", sip_out_url=target, auto_call="1")
            callee.request("INVITE")
    finally:
        callee.close()
