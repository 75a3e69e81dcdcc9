"""Transports and OPTIONS: the binds are real sockets that answer SIP over UDP and TCP.

A final SIP answer of any code proves a socket answers: RFC 3261 §11.2 makes the answer to an
OPTIONS the one an INVITE would get, which need not be 200 for a request-URI without a user.
"""

from __future__ import annotations

import errno
import socket

import pytest

from decoder_conformance.device.accounts import DeviceSip, device_host_of, parse_bind
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import sip_checks


def _shows_port_zero(bind: str) -> bool:
    """True for a HOST:PORT entry whose port is 0: the port asked for, not one bound."""
    _host, sep, port = bind.strip().rpartition(":")
    return bool(sep) and port.isascii() and port.isdigit() and int(port) == 0


@pytest.mark.req("SIP-TRN-001")
@pytest.mark.read_only
def test_bind_shows_bound_port_and_answers(api, device_target, sip_request):
    """Every bind get_binds.json shows is one a peer can reach: a bound port (a bind written
    with port 0 shows the port the device got), with SIP answered there over UDP. Not the
    device_sip fixture: a device showing no bound port is this requirement's defect, not a case
    the suite could not set up. Entries that are not HOST:PORT (the page's `*.2222`) are a
    reading judged elsewhere; a device showing no HOST:PORT bind at all is not exercised."""
    reply = api.call("get_binds")
    shown = api.binds()
    unbound = [b for b in shown if _shows_port_zero(b)]
    if unbound:
        raise ConformanceFailure(
            api.req,
            "get_binds.json to show the port each bind is bound to (a bind written with port 0 "
            "shows the ephemeral port the device bound)",
            f"binds {shown}: {', '.join(unbound)} shows port 0, where no peer can reach it",
            reply.exchange,
        )
    usable = [(bind, parsed) for bind in shown if (parsed := parse_bind(bind)) is not None]
    if not usable:
        raise NotExercised(f"get_binds.json shows no HOST:PORT bind to send SIP to: {shown}")
    device_host = device_host_of(device_target.api_url)
    for bind, (host, port) in usable:
        target = DeviceSip(device_host if host in ("*", "0.0.0.0", "") else host, port, bind)
        expect_options_answer(
            api,
            sip_request,
            target,
            "udp",
            expected=f"a final answer to OPTIONS over UDP at {target.address}, where "
            f"get_binds.json shows the bind {bind} (binds {shown})",
            exchange=reply.exchange,
        )


def expect_options_answer(api, sip_request, target, transport, *, expected, exchange=None):
    """OPTIONS to `target` over `transport`: its final answer (any code), or the case fails
    saying it expected `expected`. sip_request returns only final answers and raises
    DeviceFailure when none came; a refused port (or, over TCP, a reset) is the device's too
    (sip_checks.options_answer, which the negative controls feed recorded failures)."""
    return sip_checks.options_answer(
        api.req, sip_request, target, transport, expected=expected, exchange=exchange
    )


