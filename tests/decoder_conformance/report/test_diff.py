"""report/diff.py and bin/diff: what changed between two conformance summaries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.report.diff import (
    CATEGORIES,
    VERDICTS,
    Baseline,
    SummaryFileError,
    diff_summaries,
    load_baseline,
    main,
)
from decoder_conformance.report.summary import ORDER
from tests.conftest import ROOT

RECORDED = Path(__file__).parent / "summaries"
CLEAN, FAULTS = RECORDED / "sip-clean.json", RECORDED / "sip-faults.json"
#: What the recorded fault run broke (see summaries/README.md).
FAULT_FAILURES = ["SIP-REG-001", "SIP-REG-015", "SIP-REG-LIFE-001", "SIP-STAT-TRACE-003"]


def summary(verdicts: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A minimal summary document: requirement -> verdict (a "-S" suffix makes it a SHOULD)."""
    requirements = {
        req.removesuffix("-S"): {
            "level": "SHOULD" if req.endswith("-S") else "MUST",
            "verdict": verdict,
            "cases": [{"nodeid": f"suites/x.py::test_{req.lower()}", "verdict": verdict}],
        }
        for req, verdict in verdicts.items()
    }
    return {"device": {"model": "D100", "firmware": "2.4.1"}, "requirements": requirements, **extra}


def test_verdicts_are_the_summarys() -> None:
    assert VERDICTS == ORDER


def test_each_change_lands_in_one_category() -> None:
    old = summary(
        {
            "A-NEW-FAIL": "passed",
            "B-STILL-FAILS": "failed",
            "C-FIXED": "failed",
            "D-BROKEN": "passed",
            "E-WAIVED": "failed",
            "F-SKIPPED": "passed",
            "G-UNSKIPPED": "skipped",
            "H-FINDING-S": "passed",
            "I-FINDING-GONE-S": "finding",
            "J-GONE": "passed",
            "K-XPASS": "waived",
            "L-UNBROKEN": "broken",
            "M-SKIP-TO-FAIL": "skipped",
        }
    )
    new = summary(
        {
            "A-NEW-FAIL": "failed",
            "B-STILL-FAILS": "failed",
            "C-FIXED": "passed",
            "D-BROKEN": "broken",
            "E-WAIVED": "waived",
            "F-SKIPPED": "skipped",
            "G-UNSKIPPED": "passed",
            "H-FINDING-S": "finding",
            "I-FINDING-GONE-S": "passed",
            "K-XPASS": "xpassed",
            "L-UNBROKEN": "passed",
            "M-SKIP-TO-FAIL": "failed",
            "N-NEW": "passed",
            "O-NEW-FAIL": "failed",
        }
    )
    diff = diff_summaries(Baseline("old.json", old), new)
    got = {name: [c.requirement for c in changes] for name, changes in diff.changes.items()}
    assert got == {
        "new_failures": ["A-NEW-FAIL", "M-SKIP-TO-FAIL", "O-NEW-FAIL"],
        "newly_broken": ["D-BROKEN"],
        "waivers_to_remove": ["K-XPASS"],
        "gone": ["J-GONE"],
        "new": ["N-NEW"],
        "fixed": ["C-FIXED"],
        "findings_appeared": ["H-FINDING"],
        "newly_waived": ["E-WAIVED"],
        "newly_skipped": ["F-SKIPPED"],
        "unskipped": ["G-UNSKIPPED"],
        "findings_gone": ["I-FINDING-GONE"],
        "unbroken": ["L-UNBROKEN"],
    }
    assert set(got) <= set(CATEGORIES)
    [skip_to_fail] = [c for c in diff.changes["new_failures"] if c.requirement == "M-SKIP-TO-FAIL"]
    assert (skip_to_fail.old, skip_to_fail.new) == ("skipped", "failed")
    assert skip_to_fail.cases == ("suites/x.py::test_m-skip-to-fail",)
    assert diff.headline() == (
        "since old.json (D100 2.4.1): +3 new failures, 1 fixed, 1 newly broken, "
        "1 waivers to remove, 1 requirements gone, 1 requirements new, 1 findings appeared, "
        "1 newly waived, 1 newly skipped, 1 un-skipped, 1 findings gone, 1 no longer broken"
    )


