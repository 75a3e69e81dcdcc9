"""users/login.json and the token every other endpoint wants when login is enforced."""

from __future__ import annotations

import secrets

import pytest

from decoder_conformance.device.client import SIP_ENDPOINTS, ConformanceFailure


def _params_for(endpoint, target, fresh, binds):
    """Parameters that would change or read something if the request were served."""
    return {
        "add": {"name": fresh, "type": "sip"},
        "modify": {"id": str(target), "realm": "no-token"},
        "remove": {"id": str(target)},
        "modify_call_cfg": {"id": str(target), "auto_aws": "true"},
        "set_binds": {"binds": ",".join(binds)},
        "answer": {"id": str(target), "dir": "sip_out"},
    }.get(endpoint, {"id": str(target)})


@pytest.mark.req("SIP-API-LOGIN-001")
@pytest.mark.needs("login")
def test_login_gives_working_token(api, bare_client, credentials):
    user, password = credentials
    reply = bare_client().call("users/login", {"username": user, "password": password})
    data = api.expect_ok(reply, data_schema="LoginOk")
    holder = bare_client(token=data["token"])
    listed = holder.call("list")
    if not listed.ok:
        raise ConformanceFailure(
            api.req,
            "list.json served with the issued token",
            f"error {listed.msg}",
            listed.exchange,
        )


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(w, marks=[pytest.mark.req("SIP-API-LOGIN-002"), pytest.mark.needs("login")])
        for w in ("password", "username")
    ],
)
def test_login_wrong_credentials_refused(api, bare_client, credentials, wrong):
    user, password = credentials
    params = {"username": user, "password": password}
    params[wrong] = params[wrong] + "-wrong"
    api.expect_error(bare_client().call("users/login", params), "bad_credentials")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            (e, t),
            id=f"{e}-{t}",
            marks=[pytest.mark.req("SIP-API-LOGIN-003"), pytest.mark.needs("login")],
        )
        for e in SIP_ENDPOINTS
        for t in ("none", "forged")
    ],
)
def test_request_without_valid_token_refused(
    api, new_account, bare_client, guard, case, *, trial_binds
):
    endpoint, token = case
    target = new_account("sip", realm="with-token")
    fresh = new_account.name()
    before = guard.snap(target)
    client = bare_client(token=None if token == "none" else secrets.token_hex(16))
    # set_binds names spare binds unlike the current ones: served by mistake, it shows.
    reply = client.call(endpoint, _params_for(endpoint, target, fresh, trial_binds))
    leaked = api.find(fresh)
    if leaked is not None:
        new_account.adopt(leaked.id)
    api.expect_error(reply, "not_logged_in")
    guard.unchanged(before, reply)


@pytest.mark.parametrize(
    "carrier",
    [
        pytest.param(c, marks=[pytest.mark.req("SIP-API-LOGIN-004"), pytest.mark.needs("login")])
        for c in ("header", "cookie", "parameter")
    ],
)
def test_token_carriers(api, bare_client, credentials, carrier):
    user, password = credentials
    token = api.expect_ok(
        bare_client().call("users/login", {"username": user, "password": password}),
        data_schema="LoginOk",
    )["token"]
    if carrier == "header":
        reply = bare_client(token=token).call("list")
    elif carrier == "cookie":
        client = bare_client()
        client.session.cookies.set("token", token)
        reply = client.call("list")
    else:
        reply = bare_client().call("list", {"token": token})
    if not reply.ok:
        raise ConformanceFailure(
            api.req,
            f"list.json served with the token as a {carrier}",
            f"error {reply.msg}",
            reply.exchange,
        )
