"""A SIPp call storm: [load].call_storm_calls incoming calls offered at [load].call_storm_rate
calls/s to one auto-answering account with policy 1 and the largest allow_in_num the device
takes (the project's spec says 1..16), while OPTIONS and status.json are probed.

Each call is held long enough (HOLD_OVER_LIMIT calls above the limit on average) that the limit
is reached again and again, so the policy decides many calls. The storm runs once per module
(`storm` fixture) and four cases judge what it recorded:

* SIP-LOAD-STORM-001: every INVITE got a final answer, 200 or a refusal; every answered call
  ended with its BYE answered 200 and SIPp saw no unexpected message; never more calls surely up
  at once than the limit, and no call refused while fewer than the limit can have been up (the
  limit is allow_in_num, or 1 under the allow_in_num_limit reading single_per_policy).
* SIP-LOAD-STORM-002 (practice): OPTIONS sent every PROBE_EVERY s during the storm (retransmitted
  as RFC 3261 §17.1.2.2 has a UAC do) and status.json read as often all got an answer;
  latencies are recorded, never judged.
* SIP-LOAD-STORM-003: afterwards no call is left: status.json shows none in progress, and `limit`
  new calls placed together are all answered (a leaked dialog would hold a slot).
* SIP-LOAD-STORM-004 (practice, reference decoder): the decoder's process holds no more sockets
  or threads than before the storm (/proc of the process the session started).

What each call got is read from SIPp's message log (peers/sipp/burst.py: intervals that hold
whatever the transit time). A missing SIPp raises ToolMissing: every case is broken, not failed.
"""

from __future__ import annotations

import math
import os
import secrets
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from decoder_conformance.device.accounts import AccountFactory, DeviceSip, device_sip_address
from decoder_conformance.device.client import ConformanceFailure, DeviceClient, as_number
from decoder_conformance.device.target import Target
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.sipp.burst import (
    REFUSALS,
    BurstCall,
    burst_calls,
    ladder,
    unexpected_messages,
)
from decoder_conformance.peers.sipp.run import SippResult, check_target, run_scenario
from decoder_conformance.plugin.stash import CaseEvidence
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sip

#: The project's spec (spec/openapi.yaml) takes allow_in_num 1..16; the storm asks for the most.
ALLOW_IN_NUM_MAX = 16
#: Calls offered above the limit while a call is held, on average: the limit is hit all the time.
HOLD_OVER_LIMIT = 4
#: OPTIONS and status.json probes: one of each every PROBE_EVERY s while the storm runs.
PROBE_EVERY = 0.1
#: An OPTIONS probe is retransmitted T1, 2*T1, ... (capped at T2) and given up after
#: PROBE_GIVE_UP s without a final answer (RFC 3261 §17.1.2.2 Timer E; Timer F is 64*T1, cut
#: short here so a dead device costs seconds, not half a minute).
PROBE_T1 = 0.5
PROBE_T2 = 4.0
PROBE_GIVE_UP = 8.0
#: The calls of the after-storm check are held this long, so all are up at one moment.
SLOT_CHECK_HOLD_MS = 1000
#: Statuses that mean a call is in progress (suites/calls/conftest.py IN_PROGRESS).
IN_PROGRESS = ("in", "out", "calling")
CALL_STATUSES_ENDED = ("idle", "close", "error", "reconnecting")
STORM_REQ = "SIP-LOAD-STORM-001"


# --- probes ----------------------------------------------------------------------------------


@dataclass
class Probe:
    """One liveness probe: when it was first sent and when (and how) it was answered."""

    sent: float
    answered: float | None = None
    answer: str = ""

    @property
    def latency(self) -> float | None:
        """Seconds from the first send to the answer."""
        return None if self.answered is None else self.answered - self.sent


def latency_line(what: str, probes: Sequence[Probe]) -> str:
    """`what`: count, answered, and p50 / p99 / max latency in ms."""
    latencies = sorted(p.latency for p in probes if p.latency is not None)
    if not latencies:
        return f"{what}: {len(probes)} sent, none answered"
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
    return (
        f"{what}: {len(probes)} sent, {len(latencies)} answered; latency p50 "
        f"{1000 * statistics.median(latencies):.1f} ms, p99 {1000 * p99:.1f} ms, max "
        f"{1000 * latencies[-1]:.1f} ms"
    )


