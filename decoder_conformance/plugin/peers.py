"""Fixtures for SIP cases: the device's SIP address, SIP accounts, and the peers the suite plays.

Every peer binds the suite host (`suite_host`,
from --suite-host; 127.0.0.1 by default) and writes it in Via, Contact and SDP; a peer that
sends on its own (SIPp, pjsua2, the media source) may send only to 127.0.0.1 and to the device
(`device_hosts`: the host of the device's API URL). Every peer a case starts is stopped when the
case ends, and every SIP message the peers saw is drawn as a ladder (SVG and text) and attached
to the case's Allure result, pass or fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.device.accounts import (
    AccountFactory,
    DeviceSip,
    SipAccounts,
    device_host_of,
    device_sip_address,
)
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.target import Target
from decoder_conformance.peers.pjsua.controller import PjsuaPeer
from decoder_conformance.peers.raw_ua import RawCallee, RawCaller, RawUa
from decoder_conformance.peers.registrar import Registrar
from decoder_conformance.peers.sipp.run import SippResult, run_scenario
from decoder_conformance.peers.sipp.uas import SippUas, start_uas
from decoder_conformance.plugin.stash import LADDERS, LOCAL_ACCOUNTS, LadderSource
from decoder_conformance.report.ladder import LadderMessage, sip_label


@pytest.fixture
def device_hosts(device_target: Target) -> tuple[str, ...]:
    """Hosts the peers may send to besides 127.0.0.1: the device under test's host."""
    return (device_host_of(device_target.api_url),)


@pytest.fixture
def device_sip(api: DeviceClient, device_target: Target) -> DeviceSip:
    """The device's SIP address for this case."""
    return device_sip_address(api, device_target.api_url)


def _ladder_sources(request: pytest.FixtureRequest) -> list[LadderSource]:
    node: pytest.Item = request.node
    return node.stash.setdefault(LADDERS, [])


@pytest.fixture
def sip_account(
    request: pytest.FixtureRequest,
    api: DeviceClient,
    new_account: AccountFactory,
    device_sip: DeviceSip,
) -> SipAccounts:
    """`sip_account(registrar=..., call_cfg={...})`: a SIP account on the device for this case."""
    numbers = request.config.stash.setdefault(LOCAL_ACCOUNTS, itertools.count(7001))
    factory = SipAccounts(api, new_account, device_sip, numbers)
    _ladder_sources(request).append(lambda: ([], {a.sip.address: "decoder" for a in factory.made}))
    return factory


def _registrar_ladder(registrar: Registrar) -> tuple[list[LadderMessage], dict[str, str]]:
    messages = []
    for record in list(registrar.records):
        peer = f"{record.peer[0]}:{record.peer[1]}"
        src, dst = (
            (peer, registrar.address) if record.direction == "in" else (registrar.address, peer)
        )
        text = record.message.to_bytes().decode("utf-8", "replace")
        messages.append(LadderMessage(record.t, src, dst, sip_label(record.first_line), text))
    return messages, {registrar.address: "registrar"}


@pytest.fixture
def registrar(
    request: pytest.FixtureRequest, suite_host: str
) -> Iterator[Callable[..., Registrar]]:
    """`registrar(grant=4, mode=Mode.NORMAL, ...)`: a started registrar on the suite host."""
    started: list[Registrar] = []

    def start(**kwargs: Any) -> Registrar:
        kwargs.setdefault("host", suite_host)
        server = Registrar(**kwargs).start()
        started.append(server)
        _ladder_sources(request).append(lambda: _registrar_ladder(server))
        return server

    yield start
    for server in started:
        server.stop()


def _pjsua_ladder(peer: PjsuaPeer, role: str) -> tuple[list[LadderMessage], dict[str, str]]:
    if peer.pid is None:
        return [], {}
    try:
        captured = peer.messages()
    except Exception:  # a dead peer has no messages to give; its death is reported elsewhere
        captured = []
    messages = [LadderMessage(m.t, m.src, m.dst, m.label, m.text) for m in captured]
    roles = {m.local: role for m in captured if m.local}
    return messages, roles


@pytest.fixture
def pjsua(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    suite_host: str,
    device_hosts: tuple[str, ...],
) -> Iterator[Callable[..., PjsuaPeer]]:
    """`pjsua(role="caller", user=...)`: a started pjsua2 peer on the suite host (own process)."""
    peers: list[PjsuaPeer] = []

    def start(role: str = "caller", user: str = "peer", **kwargs: Any) -> PjsuaPeer:
        peer = PjsuaPeer(
            role,
            log_dir=tmp_path / f"pjsua-{role}-{len(peers)}",
            host=suite_host,
            allowed_hosts=device_hosts,
        )
        peers.append(peer)
        peer.start(user=user, **kwargs)
        _ladder_sources(request).append(lambda: _pjsua_ladder(peer, role))
        return peer

    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture
def sipp(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    suite_host: str,
    device_hosts: tuple[str, ...],
) -> Callable[..., SippResult]:
    """`sipp(scenario, target, ...)`: run a SIPp scenario; no SIPp raises ToolMissing (broken).

    SIPp binds the suite host; `target` may be 127.0.0.1 or the device's host, nothing else.
    """

    def run(scenario: str, target: str, **kwargs: Any) -> SippResult:
        kwargs.setdefault("host", suite_host)
        kwargs.setdefault("allowed_hosts", device_hosts)
        result = run_scenario(scenario, target, log_dir=tmp_path / "sipp", **kwargs)
        # SIPp stamps its log with its own clock: its ladder is right on its own, not merged.
        roles = {target: "decoder"}
        _ladder_sources(request).append(lambda: (result.ladder(), roles))
        return result

    return run


@pytest.fixture
def sipp_uas(tmp_path: Path, suite_host: str) -> Iterator[Callable[..., SippUas]]:
    """`sipp_uas(scenario, calls=1, ...)`: a background SIPp UAS on the suite host, stopped after.

    Its `address` is what the device calls (e.g. in sip_out_url).
    """
    started: list[SippUas] = []

    def start(scenario: str = "uas_answer", **kwargs: Any) -> SippUas:
        kwargs.setdefault("host", suite_host)
        uas = start_uas(scenario, log_dir=tmp_path / "sipp", **kwargs)
        started.append(uas)
        return uas

    yield start
    for uas in started:
        uas.stop()


def _raw_factory(
    request: pytest.FixtureRequest, api: DeviceClient, kind: type[RawUa], host: str
) -> Iterator[Callable[..., Any]]:
    made: list[RawUa] = []

    def make(user: str = "") -> Any:
        ua = kind(user or f"{kind.role}{len(made) + 1}", api.req, host=host)
        made.append(ua)
        _ladder_sources(request).append(ua.ladder)
        return ua

    yield make
    for ua in made:
        ua.close()
    errors = [e for ua in made for e in ua.errors]
    assert not errors, f"[{api.req}] the device sent unparsable SIP: {errors}"


@pytest.fixture
def raw_caller(
    request: pytest.FixtureRequest, api: DeviceClient, suite_host: str
) -> Iterator[Callable[..., Any]]:
    """`raw_caller(user=...)`: a plain-socket caller on the suite host, port 0, closed after."""
    yield from _raw_factory(request, api, RawCaller, suite_host)


@pytest.fixture
def raw_callee(
    request: pytest.FixtureRequest, api: DeviceClient, suite_host: str
) -> Iterator[Callable[..., Any]]:
    """`raw_callee(user=...)`: a plain-socket callee on the suite host, port 0, closed after."""
    yield from _raw_factory(request, api, RawCallee, suite_host)
