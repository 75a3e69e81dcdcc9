"""Extension enumeration: svwar (sipvicious) must not tell configured extensions from others.

Two accounts share the device's one SIP bind (one auto-answers). svwar -m INVITE is given both
configured extensions and three that no account has; it lists every extension whose answer
differs from the one it learnt for a random extension first. Then the case sends INVITEs shaped
like svwar's (an audio-only offer, which a video decoder cannot take) itself, interleaved and in
a shuffled order, and compares what a scanner could use: the final code, the header names of the
answer, and the median answer time.
"""

from __future__ import annotations

import random
import secrets
import statistics
from dataclasses import dataclass

import pytest

from decoder_conformance.device.accounts import SipAccount
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.raw_ua import Leg, RawCaller
from decoder_conformance.peers.sipvicious import svwar
from decoder_conformance.waiting import DeviceTimeout
from wire import sip

#: Probe rounds; each sends one INVITE to every extension.
ROUNDS = 8
UNKNOWN = 3
#: Median answer times closer than this cannot tell extensions apart over a LAN (its jitter).
TIMING_SLACK = 0.002
SVWAR_TIMEOUT = 15.0


@dataclass(frozen=True)
class Answer:
    """What one INVITE to one extension got."""

    extension: str
    configured: bool
    code: str  # "488", or "no final answer (180)"
    headers: tuple[str, ...]
    seconds: float


def unknown_extensions(configured: set[str]) -> list[str]:
    """Extensions no account has, shaped like the configured ones (digits)."""
    found: list[str] = []
    while len(found) < UNKNOWN:
        candidate = f"9{secrets.randbelow(10**5):05d}"
        if candidate not in configured and candidate not in found:
            found.append(candidate)
    return found


def _first_final(leg: Leg) -> tuple[float, sip.SipResponse] | None:
    for record in leg.ua.records():
        message = record.message
        if (
            record.direction == "RX"
            and isinstance(message, sip.SipResponse)
            and message.call_id == leg.call_id
            and message.cseq.method == "INVITE"
            and message.status_code >= 200
        ):
            return record.t, message
    return None


def _sent_at(leg: Leg) -> float:
    return next(
        r.t
        for r in leg.ua.records()
        if r.direction == "TX" and r.message.call_id == leg.call_id and r.message.method == "INVITE"
    )


def probe(caller: RawCaller, target: SipAccount, configured: bool, timeout: float) -> Answer:
    """INVITE `target` with an audio-only offer, as svwar does; end whatever it started."""
    leg = caller.call(target, caller.offer(video=False))
    try:
        leg.response(timeout=timeout)
    except DeviceTimeout:
        provisional = sorted({r.status_code for r in leg.responses() if r.status_code > 100})
        leg.cancel()
        return Answer(
            target.local_account, configured, f"no final answer ({provisional})", (), timeout
        )
    found = _first_final(leg)
    if found is None:  # pragma: no cover - response() returned a final one
        raise NotExercised(f"harness invariant: no final answer recorded: {leg.flow()}")
    at, final = found
    if final.is_success:  # an auto-answering account took the audio: end the call
        leg.ack()
        leg.bye()
    names = tuple(sorted({h.key for h in final.headers}))
    return Answer(
        target.local_account, configured, str(final.status_code), names, at - _sent_at(leg)
    )


def _summary(answers: list[Answer], configured: bool) -> str:
    mine = [a for a in answers if a.configured == configured]
    codes = sorted({a.code for a in mine})
    median = statistics.median(a.seconds for a in mine) * 1000
    return f"codes {codes}, median {median:.2f} ms over {len(mine)}"


@pytest.mark.req("SIP-SEC-ENUM-001")
def test_svwar_cannot_tell_configured_extensions_apart(
    api,
    shared_bind_accounts,
    raw_caller,
    *,
    suite_host,
    device_hosts,
    scans,
    tmp_path,
    timers,
    record_property,
):
    accounts = list(shared_bind_accounts)
    device = accounts[0].sip
    configured = {a.local_account for a in accounts}
    unknown = unknown_extensions(configured)
    result = svwar(
        device.host,
        device.port,
        [*sorted(configured), *unknown],
        tmp_path / "svwar",
        suite_host=suite_host,
        allowed_hosts=device_hosts,
        timeout=SVWAR_TIMEOUT,
    )
    scans.keep(result.run)
    record_property("svwar listed", ", ".join(sorted(result.found)) or "(none)")
    # svwar must have scanned: a table, "found nothing", or at least a clean exit.
    said = result.run.stdout + result.run.stderr
    if not result.found and "found nothing" not in said and result.run.returncode != 0:
        raise NotExercised(f"svwar did not complete a scan:\n{result.run.text()}")

    targets = [(a, True) for a in accounts] + [
        (SipAccount(-1, ext, device), False) for ext in unknown
    ]
    caller = raw_caller()
    order = random.Random(secrets.randbits(32))
    answers: list[Answer] = []
    for _ in range(ROUNDS):
        order.shuffle(targets)
        for target, is_configured in targets:
            answers.append(probe(caller, target, is_configured, timers.state_timeout))
        if any(a.code.startswith("no final") for a in answers):
            break  # one silence or ringing already tells the extensions apart
    known = _summary(answers, configured=True)
    other = _summary(answers, configured=False)
    record_property("configured extensions", known)
    record_property("unconfigured extensions", other)

    svwar_split = {ext in result.found for ext in [*configured, *unknown]}
    if len(svwar_split) > 1:
        raise ConformanceFailure(
            api.req,
            "svwar -m INVITE lists configured and unconfigured extensions alike (all or none)",
            f"it listed {sorted(result.found)} of configured {sorted(configured)} and "
            f"unconfigured {unknown}",
        )
    codes = {(a.configured, a.code) for a in answers}
    by_code = {flag: sorted(c for f, c in codes if f == flag) for flag in (True, False)}
    if by_code[True] != by_code[False] or len(by_code[True]) != 1:
        raise ConformanceFailure(
            api.req,
            "one and the same final code to an audio-only INVITE for configured and "
            "unconfigured extensions",
            f"configured: {known}; unconfigured: {other}",
        )
    shapes = {(a.configured, a.headers) for a in answers}
    if {h for f, h in shapes if f} != {h for f, h in shapes if not f}:
        raise ConformanceFailure(
            api.req,
            "the same header fields in the answers to configured and unconfigured extensions",
            f"configured {sorted({h for f, h in shapes if f})}, unconfigured "
            f"{sorted({h for f, h in shapes if not f})}",
        )
    medians = [
        statistics.median(a.seconds for a in answers if a.configured == flag)
        for flag in (True, False)
    ]
    if abs(medians[0] - medians[1]) > TIMING_SLACK:
        raise ConformanceFailure(
            api.req,
            f"median answer times within {TIMING_SLACK * 1000:.0f} ms for configured and "
            "unconfigured extensions",
            f"configured: {known}; unconfigured: {other}",
        )