class OptionsProber:
    """Sends an OPTIONS to the device every PROBE_EVERY s from one UDP socket on the suite host,
    retransmits each until a final answer (or PROBE_GIVE_UP s), and records the answers."""

    def __init__(self, host: str, target: tuple[str, int], user: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.setblocking(False)
        self.host, self.port = host, int(self._sock.getsockname()[1])
        self.target, self.user = target, user
        self.probes: dict[str, Probe] = {}
        self._wire: dict[str, bytes] = {}
        self._next_send: dict[str, tuple[float, float]] = {}  # call-id -> (due, interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="options-prober", daemon=True)

    def start(self) -> None:
        """Begin probing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sending new probes, settle the outstanding ones, close the socket."""
        self._stop.set()
        self._thread.join(PROBE_GIVE_UP + 2.0)
        self._sock.close()

    def _request(self, call_id: str) -> bytes:
        uri = f"sip:{self.user}@{self.target[0]}:{self.target[1]}"
        headers = sip.Headers()
        headers.add("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch={sip.new_branch()};rport")
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:storm-probe@{self.host}:{self.port}>;tag={sip.new_tag()}")
        headers.add("To", f"<{uri}>")
        headers.add("Call-ID", call_id)
        headers.add("CSeq", "1 OPTIONS")
        headers.add("Content-Length", "0")
        return sip.SipRequest(sip.METHOD_OPTIONS, uri, headers).to_bytes()

    def _run(self) -> None:
        next_probe = time.monotonic()
        while True:
            now = time.monotonic()
            stopping = self._stop.is_set()
            if not stopping and now >= next_probe:
                call_id = f"storm-probe-{secrets.token_hex(6)}@{self.host}"
                self.probes[call_id] = Probe(now)
                self._wire[call_id] = self._request(call_id)
                self._next_send[call_id] = (now, PROBE_T1)
                next_probe = now + PROBE_EVERY
            for call_id, (due, interval) in list(self._next_send.items()):
                if now - self.probes[call_id].sent >= PROBE_GIVE_UP:
                    del self._next_send[call_id]  # given up: stays unanswered
                elif now >= due:
                    self._sock.sendto(self._wire[call_id], self.target)
                    self._next_send[call_id] = (now + interval, min(2 * interval, PROBE_T2))
            if stopping and not self._next_send:
                return
            wake = min([next_probe, *(due for due, _ in self._next_send.values())])
            readable, _, _ = select.select([self._sock], [], [], max(0.0, wake - now))
            if readable:
                self._read()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65535)
            except BlockingIOError:
                return
            try:
                message = sip.parse(data)
            except ValueError:
                continue
            probe = self.probes.get(message.call_id or "")
            if not isinstance(message, sip.SipResponse) or probe is None:
                continue
            if message.status_code >= 200 and probe.answered is None:
                probe.answered, probe.answer = time.monotonic(), str(message.status_code)
                self._next_send.pop(message.call_id or "", None)


class StatusProber:
    """Reads status.json every PROBE_EVERY s from its own client (its own connection)."""

    def __init__(self, client: DeviceClient, account_id: int) -> None:
        self.client, self.account_id = client, account_id
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-prober", daemon=True)

    def start(self) -> None:
        """Begin probing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the read in flight (bounded by the client's HTTP timeout); close the
        client's connection."""
        self._stop.set()
        self._thread.join(self.client.timeout + 2.0)
        self.client.session.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            probe = Probe(time.monotonic())
            self.probes.append(probe)
            try:
                status = self.client.status(self.account_id)
            except Exception as exc:  # recorded as unanswered, judged by the case
                probe.answer = f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                probe.answered, probe.answer = time.monotonic(), f"call_status {status.call}"
            self._stop.wait(max(0.0, probe.sent + PROBE_EVERY - time.monotonic()))


# --- the storm -------------------------------------------------------------------------------


