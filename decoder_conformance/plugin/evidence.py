"""Evidence per case and per session: attachments when a case's call phase ends, and the summary.

Every case has one evidence wrapper (`CaseEvidence`, in the item's stash; the `case_evidence`
fixture gives it to a suite): its HTTP exchanges, the wire records of every peer it started and
extra attachers its fixtures registered. When the call phase ends, pass or fail, they become
attachments: the HTTP exchanges; the SIP ladder of all the peers' SIP records merged by time
(SVG and text, lifelines named by role); a pcap of everything the peers sent and received (SIP
and RTP) when there is any; then the extra attachers (e.g. the bitrate plot, and the status
trace of the SIP, call and media cases: its table of changes, its verdict and its plot, next to
the ladder, plugin/status_trace.py). Every suite case's verdict, and every device duty its
teardown judged (plugin/verdicts.py), is folded into the per-requirement summary written at the
end of the session, and with `--discover` the drafted profile is written there too, with a line
per discovery probe.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from decoder_conformance.contract.draft import draft_profile
from decoder_conformance.contract.observations import CapabilityProbe, LimitProbe, Observations
from decoder_conformance.peers.capture import sip_only
from decoder_conformance.plugin.parallel import worker_id
from decoder_conformance.plugin.stash import (
    OBSERVATIONS,
    SUITE_CONFIG,
    SUMMARY,
    CaseEvidence,
    case_evidence,
)
from decoder_conformance.report.allure import attach_exchanges
from decoder_conformance.report.ladder import attach_ladder, ladder_rows
from decoder_conformance.report.pcap import attach_pcap

LADDER_NAME = "SIP ladder"
PCAP_NAME = "SIP and RTP capture (Wireshark)"


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> CaseEvidence:
    """The case's evidence wrapper: `add_records(name, records, roles)`, `add_attacher(fn)`."""
    return case_evidence(request.node)


def attach_case_evidence(evidence: CaseEvidence) -> None:
    """Turn a case's evidence into attachments (never raises: a problem is attached as text)."""
    attach_exchanges(evidence.exchanges)
    records, roles, problems = evidence.collect()
    steps: list[tuple[str, Callable[[], object]]] = [
        ("ladder", lambda: attach_ladder(ladder_rows(sip_only(records)), roles, LADDER_NAME)),
        ("pcap", lambda: attach_pcap(records, PCAP_NAME)),
        *((f"attacher {n}", attach) for n, attach in enumerate(evidence.attachers, 1)),
    ]
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # evidence never replaces the case's own outcome
            problems.append(f"{what}: {type(exc).__name__}: {exc}")
    if problems:
        _attach_text("evidence problems", "\n".join(problems))


def _attach_text(name: str, text: str) -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Attach the case's evidence, pass or fail."""
    try:
        return (yield)
    finally:
        attach_case_evidence(case_evidence(item))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the conformance summary and the discovered profile, if asked."""
    suite = session.config.stash.get(SUITE_CONFIG, None)
    if suite is None or worker_id(session.config) is not None:
        return  # an xdist worker's results go to the controller, which writes (plugin/parallel.py)
    summary = session.config.stash[SUMMARY]
    observations = session.config.stash[OBSERVATIONS]
    if suite.summary_path is not None:
        summary.write(suite.summary_path, observations)
    if suite.discover_path is not None:
        kept = [req for req, verdict in summary.verdicts().items() if verdict == "passed"]
        probed = observations.limits_probed or observations.capabilities_probed
        if not probed and not observations.probe_note:
            observations.probe_note = "no case reached the device, so no probe ran"
        text = draft_profile(observations, kept, suite.plan.api_url or suite.plan.describe())
        suite.discover_path.parent.mkdir(parents=True, exist_ok=True)
        suite.discover_path.write_text(text, "utf-8")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"decoder conformance: profile drafted at {suite.discover_path}")
            for line in probe_lines(observations):
                reporter.write_line(f"  {line}", red=bool(observations.probe_note))


def probe_lines(observations: Observations) -> list[str]:
    """What the discovery probes measured, one line each (printed with the drafted profile)."""
    lines = [observations.probe_note] if observations.probe_note else []
    found: dict[str, LimitProbe | CapabilityProbe] = {
        **observations.limits_probed,
        **observations.capabilities_probed,
    }
    for key, probe in found.items():
        if probe.value is None:
            state = "not probed"
        elif isinstance(probe, LimitProbe) and probe.at_least:
            state = f"at least {probe.value}"
        else:
            state = str(probe.value).lower()
        lines.append(f"probed {key}: {state} ({' '.join(probe.detail.split())})")
    return lines
