"""call_cfg.json and modify_call_cfg.json, and the two views of the call settings agreeing."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised

# -- the mapping table of spec/README.md: call_cfg.json field -> account.json view ------------


def account_view_of(field, cfg_value):
    """(path in account.json, value it must hold) for call_cfg.json `field` = `cfg_value`."""
    return {
        "allow_in": (("call_in_options", "allow"), cfg_value == 1),
        "auto_aws": (("call_in_options", "auto_answer"), cfg_value == 1),
        "policy": (("call_in_options", "policy"), cfg_value),
        "sip_out_url": (("call_out_options", "target"), cfg_value),
        "auto_call": (("call_out_options", "auto_call"), cfg_value == 1),
        "source_enable": (("call_out_options", "create_stream"), cfg_value == 1),
        "buffer": (("buffer_option",), cfg_value),
        "source_id": (("source_id",), cfg_value),
    }[field]


def _dig(data, path):
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def views_of(api, account_id, field):
    """(call_cfg.json value, account.json value, account.json path) of one mapped setting."""
    cfg = api.call_cfg(account_id)
    account = api.account(account_id)
    if field == "policy":
        shown = _dig(account, ("call_in_options", "policy"))
        return cfg.get("policy", shown), shown, ("call_in_options", "policy")
    path, _ = account_view_of(field, cfg[field])
    return cfg[field], _dig(account, path), path


def sent_as_cfg(value):
    """call_cfg.json's form of a canonical value sent: numbers as integers, text unchanged."""
    return int(value) if value.isdigit() else value


def shared_pinned(device_target):
    """Whether the profile pins call_settings_views = shared (VIEW-001 observes the reading;
    other cases check account.json's view only where the profile pins that it follows)."""
    return device_target.profile.readings.get("call_settings_views") == "shared"


def expect_read_back(api, account_id, field, want_cfg):
    """call_cfg.json shows `want_cfg` (account.json's view of it is VIEW-001's reading)."""
    cfg_value = api.call_cfg(account_id)[field]
    assert cfg_value == want_cfg, (
        f"[{api.req}] expected call_cfg.json {field}={want_cfg!r}, observed {cfg_value!r}"
    )


# -- call_cfg.json ----------------------------------------------------------------------------


@pytest.mark.req("SIP-API-CFG-001")
def test_call_cfg_shape(api, new_account):
    account_id = new_account()
    api.expect_ok(api.call("call_cfg", {"id": str(account_id)}), data_schema="CallConfigOk")


@pytest.mark.req("SIP-API-CFG-002")
def test_call_cfg_defaults(api, new_account):
    cfg = api.call_cfg(new_account())
    seen = {k: cfg[k] for k in ("allow_in_num", "source_id", "default_name")}
    want = {"allow_in_num": 1, "source_id": "", "default_name": ""}
    assert seen == want, f"[{api.req}] expected page defaults {want}, observed {seen}"


@pytest.mark.req("SIP-API-CFG-003")
def test_call_cfg_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("call_cfg", {"id": str(unknown_id)}), "unknown_id")


# -- both views agree ---------------------------------------------------------------------------

#: Call targets are loopback literals: a value the suite writes never makes a device resolve a
#: name or contact another host.
SIP_OUT_A = "1001@127.0.0.1"
SIP_OUT_B = "sip:2002@127.0.0.1:5062"

#: (field, prior value sent, value sent, call_cfg.json value expected)
VIEW_CASES = [
    ("allow_in", "2", "1", 1),
    ("allow_in", "1", "2", 2),
    ("auto_aws", "1", "0", 0),
    ("auto_aws", "0", "1", 1),
    ("auto_call", "1", "0", 0),
    ("auto_call", "0", "1", 1),
    ("source_enable", "2", "1", 1),
    ("source_enable", "1", "2", 2),
    ("policy", "2", "1", 1),
    ("policy", "1", "2", 2),
    ("policy", "1", "3", 3),
    ("sip_out_url", SIP_OUT_B, SIP_OUT_A, SIP_OUT_A),
    ("sip_out_url", SIP_OUT_A, "", ""),
    ("buffer", "live:100:100:100:0:0", "live:300:300:600:0:0", "live:300:300:600:0:0"),
    ("source_id", "src-a", "src-b", "src-b"),
]


