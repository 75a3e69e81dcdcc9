"""A restart of the device with a gb28181 account registered to the suite's platform: the account
is kept (GB-RST-001) and registers again on its own (GB-RST-002).

Capabilities gb28181 and restart (the bundled decoder's process is restarted on its state
directory; a lab decoder by its profile's [device].restart_command, see suites/api/test_restart.py).
Each case first has the account registered (a device that does not get there fails GB-REG-001,
so the case is broken), restarts the device once through `restart_device`, then judges. The
platform answers through the restart, so whatever the device sends on the way down (an
unregister) and on the way up is seen and kept.
"""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.registrar import requested_expiry
from decoder_conformance.waiting import poll_until
from suites.gb28181.conftest import GRANTED_STATES

pytestmark = pytest.mark.needs("gb28181", "restart")


def _listed(api, account_id):
    """list.json's entry of `account_id` as sent: (id, name, type, created), None if absent."""
    data = api.expect_ok(api.call("list"))
    for entry in data:
        if isinstance(entry, dict) and str(entry.get("id")) == str(account_id):
            return (entry.get("id"), entry.get("name"), entry.get("type"), entry.get("created"))
    return None


def _differences(before, after):
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys)


def _registers(device, since):
    """REGISTERs asking for a binding (non-zero expiry) the platform got from the device, from
    record `since` on: an unregister on the way down (expiry 0) does not count."""
    return [
        r
        for r in device.platform.records()[since:]
        if r.direction == "RX"
        and r.is_request_of("REGISTER")
        and checks.user_of(r.message.from_addr) == device.device_id
        and (requested_expiry(r) or 0) > 0
    ]


@pytest.mark.req("GB-RST-001")
def test_gb_account_survives_a_restart(api, gb_device, restart_device):
    device = gb_device()
    device.wait_registered(precondition="GB-RST-001")
    account_id = device.account.id
    account = api.account(account_id)
    listed = _listed(api, account_id)
    if listed is None or account.get("localAccount") != device.device_id:
        raise NotExercised(
            f"before the restart, list.json listed {listed} and account.json showed "
            f"localAccount {account.get('localAccount')!r}, not the account {device.device_id}"
        )

    restart_device()

    listed_after = _listed(api, account_id)
    assert listed_after == listed, (
        f"[{api.req}] expected list.json to list {listed} after the restart as before it, "
        f"observed {listed_after}"
    )
    after = api.account(account_id)
    assert after == account, (
        f"[{api.req}] expected account.json of the gb28181 account {account_id} unchanged by "
        f"the restart, observed {_differences(account, after)}"
    )


@pytest.mark.req("GB-RST-002")
def test_gb_registers_again_after_a_restart(gb_device, restart_device, device_target):
    device = gb_device()
    device.wait_registered(precondition="GB-RST-002")
    platform = device.platform
    since = len(platform.records())

    restart_device()

    timeout = device.register_timeout
    register = poll_until(
        lambda: _registers(device, since),
        bool,
        timeout=timeout,
        expected=f"a REGISTER with a non-zero expiry from {device.device_id} to the platform "
        f"after the restart (no API request in between)",
    )[0]
    poll_until(
        lambda: [
            r
            for r in platform.records()[since:]
            if r.direction == "TX" and r.status_of("REGISTER") == 200 and r.t > register.t
        ],
        bool,
        timeout=timeout,
        expected="the platform's 200 to a REGISTER after the restart",
    )
    pinned = device_target.profile.readings.get("register_status_granted")
    granted = (pinned,) if pinned else GRANTED_STATES
    device.wait_status(
        lambda s: s.register in granted,
        f"register_status {' or '.join(granted)} once the platform granted the REGISTER sent "
        f"after the restart",
    )