def _locally_bindable(host: str) -> bool:
    """True when `host` is an address of this machine (the device runs here, as the bundled
    reference decoder does): the suite can then take a port on it itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
                return False
            raise
    return True


def _taken_on_device(api, device_target, device_sip, before):
    """A lab device's own port, taken through the API: the profile's first spare bind is opened
    (set_binds.json), and the bind to try is the same port under the other host form (the
    device's address for a `*` spare, `*` for an address). Returns (binds now shown, bind to
    try); NotExercised when the spare cannot be opened."""
    spare = device_target.profile.binds.spare[0]
    reply = api.call("set_binds", {"binds": ",".join([*before, spare])})
    if not reply.ok:
        raise NotExercised(
            f"the profile's spare bind {spare} could not be opened ({reply.body!r}); "
            "list a port free on the device in [binds].spare"
        )
    shown = api.binds()
    opened = [b for b in shown if b not in before]
    bound = parse_bind(opened[0]) if opened else None
    if bound is None:
        raise NotExercised(f"get_binds.json shows no bound port for {spare}: {shown}")
    host, port = bound
    other = f"{device_sip.host}:{port}" if host in ("*", "0.0.0.0") else f"*:{port}"
    return shown, other


@pytest.mark.req("SIP-TRN-002")
def test_bind_on_taken_port_refused_and_nothing_changes(
    api, device_target, device_sip, sip_request, saved_binds
):
    before = api.binds()
    if _locally_bindable(device_sip.host):
        # The device shares this machine: the suite holds a port on the device's address.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind((device_sip.host, 0))
            port = taken.getsockname()[1]
            reply = api.call(
                "set_binds", {"binds": ",".join([*before, f"{device_sip.host}:{port}"])}
            )
            api.expect_error(reply, "bind_failed")
        expected = before
    else:
        # A lab device: it holds the port itself (its own spare bind), and is asked for it again.
        expected, other = _taken_on_device(api, device_target, device_sip, before)
        reply = api.call("set_binds", {"binds": ",".join([*expected, other])})
        if reply.ok:
            try:
                shared = sip_request(_sip_at(device_sip, other), "OPTIONS", "udp")
            except AssertionError:
                shared = None
            if shared is not None:
                raise NotExercised(
                    f"the device opened {other} beside {expected}: it shares the port between "
                    "the wildcard and its address, so no taken port could be made through the API"
                )
        api.expect_error(reply, "bind_failed")
    after = api.binds()
    if after != expected:
        raise ConformanceFailure(
            api.req, f"binds unchanged {expected}", f"binds {after}", reply.exchange
        )
    expect_options_answer(
        api,
        sip_request,
        device_sip,
        "udp",
        expected=f"the old bind {device_sip.address} still answering OPTIONS over UDP after the "
        "refused set_binds.json",
        exchange=reply.exchange,
    )


def _sip_at(device_sip, bind):
    """The device's SIP address at `bind` (HOST:PORT, `*` meaning the device's host)."""
    host, _, port = bind.rpartition(":")
    return type(device_sip)(device_sip.host if host == "*" else host, int(port), bind)


@pytest.mark.req("SIP-TRN-003")
@pytest.mark.read_only
def test_tcp_transport_answers(api, device_sip, sip_request):
    """Any final answer on the same connection proves SIP over TCP at the bind's port (RFC 3261
    §11.2: the code is the one an INVITE would get, not necessarily 200)."""
    expect_options_answer(
        api,
        sip_request,
        device_sip,
        "tcp",
        expected=f"a final answer to OPTIONS over TCP at {device_sip.address}, the port it "
        "answers SIP on over UDP",
    )


@pytest.mark.req("SIP-OPT-001")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.read_only
def test_options_answer_carries_a_to_tag(device_sip, sip_request, transport):
    answer = sip_request(device_sip, "OPTIONS", transport)
    # RFC 3261 §8.2.6.2 MUST: a non-100 response carries the UAS's To tag. Which code (§11.2: the
    # one an INVITE would get) and the Allow list (a SHOULD) are not judged here.
    problem = sip_checks.options_to_tag_problem(answer)
    assert problem is None, problem


REQUIRED_ALLOW = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"}


@pytest.mark.req("SIP-OPT-002")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.read_only
def test_options_200_lists_the_methods_in_allow(device_sip, sip_request, transport):
    answer = sip_request(device_sip, "OPTIONS", transport)
    # RFC 3261 §11.2 asks for Allow in a 200 to OPTIONS; another final answer is not that case.
    if answer.status_code != 200:
        raise NotExercised(f"OPTIONS over {transport} answered {answer.start_line()}, not 200")
    allow = {m.strip().upper() for m in answer.headers.get_list("Allow")}
    missing = REQUIRED_ALLOW - allow
    assert not missing, (
        f"the 200 to OPTIONS over {transport}: Allow {sorted(allow)} lacks {sorted(missing)}"
    )
