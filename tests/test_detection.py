"""Detection self-test: the suite passes against the reference decoder and fails against each of
its built-in faults, on the requirements that describe the defect.

Each run is a separate pytest process with its own reference decoder, as a user would run it.
Which faults exist, the requirements each must fail and the suites each runs all come from the
one fault table, `reference_device.faults.FAULTS`; the fast tests at the top check that table
against spec/requirements.yaml and suites/.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from reference_device.faults import FAULTS, Fault, FaultInfo
from tests.conftest import ROOT, run_pytest
from tests.namespace import namespace_prefix, outside_signs

FAULT_IDS = [fault.value for fault in FAULTS]


def summary_of(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def failed_requirements(summary: dict[str, Any]) -> set[str]:
    return {r for r, e in summary["requirements"].items() if e["verdict"] == "failed"}


# -- the fault table (fast) ---------------------------------------------------------------------


def requirements_marked(node: ast.AST) -> set[str]:
    """Requirement IDs named by `*.req("ID")` calls under `node` (decorators, pytest.param)."""
    return {
        call.args[0].value
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "req"
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    }


def cases_in(suite: str) -> dict[str, set[str]]:
    """Test function (`file::name`) -> requirement IDs, for a suite path as the table gives it:
    a folder, a file, or a `file::test` node id. Empty if the path or the test does not exist."""
    path, _, test = suite.partition("::")
    target = ROOT / path
    files = sorted(target.rglob("test_*.py")) if target.is_dir() else [target]
    found: dict[str, set[str]] = {}
    for file in (f for f in files if f.is_file()):
        module = ast.parse(file.read_text("utf-8"))
        module_marks = set().union(
            *(
                requirements_marked(node)
                for node in module.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            )
        )
        for node in module.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                node.name.startswith("test_") if not test else node.name == test
            ):
                name = f"{file.relative_to(ROOT).as_posix()}::{node.name}"
                found[name] = module_marks | set().union(
                    *(requirements_marked(d) for d in node.decorator_list)
                )
    return found


def test_every_fault_has_one_row() -> None:
    assert list(FAULTS) == list(Fault), "FAULTS must hold one row per Fault, in the enum's order"
    assert all(isinstance(info, FaultInfo) for info in FAULTS.values())


@pytest.mark.parametrize("fault", list(FAULTS), ids=FAULT_IDS)
def test_fault_row_is_complete(fault: Fault) -> None:
    info = FAULTS[fault]
    assert info.text.strip(), f"{fault}: no text"
    assert info.requirements, f"{fault}: no requirement to fail"
    assert len(set(info.requirements)) == len(info.requirements), f"{fault}: repeated IDs"
    assert info.suites, f"{fault}: no suite to run"
    assert len(set(info.suites)) == len(info.suites), f"{fault}: repeated suites"


@pytest.mark.parametrize("fault", list(FAULTS), ids=FAULT_IDS)
def test_fault_requirements_are_in_the_catalogue_and_its_area(fault: Fault) -> None:
    info, catalogue = FAULTS[fault], Catalogue().requirements
    unknown = [r for r in info.requirements if r not in catalogue]
    assert not unknown, f"{fault}: not in spec/requirements.yaml: {unknown}"
    elsewhere = {r: catalogue[r].area for r in info.requirements if catalogue[r].area != info.area}
    assert not elsewhere, f"{fault} (area {info.area}): requirements of other areas {elsewhere}"


@pytest.mark.parametrize("fault", list(FAULTS), ids=FAULT_IDS)
def test_fault_suites_exist_and_hold_its_requirements(fault: Fault) -> None:
    info = FAULTS[fault]
    for suite in info.suites:
        path = suite.partition("::")[0]
        assert path.startswith("suites/") and ".." not in Path(path).parts, (
            f"{fault}: suite {suite!r} is not a path under suites/"
        )
        assert (ROOT / path).exists(), f"{fault}: suite {suite!r} does not exist"
        assert cases_in(suite), f"{fault}: suite {suite!r} holds no test case"
    covered = set().union(*(ids for s in info.suites for ids in cases_in(s).values()))
    missing = set(info.requirements) - covered
    assert not missing, f"{fault}: no case of {sorted(missing)} in its suites {info.suites}"


def test_every_fault_is_run_by_the_detection_self_test() -> None:
    marks = getattr(test_suite_catches_fault, "pytestmark", [])
    (parametrize,) = [m for m in marks if m.name == "parametrize"]
    assert list(parametrize.args[1]) == list(Fault)


# -- the suite against the reference decoder (slow: whole pytest runs) -------------------------

#: The whole suite against the reference decoder; with login enforced, the API suite (every
#: request then carries the token, which is what login changes).
CLEAN_RUNS = [
    ("suites", "profiles/reference.toml"),
    ("suites/api", "profiles/reference-login.toml"),
]


@pytest.mark.selftest
@pytest.mark.parametrize(("suites", "profile"), CLEAN_RUNS, ids=["reference", "reference-login"])
def test_suite_passes_against_the_reference_decoder_and_reports(
    tmp_path: Path, suites: str, profile: str
) -> None:
    alluredir, summary_path = tmp_path / "allure-results", tmp_path / "summary.json"
    basetemp = tmp_path / "base"
    # The whole suite runs where only loopback exists, so a case that makes the device (or the
    # harness) reach another host fails here instead of leaking traffic.
    prefix, why_not = namespace_prefix()
    run = run_pytest(
        suites,
        "--profile",
        profile,
        "--alluredir",
        str(alluredir),
        "--conformance-summary",
        str(summary_path),
        "--basetemp",
        str(basetemp),
        "-q",
        prefix=prefix or (),
    )
    assert run.returncode == 0, run.output[-4000:]
    signs = outside_signs(basetemp)
    assert not signs, "the reference decoder tried to resolve or reach outside:\n" + "\n".join(
        signs
    )
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
    if prefix is None:
        pytest.skip(f"passed, but outside a loopback-only namespace: {why_not}")


@pytest.mark.selftest
@pytest.mark.parametrize("fault", list(Fault), ids=[fault.value for fault in Fault])
def test_suite_catches_fault(tmp_path: Path, fault: Fault) -> None:
    info = FAULTS[fault]
    summary_path = tmp_path / "summary.json"
    run = run_pytest(
        *info.suites,
        "--reference-fault",
        fault.value,
        "--conformance-summary",
        str(summary_path),
        "-q",
    )
    assert run.returncode == 1, (
        f"the suite did not fail against fault {fault}:\n{run.output[-3000:]}"
    )
    summary = summary_of(summary_path)
    failed = failed_requirements(summary)
    missing = set(info.requirements) - failed
    assert not missing, (
        f"fault {fault}: expected {sorted(info.requirements)} to fail, failed {sorted(failed)}"
    )
    # The fault's own requirements must fail, not break. A case of another requirement may be
    # broken: it could not be exercised because of this very defect (the practice case for the
    # exact 486 cannot judge a second call the device wrongly took).
    broken = {
        req
        for req, entry in summary["requirements"].items()
        if req in info.requirements and any(case["verdict"] == "broken" for case in entry["cases"])
    }
    assert not broken, f"fault {fault} broke cases of {sorted(broken)} instead of failing them"
