"""Transport: HTTP 200 + JSON envelope on every endpoint, 404 elsewhere, GET/POST equivalence."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from decoder_conformance.device.client import (
    ID_ENDPOINTS,
    SIP_ENDPOINTS,
    ConformanceFailure,
    Reply,
    as_number,
    binds_match,
)
from decoder_conformance.failures import NotExercised


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [
        pytest.param(e, m, id=f"{e}-{m}", marks=pytest.mark.req("SIP-API-ENV-001"))
        for e in SIP_ENDPOINTS
        for m in ("GET", "POST")
    ],
)
@pytest.mark.read_only(param="endpoint")
def test_every_endpoint_answers_http_200_envelope(api, endpoint, method):
    """No parameters at all: the answer is an ok body or an error envelope (the HTTP status is
    ENV-007's, which code an error carries ENV-006's)."""
    reply = _without_parameters(api, endpoint, method)
    api.expect_envelope(reply)


@pytest.mark.parametrize(
    "endpoint",
    [pytest.param(e, marks=pytest.mark.req("SIP-API-ENV-008")) for e in SIP_ENDPOINTS],
)
@pytest.mark.read_only(param="endpoint")
def test_every_endpoint_answers_application_json(api, endpoint):
    reply = api.call(endpoint)
    api.expect_envelope(reply)
    media_type = reply.exchange.content_type.split(";")[0].strip().lower()
    assert media_type == "application/json", (
        f"[SIP-API-ENV-008] expected Content-Type application/json on the JSON answer of "
        f"{endpoint}.json, observed {reply.exchange.content_type or 'none'}"
    )


@pytest.mark.parametrize(
    "endpoint",
    [pytest.param(e, marks=pytest.mark.req("SIP-API-ENV-007")) for e in SIP_ENDPOINTS],
)
@pytest.mark.read_only(param="endpoint")
def test_every_endpoint_answers_http_200(api, endpoint):
    reply = _without_parameters(api, endpoint, "GET")
    if reply.exchange.status != 200:
        raise ConformanceFailure(
            api.req,
            "HTTP 200, the answer in the body",
            f"HTTP {reply.exchange.status}",
            reply.exchange,
        )


def _without_parameters(api, endpoint, method):
    """`endpoint` called with no parameters at all; binds a device took from it are put back."""
    binds_before = api.binds()
    try:
        return api.call(endpoint, {}, method=method)
    finally:
        if api.binds() != binds_before and binds_before:
            api.set_binds(binds_before)


#: The page's own codes (1211, 0000) are four digits; so is every code a profile pins.
CODE_FORM = re.compile(r"[0-9]{4}")


#: Endpoints whose parameters the page lists as required: called without any, they refuse.
NEEDS_PARAMETERS = ("add", "set_binds", *ID_ENDPOINTS)


@pytest.mark.parametrize(
    "endpoint",
    [pytest.param(e, marks=pytest.mark.req("SIP-API-ENV-006")) for e in NEEDS_PARAMETERS],
)
@pytest.mark.read_only(param="endpoint")
def test_error_code_form(api, error_code, endpoint, *, device_target):
    """No parameters at all, by GET: the refusal's msg is a code the profile pins ([errors]) or,
    with none pinned, a 4-digit code like the page's 1211 and 0000."""
    reply = _without_parameters(api, endpoint, "GET")
    api.expect_envelope(reply)
    if reply.ok:
        raise NotExercised(f"{endpoint}.json without its parameters answered ok: no code to judge")
    pinned = set(error_code.values()) if device_target.profile.errors else set()
    if pinned and reply.msg not in pinned:
        raise ConformanceFailure(
            api.req,
            f"an error code the profile pins ({', '.join(sorted(pinned))})",
            f"error {reply.msg!r}",
            reply.exchange,
        )
    if not pinned and not CODE_FORM.fullmatch(str(reply.msg)):
        raise ConformanceFailure(
            api.req,
            "a 4-digit error code, as the page's 1211 and 0000",
            f"msg {reply.msg!r}",
            reply.exchange,
        )


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.req("SIP-API-ENV-002"))
        for p in ("sip/nope.json", "nope/list.json", "sip/add_account.json")
    ],
)
@pytest.mark.read_only
def test_unknown_path_answers_404(api, path):
    exchange = api.send(path, {})
    assert exchange.status == 404, (
        f"[{api.req}] expected HTTP 404 for unknown path {path}, observed HTTP {exchange.status}\n"
        f"  replay: {exchange.curl()}"
    )


# -- GET/POST equivalence: which carrier POST reads (reading post_parameter_carrier) ----------
#
# Every ENV-003 case makes the same request by POST twice: once with the parameters as an
# application/x-www-form-urlencoded body, once with them in the query string (empty body), and
# records which of the two worked. A device following none of the readings is one on which
# neither works while the same request by GET does.

CARRIER = "post_parameter_carrier"
CARRIER_READINGS = {
    (True, False): "form_body",
    (False, True): "query_string",
    (True, True): "form_body_or_query_string",
}


