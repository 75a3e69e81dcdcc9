"""call_cfg.json and modify_call_cfg.json, and the two views of the call settings agreeing."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import (
    PAGE_CALL_CFG_EXAMPLE,
    buffer_key_reading,
    call_cfg_read_back,
    check_allow_in_shown,
    check_call_cfg_defaults,
    check_read_back,
    check_setting_shown,
    flag_encoding_reading,
    mcfg_type_reading,
    sent_as_cfg,
)
from decoder_conformance.device.client import PAGE_FLAG_FORMS, ConformanceFailure, setting_of
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
    """(call_cfg.json setting, account.json value, account.json path) of one mapped setting; the
    call_cfg.json setting as `setting_of` gives it (a flag's encoding is CFG-005..007's reading,
    the buffer's key CFG-004's)."""
    cfg = api.call_cfg(account_id)
    account = api.account(account_id)
    if field == "policy":
        shown = _dig(account, ("call_in_options", "policy"))
        return cfg.get("policy", shown), shown, ("call_in_options", "policy")
    setting = setting_of(cfg, field)
    path, _ = account_view_of(field, setting)
    return setting, _dig(account, path), path


def shared_pinned(device_target):
    """Whether the profile pins call_settings_views = shared (VIEW-001 observes the reading;
    other cases check account.json's view only where the profile pins that it follows)."""
    return device_target.profile.readings.get("call_settings_views") == "shared"


def expect_read_back(api, account_id, field, want):
    """call_cfg.json shows the setting `want` (yes/no for a flag, in any encoding the page
    allows); account.json's view of it is VIEW-001's reading."""
    check_setting_shown(api.req, field, api.call_cfg(account_id).get(field), want)


# -- call_cfg.json ----------------------------------------------------------------------------


@pytest.mark.req("SIP-API-CFG-001")
@pytest.mark.read_only
def test_call_cfg_shape(api, existing_account):
    """Read-only mode reads an account the device already has; otherwise a scratch one."""
    reply = api.call("call_cfg", {"id": str(existing_account.id)})
    api.expect_ok(reply, data_schema="PageCallConfigOk")


@pytest.mark.req("SIP-API-CFG-002")
def test_call_cfg_defaults(api, new_account):
    check_call_cfg_defaults(api.req, api.call_cfg(new_account()))


@pytest.mark.req("SIP-API-CFG-003")
@pytest.mark.read_only
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
    ("auto_aws", "true", "0", 0),
    ("auto_aws", "0", "true", 1),
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
        account_view_of(field, sent_as_cfg(field, prior))[1],
        account_view_of(field, sent_as_cfg(field, str(want)))[1],
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
        wanted = (sent_as_cfg(field, prior), sent_as_cfg(field, str(want)))
        assert (cfg_prior, cfg_after) == wanted, (
            f"[{api.req}] expected call_cfg.json {field} showing {wanted[0]!r} then "
            f"{wanted[1]!r} after modify_call_cfg.json, observed {cfg_prior!r} then {cfg_after!r}"
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
    api.modify_call_cfg(account_id, auto_aws="true", source_id="keep", default_name="keep")
    cfg_before, account_before = api.call_cfg(account_id), api.account(account_id)
    api.modify_call_cfg(account_id, buffer="live:250:250:500:0:0")
    cfg_after, account_after = api.call_cfg(account_id), api.account(account_id)
    buffer = setting_of(cfg_after, "buffer")
    assert buffer == "live:250:250:500:0:0", f"precondition: buffer applied, observed {buffer!r}"
    cfg_changed = sorted(
        k
        for k in cfg_before
        if k not in ("buffer", "buffer_option") and cfg_before[k] != cfg_after.get(k)
    )
    acc_changed = sorted(
        k
        for k in account_before
        if k != "buffer_option" and account_before[k] != account_after.get(k)
    )
    assert (cfg_changed, acc_changed) == ([], []), (
        f"[{api.req}] expected only buffer to change; observed call_cfg.json {cfg_changed} and "
        f"account.json {acc_changed} changed too"
    )


PAGE_EXAMPLE = {"type": "gb28181", **PAGE_CALL_CFG_EXAMPLE}


@pytest.mark.req("SIP-API-MCFG-002")
def test_modify_call_cfg_page_example(api, new_account):
    account_id = new_account()
    # Each setting first away from the example's value (in the page's forms; allow_in_num has
    # no documented value but the example's 1, so it stays at its default).
    api.modify_call_cfg(
        account_id,
        buffer="live:1:1:1:0:0",
        source_id="s",
        default_name="d",
        sip_out_url=SIP_OUT_A,
        allow_in="2",
        source_enable="2",
        auto_aws="true",
        auto_call="1",
    )
    api.modify_call_cfg(account_id, **PAGE_EXAMPLE)
    written = {k: v for k, v in PAGE_EXAMPLE.items() if k != "type"}
    want, seen = call_cfg_read_back(written, api.call_cfg(account_id))
    check_read_back(api.req, "call_cfg.json after the example", want, seen)
    api.modify_call_cfg(account_id, type="sip", default_name="example-name")
    name = api.call_cfg(account_id)["default_name"]
    check_read_back(api.req, "default_name stored", "example-name", name)


@pytest.mark.req("SIP-API-MCFG-011")
@pytest.mark.needs("gb28181")
def test_modify_call_cfg_type_parameter(api, new_account, readings):
    """The example passes type=gb28181 to modify_call_cfg.json, whose table has no type: ignored,
    or applied to the account as modify.json's type is."""
    account_id = new_account("sip")
    api.modify_call_cfg(account_id, type="gb28181", default_name="typed")
    protocol = api.account(account_id)["protocol"]
    seen = f"modify_call_cfg.json type=gb28181 on a sip account: account.json protocol {protocol!r}"
    reading = mcfg_type_reading(protocol)
    if reading is None:
        readings.none_of("mcfg_type_param", seen)
    readings.follow("mcfg_type_param", reading, seen)


#: (field, prior value sent, value sent, setting call_cfg.json then shows: yes True, no False)
#: The forms the page gives: allow_in, source_enable and auto_call 1/2, auto_aws true/false, and
#: the example's auto_aws=0, auto_call=0.
PAGE_FORM_CASES = [
    ("allow_in", "2", "1", True),
    ("allow_in", "1", "2", False),
    ("source_enable", "2", "1", True),
    ("source_enable", "1", "2", False),
    ("auto_aws", "false", "true", True),
    ("auto_aws", "true", "false", False),
    ("auto_aws", "true", "0", False),
    ("auto_call", "2", "1", True),
    ("auto_call", "1", "2", False),
    ("auto_call", "1", "0", False),
]

#: Each flag in the other flags' forms: not on the page (SIP-API-MCFG-009, a practice).
OTHER_FORM_CASES = [
    ("auto_aws", "0", "1", True),
    ("auto_aws", "true", "2", False),
    ("auto_call", "2", "true", True),
    ("auto_call", "1", "false", False),
]


def _set_flag(api, account_id, case):
    """`field`=`prior` (the precondition: call_cfg.json shows the other meaning), then `value`;
    call_cfg.json must then show `want`."""
    field, prior, value, want = case
    api.modify_call_cfg(account_id, **{field: prior})
    shown = api.call_cfg(account_id).get(field)
    assert setting_of({field: shown}, field) is (not want), (
        f"precondition: {field}={prior} shows {not want}, observed {shown!r}"
    )
    api.modify_call_cfg(account_id, **{field: value})
    expect_read_back(api, account_id, field, want)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=f"{c[0]}={c[2]}", marks=pytest.mark.req("SIP-API-MCFG-003"))
        for c in PAGE_FORM_CASES
    ],
)
def test_flag_page_forms(api, new_account, case):
    """Read back by call_cfg.json: the case is about the forms taken, not the two views; allow_in
    reads back 1/2 exactly, as both of the page's tables give it."""
    field, _, value, _ = case
    account_id = new_account()
    _set_flag(api, account_id, case)
    if field == "allow_in":
        check_allow_in_shown(api.req, api.call_cfg(account_id)["allow_in"], value)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=f"{c[0]}={c[2]}", marks=pytest.mark.req("SIP-API-MCFG-009"))
        for c in OTHER_FORM_CASES
    ],
)
def test_flag_other_forms(api, new_account, case):
    _set_flag(api, new_account(), case)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(f, v, id=f"{f}={v}", marks=pytest.mark.req("SIP-API-MCFG-010"))
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


