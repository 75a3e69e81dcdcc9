"""GB28181 keepalive (2016/2022 §9.6, A.2.5): cadence, content, and what the device does when
the platform refuses, stops answering, or restarts.

The cadence and count are the device's own settings, from the profile's [gb28181] table.
"""

from __future__ import annotations

import statistics

import pytest

from decoder_conformance.contract.timing import record_wait, unavoidable
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.gb import checks, query_checks
from decoder_conformance.peers.gb.model import Presence
from decoder_conformance.waiting import DeviceTimeout, poll_until
from suites.gb28181.conftest import CADENCE_TOLERANCE, GRANTED_STATES
from wire import manscdp

pytestmark = pytest.mark.needs("gb28181")


def first_keepalive(device, req):
    """Wait for one keepalive; its absence is GB-KA-001's failure, not `req`'s."""
    try:
        return device.platform.wait_keepalive(device.device_id, timeout=device.keepalive_timeout)
    except DeviceTimeout as exc:
        raise NotExercised(
            f"precondition of {req} not met: no keepalive after registering (GB-KA-001): {exc}"
        ) from None


def registers_after(device, t):
    """REGISTERs the device sent after monotonic time `t`."""
    return [
        r
        for r in device.platform.records()
        if r.direction == "RX"
        and r.t > t
        and r.is_request_of("REGISTER")
        and checks.user_of(r.message.from_addr) == device.device_id
    ]


def wait_register_after(device, t, timeout, what):
    return poll_until(
        lambda: registers_after(device, t),
        bool,
        timeout=timeout,
        expected=f"a REGISTER from {device.device_id} {what}",
    )[0]


def wait_online_again(device, since):
    """Registered, a keepalive after `since` answered 200, and a granted register_status."""
    platform = device.platform
    platform.wait_registered(device.device_id, timeout=device.register_timeout)
    poll_until(
        lambda: [
            k for k in platform.keepalives(device.device_id) if k.t > since and k.answered == 200
        ],
        bool,
        timeout=device.keepalive_timeout,
        expected="a keepalive answered 200 after registering again",
    )
    platform.wait_presence(device.device_id, Presence.ONLINE, timeout=device.keepalive_timeout)
    device.wait_status(
        lambda s: s.register in GRANTED_STATES, "a granted register_status after re-registering"
    )


@pytest.mark.req("GB-KA-001")
def test_keepalives_at_the_configured_interval(registered):
    gaps = registered.keepalive_gaps(3)
    median = statistics.median(gaps)
    interval = registered.gb.keepalive_interval
    assert abs(median - interval) <= CADENCE_TOLERANCE * interval, (
        f"[GB-KA-001] expected keepalives every {interval} s (profile [gb28181]."
        f"keepalive_interval, ±{CADENCE_TOLERANCE:.0%}), observed gaps "
        + ", ".join(f"{g:.2f}" for g in gaps)
    )


@pytest.mark.req("GB-KA-002")
def test_keepalive_body(registered):
    seen = [first_keepalive(registered, "GB-KA-002")]
    seen += registered.platform.keepalives(registered.device_id)[1:]
    for keepalive in seen:
        problems = query_checks.keepalive_problems(keepalive, registered.device_id)
        assert not problems, "[GB-KA-002] " + "; ".join(problems)


@pytest.mark.req("GB-KA-003")
def test_manscdp_content_type(registered):
    first_keepalive(registered, "GB-KA-003")
    registered.query(manscdp.CMD_DEVICE_STATUS, req="GB-KA-003")
    assert len(registered.platform.messages()) >= 2
    registered.assert_no_violations("GB-KA-003", checks.CONTENT_TYPE)


@pytest.mark.req("GB-KA-004")
def test_manscdp_content_type_spelling(registered):
    first_keepalive(registered, "GB-KA-004")
    registered.query(manscdp.CMD_DEVICE_STATUS, req="GB-KA-004")
    registered.assert_no_violations("GB-KA-004", checks.CONTENT_TYPE_CASE)


@pytest.mark.req("GB-KA-005")
def test_registers_again_after_a_refused_keepalive(registered):
    platform = registered.platform
    first_keepalive(registered, "GB-KA-005")
    platform.reject_keepalives(403)
    refused = poll_until(
        lambda: [k for k in platform.keepalives(registered.device_id) if k.answered == 403],
        bool,
        timeout=registered.keepalive_timeout,
        expected="a keepalive answered 403",
    )[0]
    register = wait_register_after(
        registered,
        refused.t,
        registered.keepalive_timeout,
        "after its keepalive was answered 403 (the platform no longer knows it)",
    )
    platform.reject_keepalives(None)
    wait_online_again(registered, register.t)


@pytest.mark.req("GB-KA-006")
def test_registers_again_after_unanswered_keepalives(registered):
    platform = registered.platform
    last = first_keepalive(registered, "GB-KA-006")
    platform.silence(True)
    gb, timers = registered.gb, registered.timers
    give_up = gb.keepalive_interval * gb.keepalive_count + timers.transaction_timeout
    record_wait(last.t, last.t + give_up, "GB28181: keepalives unanswered, the last to Timer F")
    register = wait_register_after(
        registered,
        last.t,
        give_up + timers.state_timeout,
        f"after {gb.keepalive_count} keepalives went unanswered",
    )
    unanswered = [
        r
        for r in platform.records()
        if r.direction == "RX" and last.t < r.t < register.t and r.is_request_of("MESSAGE")
    ]
    assert unanswered, "[GB-KA-006] expected unanswered keepalives before the new REGISTER"
    platform.silence(False)
    wait_online_again(registered, register.t)


@pytest.mark.req("GB-KA-007")
def test_registers_again_after_a_platform_restart(registered):
    platform = registered.platform
    first_keepalive(registered, "GB-KA-007")
    platform.restart()
    register = wait_register_after(
        registered,
        registered.platform.keepalives(registered.device_id)[-1].t,
        registered.keepalive_timeout + registered.timers.state_timeout,
        "after the platform restarted and answered its keepalive 404",
    )
    wait_online_again(registered, register.t)


@pytest.mark.req("GB-KA-008")
def test_keepalives_stop_when_the_account_is_removed(registered, api):
    platform = registered.platform
    first_keepalive(registered, "GB-KA-008")
    api.remove(registered.account.id)
    gone = poll_until(
        lambda: platform.registered(registered.device_id),
        lambda live: not live,
        timeout=registered.register_timeout,
        expected="the binding dropped after remove.json",
    )
    assert gone is False
    removed_at = platform.records()[-1].t
    window = 2 * registered.gb.keepalive_interval
    unavoidable(window, "GB28181: no keepalive may come over two intervals")
    try:
        late = poll_until(
            lambda: [k for k in platform.keepalives(registered.device_id) if k.t > removed_at],
            bool,
            timeout=window,
            expected="a keepalive after the account was removed (must not come)",
        )
    except DeviceTimeout:
        late = []
    assert not late, (
        f"[GB-KA-008] expected no keepalive within {window} s of the account's removal, "
        f"observed SN {[k.sn for k in late]}"
    )


@pytest.mark.req("GB-KA-009")
def test_keepalive_sequence_numbers_differ(registered):
    first_keepalive(registered, "GB-KA-009")
    registered.keepalive_gaps(3)
    numbers = [k.sn for k in registered.platform.keepalives(registered.device_id)[:3]]
    assert len(set(numbers)) == len(numbers), (
        f"[GB-KA-009] expected a new SN on each keepalive, observed {numbers}"
    )
