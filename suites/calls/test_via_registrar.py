"""Calls through the account's registrar: the registrar peer plays the proxy of its domain.

An incoming call reaches the device the way a proxy delivers it (Request-URI the Contact the
device registered, a Record-Route naming the proxy), and the device's in-dialog requests must go
back through that route. An outgoing call to a user at registerServer goes to the registrar,
which challenges it as a UAS (401) and as a proxy (407) before taking it.
"""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.registrar import (
    INVITE_AUTH_URI,
    INVITE_CSEQ_NOT_INCREASING,
    is_answer,
    wait_registered,
)
from decoder_conformance.waiting import WaitTimeout
from wire import sip

#: The extension the outgoing call dials at the registrar.
EXTENSION = "2001"


def registered(api, sip_account, server, timeout, **settings):
    """A SIP account registered to `server` (its 200 sent, status.json granted)."""
    account = sip_account(registrar=server, **settings)
    wait_registered(api, account.id, server, timeout=timeout)
    return account


def binding_of(server, account):
    """The registrar's binding of `account`'s contact (NotExercised when it holds none)."""
    for binding in server.bindings.values():
        uri = sip.SipUri.parse(binding.contact)
        if (uri.host, uri.port) == (account.sip.host, account.sip.port):
            return binding
    raise NotExercised(
        f"harness: the registrar holds no binding at {account.sip.address}: "
        f"{[b.contact for b in server.bindings.values()]}"
    )


def request_of(method, call_id):
    """A matcher of the device's `method` requests on `call_id`."""

    def match(record):
        message = record.message
        return (
            record.direction == "RX"
            and isinstance(message, sip.SipRequest)
            and message.method == method
            and message.call_id == call_id
        )

    return match


def route_uris(values):
    """Record-Route / Route values as SIP URIs (the same route however it is written); a value
    that does not parse is kept as written, so the comparison fails on it."""
    uris = []
    for value in values:
        try:
            uris.append(sip.NameAddr.parse(value).sip_uri())
        except ValueError:
            uris.append(value)
    return uris


@pytest.mark.req("SIP-CALL-PROXY-001")
def test_proxy_routed_invite_honours_record_route(
    api, calls, sip_account, registrar, raw_caller, *, state_timeout
):
    server = registrar(grant=60)
    behind = raw_caller("behind")  # the caller behind the proxy: its Contact is the remote target
    account = registered(api, sip_account, server, state_timeout, call_cfg={"auto_aws": "1"})
    binding = binding_of(server, account)
    routed = server.route_invite(binding, body=behind.offer(), contact=behind.contact)
    ok_record = server.wait_for(
        lambda r: (
            r.direction == "RX"
            and isinstance(r.message, sip.SipResponse)
            and r.message.call_id == routed.call_id
            and r.message.status_code >= 200
        ),
        timeout=state_timeout,
        expected=f"the device's final answer to the INVITE routed to {binding.contact}",
    )
    ok = ok_record.message
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to the routed INVITE (auto_aws 1, H.264 offer), observed "
        f"{ok.status_code} {ok.reason}"
    )
    copied = ok.headers.get_list("Record-Route")
    assert route_uris(copied) == route_uris([routed.record_route]), (
        f"[{api.req}] expected the 200 to copy the INVITE's Record-Route {routed.record_route} "
        f"(RFC 3261 §12.1.1), observed {copied}"
    )
    server.ack(routed, ok)
    calls.established(account, why="the device answered 200 and got its ACK through the proxy")
    api.expect_ok(api.call("hangup", {"id": str(account.id)}))
    try:
        bye_record = server.wait_for(
            request_of("BYE", routed.call_id),
            timeout=state_timeout,
            expected="the device's BYE through the proxy (the route set's first hop)",
        )
    except WaitTimeout as exc:
        raise AssertionError(
            f"[{api.req}] expected the BYE after hangup.json at the registrar, the first route "
            f"(RFC 3261 §12.2.1.1, §8.1.2); the caller behind it saw: {behind.flow()}\n{exc}"
        ) from None
    bye = bye_record.message
    assert route_uris(bye.headers.get_list("Route")) == route_uris([routed.record_route]), (
        f"[{api.req}] expected the BYE's Route to be the route set [{routed.record_route}] "
        f"(RFC 3261 §12.2.1.1), observed {bye.headers.get_list('Route')}"
    )
    assert sip.SipUri.parse(bye.uri) == sip.SipUri.parse(behind.contact.strip("<>")), (
        f"[{api.req}] expected the BYE's Request-URI to be the remote target {behind.contact} "
        f"(the caller's Contact; the first route is a loose router), observed {bye.uri}"
    )
    calls.ended(account, why="hangup.json ended the call and the BYE was answered 200")