# -- how call_cfg.json shows what was written (readings) ----------------------------------------


#: Each flag's encoding point (the point of the requirement marked on its parameter below).
FLAG_POINTS = {
    "auto_aws": "auto_aws_encoding",
    "auto_call": "auto_call_encoding",
    "source_enable": "source_enable_encoding",
}


@pytest.mark.parametrize(
    "field",
    [
        pytest.param("auto_aws", marks=pytest.mark.req("SIP-API-CFG-005")),
        pytest.param("auto_call", marks=pytest.mark.req("SIP-API-CFG-006")),
        pytest.param("source_enable", marks=pytest.mark.req("SIP-API-CFG-007")),
    ],
)
def test_flag_encoding(api, new_account, readings, field):
    """The flag set to yes then no in the page's own forms; which values call_cfg.json shows."""
    point = FLAG_POINTS[field]
    account_id = new_account()
    yes, no = PAGE_FLAG_FORMS[field]
    shown = []
    for value in (yes, no):
        api.modify_call_cfg(account_id, **{field: value})
        shown.append(api.call_cfg(account_id).get(field))
    seen = f"call_cfg.json {field} {shown[0]!r} after {field}={yes}, {shown[1]!r} after {no}"
    reading = flag_encoding_reading(*shown)
    if reading is None:
        readings.none_of(point, seen)
    readings.follow(point, reading, seen)


@pytest.mark.req("SIP-API-CFG-004")
def test_buffer_key(api, new_account, readings):
    """modify_call_cfg.json's buffer, read back under the example's key, the table's, or both."""
    account_id = new_account()
    written = "live:250:250:500:0:0"
    api.modify_call_cfg(account_id, buffer=written)
    cfg = api.call_cfg(account_id)
    keys = tuple(k for k in ("buffer", "buffer_option") if k in cfg)
    seen = f"buffer={written} written; call_cfg.json shows { ({k: cfg[k] for k in keys}) }"
    reading = buffer_key_reading(cfg, written)
    if reading is None:
        readings.none_of("call_cfg_buffer_key", seen)
    readings.follow("call_cfg_buffer_key", reading, seen)


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
    reply = api.call("modify_call_cfg", {"id": str(unknown_id), "auto_aws": "true"})
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
