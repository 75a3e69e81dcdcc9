"""Negative controls: which MUST requirements have a check shown to fail on a bad observation.

    .venv/bin/python -m tests.test_negative_controls      # the ratio, by area, and what lacks one

A MUST requirement here is one a device can fail: level MUST with basis page, rfc or reading, in
spec/requirements.yaml and spec/requirements-gb28181.yaml (basis standard, the GB/T 28181
clauses, is counted apart). It has a negative control when

* a built-in fault of the reference decoder names it (`reference_device.faults.FAULTS`; the
  detection self-test, tests/test_detection.py, shows its cases fail with the fault on), or
* a project test under tests/ carries `@pytest.mark.negative_control("ID", ...)`: the test feeds
  the requirement's check (the function the case calls) a recorded bad observation (a canned
  answer, a recorded status series, a recorded SIP exchange) and sees it fail.

The marks are found by an AST scan, as tests/test_detection.py finds the `req` marks of suites/.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

from decoder_conformance.contract.catalogue import Catalogue, Requirement
from reference_device.faults import FAULTS
from tests.conftest import ROOT

#: The bases whose MUST requirements can fail a device (a practice is never a MUST).
MUST_BASES = ("page", "rfc", "reading")
#: The count this tree reached (100 of 100, docs/validation.md): it may grow, never fall
#: silently. Raise it to the count when merged work settles.
FLOOR = 125


def _marked_ids(decorators: list[ast.expr]) -> set[str]:
    return {
        arg.value
        for decorator in decorators
        for call in ast.walk(decorator)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "negative_control"
        for arg in call.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }


def marked_controls(root: Path = ROOT / "tests") -> dict[str, set[str]]:
    """Requirement ID -> the project tests (`path::name`) marked as its negative controls."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for req in _marked_ids(node.decorator_list):
                    found[req].add(f"{path.relative_to(root.parent).as_posix()}::{node.name}")
    return dict(found)


def misplaced_marks(root: Path = ROOT / "tests") -> list[str]:
    """`negative_control` calls that decorate no test function (a helper, a module constant)."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        on_tests = {
            id(call)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            for decorator in node.decorator_list
            for call in ast.walk(decorator)
        }
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "negative_control"
                and id(call) not in on_tests
            ):
                problems.append(f"{path.relative_to(root.parent).as_posix()}:{call.lineno}")
    return problems


def fault_controls() -> dict[str, set[str]]:
    """Requirement ID -> the built-in faults whose cases must fail it."""
    found: dict[str, set[str]] = defaultdict(set)
    for fault, info in FAULTS.items():
        for req in info.requirements:
            found[req].add(f"fault {fault.value}")
    return dict(found)


def must_requirements(catalogue: Catalogue | None = None) -> list[Requirement]:
    """Every MUST a device can fail, in catalogue order."""
    requirements = (catalogue or Catalogue()).requirements.values()
    return [r for r in requirements if r.level == "MUST" and r.basis in MUST_BASES]


def controls() -> dict[str, set[str]]:
    """Requirement ID -> every negative control it has (faults and marked tests)."""
    merged: dict[str, set[str]] = defaultdict(set)
    for source in (fault_controls(), marked_controls()):
        for req, names in source.items():
            merged[req] |= names
    return dict(merged)


def ratio() -> tuple[list[Requirement], list[Requirement]]:
    """(the MUSTs with a negative control, every MUST)."""
    musts = must_requirements()
    known = controls()
    return [r for r in musts if known.get(r.id)], musts


# -- the checks -----------------------------------------------------------------------------------


def test_every_marked_id_is_a_requirement() -> None:
    requirements = Catalogue().requirements
    unknown = {req: tests for req, tests in marked_controls().items() if req not in requirements}
    assert not unknown, f"negative_control marks naming no requirement: {unknown}"


def test_marks_decorate_test_functions() -> None:
    problems = misplaced_marks()
    assert not problems, f"negative_control marks on no test function: {problems}"


def test_the_scan_finds_marks(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n"
        '@pytest.mark.negative_control("A-1", "B-2")\n'
        "def test_one():\n    pass\n\n"
        "class TestGroup:\n"
        '    @pytest.mark.negative_control("A-1")\n'
        "    def test_two(self):\n        pass\n",
        "utf-8",
    )
    found = marked_controls(tmp_path)
    assert set(found) == {"A-1", "B-2"}
    assert len(found["A-1"]) == 2 and len(found["B-2"]) == 1


def test_the_ratio_does_not_fall() -> None:
    covered, musts = ratio()
    assert len(covered) >= FLOOR, (
        f"{len(covered)} of {len(musts)} MUST requirements have a negative control, below the "
        f"{FLOOR} this tree reached (a fault row or a negative_control mark was lost)"
    )


def out(line: str) -> None:
    """One line of the report on stdout."""
    sys.stdout.write(line + "\n")


def main() -> int:
    """Print the ratio, per area, and the MUSTs without a negative control."""
    covered, musts = ratio()
    known = controls()
    by_fault = {r.id for r in musts if any(n.startswith("fault ") for n in known.get(r.id, ()))}
    by_test = {r.id for r in musts if any("::" in n for n in known.get(r.id, ()))}
    out(
        f"MUST requirements (basis {', '.join(MUST_BASES)}) with a negative control: "
        f"{len(covered)} of {len(musts)} ({len(covered) / len(musts):.0%}); "
        f"{len(by_fault)} by a built-in fault, {len(by_test)} by a marked project test, "
        f"{len(by_fault & by_test)} by both"
    )
    areas: dict[str, list[Requirement]] = defaultdict(list)
    for requirement in musts:
        areas[requirement.area].append(requirement)
    for area, members in sorted(areas.items()):
        have = sum(1 for r in members if known.get(r.id))
        out(f"  {area:6s} {have:3d} of {len(members):3d}")
    standard = [
        r for r in Catalogue().requirements.values() if r.level == "MUST" and r.basis == "standard"
    ]
    out(
        f"GB/T 28181 MUSTs (basis standard, counted apart): "
        f"{sum(1 for r in standard if known.get(r.id))} of {len(standard)}"
    )
    missing = [r.id for r in musts if not known.get(r.id)]
    out(f"without one ({len(missing)}): {' '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
