"""The status trace: status.json of every account a case adds, recorded through the whole case
and judged (device/status_judge.py) against the page's value sets and the profile's pinned
readings, with what the case's peers saw on the wire.

A suite takes the `status_trace` fixture (suites/sip, calls and media do, for every case, through
`_status_trace = trace_every_case()` in their conftests). One thread samples status.json of each
account the case's `new_account` factory made, every 0.1 s, on its own client (the samples do not
crowd the case's HTTP exchanges). When the call phase ends, pass or fail: if every call of the case
is over on the wire, the trace first waits (up to the state timeout) for call_status to show it;
then the recorder stops and the series is judged and attached next to the ladder (a table of the
changes, the verdict and a plot). The verdict is a duty of the case (plugin/verdicts.py): a
violation fails the case at teardown under the SIP-STAT-TRACE requirement it breaks.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from decoder_conformance.device.accounts import AccountFactory
from decoder_conformance.device.status_judge import (
    Expectations,
    Table,
    TraceViolation,
    judge,
    summary_line,
)
from decoder_conformance.device.status_series import AccountsRecorder, Sample, changes_table
from decoder_conformance.device.target import Target
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.capture import WireRecord, sip_only
from decoder_conformance.plugin.stash import CaseEvidence, DutyResults, add_duty, case_evidence
from decoder_conformance.report.status_plot import status_plot_png
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sip

#: The SIP requests that may start, change or end a call.
CALL_METHODS = ("INVITE", "BYE", "CANCEL")


def call_events(records: Sequence[WireRecord]) -> list[float]:
    """When a call may have started, changed or ended on the wire: every INVITE, BYE and CANCEL
    and every final answer above 299 to an INVITE, either way. A SIP record that does not parse
    counts too (the judge only narrows its windows by an event too many)."""
    events = []
    for record in sip_only(records):
        try:
            message = record.message
        except Exception:  # a malformed message may still have moved a call
            events.append(record.t)
            continue
        if isinstance(message, sip.SipRequest):
            if message.method in CALL_METHODS:
                events.append(record.t)
        elif message.cseq.method == "INVITE" and message.status_code >= 300:
            events.append(record.t)
    return events


def parsed(records: Sequence[WireRecord]) -> Iterator[tuple[WireRecord, sip.SipMessage]]:
    """Each SIP record with its message, leaving out one that does not parse (judged by the case
    that sent or read it; for the trace it grants, starts and ends nothing)."""
    for record in sip_only(records):
        try:
            message = record.message
        except Exception:  # a malformed message: see above
            continue
        yield record, message


def grants(records: Sequence[WireRecord]) -> list[float]:
    """When a peer of the case sent a 200 to a REGISTER (the registrar granting a binding)."""
    found = []
    for record, message in parsed(records):
        if record.direction != "TX":
            continue
        if (
            isinstance(message, sip.SipResponse)
            and message.status_code == 200
            and message.cseq.method == "REGISTER"
        ):
            found.append(record.t)
    return found


def calls_over_at(records: Sequence[WireRecord]) -> float | None:
    """When the last call of the case ended on the wire, if every call has: each INVITEd
    Call-ID got a final answer, and an answered one (2xx) a BYE. None while any call rings or is
    up, or when there was no call."""
    invited: dict[str, float] = {}
    refused: dict[str, float] = {}
    answered: set[str] = set()
    byes: dict[str, float] = {}
    for record, message in parsed(records):
        call_id = message.call_id or ""
        if isinstance(message, sip.SipRequest):
            if message.method == "INVITE":
                invited.setdefault(call_id, record.t)
            elif message.method == "BYE":
                byes.setdefault(call_id, record.t)
        elif message.cseq.method == "INVITE" and message.status_code >= 200:
            if message.status_code < 300:
                answered.add(call_id)
            else:
                refused.setdefault(call_id, record.t)
    if not invited:
        return None
    ends = []
    for call_id in invited:
        if call_id in answered:
            if call_id not in byes:
                return None
            ends.append(byes[call_id])
        elif call_id in refused:
            ends.append(refused[call_id])
        else:
            return None
    return max(ends)


def established(records: Sequence[WireRecord]) -> list[tuple[float, float | None]]:
    """When each call was established on the wire: from the first ACK after a 2xx to its
    INVITE to the first BYE or CANCEL after that ACK (None: still up at the end)."""
    answered: dict[str, float] = {}
    acked: dict[str, float] = {}
    ended: dict[str, float] = {}
    for record, message in parsed(records):
        call_id = message.call_id or ""
        if isinstance(message, sip.SipResponse):
            if message.cseq.method == "INVITE" and 200 <= message.status_code < 300:
                answered.setdefault(call_id, record.t)
        elif message.method == "ACK" and call_id in answered:
            acked.setdefault(call_id, record.t)
        elif message.method in ("BYE", "CANCEL") and call_id in acked:
            ended.setdefault(call_id, record.t)
    return [(t, ended.get(call_id)) for call_id, t in acked.items()]


def expectations(records: Sequence[WireRecord]) -> Expectations:
    """What the case's wire records tell the judge."""
    return Expectations(
        call_events(records), grants(records), calls_over_at(records), established(records)
    )