def post_body(api, endpoint, params):
    """POST sip/<endpoint>.json with `params` as a form body."""
    return api.call(endpoint, params, method="POST")


def post_query(api, endpoint, params):
    """POST sip/<endpoint>.json with `params` in the query string and an empty body."""
    target = f"sip/{endpoint}.json" + (f"?{urlencode(params)}" if params else "")
    exchange = api.send(target, {}, "POST")
    try:
        body = json.loads(exchange.body)
    except ValueError:
        body = None
    return Reply(exchange, body)


def observe_carrier(readings, by_body, by_query, what):
    """Record the reading shown by which carrier worked; fail when neither did.

    `by_body`/`by_query`: (worked, what was seen, answered ok) for the POST with a form body and
    with the query string.
    """
    (body_works, body_seen, _), (query_works, query_seen, _) = by_body, by_query
    seen = f"{what}: with a form body {body_seen}; with the query string {query_seen}"
    reading = CARRIER_READINGS.get((body_works, query_works))
    if reading is None:
        readings.none_of(CARRIER, seen)
    readings.follow(CARRIER, reading, seen)


def acknowledged_without_effect(readings, results):
    """A POST answered ok but did not take effect: under no reading is that the same effect and
    answer as the request by GET (a carrier the device does not read leaves the request without
    its parameters, which is refused)."""
    for carrier, (works, seen, ok) in zip(
        ("a form body", "the query string"), results, strict=True
    ):
        if ok and not works:
            readings.none_of(CARRIER, f"POST with {carrier} {seen}: ok without the effect")


def answered(reply):
    """A short description of an answer (the envelope is checked first)."""
    return "answered ok" if reply.ok else f"answered error {reply.msg}"


def by_get_works(api, what, done):
    """Neither POST worked: prove the same request by GET does (else the carrier is not what
    failed); `done()` makes it by GET and says whether it took effect."""
    try:
        worked = done()
    except ConformanceFailure as exc:
        raise NotExercised(f"harness: {what} by GET failed too: {exc}") from None
    if not worked:
        raise NotExercised(f"harness: {what} by GET did not take effect either")


@pytest.mark.req("SIP-API-ENV-003")
def test_post_adds_account(api, new_account, readings):
    results = []
    for send in (post_body, post_query):
        name = new_account.name()
        reply = send(api, "add", {"name": name, "type": "sip"})
        api.expect_envelope(reply)
        found = api.find(name)
        if found is not None:
            new_account.adopt(found.id)
        listed = "listed" if found is not None else "not listed"
        results.append(
            (reply.ok and found is not None, f"{answered(reply)}, {name!r} {listed}", reply.ok)
        )
    acknowledged_without_effect(readings, results)
    if not any(works for works, *_ in results):
        by_get_works(api, "add.json", lambda: bool(new_account()))
    observe_carrier(readings, *results, "add.json by POST")


#: modify.json fields sent by each carrier (different values, each on its own account).
MODIFY_FIELDS = (
    {"realm": "post-body", "localAccount": "7001", "registerPort": "5071"},
    {"realm": "post-query", "localAccount": "7002", "registerPort": "5072"},
)


def _modify_shown(api, account_id, fields):
    data = api.account(account_id)
    seen = {k: data.get(k) for k in fields}
    seen["registerPort"] = as_number(seen["registerPort"])  # 5071 or "5071": ACC-003's reading
    return seen


@pytest.mark.req("SIP-API-ENV-003")
def test_post_modifies_account(api, new_account, readings):
    results = []
    for send, fields in zip((post_body, post_query), MODIFY_FIELDS, strict=True):
        account_id = new_account()
        want = {**fields, "registerPort": int(fields["registerPort"])}
        if _modify_shown(api, account_id, fields) == want:
            raise NotExercised(f"harness: account {account_id} already shows {want}")
        reply = send(api, "modify", {"id": str(account_id), **fields})
        api.expect_envelope(reply)
        seen = _modify_shown(api, account_id, fields)
        results.append(
            (reply.ok and seen == want, f"{answered(reply)}, account.json {seen}", reply.ok)
        )
    acknowledged_without_effect(readings, results)
    if not any(works for works, *_ in results):
        account_id = new_account()
        fields = MODIFY_FIELDS[0]

        def by_get():
            api.modify(account_id, **fields)
            return _modify_shown(api, account_id, fields)["realm"] == fields["realm"]

        by_get_works(api, "modify.json", by_get)
    observe_carrier(readings, *results, "modify.json by POST")


#: modify_call_cfg.json fields sent by each carrier, and what call_cfg.json then shows.
CALL_CFG_FIELDS = (
    (
        {"auto_aws": "true", "allow_in_num": "3", "default_name": "post-body"},
        {"auto_aws": 1, "allow_in_num": 3, "default_name": "post-body"},
    ),
    (
        {"auto_aws": "true", "allow_in_num": "4", "default_name": "post-query"},
        {"auto_aws": 1, "allow_in_num": 4, "default_name": "post-query"},
    ),
)


