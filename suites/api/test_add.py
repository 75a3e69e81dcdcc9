"""add.json: types, required parameters, unique and bounded names, ids, the account limit."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import (
    SSIP_READINGS,
    check_read_back,
    refused_or_shown_reading,
)
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised


def _listed_names(api):
    return {a.name for a in api.accounts()}


@pytest.mark.req("SIP-API-ADD-001")
def test_add_sip_account_listed(api, add_named, new_account):
    """Listed with type sip; what `created` shows after add is SIP-API-STAT-002's reading."""
    name = new_account.name()
    if name in _listed_names(api):
        raise NotExercised(f"harness: the fresh name {name!r} is already listed")
    reply = add_named(name, "sip")
    api.expect_ok(reply)
    found = api.find(name)
    if found is None:
        raise ConformanceFailure(
            api.req, f"{name!r} listed after add.json ok", "not listed", reply.exchange
        )
    check_read_back(api.req, f"list.json type of {name!r}", "sip", found.type, reply.exchange)


@pytest.mark.req("SIP-API-ADD-002")
@pytest.mark.needs("gb28181")
def test_add_gb28181_account(api, new_account, listed):
    account_id = new_account("gb28181")
    entry = listed(account_id)
    protocol = api.account(account_id)["protocol"]
    check_read_back(
        api.req,
        "list type and account.json protocol",
        ("gb28181", "gb28181"),
        (entry.type, protocol),
    )


@pytest.mark.req("SIP-API-ADD-003")
def test_add_type_ssip(api, add_named, new_account, guard, readings):
    """add.json type=Ssip: refused whole (nothing listed, nothing changed), or accepted and
    listed as sip or as Ssip; add_named removes an account it created."""
    name = new_account.name()
    before = guard.snap()
    reply = add_named(name, "Ssip")
    api.expect_envelope(reply)
    found = api.find(name)
    if not reply.ok:
        seen = f"add.json?name={name}&type=Ssip answered error {reply.msg}"
        changed = before.diff(guard.snap())
        if refused_or_shown_reading(False, changed, None, SSIP_READINGS) is None:
            readings.none_of("ssip_type", f"{seen} but changed {changed}")
        readings.follow("ssip_type", "refused", f"{seen}, nothing listed or changed")
        api.expect_error(reply, "unknown_type")  # records the code (or checks a pinned one)
        return
    if found is None:
        readings.none_of(
            "ssip_type", f"add.json?name={name}&type=Ssip answered ok but {name!r} is not listed"
        )
    protocol = api.account(found.id).get("protocol")
    seen = (
        f"add.json?name={name}&type=Ssip answered ok; list.json type {found.type!r}, "
        f"account.json protocol {protocol!r}"
    )
    reading = refused_or_shown_reading(True, None, (found.type, protocol), SSIP_READINGS)
    if reading is None:
        readings.none_of("ssip_type", seen)
    readings.follow("ssip_type", reading, seen)


@pytest.mark.parametrize(
    "bad_type",
    [pytest.param(t, marks=pytest.mark.req("SIP-API-ADD-004")) for t in ("SIP", "gb", "sip ")],
)
def test_add_unknown_type_refused(api, add_named, new_account, bad_type):
    name = new_account.name()
    reply = add_named(name, bad_type)
    api.expect_error(reply, "unknown_type")
    assert name not in _listed_names(api), (
        f"[{api.req}] expected nothing listed as {name!r} after type {bad_type!r}, observed listed"
    )


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"type": "sip"}, id="no-name", marks=pytest.mark.req("SIP-API-ADD-005")),
        pytest.param(
            {"name": "", "type": "sip"}, id="empty-name", marks=pytest.mark.req("SIP-API-ADD-005")
        ),
        pytest.param({"name": None}, id="no-type", marks=pytest.mark.req("SIP-API-ADD-005")),
    ],
)
def test_add_missing_parameter_refused(api, new_account, guard, params):
    params = {k: (v if v is not None else new_account.name()) for k, v in params.items()}
    before = guard.snap()
    reply = api.call("add", params)
    api.expect_error(reply, "missing_parameter")
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-ADD-006")
@pytest.mark.needs("unique_names")
def test_add_duplicate_name_refused(api, add_named, new_account, listed):
    account_id = new_account()
    name = listed(account_id).name
    reply = add_named(name, "sip")
    api.expect_error(reply, "duplicate_name")
    holders = [a.id for a in api.accounts() if a.name == name]
    assert holders == [account_id], (
        f"[{api.req}] expected only id {account_id} named {name!r}, observed ids {holders}"
    )


@pytest.mark.req("SIP-API-ADD-007")
def test_add_name_length_limit(api, add_named, new_account, limits):
    limit = limits.max_name_length
    longest = new_account.name().ljust(limit, "n")
    api.expect_ok(add_named(longest, "sip"))
    assert longest in _listed_names(api), (
        f"[{api.req}] expected the {limit}-character name listed unchanged, observed absent"
    )
    too_long = new_account.name().ljust(limit + 1, "n")
    reply = add_named(too_long, "sip")
    api.expect_error(reply, "too_long")
    assert too_long not in _listed_names(api), (
        f"[{api.req}] expected the {limit + 1}-character name not listed, observed listed"
    )


@pytest.mark.req("SIP-API-ADD-008")
def test_removed_id_never_reused(api, new_account):
    seen = {a.id for a in api.accounts()}
    first = new_account()
    seen.add(first)
    api.remove(first)
    new_account.created.remove(first)
    still = {a.id for a in api.accounts()}
    assert first not in still, f"precondition: id {first} removed, observed still listed"
    second = new_account()
    assert second not in seen, (
        f"[{api.req}] expected a new id never seen before (seen {sorted(seen)}, removed {first}), "
        f"observed id {second}"
    )


@pytest.mark.req("SIP-API-ADD-009")
def test_add_beyond_limit_refused(api, add_named, new_account, limits, guard):
    limit = limits.max_accounts
    present = len(api.accounts())
    assert present <= limit, f"precondition: {present} accounts listed, profile limit {limit}"
    for _ in range(limit - present):
        new_account()
    assert len(api.accounts()) == limit, f"precondition: {limit} accounts listed"
    before = guard.snap()
    name = new_account.name()
    reply = add_named(name, "sip")
    api.expect_error(reply, "limit_reached")
    guard.unchanged(before, reply)
