"""Verdicts: a failed check is failed, a finding or waived, by the basis of its requirement.

Only a requirement whose basis is the page, an RFC MUST or a reading (a device following no
listed reading, or not the one its profile pins) can fail a device. A failed check of a
`practice` or a SHOULD requirement is a **finding**: reported like an xfail whose reason starts
with "finding" (JUnit `skipped`, Allure `skipped` in the "Findings" category, its own verdict in
the summary), unless the profile promotes it (`[findings].promote`), as the reference profile
does for its own practices. Cases observe readings through the `readings` fixture.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import NoReturn

import pytest

from decoder_conformance.contract.observations import Observations
from decoder_conformance.plugin.stash import (
    OBSERVATIONS,
    SUITE_CONFIG,
    SUMMARY,
    is_suite_case,
    item_req,
)
from decoder_conformance.report.summary import FINDING


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
    item.config.stash[SUMMARY].record(req_id, item.nodeid, report, call)
    return report
