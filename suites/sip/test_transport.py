"""Transports and OPTIONS: the binds are real sockets that answer SIP over UDP and TCP."""

from __future__ import annotations

import socket

import pytest

from decoder_conformance.device.client import ConformanceFailure

REQUIRED_ALLOW = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"}


@pytest.mark.req("SIP-TRN-001")
def test_bind_shows_bound_port_and_answers(api, device_sip, sip_request):
    ports = api.expect_ok(api.call("server_port"), data_schema="ServerPortOk")
    shown = [entry["value"] for entry in ports]
    assert device_sip.bind in shown, f"server_port.json {shown} lacks get_binds' {device_sip.bind}"
    assert device_sip.port != 0
    answer = sip_request(device_sip, "OPTIONS", "udp")
    assert answer.status_code == 200, (
        f"OPTIONS over UDP to {device_sip.address}: {answer.start_line()}"
    )


@pytest.mark.req("SIP-TRN-002")
def test_bind_on_taken_port_refused_and_nothing_changes(api, device_sip, sip_request):
    before = api.binds()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((device_sip.host, 0))
        port = taken.getsockname()[1]
        reply = api.call("set_binds", {"binds": ",".join([*before, f"{device_sip.host}:{port}"])})
        api.expect_error(reply, "bind_failed")
    after = api.binds()
    if after != before:
        raise ConformanceFailure(
            api.req, f"binds unchanged {before}", f"binds {after}", reply.exchange
        )
    assert sip_request(device_sip, "OPTIONS", "udp").status_code == 200, (
        "the old bind still answers"
    )


@pytest.mark.req("SIP-TRN-003")
def test_tcp_transport_answers(device_sip, sip_request):
    answer = sip_request(device_sip, "OPTIONS", "tcp")
    assert answer.status_code == 200, (
        f"OPTIONS over TCP to {device_sip.address}: {answer.start_line()}"
    )


@pytest.mark.req("SIP-OPT-001")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_answered_with_allow(device_sip, sip_request, transport):
    answer = sip_request(device_sip, "OPTIONS", transport)
    assert answer.status_code == 200, answer.start_line()
    allow = {m.strip().upper() for m in answer.headers.get_list("Allow")}
    missing = REQUIRED_ALLOW - allow
    assert not missing, f"Allow {sorted(allow)} lacks {sorted(missing)}"
    assert answer.to_addr.tag, "the 200 to OPTIONS carries no To tag (RFC 3261 §8.2.6.2)"
