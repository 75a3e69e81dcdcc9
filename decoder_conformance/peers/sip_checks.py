"""The judgements of the sip-area cases (suites/sip) as functions of what a case observed.

A case gathers its observation (a SIP message the device sent or answered, the register_status
series it sampled) and calls one of these to judge it, so a project test can feed the same
function a recorded bad observation and see it fail (the negative controls,
tests/decoder_conformance/test_negative_controls_sip.py). A `*_reading` function names the
reading of a reading point the observation follows, None when it follows none (the case then
fails it through `readings.none_of`); a `*_problem` function returns what is wrong, None when
nothing is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from decoder_conformance.device.client import ConformanceFailure, Exchange
from decoder_conformance.failures import DeviceFailure
from wire import sip

#: The register_status values a granted registration may show: the readings of
#: register_status_granted (SIP-REG-013, the only requirement that observes which one).
GRANTED_STATES = ("registered", "connected", "on")

#: The register_status values the readings of register_status_on_failure allow.
FAILURE_STATES = ("error", "closed", "off", "disconnected", "idle")

#: `sip_request(target, method, transport)` of suites/sip: the device's final answer, or
#: DeviceFailure when none came (OSError when the socket is refused or reset).
SipRequester = Callable[..., sip.SipResponse]


def options_answer(
    req: str,
    sip_request: SipRequester,
    target: object,
    transport: str,
    *,
    expected: str,
    exchange: Exchange | None = None,
) -> sip.SipResponse:
    """OPTIONS to `target` over `transport`: its final answer (any code, RFC 3261 §11.2), or
    ConformanceFailure of `req` saying it expected `expected`. No final answer, or a refused
    port (over TCP also a reset connection), is the device's defect."""
    errors = (
        (DeviceFailure, OSError) if transport == "tcp" else (DeviceFailure, ConnectionRefusedError)
    )
    try:
        return sip_request(target, "OPTIONS", transport)
    except errors as exc:
        raise ConformanceFailure(req, expected, f"{type(exc).__name__}: {exc}", exchange) from None


def options_to_tag_problem(answer: sip.SipResponse) -> str | None:
    """A non-100 answer without the UAS's To tag (RFC 3261 §8.2.6.2 MUST); None when tagged."""
    if answer.to_addr.tag:
        return None
    return f"the {answer.status_code} to OPTIONS carries no To tag (RFC 3261 §8.2.6.2)"


def register_aor_readings(request: sip.SipRequest, named: Mapping[str, str]) -> list[str]:
    """The readings of register_aor_user (reading name -> the user it names) whose user both the
    REGISTER's To and From carry; empty when they name none of them (or differ)."""
    users = {
        sip.SipUri.parse(request.to_addr.uri).user,
        sip.SipUri.parse(request.from_addr.uri).user,
    }
    return [name for name, user in named.items() if users == {user}]


def register_failure_reading(
    seen: Sequence[str], state: str, claimed_as: Sequence[str]
) -> str | None:
    """The reading of register_status_on_failure the states after a 403 follow: the state the
    device settled in, when it is a failure state and no state in `seen` (every sample) claimed a
    granted registration (`claimed_as`); None otherwise."""
    if any(s in claimed_as for s in seen) or state not in FAILURE_STATES:
        return None
    return state


def register_granted_reading(state: str) -> str | None:
    """The reading of register_status_granted `state` (after the registrar's 200) follows."""
    return state if state in GRANTED_STATES else None


def qop_less_answer_problem(authorization: str) -> str | None:
    """An Authorization answering a challenge without qop (RFC 2069 style) must carry no qop
    (RFC 3261 §22.4, RFC 2617 §3.2.2); None when it carries none."""
    if "qop=" not in authorization:
        return None
    return f"answered a qop-less challenge with qop: {authorization}"


def rport_problem(
    answer: sip.SipResponse, source: tuple[str, int], *, at_source_port: bool
) -> str | None:
    """RFC 3581 §4: a server that sends its answer to the request's source port (it honours
    `rport`) MUST fill the top Via's rport with that port and add received with the source
    address, even when it equals the sent-by host. A device that answered at the Via's sent-by
    port instead does not implement RFC 3581 and has no such duty (None)."""
    if not at_source_port:
        return None
    vias = answer.vias
    if not vias:
        return "the answer has no Via"
    top = vias[0]
    wrong = []
    if top.rport != source[1]:
        wrong.append(f"rport={top.params.get('rport')!r} (expected {source[1]})")
    if top.received != source[0]:
        wrong.append(f"received={top.received!r} (expected {source[0]})")
    return f"top Via {top} has " + " and ".join(wrong) if wrong else None
