"""Progress a person can follow: a line per area as it finishes, per-area timing at the end.

An area is a folder of `suites/` (api, sip, calls, media, gb28181, robustness, security, load).
The cases of each area are counted at collection (in the main process, or on the xdist
controller from the node ids a worker collected); when the last case of an area ends, one line
says its cases, verdicts and time. The reports arrive on the controller from every worker, so
the line comes out under `-n 2` as well, when the area's last report arrives.

Each case runs inside a ledger of unavoidable waits (`contract/timing.py`: the media it streams,
the protocol timers it must let run); its total travels on the case's teardown report (an extra
report attribute, which xdist serialises with the report). At the end of the run a table gives
per area its wall time, the waits it cannot avoid and their ratio (the target: wall at most 1.5x
the unavoidable waits, serial run). A lab run's header names the device as its profile
describes it and what the device itself answers that identifies it (the page defines no
identity endpoint: the HTTP `Server` header of its list.json answer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field

import pytest
import requests

from decoder_conformance.contract.timing import WaitLedger, case_ledger
from decoder_conformance.device.client import DeviceClient, TargetRefused
from decoder_conformance.plugin.parallel import worker_id
from decoder_conformance.plugin.stash import SUITE_CONFIG
from decoder_conformance.report.summary import ORDER, verdict

#: The issue's target: an area's serial wall time at most this many times its unavoidable waits.
WALL_TARGET = 1.5
#: Report attributes this plugin adds (plain values, so xdist carries them to the controller).
VERDICT_ATTR = "conformance_verdict"
UNAVOIDABLE_ATTR = "unavoidable_seconds"
#: The verdict columns of a progress line, in order; the rarer ones are shown only when present.
MAIN_COLUMNS = ("passed", "failed", "broken", "skipped")
OTHER_COLUMNS = ("finding", "waived", "xpassed")

AREAS = pytest.StashKey["AreaProgress"]()


def area_of(nodeid: str) -> str | None:
    """The suites/ folder a case lives in (None for anything outside suites/)."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "suites" else None


def _worse(a: str, b: str) -> str:
    return a if ORDER.index(a) <= ORDER.index(b) else b


@dataclass
class AreaTally:
    """One area's cases as they end: verdicts, span on the clock, busy and unavoidable time."""

    expected: int
    verdicts: Counter[str] = field(default_factory=Counter)
    first_start: float | None = None
    last_stop: float | None = None
    busy: float = 0.0
    unavoidable: float = 0.0

    @property
    def done(self) -> int:
        """Cases that have ended."""
        return sum(self.verdicts.values())

    @property
    def wall(self) -> float:
        """From the first case's setup to the last case's teardown (the area's span)."""
        if self.first_start is None or self.last_stop is None:
            return 0.0
        return max(0.0, self.last_stop - self.first_start)

    @property
    def ratio(self) -> float | None:
        """Wall over unavoidable waits (None when the area has none)."""
        return self.wall / self.unavoidable if self.unavoidable > 0 else None


@dataclass
class _Case:
    verdict: str | None = None
    start: float | None = None
    stop: float | None = None
    busy: float = 0.0


