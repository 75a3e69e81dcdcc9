"""Registration to a registrar the suite plays: digest, states, refresh timing, unregister.

Every state is checked twice: in status.json and on the wire (what the registrar received).
"""

from __future__ import annotations

import pytest

from decoder_conformance.peers.registrar import (
    Mode,
    is_answer,
    is_authorized,
    is_register,
    requested_expiry,
)


@pytest.fixture
def timers(device_target):
    return device_target.profile.timers


def wait_register_state(api, account, state, timers, timeout=None):
    return api.wait_status(
        account.id,
        lambda s: s.register == state,
        timeout=timeout or timers.state_timeout,
        expected=f"register_status {state}",
    )


def answered_200(record):
    return is_answer(record, 200)


@pytest.mark.req("SIP-REG-001")
def test_registers_with_digest_and_reports_registered(api, sip_account, registrar, timers):
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    status = wait_register_state(api, account, "registered", timers)
    ok = server.wait_for(answered_200, timeout=1, expected="the registrar's 200 to REGISTER")
    registers = server.registers()
    assert not is_authorized(registers[0]), "the first REGISTER should go without credentials"
    assert any(is_authorized(r) for r in registers), "no REGISTER carried an Authorization header"
    assert ok.t <= server.records()[-1].t
    assert status.register_extra == 200, f"extra_info {status.register_extra}, expected 200"


@pytest.mark.req("SIP-REG-002")
def test_register_names_the_account_and_the_device_contact(api, sip_account, registrar, timers):
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    record = server.wait_for(is_register, timeout=timers.state_timeout, expected="a REGISTER")
    request = record.message
    aor = f"sip:{account.local_account}@{server.host}"
    assert request.to_addr.uri.split(";")[0] == aor, f"To {request.to_addr.uri}, expected {aor}"
    assert request.from_addr.uri.split(";")[0] == aor, f"From {request.from_addr.uri}"
    contacts = [c.sip_uri() for c in request.contacts]
    assert any((c.host, c.port) == (account.sip.host, account.sip.port) for c in contacts), (
        f"Contact {[str(c) for c in request.contacts]} is not the device's {account.sip.address}"
    )
    expires = requested_expiry(record)
    assert expires is not None and expires > 0, "the REGISTER names no expiry"


@pytest.mark.req("SIP-REG-003")
def test_wrong_password_gives_error_without_a_challenge_loop(api, sip_account, registrar, timers):
    server = registrar()
    account = sip_account(registrar=server, password="not-the-password")
    first = server.wait_for(
        lambda r: is_register(r) and is_authorized(r),
        timeout=timers.state_timeout,
        expected="a REGISTER with (wrong) credentials",
    )
    wait_register_state(api, account, "error", timers)
    start = server.records().index(first)
    burst = server.watch(
        lambda r: is_register(r) and is_authorized(r), seconds=3, limit=5, since=start
    )
    assert len(burst) <= 5, f"{len(burst)} authorized REGISTERs within 3 s: a challenge loop"
    assert server.bindings == {}, "the registrar never accepted the credentials"


@pytest.mark.req("SIP-REG-004")
def test_forbidden_gives_error_403(api, sip_account, registrar, timers):
    server = registrar(mode=Mode.FORBIDDEN)
    account = sip_account(registrar=server)
    server.wait_for(
        lambda r: is_answer(r, 403),
        timeout=timers.state_timeout,
        expected="the registrar's 403",
    )
    status = wait_register_state(api, account, "error", timers)
    assert status.register_extra == 403, f"extra_info {status.register_extra}, expected 403"


@pytest.mark.req("SIP-REG-005")
def test_silent_registrar_then_back(api, sip_account, registrar, timers):
    server = registrar(mode=Mode.SILENT)
    account = sip_account(registrar=server)
    server.wait_for(is_register, timeout=timers.state_timeout, expected="a REGISTER")
    wait_register_state(
        api,
        account,
        "connecting",
        timers,
        timeout=timers.transaction_timeout + timers.state_timeout,
    )
    server.set_mode(Mode.NORMAL, grant=60)
    retry_window = timers.transaction_timeout + 8 * timers.retry_base + timers.state_timeout
    wait_register_state(api, account, "registered", timers, timeout=retry_window)
    server.wait_for(answered_200, timeout=1, expected="a 200 from the registrar once back")


@pytest.mark.req("SIP-REG-006")
def test_refresh_before_the_granted_expiry(api, sip_account, registrar, timers):
    grant = 4
    server = registrar(grant=grant)
    account = sip_account(registrar=server)
    wait_register_state(api, account, "registered", timers)
    granted = server.wait_for(answered_200, timeout=1, expected="the 200 granting 4 s")
    asked = requested_expiry(server.registers()[0])
    assert asked is None or asked > grant, (
        f"the device asked {asked} s: cannot tell the grant apart"
    )
    refresh = server.wait_for(
        lambda r: is_register(r) and r.t > granted.t,
        since=server.records().index(granted),
        timeout=grant + 1,
        expected=f"a refresh REGISTER within the {grant} s granted",
    )
    after = refresh.t - granted.t
    assert grant / 2 <= after < grant, f"refreshed {after:.2f} s after a {grant} s grant"
    assert api.status(account.id).register == "registered"


@pytest.mark.req("SIP-REG-007")
def test_remove_unregisters(api, sip_account, registrar, timers, new_account):
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    wait_register_state(api, account, "registered", timers)
    assert server.bindings, "the registrar holds no binding to remove"
    mark = len(server.records())
    api.remove(account.id)
    server.wait_for(
        lambda r: is_register(r) and requested_expiry(r) == 0,
        since=mark,
        timeout=timers.state_timeout,
        expected="REGISTER with expiry 0 after remove.json",
    )
    server.wait_for(
        lambda r: not server.bindings,
        since=mark,
        timeout=timers.state_timeout,
        expected="the binding gone from the registrar",
    )


@pytest.mark.req("SIP-REG-008")
def test_modify_credentials_reregisters(api, sip_account, registrar, timers):
    server = registrar(grant=60, users={"alice": "secret", "bob": "hunter2"})
    account = sip_account(registrar=server)
    wait_register_state(api, account, "registered", timers)
    mark = len(server.records())
    api.modify(account.id, username="bob", password="hunter2")
    server.wait_for(
        lambda r: is_register(r) and requested_expiry(r) == 0,
        since=mark,
        timeout=timers.state_timeout,
        expected="the old binding unregistered",
    )
    server.wait_for(
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
    wait_register_state(api, account, "registered", timers)


@pytest.mark.req("SIP-REG-009")
def test_retry_after_is_honoured(api, sip_account, registrar, timers):
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
    server.wait_for(
        is_register,
        since=server.records().index(refused),
        timeout=timers.retry_base * 8 + timers.state_timeout,
        expected="a REGISTER once Retry-After has passed",
    )
    assert api.status(account.id).register != "registered"


@pytest.mark.req("SIP-REG-010")
def test_digest_without_qop(api, sip_account, registrar, timers):
    server = registrar(grant=60, qop=False)
    account = sip_account(registrar=server)
    wait_register_state(api, account, "registered", timers)
    authorized = [r for r in server.registers() if is_authorized(r)]
    header = authorized[-1].message.headers.get("Authorization") or ""
    assert "qop=" not in header, f"answered a qop-less challenge with qop: {header}"
