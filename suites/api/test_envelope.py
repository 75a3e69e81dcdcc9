"""Transport: HTTP 200 + JSON envelope on every endpoint, 404 elsewhere, GET/POST equivalence."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import (
    SIP_ENDPOINTS,
    ConformanceFailure,
    as_number,
    binds_match,
)


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [
        pytest.param(e, m, id=f"{e}-{m}", marks=pytest.mark.req("SIP-API-ENV-001"))
        for e in SIP_ENDPOINTS
        for m in ("GET", "POST")
    ],
)
def test_every_endpoint_answers_http_200_envelope(
    api, error_code, endpoint, method, *, device_target
):
    """No parameters at all: the answer is HTTP 200 and an ok body or an error envelope; where the
    profile pins its refusal codes ([errors]), the code is one of them (the page numbers only
    1211 and 0000, so an unpinned device's numbering is its own)."""
    binds_before = api.binds()
    try:
        reply = api.call(endpoint, {}, method=method)
        api.expect_envelope(reply, strict=True)
        pinned = set(error_code.values())
        if device_target.profile.errors and not reply.ok and reply.msg not in pinned:
            raise ConformanceFailure(
                api.req,
                f"an error code the profile pins ({', '.join(sorted(pinned))})",
                f"error {reply.msg!r}",
                reply.exchange,
            )
    finally:
        if api.binds() != binds_before and binds_before:
            api.set_binds(binds_before)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.req("SIP-API-ENV-002"))
        for p in ("sip/nope.json", "nope/list.json", "sip/add_account.json")
    ],
)
def test_unknown_path_answers_404(api, path):
    exchange = api.send(path, {})
    assert exchange.status == 404, (
        f"[{api.req}] expected HTTP 404 for unknown path {path}, observed HTTP {exchange.status}\n"
        f"  replay: {exchange.curl()}"
    )


# -- GET/POST equivalence ---------------------------------------------------------------------


@pytest.mark.req("SIP-API-ENV-003")
def test_post_form_body_adds_account(api, new_account):
    name = new_account.name()
    reply = api.call("add", {"name": name, "type": "sip"}, method="POST")
    found = api.find(name)
    if found is not None:
        new_account.adopt(found.id)
    api.expect_ok(reply)
    if found is None:
        raise ConformanceFailure(
            api.req,
            f"account {name!r} listed after a POST add.json answered ok",
            "not listed",
            reply.exchange,
        )


@pytest.mark.req("SIP-API-ENV-003")
def test_post_form_body_modifies_account(api, new_account):
    account_id = new_account()
    before = api.account(account_id)
    fields = {"realm": "post-realm", "localAccount": "7001", "registerPort": "5071"}
    assert before["realm"] != fields["realm"], "precondition: realm already has the new value"
    api.expect_ok(api.call("modify", {"id": str(account_id), **fields}, method="POST"))
    after = api.account(account_id)
    seen = {k: after[k] for k in fields}
    seen["registerPort"] = as_number(seen["registerPort"])  # 5071 or "5071": ACC-003's reading
    want = {"realm": "post-realm", "localAccount": "7001", "registerPort": 5071}
    assert seen == want, (
        f"[{api.req}] expected POST modify.json body fields to apply: {want}, observed {seen}"
    )


@pytest.mark.req("SIP-API-ENV-003")
def test_post_form_body_modifies_call_cfg(api, new_account):
    account_id = new_account()
    before = api.call_cfg(account_id)
    fields = {"auto_aws": "1", "allow_in_num": "3", "default_name": "post-name"}
    assert before["default_name"] != "post-name", "precondition: default_name already set"
    api.expect_ok(api.call("modify_call_cfg", {"id": str(account_id), **fields}, method="POST"))
    after = api.call_cfg(account_id)
    seen = {k: after[k] for k in fields}
    want = {"auto_aws": 1, "allow_in_num": 3, "default_name": "post-name"}
    assert seen == want, (
        f"[{api.req}] expected POST modify_call_cfg.json body fields to apply: {want}, "
        f"observed {seen}"
    )


@pytest.mark.req("SIP-API-ENV-003")
def test_post_form_body_sets_binds(api, trial_binds):
    wanted = trial_binds  # spare binds unlike the current ones; saved_binds puts those back
    api.expect_ok(api.call("set_binds", {"binds": ",".join(wanted)}, method="POST"))
    observed = api.binds()
    assert binds_match(wanted, observed), (
        f"[{api.req}] expected get_binds {wanted} after POST set_binds.json, observed {observed}"
    )


@pytest.mark.req("SIP-API-ENV-003")
def test_post_form_body_removes_account(api, new_account):
    account_id = new_account()
    assert account_id in {a.id for a in api.accounts()}, "precondition: new account listed"
    api.expect_ok(api.call("remove", {"id": str(account_id)}, method="POST"))
    listed = {a.id for a in api.accounts()}
    assert account_id not in listed, (
        f"[{api.req}] expected id {account_id} gone after POST remove.json, observed still listed"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(e, marks=pytest.mark.req("SIP-API-ENV-003"))
        for e in ("list", "account", "call_cfg", "status", "get_binds", "server_port", "hangup")
    ],
)
def test_post_read_equals_get(api, new_account, endpoint):
    """The same read with the id in a form body and in the query string answers the same body."""
    account_id = new_account("sip", realm="post-get")
    params = {"id": str(account_id)}
    by_get = api.call(endpoint, params, method="GET")
    by_post = api.call(endpoint, params, method="POST")
    api.expect_envelope(by_get)
    api.expect_envelope(by_post)
    if by_get.body != by_post.body:
        raise ConformanceFailure(
            api.req,
            f"POST answer equal to the GET answer {by_get.body}",
            f"{by_post.body}",
            by_post.exchange,
        )