@pytest.mark.req("SIP-API-ENV-003")
def test_post_modifies_call_cfg(api, new_account, readings):
    results = []
    for send, (fields, want) in zip((post_body, post_query), CALL_CFG_FIELDS, strict=True):
        account_id = new_account()
        before = api.call_cfg(account_id)
        if before["default_name"] == fields["default_name"]:
            raise NotExercised(f"harness: default_name already {fields['default_name']!r}")
        reply = send(api, "modify_call_cfg", {"id": str(account_id), **fields})
        api.expect_envelope(reply)
        after = api.call_cfg(account_id)
        seen = {k: after.get(k) for k in want}
        results.append(
            (reply.ok and seen == want, f"{answered(reply)}, call_cfg.json {seen}", reply.ok)
        )
    acknowledged_without_effect(readings, results)
    if not any(works for works, *_ in results):
        account_id = new_account()
        fields, want = CALL_CFG_FIELDS[0]

        def by_get():
            api.modify_call_cfg(account_id, **fields)
            return api.call_cfg(account_id)["default_name"] == want["default_name"]

        by_get_works(api, "modify_call_cfg.json", by_get)
    observe_carrier(readings, *results, "modify_call_cfg.json by POST")


@pytest.mark.req("SIP-API-ENV-003")
def test_post_sets_binds(api, saved_binds, trial_binds, readings):
    """trial_binds: spare binds unlike the current ones; saved_binds puts those back, and is
    written back by GET between the two POSTs so each one's write is visible."""
    wanted = trial_binds
    results = []
    for send in (post_body, post_query):
        if binds_match(wanted, api.binds()):
            if not saved_binds:
                raise NotExercised("harness: no binds to put back between the two POSTs")
            api.set_binds(saved_binds)
        reply = send(api, "set_binds", {"binds": ",".join(wanted)})
        api.expect_envelope(reply)
        shown = api.binds()
        works = reply.ok and binds_match(wanted, shown)
        results.append((works, f"{answered(reply)}, get_binds.json {shown}", reply.ok))
    acknowledged_without_effect(readings, results)
    if not any(works for works, *_ in results):

        def by_get():
            api.set_binds(wanted)
            return binds_match(wanted, api.binds())

        by_get_works(api, "set_binds.json", by_get)
    observe_carrier(readings, *results, f"set_binds.json binds={','.join(wanted)} by POST")


@pytest.mark.req("SIP-API-ENV-003")
def test_post_removes_account(api, new_account, readings):
    results = []
    for send in (post_body, post_query):
        account_id = new_account()
        if account_id not in {a.id for a in api.accounts()}:
            raise NotExercised(f"harness: new account {account_id} not listed")
        reply = send(api, "remove", {"id": str(account_id)})
        api.expect_envelope(reply)
        gone = account_id not in {a.id for a in api.accounts()}
        listed = "gone" if gone else "still listed"
        results.append(
            (reply.ok and gone, f"{answered(reply)}, id {account_id} {listed}", reply.ok)
        )
    acknowledged_without_effect(readings, results)
    if not any(works for works, *_ in results):
        account_id = new_account()

        def by_get():
            api.remove(account_id)
            return account_id not in {a.id for a in api.accounts()}

        by_get_works(api, "remove.json", by_get)
    observe_carrier(readings, *results, "remove.json by POST")


#: Reads that take the account id; the others take no parameters.
READS_BY_ID = ("account", "call_cfg", "status", "hangup")


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(e, marks=pytest.mark.req("SIP-API-ENV-003"))
        for e in ("list", "account", "call_cfg", "status", "get_binds", "server_port", "hangup")
    ],
)
def test_post_read_equals_get(api, new_account, readings, endpoint):
    """A read by POST answers what the same read by GET answers: with the id in a form body or
    in the query string (the reading records which); reads without parameters, plainly."""
    account_id = new_account("sip", realm="post-get")
    params = {"id": str(account_id)} if endpoint in READS_BY_ID else {}
    by_get = api.call(endpoint, params, method="GET")
    by_body = post_body(api, endpoint, params)
    by_query = post_query(api, endpoint, params)
    for reply in (by_get, by_body, by_query):
        api.expect_envelope(reply)
    body_same, query_same = by_body.body == by_get.body, by_query.body == by_get.body
    # The carrier shows only where the id changes the answer (GET with and without it differ).
    observable = bool(params) and api.call(endpoint, {}, method="GET").body != by_get.body
    if not observable:
        if not (body_same or query_same):
            raise ConformanceFailure(
                api.req,
                f"POST answer equal to the GET answer {by_get.body}",
                f"{by_body.body} (form body), {by_query.body} (query string)",
                by_body.exchange,
            )
        return
    observe_carrier(
        readings,
        (body_same, "the GET answer" if body_same else f"{by_body.body}", False),
        (query_same, "the GET answer" if query_same else f"{by_query.body}", False),
        f"{endpoint}.json?id={account_id} by POST (GET answered {by_get.body})",
    )