#: account.json paths under the call options: the part of account.json the `independent`
#: reading keeps apart from call_cfg.json. buffer_option and source_id follow under both readings.
CALL_OPTIONS = ("call_in_options", "call_out_options")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=f"{case[0]}={case[2] or 'empty'}",
            marks=[pytest.mark.req("SIP-API-VIEW-001")]
            + ([pytest.mark.needs("policy_write")] if case[0] == "policy" else []),
        )
        for case in VIEW_CASES
    ],
)
def test_views(api, new_account, readings, case):
    """modify_call_cfg.json sets a mapped field twice (prior, then value): call_cfg.json shows
    each write; account.json follows both by the mapping table (shared), or, for the call options,
    keeps its value through both (independent)."""
    field, prior, value, want = case
    account_id = new_account()
    api.modify_call_cfg(account_id, **{field: prior})
    cfg_prior, account_prior, path = views_of(api, account_id, field)
    api.modify_call_cfg(account_id, **{field: value})
    cfg_after, account_after, _ = views_of(api, account_id, field)
    mapped_prior, mapped_after = (
        account_view_of(field, sent_as_cfg(prior))[1],
        account_view_of(field, want)[1],
    )
    shown = ".".join(path)
    seen = (
        f"modify_call_cfg.json {field}={prior!r} then {field}={value!r}: call_cfg.json "
        f"{cfg_prior!r} then {cfg_after!r}, account.json {shown} {account_prior!r} then "
        f"{account_after!r}"
    )
    cfg_has_field = field != "policy" or "policy" in api.call_cfg(account_id)
    if cfg_has_field:
        # The event: call_cfg.json shows both writes (whatever account.json does).
        assert (cfg_prior, cfg_after) == (sent_as_cfg(prior), want), (
            f"[{api.req}] expected call_cfg.json {field} {sent_as_cfg(prior)!r} then {want!r} "
            f"after modify_call_cfg.json, observed {cfg_prior!r} then {cfg_after!r}"
        )
    follows = (account_prior, account_after) == (mapped_prior, mapped_after)
    if follows:
        if path[0] in CALL_OPTIONS:
            readings.follow("call_settings_views", "shared", seen)
        return  # buffer_option and source_id follow under either reading: nothing to record
    if not cfg_has_field and account_prior == account_after:
        raise NotExercised(
            f"harness: call_cfg.json has no policy and account.json kept {account_after!r}: "
            "the write is not observable"
        )
    if path[0] in CALL_OPTIONS and account_after == account_prior:
        readings.follow("call_settings_views", "independent", seen)
        return
    readings.none_of("call_settings_views", seen)


# -- modify_call_cfg.json -----------------------------------------------------------------------


@pytest.mark.req("SIP-API-MCFG-001")
def test_modify_call_cfg_changes_only_given_fields(api, new_account):
    account_id = new_account("sip", localAccount="8001")
    api.modify_call_cfg(account_id, auto_aws="1", source_id="keep", default_name="keep")
    cfg_before, account_before = api.call_cfg(account_id), api.account(account_id)
    api.modify_call_cfg(account_id, buffer="live:250:250:500:0:0")
    cfg_after, account_after = api.call_cfg(account_id), api.account(account_id)
    assert cfg_after["buffer"] == "live:250:250:500:0:0", "precondition: buffer applied"
    cfg_changed = sorted(k for k in cfg_before if k != "buffer" and cfg_before[k] != cfg_after[k])
    acc_changed = sorted(
        k
        for k in account_before
        if k != "buffer_option" and account_before[k] != account_after.get(k)
    )
    assert (cfg_changed, acc_changed) == ([], []), (
        f"[{api.req}] expected only buffer to change; observed call_cfg.json {cfg_changed} and "
        f"account.json {acc_changed} changed too"
    )


