"""get_binds.json, set_binds.json and server_port.json: one bind list, three views of it."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure, binds_match

# The cases that write binds write `trial_binds` (conftest): spare binds from the profile that
# differ from what the device shows, so the write is visible and opens nothing else.


@pytest.mark.req("SIP-API-BIND-001")
def test_get_binds_shape(api):
    """data.binds is a string, the list "use "," to separate": the page's own example
    `*:5060,*.2222` passes; what set_binds takes is SBIND-*'s."""
    reply = api.call("get_binds")
    data = api.expect_ok(reply, data_schema="PageBindsOk")
    binds = data["binds"]
    if binds and any(not entry.strip() for entry in binds.split(",")):
        raise ConformanceFailure(
            api.req,
            "a comma-separated list of binds (no empty entry)",
            f"{binds!r}",
            reply.exchange,
        )


@pytest.mark.req("SIP-API-PORT-001")
def test_server_port_lists_each_bind(api, trial_binds):
    wanted = trial_binds
    api.set_binds(wanted)
    shown = api.binds()
    assert binds_match(wanted, shown), f"precondition: get_binds shows {wanted}, observed {shown}"
    reply = api.call("server_port")
    data = api.expect_ok(reply, data_schema="ServerPortOk")
    want = [{"name": b, "value": b} for b in shown]
    if data != want:
        raise ConformanceFailure(api.req, f"{want}", f"{data}", reply.exchange)


@pytest.mark.req("SIP-API-PORT-002")
def test_server_port_ignores_example_parameters(api, trial_binds):
    api.set_binds(trial_binds)
    plain = api.call("server_port")
    api.expect_ok(plain)
    example = api.call("server_port", {"id": "3", "type": "sip"})
    api.expect_envelope(example)
    if example.body != plain.body:
        raise ConformanceFailure(
            api.req,
            f"the answer without parameters {plain.body}",
            f"{example.body}",
            example.exchange,
        )


@pytest.mark.req("SIP-API-SBIND-001")
def test_set_binds_then_read_back(api, trial_binds):
    wanted = trial_binds
    api.set_binds(wanted)
    binds = api.binds()
    ports = [p["name"] for p in api.expect_ok(api.call("server_port"))]
    assert binds_match(wanted, binds) and ports == binds, (
        f"[{api.req}] expected get_binds {wanted} and server_port naming the same binds, "
        f"observed {binds} and {ports}"
    )


#: The page's get_binds/set_binds example, as written, and with "*.2222" read as "*:2222".
PAGE_EXAMPLE = "*:5060,*.2222"
PAGE_READINGS = {
    "*:5060,*.2222": "accepted_as_written",
    "*:5060,*:2222": "accepted_normalised",
}


@pytest.mark.req("SIP-API-SBIND-002")
def test_page_example_binds(api, guard, saved_binds, readings):
    """set_binds.json?binds=*:5060,*.2222: refused whole (binds unchanged), or accepted and
    shown as written or normalised; saved_binds puts the binds back."""
    before = guard.snap()
    reply = api.call("set_binds", {"binds": PAGE_EXAMPLE})
    api.expect_envelope(reply)
    if not reply.ok:
        after = guard.snap()
        changed = before.diff(after)
        seen = f"set_binds.json?binds={PAGE_EXAMPLE} answered error {reply.msg}"
        if changed:
            readings.none_of("page_example_binds", f"{seen} but changed {changed}")
        readings.follow("page_example_binds", "refused", f"{seen}, state unchanged")
        api.expect_error(reply, "bad_binds")  # records the code (or checks a pinned one)
        return
    shown = ",".join(api.binds())
    seen = f"set_binds.json?binds={PAGE_EXAMPLE} answered ok; get_binds.json shows {shown!r}"
    reading = PAGE_READINGS.get(shown)
    if reading is None:
        readings.none_of("page_example_binds", seen)
    readings.follow("page_example_binds", reading, seen)


@pytest.mark.parametrize(
    "binds",
    [
        pytest.param(
            b, marks=[pytest.mark.req("SIP-API-SBIND-003"), pytest.mark.needs("bind_validation")]
        )
        for b in (
            "5060",
            "*:",
            "*:65536",
            "256.1.1.1:5060",
            "*:5060,,*:5062",
            "*:50a0",
            "*5060",
        )
    ],
)
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
