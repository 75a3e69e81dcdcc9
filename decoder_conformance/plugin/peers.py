"""Fixtures for SIP cases: the device's SIP address, SIP accounts, and the peers the suite plays.

Every peer binds the suite host (`suite_host`,
from --suite-host; 127.0.0.1 by default) and writes it in Via, Contact and SDP; a peer that
sends on its own (SIPp, pjsua2, the media source) may send only to 127.0.0.1 and to the device
(`device_hosts`: the host of the device's API URL). Every peer a case starts is stopped when the
case ends. Each fixture registers the records source of every peer it starts (its `records()`,
and the role names of its addresses) with the case's evidence wrapper (plugin/stash.py), so the
SIP ladder and the pcap of the case show every peer, pass or fail (plugin/evidence.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

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
from decoder_conformance.peers.capture import WireRecord, address_text
from decoder_conformance.peers.pjsua.controller import PjsuaPeer
from decoder_conformance.peers.raw_ua import RawCallee, RawCaller, RawUa
from decoder_conformance.peers.registrar import Registrar
from decoder_conformance.peers.sipp.run import SippResult, run_scenario
from decoder_conformance.peers.sipp.uas import SippUas, start_uas
from decoder_conformance.plugin.peer_duties import callee_duties, registrar_duties
from decoder_conformance.plugin.stash import LOCAL_ACCOUNTS, add_duty, case_evidence


@pytest.fixture
def device_hosts(device_target: Target) -> tuple[str, ...]:
    """Hosts the peers may send to besides 127.0.0.1: the device under test's host."""
    return (device_host_of(device_target.api_url),)


@pytest.fixture
def device_sip(api: DeviceClient, device_target: Target) -> DeviceSip:
    """The device's SIP address for this case."""
    return device_sip_address(api, device_target.api_url)


def _local_roles(records: list[WireRecord], role: str) -> dict[str, str]:
    """`role` for every local address of `records` (a peer that learns its ports as it goes)."""
    return {address_text(r.local): role for r in records}


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
    case_evidence(request.node).add_roles(
        "device accounts", lambda: {a.sip.address: "decoder" for a in factory.made}
    )
    return factory


class RecordingServer(Protocol):
    """A started SIP server peer whose records and roles go into the case's evidence."""

    @property
    def address(self) -> str: ...

    def records(self) -> list[WireRecord]: ...

    def roles(self) -> dict[str, str]: ...


ServerT = TypeVar("ServerT", bound=RecordingServer)


def track_server(
    request: pytest.FixtureRequest, started: list[ServerT], server: ServerT, label: str
) -> ServerT:
    """Keep `server` for the fixture to stop, and its records for the case's ladder and pcap."""
    started.append(server)
    case_evidence(request.node).add_records(
        f"{label} {server.address}", server.records, server.roles
    )
    return server


@pytest.fixture
def registrar(
    request: pytest.FixtureRequest, suite_host: str
) -> Iterator[Callable[..., Registrar]]:
    """`registrar(grant=4, mode=Mode.NORMAL, ...)`: a started registrar on the suite host."""
    started: list[Registrar] = []

    def start(**kwargs: Any) -> Registrar:
        kwargs.setdefault("host", suite_host)
        server = track_server(request, started, Registrar(**kwargs).start(), "registrar")
        # Its REGISTER duties fail any case that saw them broken (plugin/peer_duties.py).
        add_duty(request.node, f"registrar {server.address}", registrar_duties(server))
        return server

    yield start
    for server in started:
        server.stop()


def _pjsua_records(peer: PjsuaPeer, *, sync: bool = True) -> list[WireRecord]:
    """A pjsua2 peer's records; none when its worker never started (a dead one raises, and the
    evidence wrapper names it)."""
    return [] if peer.pid is None else list(peer.records(sync=sync))


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
        case_evidence(request.node).add_records(
            f"pjsua2 {role}",
            lambda: _pjsua_records(peer),
            # Read after the records (already synchronised with the worker).
            lambda: _local_roles(_pjsua_records(peer, sync=False), role),
        )
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
        # SIPp's wall-clock stamps are mapped onto the monotonic clock (peers/sipp/log.py), so
        # its records merge with the other peers' in the case's ladder and pcap.
        case_evidence(request.node).add_records(
            f"SIPp {scenario}",
            result.records,
            lambda: {**_local_roles(result.records(), f"SIPp {scenario}"), target: "decoder"},
        )
        return result

    return run


@pytest.fixture
def sipp_uas(
    request: pytest.FixtureRequest, tmp_path: Path, suite_host: str
) -> Iterator[Callable[..., SippUas]]:
    """`sipp_uas(scenario, calls=1, role="callee (SIPp)", ...)`: a background SIPp UAS on the
    suite host, stopped after.

    Its `address` is what the device calls (e.g. in sip_out_url); `role` names its lifeline.
    """
    started: list[SippUas] = []

    def start(scenario: str = "uas_answer", role: str = "", **kwargs: Any) -> SippUas:
        kwargs.setdefault("host", suite_host)
        uas = start_uas(scenario, log_dir=tmp_path / "sipp", **kwargs)
        started.append(uas)
        name = role or f"SIPp {scenario}"
        case_evidence(request.node).add_records(
            f"SIPp UAS {scenario}", uas.records, lambda: {uas.address: name}
        )
        return uas

    yield start
    for uas in started:
        uas.stop()


UaT = TypeVar("UaT", bound=RawUa)


def _raw_factory(
    request: pytest.FixtureRequest, api: DeviceClient, kind: type[UaT], host: str
) -> Iterator[Callable[..., UaT]]:
    made: list[UaT] = []

    def make(user: str = "") -> UaT:
        ua = kind(user or f"{kind.role}{len(made) + 1}", api.req, host=host)
        made.append(ua)
        case_evidence(request.node).add_records(f"raw {ua.role} {ua.address}", ua.records, ua.roles)
        if isinstance(ua, RawCallee):  # its ACK checks fail any case that saw them broken
            add_duty(request.node, f"raw callee {ua.address}", callee_duties(ua))
        return ua

    yield make
    for ua in made:
        ua.close()


@pytest.fixture
def raw_caller(
    request: pytest.FixtureRequest, api: DeviceClient, suite_host: str
) -> Iterator[Callable[..., RawCaller]]:
    """`raw_caller(user=...)`: a plain-socket caller on the suite host, port 0, closed after."""
    yield from _raw_factory(request, api, RawCaller, suite_host)


@pytest.fixture
def raw_callee(
    request: pytest.FixtureRequest, api: DeviceClient, suite_host: str
) -> Iterator[Callable[..., RawCallee]]:
    """`raw_callee(user=...)`: a plain-socket callee on the suite host, port 0, closed after."""
    yield from _raw_factory(request, api, RawCallee, suite_host)
