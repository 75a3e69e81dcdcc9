"""A restart of the device: accounts, call settings, binds, the id counter and the registration
outlive it (capability restart: the bundled decoder's process is restarted on its state directory
and HTTP port; a lab decoder by its profile's [device].restart_command).

Each case first reads back what it wrote (so the comparison is about something the device held),
restarts the device once through `restart_device` (which proves the restart: a new process of the
bundled decoder, a lab decoder seen down and answering again), then compares. The views are
compared raw with what the same device showed before the restart, so no reading of the page
enters the comparison. What the device had to do before the restart is another requirement's:
a device that does not get there makes the case broken, not failed.
"""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import binds_match
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.registrar import (
    is_answer,
    is_register,
    requested_expiry,
    wait_granted,
    wait_registered,
)

pytestmark = pytest.mark.needs("restart")

#: account.json members that show call settings: SIP-API-RST-002 judges them, SIP-API-RST-001
#: the rest, so one lost setting fails one requirement.
CALL_VIEWS = ("call_in_options", "call_out_options", "buffer_option", "source_id")

#: A SIP account that serves calls on a bind (created) and holds no registrar, and a gb28181
#: account with a registrar but no localAddress, so neither registers anywhere. The registrar
#: is a loopback literal: the device must not resolve a name.
SIP_FIELDS = {
    "localAccount": "7301",
    "realm": "realm-rst",
    "username": "user-rst",
    "password": "secret-rst",
}
GB_FIELDS = {
    "localAccount": "34020000001320000031",
    "serverId": "34020000002000000031",
    "registerServer": "127.0.0.2",
    "registerPort": "5081",
    "username": "34020000001320000031",
    "password": "secret-gb",
}

#: Call settings away from the page's defaults, in the page's forms (auto_call stays off: the
#: device must not dial).
CALL_SETTINGS = {
    "allow_in": "2",
    "auto_aws": "1",
    "source_enable": "2",
    "buffer": "live:300:300:600:0:0",
    "source_id": "src-rst",
    "default_name": "name-rst",
    "sip_out_url": "7302@127.0.0.1",
}


def _listed(api, ids):
    """list.json entries of `ids` as sent: id -> (id, name, type, created)."""
    reply = api.call("list")
    data = api.expect_ok(reply)
    return {
        int(e["id"]): (e.get("id"), e.get("name"), e.get("type"), e.get("created"))
        for e in data
        if isinstance(e, dict) and str(e.get("id")).isdigit() and int(e["id"]) in ids
    }


def _own_fields(account):
    """account.json without the call-settings views."""
    return {k: v for k, v in account.items() if k not in CALL_VIEWS}


def _differences(before, after):
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys)


def _before_restart(what, step):
    """Run a step the case needs before the restart; a device that cannot do it fails another
    requirement, so this case could not be exercised."""
    try:
        return step()
    except DeviceFailure as exc:
        raise NotExercised(f"before the restart, {what}: {exc}") from None


@pytest.mark.req("SIP-API-RST-001")
def test_accounts_survive_a_restart(api, new_account, spare_binds, restart_device):
    sip_id = new_account("sip", localAddress=spare_binds[0], **SIP_FIELDS)
    gb_id = new_account("gb28181", **GB_FIELDS)
    ids = {sip_id, gb_id}
    renamed = new_account.name()  # a name given by modify.json, not add.json
    api.modify(sip_id, name=renamed)
    accounts = {i: _own_fields(api.account(i)) for i in ids}
    written = {k: accounts[sip_id].get(k) for k in SIP_FIELDS}
    if written != SIP_FIELDS:
        raise NotExercised(f"before the restart, account.json showed {written}, not {SIP_FIELDS}")
    listed = _listed(api, ids)
    if set(listed) != ids or listed[sip_id][1] != renamed:
        raise NotExercised(
            f"before the restart, list.json listed {listed}, not ids {ids} with id {sip_id} "
            f"named {renamed!r}"
        )

    restart_device()

    listed_after = _listed(api, ids)
    assert listed_after == listed, (
        f"[{api.req}] expected list.json to list {sorted(listed.values())} after the restart "
        f"as before it, observed {sorted(listed_after.values())}"
    )
    for account_id in sorted(ids):
        after = _own_fields(api.account(account_id))
        assert after == accounts[account_id], (
            f"[{api.req}] expected account.json of id {account_id} unchanged by the restart, "
            f"observed {_differences(accounts[account_id], after)}"
        )


