"""Verdicts: a failed check is failed, a finding or waived, by the basis of its requirement.

Only a requirement whose basis is the page, an RFC MUST or a reading (a device following no
listed reading, or not the one its profile pins) can fail a device. A failed check of a
`practice` or a SHOULD requirement is a **finding**: reported like an xfail whose reason starts
with "finding" (JUnit `skipped`, Allure `skipped` in the "Findings" category, its own verdict in
the summary), unless the profile promotes it (`[findings].promote`), as the reference profile
does for its own practices. Cases observe readings through the `readings` fixture.

Device duties (plugin/stash.py `DutyCheck`: a peer's RFC checks on every exchange, the status
trace) are judged once a case's teardown has ended, under their own requirements: a problem with
a requirement that can fail the device (or that the profile promotes) raises `DutyFailure` from
the teardown, so the case is failed and says why, and the summary records the failure under the
duty's requirement; a practice or SHOULD duty is a finding recorded there, the case untouched; a
waived one is recorded waived. The case's own requirement keeps the verdict of its own check.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import NoReturn

import pytest

from decoder_conformance.contract.observations import Observations
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.plugin.stash import (
    CASE_DUTIES,
    DUTY_OUTCOMES,
    OBSERVATIONS,
    SUITE_CONFIG,
    SUMMARY,
    DutyOutcome,
    DutyResults,
    SuiteConfig,
    add_duty,
    is_suite_case,
    item_req,
)
from decoder_conformance.report.summary import FINDING


class DutyFailure(DeviceFailure):
    """Duties the device broke during a case, each under its own requirement (raised at
    teardown, reported failed)."""

    def __init__(self, outcomes: Sequence[DutyOutcome]) -> None:
        self.outcomes = tuple(outcomes)
        super().__init__(
            "device duties checked through the case were broken:\n"
            + "\n".join(
                f"  [{o.requirement}] ({o.source}) {problem}"
                for o in self.outcomes
                for problem in o.problems
            )
        )


@dataclass(frozen=True)
class CaseReadings:
    """The `readings` fixture: a case records the reading the device follows on its point."""

    observations: Observations
    req: str
    case: str

    def follow(self, point: str, reading: str, seen: str) -> None:
        """The device follows `reading` on `point`, as `seen` shows (fails if pinned otherwise)."""
        self.observations.follow(self.req, point, reading, seen, self.case)

    def none_of(self, point: str, seen: str) -> NoReturn:
        """The device follows none of the listed readings of `point`: fails the case."""
        self.observations.none_of(self.req, point, seen)


@pytest.fixture
def readings(request: pytest.FixtureRequest) -> CaseReadings:
    """Record the readings the device follows (only on the case's own reading point)."""
    node: pytest.Item = request.node
    return CaseReadings(request.config.stash[OBSERVATIONS], item_req(node), node.nodeid)


@pytest.fixture
def duties(request: pytest.FixtureRequest) -> Callable[[str, Callable[[], DutyResults]], None]:
    """`duties(name, check)`: register a duty check judged when the case's teardown ends;
    `check()` returns requirement ID -> problems ([] when checked and held)."""
    node: pytest.Item = request.node
    return lambda name, check: add_duty(node, name, check)


def run_duties(item: pytest.Item) -> list[DutyOutcome]:
    """Run the case's duty checks. A check that cannot judge (a harness problem) gives an
    outcome with no requirement: it breaks the case (NotExercised), it fails no requirement."""
    outcomes: list[DutyOutcome] = []
    for duty in item.stash.get(CASE_DUTIES, []):
        try:
            results = duty.check()
        except Exception as exc:  # reported beside the verdicts, never replaces the case's own
            outcomes.append(
                DutyOutcome("", duty.name, (f"could not judge: {type(exc).__name__}: {exc}",))
            )
            continue
        outcomes += [DutyOutcome(req, duty.name, tuple(p)) for req, p in results.items()]
    return outcomes


def duty_verdict(suite: SuiteConfig, outcome: DutyOutcome) -> str:
    """passed, failed, finding or waived: the verdict `outcome` gives its requirement."""
    if not outcome.problems:
        return "passed"
    if suite.profile.waiver_for(outcome.requirement) is not None:
        return "waived"
    requirement = suite.catalogue.requirements.get(outcome.requirement)
    if requirement is None or requirement.can_fail or suite.profile.promotes(outcome.requirement):
        return "failed"
    return "finding"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Judge the case's duties once its fixtures are torn down (its peers stopped, their
    records kept); a failed one fails the teardown with a DutyFailure."""
    try:
        result = yield
    finally:
        outcomes = run_duties(item) if is_suite_case(item) else []
        item.stash[DUTY_OUTCOMES] = outcomes
    if not outcomes:
        return result
    suite = item.config.stash[SUITE_CONFIG]
    judged = [o for o in outcomes if o.requirement]
    failed = [o for o in judged if duty_verdict(suite, o) == "failed"]
    if failed:
        raise DutyFailure(failed)
    unjudged = [o for o in outcomes if not o.requirement]
    if unjudged:
        raise NotExercised("; ".join(f"{o.source}: {' '.join(o.problems)}" for o in unjudged))
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn a failed practice or SHOULD check into a finding, then feed the summary.

    trylast: the innermost wrapper, so allure-pytest and the JUnit writer see the finding.
    """
    report = yield
    if not is_suite_case(item):
        return report
    suite = item.config.stash[SUITE_CONFIG]
    req_id = item_req(item)
    requirement = suite.catalogue.requirements.get(req_id)
    excinfo = call.excinfo
    if (
        requirement is not None
        and report.when == "call"
        and report.failed
        and not hasattr(report, "wasxfail")
        and excinfo is not None
        and excinfo.errisinstance(AssertionError)
        and not requirement.can_fail
        and not suite.profile.promotes(req_id)
    ):
        why = "a practice" if requirement.basis == "practice" else "a SHOULD"
        report.outcome = "skipped"
        report.wasxfail = (
            f"finding [{req_id}] ({why}; not a page or RFC MUST): {excinfo.exconly()[:500]}"
        )
        report.user_properties.append(FINDING)
    summary = item.config.stash[SUMMARY]
    if report.when == "teardown":
        for outcome in item.stash.get(DUTY_OUTCOMES, []):
            if outcome.requirement:
                verdict = duty_verdict(suite, outcome)
                summary.record_duty(item.nodeid, outcome.requirement, verdict, outcome.problems)
        if excinfo is not None and excinfo.errisinstance(DutyFailure):
            return report  # recorded under the duties' requirements, not the case's own
    summary.record(req_id, item.nodeid, report, call)
    return report
