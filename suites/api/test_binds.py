"""get_binds.json, set_binds.json and server_port.json: one bind list, three views of it."""

from __future__ import annotations

import pytest

from fixtures.client import ConformanceFailure

#: A valid list different from anything a device is likely to hold already.
TRIAL_BINDS = ["*:5060", "127.0.0.1:5064"]


def _set_trial(api, saved_binds):
    wanted = TRIAL_BINDS if saved_binds != TRIAL_BINDS else TRIAL_BINDS[:1]
    api.set_binds(wanted)
    return wanted


@pytest.mark.req("SIP-API-BIND-001")
def test_get_binds_shape(api):
    api.expect_ok(api.call("get_binds"), data_schema="BindsOk")


@pytest.mark.req("SIP-API-PORT-001")
def test_server_port_lists_each_bind(api, saved_binds):
    wanted = _set_trial(api, saved_binds)
    assert api.binds() == wanted, f"precondition: get_binds shows {wanted}"
    reply = api.call("server_port")
    data = api.expect_ok(reply, data_schema="ServerPortOk")
    want = [{"name": b, "value": b} for b in wanted]
    if data != want:
        raise ConformanceFailure(api.req, f"{want}", f"{data}", reply.exchange)


@pytest.mark.req("SIP-API-PORT-002")
def test_server_port_ignores_example_parameters(api, saved_binds):
    _set_trial(api, saved_binds)
    plain = api.call("server_port")
    api.expect_ok(plain)
    example = api.call("server_port", {"id": "3", "type": "sip"})
    api.expect_envelope(example)
    if example.body != plain.body:
        raise ConformanceFailure(
            api.req, f"the answer without parameters {plain.body}", f"{example.body}",
            example.exchange,
        )  # fmt: skip


@pytest.mark.req("SIP-API-SBIND-001")
def test_set_binds_then_read_back(api, saved_binds):
    wanted = _set_trial(api, saved_binds)
    binds = api.binds()
    ports = [p["name"] for p in api.expect_ok(api.call("server_port"))]
    assert (binds, ports) == (wanted, wanted), (
        f"[{api.req}] expected get_binds and server_port names {wanted}, "
        f"observed {binds} and {ports}"
    )


@pytest.mark.req("SIP-API-SBIND-002")
@pytest.mark.needs("bind_validation")
def test_page_example_binds_refused(api, guard, saved_binds):
    before = guard.snap()
    reply = api.call("set_binds", {"binds": "*:5060,*.2222"})
    api.expect_error(reply, "bad_binds")
    guard.unchanged(before, reply)


@pytest.mark.parametrize(
    "binds",
    [
        pytest.param(b, marks=[pytest.mark.req("SIP-API-SBIND-003"),
                               pytest.mark.needs("bind_validation")])
        for b in (
            "5060", "*:", "*:65536", "256.1.1.1:5060", "sip.example.invalid:5060",
            "*:5060,,*:5062", "*:50a0", "*5060",
        )
    ],
)  # fmt: skip
def test_malformed_binds_refused(api, guard, saved_binds, binds):
    before = guard.snap()
    reply = api.call("set_binds", {"binds": binds})
    api.expect_error(reply, "bad_binds")
    guard.unchanged(before, reply)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="absent", marks=pytest.mark.req("SIP-API-SBIND-004")),
        pytest.param({"binds": ""}, id="empty", marks=pytest.mark.req("SIP-API-SBIND-004")),
    ],
)
def test_set_binds_missing_refused(api, guard, saved_binds, params):
    before = guard.snap()
    reply = api.call("set_binds", params)
    api.expect_error(reply, "missing_parameter")
    guard.unchanged(before, reply)