@pytest.mark.req("SIP-API-RST-002")
def test_call_settings_survive_a_restart(api, new_account, restart_device):
    account_id = new_account("sip", localAccount="7302")
    fresh = api.call_cfg(account_id)
    api.modify_call_cfg(account_id, **CALL_SETTINGS)
    cfg = api.call_cfg(account_id)
    unchanged = sorted(k for k in fresh if fresh[k] == cfg.get(k) and k in CALL_SETTINGS)
    if unchanged:
        raise NotExercised(f"before the restart, call_cfg.json kept {unchanged} as added")
    views = {k: v for k, v in api.account(account_id).items() if k in CALL_VIEWS}

    restart_device()

    cfg_after = api.call_cfg(account_id)
    assert cfg_after == cfg, (
        f"[{api.req}] expected call_cfg.json of id {account_id} unchanged by the restart, "
        f"observed {_differences(cfg, cfg_after)}"
    )
    views_after = {k: v for k, v in api.account(account_id).items() if k in CALL_VIEWS}
    assert views_after == views, (
        f"[{api.req}] expected account.json's call settings of id {account_id} unchanged by the "
        f"restart, observed {_differences(views, views_after)}"
    )


@pytest.mark.req("SIP-API-RST-003")
def test_binds_survive_a_restart(api, trial_binds, restart_device):
    """The binds are written back as get_binds.json showed them, so every port is a bound one
    (a port-0 bind may get another port after a restart) before they are compared."""

    def write(binds):
        api.set_binds(binds)
        return api.binds()

    shown = _before_restart(
        "set_binds.json of the profile's spare binds", lambda: write(trial_binds)
    )
    if not binds_match(trial_binds, shown):
        raise NotExercised(f"before the restart, get_binds.json showed {shown}, not {trial_binds}")
    written = _before_restart("set_binds.json of the binds as shown", lambda: write(shown))
    if written != shown:
        raise NotExercised(f"before the restart, writing back {shown} showed {written}")

    restart_device()

    after = api.binds()
    assert after == written, (
        f"[{api.req}] expected get_binds.json {written} after the restart as before it, "
        f"observed {after}"
    )


@pytest.mark.req("SIP-API-RST-004")
def test_ids_keep_growing_across_a_restart(api, new_account, restart_device):
    """The removed account is the newer of two, so a device that recounts its ids from the
    ones it lists at start-up gives its id again."""
    seen = {a.id for a in api.accounts()}
    kept = new_account()
    removed = new_account()
    seen |= {kept, removed}
    api.remove(removed)
    new_account.created.remove(removed)
    if removed in {a.id for a in api.accounts()}:
        raise NotExercised(f"before the restart, id {removed} was still listed after remove.json")

    restart_device()

    added = new_account()
    assert added not in seen, (
        f"[{api.req}] expected the account added after the restart to get an id never given "
        f"before (seen {sorted(seen)}, removed {removed}), observed id {added}"
    )


@pytest.mark.req("SIP-REG-RST-001")
def test_registration_resumes_after_a_restart(
    api, sip_account, registrar, device_target, restart_device
):
    timeout = device_target.profile.timers.state_timeout
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    _before_restart(
        "the account registered", lambda: wait_registered(api, account.id, server, timeout=timeout)
    )
    since = len(server.records())

    restart_device()

    # A REGISTER asking for a binding: the old process's unregister (expiry 0) does not count.
    register = server.wait_for(
        lambda r: is_register(r) and (requested_expiry(r) or 0) > 0,
        since=since,
        timeout=timeout,
        expected="a REGISTER with a non-zero expiry after the restart",
    )
    server.wait_for(
        lambda r: is_answer(r, 200) and r.t > register.t,
        since=since,
        timeout=timeout,
        expected="the registrar's 200 to a REGISTER after the restart",
    )
    wait_granted(api, account.id, timeout, "after the restart")