PAGE_EXAMPLE = {
    "type": "gb28181",
    "allow_in_num": "1",
    "buffer": "live:200:200:500:0:0",
    "source_id": "",
    "default_name": "",
    "sip_out_url": "",
    "allow_in": "1",
    "source_enable": "1",
    "auto_aws": "0",
    "auto_call": "0",
}


@pytest.mark.req("SIP-API-MCFG-002")
def test_modify_call_cfg_page_example(api, new_account):
    account_id = new_account()
    api.modify_call_cfg(
        account_id,
        allow_in_num="5",
        buffer="live:1:1:1:0:0",
        source_id="s",
        default_name="d",
        sip_out_url=SIP_OUT_A,
        allow_in="2",
        source_enable="2",
        auto_aws="1",
        auto_call="1",
    )
    api.modify_call_cfg(account_id, **PAGE_EXAMPLE)
    cfg = api.call_cfg(account_id)
    want = {k: v for k, v in PAGE_EXAMPLE.items() if k != "type"}
    want.update(allow_in_num=1, allow_in=1, source_enable=1, auto_aws=0, auto_call=0)
    seen = {k: cfg.get(k) for k in want}
    assert seen == want, (
        f"[{api.req}] expected call_cfg.json {want} after the example, observed {seen}"
    )
    protocol = api.account(account_id)["protocol"]
    assert protocol == "sip", (
        f"[{api.req}] expected type=gb28181 in modify_call_cfg.json ignored (protocol sip), "
        f"observed protocol {protocol!r}"
    )
    api.modify_call_cfg(account_id, type="sip", allow_in_num="4", default_name="example-name")
    cfg = api.call_cfg(account_id)
    seen = {"allow_in_num": cfg["allow_in_num"], "default_name": cfg["default_name"]}
    assert seen == {"allow_in_num": 4, "default_name": "example-name"}, (
        f"[{api.req}] expected allow_in_num 4 and default_name 'example-name' stored, "
        f"observed {seen}"
    )


#: (field, prior value sent, alternative input form, call_cfg.json value expected)
ENCODING_CASES = [
    ("auto_aws", "0", "true", 1),
    ("auto_aws", "1", "false", 0),
    ("auto_aws", "1", "2", 0),
    ("auto_call", "0", "true", 1),
    ("auto_call", "1", "false", 0),
    ("auto_call", "1", "2", 0),
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=f"{case[0]}={case[2]}", marks=pytest.mark.req("SIP-API-MCFG-003"))
        for case in ENCODING_CASES
    ],
)
def test_flag_input_forms(api, new_account, case):
    """Read back by call_cfg.json: the case is about the input forms, not the two views."""
    field, prior, value, want = case
    account_id = new_account()
    api.modify_call_cfg(account_id, **{field: prior})
    assert api.call_cfg(account_id)[field] != want, f"precondition: {field} not already {want}"
    api.modify_call_cfg(account_id, **{field: value})
    expect_read_back(api, account_id, field, want)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(f, v, id=f"{f}={v}", marks=pytest.mark.req("SIP-API-MCFG-003"))
        for f, v in (
            ("allow_in", "0"),
            ("allow_in", "3"),
            ("allow_in", "true"),
            ("source_enable", "0"),
            ("source_enable", "true"),
            ("auto_aws", "3"),
            ("auto_aws", "yes"),
            ("auto_call", "3"),
        )
    ],
)
def test_flag_bad_value_refused(api, new_account, guard, field, value):
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify_call_cfg", {"id": str(account_id), field: value})
    api.expect_error(reply, "bad_value")
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-MCFG-004")
@pytest.mark.needs("policy_write")
def test_policy_two_and_three_kept_distinct(api, new_account, *, device_target):
    """Read back by account.json where the profile pins the shared views, else by call_cfg.json
    where it shows policy (account.json's call options are VIEW-001's reading)."""
    account_id = new_account()
    by_account = shared_pinned(device_target) or "policy" not in api.call_cfg(account_id)
    where = "account.json" if by_account else "call_cfg.json"
    seen = []
    for value in ("2", "3", "1"):
        api.modify_call_cfg(account_id, policy=value)
        if by_account:
            seen.append(api.account(account_id)["call_in_options"]["policy"])
        else:
            seen.append(api.call_cfg(account_id)["policy"])
    assert seen == [2, 3, 1], (
        f"[{api.req}] expected {where} policy 2, 3, 1 after setting them, observed {seen}"
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            v, marks=[pytest.mark.req("SIP-API-MCFG-004"), pytest.mark.needs("policy_write")]
        )
        for v in ("0", "4", "x")
    ],
)
def test_policy_bad_value_refused(api, new_account, guard, value):
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify_call_cfg", {"id": str(account_id), "policy": value})
    api.expect_error(reply, "bad_value")
    guard.unchanged(before, reply)


