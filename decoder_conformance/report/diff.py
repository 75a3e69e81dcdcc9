"""Run-to-run diff of two conformance summaries (summary.json as report/summary.py writes it).

Per requirement, the verdict in the baseline run is set against the verdict in the new run, and
each requirement whose verdict changed lands in exactly one category, the first that fits, in
the order of `CATEGORIES`: a new failure outranks everything (a requirement that was not in the
baseline at all and fails now is a new failure: nothing vouched for it before), then newly
broken, waived defects that no longer show, requirements gone or new, fixes, findings that
appeared, newly waived, newly skipped, un-skipped, findings gone, no longer broken, and any other
change. Beside the verdicts: the readings the device follows on the page's ambiguous points that
changed (both runs observed the point and saw different readings; a point one run did not
observe is not a change), and the error codes answered for a refusal the page does not number
that changed (both runs saw the refusal).

`python -m decoder_conformance.report.diff A.json B.json` (`bin/diff`) prints the diff as
Markdown and exits 1 iff the new run has a MUST requirement failing that did not fail in the
baseline (`SummaryDiff.new_must_failures`): a regression gate that known, still failing defects
do not trip (the run's own exit status fails on every failure already); 2 when a file cannot be
read as a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The verdicts of a summary (report/summary.py ORDER, worst first); a baseline naming another
#: verdict is not a summary this code understands.
VERDICTS = ("failed", "broken", "xpassed", "finding", "waived", "passed", "skipped")

Verdict = str | None  # None: the requirement is not in that run


def _new_failure(old: Verdict, new: Verdict) -> bool:
    return new == "failed" and old != "failed"


#: category -> (heading, predicate on (baseline verdict, new verdict)); the first that fits wins.
CATEGORIES: dict[str, tuple[str, Callable[[Verdict, Verdict], bool]]] = {
    "new_failures": ("new failures", _new_failure),
    "newly_broken": (
        "newly broken (the suite could not exercise them)",
        lambda o, n: n == "broken",
    ),
    "waivers_to_remove": (
        "waived defects no longer seen (remove the waiver)",
        lambda o, n: n == "xpassed",
    ),
    "gone": ("requirements not in this run", lambda o, n: n is None),
    "new": ("requirements not in the baseline", lambda o, n: o is None),
    "fixed": ("fixed", lambda o, n: o == "failed" and n == "passed"),
    "findings_appeared": ("findings that appeared", lambda o, n: n == "finding"),
    "newly_waived": ("newly waived", lambda o, n: n == "waived"),
    "newly_skipped": ("newly skipped", lambda o, n: n == "skipped"),
    "unskipped": ("no longer skipped", lambda o, n: o == "skipped"),
    "findings_gone": ("findings that disappeared", lambda o, n: o == "finding"),
    "unbroken": ("no longer broken", lambda o, n: o == "broken"),
    "other": ("other verdict changes", lambda o, n: True),
}
#: How each category reads in the one-line headline ("since ...: +2 new failures, 1 fixed").
SHORT = {
    "new_failures": "new failures",
    "newly_broken": "newly broken",
    "waivers_to_remove": "waivers to remove",
    "gone": "requirements gone",
    "new": "requirements new",
    "fixed": "fixed",
    "findings_appeared": "findings appeared",
    "newly_waived": "newly waived",
    "newly_skipped": "newly skipped",
    "unskipped": "un-skipped",
    "findings_gone": "findings gone",
    "unbroken": "no longer broken",
    "other": "other changes",
}


class SummaryFileError(ValueError):
    """A file that cannot be read as a conformance summary (the message names the file)."""


@dataclass(frozen=True)
class Baseline:
    """A previous run's summary: where it was read from and its document."""

    path: str
    document: Mapping[str, Any]

    @property
    def label(self) -> str:
        """The baseline as the headline names it: its path, device model and firmware."""
        device = self.document.get("device", {})
        who = " ".join(str(device.get(k, "")) for k in ("model", "firmware")).strip()
        return f"{self.path} ({who})" if who else self.path


