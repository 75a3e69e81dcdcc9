"""plugin/gates.py waivers (applied, fixed, expired) and plugin/baseline.py (`--baseline`), in
pytest, in JUnit and in the summary's first lines.

One run of tiny conformance cases under suites/ in a pytester folder, with the real plugin, the
generic profile plus waivers, and a recorded baseline (no device: the cases take no device
fixture), as tests/.../test_verdicts.py does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.decoder_conformance.plugin.case_runs import GENERIC, OUTCOMES

pytest_plugins = ["pytester"]

CASES = """
import pytest

@pytest.mark.req("SIP-API-ENV-001")  # waived until 2999: the defect shows
def test_waived_defect():
    assert False, "no envelope"

@pytest.mark.req("SIP-API-ADD-001")  # waived, no expiry: the defect no longer shows
def test_waived_but_fixed():
    pass

@pytest.mark.req("SIP-API-LIST-001")  # waiver expired: the defect shows
def test_expired_defect():
    assert False, "list.json answered no list"

@pytest.mark.req("SIP-API-ADD-002")  # waiver expired: the defect no longer shows
def test_expired_but_fixed():
    pass

@pytest.mark.req("SIP-API-REM-001")  # a duty on a requirement whose waiver expired
def test_duty_under_expired_waiver(duties):
    duties("peer", lambda: {"SIP-API-MOD-001": ["modify.json changed nothing"]})

@pytest.mark.req("SIP-API-REM-003")
def test_plain():
    pass
