"""--quick: one case per requirement, chosen by rule, covering every requirement the full run does.

The rule is tested on made-up candidates; the coverage is checked on the real suites, from one
collection-only run with this module loaded as a plugin (`-p tests.test_quick`): its hooks below
record the requirements of every collected case before --quick chooses, and of the cases kept.
"""

from __future__ import annotations

import json

import pytest

from decoder_conformance.plugin.quick import Candidate, strongest_cases
from tests.conftest import run_pytest

REPORT_PREFIX = "QUICK-COVERAGE "
ALL_REQS = pytest.StashKey[dict[str, int]]()
DESELECTED = pytest.StashKey[list[str]]()
KEPT_REQS = pytest.StashKey[dict[str, int]]()


def case(
    nodeid: str, req: str, order: int, *, applicable: bool = True, declared: bool = False
) -> Candidate:
    return Candidate(nodeid, req, applicable, declared, order)


def test_first_collected_case_of_a_requirement_is_its_strongest_by_default() -> None:
    chosen = strongest_cases(
        [case("a[1]", "R-1", 0), case("a[2]", "R-1", 1), case("b", "R-2", 2), case("c", "R-1", 3)]
    )
    assert chosen == {"R-1": "a[1]", "R-2": "b"}


def test_a_declared_strongest_case_wins_over_collection_order() -> None:
    chosen = strongest_cases(
        [case("a[1]", "R-1", 0), case("a[5pct]", "R-1", 1, declared=True), case("b", "R-1", 2)]
    )
    assert chosen == {"R-1": "a[5pct]"}


def test_a_case_the_profile_skips_loses_to_one_that_runs() -> None:
    chosen = strongest_cases(
        [
            case("tcp", "R-1", 0, applicable=False, declared=True),
            case("udp", "R-1", 1),
            case("only", "R-2", 2, applicable=False),
        ]
    )
    # R-2 keeps its only case, skipped as in the full run: still covered, never passed.
    assert chosen == {"R-1": "udp", "R-2": "only"}


def test_two_cases_declared_strongest_for_one_requirement_are_refused() -> None:
    with pytest.raises(ValueError, match=r"R-1: a, b"):
        strongest_cases([case("a", "R-1", 0, declared=True), case("b", "R-1", 1, declared=True)])


def test_quick_covers_every_requirement_the_full_run_covers_with_one_case_each() -> None:
    run = run_pytest("suites", "--collect-only", "-q", "--quick", "-p", "tests.test_quick")
    assert run.returncode == 0, run.output[-3000:]
    line = next((x for x in run.output.splitlines() if x.startswith(REPORT_PREFIX)), None)
    assert line is not None, f"the probe plugin printed nothing:\n{run.output[-3000:]}"
    found = json.loads(line.removeprefix(REPORT_PREFIX))
    full: dict[str, int] = found["full"]
    kept: dict[str, int] = found["kept"]
    assert len(full) > 100, f"too few requirements collected to judge: {len(full)}"
    missing = sorted(set(full) - set(kept))
    assert not missing, f"--quick leaves requirements uncovered: {missing}"
    doubled = {req: n for req, n in kept.items() if n != 1}
    assert not doubled, f"--quick keeps more than one case of: {doubled}"
    # Deselected, not skipped: the rest of the collection is reported as deselected.
    assert found["deselected"] == sum(full.values()) - len(kept)
    assert f"({found['deselected']} deselected)" in run.output


# -- the probe plugin (loaded only in the subprocess above, with -p tests.test_quick) ----------


def _suite_reqs(items: list[pytest.Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        mark = item.get_closest_marker("req")
        if mark is not None and item.nodeid.startswith("suites/"):
            counts[str(mark.args[0])] = counts.get(str(mark.args[0]), 0) + 1
    return counts


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[ALL_REQS] = _suite_reqs(items)
    config.stash[DESELECTED] = []


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[DESELECTED].extend(i.nodeid for i in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    config.stash[KEPT_REQS] = _suite_reqs(session.items)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    report = {
        "full": config.stash[ALL_REQS],
        "kept": config.stash[KEPT_REQS],
        "deselected": len(config.stash[DESELECTED]),
    }
    terminalreporter.write_line(f"{REPORT_PREFIX}{json.dumps(report)}")
