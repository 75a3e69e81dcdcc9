"""Negative controls of the API cases: each feeds the check a case calls (a DeviceClient
expectation with its schema, or a function of device/api_checks.py) a recorded bad answer and
sees it fail, and a recorded good one (the bundled decoder's answer, or the page's example) and
sees it pass, so the check can tell them apart. Nothing is sent: the answers are canned.

Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from decoder_conformance.device import schema
from decoder_conformance.device.api_checks import (
    PAGE_CALL_CFG_EXAMPLE,
    PAGE_EXAMPLE_BINDS_READINGS,
    SSIP_READINGS,
    account_read_back,
    buffer_key_reading,
    call_cfg_read_back,
    check_allow_in_shown,
    check_binds_list,
    check_call_cfg_defaults,
    check_read_back,
    check_renamed,
    check_setting_shown,
    check_untouched,
    created_readings,
    flag_encoding_reading,
    id_type_reading,
    mcfg_type_reading,
    page_modify_example,
    refused_or_shown_reading,
    server_port_params_reading,
    server_port_reading,
    unconfigured_register_reading,
)
from decoder_conformance.device.client import (
    ConformanceFailure,
    DeviceClient,
    Exchange,
    Reply,
    binds_match,
)
from tests.reference_device.api_defaults import ACCOUNT_DEFAULTS, CALL_CFG_DEFAULTS

#: The page numbers these two codes; the rest are the profile's (unpinned here).
CLIENT = DeviceClient(
    "http://127.0.0.1:9/api", {"no_call": "1211", "not_implemented": "0000"}, req="LOCAL-NC-000"
)

# Recorded answers of the bundled decoder (a new sip account "cam-1", id 1).
LIST = {"result": "ok", "data": [{"created": False, "type": "sip", "name": "cam-1", "id": 1}]}
ACCOUNT = {"result": "ok", "data": {**ACCOUNT_DEFAULTS, "name": "cam-1"}}
CALL_CFG = {"result": "ok", "data": dict(CALL_CFG_DEFAULTS)}
STATUS = {
    "result": "ok",
    "data": [
        {"state": "not_created", "id": "account_status"},
        {"state": "idle", "extra_info": 0, "id": "register_status"},
        {"state": "idle", "id": "call_status"},
        {"state": 0, "id": "bitrate"},
    ],
}
BINDS = {"result": "ok", "data": {"binds": "127.0.0.1:59300"}}


def reply(body: Any, endpoint: str = "list") -> Reply:
    """A canned answer as DeviceClient.call would return it (a str body is sent as is)."""
    text = body if isinstance(body, str) else json.dumps(body)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    url = f"http://127.0.0.1:9/api/sip/{endpoint}.json"
    return Reply(Exchange("GET", url, {}, 200, text, 1.0, "application/json"), parsed)


def with_data(good: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`good` with its data's keys changed (a value of None removes the key)."""
    data = dict(good["data"])
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return {**good, "data": data}


def status_with(object_id: str, **fields: Any) -> dict[str, Any]:
    """STATUS with the object `object_id` changed (a value of None removes the field)."""
    items = []
    for item in STATUS["data"]:
        changed = {**item, **fields} if item["id"] == object_id else item
        items.append({k: v for k, v in changed.items() if v is not None})
    return {**STATUS, "data": items}


def fails(check: Any, *args: Any, **kwargs: Any) -> str:
    """Run `check`; it must raise ConformanceFailure; the message."""
    with pytest.raises(ConformanceFailure) as caught:
        check(*args, **kwargs)
    return str(caught.value)


# -- envelopes and shapes -------------------------------------------------------------------------