"""

WAIVERS = """
[[waivers]]
requirement = "SIP-API-ENV-001"
reason = "ticket 7"
until = 2999-12-31
[[waivers]]
requirement = "SIP-API-ADD-001"
reason = "ticket 8"
[[waivers]]
requirement = "SIP-API-LIST-001"
reason = "ticket 9"
until = 2020-01-31
[[waivers]]
requirement = "SIP-API-ADD-002"
reason = "ticket 10"
firmware = "unk*"
until = "2020-02-01"
[[waivers]]
requirement = "SIP-API-MOD-001"
reason = "ticket 11"
until = 2020-03-01
"""

#: The previous run: requirement -> verdict.
BASELINE = {
    "SIP-API-ENV-001": "failed",  # now waived
    "SIP-API-ADD-001": "waived",  # now xpassed
    "SIP-API-LIST-001": "passed",  # now failed: a new MUST failure
    "SIP-API-ADD-002": "waived",  # now xpassed
    "SIP-API-REM-003": "failed",  # now passed: fixed
    "SIP-API-STAT-001": "passed",  # not in this run
}
EXPIRED = {
    "SIP-API-LIST-001": "SIP-API-LIST-001 (firmware *, until 2020-01-31): ticket 9",
    "SIP-API-ADD-002": "SIP-API-ADD-002 (firmware unk*, until 2020-02-01): ticket 10",
    "SIP-API-MOD-001": "SIP-API-MOD-001 (firmware *, until 2020-03-01): ticket 11",
}


def setup(pytester: pytest.Pytester) -> tuple[Path, Path]:
    """The cases, the profile (generic.toml plus WAIVERS) and the baseline summary."""
    pytester.makefile(".py", **{"suites/test_waiver_cases": CASES})
    profile = pytester.path / "profile.toml"
    profile.write_text(GENERIC.read_text("utf-8") + WAIVERS, "utf-8")
    baseline = pytester.path / "previous.json"
    requirements = {
        req: {"level": "MUST", "verdict": verdict, "cases": []} for req, verdict in BASELINE.items()
    }
    document = {"device": {"model": "D100", "firmware": "2.4.0"}, "requirements": requirements}
    baseline.write_text(json.dumps(document), "utf-8")
    return profile, baseline


def test_waivers_expiry_and_baseline_in_one_run(pytester: pytest.Pytester) -> None:
    profile, baseline = setup(pytester)
    summary_path, junit_path = pytester.path / "summary.json", pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "suites",
        "--profile",
        str(profile),
        "--conformance-summary",
        str(summary_path),
        "--junitxml",
        str(junit_path),
        "--baseline",
        str(baseline),
        "-rA",
    )
    outcomes: dict[str, set[str]] = {}
    for line in result.outlines:
        for word in OUTCOMES:
            if line.startswith(word + " ") and "::" in line:
                outcomes.setdefault(line.split("::")[1].split()[0], set()).add(word)
    output = result.stdout.str()
    assert outcomes == {
        "test_waived_defect": {"XFAIL"},
        "test_waived_but_fixed": {"FAILED"},
        "test_expired_defect": {"FAILED"},
        "test_expired_but_fixed": {"FAILED"},
        "test_duty_under_expired_waiver": {"PASSED", "ERROR"},
        "test_plain": {"PASSED"},
    }, output

    # Every expired waiver is named at the top and at the end of the terminal output.
    header, _, end = output.partition("collected")
    for described in EXPIRED.values():
        assert f"EXPIRED WAIVER in {profile}, not applied (its cases fail): {described}" in header
        assert f"EXPIRED WAIVER in {profile}, not applied (its cases fail): {described}" in end
    # Their cases fail naming them: a defect still there, a fixed defect (as a strict XPASS).
    junit = junit_path.read_text("utf-8")
    assert f"so this failure counts: {EXPIRED['SIP-API-LIST-001']}" in junit
    assert f"[XPASS(strict)] EXPIRED WAIVER in {profile}: {EXPIRED['SIP-API-ADD-002']}" in junit

    summary = json.loads(summary_path.read_text("utf-8"))
    verdicts = {req: entry["verdict"] for req, entry in summary["requirements"].items()}
    assert verdicts == {
        "SIP-API-ENV-001": "waived",
        "SIP-API-ADD-001": "xpassed",
        "SIP-API-LIST-001": "failed",
        "SIP-API-ADD-002": "xpassed",
        "SIP-API-MOD-001": "failed",  # an expired waiver does not waive a duty either
        "SIP-API-REM-001": "passed",
        "SIP-API-REM-003": "passed",
    }
    assert summary["expired_waivers"] == list(EXPIRED.values())
    assert summary["verdict"] == "FAIL"
    line = (
        "FAIL: 2 MUST failures, 0 findings, 0 broken, 0 skipped, 1 waived (of 7 requirements); "
        "2 waived defects no longer seen (remove the waivers); 3 expired waivers: "
        + "; ".join(EXPIRED.values())
    )
    assert summary["verdict_line"] == line
    since = summary["since"]
    headline = (
        f"since {baseline} (D100 2.4.0): +2 new failures, 1 fixed, 2 waivers to remove, "
        "1 requirements gone, 1 requirements new, 1 newly waived"
    )
    assert since["line"] == headline
    assert since["new_must_failures"] == ["SIP-API-LIST-001", "SIP-API-MOD-001"]
    assert [c["requirement"] for c in since["changes"]["fixed"]] == ["SIP-API-REM-003"]
    assert [c["requirement"] for c in since["changes"]["gone"]] == ["SIP-API-STAT-001"]
    assert [c["requirement"] for c in since["changes"]["new"]] == ["SIP-API-REM-001"]

    # summary.md starts with the verdict, then what changed; the details follow.
    markdown = summary_path.with_suffix(".md").read_text("utf-8").splitlines()
    assert markdown[:3] == [line, "", headline]
    assert "## Since the baseline" in markdown and "### New failures (2)" in markdown
    assert "## Expired waivers (not applied: their cases fail)" in markdown
    # The terminal ends with the same.
    assert "since the baseline" in end and headline in end
    assert "new failures: SIP-API-LIST-001 (passed -> failed), SIP-API-MOD-001" in end


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--conformance-summary", "s.json", "--baseline", "missing.json"), "missing.json"),
        (("--baseline", "previous.json"), "give --conformance-summary PATH too"),
    ],
)
def test_a_bad_baseline_stops_the_run_at_startup(
    pytester: pytest.Pytester, args: tuple[str, ...], says: str
) -> None:
    profile, _baseline = setup(pytester)
    result = pytester.runpytest_subprocess("suites", "--profile", str(profile), *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str(), result.stderr.str()
    assert "--baseline" in result.stderr.str()
