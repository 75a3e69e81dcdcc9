"""users/login.json and the token every other endpoint wants when login is enforced.

Every one of the 14 endpoints is sent a request without a token, with a forged one and with an
expired one; each must be refused with 1512 (not_logged_in) and change nothing. Neither the page
nor the login chapter defines a token lifetime or a logout, so "expired" is a token the device
issued before it was restarted (SIP-API-LOGIN-005's decision); one restart per session serves
all 14 cases.
"""

from __future__ import annotations

import secrets

import pytest

from decoder_conformance.device.client import SIP_ENDPOINTS, ConformanceFailure
from decoder_conformance.failures import NotExercised

#: The token issued before the session's one restart for SIP-API-LOGIN-005.
EXPIRED_TOKEN = pytest.StashKey[str]()


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
@pytest.mark.read_only
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
    client = bare_client(token=None if token == "none" else secrets.token_hex(16))
    _refused_unchanged(api, new_account, guard, client, endpoint=endpoint, trial_binds=trial_binds)


def _refused_unchanged(api, new_account, guard, client, *, endpoint, trial_binds):
    """`client`'s request to `endpoint` is refused with not_logged_in and changes nothing."""
    target = new_account("sip", realm="with-token")
    fresh = new_account.name()
    before = guard.snap(target)
    # set_binds names spare binds unlike the current ones: served by mistake, it shows.
    reply = client.call(endpoint, _params_for(endpoint, target, fresh, trial_binds))
    leaked = api.find(fresh)
    if leaked is not None:
        new_account.adopt(leaked.id)
    api.expect_error(reply, "not_logged_in")
    guard.unchanged(before, reply)


@pytest.fixture
def expired_token(request, bare_client, credentials, restart_device):
    """A token the device issued, proven to work, before the session's one restart for these
    cases (the device issued it; only the restart ended it)."""
    stash = request.config.stash
    if EXPIRED_TOKEN not in stash:
        user, password = credentials
        reply = bare_client().call("users/login", {"username": user, "password": password})
        if not reply.ok or not isinstance(reply.data, dict) or not reply.data.get("token"):
            raise NotExercised(f"login for a token to expire failed: {reply.exchange.render()}")
        token = str(reply.data["token"])
        served = bare_client(token=token).call("list")
        if not served.ok:
            raise NotExercised(f"the fresh token was not served before the restart: {served.msg}")
        restart_device()
        stash[EXPIRED_TOKEN] = token
    return stash[EXPIRED_TOKEN]


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(
            e, marks=[pytest.mark.req("SIP-API-LOGIN-005"), pytest.mark.needs("login", "restart")]
        )
        for e in SIP_ENDPOINTS
    ],
)
def test_expired_token_refused(
    api, new_account, bare_client, guard, endpoint, *, expired_token, trial_binds
):
    client = bare_client(token=expired_token)
    _refused_unchanged(api, new_account, guard, client, endpoint=endpoint, trial_binds=trial_binds)


@pytest.mark.parametrize(
    "carrier",
    [
        pytest.param(c, marks=[pytest.mark.req("SIP-API-LOGIN-004"), pytest.mark.needs("login")])
        for c in ("header", "cookie", "parameter")
    ],
)
@pytest.mark.read_only
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
