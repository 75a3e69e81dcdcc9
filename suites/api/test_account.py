"""account.json: fields, unknown ids, registerPort as a JSON integer."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure


@pytest.mark.req("SIP-API-ACC-001")
def test_account_fields_of_new_account(api, add_named, new_account):
    name = new_account.name()
    api.expect_ok(add_named(name, "sip"))
    found = api.find(name)
    if found is None:
        raise ConformanceFailure(api.req, f"{name!r} listed after add.json ok", "not listed")
    account_id = found.id
    reply = api.call("account", {"id": str(account_id)})
    data = api.expect_ok(reply, data_schema="AccountOk")
    seen = {"name": data["name"], "protocol": data["protocol"]}
    if seen != {"name": name, "protocol": "sip"}:
        raise ConformanceFailure(
            api.req, f"name {name!r}, protocol 'sip'", f"{seen}", reply.exchange
        )


@pytest.mark.req("SIP-API-ACC-002")
def test_account_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("account", {"id": str(unknown_id)}), "unknown_id")


def _port_of(api, account_id):
    reply = api.call("account", {"id": str(account_id)})
    data = api.expect_ok(reply)
    port = data.get("registerPort")
    if not isinstance(port, int) or isinstance(port, bool):
        raise ConformanceFailure(
            api.req,
            "registerPort as a JSON integer",
            f"{type(port).__name__} {port!r}",
            reply.exchange,
        )
    return port


@pytest.mark.req("SIP-API-ACC-003")
def test_register_port_is_json_integer(api, new_account):
    account_id = new_account()
    _port_of(api, account_id)
    api.modify(account_id, registerPort="5070")
    port = _port_of(api, account_id)
    assert port == 5070, f"[{api.req}] expected registerPort 5070, observed {port}"