@dataclass
class Storm:
    """What the storm and the checks after it recorded."""

    account_id: int
    local_account: str
    sip: DeviceSip
    allow_in_num: int
    reading: str | None  # the pinned allow_in_num_limit reading, if any
    calls: int
    rate: float
    hold_ms: int
    result: SippResult
    burst: list[BurstCall]
    started: float
    ended: float
    options: list[Probe] = field(default_factory=list)
    statuses: list[Probe] = field(default_factory=list)
    status_after: str = ""
    status_after_problem: str = ""
    slot_check: SippResult | None = None
    slot_burst: list[BurstCall] = field(default_factory=list)
    process_before: tuple[int, int] | None = None  # (sockets, threads)
    process_after: tuple[int, int] | None = None

    def summary(self) -> str:
        """A text summary for the report."""
        answered = sum(1 for c in self.burst if c.answered)
        refused = sum(1 for c in self.burst if c.final in REFUSALS)
        lines = [
            f"storm: {self.calls} calls offered at {self.rate:g}/s, each held {self.hold_ms} ms, "
            f"to account {self.account_id} (allow_in_num {self.allow_in_num}, policy 1, "
            f"auto_aws 1); {len(self.burst)} INVITEs sent, {answered} answered, {refused} "
            f"refused, in {self.ended - self.started:.2f} s",
            f"most calls surely up at once: {most_up(self.burst)}",
            self.result.describe(),
            latency_line("OPTIONS probes", self.options),
            latency_line("status.json probes", self.statuses),
            f"after the storm: {self.status_after or self.status_after_problem}",
        ]
        if self.slot_check is not None:
            lines.append(f"slot check: {self.slot_check.describe()}")
        if self.process_before is not None:
            lines.append(
                f"device process (sockets, threads): before {self.process_before}, "
                f"after {self.process_after}"
            )
        return "\n".join(lines)


def most_up(burst: Sequence[BurstCall]) -> int:
    """The most answered calls surely up at one moment (a sweep over their intervals)."""
    events: list[tuple[float, int]] = []
    for call in burst:
        up = call.surely_up()
        if up is not None:
            events += [(up[0], 1), (up[1], -1)]
    most = count = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start
        count += step
        most = max(most, count)
    return most


def refused_while_free(burst: Sequence[BurstCall], limit: int) -> list[BurstCall]:
    """Refused calls that arrived while fewer than `limit` answered calls can have been up."""
    answered = [c for c in burst if c.answered]
    bad = []
    for call in burst:
        if call.answered or call.final is None:
            continue
        may_be_up = sum(1 for a in answered if (up := a.maybe_up()) and overlap(call, up))
        if may_be_up < limit:
            bad.append(call)
    return bad


def overlap(call: BurstCall, up: tuple[float, float]) -> bool:
    """`call`'s INVITE may have reached the device while `up` lasted."""
    start, end = call.arrival()
    return start < up[1] and up[0] < end


def contested(burst: Sequence[BurstCall], limit: int) -> list[BurstCall]:
    """Calls that surely arrived while `limit` answered calls were up: where the policy decided."""
    answered = [c for c in burst if c.answered]
    found = []
    for call in burst:
        start, end = call.arrival()
        up = [u for a in answered if a is not call and (u := a.surely_up()) is not None]
        if sum(1 for u in up if u[0] <= start and end <= u[1]) >= limit:
            found.append(call)
    return found


def readings_consistent(storm: Storm) -> dict[str, str]:
    """allow_in_num_limit reading -> why the storm contradicts it ("" when consistent)."""
    limits = {"limit": storm.allow_in_num, "single_per_policy": 1}
    found: dict[str, str] = {}
    for reading, limit in limits.items():
        most = most_up(storm.burst)
        bad = refused_while_free(storm.burst, limit)
        problems = []
        if most > limit:
            problems.append(f"{most} calls surely up at once, above {limit}")
        if bad:
            problems.append(
                f"{len(bad)} calls refused while fewer than {limit} can have been up, e.g. "
                + "; ".join(c.describe(storm.burst[0].invite_sent) for c in bad[:3])
            )
        found[reading] = "; ".join(problems)
    return found