@dataclass
class AreaProgress:
    """Counts each area's cases, folds phase reports into case verdicts, says when an area ends.

    Pure bookkeeping on report values (no terminal, no pytest state), so it is tested on fake
    reports and used alike in a serial run and on the xdist controller.
    """

    areas: dict[str, AreaTally] = field(default_factory=dict)
    #: (avoidable seconds, node id) of every case ended: busy time beyond its unavoidable waits.
    avoidable: list[tuple[float, str]] = field(default_factory=list)
    _open: dict[str, _Case] = field(default_factory=dict)
    _ended: set[str] = field(default_factory=set)

    def expect(self, nodeids: Iterable[str]) -> None:
        """The collected cases (once; a second call, from another xdist worker, is ignored)."""
        if self.areas:
            return
        counts = Counter(a for a in map(area_of, nodeids) if a is not None)
        self.areas = {area: AreaTally(count) for area, count in counts.items()}

    def record(
        self,
        nodeid: str,
        when: str,
        found: str | None,
        *,
        start: float | None,
        stop: float | None,
        duration: float,
        unavoidable: float = 0.0,
    ) -> str | None:
        """Fold one phase report in; the area's name when this report ended its last case.

        `start` and `stop` are the phase's clock times (None where a report has none).
        """
        area = area_of(nodeid)
        if area is None or area not in self.areas or nodeid in self._ended:
            return None
        case = self._open.setdefault(nodeid, _Case())
        if found is not None:
            case.verdict = found if case.verdict is None else _worse(case.verdict, found)
        case.busy += duration
        if case.start is None:
            case.start = start
        if stop is not None:
            case.stop = stop
        if when in ("setup", "call"):
            return None
        # teardown ends a case; so does xdist's report for a case whose worker crashed ("???").
        del self._open[nodeid]
        self._ended.add(nodeid)
        tally = self.areas[area]
        tally.verdicts[case.verdict or "passed"] += 1
        tally.busy += case.busy
        tally.unavoidable += unavoidable
        self.avoidable.append((max(0.0, case.busy - unavoidable), nodeid))
        begun = case.start
        if begun is not None:
            tally.first_start = (
                begun if tally.first_start is None else min(tally.first_start, begun)
            )
        if case.stop is not None:
            later = tally.last_stop
            tally.last_stop = case.stop if later is None else max(later, case.stop)
        return area if tally.done == tally.expected else None

    def line(self, area: str) -> str:
        """One line for an area: its cases, each verdict, its time."""
        tally = self.areas[area]
        shown = [f"{tally.verdicts[v]} {v}" for v in MAIN_COLUMNS]
        shown += [f"{tally.verdicts[v]} {v}" for v in OTHER_COLUMNS if tally.verdicts[v]]
        finished = sum(1 for t in self.areas.values() if t.done == t.expected)
        return (
            f"area {area}: {tally.expected} cases, {', '.join(shown)} in {tally.wall:.1f} s"
            f" [{finished}/{len(self.areas)} areas done]"
        )

    def unfinished(self) -> list[str]:
        """A line per area that did not run to its end (an interrupted or stopped run)."""
        return [
            f"area {area}: stopped after {t.done} of {t.expected} cases"
            for area, t in sorted(self.areas.items())
            if t.done < t.expected
        ]

    def most_avoidable(self, count: int = 8) -> list[str]:
        """The cases that spent the most time beyond their unavoidable waits, most first."""
        worst = sorted(self.avoidable, key=lambda pair: (-pair[0], pair[1]))[:count]
        return [f"{seconds:6.1f} s  {nodeid}" for seconds, nodeid in worst if seconds > 0]

    def timing_table(self) -> list[str]:
        """Per area: wall time, unavoidable waits, ratio and whether it meets the target."""
        rows = [(a, t) for a, t in sorted(self.areas.items()) if t.done]
        if not rows:
            return []
        lines = [
            f"{'area':<12} {'cases':>5} {'wall s':>8} {'busy s':>8} {'unavoidable s':>13}"
            f" {'wall/unavoidable':>16}  target <= {WALL_TARGET}x",
        ]
        for area, tally in rows:
            lines.append(_row(area, tally.done, tally.wall, tally.busy, tally.unavoidable))
        # The run's span, from the first case's start to the last case's end (under -n the
        # areas overlap, so their walls do not add up).
        starts = [t.first_start for _, t in rows if t.first_start is not None]
        stops = [t.last_stop for _, t in rows if t.last_stop is not None]
        wall = max(stops) - min(starts) if starts and stops else 0.0
        lines.append(
            _row(
                "all",
                sum(t.done for _, t in rows),
                wall,
                sum(t.busy for _, t in rows),
                sum(t.unavoidable for _, t in rows),
            )
        )
        return lines


def _row(area: str, cases: int, wall: float, busy: float, unavoidable: float) -> str:
    if unavoidable > 0:
        ratio = wall / unavoidable
        verdict_text = "met" if ratio <= WALL_TARGET else "missed"
        ratio_text = f"{ratio:.2f}x"
    else:
        ratio_text, verdict_text = "-", "no unavoidable wait"
    return (
        f"{area:<12} {cases:>5} {wall:>8.1f} {busy:>8.1f} {unavoidable:>13.1f}"
        f" {ratio_text:>16}  {verdict_text}"
    )


# -- hooks ------------------------------------------------------------------------------------

