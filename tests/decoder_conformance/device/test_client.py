"""The device client: refuses other hosts, redacts secrets, failures carry req + replay line."""

from __future__ import annotations

import json

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.device.client import (
    ConformanceFailure,
    DeviceClient,
    Exchange,
    Reply,
    TargetRefused,
)
from decoder_conformance.device.target import ReferenceProcess

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
        ({"result": "ok"}, 500, "HTTP 500"),
        ({"result": "fine"}, 200, "result"),
        ([1, 2], 200, "<body>"),
        ({"result": "error"}, 200, "msg"),
    ],
)
def test_expect_ok_refuses_bad_envelopes(body: object, status: int, observed: str) -> None:
    client = DeviceClient("http://127.0.0.1:1/api", CODES)
    with pytest.raises(ConformanceFailure, match=observed):
        client.expect_ok(reply(body, status))


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
