"""modify.json: each field reads back, only given fields change, bad requests are refused whole."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import (
    SSIP_READINGS,
    account_read_back,
    check_read_back,
    check_renamed,
    check_untouched,
    page_modify_example,
    refused_or_shown_reading,
)
from decoder_conformance.device.client import ConformanceFailure, as_number
from decoder_conformance.failures import NotExercised

#: Stands for the profile's first spare bind: a localAddress the device opens, so only a bind
#: the suite may open (account.json shows it as written, port 0 included).
SPARE = "<spare bind>"

#: modify.json field -> (value sent, value account.json must show).
FIELD_VALUES = {
    "localAccount": ("4001", "4001"),
    "localAddress": (SPARE, SPARE),
    "realm": ("realm-one", "realm-one"),
    "serverId": ("34020000002000000001", "34020000002000000001"),
    # A loopback literal: the device registers to what it is given, and must not resolve a name.
    "registerServer": ("127.0.0.2", "127.0.0.2"),
    "registerPort": ("5080", 5080),
    "username": ("user-one", "user-one"),
    "password": ("secret-one", "secret-one"),
}


def _as_shown(field, value):
    """`value` as FIELD_VALUES shows it: registerPort as a number (1 or "1" alike), others as
    read, with their JSON type."""
    if field == "registerPort":
        return as_number(value)
    return value if isinstance(value, str) else (value, type(value))


@pytest.mark.parametrize(
    "field",
    [pytest.param(f, marks=pytest.mark.req("SIP-API-MOD-001")) for f in FIELD_VALUES],
)
def test_modify_field_reads_back(api, new_account, spare_binds, field):
    account_id = new_account()
    sent, shown = (spare_binds[0] if v == SPARE else v for v in FIELD_VALUES[field])
    before = api.account(account_id)[field]
    if _as_shown(field, before) == shown:
        raise NotExercised(f"harness: {field} is already {shown!r}")
    api.modify(account_id, **{field: sent})
    after = api.account(account_id)[field]
    # registerPort is compared as a number: its JSON type is SIP-API-ACC-003's reading.
    assert _as_shown(field, after) == shown, (
        f"[{api.req}] expected account.json {field} = {shown!r} after modify.json {field}={sent}, "
        f"observed {after!r} (was {before!r})"
    )


@pytest.mark.req("SIP-API-MOD-002")
def test_modify_changes_only_given_fields(api, new_account):
    account_id = new_account("sip", localAccount="4100", username="keep-me")
    account_before = api.account(account_id)
    cfg_before = api.call_cfg(account_id)
    api.modify(account_id, serverId="changed-server")
    account_after = api.account(account_id)
    cfg_after = api.call_cfg(account_id)
    assert account_after["serverId"] == "changed-server", (
        f"[{api.req}] precondition: serverId applied, observed {account_after['serverId']!r}"
    )
    changed = sorted(
        k for k in account_before if k != "serverId" and account_before[k] != account_after.get(k)
    )
    assert (changed, cfg_after) == ([], cfg_before), (
        f"[{api.req}] expected only serverId to change; observed account.json also changed "
        f"{changed}, call_cfg.json {'changed' if cfg_after != cfg_before else 'unchanged'}"
    )


#: Stands for a value one character longer than the profile's max_value_length.
TOO_LONG = "<too long>"
VALID = {"realm": "partial-realm", "localAccount": "5001", "username": "partial-user"}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            ({"registerPort": "70000"}, "bad_value"),
            id="registerPort-70000",
            marks=pytest.mark.req("SIP-API-MOD-003"),
        ),
        pytest.param(
            ({"registerPort": "abc"}, "bad_value"),
            id="registerPort-abc",
            marks=pytest.mark.req("SIP-API-MOD-003"),
        ),
        pytest.param(
            ({"type": "Ssip"}, "unknown_type"),
            id="type-Ssip",
            marks=[
                pytest.mark.req("SIP-API-MOD-003"),
                # Refused only under one reading of the page (MOD-010 observes which).
                pytest.mark.only_reading("ssip_type_on_modify", "refused"),
            ],
        ),
        pytest.param(
            ({"password": TOO_LONG}, "too_long"),
            id="password-too-long",
            marks=pytest.mark.req("SIP-API-MOD-003"),
        ),
    ],
)
def test_modify_with_one_bad_field_refused_whole(api, new_account, guard, limits, case):
    bad, error = case
    too_long = "p" * (limits.max_value_length + 1)
    bad = {k: (too_long if v == TOO_LONG else v) for k, v in bad.items()}
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify", {"id": str(account_id), **VALID, **bad})
    api.expect_error(reply, error)
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-MOD-004")
def test_modify_page_example(api, new_account, spare_binds):
    account_id = new_account()
    # A spare bind in place of the page's *:5060 (a `*` one if the profile has one).
    local = next((b for b in spare_binds if b.startswith("*:")), spare_binds[0])
    example = page_modify_example(local)
    api.modify(account_id, **example)
    want, seen = account_read_back(example, api.account(account_id))
    check_read_back(api.req, "account.json", want, seen)


@pytest.mark.req("SIP-API-MOD-005")
def test_modify_acts_on_the_sip_account_named(api, new_account):
    target, bystander = new_account(), new_account()
    other_before = api.account(bystander)
    api.modify(target, localAccount="sdi-slip")
    mine = api.account(target)["localAccount"]
    other_after = api.account(bystander)
    check_read_back(api.req, f"account.json?id={target} localAccount", "sdi-slip", mine)
    check_untouched(
        api.req,
        f"account id {bystander} (modify.json named id {target})",
        other_before,
        other_after,
    )


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(p, marks=pytest.mark.req("SIP-API-MOD-006"))
        for p in ("0", "65536", "abc", "-1", "5060x", "1e3")
    ],
)
def test_modify_register_port_out_of_range_refused(api, new_account, guard, port):
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify", {"id": str(account_id), "registerPort": port})
    api.expect_error(reply, "bad_value")
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-MOD-007")
def test_modify_unknown_id_refused(api, unknown_id):
    reply = api.call("modify", {"id": str(unknown_id), "realm": "nobody"})
    api.expect_error(reply, "unknown_id")


@pytest.mark.req("SIP-API-MOD-008")
def test_modify_rename(api, new_account, listed):
    account_id = new_account()
    old = listed(account_id).name
    new = new_account.name()
    api.modify(account_id, name=new)
    check_renamed(api.req, {a.id: a.name for a in api.accounts()}, account_id, old, new)


@pytest.mark.req("SIP-API-MOD-009")
@pytest.mark.needs("unique_names")
def test_modify_rename_to_taken_name_refused(api, new_account):
    first, second = new_account(), new_account()
    names = {a.id: a.name for a in api.accounts()}
    reply = api.call("modify", {"id": str(second), "name": names[first]})
    api.expect_error(reply, "duplicate_name")
    after = {a.id: a.name for a in api.accounts()}
    assert (after[first], after[second]) == (names[first], names[second]), (
        f"[{api.req}] expected names kept {names[first]!r}, {names[second]!r}; "
        f"observed {after[first]!r}, {after[second]!r}"
    )


@pytest.mark.parametrize(
    "bad_type",
    [pytest.param(t, marks=pytest.mark.req("SIP-API-MOD-013")) for t in ("SIP", "gb")],
)
def test_modify_unknown_type_refused(api, new_account, bad_type):
    account_id = new_account()
    reply = api.call("modify", {"id": str(account_id), "type": bad_type})
    api.expect_error(reply, "unknown_type")
    protocol = api.account(account_id)["protocol"]
    assert protocol == "sip", f"[{api.req}] expected protocol sip kept, observed {protocol!r}"


@pytest.mark.req("SIP-API-MOD-010")
def test_modify_type_ssip(api, new_account, guard, listed, readings, *, device_target):
    """modify.json type=Ssip: refused whole (nothing changed), or accepted and the account is
    then sip or Ssip. A gb28181 account (where the profile has it) makes "stored as sip" a
    visible change."""
    start = "gb28181" if device_target.profile.has("gb28181") else "sip"
    account_id = new_account(start)
    before = guard.snap(account_id)
    reply = api.call("modify", {"id": str(account_id), "type": "Ssip"})
    api.expect_envelope(reply)
    request = f"modify.json?id={account_id}&type=Ssip on a {start} account"
    if not reply.ok:
        seen = f"{request} answered error {reply.msg}"
        changed = before.diff(guard.snap(account_id))
        if refused_or_shown_reading(False, changed, None, SSIP_READINGS) is None:
            readings.none_of("ssip_type_on_modify", f"{seen} but changed {changed}")
        readings.follow("ssip_type_on_modify", "refused", f"{seen}, nothing changed")
        api.expect_error(reply, "unknown_type")  # records the code (or checks a pinned one)
        return
    protocol = api.account(account_id).get("protocol")
    listed_type = listed(account_id).type
    seen = (
        f"{request} answered ok; list.json type {listed_type!r}, account.json protocol {protocol!r}"
    )
    reading = refused_or_shown_reading(True, None, (listed_type, protocol), SSIP_READINGS)
    if reading is None:
        readings.none_of("ssip_type_on_modify", seen)
    readings.follow("ssip_type_on_modify", reading, seen)


@pytest.mark.req("SIP-API-MOD-011")
def test_modify_value_length_limit(api, new_account, limits):
    limit = limits.max_value_length
    account_id = new_account()
    longest = "u" * limit
    api.modify(account_id, username=longest)
    assert api.account(account_id)["username"] == longest, (
        f"[{api.req}] expected the {limit}-character username read back unchanged"
    )
    reply = api.call("modify", {"id": str(account_id), "username": "v" * (limit + 1)})
    api.expect_error(reply, "too_long")
    kept = api.account(account_id)["username"]
    if kept != longest:
        raise ConformanceFailure(
            api.req,
            f"username kept ({limit} x 'u')",
            f"{len(kept)} characters {kept[:12]!r}...",
            reply.exchange,
        )


@pytest.mark.req("SIP-API-MOD-012")
@pytest.mark.needs("gb28181")
def test_modify_type_to_gb28181(api, new_account, listed):
    account_id = new_account()
    api.modify(account_id, type="gb28181")
    protocol = api.account(account_id)["protocol"]
    listed_type = listed(account_id).type
    check_read_back(
        api.req,
        "account.json protocol and list type",
        ("gb28181", "gb28181"),
        (protocol, listed_type),
    )