@pytest.mark.parametrize(
    "buffer",
    [
        pytest.param(b, marks=pytest.mark.req("SIP-API-MCFG-005"))
        for b in (
            "live",
            "LIVE:200:200:500:0:0",
            "live:200:200:500:0",
            "live:200:200:500:0:0:0",
            "live:a:200:500:0:0",
            "live:100001:200:500:0:0",
            "live:200:200:500:0:-1",
            "live 200:200:500:0:0",
        )
    ],
)
def test_malformed_buffer_refused(api, new_account, guard, buffer):
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify_call_cfg", {"id": str(account_id), "buffer": buffer})
    api.expect_error(reply, "bad_buffer")
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-MCFG-006")
def test_allow_in_num_range_accepted(api, new_account):
    account_id = new_account()
    seen = []
    for value in ("16", "1", "7"):
        api.modify_call_cfg(account_id, allow_in_num=value)
        seen.append(api.call_cfg(account_id)["allow_in_num"])
    assert seen == [16, 1, 7], f"[{api.req}] expected allow_in_num 16, 1, 7, observed {seen}"


@pytest.mark.parametrize(
    "value",
    [pytest.param(v, marks=pytest.mark.req("SIP-API-MCFG-006")) for v in ("0", "17", "x")],
)
def test_allow_in_num_out_of_range_refused(api, new_account, guard, value):
    account_id = new_account()
    before = guard.snap(account_id)
    reply = api.call("modify_call_cfg", {"id": str(account_id), "allow_in_num": value})
    api.expect_error(reply, "bad_value")
    guard.unchanged(before, reply)


@pytest.mark.req("SIP-API-MCFG-007")
def test_modify_call_cfg_unknown_id_refused(api, unknown_id):
    reply = api.call("modify_call_cfg", {"id": str(unknown_id), "auto_aws": "1"})
    api.expect_error(reply, "unknown_id")


@pytest.mark.req("SIP-API-MCFG-008")
def test_source_id_too_long_refused(api, new_account, guard, limits):
    account_id = new_account()
    api.modify_call_cfg(account_id, source_id="s" * limits.max_value_length)
    before = guard.snap(account_id)
    if before.accounts[0][2].get("data", {}).get("source_id") != "s" * limits.max_value_length:
        raise ConformanceFailure(
            api.req,
            f"a {limits.max_value_length}-character source_id kept",
            f"{before.accounts[0][2]}",
        )
    reply = api.call(
        "modify_call_cfg", {"id": str(account_id), "source_id": "t" * (limits.max_value_length + 1)}
    )
    api.expect_error(reply, "too_long")
    guard.unchanged(before, reply)