@pytest.mark.negative_control("SIP-API-ENV-001")
@pytest.mark.parametrize(
    "body",
    ["<html>ok</html>", "", {"result": "fine"}, {"status": "ok"}, ["ok"]],
    ids=["html", "empty", "unknown-result", "no-result", "array"],
)
def test_envelope_check_fails_on_a_non_envelope(body: Any) -> None:
    CLIENT.expect_envelope(reply({"result": "ok"}))
    CLIENT.expect_envelope(reply({"result": "error", "msg": "1203"}))
    assert "an ok or error JSON envelope" in fails(CLIENT.expect_envelope, reply(body))


@pytest.mark.negative_control("SIP-API-LIST-001")
@pytest.mark.parametrize(
    "bad",
    [
        {"result": "ok"},
        {"result": "ok", "data": [{"type": "sip", "name": "cam-1", "id": 1}]},
        {"result": "ok", "data": [{"created": "no", "type": "sip", "name": "cam-1", "id": 1}]},
        {"result": "ok", "data": {"created": False, "type": "sip", "name": "cam-1", "id": 1}},
    ],
    ids=["no-data", "no-created", "created-string", "object-not-array"],
)
def test_list_shape_check_fails(bad: dict[str, Any]) -> None:
    CLIENT.expect_ok(reply(LIST), data_schema="PageListOk")
    assert "PageListOk" in fails(CLIENT.expect_ok, reply(bad), data_schema="PageListOk")


@pytest.mark.negative_control("SIP-API-ACC-001")
@pytest.mark.parametrize(
    "bad",
    [
        with_data(ACCOUNT, buffer_option=None),
        with_data(ACCOUNT, call_in_options="allow"),
        with_data(ACCOUNT, protocol=None),
    ],
    ids=["no-buffer_option", "call_in_options-string", "no-protocol"],
)
def test_account_shape_check_fails(bad: dict[str, Any]) -> None:
    CLIENT.expect_ok(reply(ACCOUNT, "account"), data_schema="PageAccountOk")
    failure = fails(CLIENT.expect_ok, reply(bad, "account"), data_schema="PageAccountOk")
    assert "PageAccountOk" in failure


@pytest.mark.negative_control("SIP-API-CFG-001")
@pytest.mark.parametrize(
    "bad",
    [with_data(CALL_CFG, sip_out_url=None), with_data(CALL_CFG, allow_in_num="one")],
    ids=["no-sip_out_url", "allow_in_num-text"],
)
def test_call_cfg_shape_check_fails(bad: dict[str, Any]) -> None:
    CLIENT.expect_ok(reply(CALL_CFG, "call_cfg"), data_schema="PageCallConfigOk")
    failure = fails(CLIENT.expect_ok, reply(bad, "call_cfg"), data_schema="PageCallConfigOk")
    assert "PageCallConfigOk" in failure


@pytest.mark.negative_control("SIP-API-STAT-001")
@pytest.mark.parametrize(
    "bad",
    [
        status_with("call_status", state="talking"),
        status_with("account_status", state="ready"),
        {"result": "ok", "data": STATUS["data"][:3]},
        status_with("register_status", extra_info=None, state=None),
    ],
    ids=["call-state-unknown", "account-state-unknown", "no-bitrate", "register-no-state"],
)
def test_status_shape_check_fails(bad: dict[str, Any]) -> None:
    """The case's two steps: the PageStatusOk schema, then the four objects by id."""

    def check(answer: Reply) -> None:
        data = CLIENT.expect_ok(answer, data_schema="PageStatusOk")
        _, problems = schema.status_items(data)
        if problems:
            raise ConformanceFailure(CLIENT.req, "the four objects", "; ".join(problems))

    check(reply(STATUS, "status"))
    fails(check, reply(bad, "status"))


