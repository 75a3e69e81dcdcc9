"""list.json: shape, id encoding, agreement with account.json."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure


@pytest.mark.req("SIP-API-LIST-001")
def test_list_schema_and_distinct_ids(api, new_account):
    first, second = new_account(), new_account()
    reply = api.call("list")
    data = api.expect_ok(reply, data_schema="ListOk")
    ids = [entry["id"] for entry in data]
    assert {first, second} <= set(ids), (
        f"[{api.req}] expected both new ids {first}, {second} listed, observed ids {ids}"
    )
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConformanceFailure(
            api.req, "distinct ids in list.json", f"repeated {duplicates}", reply.exchange
        )


@pytest.mark.req("SIP-API-LIST-002")
def test_list_id_is_json_integer_and_addresses_account(api, new_account):
    name = new_account.name()
    api.expect_ok(api.call("add", {"name": name, "type": "sip"}))
    reply = api.call("list")
    api.expect_ok(reply)
    entry = next((e for e in reply.data if e.get("name") == name), None)
    if entry is None:
        raise ConformanceFailure(
            api.req, f"{name!r} listed after add", "not listed", reply.exchange
        )
    raw_id = entry.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        new_account.adopt(raw_id)
    else:
        raise ConformanceFailure(
            api.req, "id as a JSON integer", f"{type(raw_id).__name__} {raw_id!r}", reply.exchange
        )
    by_string = api.call("account", {"id": str(raw_id)})
    data = api.expect_ok(by_string)
    assert data["name"] == name, (
        f"[{api.req}] expected account.json?id={raw_id} to be {name!r}, observed {data['name']!r}"
    )


@pytest.mark.req("SIP-API-LIST-003")
def test_list_entry_agrees_with_account(api, new_account, listed):
    account_id = new_account("sip", localAccount="3001")
    entry = listed(account_id)
    account = api.account(account_id)
    seen = {"name": entry.name, "type": entry.type}
    want = {"name": account["name"], "type": account["protocol"]}
    assert seen == want, (
        f"[{api.req}] expected list entry of id {account_id} to equal account.json {want}, "
        f"observed {seen}"
    )
