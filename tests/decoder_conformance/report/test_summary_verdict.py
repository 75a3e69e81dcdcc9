"""report/summary.py `verdict_fields`: the summary's first line, PASS or FAIL at a glance."""

from __future__ import annotations

from typing import Any

from decoder_conformance.report.summary import verdict_fields


def requirements(**verdicts: str) -> dict[str, dict[str, Any]]:
    """Requirement -> entry; a name ending in _S is a SHOULD, else a MUST."""
    return {
        name: {"level": "SHOULD" if name.endswith("_S") else "MUST", "verdict": verdict}
        for name, verdict in verdicts.items()
    }


def test_pass_counts_requirements_by_verdict() -> None:
    fields = verdict_fields(
        requirements(A="passed", B="finding", C_S="finding", D="broken", E="skipped", F="waived")
    )
    assert fields == {
        "verdict": "PASS",
        "verdict_line": "PASS: 0 MUST failures, 2 findings, 1 broken, 1 skipped, 1 waived "
        "(of 6 requirements)",
    }


def test_a_must_failure_fails() -> None:
    fields = verdict_fields(requirements(A="failed", B="passed"))
    assert fields["verdict_line"].startswith("FAIL: 1 MUST failures, 0 findings, 0 broken")


def test_a_promoted_should_and_a_fixed_waived_defect_fail_too() -> None:
    promoted = verdict_fields(requirements(A="passed", B_S="failed"))
    assert promoted["verdict"] == "FAIL"
    assert promoted["verdict_line"].endswith("; 1 other failures (promoted practices or SHOULDs)")
    fixed = verdict_fields(requirements(A="xpassed"))
    assert fixed["verdict"] == "FAIL"
    assert fixed["verdict_line"].endswith("; 1 waived defects no longer seen (remove the waivers)")


def test_expired_waivers_are_named_on_the_line() -> None:
    fields = verdict_fields(requirements(A="passed"), ["A (firmware *, until 2020-01-31): t"])
    assert fields["verdict_line"].endswith(
        "; 1 expired waivers: A (firmware *, until 2020-01-31): t"
    )
