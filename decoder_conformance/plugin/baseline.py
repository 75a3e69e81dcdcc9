"""Run-to-run diff against a previous run's summary: `--baseline PATH`.

With `--baseline reports-previous/summary.json` the summary this run writes (summary.json and
summary.md, `--conformance-summary`) says what changed since that run, per requirement (new
failures, fixes, newly waived, skipped or broken, readings and error codes that changed: see
report/diff.py), with a one-line "since ..." under the verdict line, and the terminal shows the
same at the end. The baseline is read and checked at start-up: a file that is missing, unreadable
or not a conformance summary stops the run before any case, naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.stash import SUITE_CONFIG, SUMMARY
from decoder_conformance.report.diff import CATEGORIES, SummaryFileError, load_baseline

#: Requirements listed per category at the end of the terminal output (all are in the summary).
TERMINAL_MOST = 10


def pytest_addoption(parser: pytest.Parser) -> None:
    """--baseline PATH (env DECODER_BASELINE)."""
    group = parser.getgroup("decoder")
    group.addoption(
        "--baseline",
        default=os.environ.get("DECODER_BASELINE", ""),
        metavar="PATH",
        help="a previous run's summary.json (env DECODER_BASELINE): the summary this run writes "
        "(--conformance-summary) and the end of the terminal output list what changed since "
        "it, per requirement",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Read the baseline now, so a bad one stops the run before any case (after options.py)."""
    option = str(config.getoption("baseline")).strip()
    suite = config.stash.get(SUITE_CONFIG, None)
    if not option or suite is None:
        return
    if suite.summary_path is None:
        raise usage(
            f"--baseline {option}: the diff goes into the run's summary; give "
            "--conformance-summary PATH too (bin/conformance does)"
        )
    try:
        baseline = load_baseline(Path(option))
    except SummaryFileError as exc:
        raise usage(f"--baseline {exc}") from None
    config.stash[SUMMARY].baseline = baseline


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What changed since the baseline, at the end of the run (once the summary is written)."""
    summary = terminalreporter.config.stash.get(SUMMARY, None)
    diff = summary.since if summary is not None else None
    if diff is None:
        return
    regressed = bool(diff.count("new_failures"))
    terminalreporter.section("since the baseline", sep="=", red=regressed, green=not regressed)
    terminalreporter.write_line(diff.headline(), red=regressed, bold=True)
    for name, (title, _fits) in CATEGORIES.items():
        changes = diff.changes.get(name, ())
        if changes:
            listed = ", ".join(
                f"{c.requirement} ({c.old or 'not run'} -> {c.new or 'not run'})"
                for c in changes[:TERMINAL_MOST]
            )
            more = len(changes) - TERMINAL_MOST
            listed += f" (+{more} more in the summary)" if more > 0 else ""
            terminalreporter.write_line(f"  {title}: {listed}")
    for title, values in (("readings changed", diff.readings), ("error codes", diff.codes)):
        if values:
            listed = ", ".join(f"{v.name}: {v.old} -> {v.new}" for v in values)
            terminalreporter.write_line(f"  {title}: {listed}")