@pytest.mark.negative_control("SIP-API-BIND-001")
@pytest.mark.parametrize(
    ("binds", "by_schema"),
    [(["*:5060"], True), (5060, True), ("*:5060,,*:5062", False), (" ,*:5060", False)],
    ids=["list", "number", "empty-entry", "blank-entry"],
)
def test_binds_check_fails(binds: Any, by_schema: bool) -> None:
    def check(answer: Reply) -> None:
        data = CLIENT.expect_ok(answer, data_schema="PageBindsOk")
        check_binds_list(CLIENT.req, data["binds"], answer.exchange)

    check(reply(BINDS, "get_binds"))
    check(reply({"result": "ok", "data": {"binds": "*:5060,*.2222"}}, "get_binds"))
    failure = fails(check, reply({"result": "ok", "data": {"binds": binds}}, "get_binds"))
    assert ("PageBindsOk" in failure) is by_schema


# -- refusals the page numbers ---------------------------------------------------------------


@pytest.mark.negative_control("SIP-API-SRC-001")
@pytest.mark.parametrize(
    "bad", [{"result": "ok"}, {"result": "error", "msg": "1203"}, {"result": "ok", "data": []}]
)
def test_not_implemented_check_fails(bad: dict[str, Any]) -> None:
    CLIENT.expect_error(reply({"result": "error", "msg": "0000"}, "get_source"), "not_implemented")
    fails(CLIENT.expect_error, reply(bad, "get_source"), "not_implemented")


@pytest.mark.negative_control("SIP-API-ANS-001", "SIP-API-HUP-001")
@pytest.mark.parametrize("endpoint", ["answer", "hangup"])
@pytest.mark.parametrize("bad", [{"result": "ok"}, {"result": "error", "msg": "1202"}])
def test_no_call_check_fails(endpoint: str, bad: dict[str, Any]) -> None:
    CLIENT.expect_error(reply({"result": "error", "msg": "1211"}, endpoint), "no_call")
    fails(CLIENT.expect_error, reply(bad, endpoint), "no_call")


# -- values and readings ---------------------------------------------------------------------------


@pytest.mark.negative_control("SIP-API-CFG-002")
@pytest.mark.parametrize(
    "changes",
    [{"allow_in_num": 4}, {"allow_in_num": "1"}, {"source_id": "src"}, {"default_name": None}],
    ids=["allow_in_num-4", "allow_in_num-text", "source_id-set", "no-default_name"],
)
def test_call_cfg_defaults_check_fails(changes: dict[str, Any]) -> None:
    check_call_cfg_defaults("SIP-API-CFG-002", CALL_CFG["data"])
    bad = with_data(CALL_CFG, **changes)["data"]
    assert "page defaults" in fails(check_call_cfg_defaults, "SIP-API-CFG-002", bad)


@pytest.mark.negative_control("SIP-API-LIST-002")
def test_id_type_reading_refuses_other_forms() -> None:
    assert id_type_reading(1) == "json_integer"
    assert id_type_reading("1") == "decimal_string"
    for bad in (True, 1.0, "one", "", "0x1", None, [1]):
        assert id_type_reading(bad) is None, bad


@pytest.mark.negative_control("SIP-API-CFG-005", "SIP-API-CFG-006", "SIP-API-CFG-007")
def test_flag_encoding_reading_refuses_other_encodings() -> None:
    assert flag_encoding_reading(1, 0) == "zero_one"
    assert flag_encoding_reading(1, 2) == "one_two"
    assert flag_encoding_reading(True, False) == "boolean"
    # Strings, a mixed pair, the flag not changing, and yes/no swapped follow no reading.
    for bad in (("1", "0"), (True, 0), (1, 1), (0, 1), (2, 1), ("true", "false"), (None, None)):
        assert flag_encoding_reading(*bad) is None, bad


@pytest.mark.negative_control("SIP-API-CFG-004")
def test_buffer_key_reading_refuses_a_missing_or_wrong_buffer() -> None:
    written = "live:250:250:500:0:0"
    assert buffer_key_reading({"buffer": written}, written) == "buffer"
    assert buffer_key_reading({"buffer_option": written}, written) == "buffer_option"
    assert buffer_key_reading({"buffer": written, "buffer_option": written}, written) == "both"
    for bad in (
        {},
        {"buffer": "live:200:200:500:0:0"},
        {"buffer": written, "buffer_option": "live:200:200:500:0:0"},
        {"buffering": written},
    ):
        assert buffer_key_reading(bad, written) is None, bad


