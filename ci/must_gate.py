#!/usr/bin/env python3
"""The nightly gate: exit 1 if and only if a MUST requirement failed, reading summary.json.

bin/conformance exits with pytest's status, which is 1 for any failed or broken case: a SHOULD
or practice the profile promotes to a failure (the reference profile promotes every one), a case
the suite could not exercise, a waiver that no longer applies. CI fails on a device's MUST
failure only, so it gates on the summary's `must_failed` instead, and prints the rest.

Exit status: 0 no MUST requirement failed; 1 at least one did (each is printed with its failed
cases), or a waiver of the profile has expired (each is named: an expired waiver fails loudly);
2 the summary is missing or unreadable, no case ran, or no MUST requirement was exercised (every
one broken or skipped: nothing was judged, which is not a pass).
Standard library only: it runs before or without the project's virtual environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

USAGE = "usage: ci/must_gate.py [reports/summary.json]"


def load(path: Path) -> dict[str, Any]:
    """The summary document; raises ValueError saying what is wrong with it."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no summary (the run did not finish)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable summary: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("must_failed"), list):
        raise ValueError(f"{path}: not a conformance summary (no must_failed list)")
    return document


def failed_cases(document: dict[str, Any], requirement: str) -> list[str]:
    """The node IDs of the cases that failed `requirement`."""
    cases = document.get("requirements", {}).get(requirement, {}).get("cases", [])
    return list(dict.fromkeys(c.get("nodeid", "?") for c in cases if c.get("verdict") == "failed"))


def gate(document: dict[str, Any]) -> tuple[int, list[str]]:
    """(exit status, lines to print) for one summary document."""
    counts = document.get("cases", {})
    device = document.get("device", {})
    head = f"{device.get('model', '?')} {device.get('firmware', '')}: " + ", ".join(
        f"{k} {v}" for k, v in counts.items()
    )
    if not sum(v for v in counts.values() if isinstance(v, int)):
        return 2, [head, "MUST gate: no case ran, nothing was judged"]
    requirements = document.get("requirements", {})
    musts = [e for e in requirements.values() if e.get("level") == "MUST"]
    if musts and not any(e.get("verdict") in ("passed", "failed") for e in musts):
        return 2, [head, "MUST gate: no MUST requirement was exercised (all broken or skipped)"]
    lines = [head]
    must = document["must_failed"]
    expired = [str(w) for w in document.get("expired_waivers") or []]
    for waiver in expired:
        lines.append(f"expired waiver: {waiver}")
    for requirement in must:
        lines.append(f"MUST failed: {requirement}")
        lines += [f"  {nodeid}" for nodeid in failed_cases(document, requirement)]
    others = sorted(
        r
        for r, e in document.get("requirements", {}).items()
        if e.get("verdict") in ("failed", "broken", "xpassed") and r not in must
    )
    if others:
        lines.append(f"not gating (SHOULD/practice failures, broken, xpassed): {', '.join(others)}")
    if document.get("findings"):
        lines.append(f"findings: {', '.join(document['findings'])}")
    failing = bool(must or expired)
    lines.append(f"MUST gate: {'FAIL' if failing else 'pass'}")
    return (1 if failing else 0), lines


def main(argv: list[str]) -> int:
    """Gate on the summary named in argv (default reports/summary.json)."""
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        sys.stderr.write(USAGE + "\n")
        return 2
    path = Path(argv[0] if argv else "reports/summary.json")
    try:
        document = load(path)
    except ValueError as exc:
        sys.stderr.write(f"MUST gate: {exc}\n")
        return 2
    status, lines = gate(document)
    sys.stdout.write("\n".join(lines) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
