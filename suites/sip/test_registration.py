"""Registration to a registrar the suite plays: digest, states, refresh timing, unregister.

Every state is checked twice: in status.json and on the wire (what the registrar received).
"""

from __future__ import annotations

import time

import pytest

from decoder_conformance.contract.timing import record_wait, unavoidable
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import register_duties, sip_checks
from decoder_conformance.peers.registrar import (
    Mode,
    is_answer,
    is_authorized,
    is_register,
    requested_expiry,
    wait_granted,
    wait_registered,
)
from decoder_conformance.peers.sip_checks import GRANTED_STATES
from decoder_conformance.waiting import WaitTimeout, poll_until, sample_over
from suites.sip.conftest import (
    answered_200,
    claimed_states,
    register_sample,
    registered_with_binding,
    wait_unregistered,
)

#: How often status.json is sampled while the registrar holds its 200 (seconds).
HOLD_SAMPLE_EVERY = 0.1


@pytest.mark.req("SIP-REG-001")
def test_registers_with_digest_and_reports_registered(
    api, sip_account, registrar, timers, device_target
):
    """Which granted state the device shows is SIP-REG-013's reading: here any of them once the
    registrar answered 200, and the claimed ones (the pinned reading, else any) never before."""
    claimed_as = claimed_states(device_target)
    server = registrar(grant=60)
    server.hold_ok()  # the 200 waits until the case has sampled the pending registration
    account = sip_account(registrar=server)
    server.wait_for(
        lambda r: is_register(r) and is_authorized(r),
        timeout=timers.state_timeout,
        expected="a REGISTER with digest credentials (after the 401 challenge)",
    )
    # Hold well inside the device's transaction timeout (64*T1), so it keeps waiting for us.
    hold = min(1.0, timers.transaction_timeout / 4)
    unavoidable(hold, "sampling status.json while the registrar holds its 200")
    samples = sample_over(
        lambda: register_sample(api, account),
        hold,
        timeout=hold + timers.state_timeout,
        interval=HOLD_SAMPLE_EVERY,
        expected="status.json samples while the registrar holds its 200",
    )

    def sample():
        samples.append(register_sample(api, account))
        return samples[-1]

    ok = server.release()
    if ok is None or len(samples) < 2:
        raise NotExercised(
            f"harness: held {'no 200' if ok is None else 'a 200'} while sampling "
            f"{len(samples)} times"
        )
    poll_until(
        sample,
        lambda seen: seen[2] in GRANTED_STATES,
        timeout=timers.state_timeout,
        interval=HOLD_SAMPLE_EVERY,
        expected=f"register_status {' or '.join(GRANTED_STATES)} once the registrar answered 200",
    )
    early = [(answered, state) for _, answered, state in samples if answered < ok.t]
    claimed = [state for _, state in early if state in claimed_as]
    assert not claimed, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) before "
        f"the registrar's 200 (sent at {ok.t:.3f}), observed {claimed[0]} in {len(claimed)} of "
        f"the {len(early)} status.json answers before it: "
        + ", ".join(f"{t:.3f} {state}" for t, state in early)
    )


@pytest.mark.req("SIP-REG-002")
def test_register_names_the_account_and_the_device_contact(
    api, sip_account, registrar, timers, readings
):
    """Whose user the REGISTER's To/From name is a reading (register_aor_user): localAccount or
    username. The account's localAccount ("1001"...) and username ("alice") differ on purpose."""
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    record = server.wait_for(is_register, timeout=timers.state_timeout, expected="a REGISTER")
    request = record.message
    seen = (
        f"To {request.to_addr.uri}, From {request.from_addr.uri} (localAccount "
        f"{account.local_account}, username alice)"
    )
    named = {
        "local_account": account.local_account,
        "username": "alice",
    }
    followed = sip_checks.register_aor_readings(request, named)
    if not followed:
        readings.none_of("register_aor_user", seen)
    readings.follow("register_aor_user", followed[0], seen)