@pytest.mark.negative_control("SIP-API-PORT-001")
def test_server_port_reading_refuses_other_lists() -> None:
    binds = ["127.0.0.1:5062", "*:5064"]
    accounts = [(1, "cam-1"), (2, "cam-2")]
    entries = [{"name": b, "value": b} for b in binds]
    assert server_port_reading(entries, binds, accounts) == "binds"
    by_account = [{"name": "1", "value": "127.0.0.1:5062"}, {"name": "2", "value": "*:5064"}]
    assert server_port_reading(by_account, binds, accounts) == "accounts"
    for bad in (
        None,
        [],
        entries[::-1],  # another order
        entries[:1],  # a bind missing
        [{"name": b, "value": "*:5060"} for b in binds],  # value not the bind
        [{"name": "1", "value": "x"}],  # one account of two
    ):
        assert server_port_reading(bad, binds, accounts) is None, bad


@pytest.mark.negative_control("SIP-API-ADD-003", "SIP-API-MOD-010", "SIP-API-SBIND-002")
@pytest.mark.parametrize(
    ("table", "accepted_as"),
    [
        (SSIP_READINGS, {("sip", "sip"): "alias_of_sip", ("Ssip", "Ssip"): "own_type"}),
        (
            PAGE_EXAMPLE_BINDS_READINGS,
            {"*:5060,*.2222": "accepted_as_written", "*:5060,*:2222": "accepted_normalised"},
        ),
    ],
    ids=["ssip_type", "page_example_binds"],
)
def test_refused_or_shown_reading_refuses_a_changing_refusal_and_other_results(
    table: dict[Any, str], accepted_as: dict[Any, str]
) -> None:
    """Refused with nothing changed, or accepted and shown as a listed reading: a refusal that
    changed the state (a recorded DeviceState diff) and an acceptance shown otherwise fail."""
    assert refused_or_shown_reading(False, [], None, table) == "refused"
    for shown, reading in accepted_as.items():
        assert refused_or_shown_reading(True, None, shown, table) == reading
    changed = ["account 3: type sip -> gb28181"]
    assert refused_or_shown_reading(False, changed, None, table) is None
    for shown in (("gb28181", "gb28181"), ("sip", "Ssip"), "*:5060", "*:2222,*:5060", None):
        assert refused_or_shown_reading(True, None, shown, table) is None, shown


@pytest.mark.negative_control("SIP-API-STAT-002")
def test_created_readings_refuse_other_states() -> None:
    both = ["localAccount", "localAddress"]
    assert created_readings([], "not_created", False) == ["configured"]
    assert created_readings(both, "created", True) == ["configured", "on_add"]
    assert created_readings(["localAccount"], "error", True) == ["on_add"]
    for fields, state, flag in (
        ([], "created", False),  # created shown with nothing configured, list says not
        (both, "not_created", True),
        (both, "created", False),  # the two views disagree
        (["localAddress"], "not_created", True),
        (both, "created", "true"),  # list created not a JSON boolean
    ):
        assert created_readings(fields, state, flag) == [], (fields, state, flag)


@pytest.mark.negative_control("SIP-API-STAT-003")
def test_unconfigured_register_reading_refuses_a_registration_claim() -> None:
    for state in ("idle", "off", "closed", "disconnected", "error"):
        assert unconfigured_register_reading(state) == state
    for bad in ("registered", "registering", "connected", "on", "reconnecting", ""):
        assert unconfigured_register_reading(bad) is None, bad