@dataclass(frozen=True)
class Change:
    """One requirement whose verdict differs between the runs."""

    requirement: str
    level: str
    old: Verdict
    new: Verdict
    #: The new run's cases of the requirement with the new verdict (failures: what to look at).
    cases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValueChange:
    """A reading point or an unnumbered refusal whose observed value changed."""

    name: str
    requirement: str
    old: str
    new: str


@dataclass(frozen=True)
class SummaryDiff:
    """The changes from a baseline summary to a new one."""

    baseline: str
    changes: Mapping[str, tuple[Change, ...]]
    readings: tuple[ValueChange, ...]
    codes: tuple[ValueChange, ...]

    @property
    def new_must_failures(self) -> tuple[Change, ...]:
        """MUST requirements failing now that did not fail in the baseline."""
        return tuple(c for c in self.changes.get("new_failures", ()) if c.level == "MUST")

    def count(self, category: str) -> int:
        """How many requirements changed into `category`."""
        return len(self.changes.get(category, ()))

    def headline(self) -> str:
        """One line: "since <baseline>: +x new failures, y fixed, ..." (zero counts left out,
        except new failures and fixed)."""
        parts = [f"+{self.count('new_failures')} new failures", f"{self.count('fixed')} fixed"]
        parts += [
            f"{self.count(name)} {SHORT[name]}"
            for name in CATEGORIES
            if name not in ("new_failures", "fixed") and self.count(name)
        ]
        if self.readings:
            parts.append(f"{len(self.readings)} readings changed")
        if self.codes:
            parts.append(f"{len(self.codes)} error codes changed")
        return f"since {self.baseline}: {', '.join(parts)}"

    def to_json(self) -> dict[str, Any]:
        """The diff as summary.json's `since` field."""
        return {
            "baseline": self.baseline,
            "line": self.headline(),
            "new_must_failures": [c.requirement for c in self.new_must_failures],
            "counts": {name: self.count(name) for name in CATEGORIES},
            "changes": {
                name: [
                    {
                        "requirement": c.requirement,
                        "level": c.level,
                        "old": c.old,
                        "new": c.new,
                        "cases": list(c.cases),
                    }
                    for c in changes
                ]
                for name, changes in self.changes.items()
            },
            "readings_changed": [vars(r) for r in self.readings],
            "codes_changed": [vars(c) for c in self.codes],
        }

    def markdown(self, heading: str = "##") -> list[str]:
        """The details as Markdown lines: one table per category that has changes."""
        lines = [f"{heading} Since the baseline", "", self.headline()]
        if not any(self.changes.values()) and not self.readings and not self.codes:
            return [*lines, "", "No verdict, reading or error code changed."]
        for name, (title, _fits) in CATEGORIES.items():
            changes = self.changes.get(name, ())
            if not changes:
                continue
            lines += ["", f"{heading}# {title.capitalize()} ({len(changes)})", ""]
            lines += ["| requirement | level | was | now | cases |", "|---|---|---|---|---|"]
            lines += [
                f"| {c.requirement} | {c.level} | {c.old or 'not run'} | {c.new or 'not run'} "
                f"| {_cell(c.cases)} |"
                for c in changes
            ]
        for title, values, column in (
            ("Readings that changed", self.readings, "point"),
            ("Error codes that changed", self.codes, "refusal"),
        ):
            if values:
                lines += ["", f"{heading}# {title} ({len(values)})", ""]
                lines += [f"| {column} | requirement | was | now |", "|---|---|---|---|"]
                lines += [f"| {v.name} | {v.requirement} | {v.old} | {v.new} |" for v in values]
        return lines


