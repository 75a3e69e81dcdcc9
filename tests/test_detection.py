"""Detection self-test: the suite passes against the reference decoder and fails against each of
its built-in faults, on the requirements that describe the defect (not on unrelated ones).

Each run is a separate pytest process with its own reference decoder, as a user would run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from tests.conftest import run_pytest

pytestmark = pytest.mark.selftest

#: fault -> requirements whose cases must fail against a decoder with that fault.
#: Only cases that fail on every run are listed; a fault may fail more (e.g. remove_keeps_listed
#: fills the device up and later adds are refused).
API_FAULTS: dict[str, set[str]] = {
    "remove_keeps_listed": {"SIP-API-REM-001", "SIP-API-REM-002"},
    "modify_ignores_realm": {"SIP-API-MOD-001", "SIP-API-ENV-003"},
    "unknown_id_wrong_code": {
        "SIP-API-ACC-002",
        "SIP-API-CFG-003",
        "SIP-API-MOD-007",
        "SIP-API-MCFG-007",
        "SIP-API-REM-002",
        "SIP-API-STAT-005",
        "SIP-API-ANS-002",
        "SIP-API-HUP-002",
    },
    "register_port_string": {"SIP-API-ACC-001", "SIP-API-ACC-003"},
    "call_views_disagree": {"SIP-API-VIEW-001", "SIP-API-MCFG-003"},
    "status_unknown_ok": {"SIP-API-STAT-005"},
    "id_reused": {"SIP-API-ADD-008"},
    "partial_modify": {"SIP-API-MOD-003", "SIP-API-ENV-004"},
    "post_body_ignored": {"SIP-API-ENV-003"},
}
SIP_FAULTS: dict[str, set[str]] = {
    "refresh_requested_expiry": {"SIP-REG-006"},
    "no_unregister_on_remove": {"SIP-REG-007"},
}
CALL_FAULTS: dict[str, set[str]] = {
    "policy1_accepts_second": {"SIP-CALL-POL-001"},
    "bodyless_invite_488": {"SIP-CALL-SDP-001"},
    "hangup_sends_nothing": {"SIP-CALL-HUP-001"},
    "pt_renumbered": {"SIP-CALL-SDP-003"},
}
MEDIA_FAULTS: dict[str, set[str]] = {
    "bitrate_bytes": {"SIP-MED-BR-001"},
    "bitrate_stuck_after_bye": {"SIP-MED-BR-002"},
    "fua_broken": {"SIP-MED-FRM-001"},
}
#: Each fault is run against the suites that cover its area (the whole suite per fault would
#: take many minutes; the clean run below covers every folder). Media cases stream in real
#: time, so a media fault runs only the file that holds its cases.
FOLDER = {
    **dict.fromkeys(API_FAULTS, "suites/api"),
    **dict.fromkeys(SIP_FAULTS, "suites/sip"),
    **dict.fromkeys(CALL_FAULTS, "suites/calls"),
    "bitrate_bytes": "suites/media/test_bitrate.py::test_reported_bitrate_matches_sent",
    "bitrate_stuck_after_bye": "suites/media/test_bitrate.py::test_bitrate_zero_after_bye",
    "fua_broken": "suites/media/test_decoding.py",
}
EXPECTED = API_FAULTS | SIP_FAULTS | CALL_FAULTS | MEDIA_FAULTS


def summary_of(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def failed_requirements(summary: dict[str, Any]) -> set[str]:
    return {r for r, e in summary["requirements"].items() if e["verdict"] == "failed"}


def test_every_fault_has_a_detection_case() -> None:
    from reference_device.faults import FAULTS

    assert set(FAULTS) == set(EXPECTED), (
        f"faults without a detection expectation: {set(FAULTS) - set(EXPECTED)}; "
        f"expectations for unknown faults: {set(EXPECTED) - set(FAULTS)}"
    )


#: The whole suite against the reference decoder; with login enforced, the API suite (every
#: request then carries the token, which is what login changes).
CLEAN_RUNS = [
    ("suites", "profiles/reference.toml"),
    ("suites/api", "profiles/reference-login.toml"),
]


@pytest.mark.parametrize(("suites", "profile"), CLEAN_RUNS, ids=["reference", "reference-login"])
def test_suite_passes_against_the_reference_decoder_and_reports(
    tmp_path: Path, suites: str, profile: str
) -> None:
    alluredir, summary_path = tmp_path / "allure-results", tmp_path / "summary.json"
    run = run_pytest(
        suites,
        "--profile",
        profile,
        "--alluredir",
        str(alluredir),
        "--conformance-summary",
        str(summary_path),
        "-q",
    )
    assert run.returncode == 0, run.output[-4000:]
    summary = summary_of(summary_path)
    counts = summary["cases"]
    assert counts["failed"] == counts["broken"] == counts["xpassed"] == 0, counts
    assert counts["passed"] >= 60, counts
    results = [json.loads(p.read_text("utf-8")) for p in alluredir.glob("*-result.json")]
    assert len(results) == sum(counts.values()), "one Allure result per case"
    catalogue = Catalogue().requirements
    for result in results:
        labels = {(label["name"], label["value"]) for label in result["labels"]}
        ids = [value for name, value in labels if name == "as_id"]
        assert len(ids) == 1 and ids[0] in catalogue, f"{result['fullName']}: AS_ID labels {ids}"
        assert ("story", ids[0]) in labels and ("severity", catalogue[ids[0]].severity) in labels
    assert (alluredir / "environment.properties").is_file()
    assert (alluredir / "categories.json").is_file()


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_suite_catches_fault(tmp_path: Path, fault: str) -> None:
    summary_path = tmp_path / "summary.json"
    run = run_pytest(
        FOLDER[fault], "--reference-fault", fault, "--conformance-summary", str(summary_path), "-q"
    )
    assert run.returncode == 1, (
        f"the suite did not fail against fault {fault}:\n{run.output[-3000:]}"
    )
    summary = summary_of(summary_path)
    failed = failed_requirements(summary)
    missing = EXPECTED[fault] - failed
    assert not missing, (
        f"fault {fault}: expected {sorted(EXPECTED[fault])} to fail, failed {sorted(failed)}"
    )
    assert summary["cases"]["broken"] == 0, f"fault {fault} broke cases instead of failing them"