@pytest.mark.req("SIP-REG-003")
def test_wrong_password_gives_error_without_a_challenge_loop(
    api, sip_account, registrar, timers, device_target
):
    server = registrar()
    account = sip_account(registrar=server, password="not-the-password")
    first = server.wait_for(
        lambda r: is_register(r) and is_authorized(r),
        timeout=timers.state_timeout,
        expected="a REGISTER with (wrong) credentials",
    )
    start = server.records().index(first)
    burst = server.watch(
        lambda r: is_register(r) and is_authorized(r), seconds=3, limit=5, since=start
    )
    assert len(burst) <= 5, f"{len(burst)} authorized REGISTERs within 3 s: a challenge loop"
    # Which state a refused registration shows is SIP-REG-004's reading; here: not granted.
    claimed_as = claimed_states(device_target)
    state = api.status(account.id).register
    assert state not in claimed_as, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) with a "
        f"wrong password, observed {state}"
    )


#: The register_status values the readings of register_status_on_failure allow.
FAILURE_STATES = sip_checks.FAILURE_STATES


@pytest.mark.req("SIP-REG-004")
def test_forbidden_gives_error_403(api, sip_account, registrar, timers, readings, *, device_target):
    claimed_as = claimed_states(device_target)
    server = registrar(mode=Mode.FORBIDDEN)
    account = sip_account(registrar=server)
    refused = server.wait_for(
        lambda r: is_answer(r, 403),
        timeout=timers.state_timeout,
        expected="the registrar's 403",
    )
    # The 403 went out: now the state the device settles in. A pending state (registering,
    # connecting) may come first; a granted one (the pinned reading, else any) never may.
    seen: list[str] = []

    def settled(status):
        seen.append(status.register)
        return status.register in FAILURE_STATES or status.register in claimed_as

    try:
        status = poll_until(
            lambda: api.status(account.id),
            settled,
            timeout=timers.state_timeout,
            expected="register_status after the 403",
        )
        state = status.register
    except WaitTimeout:
        state = seen[-1] if seen else "nothing"
    history = " -> ".join(dict.fromkeys(seen))
    observed = f"register_status {state} after the 403 at {refused.t:.3f} (seen {history})"
    followed = sip_checks.register_failure_reading(seen, state, claimed_as)
    if followed is None:
        readings.none_of("register_status_on_failure", observed)
    readings.follow("register_status_on_failure", followed, observed)


@pytest.mark.req("SIP-REG-005")
def test_silent_registrar_then_back(api, sip_account, registrar, timers, device_target):
    claimed_as = claimed_states(device_target)
    server = registrar(mode=Mode.SILENT)
    account = sip_account(registrar=server)
    server.wait_for(is_register, timeout=timers.state_timeout, expected="a REGISTER")
    # Which state a silent registrar leaves is a reading (register_status_no_answer, its own
    # requirement); here: never granted while nothing answers, over one transaction timeout.
    silent_until = time.monotonic() + timers.transaction_timeout
    unavoidable(timers.transaction_timeout, "a silent registrar for one transaction timeout")
    state = poll_until(
        lambda: api.status(account.id).register,
        lambda seen: seen in claimed_as or time.monotonic() >= silent_until,
        timeout=timers.transaction_timeout + timers.state_timeout,
        interval=0.25,
        expected="status.json samples while the registrar is silent",
    )
    assert state not in claimed_as, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) while "
        f"the registrar is silent, observed {state}"
    )
    server.set_mode(Mode.NORMAL, grant=60)
    retry_window = timers.transaction_timeout + 8 * timers.retry_base + timers.state_timeout
    wait_registered(
        api, account.id, server, timeout=timers.state_timeout, answer_timeout=retry_window
    )


@pytest.mark.req("SIP-REG-006")
def test_refresh_before_the_granted_expiry(api, sip_account, registrar, timers):
    grant = 4
    server = registrar(grant=grant)
    account = sip_account(registrar=server)
    granted, _ = wait_registered(api, account.id, server, timeout=timers.state_timeout)
    asked = requested_expiry(server.registers()[0])
    if asked is not None and asked <= grant:
        raise NotExercised(f"the device asked {asked} s: cannot tell the {grant} s grant apart")
    refresh = server.wait_for(
        lambda r: is_register(r) and r.t > granted.t,
        since=server.records().index(granted),
        timeout=grant + 1,
        expected=f"a refresh REGISTER within the {grant} s granted",
    )
    after = refresh.t - granted.t
    record_wait(granted.t, refresh.t, "the device refreshes on the granted expiry")
    assert grant / 2 <= after < grant, f"refreshed {after:.2f} s after a {grant} s grant"
    state = api.status(account.id).register
    assert state in GRANTED_STATES, (
        f"[{api.req}] expected a granted register_status ({' or '.join(GRANTED_STATES)}) while "
        f"the refresh keeps the binding, observed {state}"
    )