def effective_limit(storm: Storm) -> int:
    """The limit the device follows: the pinned reading's, else the one the storm agrees with
    (allow_in_num first)."""
    if storm.reading == "single_per_policy":
        return 1
    if storm.reading == "limit":
        return storm.allow_in_num
    consistent = readings_consistent(storm)
    return storm.allow_in_num if not consistent["limit"] else 1


def process_counts(pid: int) -> tuple[int, int]:
    """(sockets, threads) of process `pid`, from /proc."""
    fd_dir = Path(f"/proc/{pid}/fd")
    sockets = 0
    for entry in os.listdir(fd_dir):
        try:
            if os.readlink(fd_dir / entry).startswith("socket:"):
                sockets += 1
        except OSError:  # closed between listing and reading
            continue
    return sockets, len(os.listdir(f"/proc/{pid}/task"))


def _configure(client: DeviceClient, factory: AccountFactory, device: DeviceSip) -> tuple[int, str]:
    """An auto-answering account with policy 1 and the largest allow_in_num the device takes."""
    local = f"77{secrets.randbelow(10**6):06d}"
    account_id = factory()
    client.modify_call_cfg(account_id, auto_aws="true", allow_in_num=str(ALLOW_IN_NUM_MAX))
    client.modify(account_id, localAccount=local, localAddress=device.bind)
    policy = client.account(account_id).get("call_in_options", {}).get("policy")
    if as_number(policy) != 1:
        raise NotExercised(f"the storm needs policy 1, the page's default; account.json: {policy}")
    return account_id, local


def _settle_status(client: DeviceClient, storm: Storm, timeout: float) -> None:
    try:
        status = client.wait_status(
            storm.account_id,
            lambda s: s.call in CALL_STATUSES_ENDED,
            timeout=timeout,
            expected="call_status showing no call in progress once every call of the storm ended",
        )
        storm.status_after = f"call_status {status.call}"
    except ConformanceFailure as exc:
        storm.status_after_problem = f"observed {exc.observed}"


@pytest.fixture(scope="module")
def storm(
    device_target: Target, suite_host: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Storm]:
    """Run the storm once for the module's cases; the account is removed afterwards."""
    profile = device_target.profile
    client = device_target.client(req=STORM_REQ)
    factory = AccountFactory(client)
    device = device_sip_address(client, device_target.api_url)
    allowed = tuple(h for h in {device.host} if h != "127.0.0.1")
    target = check_target(device.address, allowed)
    logs = tmp_path_factory.mktemp("storm")
    try:
        account_id, local = _configure(client, factory, device)
        shown = as_number(client.call_cfg(account_id).get("allow_in_num"))
        allow_in_num = shown if isinstance(shown, int) and shown >= 1 else 1
        rate, calls = float(profile.load.call_storm_rate), profile.load.call_storm_calls
        hold_ms = math.ceil(1000 * (allow_in_num + HOLD_OVER_LIMIT) / rate)
        reference = device_target.reference
        before = process_counts(reference.pid) if reference is not None else None
        options = OptionsProber(suite_host, target, local)
        statuses = StatusProber(device_target.client(req=STORM_REQ), account_id)
        options.start()
        statuses.start()
        started = time.monotonic()
        try:
            result = run_scenario(
                "uac_invite_load",
                device.address,
                log_dir=logs,
                calls=calls,
                rate=rate,
                variables={"pause_ms": str(hold_ms)},
                timeout=calls / rate + hold_ms / 1000 + 20.0,
                service=local,
                host=suite_host,
                allowed_hosts=allowed,
            )
        finally:
            ended = time.monotonic()
            statuses.stop()
            options.stop()
        storm = Storm(
            account_id,
            local,
            device,
            allow_in_num,
            profile.readings.get("allow_in_num_limit"),
            calls,
            rate,
            hold_ms,
            result,
            burst_calls(result.records()),
            started,
            ended,
            list(options.probes.values()),
            statuses.probes,
            process_before=before,
        )
        timeout = profile.timers.state_timeout
        _settle_status(client, storm, timeout)
        limit = effective_limit(storm)
        if not storm.status_after_problem:
            # `limit` calls at once, each held SLOT_CHECK_HOLD_MS: all answered if no slot leaked.
            storm.slot_check = run_scenario(
                "uac_invite_load",
                device.address,
                log_dir=logs,
                calls=limit,
                rate=max(rate, 20.0 * limit),
                variables={"pause_ms": str(SLOT_CHECK_HOLD_MS)},
                timeout=SLOT_CHECK_HOLD_MS / 1000 + 10.0,
                service=local,
                host=suite_host,
                allowed_hosts=allowed,
            )
            storm.slot_burst = burst_calls(storm.slot_check.records())
            _settle_status(client, storm, timeout)
        if reference is not None and before is not None:
            pid = reference.pid
            try:
                storm.process_after = poll_until(
                    lambda: process_counts(pid),
                    lambda now: now[0] <= before[0] and now[1] <= before[1],
                    timeout=timeout,
                    expected=f"the decoder's (sockets, threads) back to {before}",
                )
            except WaitTimeout:
                storm.process_after = process_counts(pid)
        yield storm
    finally:
        factory.cleanup()