@pytest.mark.negative_control("SIP-API-SBIND-001")
def test_binds_match_refuses_another_list() -> None:
    assert binds_match(["*:5062", "127.0.0.1:0"], ["*:5062", "127.0.0.1:40001"])
    for shown in (
        ["*:5064", "127.0.0.1:40001"],  # another port
        ["127.0.0.1:40001", "*:5062"],  # another order
        ["*:5062"],  # one dropped
        ["*:5062", "127.0.0.1:0"],  # the ephemeral port not bound
        ["*:5062", "*:40001"],  # another host
    ):
        assert not binds_match(["*:5062", "127.0.0.1:0"], shown), shown


# -- read-backs after a write ------------------------------------------------------------------

#: The page's modify.json example as the suite writes it (a spare bind, a loopback registrar).
PAGE_MODIFY = page_modify_example("*:5062")


def account_after_example(**changes: Any) -> dict[str, Any]:
    """ACCOUNT's data as it reads after PAGE_MODIFY was applied, with `changes`."""
    shown = {k: v for k, v in PAGE_MODIFY.items() if k != "type"}
    return {**ACCOUNT["data"], **shown, "protocol": "sip", "registerPort": 5060, **changes}


@pytest.mark.negative_control("SIP-API-MOD-004")
@pytest.mark.parametrize(
    "changes",
    [
        {"registerPort": 5061},
        {"registerPort": "5061"},
        {"realm": "sip"},
        {"protocol": "gb28181"},
        {"password": ""},
    ],
    ids=["port-other", "port-other-string", "realm-kept", "protocol", "password-dropped"],
)
def test_account_read_back_check_fails(changes: dict[str, Any]) -> None:
    for good in (account_after_example(), account_after_example(registerPort="5060")):
        check_read_back("SIP-API-MOD-004", "account.json", *account_read_back(PAGE_MODIFY, good))
    want, seen = account_read_back(PAGE_MODIFY, account_after_example(**changes))
    fails(check_read_back, "SIP-API-MOD-004", "account.json", want, seen)


@pytest.mark.negative_control("SIP-API-MCFG-002")
@pytest.mark.parametrize(
    "changes",
    [{"allow_in": 2}, {"auto_aws": 1}, {"buffer": "live:1:1:1:0:0"}, {"default_name": "d"}],
    ids=["allow_in", "auto_aws", "buffer", "default_name"],
)
def test_call_cfg_read_back_check_fails(changes: dict[str, Any]) -> None:
    written = PAGE_CALL_CFG_EXAMPLE
    for good in (
        CALL_CFG["data"],
        with_data(
            CALL_CFG, auto_aws=False, auto_call=2, buffer=None, buffer_option=written["buffer"]
        )["data"],
    ):
        check_read_back("SIP-API-MCFG-002", "call_cfg.json", *call_cfg_read_back(written, good))
    bad = with_data(CALL_CFG, **changes)["data"]
    fails(check_read_back, "SIP-API-MCFG-002", "call_cfg.json", *call_cfg_read_back(written, bad))


@pytest.mark.negative_control(
    "SIP-API-ADD-001", "SIP-API-ADD-002", "SIP-API-MOD-012", "SIP-API-MOD-005"
)
@pytest.mark.parametrize(
    ("want", "bad"),
    [
        ("sip", "gb28181"),
        ("sip", "Ssip"),
        (("gb28181", "gb28181"), ("sip", "gb28181")),
        (("gb28181", "gb28181"), ("gb28181", "sip")),
        ("sdi-slip", ""),
    ],
    ids=["added-sip", "added-sip-as-Ssip", "protocol-kept", "list-type-kept", "localAccount"],
)
def test_read_back_check_fails(want: Any, bad: Any) -> None:
    check_read_back("SIP-API-ADD-001", "shown", want, want)
    fails(check_read_back, "SIP-API-ADD-001", "shown", want, bad)


