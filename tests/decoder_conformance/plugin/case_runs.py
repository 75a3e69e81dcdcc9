"""Runs of tiny conformance cases written under suites/ in a pytester folder, with the real
plugin and profiles/generic.toml (no device: the cases take no device fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ROOT

GENERIC = ROOT / "profiles" / "generic.toml"
#: The outcome words of `-rA` summary lines that the plugin tests read.
OUTCOMES = ("PASSED", "FAILED", "XFAIL", "ERROR")


def run_cases(
    pytester: pytest.Pytester, cases: str, module: str, profile_text: str = ""
) -> tuple[list[tuple[str, str]], Any, str]:
    """Write `cases` as suites/<module>.py and run suites/ with generic.toml plus
    `profile_text`: ((test name, outcome) per `-rA` line in order, summary.json, junit.xml)."""
    pytester.makefile(".py", **{f"suites/{module}": cases})
    profile = pytester.path / "profile.toml"
    profile.write_text(GENERIC.read_text("utf-8") + "\n" + profile_text, "utf-8")
    summary = pytester.path / "summary.json"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "suites",
        "--profile",
        str(profile),
        "--conformance-summary",
        str(summary),
        "--junitxml",
        str(junit),
        "-rA",
    )
    outcomes = [
        (line.split("::")[1].split()[0], word)
        for line in result.outlines
        for word in OUTCOMES
        if line.startswith(word + " ") and "::" in line
    ]
    return outcomes, json.loads(summary.read_text("utf-8")), junit.read_text("utf-8")