# --- the cases -------------------------------------------------------------------------------


def _attach(evidence: CaseEvidence, storm: Storm) -> None:
    def attach() -> None:
        import allure

        allure.attach(
            storm.summary(), name="call storm", attachment_type=allure.attachment_type.TEXT
        )

    evidence.add_attacher(attach)


def _shown_calls(storm: Storm, calls: Sequence[BurstCall]) -> Callable[[], list[WireRecord]]:
    """The SIPp records of `calls` only (the whole storm is thousands of messages)."""
    wanted = {c.call_id for c in calls}
    return lambda: [r for r in storm.result.records() if r.message.call_id in wanted]


def _fail_showing(
    evidence: CaseEvidence, storm: Storm, calls: Sequence[BurstCall], failure: Exception
) -> NoReturn:
    """Attach the SIPp records of the first eight of `calls`, then raise `failure`."""
    evidence.add_records("SIPp storm (calls shown)", _shown_calls(storm, calls[:8]))
    raise failure


@pytest.mark.req("SIP-LOAD-STORM-001")
def test_call_storm_is_handled_per_policy(
    storm: Storm, evidence: CaseEvidence, api: DeviceClient
) -> None:
    _attach(evidence, storm)
    req = api.req
    burst = storm.burst
    if len(burst) != storm.calls:
        raise NotExercised(f"SIPp sent {len(burst)} of {storm.calls} INVITEs: {storm.summary()}")
    unanswered = [c for c in burst if c.final is None]
    if unanswered:
        _fail_showing(
            evidence,
            storm,
            unanswered,
            ConformanceFailure(
                req,
                "a final answer to every INVITE of the storm",
                f"{len(unanswered)} without one, e.g. {ladder(unanswered)}",
            ),
        )
    finals = {c.final for c in burst if c.final is not None}
    other = sorted(code for code in finals if code != 200 and code not in REFUSALS)
    if other:
        if all(400 <= code < 700 for code in other):
            raise NotExercised(
                f"the device refused with {other}, which uac_invite_load.xml does not ACK; "
                f"add them to its refusals: {storm.result.describe()}"
            )
        raise ConformanceFailure(req, "each call answered 200 or refused 4xx-6xx", f"{other}")
    unended = [c for c in burst if c.answered and c.bye_ok_at is None]
    unexpected = unexpected_messages(storm.result.errors_text)
    if unended or unexpected or not storm.result.ok:
        _fail_showing(
            evidence,
            storm,
            unended,
            ConformanceFailure(
                req,
                "every answered call of the storm ended cleanly (its BYE answered 200) and no "
                "unexpected message (a BYE from the device, a stray response)",
                f"{len(unended)} calls not ended, e.g. {ladder(unended)}; {unexpected[:3]}; "
                f"{storm.result.describe()}",
            ),
        )
    consistent = readings_consistent(storm)
    judged = [storm.reading] if storm.reading in consistent else list(consistent)
    if all(consistent[r] for r in judged):
        raise ConformanceFailure(
            req,
            f"policy 1 with allow_in_num {storm.allow_in_num} (allow_in_num_limit "
            f"{' or '.join(judged)}): never more calls up than the limit, no call refused below it",
            "; ".join(f"{r}: {consistent[r]}" for r in judged) + f"; calls: {ladder(burst)}",
        )
    limit = effective_limit(storm)
    if not contested(burst, limit) or not any(c.answered for c in burst):
        raise NotExercised(
            f"no call of the storm surely arrived while {limit} others were up (or none was "
            f"answered), so the policy was not put to the test: {storm.summary()}"
        )