def invite_to_registrar(api, sip_account, server, state_timeout):
    """An account registered to `server` that auto_calls EXTENSION at it (registerServer and
    registerPort, the page's user@host form with the port); (account, mark of the first record
    after the call settings were written)."""
    account = registered(api, sip_account, server, state_timeout)
    mark = len(server.records())
    api.modify_call_cfg(
        account.id, sip_out_url=f"{EXTENSION}@{server.host}:{server.port}", auto_call="1"
    )
    return account, mark


def invites(server, since):
    """The device's INVITEs the registrar received from record `since` on."""
    return [
        r
        for r in server.records()[since:]
        if r.direction == "RX"
        and isinstance(r.message, sip.SipRequest)
        and r.message.method == "INVITE"
    ]


def taken(server, since, state_timeout, req):
    """The registrar's final answer (its `invite_final`) to an INVITE that answered every
    challenge; a failure naming the INVITEs and answers seen when none came."""
    try:
        return server.wait_for(
            lambda r: is_answer(r, server.invite_final) and r.message.cseq.method == "INVITE",
            since=since,
            timeout=state_timeout,
            expected=f"the registrar's {server.invite_final} once the INVITE answered its 401 "
            "and 407",
        )
    except WaitTimeout as exc:
        raise AssertionError(
            f"[{req}] expected the device to answer the registrar's 401 and 407 to its INVITE "
            f"with valid credentials; INVITE duties broken: "
            f"{[str(v) for v in server.violations()] or 'none'}\n{exc}"
        ) from None


@pytest.mark.req("SIP-CALL-AUTH-001")
def test_invite_answers_401_and_407(api, sip_account, registrar, state_timeout):
    server = registrar(grant=60)
    account, mark = invite_to_registrar(api, sip_account, server, state_timeout)
    first = server.wait_for(
        lambda r: r in invites(server, mark),
        since=mark,
        timeout=state_timeout,
        expected=f"the device's INVITE to {EXTENSION}@{server.address} (auto_call)",
    )
    uri = sip.SipUri.parse(first.message.uri)
    assert (uri.user, uri.host, uri.port) == (EXTENSION, server.host, server.port), (
        f"[{api.req}] expected the INVITE sent to sip:{EXTENSION}@{server.address}, observed "
        f"{first.message.uri}"
    )
    final = taken(server, mark, state_timeout, api.req)
    challenges = {
        r.message.status_code
        for r in server.records()[mark:]
        if is_answer(r) and r.message.cseq.method == "INVITE" and r.message.status_code >= 400
    }
    if not {401, 407} <= challenges:
        raise NotExercised(
            f"harness: the registrar sent {sorted(challenges)} before {final.first_line}, not "
            "both challenges"
        )
    api.modify_call_cfg(account.id, auto_call="0")  # no re-dial while the case winds down


@pytest.mark.req("SIP-CALL-AUTH-002")
def test_invite_retry_cseq_and_digest_uri(api, sip_account, registrar, state_timeout):
    server = registrar(grant=60)
    account, mark = invite_to_registrar(api, sip_account, server, state_timeout)
    try:
        taken(server, mark, state_timeout, api.req)
    except AssertionError as exc:
        raise NotExercised(f"the device never got its INVITE past both challenges: {exc}") from None
    sent = invites(server, mark)
    authorized = [
        r
        for r in sent
        if r.message.headers.get("Authorization") or r.message.headers.get("Proxy-Authorization")
    ]
    if not authorized:
        raise NotExercised("harness: no INVITE with credentials to judge")
    api.modify_call_cfg(account.id, auto_call="0")  # no re-dial while the case winds down
    found = server.violations(INVITE_AUTH_URI, INVITE_CSEQ_NOT_INCREASING)
    assert not found, f"[{api.req}] " + "; ".join(map(str, found))