@pytest.mark.req("SIP-REG-007")
def test_remove_unregisters(api, sip_account, registrar, timers, new_account):
    server, account = registered_with_binding(api, sip_account, registrar, timers)
    mark = len(server.records())
    api.remove(account.id)
    wait_unregistered(server, since=mark, timeout=timers.state_timeout, after="remove.json")


@pytest.mark.req("SIP-REG-008")
def test_modify_credentials_reregisters(api, sip_account, registrar, timers):
    server = registrar(grant=60, users={"alice": "secret", "bob": "hunter2"})
    account = sip_account(registrar=server)
    wait_registered(api, account.id, server, timeout=timers.state_timeout)
    mark = len(server.records())
    api.modify(account.id, username="bob", password="hunter2")
    server.wait_for(
        lambda r: is_register(r) and requested_expiry(r) == 0,
        since=mark,
        timeout=timers.state_timeout,
        expected="the old binding unregistered",
    )
    as_bob = server.wait_for(
        lambda r: (
            is_register(r)
            and is_authorized(r)
            and (requested_expiry(r) or 0) > 0
            and 'username="bob"' in (r.message.headers.get("Authorization") or "")
        ),
        since=mark,
        timeout=timers.state_timeout,
        expected="a REGISTER authorized as bob",
    )
    server.wait_for(
        answered_200,
        since=server.records().index(as_bob),
        timeout=timers.state_timeout,
        expected="the registrar's 200 to the REGISTER authorized as bob",
    )
    wait_granted(api, account.id, timers.state_timeout, "(a granted registration)")


@pytest.mark.req("SIP-REG-009")
def test_retry_after_is_honoured(api, sip_account, registrar, timers, device_target):
    retry_after = 2
    server = registrar(mode=Mode.UNAVAILABLE, retry_after=retry_after)
    account = sip_account(registrar=server)
    refused = server.wait_for(
        lambda r: is_answer(r, 503),
        timeout=timers.state_timeout,
        expected="the registrar's 503",
    )
    early = server.watch(
        is_register, seconds=retry_after - 0.1, limit=0, since=server.records().index(refused)
    )
    assert not early, (
        f"REGISTER again {early[0].t - refused.t:.2f} s after Retry-After: {retry_after}"
    )
    retried = server.wait_for(
        is_register,
        since=server.records().index(refused),
        timeout=timers.retry_base * 8 + timers.state_timeout,
        expected="a REGISTER once Retry-After has passed",
    )
    record_wait(refused.t, min(retried.t, refused.t + retry_after), "Retry-After is honoured")
    claimed_as = claimed_states(device_target)
    state = api.status(account.id).register
    assert state not in claimed_as, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) while "
        f"the registrar answers 503, observed {state}"
    )


@pytest.mark.req("SIP-REG-010")
def test_digest_without_qop(api, sip_account, registrar, timers):
    server = registrar(grant=60, qop=False)
    account = sip_account(registrar=server)
    wait_registered(api, account.id, server, timeout=timers.state_timeout)
    authorized = [r for r in server.registers() if is_authorized(r)]
    header = authorized[-1].message.headers.get("Authorization") or ""
    problem = sip_checks.qop_less_answer_problem(header)
    assert problem is None, problem


@pytest.mark.req("SIP-REG-011")
def test_extra_info_is_200_once_registered(api, sip_account, registrar, timers):
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    ok, status = wait_registered(api, account.id, server, timeout=timers.state_timeout)
    assert status.register_extra == 200, (
        f"[{api.req}] expected register_status extra_info 200 (the registrar answered 200 at "
        f"{ok.t:.3f} and the state is {status.register}), observed {status.register_extra!r}"
    )