def test_only_must_failures_are_regressions() -> None:
    old = summary({"A": "passed", "B-S": "passed"})
    diff = diff_summaries(Baseline("old.json", old), summary({"A": "passed", "B-S": "failed"}))
    assert [c.requirement for c in diff.changes["new_failures"]] == ["B"]
    assert diff.new_must_failures == ()
    diff = diff_summaries(Baseline("old.json", old), summary({"A": "failed", "B-S": "passed"}))
    assert [c.requirement for c in diff.new_must_failures] == ["A"]


def test_nothing_changed_says_so() -> None:
    same = summary({"A": "failed", "B": "passed"})
    diff = diff_summaries(Baseline("old.json", same), same)
    assert not diff.changes and diff.new_must_failures == ()
    assert diff.headline() == "since old.json (D100 2.4.1): +0 new failures, 0 fixed"
    assert diff.markdown()[-1] == "No verdict, reading or error code changed."


def test_readings_and_codes_that_changed() -> None:
    def observed(id_type: str | None, seen: list[str], codes: dict[str, int]) -> dict[str, Any]:
        readings = {
            "id_type": {"requirement": "SIP-API-LIST-002", "reading": id_type, "seen": seen},
            "answer_dir": {"requirement": "SIP-CALL-ANS-001", "reading": None, "seen": []},
        }
        return summary({"A": "passed"}, readings=readings, codes_seen={"unknown_id": codes})

    old = observed("json_integer", ["json_integer"], {"1202": 3})
    new = observed("decimal_string", ["decimal_string"], {"9002": 3})
    diff = diff_summaries(Baseline("old.json", old), new)
    assert [(r.name, r.requirement, r.old, r.new) for r in diff.readings] == [
        ("id_type", "SIP-API-LIST-002", "json_integer", "decimal_string")
    ]
    assert [(c.name, c.old, c.new) for c in diff.codes] == [("unknown_id", "1202", "9002")]
    assert diff.headline().endswith("1 readings changed, 1 error codes changed")
    # A point one run did not observe is not a change (a partial run is not a new reading).
    unobserved = observed(None, [], {})
    assert not diff_summaries(Baseline("old.json", old), unobserved).readings
    assert not diff_summaries(Baseline("old.json", old), unobserved).codes


def test_to_json_carries_every_change() -> None:
    old = summary({"A": "passed", "B": "failed"})
    data = diff_summaries(Baseline("old.json", old), summary({"A": "failed", "B": "passed"}))
    document = json.loads(json.dumps(data.to_json()))
    assert document["new_must_failures"] == ["A"]
    assert document["counts"]["new_failures"] == 1 and document["counts"]["fixed"] == 1
    assert document["changes"]["fixed"][0] == {
        "requirement": "B",
        "level": "MUST",
        "old": "failed",
        "new": "passed",
        "cases": ["suites/x.py::test_b"],
    }
    assert document["line"].startswith("since old.json (D100 2.4.1): +1 new failures, 1 fixed")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read summary"),
        ("{", "not JSON"),
        ("[]", "no requirements table"),
        ('{"requirements": {"A": {"verdict": "green"}}}', "requirements.A.verdict is 'green'"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_summary_is_refused_naming_the_file(
    tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    path = tmp_path / "previous.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(SummaryFileError) as caught:
        load_baseline(path)
    assert str(path) in str(caught.value) and says in str(caught.value), str(caught.value)


def test_recorded_runs_new_failures_and_the_reading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(CLEAN), str(FAULTS)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"# Conformance diff: {CLEAN} (generic (no --profile given) unknown)")
    assert f"since {CLEAN} (generic (no --profile given) unknown): +4 new failures, 0 fixed" in out
    for req in FAULT_FAILURES:
        assert f"| {req} | MUST | passed | failed |" in out
    assert "| id_type | SIP-API-LIST-002 | json_integer | decimal_string |" in out
    assert err == f"bin/diff: new MUST failures: {', '.join(FAULT_FAILURES)}\n"
    # The other way round the same four are fixes, and nothing regressed.
    assert main([str(FAULTS), str(CLEAN)]) == 0
    out, err = capsys.readouterr()
    assert "+0 new failures, 4 fixed, 1 readings changed" in out and not err


def test_bin_diff_exit_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "bin" / "diff"), *args], capture_output=True, text=True, check=False
        )

    regressed = run(str(CLEAN), str(FAULTS))
    assert regressed.returncode == 1, regressed.stderr
    assert "### New failures (4)" in regressed.stdout
    assert run(str(CLEAN), str(CLEAN)).returncode == 0
    missing = run(str(CLEAN), str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and str(tmp_path / "nope.json") in missing.stderr
