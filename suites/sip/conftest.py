"""Raw SIP requests to the device over UDP and TCP, built and parsed with wire/.

Used where the case is about the device's own answer to one request (OPTIONS, transports), so no
SIP stack sits between the check and the bytes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.device.accounts import DeviceSip
from wire import sip


def build_request(method: str, target: DeviceSip, transport: str, local: tuple[str, int]) -> bytes:
    """A minimal out-of-dialog request from `local` to the device."""
    via = f"SIP/2.0/{transport.upper()} {local[0]}:{local[1]};branch={sip.new_branch()};rport"
    return (
        f"{method} sip:{target.address} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:conformance@{local[0]}>;tag={sip.new_tag()}\r\nTo: <sip:{target.address}>\r\n"
        f"Call-ID: {sip.new_call_id()}\r\nCSeq: 1 {method}\r\n"
        f"Contact: <sip:conformance@{local[0]}:{local[1]}>\r\nAccept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def send_udp(
    target: DeviceSip, method: str, timeout: float, host: str = LOOPBACK
) -> sip.SipResponse:
    """Send one request over UDP from `host`; the first final answer (AssertionError if none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(timeout)
        sock.sendto(
            build_request(method, target, "udp", sock.getsockname()), (target.host, target.port)
        )
        while True:
            try:
                data, _peer = sock.recvfrom(65535)
            except TimeoutError:
                raise AssertionError(
                    f"no final answer to {method} over UDP from {target.address} within {timeout} s"
                ) from None
            answer = sip.parse(data)
            if isinstance(answer, sip.SipResponse) and answer.status_code >= 200:
                return answer


def send_tcp(
    target: DeviceSip, method: str, timeout: float, host: str = LOOPBACK
) -> sip.SipResponse:
    """Send one request over TCP from `host`; the first final answer on the same connection."""
    with socket.create_connection(
        (target.host, target.port), timeout=timeout, source_address=(host, 0)
    ) as conn:
        conn.sendall(build_request(method, target, "tcp", conn.getsockname()))
        buffer = bytearray()
        while True:
            try:
                chunk = conn.recv(65535)
            except TimeoutError:
                chunk = b""
            if not chunk:
                raise AssertionError(
                    f"no final answer to {method} over TCP from {target.address} "
                    f"(received {bytes(buffer)[:200]!r})"
                )
            buffer.extend(chunk)
            while (parsed := sip.parse_stream(buffer)) is not None:
                answer, used = parsed
                del buffer[:used]
                if isinstance(answer, sip.SipResponse) and answer.status_code >= 200:
                    return answer


@pytest.fixture
def sip_request(device_target: object, suite_host: str) -> Callable[..., sip.SipResponse]:
    """`sip_request(device_sip, "OPTIONS", transport="udp")`: the device's final answer.

    The request comes from the suite host (--suite-host) and names it in Via, From and Contact.
    """
    timeout = device_target.profile.timers.state_timeout  # type: ignore[attr-defined]

    def send(target: DeviceSip, method: str, transport: str = "udp") -> sip.SipResponse:
        return (send_udp if transport == "udp" else send_tcp)(target, method, timeout, suite_host)

    return send
