"""A refused request changes nothing: snapshot, send the bad request, compare.

Each request mixes valid changes with one bad value where it can, so a device that applies the
valid part before refusing is caught. The snapshot covers list.json, get_binds.json and both views
(account.json, call_cfg.json) of the account the request names and of a bystander account.
"""

from __future__ import annotations

import pytest

#: (endpoint, parameter template, catalogue error, capabilities needed). In templates "{id}" is
#: the target account's id, "{name}" its name, "{fresh}" an unused name, "{unknown}" an id no
#: account has, "{long}" a value one character longer than max_value_length, "{spare}" a bind
#: the profile lets the suite open (a valid localAddress: a device that applies it before
#: refusing opens only that).
CASES = {
    "add-type-Ssip": ("add", {"name": "{fresh}", "type": "Ssip"}, "unknown_type", ()),
    "add-duplicate-name": (
        "add",
        {"name": "{name}", "type": "sip"},
        "duplicate_name",
        ("unique_names",),
    ),
    "add-without-type": ("add", {"name": "{fresh}"}, "missing_parameter", ()),
    "modify-realm-and-bad-port": (
        "modify",
        {"id": "{id}", "realm": "changed", "registerPort": "65536"},
        "bad_value",
        (),
    ),
    "modify-local-and-type-Ssip": (
        "modify",
        {"id": "{id}", "localAccount": "9", "localAddress": "{spare}", "type": "Ssip"},
        "unknown_type",
        (),
    ),
    "modify-name-and-too-long": (
        "modify",
        {"id": "{id}", "name": "{fresh}", "username": "{long}"},
        "too_long",
        (),
    ),
    "modify-unknown-id": ("modify", {"id": "{unknown}", "realm": "x"}, "unknown_id", ()),
    "modify_call_cfg-auto_aws-and-bad-buffer": (
        "modify_call_cfg",
        {"id": "{id}", "auto_aws": "true", "buffer": "live:1:2"},
        "bad_buffer",
        (),
    ),
    "modify_call_cfg-allow_in-and-bad-allow_in_num": (
        "modify_call_cfg",
        {"id": "{id}", "allow_in": "2", "allow_in_num": "17"},
        "bad_value",
        (),
    ),
    "modify_call_cfg-source_enable-and-bad-policy": (
        "modify_call_cfg",
        {"id": "{id}", "source_enable": "2", "sip_out_url": "", "policy": "4"},
        "bad_value",
        (),
    ),
    "set_binds-page-example": (
        "set_binds",
        {"binds": "*:5060,*.2222"},
        "bad_binds",
        ("bind_validation",),
    ),
    "remove-letters-id": ("remove", {"id": "abc"}, "bad_value", ()),
    "remove-unknown-id": ("remove", {"id": "{unknown}"}, "unknown_id", ()),
    "answer-no-call": ("answer", {"id": "{id}", "dir": "sip_out"}, "no_call", ()),
    "hangup-no-call": ("hangup", {"id": "{id}"}, "no_call", ()),
}


#: Rows refused only under one reading of a point of the page: run when the profile pins it.
READING_ROWS = {
    "add-type-Ssip": ("ssip_type", "refused"),
    "modify-local-and-type-Ssip": ("ssip_type_on_modify", "refused"),
    "set_binds-page-example": ("page_example_binds", "refused"),
}


@pytest.fixture
def scene(api, new_account, limits, unknown_id, listed, *, spare_binds):
    """A target account with non-default settings, a bystander, and the template values."""
    target = new_account("sip", localAccount="1234", realm="before")
    bystander = new_account()
    api.modify_call_cfg(target, buffer="live:300:300:300:0:0", default_name="before")
    values = {
        "id": str(target),
        "name": listed(target).name,
        "fresh": new_account.name(),
        "unknown": str(unknown_id),
        "long": "L" * (limits.max_value_length + 1),
        "spare": spare_binds[0],
    }
    return target, bystander, values


@pytest.mark.usefixtures("saved_binds")
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.req("SIP-API-ENV-004")]
            + ([pytest.mark.needs(*needs)] if needs else [])
            + ([pytest.mark.only_reading(*READING_ROWS[name])] if name in READING_ROWS else []),
        )
        for name, (_, _, _, needs) in CASES.items()
    ],
)
def test_refused_request_changes_nothing(api, new_account, guard, scene, case):
    endpoint, template, error, _ = CASES[case]
    target, bystander, values = scene
    params = {k: v.format(**values) for k, v in template.items()}
    before = guard.snap(target, bystander)
    reply = api.call(endpoint, params)
    leaked = api.find(values["fresh"])
    if leaked is not None:
        new_account.adopt(leaked.id)
    api.expect_error(reply, error)
    guard.unchanged(before, reply)