@pytest.mark.negative_control("SIP-API-MOD-005", "SIP-API-REM-003")
def test_untouched_check_fails_on_a_changed_bystander() -> None:
    before = (ACCOUNT["data"], CALL_CFG["data"])
    check_untouched("SIP-API-REM-003", "the other account", before, before)
    for after in (
        (with_data(ACCOUNT, localAccount="sdi-slip")["data"], CALL_CFG["data"]),
        (ACCOUNT["data"], with_data(CALL_CFG, auto_aws=1)["data"]),
        (with_data(ACCOUNT, realm=None)["data"], CALL_CFG["data"]),
    ):
        fails(check_untouched, "SIP-API-REM-003", "the other account", before, after)


@pytest.mark.negative_control("SIP-API-MOD-008")
@pytest.mark.parametrize(
    "names",
    [{1: "old"}, {1: "new", 2: "old"}, {1: "New"}, {2: "new"}],
    ids=["not-renamed", "old-name-elsewhere", "case-changed", "moved-to-another-id"],
)
def test_rename_check_fails(names: dict[int, str]) -> None:
    check_renamed("SIP-API-MOD-008", {1: "new", 2: "other"}, 1, "old", "new")
    fails(check_renamed, "SIP-API-MOD-008", names, 1, "old", "new")


@pytest.mark.negative_control("SIP-API-MCFG-011")
def test_mcfg_type_reading_refuses_other_protocols() -> None:
    assert mcfg_type_reading("sip") == "ignored"
    assert mcfg_type_reading("gb28181") == "applied"
    for bad in ("Ssip", "", None, "GB28181", 1):
        assert mcfg_type_reading(bad) is None, bad


@pytest.mark.negative_control("SIP-API-MCFG-003")
@pytest.mark.parametrize(
    ("field", "want", "bad"),
    [
        ("auto_aws", True, 0),
        ("auto_aws", False, True),
        ("auto_call", True, 2),
        ("source_enable", False, 1),
        ("auto_aws", True, "yes"),
        ("auto_call", False, None),
        ("source_enable", True, 3),
    ],
)
def test_flag_shown_check_fails(field: str, want: bool, bad: Any) -> None:
    for good in (1, True) if want else (0, 2, False):
        check_setting_shown("SIP-API-MCFG-003", field, good, want)
    fails(check_setting_shown, "SIP-API-MCFG-003", field, bad, want)


@pytest.mark.negative_control("SIP-API-MCFG-003")
@pytest.mark.parametrize(("written", "bad"), [("1", True), ("1", "1"), ("2", 1), ("2", False)])
def test_allow_in_shown_check_fails(written: str, bad: Any) -> None:
    check_allow_in_shown("SIP-API-MCFG-003", int(written), written)
    fails(check_allow_in_shown, "SIP-API-MCFG-003", bad, written)


@pytest.mark.negative_control("SIP-API-PORT-002")
def test_server_port_params_reading_refuses_other_answers() -> None:
    entries = [{"name": "*:5062", "value": "*:5062"}, {"name": "*:5064", "value": "*:5064"}]
    plain = reply({"result": "ok", "data": entries}, "server_port")
    one = reply({"result": "ok", "data": entries[:1]}, "server_port")
    unknown = reply({"result": "error", "msg": "1202"}, "server_port")
    assert server_port_params_reading(plain, plain, plain, id_3_unknown=True) == "ignored"
    assert server_port_params_reading(plain, one, one, id_3_unknown=False) == "filter"
    assert server_port_params_reading(plain, unknown, one, id_3_unknown=True) == "filter"
    other = reply({"result": "ok", "data": [{"name": "*:5060", "value": "*:5060"}]}, "server_port")
    for example, mine, id_3_unknown in (
        (unknown, one, False),  # refused id 3 although an account has it
        (other, one, True),  # an entry the plain answer does not list
        (one, unknown, True),  # refused an existing account's id
        (plain, reply("<html>", "server_port"), True),  # not JSON
        (plain, reply({"result": "ok", "data": {"binds": "*:5062"}}, "server_port"), True),
    ):
        assert (
            server_port_params_reading(plain, example, mine, id_3_unknown=id_3_unknown) is None
        ), (example.body, mine.body)
