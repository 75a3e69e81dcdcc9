"""The --quick selection: one case per requirement, the one carrying its strongest check.

A pre-merge gate: every requirement the full run covers is covered, by one case each, and the
other cases are deselected (reported deselected, not skipped). Which case is a requirement's
strongest is decided at collection by one rule over what the cases themselves say, so there is
no hand-kept list to rot:

1. a case the profile lets run (no capability, edition or reading skip) over one it skips: a
   skipped case checks nothing;
2. a case that declares itself the strongest, ``@pytest.mark.req("ID", strongest=True)`` (or on
   one ``pytest.param``): the author's word, next to the check;
3. otherwise the first in collection order: a module's first case is its main check and a
   parametrized case's first parameter set its base (the suites are written that way; a
   variant that is stronger says so with rule 2).

A requirement all of whose cases the profile skips keeps one, skipped as in the full run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pytest

from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.stash import is_suite_case, item_req


@dataclass(frozen=True)
class Candidate:
    """A case as the rule sees it."""

    nodeid: str
    requirement: str
    #: The profile lets it run (no skip mark from the gate).
    applicable: bool
    #: Its req marker says strongest=True.
    declared: bool
    #: Its place in collection order.
    order: int


def strongest_cases(candidates: Iterable[Candidate]) -> dict[str, str]:
    """Requirement -> the node id of its strongest case, by the module's rule.

    Raises ValueError when two cases of one requirement both declare themselves strongest.
    """
    best: dict[str, Candidate] = {}
    declared: dict[str, list[str]] = {}
    for case in candidates:
        if case.declared:
            declared.setdefault(case.requirement, []).append(case.nodeid)
        current = best.get(case.requirement)
        if current is None or _rank(case) < _rank(current):
            best[case.requirement] = case
    twice = {req: ids for req, ids in declared.items() if len(ids) > 1}
    if twice:
        raise ValueError(
            "more than one case declares itself the strongest of a requirement: "
            + "; ".join(f"{req}: {', '.join(ids)}" for req, ids in sorted(twice.items()))
        )
    return {req: case.nodeid for req, case in best.items()}


def _rank(case: Candidate) -> tuple[bool, bool, int]:
    return (not case.applicable, not case.declared, case.order)


def declares_strongest(item: pytest.Item) -> bool:
    """True when the case's closest req marker says strongest=True."""
    mark = item.get_closest_marker("req")
    return bool(mark is not None and mark.kwargs.get("strongest", False))


def candidate(item: pytest.Item, order: int) -> Candidate:
    """The rule's view of one collected case."""
    return Candidate(
        nodeid=item.nodeid,
        requirement=item_req(item),
        applicable=item.get_closest_marker("skip") is None,
        declared=declares_strongest(item),
        order=order,
    )


def select(items: list[pytest.Item]) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(kept, deselected): the strongest suite case per requirement; project tests are kept."""
    cases = [(n, item) for n, item in enumerate(items) if is_suite_case(item)]
    try:
        chosen = set(strongest_cases(candidate(item, n) for n, item in cases).values())
    except ValueError as exc:
        raise usage(f"--quick: {exc}") from None
    kept = [i for i in items if not is_suite_case(i) or i.nodeid in chosen]
    dropped = [i for i in items if is_suite_case(i) and i.nodeid not in chosen]
    return kept, dropped


def requirements_of(items: Iterable[pytest.Item]) -> Mapping[str, int]:
    """Requirement -> number of suite cases carrying it (for the coverage check)."""
    counts: dict[str, int] = {}
    for item in items:
        if is_suite_case(item):
            req = item_req(item)
            counts[req] = counts.get(req, 0) + 1
    return counts


def pytest_addoption(parser: pytest.Parser) -> None:
    """--quick, in the suite's option group."""
    group = parser.getgroup("decoder")
    group.addoption(
        "--quick",
        action="store_true",
        default=False,
        help="pre-merge gate: run one case per requirement, the one carrying its strongest "
        "check (a case the profile lets run; one marked @req(ID, strongest=True); else the "
        "first collected); the others are deselected",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After the gates marked skips and any -k/-m deselection: keep the strongest per req."""
    if not config.getoption("quick"):
        return
    kept, dropped = select(items)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
