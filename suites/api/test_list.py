"""list.json: shape, id encoding, agreement with account.json."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import id_type_reading
from decoder_conformance.device.client import ConformanceFailure, as_number
from decoder_conformance.failures import NotExercised


@pytest.mark.req("SIP-API-LIST-001")
def test_list_schema(api, new_account):
    first, second = new_account(), new_account()
    reply = api.call("list")
    # What the page guarantees: {id, type, name, created}; id's JSON type is LIST-002's reading.
    data = api.expect_ok(reply, data_schema="PageListOk")
    ids = [as_number(entry["id"]) for entry in data]
    if not {first, second} <= set(ids):
        raise ConformanceFailure(
            api.req, f"both new ids {first}, {second} listed", f"ids {ids}", reply.exchange
        )


@pytest.mark.req("SIP-API-LIST-004")
def test_list_ids_distinct(api, new_account):
    new_account(), new_account()
    reply = api.call("list")
    data = api.expect_ok(reply, data_schema="PageListOk")
    ids = [as_number(entry["id"]) for entry in data]
    if len(ids) < 2:
        raise NotExercised(f"harness: two accounts added, list.json lists {len(ids)}")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConformanceFailure(
            api.req, "distinct ids in list.json", f"repeated {duplicates}", reply.exchange
        )


@pytest.mark.req("SIP-API-LIST-002")
def test_list_id_type_and_id_addresses_account(api, new_account, readings):
    name = new_account.name()
    api.expect_ok(api.call("add", {"name": name, "type": "sip"}))
    reply = api.call("list")
    data = api.expect_ok(reply)
    entry = next((e for e in data or [] if isinstance(e, dict) and e.get("name") == name), None)
    if entry is None:
        raise ConformanceFailure(
            api.req, f"{name!r} listed after add", "not listed", reply.exchange
        )
    raw_id = entry.get("id")
    number = as_number(raw_id)
    if number is not None:
        new_account.adopt(number)
    seen = f"list.json id {raw_id!r} ({type(raw_id).__name__}) for {name!r}"
    reading = id_type_reading(raw_id)
    if reading is None:
        readings.none_of("id_type", seen)
    readings.follow("id_type", reading, seen)
    # Either way its decimal string addresses the same account (the page's parameter form).
    by_string = api.call("account", {"id": str(number)})
    data = api.expect_ok(by_string)
    shown = data.get("name") if isinstance(data, dict) else None
    if shown != name:
        raise ConformanceFailure(
            api.req, f"account.json?id={number} to be {name!r}", f"{shown!r}", by_string.exchange
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
