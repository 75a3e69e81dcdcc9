#!/usr/bin/env python3
"""Collect one run's artifacts into one folder for CI to publish.

    ci/collect_artifacts.py REPORTS_DIR ARTIFACTS_DIR

Copies the HTML report (html/), summary.md and summary.json, junit.xml and the raw
allure-results/ (a fleet job merges those), and gathers every pcap the run attached into
pcaps/, each named after its case and attachment so it can be opened in Wireshark without the
report. Standard library only. Missing pieces are named on stderr, never fatal: the gate decides.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

FILES = ("summary.md", "summary.json", "junit.xml")
#: Left in every collection, so ci/nightly.sh empties only a folder it filled before.
MARK = ".nightly-artifacts"
FOLDERS = ("html", "allure-results")


def safe(name: str) -> str:
    """A file name from a case or attachment name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120] or "case"


def pcaps(results: Path, into: Path) -> int:
    """Copy the pcap attachments of every result in `results` into `into`; returns how many."""
    count = 0
    for path in sorted(results.glob("*-result.json")):
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        case = safe(document.get("name", path.stem))
        pending = [document]
        while pending:  # attachments of the result and of its (nested) steps
            node = pending.pop()
            pending += node.get("steps", [])
            for attachment in node.get("attachments", []):
                source = results / attachment.get("source", "")
                if source.suffix != ".pcap" or not source.is_file():
                    continue
                into.mkdir(parents=True, exist_ok=True)
                count += 1
                target = into / f"{case}--{safe(attachment.get('name', 'capture'))}-{count}.pcap"
                shutil.copyfile(source, target)
    return count


def collect(reports: Path, artifacts: Path) -> list[str]:
    """Copy the artifacts; returns what was missing."""
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / MARK).write_text("collected by ci/collect_artifacts.py\n", "utf-8")
    missing = []
    for name in FILES:
        if (reports / name).is_file():
            shutil.copyfile(reports / name, artifacts / name)
        else:
            missing.append(name)
    for name in FOLDERS:
        if (reports / name).is_dir():
            shutil.copytree(reports / name, artifacts / name, dirs_exist_ok=True)
        else:
            missing.append(name + "/")
    if (reports / "allure-results").is_dir():
        found = pcaps(reports / "allure-results", artifacts / "pcaps")
        sys.stdout.write(f"artifacts: {artifacts} ({found} pcaps in pcaps/)\n")
    return missing


def main(argv: list[str]) -> int:
    """Collect REPORTS_DIR into ARTIFACTS_DIR."""
    if len(argv) != 2:
        sys.stderr.write("usage: ci/collect_artifacts.py REPORTS_DIR ARTIFACTS_DIR\n")
        return 2
    missing = collect(Path(argv[0]), Path(argv[1]))
    if missing:
        sys.stderr.write(f"artifacts: not produced by this run: {', '.join(missing)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
