"""Evidence per case and per session: attachments when a case's call phase ends, and the summary.

Every case gets its HTTP exchanges, its SIP ladder (all the peers it started, merged by time)
and whatever its fixtures registered (plots) attached, pass or fail; every suite case's verdict
is folded into the per-requirement summary written at the end of the session.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from decoder_conformance.plugin.stash import (
    EVIDENCE,
    EXCHANGES,
    LADDERS,
    SUITE_CONFIG,
    SUMMARY,
    is_suite_case,
    item_req,
)
from decoder_conformance.report.allure import attach_exchanges
from decoder_conformance.report.ladder import LadderMessage, attach_ladder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Attach the case's HTTP exchanges, SIP ladder and registered evidence, pass or fail."""
    try:
        return (yield)
    finally:
        attach_exchanges(item.stash.get(EXCHANGES, []))
        messages: list[LadderMessage] = []
        roles: dict[str, str] = {}
        for source in item.stash.get(LADDERS, []):
            found, named = source()
            messages += found
            roles |= named
        attach_ladder(sorted(messages, key=lambda m: m.t), roles, "SIP ladder")
        for attach in item.stash.get(EVIDENCE, []):
            attach()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Feed the per-requirement summary."""
    report = yield
    if is_suite_case(item):
        item.config.stash[SUMMARY].record(item_req(item), item.nodeid, report, call)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the conformance summary if asked."""
    suite = session.config.stash.get(SUITE_CONFIG, None)
    if suite is None or suite.summary_path is None:
        return
    summary = session.config.stash[SUMMARY]
    summary.write(suite.summary_path, suite.catalogue, suite.profile)
