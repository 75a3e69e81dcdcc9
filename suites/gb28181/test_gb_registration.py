"""GB28181 registration (2016/2022 §9.1): digest, URIs, refusal, refresh, unregister, X-GB-ver.

Every REGISTER the device sends is checked by the platform (peers/gb/checks.py); a case asserts
on the codes its requirement is about, and proves first that the exchange it judges happened.
"""

from __future__ import annotations

import pytest

from decoder_conformance.contract.timing import record_wait
from decoder_conformance.failures import harness_check
from decoder_conformance.peers.gb import checks, register_checks
from decoder_conformance.waiting import DeviceTimeout, poll_until
from suites.gb28181.conftest import GRANTED_STATES
from wire.sip import has_param

pytestmark = pytest.mark.needs("gb28181")


#: register_status values of a registration not yet decided (any reading of the page's list).
IN_PROGRESS = ("", "idle", "registering")


def registers(device):
    """The REGISTER requests the platform received from the device, in order."""
    return [
        r.message
        for r in device.platform.records()
        if r.direction == "RX"
        and r.is_request_of("REGISTER")
        and checks.user_of(r.message.from_addr) == device.device_id
    ]


def authorized(device):
    return [m for m in registers(device) if m.headers.get("Authorization")]


def answers(device, code):
    """The platform's responses with `code` to REGISTERs, in order."""
    return [
        r.message
        for r in device.platform.records()
        if r.direction == "TX" and r.status_of("REGISTER") == code
    ]


@pytest.mark.req("GB-REG-001")
def test_registers_through_the_digest_challenge(gb_device):
    device = gb_device()
    device.wait_registered()
    assert answers(device, 401), "[GB-REG-001] expected the platform's 401 challenge first"
    assert authorized(device) and answers(device, 200), (
        "[GB-REG-001] expected a REGISTER carrying Authorization answered 200, observed "
        f"{len(registers(device))} REGISTERs"
    )


@pytest.mark.req("GB-REG-002")
def test_register_uris_follow_the_standard(registered):
    registered.assert_no_violations(
        "GB-REG-002",
        checks.BAD_ID,
        checks.FROM_TO_DIFFER,
        checks.URI_USER,
        checks.URI_DOMAIN,
        checks.REQUEST_URI,
    )


@pytest.mark.req("GB-REG-003")
@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_digest_answers_the_challenge(gb_device, qop):
    device = gb_device(qop=qop)
    device.wait_registered()
    assert authorized(device), "[GB-REG-003] expected a REGISTER with Authorization"
    device.assert_no_violations(
        "GB-REG-003",
        checks.AUTH_USERNAME,
        checks.AUTH_REALM,
        checks.AUTH_URI,
        checks.AUTH_RESPONSE,
        checks.AUTH_MALFORMED,
    )


@pytest.mark.req("GB-REG-004")
def test_wrong_password_is_not_registered(gb_device):
    device = gb_device(password="not-the-platform-password")
    timeout = device.register_timeout
    refused = poll_until(
        lambda: answers(device, 403),
        bool,
        timeout=timeout,
        expected="the platform's 403 to a REGISTER with the wrong password",
    )
    assert refused
    # The device has taken the 403 in once status.json leaves the states of a registration in
    # progress; a granted state must not appear before or then (the series is sampled throughout).
    try:
        settled = poll_until(
            lambda: device.api.status(device.account.id),
            lambda s: s.register not in IN_PROGRESS,
            timeout=device.timers.state_timeout,
            expected="register_status to leave " + "/".join(IN_PROGRESS) + " after the 403",
        ).register
    except DeviceTimeout:
        settled = "still in progress"
    series = device.status.series()
    problem = register_checks.refused_registration_problem(settled, series, GRANTED_STATES)
    assert problem is None, f"[GB-REG-004] {problem}"
    assert not device.platform.registered(device.device_id)


@pytest.mark.req("GB-REG-005")
def test_refreshes_before_the_granted_expiry(gb_device):
    grant = 3
    device = gb_device(grant=grant)
    device.wait_registered()
    first = device.platform.binding(device.device_id)
    assert first is not None and first.expires <= grant
    refreshed = poll_until(
        lambda: device.platform.binding(device.device_id),
        lambda b: b is not None and b.at > first.at,
        timeout=grant + device.timers.state_timeout,
        expected=f"a refresh before the granted {grant} s lapse",
    )
    record_wait(first.at, refreshed.at, "GB28181: the refresh waits for the granted expiry")
    assert refreshed.at <= first.expires_at, (
        f"[GB-REG-005] expected the refresh before the {grant} s expiry lapsed, it came "
        f"{refreshed.at - first.at:.2f} s after the 200"
    )
    device.assert_no_violations("GB-REG-005", checks.CALL_ID_CHANGED, checks.CSEQ_NOT_INCREASING)
    assert device.status.series()[-1].status.register in GRANTED_STATES


@pytest.mark.req("GB-REG-006")
def test_remove_unregisters(registered, api):
    api.remove(registered.account.id)
    poll_until(
        lambda: registered.platform.registered(registered.device_id),
        lambda live: not live,
        timeout=registered.register_timeout,
        expected="the platform's binding dropped by a REGISTER with Expires: 0",
    )
    zero = [m for m in registers(registered) if (m.headers.get("Expires") or "").strip() == "0"]
    assert zero, "[GB-REG-006] expected a REGISTER with Expires: 0 after remove.json"
    registered.assert_no_violations("GB-REG-006", checks.UNREGISTER_CALL_ID)


@pytest.mark.req("GB-REG-007")
def test_sends_x_gb_ver_on_register(registered):
    problem = register_checks.x_gb_ver_problem(registers(registered))
    assert problem is None, f"[GB-REG-007] {problem}"


@pytest.mark.req("GB-REG-008")
def test_takes_a_gb_date_header(gb_device):
    device = gb_device(date="2026-12-02T08:00:00.000")
    device.wait_registered()
    ok = answers(device, 200)
    harness_check(
        ok and "T08:00:00.000" in (ok[-1].headers.get("Date") or ""),
        "the platform's 200 carries the GB Date it was given",
    )


@pytest.mark.req("GB-REG-009")
def test_register_carries_expires(registered):
    registered.assert_no_violations("GB-REG-009", checks.NO_EXPIRES)
    assert registers(registered)


@pytest.mark.req("GB-REG-010")
def test_register_carries_contact(registered):
    registered.assert_no_violations("GB-REG-010", checks.NO_CONTACT)
    assert registers(registered)


@pytest.mark.req("GB-REG-011")
def test_register_via_carries_rport(registered):
    sent = registers(registered)
    assert sent
    without = [str(m.vias[0]) for m in sent if not has_param(m.vias[0].params, "rport")]
    assert not without, f"[GB-REG-011] expected ;rport on each REGISTER's Via, observed {without}"


@pytest.mark.req("GB-REG-012")
def test_unknown_headers_in_the_200_are_ignored(gb_device):
    extra = (("Route", "<sip:127.0.0.1;lr>"), ("X-Platform-Trace", "conformance"))
    device = gb_device(grant_headers=extra)
    device.wait_registered()
    harness_check(
        all(ok.headers.get("X-Platform-Trace") for ok in answers(device, 200)),
        "the platform's 200s carry the extra headers",
    )
