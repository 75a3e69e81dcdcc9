"""account.json: fields, unknown ids, registerPort's JSON type."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure, as_number


@pytest.mark.req("SIP-API-ACC-001")
def test_account_fields_of_new_account(api, add_named, new_account):
    name = new_account.name()
    api.expect_ok(add_named(name, "sip"))
    found = api.find(name)
    if found is None:
        raise ConformanceFailure(api.req, f"{name!r} listed after add.json ok", "not listed")
    account_id = found.id
    reply = api.call("account", {"id": str(account_id)})
    # Every field of the page's table; registerPort an integer or a decimal string (ACC-003).
    data = api.expect_ok(reply, data_schema="PageAccountOk")
    seen = {"name": data["name"], "protocol": data["protocol"]}
    if seen != {"name": name, "protocol": "sip"}:
        raise ConformanceFailure(
            api.req, f"name {name!r}, protocol 'sip'", f"{seen}", reply.exchange
        )


@pytest.mark.req("SIP-API-ACC-002")
@pytest.mark.read_only
def test_account_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("account", {"id": str(unknown_id)}), "unknown_id")


NEW = "of a new account"


def _observe_port(api, readings, account_id, when):
    """account.json registerPort, observing which reading its JSON type follows; as a number."""
    reply = api.call("account", {"id": str(account_id)})
    data = api.expect_ok(reply)
    port = data.get("registerPort") if isinstance(data, dict) else None
    number = as_number(port)
    seen = f"account.json registerPort {port!r} ({type(port).__name__}) {when}"
    if port == "" and when == NEW:
        return None  # no port set yet (the page shows an unset field as ""): nothing to judge
    if isinstance(port, int) and not isinstance(port, bool):
        readings.follow("register_port_type", "json_integer", seen)
    elif isinstance(port, str) and number is not None:
        readings.follow("register_port_type", "decimal_string", seen)
    else:
        readings.none_of("register_port_type", seen)
    return number


@pytest.mark.req("SIP-API-ACC-003")
def test_register_port_type(api, new_account, readings):
    account_id = new_account()
    _observe_port(api, readings, account_id, NEW)
    api.modify(account_id, registerPort="5070")
    port = _observe_port(api, readings, account_id, "after modify.json registerPort=5070")
    if port != 5070:
        raise ConformanceFailure(api.req, "registerPort 5070 (as a number)", f"{port!r}")
