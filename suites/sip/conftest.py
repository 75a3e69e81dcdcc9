"""Raw SIP requests to the device over UDP and TCP, built and parsed with wire/.

Used where the case is about the device's own answer to one request (OPTIONS, transports), so no
SIP stack sits between the check and the bytes. Also the registration steps the sip cases share
(imported as `suites.sip.conftest`): a granted registration, a binding removed, register_status
sampled.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.contract.profile import Timers
from decoder_conformance.device.accounts import DeviceSip, SipAccount, SipAccounts
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.target import Target
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import Direction, Transport, WireRecord, address_text
from decoder_conformance.peers.registrar import (
    Registrar,
    is_answer,
    is_register,
    requested_expiry,
    wait_registered,
)
from decoder_conformance.peers.sip_checks import GRANTED_STATES
from decoder_conformance.plugin.stash import CaseEvidence
from decoder_conformance.plugin.status_trace import trace_every_case
from wire import sip


def build_request(method: str, target: DeviceSip, transport: str, local: tuple[str, int]) -> bytes:
    """A minimal out-of-dialog request from `local` to the device."""
    return sip.make_request(
        method,
        f"sip:{target.address}",
        sent_by=local,
        transport=transport,
        from_uri=f"sip:conformance@{local[0]}",
        from_tag=sip.new_tag(),
        to_uri=f"sip:{target.address}",
        call_id=sip.new_call_id(),
        cseq=1,
        contact=f"sip:conformance@{local[0]}:{local[1]}",
        headers=[("Accept", "application/sdp")],
    ).to_bytes()


def _record(
    records: list[WireRecord],
    direction: Direction,
    *,
    transport: Transport,
    local: tuple[str, int],
    remote: tuple[str, int],
    data: bytes,
) -> WireRecord:
    record = WireRecord(time.monotonic(), direction, transport, local, remote, data)
    records.append(record)
    return record


def _final(record: WireRecord) -> sip.SipResponse | None:
    """The record's message if it is a final response (DeviceFailure if it is not SIP)."""
    answer = record.message
    if isinstance(answer, sip.SipResponse) and answer.status_code >= 200:
        return answer
    return None


def send_udp(
    target: DeviceSip,
    method: str,
    timeout: float,
    host: str = LOOPBACK,
    records: list[WireRecord] | None = None,
) -> sip.SipResponse:
    """Send one request over UDP from `host`; the first final answer (DeviceFailure if none).

    What was sent and received is appended to `records`.
    """
    records = [] if records is None else records
    remote = (target.host, target.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()
        data = build_request(method, target, "udp", local)
        _record(records, "TX", transport="udp", local=local, remote=remote, data=data)
        sock.sendto(data, remote)
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                raise DeviceFailure(
                    f"no final answer to {method} over UDP from {target.address} within {timeout} s"
                ) from None
            answer = _final(
                _record(records, "RX", transport="udp", local=local, remote=peer, data=data)
            )
            if answer is not None:
                return answer


def send_tcp(
    target: DeviceSip,
    method: str,
    timeout: float,
    host: str = LOOPBACK,
    records: list[WireRecord] | None = None,
) -> sip.SipResponse:
    """Send one request over TCP from `host`; the first final answer on the same connection.

    What was sent and received is appended to `records`.
    """
    records = [] if records is None else records
    remote = (target.host, target.port)
    with socket.create_connection(remote, timeout=timeout, source_address=(host, 0)) as conn:
        local = conn.getsockname()
        data = build_request(method, target, "tcp", local)
        _record(records, "TX", transport="tcp", local=local, remote=remote, data=data)
        conn.sendall(data)
        buffer = bytearray()
        while True:
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                chunk = b""
            if not chunk:
                raise DeviceFailure(
                    f"no final answer to {method} over TCP from {target.address} "
                    f"(received {bytes(buffer)[:200]!r})"
                )
            buffer.extend(chunk)
            while buffer.strip(b"\r\n"):
                try:
                    parsed = sip.parse_stream(buffer)
                except ValueError:
                    # Not SIP: recorded as received, and reading it fails the device.
                    _final(
                        _record(
                            records,
                            "RX",
                            transport="tcp",
                            local=local,
                            remote=remote,
                            data=bytes(buffer),
                        )
                    )
                    raise
                if parsed is None:
                    break
                _message, used = parsed
                raw = bytes(buffer[:used])
                del buffer[:used]
                answer = _final(
                    _record(records, "RX", transport="tcp", local=local, remote=remote, data=raw)
                )
                if answer is not None:
                    return answer


@pytest.fixture
def sip_request(
    device_target: object, suite_host: str, evidence: CaseEvidence
) -> Callable[..., sip.SipResponse]:
    """`sip_request(device_sip, "OPTIONS", transport="udp")`: the device's final answer.

    The request comes from the suite host (--suite-host) and names it in Via, From and Contact.
    What was sent and received goes into the case's ladder and pcap.
    """
    timeout = device_target.profile.timers.state_timeout  # type: ignore[attr-defined]
    records: list[WireRecord] = []
    evidence.add_records(
        "raw requests",
        lambda: list(records),
        lambda: {
            **{address_text(r.local): "suite (raw request)" for r in records},
            **{address_text(r.remote): "decoder" for r in records},
        },
    )

    def send(target: DeviceSip, method: str, transport: str = "udp") -> sip.SipResponse:
        sender = send_udp if transport == "udp" else send_tcp
        return sender(target, method, timeout, suite_host, records)

    return send


@pytest.fixture
def saved_binds(api: DeviceClient) -> Iterator[list[str]]:
    """The binds before the case; written back after it if the case changed them."""
    before = api.binds()
    yield before
    if api.binds() != before:
        api.set_binds(before)


def claimed_states(device_target: Target) -> tuple[str, ...]:
    """The states that claim a granted registration, for the "never before the 200" and "never
    while refused" checks: the profile's pinned reading of register_status_granted, else any of
    GRANTED_STATES. Waits for a granted registration accept any of them (no cascades)."""
    pinned = device_target.profile.readings.get("register_status_granted")
    return (pinned,) if pinned else GRANTED_STATES


def answered_200(record: WireRecord) -> bool:
    """A 200 the registrar sent."""
    return is_answer(record, 200)


def registered_with_binding(
    api: DeviceClient,
    sip_account: SipAccounts,
    registrar: Callable[..., Registrar],
    timers: Timers,
) -> tuple[Registrar, SipAccount]:
    """A registrar (60 s grants) and an account registered with it whose binding it holds
    (NotExercised when it holds none: there is nothing to remove)."""
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    wait_registered(api, account.id, server, timeout=timers.state_timeout)
    if not server.bindings:
        raise NotExercised("harness: the registrar holds no binding to remove")
    return server, account


def wait_unregistered(server: Registrar, *, since: int, timeout: float, after: str) -> None:
    """From record `since` on: a REGISTER with expiry 0 (sent `after` what the case did), then
    the binding gone from the registrar."""
    server.wait_for(
        lambda r: is_register(r) and requested_expiry(r) == 0,
        since=since,
        timeout=timeout,
        expected=f"a REGISTER with expiry 0 after {after}",
    )
    server.wait_for(
        lambda r: not server.bindings,
        since=since,
        timeout=timeout,
        expected="the binding gone from the registrar",
    )


def register_sample(api: DeviceClient, account: SipAccount) -> tuple[float, float, str]:
    """(time the request left, time the answer came, register_status)."""
    start = time.monotonic()
    state = api.status(account.id).register
    return start, time.monotonic(), state


#: Every case here has its accounts' status.json traced and judged (plugin/status_trace.py).
_status_trace = trace_every_case()