#: The case's ledger of unavoidable waits, open from its setup to the end of its teardown.
LEDGER = pytest.StashKey[WaitLedger]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Run the case (setup, call, teardown) inside its own ledger of unavoidable waits."""
    with case_ledger() as ledger:
        item.stash[LEDGER] = ledger
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Put the phase's verdict, and at teardown the case's unavoidable waits, on the report.

    Outside verdicts.py's innermost wrapper, so a finding has already been made a finding.
    """
    report = yield
    setattr(report, VERDICT_ATTR, verdict(report, call))
    if report.when == "teardown":
        ledger = item.stash.get(LEDGER, None)
        if ledger is not None:
            ledger.close()
        setattr(report, UNAVOIDABLE_ATTR, round(ledger.total(), 3) if ledger else 0.0)
    return report


def fallback_verdict(report: pytest.TestReport) -> str | None:
    """A verdict from the report alone, for one that came without ours (a worker that crashed
    mid-case: xdist reports it failed, phase "???", and the suite could not exercise it)."""
    if report.skipped:
        return "waived" if hasattr(report, "wasxfail") else "skipped"
    if report.failed:
        return "failed" if report.when in ("setup", "call", "teardown") else "broken"
    return "passed" if report.when == "call" else None


class ProgressReporter:
    """Where the reports arrive (a serial run, or the xdist controller): the area lines as
    areas end, and the timing table at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.progress = AreaProgress()

    def _write(self, line: str, **markup: bool) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if reporter.verbosity < 0:
            # -q writes the progress letters with no file name, which write_line does not end.
            reporter.write("\n")
        reporter.write_line(line, **markup)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Count the cases of each area (serial run; deselected cases are not counted)."""
        self.progress.expect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: Sequence[str]) -> None:
        """Count the cases of each area from what a worker collected (the xdist controller)."""
        self.progress.expect(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold a phase report in; print the area's line when it ended the area's last case."""
        found = (
            getattr(report, VERDICT_ATTR)
            if hasattr(report, VERDICT_ATTR)
            else fallback_verdict(report)
        )
        ended = self.progress.record(
            report.nodeid,
            str(report.when),
            found,
            start=getattr(report, "start", None) or None,
            stop=getattr(report, "stop", None) or None,
            duration=float(report.duration or 0.0),
            unavoidable=float(getattr(report, UNAVOIDABLE_ATTR, 0.0) or 0.0),
        )
        if ended is not None:
            self._write(self.progress.line(ended), bold=True)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Areas that did not finish, then wall time against unavoidable waits per area."""
        table = self.progress.timing_table()
        if not table:
            return
        terminalreporter.section("time per area: wall vs unavoidable waits")
        for line in self.progress.unfinished():
            terminalreporter.write_line(line, yellow=True)
        for line in table:
            terminalreporter.write_line(line)
        if self.config.pluginmanager.has_plugin("dsession"):  # xdist's controller
            terminalreporter.write_line(
                "(areas ran side by side on several workers: their walls overlap and busy time "
                f"exceeds wall; the {WALL_TARGET}x target is for a serial run)"
            )
        worst = self.progress.most_avoidable()
        if worst:
            terminalreporter.write_line("cases with the most time beyond their unavoidable waits:")
            for line in worst:
                terminalreporter.write_line(f"  {line}")


def pytest_configure(config: pytest.Config) -> None:
    """Track progress where the reports arrive (not on an xdist worker)."""
    if worker_id(config) is None:
        config.pluginmanager.register(ProgressReporter(config), "decoder-progress")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The device as the profile describes it, and, in a lab run, what it says of itself."""
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None:
        return []
    device = suite.profile.device
    lines = [f"device identity: model {device.model}, firmware {device.firmware} (profile)"]
    if suite.plan.lab:
        lines.append(f"device answers: {device_self_identity(suite.plan.api_url)}")
    return lines


def device_self_identity(api_url: str, timeout: float = 2.0) -> str:
    """What the device says of itself: the page defines no identity endpoint, so the HTTP
    `Server` header of its list.json answer (a read; the session probes the device anyway)."""
    try:
        client = DeviceClient(api_url, {}, timeout=timeout)
        response = client.session.get(client.url_for("sip/list.json"), timeout=timeout)
    except (requests.RequestException, TargetRefused, ValueError) as exc:
        return f"no answer to sip/list.json ({type(exc).__name__}; the session start says more)"
    server = response.headers.get("Server")
    return (
        f"HTTP Server header {server!r} (sip/list.json, HTTP {response.status_code})"
        if server
        else f"no HTTP Server header (sip/list.json, HTTP {response.status_code})"
    )
