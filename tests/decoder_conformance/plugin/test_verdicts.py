"""plugin/verdicts.py: a failed check is failed, a finding, or a reading mismatch, by its basis.

Each test writes a tiny conformance case under suites/ in a pytester folder and runs it with the
real plugin against a given profile (no device: the cases take no device fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.decoder_conformance.plugin.case_runs import run_cases

pytest_plugins = ["pytester"]

CASES = """
import pytest

@pytest.mark.req("SIP-API-ENV-002")  # practice: an unknown path answers 404
def test_practice_lapse():
    assert False, "answered 200 for an unknown path"

@pytest.mark.req("SIP-API-ENV-001")  # page MUST
def test_page_lapse():
    assert False, "no envelope"

@pytest.mark.req("SIP-API-LIST-002")  # reading id_type
def test_reading(readings):
    readings.follow("id_type", "decimal_string", '"id": "3"')

@pytest.mark.req("SIP-API-LIST-001")  # a case of another requirement may not observe id_type
def test_reading_outside_its_requirement(readings):
    readings.follow("id_type", "decimal_string", '"id": "3"')
"""


def run(pytester: pytest.Pytester, profile_text: str = "") -> tuple[dict[str, str], Any]:
    """Run the cases with generic.toml plus `profile_text`; (outcome by test, summary)."""
    lines, summary, _junit = run_cases(pytester, CASES, "test_cases", profile_text)
    return dict(lines), summary


def test_practice_lapse_is_a_finding_and_page_lapse_a_failure(pytester: pytest.Pytester) -> None:
    outcomes, summary = run(pytester)
    assert outcomes["test_practice_lapse"] == "XFAIL"
    assert outcomes["test_page_lapse"] == "FAILED"
    assert summary["requirements"]["SIP-API-ENV-002"]["verdict"] == "finding"
    assert summary["findings"] == ["SIP-API-ENV-002"]
    assert summary["must_failed"] == ["SIP-API-ENV-001"]
    junit = (pytester.path / "junit.xml").read_text("utf-8")
    assert 'message="finding [SIP-API-ENV-002]' in junit


def test_a_promoted_practice_fails(pytester: pytest.Pytester) -> None:
    outcomes, summary = run(pytester, '[findings]\npromote = ["SIP-API-ENV-002"]\n')
    assert outcomes["test_practice_lapse"] == "FAILED"
    assert summary["requirements"]["SIP-API-ENV-002"]["verdict"] == "failed"


def test_any_listed_reading_passes_and_is_recorded(pytester: pytest.Pytester) -> None:
    outcomes, summary = run(pytester)
    assert outcomes["test_reading"] == "PASSED"
    assert summary["readings"]["id_type"]["seen"] == ["decimal_string"]
    assert summary["readings"]["id_type"]["pinned"] is None


def test_a_pinned_reading_fails_a_device_that_follows_another(pytester: pytest.Pytester) -> None:
    outcomes, summary = run(pytester, '[readings]\nid_type = "json_integer"\n')
    assert outcomes["test_reading"] == "FAILED"
    assert summary["requirements"]["SIP-API-LIST-002"]["verdict"] == "failed"
    assert summary["readings"]["id_type"]["pinned"] == "json_integer"


def test_a_reading_is_observed_only_by_its_own_requirement(pytester: pytest.Pytester) -> None:
    outcomes, summary = run(pytester)
    assert outcomes["test_reading_outside_its_requirement"] == "FAILED"
    assert summary["requirements"]["SIP-API-LIST-001"]["verdict"] == "broken"
