"""get_binds.json, set_binds.json and server_port.json: one bind list, three views of it."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import (
    PAGE_EXAMPLE_BINDS_READINGS,
    check_binds_list,
    refused_or_shown_reading,
    server_port_entries,
    server_port_params_reading,
    server_port_reading,
)
from decoder_conformance.device.client import binds_match
from decoder_conformance.failures import NotExercised

# The cases that write binds write `trial_binds` (conftest): spare binds from the profile that
# differ from what the device shows, so the write is visible and opens nothing else.


@pytest.mark.req("SIP-API-BIND-001")
@pytest.mark.read_only
def test_get_binds_shape(api):
    """data.binds is a string, the list "use "," to separate": the page's own example
    `*:5060,*.2222` passes; what set_binds takes is SBIND-*'s."""
    reply = api.call("get_binds")
    data = api.expect_ok(reply, data_schema="PageBindsOk")
    check_binds_list(api.req, data["binds"], reply.exchange)


def _entries(reply):
    """server_port.json's data as a list of {name, value} objects, or None if it is not one."""
    return server_port_entries(reply.data)


@pytest.mark.req("SIP-API-PORT-001")
def test_server_port_entries(api, new_account, trial_binds, readings):
    """server_port.json lists one {name, value} per bind (name = value = the bind, the page's
    example), or one entry per account naming it (the table's "SIP accout id")."""
    wanted = trial_binds
    api.set_binds(wanted)
    shown = api.binds()
    if not binds_match(wanted, shown):  # SIP-API-SBIND-001's to judge
        raise NotExercised(f"precondition: get_binds shows {wanted}, observed {shown}")
    new_account()  # at least one account, so an entry per account shows
    accounts = api.accounts()
    reply = api.call("server_port")
    api.expect_ok(reply)
    entries = _entries(reply)
    seen = (
        f"server_port.json {reply.data} with get_binds.json {shown} and accounts "
        f"{[(a.id, a.name) for a in accounts]}"
    )
    reading = server_port_reading(entries, shown, [(a.id, a.name) for a in accounts])
    if reading is None:
        readings.none_of("server_port_entries", seen)
    readings.follow("server_port_entries", reading, seen)


@pytest.mark.req("SIP-API-PORT-002")
def test_server_port_example_parameters(api, new_account, trial_binds, readings):
    """server_port.json?id=3&type=sip (the page's example) answers what it answers without
    parameters (ignored), or selects some of those entries (filter); so does the same request
    naming an account that exists."""
    api.set_binds(trial_binds)
    account_id = new_account()
    plain = api.call("server_port")
    api.expect_ok(plain)
    listed_entries = _entries(plain)
    if not listed_entries:  # SIP-API-PORT-001's to judge
        raise NotExercised(f"precondition: server_port.json lists entries, observed {plain.body}")
    example = api.call("server_port", {"id": "3", "type": "sip"})
    mine = api.call("server_port", {"id": str(account_id), "type": "sip"})
    api.expect_envelope(example)
    api.expect_envelope(mine)
    seen = (
        f"server_port.json answered {plain.body} without parameters, {example.body} with "
        f"id=3&type=sip and {mine.body} with id={account_id}&type=sip"
    )
    # Under filter, id 3 may name no account: an error answer then selects nothing.
    unknown_3 = 3 not in {a.id for a in api.accounts()}
    reading = server_port_params_reading(plain, example, mine, id_3_unknown=unknown_3)
    if reading is None:
        readings.none_of("server_port_params", seen)
    readings.follow("server_port_params", reading, seen)


@pytest.mark.req("SIP-API-SBIND-001")
def test_set_binds_then_read_back(api, trial_binds):
    """get_binds.json shows the list written (server_port.json's view of it is PORT-001's)."""
    wanted = trial_binds
    api.set_binds(wanted)
    binds = api.binds()
    assert binds_match(wanted, binds), f"[{api.req}] expected get_binds {wanted}, observed {binds}"


#: The page's get_binds/set_binds example, as written, and with "*.2222" read as "*:2222".
PAGE_EXAMPLE = "*:5060,*.2222"
PAGE_READINGS = PAGE_EXAMPLE_BINDS_READINGS


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
        if refused_or_shown_reading(False, changed, None, PAGE_READINGS) is None:
            readings.none_of("page_example_binds", f"{seen} but changed {changed}")
        readings.follow("page_example_binds", "refused", f"{seen}, state unchanged")
        api.expect_error(reply, "bad_binds")  # records the code (or checks a pinned one)
        return
    shown = ",".join(api.binds())
    seen = f"set_binds.json?binds={PAGE_EXAMPLE} answered ok; get_binds.json shows {shown!r}"
    reading = refused_or_shown_reading(True, None, shown, PAGE_READINGS)
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


#: Hosts no SIP UA can listen and answer on: written as binds on the device, never sent to.
NON_UNICAST_HOSTS = ("224.0.0.1", "239.255.255.250", "255.255.255.255")


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(
            h, marks=[pytest.mark.req("SIP-API-SBIND-005"), pytest.mark.needs("bind_validation")]
        )
        for h in NON_UNICAST_HOSTS
    ],
)
def test_non_unicast_binds_refused(api, guard, saved_binds, spare_binds, host):
    """A multicast or broadcast host with a spare bind's port (what the device may open) is
    refused and the binds are unchanged: 1206, or 1207 from a device that tried to open it."""
    port = spare_binds[0].rpartition(":")[2]
    before = guard.snap()
    reply = api.call("set_binds", {"binds": f"{host}:{port}"})
    api.expect_envelope(reply)
    if reply.ok or reply.msg != api.error_codes.get("bind_failed"):
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