@pytest.mark.req("SIP-LOAD-STORM-002")
def test_options_and_api_answer_during_the_storm(
    storm: Storm, evidence: CaseEvidence, api: DeviceClient
) -> None:
    _attach(evidence, storm)
    req = api.req
    window = (storm.started, storm.ended)
    for what, probes in (("OPTIONS", storm.options), ("status.json", storm.statuses)):
        during = [p for p in probes if window[0] <= p.sent <= window[1]]
        # The event first: probes went out all through the storm (one per PROBE_EVERY s).
        wanted = int((window[1] - window[0]) / PROBE_EVERY / 2)
        if len(during) < max(1, wanted):
            raise NotExercised(
                f"only {len(during)} {what} probes went out during the {window[1] - window[0]:.1f}"
                f" s storm (at least {wanted} wanted): the probe could not keep up"
            )
        silent = [p for p in during if p.answered is None]
        if silent:
            raise DeviceFailure(
                f"[{req}] expected every {what} probe sent during the call storm answered; "
                f"observed {len(silent)} of {len(during)} unanswered (e.g. "
                f"{silent[0].answer or f'no answer within {PROBE_GIVE_UP:g} s'}); "
                + latency_line(what, during)
            )


@pytest.mark.req("SIP-LOAD-STORM-003")
def test_nothing_is_left_open_after_the_storm(
    storm: Storm, evidence: CaseEvidence, api: DeviceClient
) -> None:
    _attach(evidence, storm)
    req = api.req
    if not any(c.answered for c in storm.burst):
        raise NotExercised(f"no call of the storm was answered: {storm.summary()}")
    if storm.status_after_problem:
        raise DeviceFailure(
            f"[{req}] expected call_status to show no call once every call of the storm had "
            f"ended (each BYE answered 200 or each INVITE refused); {storm.status_after_problem}"
        )
    check, limit = storm.slot_check, effective_limit(storm)
    assert check is not None
    slot = storm.slot_burst
    if len(slot) != limit or any(c.final is None for c in slot):
        raise NotExercised(f"the slot check placed {len(slot)} of {limit}: {check.describe()}")
    refused = [c for c in slot if not c.answered]
    if refused:
        evidence.add_records("SIPp slot check", check.records)
        raise DeviceFailure(
            f"[{req}] expected {limit} new calls placed together after the storm all answered "
            f"(allow_in_num {storm.allow_in_num}, no call up); observed {len(refused)} refused: "
            f"{ladder(slot)}: a call of the storm still holds its slot"
        )
    ups = [c.surely_up() for c in slot]
    if any(u is None for u in ups) or max(u[0] for u in ups if u) >= min(u[1] for u in ups if u):
        raise NotExercised(
            f"the {limit} calls of the slot check were not all up at one moment: {ladder(slot)}"
        )
    if not check.ok:
        raise ConformanceFailure(req, "the slot check's calls ended cleanly", check.describe())


@pytest.mark.needs("reference_extensions")
@pytest.mark.req("SIP-LOAD-STORM-004")
def test_no_socket_or_thread_is_left_after_the_storm(
    storm: Storm, evidence: CaseEvidence, api: DeviceClient, device_target: Target
) -> None:
    _attach(evidence, storm)
    if storm.process_before is None or storm.process_after is None:
        raise NotExercised(
            "the decoder's process is not one this session started (a lab device shows its "
            "sockets and threads through no API)"
        )
    if not any(c.answered for c in storm.burst):
        raise NotExercised(f"no call of the storm was answered: {storm.summary()}")
    before, after = storm.process_before, storm.process_after
    assert after[0] <= before[0] and after[1] <= before[1], (
        f"[{api.req}] expected the decoder's process to hold no more sockets and threads after "
        f"the storm than before it; observed (sockets, threads) {before} before, {after} after "
        f"(waited {device_target.profile.timers.state_timeout:g} s)"
    )