def _cell(cases: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(cases[:most]) + (f" (+{len(cases) - most} more)" if len(cases) > most else "")
    return shown.replace("|", "/") or "-"


def check_summary(document: object, source: str) -> Mapping[str, Any]:
    """`document` if it is a conformance summary (a requirements table of known verdicts);
    SummaryFileError naming `source` otherwise."""
    if not isinstance(document, dict) or not isinstance(document.get("requirements"), dict):
        raise SummaryFileError(f"{source}: not a conformance summary (no requirements table)")
    for req, entry in document["requirements"].items():
        found = entry.get("verdict") if isinstance(entry, dict) else None
        if found not in VERDICTS:
            raise SummaryFileError(
                f"{source}: requirements.{req}.verdict is {found!r}, not one of {list(VERDICTS)}"
            )
    return document


def load_baseline(path: Path) -> Baseline:
    """Read and check the summary at `path` (SummaryFileError naming the file if it cannot)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SummaryFileError(f"{path}: cannot read summary: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SummaryFileError(f"{path}: not a conformance summary (not UTF-8: {exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SummaryFileError(f"{path}: not a conformance summary (not JSON: {exc})") from None
    return Baseline(str(path), check_summary(document, str(path)))


def _requirements(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(document.get("requirements", {}))


def diff_summaries(baseline: Baseline, new: Mapping[str, Any]) -> SummaryDiff:
    """What changed from `baseline` to the `new` summary document."""
    old_reqs, new_reqs = _requirements(baseline.document), _requirements(new)
    changes: dict[str, list[Change]] = {name: [] for name in CATEGORIES}
    for req in sorted({*old_reqs, *new_reqs}):
        old_entry, new_entry = old_reqs.get(req), new_reqs.get(req)
        old = old_entry["verdict"] if old_entry else None
        found = new_entry["verdict"] if new_entry else None
        if old == found:
            continue
        level = str((new_entry or old_entry or {}).get("level", "?"))
        cases = tuple(
            str(c.get("nodeid", ""))
            for c in (new_entry or {}).get("cases", [])
            if isinstance(c, dict) and c.get("verdict") == found
        )
        category = next(name for name, (_t, fits) in CATEGORIES.items() if fits(old, found))
        changes[category].append(Change(req, level, old, found, tuple(dict.fromkeys(cases))))
    return SummaryDiff(
        baseline=baseline.label,
        changes={name: tuple(found) for name, found in changes.items() if found},
        readings=_reading_changes(baseline.document, new),
        codes=_code_changes(baseline.document, new),
    )


def _reading_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ValueChange, ...]:
    """Points both runs observed on which the device followed different readings."""
    before, after = old.get("readings", {}), new.get("readings", {})
    found = []
    for point in sorted(set(before) & set(after)):
        was, now = _reading(before[point]), _reading(after[point])
        if was and now and was != now:
            requirement = str(after[point].get("requirement", ""))
            found.append(ValueChange(point, requirement, was, now))
    return tuple(found)


def _reading(entry: Mapping[str, Any]) -> str:
    """The reading a run saw on a point: the one it followed, else every one seen."""
    followed = entry.get("reading")
    return str(followed) if followed else ", ".join(sorted(map(str, entry.get("seen", []))))


def _code_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ValueChange, ...]:
    """Refusals both runs saw that were answered with a different set of error codes."""
    before, after = old.get("codes_seen", {}), new.get("codes_seen", {})
    found = []
    for name in sorted(set(before) & set(after)):
        was, now = ", ".join(sorted(before[name])), ", ".join(sorted(after[name]))
        if was and now and was != now:
            found.append(ValueChange(name, "", was, now))
    return tuple(found)


def main(argv: Sequence[str] | None = None) -> int:
    """`bin/diff A.json B.json`: print the diff as Markdown; exit 1 iff new MUST failures."""
    parser = argparse.ArgumentParser(
        prog="bin/diff",
        description="Compare two conformance summaries (summary.json): BASELINE, then NEW. "
        "Exit status 1 iff NEW has a MUST requirement failing that did not fail in BASELINE, "
        "2 if a file is not a readable summary, else 0.",
    )
    parser.add_argument("baseline", type=Path, metavar="BASELINE")
    parser.add_argument("new", type=Path, metavar="NEW")
    args = parser.parse_args(argv)
    try:
        baseline = load_baseline(args.baseline)
        new = load_baseline(args.new)
    except SummaryFileError as exc:
        sys.stderr.write(f"bin/diff: {exc}\n")
        return 2
    diff = diff_summaries(baseline, new.document)
    lines = [f"# Conformance diff: {baseline.label} -> {new.label}", "", *diff.markdown()]
    sys.stdout.write("\n".join(lines) + "\n")
    regressions = diff.new_must_failures
    if regressions:
        names = ", ".join(c.requirement for c in regressions)
        sys.stderr.write(f"bin/diff: new MUST failures: {names}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