@pytest.mark.req("SIP-REG-011")
def test_extra_info_is_403_after_a_403(api, sip_account, registrar, timers):
    server = registrar(mode=Mode.FORBIDDEN)
    account = sip_account(registrar=server)
    refused = server.wait_for(
        lambda r: is_answer(r, 403),
        timeout=timers.state_timeout,
        expected="the registrar's 403",
    )
    # The 403 went out: wait until the device settles in a failure state (SIP-REG-004's reading).
    try:
        status = api.wait_status(
            account.id,
            lambda s: s.register in FAILURE_STATES,
            timeout=timers.state_timeout,
            expected="register_status settled after the 403",
        )
    except ConformanceFailure as exc:
        raise NotExercised(f"register_status never settled after the 403: {exc}") from None
    assert status.register_extra == 403, (
        f"[{api.req}] expected register_status extra_info 403 (the registrar answered 403 at "
        f"{refused.t:.3f}, state {status.register}), observed {status.register_extra!r}"
    )


@pytest.mark.req("SIP-REG-012")
def test_register_contact_and_expiry(api, sip_account, registrar, timers):
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    record = server.wait_for(is_register, timeout=timers.state_timeout, expected="a REGISTER")
    request = record.message
    contacts = [c.sip_uri() for c in request.contacts]
    assert any((c.host, c.port) == (account.sip.host, account.sip.port) for c in contacts), (
        f"[{api.req}] expected a Contact at the device's {account.sip.address}, observed "
        f"{[str(c) for c in request.contacts]}"
    )
    expires = requested_expiry(record)
    assert expires is not None and expires > 0, (
        f"[{api.req}] expected the REGISTER to ask for a non-zero expiry, observed {expires!r}"
    )


@pytest.mark.req("SIP-REG-013")
def test_granted_registration_state(api, sip_account, registrar, timers, readings):
    """Which register_status a granted registration shows: registered, connected or on (the
    page lists the states without meanings). Judged once the registrar's 200 went out; a pending
    state (registering, connecting) may come first."""
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    ok = server.wait_for(
        answered_200, timeout=timers.state_timeout, expected="the registrar's 200 to a REGISTER"
    )
    # The 200 went out: now the state the device settles in.
    seen: list[str] = []

    def granted(status):
        seen.append(status.register)
        return status.register in GRANTED_STATES

    try:
        state = poll_until(
            lambda: api.status(account.id),
            granted,
            timeout=timers.state_timeout,
            expected="register_status after the registrar's 200",
        ).register
    except WaitTimeout:
        state = seen[-1] if seen else "nothing"
    history = " -> ".join(dict.fromkeys(seen))
    observed = f"register_status {state} after the registrar's 200 at {ok.t:.3f} (seen {history})"
    followed = sip_checks.register_granted_reading(state)
    if followed is None:
        readings.none_of("register_status_granted", observed)
    readings.follow("register_status_granted", followed, observed)


def registered_and_refreshed(api, sip_account, registrar, timers, grant=2):
    """An account registered with a short grant, through its challenge and one refresh."""
    server = registrar(grant=grant)
    account = sip_account(registrar=server)
    granted, _ = wait_registered(api, account.id, server, timeout=timers.state_timeout)
    server.wait_for(
        lambda r: is_register(r) and r.t > granted.t,
        since=server.records().index(granted),
        timeout=grant + timers.state_timeout,
        expected=f"a refresh REGISTER within the {grant} s granted",
    )
    return server


@pytest.mark.req("SIP-REG-014")
def test_digest_uri_is_the_request_uri(api, sip_account, registrar, timers):
    server = registered_and_refreshed(api, sip_account, registrar, timers)
    assert any(is_authorized(r) for r in server.registers())
    found = server.violations(register_duties.AUTH_URI)
    assert not found, "[SIP-REG-014] " + "; ".join(map(str, found))


@pytest.mark.req("SIP-REG-015")
def test_cseq_grows_on_one_call_id(api, sip_account, registrar, timers):
    server = registered_and_refreshed(api, sip_account, registrar, timers)
    assert len(server.registers()) >= 3  # REGISTER, its answer to the challenge, a refresh
    found = server.violations(register_duties.CSEQ_NOT_INCREASING)
    assert not found, "[SIP-REG-015] " + "; ".join(map(str, found))
