"""Per-requirement verdicts for QA sign-off, written beside the Allure results.

Verdicts are kept apart as the project's rules say: passed, failed (a device defect: an
AssertionError, i.e. a DeviceFailure, against a page, RFC MUST or reading requirement), finding
(a failed practice or SHOULD check the profile does not promote), broken (the suite could not
exercise the case: any other exception), skipped (not applicable per the profile), waived (strict
xfail), and xpassed (a waived defect that no longer shows: strict xfail turns it into a
failure). Beside the verdicts, the summary lists the readings the device follows on the page's
ambiguous points and the error codes it answered where the page numbers none. Its first line is
the verdict at a glance (`verdict_fields`: PASS or FAIL and the counts), then, with a baseline
(plugin/baseline.py), one line saying what changed since that run (report/diff.py), with the
details further down.

Device duties checked through every case (a peer's RFC checks on every exchange, the status
trace) are kept apart from the case's own verdict: a duty a case saw broken is recorded under the
duty's own requirement, with the case and the problems, and makes the case itself count as failed
(its own requirement keeps the verdict of its own check: one device defect fails the one
requirement about it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from decoder_conformance.contract.observations import Observations
from decoder_conformance.report.diff import Baseline, SummaryDiff, diff_summaries

if TYPE_CHECKING:
    import pytest


class Reading(TypedDict):
    """One reading point in the summary: what the device was seen to follow, and the pin."""

    requirement: str
    reading: str | None
    pinned: str | None
    seen: list[str]


#: Verdicts from worst to best; a requirement takes the worst of its cases.
ORDER = ("failed", "broken", "xpassed", "finding", "waived", "passed", "skipped")
#: The user property a finding's report carries (set by the plugin's verdicts).
FINDING = ("verdict", "finding")


def verdict(report: pytest.TestReport, call: pytest.CallInfo[None]) -> str | None:
    """The case verdict this report decides, or None if the report decides nothing."""
    if FINDING in report.user_properties:
        return "finding"
    if hasattr(report, "wasxfail"):
        return "waived" if report.skipped else "xpassed"
    if report.skipped:
        return "skipped"
    if report.failed:
        excinfo = call.excinfo
        return (
            "failed" if excinfo is not None and excinfo.errisinstance(AssertionError) else "broken"
        )
    if report.when == "call":
        return "passed"
    return None


@dataclass(frozen=True)
class DutyVerdict:
    """A duty requirement as judged on one case: passed, failed, finding or waived."""

    verdict: str
    problems: tuple[str, ...] = ()


def _worse(a: str, b: str) -> str:
    return a if ORDER.index(a) <= ORDER.index(b) else b


@dataclass
class Summary:
    """Collects one verdict per case and folds them per requirement."""

    cases: dict[str, tuple[str, str]] = field(default_factory=dict)  # nodeid -> (req, verdict)
    #: nodeid -> duty requirement -> its verdict on that case
    duties: dict[str, dict[str, DutyVerdict]] = field(default_factory=dict)
    #: The previous run's summary (--baseline): `write` adds what changed since (`since`).
    baseline: Baseline | None = None
    since: SummaryDiff | None = None
    #: The profile's waivers for this firmware past their last day (plugin/gates.py), described.
    expired_waivers: list[str] = field(default_factory=list)

    def amend(self, req: str, nodeid: str, verdict: str) -> None:
        """Set case `nodeid`'s verdict outright: the waiver gate's final word on a waived case
        (pytest decides xfail after the report was recorded; plugin/gates.py)."""
        self.cases[nodeid] = (req, verdict)

    def record(
        self, req: str, nodeid: str, report: pytest.TestReport, call: pytest.CallInfo[None]
    ) -> None:
        """Fold one phase report in: a later, worse verdict replaces an earlier one."""
        found = verdict(report, call)
        if found is None:
            return
        previous = self.cases.get(nodeid)
        if previous is None or ORDER.index(found) < ORDER.index(previous[1]):
            self.cases[nodeid] = (req, found)

    def record_duty(
        self, nodeid: str, requirement: str, verdict: str, problems: Sequence[str] = ()
    ) -> None:
        """A duty requirement judged on case `nodeid` (a worse verdict replaces a better one)."""
        duties = self.duties.setdefault(nodeid, {})
        previous = duties.get(requirement)
        if previous is None or ORDER.index(verdict) < ORDER.index(previous.verdict):
            duties[requirement] = DutyVerdict(verdict, tuple(problems))

    def export(self, nodeid: str) -> dict[str, Any]:
        """Case `nodeid`'s verdict and duty verdicts so far, JSON-ready: an xdist worker sends
        it to the controller, which `merge`s it (plugin/parallel.py)."""
        case = self.cases.get(nodeid)
        duties = self.duties.get(nodeid, {})
        return {
            "nodeid": nodeid,
            "case": list(case) if case else None,
            "duties": {r: [d.verdict, list(d.problems)] for r, d in duties.items()},
        }

    def merge(self, data: Mapping[str, Any], nodeid: str | None = None) -> None:
        """Take a case another process judged (an `export`), under `nodeid` if given. The
        export is that process's whole word on the case so far (a waiver may have amended it
        to a better verdict), so it replaces what an earlier export said."""
        nodeid = nodeid or str(data["nodeid"])
        if data.get("case"):
            req, found = data["case"]
            self.cases[nodeid] = (str(req), str(found))
        duties = data.get("duties", {})
        if duties:
            self.duties[nodeid] = {
                req: DutyVerdict(str(found), tuple(problems))
                for req, (found, problems) in duties.items()
            }

    def case_verdict(self, nodeid: str) -> str:
        """The case's verdict: its own check's, made worse by any duty it saw broken."""
        found = self.cases[nodeid][1] if nodeid in self.cases else "passed"
        for duty in self.duties.get(nodeid, {}).values():
            if duty.verdict in ("failed", "finding"):
                found = _worse(found, duty.verdict)
        return found

    def verdicts(self) -> dict[str, str]:
        """Requirement -> the worst verdict of its cases (its own and as a duty)."""
        worst: dict[str, str] = {}
        pairs = [*self.cases.values()]
        pairs += [(req, d.verdict) for duties in self.duties.values() for req, d in duties.items()]
        for req, found in pairs:
            if req not in worst or ORDER.index(found) < ORDER.index(worst[req]):
                worst[req] = found
        return worst

    def write(self, path: Path, observations: Observations) -> None:
        """Write PATH (JSON) and PATH with .md (a table for people)."""
        catalogue, profile = observations.catalogue, observations.profile
        by_req: dict[str, list[dict[str, Any]]] = {}
        for nodeid, (req, found) in self.cases.items():
            case: dict[str, Any] = {"nodeid": nodeid, "verdict": found}
            duties = self.duties.get(nodeid, {})
            broke = {r: d.verdict for r, d in duties.items() if r != req and d.verdict != "passed"}
            if broke:
                case["duties"] = broke  # the case failed on these duties besides its own check
            by_req.setdefault(req, []).append(case)
        for nodeid, duties in self.duties.items():
            for req, duty in duties.items():
                entry_case: dict[str, Any] = {"nodeid": nodeid, "verdict": duty.verdict}
                entry_case |= {"duty": True, "problems": list(duty.problems)}
                by_req.setdefault(req, []).append(entry_case)
        counts = {name: 0 for name in ORDER}
        for nodeid in dict.fromkeys([*self.cases, *self.duties]):
            counts[self.case_verdict(nodeid)] += 1
        requirements = {}
        for req_id, cases in sorted(by_req.items()):
            entry = catalogue.requirements.get(req_id)
            worst = min((c["verdict"] for c in cases), key=ORDER.index)
            requirements[req_id] = {
                "level": entry.level if entry else "?",
                "basis": entry.basis if entry else "?",
                "check": entry.check if entry else "",
                "verdict": worst,
                "cases": cases,
            }
        duty_failures = [
            {"nodeid": nodeid, "requirement": req, "verdict": d.verdict, "problems": d.problems}
            for nodeid, duties in self.duties.items()
            for req, d in sorted(duties.items())
            if d.verdict != "passed"
        ]
        must_failed = [
            r for r, e in requirements.items() if e["level"] == "MUST" and e["verdict"] == "failed"
        ]
        findings = [r for r, e in requirements.items() if e["verdict"] == "finding"]
        followed = observations.followed()
        readings = {
            point: Reading(
                requirement=req.id,
                reading=followed.get(point),
                pinned=profile.readings.get(point),
                seen=sorted({r.reading for r in observations.readings if r.point == point}),
            )
            for point, req in sorted(catalogue.points.items())
        }
        codes = {
            name: dict(counter.most_common())
            for name, counter in sorted(observations.codes.items())
        }
        document = {
            "device": {
                "model": profile.device.model,
                "firmware": profile.device.firmware,
                "profile": profile.source,
            },
            "cases": counts,
            "requirements_checked": len(requirements),
            "must_failed": must_failed,
            "findings": findings,
            "duty_failures": [{**f, "problems": list(f["problems"])} for f in duty_failures],
            "readings": readings,
            "codes_seen": codes,
            "requirements": requirements,
        }
        self.since = diff_summaries(self.baseline, document) if self.baseline else None
        head = verdict_fields(requirements, self.expired_waivers)
        head["since"] = self.since.to_json() if self.since else None
        head["expired_waivers"] = list(self.expired_waivers)
        document = {**head, **document}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        lines = [str(head["verdict_line"]), ""]
        lines += [self.since.headline(), ""] if self.since else []
        lines += [
            f"# Conformance summary: {profile.device.model} {profile.device.firmware}",
            "",
            " | ".join(f"{k}: {v}" for k, v in counts.items()),
            "",
            f"MUST requirements failed: {', '.join(must_failed) or 'none'}",
            "",
            f"Findings (practices and SHOULDs, not failures): {', '.join(findings) or 'none'}",
            "",
        ]
        if self.expired_waivers:
            lines += ["## Expired waivers (not applied: their cases fail)", ""]
            lines += [*(f"- {w}" for w in self.expired_waivers), ""]
        lines += [*self.since.markdown(), ""] if self.since else []
        lines += [
            "## Readings the device follows where the page is ambiguous",
            "",
            "| point | requirement | reading seen | pinned by the profile |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {point} | {r['requirement']} | {', '.join(r['seen']) or 'not observed'} "
            f"| {r['pinned'] or '-'} |"
            for point, r in readings.items()
        ]
        lines += [
            "",
            "## Error codes answered where the page numbers none",
            "",
            "| refusal | codes (times) |",
            "|---|---|",
        ]
        lines += [
            f"| {name} | {', '.join(f'{c} ({n})' for c, n in seen.items())} |"
            for name, seen in codes.items()
        ]
        lines += ["", "## Device duties broken, checked through every case", ""]
        if not duty_failures:
            lines.append("none")
        else:
            lines += [
                "| case | requirement | verdict | what the check saw |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {f['nodeid']} | {f['requirement']} | {f['verdict']} | "
                + "; ".join(f["problems"])[:300].replace("|", "/")
                + " |"
                for f in duty_failures
            ]
        lines += [
            "",
            "## Requirements",
            "",
            "| requirement | basis | level | verdict | check |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r} | {e['basis']} | {e['level']} | {e['verdict']} | {e['check']} |"
            for r, e in requirements.items()
        ]
        path.with_suffix(".md").write_text("\n".join(lines) + "\n", "utf-8")


def verdict_fields(
    requirements: dict[str, dict[str, Any]], expired_waivers: Sequence[str] = ()
) -> dict[str, Any]:
    """The verdict at a glance: `verdict` (PASS or FAIL) and `verdict_line`, the summary's first.

    FAIL iff a requirement failed (a device defect, MUST or promoted) or a waived defect no
    longer shows (strict waivers fail the run, so the waiver gets removed); counts are of
    requirements, each at the worst verdict of its cases.
    """
    by_verdict = {name: 0 for name in ORDER}
    for entry in requirements.values():
        by_verdict[entry["verdict"]] += 1
    must = sum(
        1 for e in requirements.values() if e["verdict"] == "failed" and e["level"] == "MUST"
    )
    verdict = "FAIL" if by_verdict["failed"] or by_verdict["xpassed"] else "PASS"
    line = (
        f"{verdict}: {must} MUST failures, {by_verdict['finding']} findings, "
        f"{by_verdict['broken']} broken, {by_verdict['skipped']} skipped, "
        f"{by_verdict['waived']} waived (of {len(requirements)} requirements)"
    )
    if by_verdict["failed"] > must:
        line += f"; {by_verdict['failed'] - must} other failures (promoted practices or SHOULDs)"
    if by_verdict["xpassed"]:
        line += f"; {by_verdict['xpassed']} waived defects no longer seen (remove the waivers)"
    if expired_waivers:
        line += f"; {len(expired_waivers)} expired waivers: {'; '.join(expired_waivers)}"
    return {"verdict": verdict, "verdict_line": line}
