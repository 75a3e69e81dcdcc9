"""The device client: refuses other hosts, redacts secrets, failures carry req + replay line."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.device.accounts import device_sip_address
from decoder_conformance.device.client import (
    ConformanceFailure,
    DeviceClient,
    Exchange,
    Reply,
    TargetRefused,
    as_number,
    buffer_of,
)
from decoder_conformance.device.snapshot import Snapshot
from decoder_conformance.device.target import ReferenceProcess
from decoder_conformance.failures import NotExercised

CODES = {name: entry.code for name, entry in Catalogue().errors.items()}


def reply(body: object, status: int = 200, params: dict[str, str] | None = None) -> Reply:
    text = json.dumps(body)
    exchange = Exchange("GET", "http://127.0.0.1:1/api/sip/x.json", params or {}, status, text, 1.0)
    return Reply(exchange, body)


def test_refuses_hosts_other_than_the_device() -> None:
    client = DeviceClient("http://127.0.0.1:8080/api", CODES)
    assert client.url_for("sip/list.json") == "http://127.0.0.1:8080/api/sip/list.json"
    with pytest.raises(TargetRefused, match=r"the device is 127\.0\.0\.1:8080"):
        client.url_for("http://127.0.0.2:8080/api/sip/list.json")


def test_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError, match="device URL must be"):
        DeviceClient("ftp://127.0.0.1/api", CODES)


def test_curl_line_replays_and_redacts() -> None:
    get = Exchange(
        "GET",
        "http://127.0.0.1:1/api/sip/modify.json",
        {"id": "2", "password": "hunter2", "realm": "a b"},
        200,
        "{}",
        1.0,
    )
    assert get.curl() == (
        "curl -sS 'http://127.0.0.1:1/api/sip/modify.json?id=2&password=%2A%2A%2A&realm=a+b'"
    )
    post = Exchange("POST", "http://127.0.0.1:1/api/sip/add.json", {"name": "x y"}, 200, "{}", 1.0)
    assert post.curl() == (
        "curl -sS -X POST --data-urlencode 'name=x y' http://127.0.0.1:1/api/sip/add.json"
    )
    leaky = Exchange("GET", "http://h/api/x", {}, 200, '{"password": "hunter2", "token":"t"}', 1.0)
    assert "hunter2" not in leaky.render() and '"token":"***"' in leaky.render()


def test_expect_error_names_requirement_expected_observed_and_replay() -> None:
    client = DeviceClient("http://127.0.0.1:1/api", CODES, req="SIP-API-REM-002")
    with pytest.raises(ConformanceFailure) as caught:
        client.expect_error(reply({"result": "error", "msg": "1203"}), "unknown_id")
    text = str(caught.value)
    assert caught.value.req == "SIP-API-REM-002"
    assert "[SIP-API-REM-002] expected error 1202 (unknown_id)" in text
    assert "observed error 1203" in text and "replay: curl" in text
    client.expect_error(reply({"result": "error", "msg": "1202"}), "unknown_id")


@pytest.mark.parametrize(
    ("body", "status", "observed"),
    [
        ({"result": "fine"}, 200, "result"),
        ([1, 2], 200, "<body>"),
        ({"result": "error"}, 200, "msg"),
    ],
)
def test_expect_ok_refuses_bad_envelopes(body: object, status: int, observed: str) -> None:
    client = DeviceClient("http://127.0.0.1:1/api", CODES)
    with pytest.raises(ConformanceFailure, match=observed):
        client.expect_ok(reply(body, status))


def test_the_envelope_wants_neither_http_200_nor_a_four_digit_code() -> None:
    # The page shows bodies only: the HTTP status and the code's form are SIP-API-ENV-007's and
    # SIP-API-ENV-006's own cases, not every case that reads an answer.
    client = DeviceClient("http://127.0.0.1:1/api", CODES)
    client.expect_ok(reply({"result": "ok"}, 500))
    client.expect_envelope(reply({"result": "error", "msg": "E_NO_ID"}, 400))
    with pytest.raises(ConformanceFailure, match="envelope"):
        client.expect_envelope(reply({"result": "maybe"}, 200))


def test_schema_checked_reads(reference: ReferenceProcess) -> None:
    seen: list[Exchange] = []
    client = DeviceClient(reference.api_url, CODES, on_exchange=seen.append)
    account_id = client.add_account("client-test")
    assert client.account(account_id)["name"] == "client-test"
    assert client.status(account_id).account == "not_created"
    assert [e.url.rsplit("/", 1)[1] for e in seen] == [
        "add.json",
        "list.json",
        "account.json",
        "status.json",
    ]
    with pytest.raises(ConformanceFailure, match="AccountOk"):
        client.expect_ok(reply({"result": "ok", "data": {"name": 1}}), data_schema="AccountOk")


def test_reference_process_is_stopped_cleanly(reference: ReferenceProcess) -> None:
    assert reference.process.poll() is None
    assert reference.stop() == 0
    assert reference.stop() == 0, "a second stop() must be a no-op"


# -- the read helpers accept every reading the page allows ----------------------------------------

API = "http://127.0.0.1:1/api"

#: A device that follows the page's table rather than its examples: ids and registerPort as
#: decimal strings, created true on add, the buffer under buffer_option, boolean flags, status
#: objects in another order with a fifth one, and the page's own get_binds example.
TABLE_DEVICE: dict[str, Any] = {
    "list": {
        "result": "ok",
        "data": [{"created": True, "type": "sip", "name": "siptest", "id": "1"}],
    },
    "account": {
        "result": "ok",
        "data": {
            "gb28181_options": {},
            "call_in_options": {"auto_answer": False, "allow": True, "policy": 1},
            "call_out_options": {"create_stream": True, "target": "", "auto_call": False},
            "localAddress": "",
            "protocol": "sip",
            "source_id": "",
            "serverId": "123",
            "password": "123",
            "registerServer": "127.0.0.1",  # the page shows a lab address here
            "registerPort": "5060",
            "buffer_option": "live:200:200:500:0:0",
            "localAccount": "1",
            "username": "123",
            "name": "siptest",
            "realm": "*",
        },
    },
    "call_cfg": {
        "result": "ok",
        "data": {
            "allow_in_num": 1,
            "buffer_option": "live:200:200:500:0:0",
            "source_id": "",
            "default_name": "",
            "sip_out_url": "",
            "allow_in": 1,
            "source_enable": True,
            "auto_aws": False,
        },
    },
    "status": {
        "result": "ok",
        "data": [
            {"state": 12.5, "id": "bitrate"},
            {"state": "idle", "id": "call_status"},
            {"state": "up", "id": "link_status"},
            {"state": "idle", "id": "register_status"},
            {"state": "error", "id": "account_status"},
        ],
    },
    "get_binds": {"result": "ok", "data": {"binds": "*:5060,*.2222"}},
}


class CannedSession(requests.Session):
    """Answers sip/<endpoint>.json from a table of bodies; records the parameters sent."""

    def __init__(self, bodies: dict[str, Any]) -> None:
        super().__init__()
        self.bodies = bodies
        self.sent: list[tuple[str, dict[str, str]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        endpoint = str(url).rsplit("/", 1)[1].removesuffix(".json")
        self.sent.append((endpoint, dict(kwargs.get("params") or kwargs.get("data") or {})))
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(self.bodies.get(endpoint, {"result": "ok"})).encode()
        return response


def canned(bodies: dict[str, Any]) -> DeviceClient:
    return DeviceClient(API, CODES, session=CannedSession(bodies), req="SIP-API-X-001")


def test_decimal_string_id_is_read_as_a_number() -> None:
    client = canned(TABLE_DEVICE)
    [entry] = client.accounts()
    assert (entry.id, entry.name, entry.type, entry.created) == (1, "siptest", "sip", True)
    assert client.find("siptest") == entry


def test_string_register_port_is_read() -> None:
    client = canned(TABLE_DEVICE)
    data = client.account(1)
    assert data["registerPort"] == "5060", "account() keeps the value as the device sent it"
    assert client.register_port(1) == 5060
    assert [as_number(v) for v in (5060, "5060", "50a0", True, None)] == [
        5060,
        5060,
        None,
        None,
        None,
    ]


def test_call_cfg_with_buffer_option_and_boolean_flags_is_read() -> None:
    cfg = canned(TABLE_DEVICE).call_cfg(1)
    assert buffer_of(cfg) == "live:200:200:500:0:0"
    assert buffer_of({"buffer": "b", "buffer_option": "o"}) == "b"


def test_status_items_in_another_order_with_a_fifth_are_read() -> None:
    status = canned(TABLE_DEVICE).status(1)
    assert (status.account, status.register, status.call, status.bitrate) == (
        "error",
        "idle",
        "idle",
        12.5,
    )
    assert status.register_extra is None


def test_status_missing_an_item_fails() -> None:
    items = [i for i in TABLE_DEVICE["status"]["data"] if i["id"] != "call_status"]
    client = canned({**TABLE_DEVICE, "status": {"result": "ok", "data": items}})
    with pytest.raises(ConformanceFailure, match="no object with id 'call_status'"):
        client.status(1)


def test_page_example_binds_are_read() -> None:
    client = canned(TABLE_DEVICE)
    assert client.binds() == ["*:5060", "*.2222"]
    sip = device_sip_address(client, API)
    assert (sip.host, sip.port, sip.bind) == ("127.0.0.1", 5060, "*:5060")


def test_no_usable_bind_is_not_exercised() -> None:
    client = canned({"get_binds": {"result": "ok", "data": {"binds": "*.2222,*:0"}}})
    with pytest.raises(NotExercised, match="no usable SIP bind"):
        device_sip_address(client, API)


def test_list_data_not_an_array_still_fails() -> None:
    client = canned({"list": {"result": "ok", "data": {"id": 1}}})
    with pytest.raises(ConformanceFailure, match=r"\[SIP-API-X-001\].*PageListOk"):
        client.accounts()


def test_snapshot_takes_and_restores_the_device_s_own_forms() -> None:
    session = CannedSession(TABLE_DEVICE)
    client = DeviceClient(API, CODES, session=session)
    snapshot = Snapshot.take(client)
    state = snapshot.accounts["siptest"]
    assert snapshot.binds == "*:5060,*.2222"
    assert state.modify_params()["registerPort"] == "5060"
    assert state.call_params()["buffer"] == "live:200:200:500:0:0"
    assert state.call_params()["auto_aws"] == "false"
    assert snapshot.restore(client) == [], "nothing changed: nothing to restore"
    assert {endpoint for endpoint, _ in session.sent} == {
        "list",
        "account",
        "call_cfg",
        "get_binds",
    }
    assert ("account", {"id": "1"}) in session.sent


def test_restore_reports_fields_the_device_refuses() -> None:
    session = CannedSession(TABLE_DEVICE)
    client = DeviceClient(API, CODES, session=session)
    snapshot = Snapshot.take(client)
    changed = json.loads(json.dumps(TABLE_DEVICE))
    changed["account"]["data"]["realm"] = "changed"
    changed["modify_call_cfg"] = {"result": "ok"}
    refusing = {**changed, "modify": {"result": "error", "msg": "1203"}}
    session.bodies = refusing
    report = snapshot.restore(client)
    assert report[0] == "restored settings of account 'siptest' (id 1)"
    assert any("refused realm='*' (error 1203)" in line for line in report)