@dataclass
class StatusTrace:
    """The `status_trace` fixture: the recorder of the case's accounts and its verdict."""

    recorder: AccountsRecorder
    table: Table
    evidence: CaseEvidence
    state_timeout: float
    origin: float = field(default_factory=time.monotonic)
    results: dict[str, list[str]] = field(default_factory=dict)
    violations: list[tuple[int, TraceViolation]] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)
    finished: bool = False
    error: str = ""

    def series(self) -> dict[int, list[Sample]]:
        """The samples so far, by account id."""
        return self.recorder.series()

    def _records(self) -> list[WireRecord]:
        records, _roles, _problems = self.evidence.collect()
        return records

    def _the_end(self, wire: Expectations) -> Expectations:
        """With every call over on the wire, one last sample of each account that showed a call
        (the recorder stopped); one still in progress is sampled again until the state timeout
        has passed since the last call ended (a device that already shows it costs one sample)."""
        over = wire.calls_over_at
        if over is None:
            return wire
        table = self.table
        accounts = [
            aid
            for aid, samples in self.series().items()
            if any(s.status is not None and s.status.call in table.in_progress for s in samples)
        ]

        def ended(sample: Sample) -> bool:
            return sample.status is None or sample.status.call not in table.in_progress

        lagging = [aid for aid in accounts if not ended(self.recorder.sample_now(aid))]
        for aid in lagging:
            try:
                poll_until(
                    functools.partial(self.recorder.sample_now, aid),
                    ended,
                    timeout=max(0.0, over + self.state_timeout - time.monotonic()),
                    interval=self.recorder.every,
                    expected="call_status with no call in progress",
                )
            except WaitTimeout:
                continue  # judged below, unless a new call started meanwhile
        if not lagging:
            return wire
        # A call the case's peers saw start since (auto_call dialling again) moves the end.
        return expectations(self._records())

    def finish(self) -> None:
        """Stop the recorder, take the end the wire asks for, and judge each account."""
        if self.finished:
            return
        self.finished = True
        try:
            self.recorder.stop()  # first: every sample then precedes the records read next
            wire = self._the_end(expectations(self._records()))
            for account_id, samples in self.recorder.series().items():
                found, exercised = judge(samples, self.table, wire, origin=self.origin)
                self.exercised |= exercised
                self.violations += [(account_id, v) for v in found]
            self.results = {req: [] for req in sorted(self.exercised)}
            for account_id, violation in self.violations:
                self.results.setdefault(violation.requirement, []).append(
                    f"account {account_id}: {violation.detail}"
                )
        except Exception as exc:  # reported as the duty's problem: the case is broken, not failed
            self.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.recorder.stop()

    def duty(self) -> DutyResults:
        """The trace's verdict per SIP-STAT-TRACE requirement (run at teardown)."""
        if self.error:
            raise NotExercised(f"the status trace could not be judged: {self.error}")
        return self.results

    def attach(self) -> None:
        """Judge (if the case has not) and attach the series: table, verdict, plot."""
        self.finish()
        import allure

        series = self.series()
        for account_id, samples in series.items():
            name = f"status.json trace (account {account_id})"
            found = [v for aid, v in self.violations if aid == account_id]
            text = changes_table(samples, self.origin, self.recorder.every)
            text += "\n\n" + summary_line(found, self.exercised)
            allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
            if samples:
                allure.attach(
                    status_plot_png(samples, self.origin, f"status.json, account {account_id}"),
                    name=f"{name}: plot",
                    attachment_type=allure.attachment_type.PNG,
                )


@pytest.fixture
def status_trace(
    request: pytest.FixtureRequest, device_target: Target, new_account: AccountFactory
) -> Iterator[StatusTrace]:
    """Record status.json of every account the case adds; judged when its call phase ends (a
    violation fails the case at teardown under its SIP-STAT-TRACE requirement)."""
    node: pytest.Item = request.node
    profile = device_target.profile
    recorder = AccountsRecorder(
        device_target.client(req="SIP-STAT-TRACE-001"), lambda: list(new_account.created)
    )
    evidence = case_evidence(node)
    trace = StatusTrace(
        recorder, Table.from_readings(profile.readings), evidence, profile.timers.state_timeout
    )
    recorder.start()
    evidence.add_attacher(trace.attach)
    add_duty(node, "status trace", trace.duty)
    try:
        yield trace
    finally:
        # Before new_account removes the accounts (it was set up first, so it ends last).
        recorder.stop()


def trace_every_case() -> Any:
    """An autouse fixture taking `status_trace`, for the conftest of a suite folder whose every case
    is traced (`_status_trace = trace_every_case()`). Made on call, not defined at module level:
    this module is a plugin, and an autouse fixture here would trace every folder."""

    @pytest.fixture(autouse=True, name="_status_trace")
    def _status_trace(status_trace: StatusTrace) -> StatusTrace:
        """status.json of the case's accounts, recorded through the case and judged at its end:
        a violation fails the case under its SIP-STAT-TRACE requirement."""
        return status_trace

    return _status_trace
