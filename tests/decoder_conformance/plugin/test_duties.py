"""plugin/verdicts.py duties: a duty a case saw broken fails the case under the duty's own
requirement, in pytest, in JUnit and in summary.json; the case's own requirement keeps the
verdict of its own check.

Each test writes tiny conformance cases under suites/ in a pytester folder and runs them with
the real plugin (no device: the cases take no device fixture), as tests/.../test_verdicts.py does.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.decoder_conformance.plugin.case_runs import run_cases

pytest_plugins = ["pytester"]

CASES = """
import pytest

@pytest.mark.req("SIP-API-ENV-001")  # its own check passes; the registrar saw a bad digest uri
def test_duty_broken(duties):
    duties("registrar", lambda: {"SIP-REG-014": ["digest uri sip:h is not sip:h:5070"]})

@pytest.mark.req("SIP-API-ENV-001")  # the duty was checked and held
def test_duty_kept(duties):
    duties("registrar", lambda: {"SIP-REG-014": [], "SIP-REG-015": []})

@pytest.mark.req("SIP-API-LIST-001")  # a practice duty broken: a finding, the case passes
def test_practice_duty(duties):
    duties("peer", lambda: {"SIP-API-ENV-002": ["answered 200 for an unknown path"]})

@pytest.mark.req("SIP-API-LIST-001")  # a duty check that cannot judge: broken, not failed
def test_duty_check_crashes(duties):
    def check():
        raise RuntimeError("peer records unreadable")
    duties("peer", check)
"""


def run(pytester: pytest.Pytester) -> tuple[dict[str, set[str]], Any, str]:
    """(pytest outcomes by test, summary.json, junit.xml) of the cases under generic.toml."""
    lines, summary, junit = run_cases(pytester, CASES, "test_duty_cases")
    outcomes: dict[str, set[str]] = {}
    for name, word in lines:
        outcomes.setdefault(name, set()).add(word)
    return outcomes, summary, junit


def test_a_broken_duty_fails_the_case_under_its_own_requirement(
    pytester: pytest.Pytester,
) -> None:
    outcomes, summary, junit = run(pytester)
    # pytest: the case's call passed, its teardown failed with the duty's requirement named.
    assert outcomes["test_duty_broken"] == {"PASSED", "ERROR"}
    assert "[SIP-REG-014] (registrar) digest uri sip:h is not sip:h:5070" in junit
    requirements = summary["requirements"]
    assert requirements["SIP-REG-014"]["verdict"] == "failed"
    [failed] = [c for c in requirements["SIP-REG-014"]["cases"] if c["verdict"] == "failed"]
    assert failed["nodeid"].endswith("::test_duty_broken") and failed["duty"] is True
    assert failed["problems"] == ["digest uri sip:h is not sip:h:5070"]
    # The case's own requirement keeps its own check's verdict, and names the duty it broke.
    own = requirements["SIP-API-ENV-001"]
    assert own["verdict"] == "passed"
    [case] = [c for c in own["cases"] if c["nodeid"].endswith("::test_duty_broken")]
    assert case["duties"] == {"SIP-REG-014": "failed"}
    assert summary["must_failed"] == ["SIP-REG-014"]
    assert summary["duty_failures"][0]["requirement"] == "SIP-REG-014"
    # The case itself counts as failed, once.
    assert summary["cases"]["failed"] == 1 and sum(summary["cases"].values()) == 4


def test_kept_practice_and_unjudged_duties(pytester: pytest.Pytester) -> None:
    outcomes, summary, _junit = run(pytester)
    requirements = summary["requirements"]
    assert outcomes["test_duty_kept"] == {"PASSED"}
    assert requirements["SIP-REG-015"]["verdict"] == "passed"
    # A practice duty: a finding recorded under it, the case not failed.
    assert outcomes["test_practice_duty"] == {"PASSED"}
    assert requirements["SIP-API-ENV-002"]["verdict"] == "finding"
    assert "SIP-API-ENV-002" in summary["findings"]
    # A check that cannot judge breaks the case (the suite's problem), fails nothing.
    assert outcomes["test_duty_check_crashes"] == {"PASSED", "ERROR"}
    [crashed] = [
        c
        for c in requirements["SIP-API-LIST-001"]["cases"]
        if c["nodeid"].endswith("::test_duty_check_crashes")
    ]
    assert crashed["verdict"] == "broken"
    assert summary["cases"]["broken"] == 1
