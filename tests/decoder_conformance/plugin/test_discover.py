"""--discover against the bundled decoder drafts a profile with which the suite then passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import load_profile
from tests.conftest import generic_profile, run_pytest


@pytest.mark.selftest
def test_discovered_profile_passes_and_pins_the_readings_seen(tmp_path: Path) -> None:
    draft = tmp_path / "discovered.toml"
    first = run_pytest(
        "suites/api",
        "--discover",
        str(draft),
        "--profile",
        str(generic_profile(tmp_path)),
        "--conformance-summary",
        str(tmp_path / "discovery.json"),
        "-q",
    )
    assert first.returncode == 0, first.output[-3000:]
    assert f"profile drafted at {draft}" in first.output
    discovery = json.loads((tmp_path / "discovery.json").read_text("utf-8"))
    assert not discovery["must_failed"], "discovery pins nothing, so nothing fails"

    profile = load_profile(draft, Catalogue())
    seen = {p: r["seen"][0] for p, r in discovery["readings"].items() if len(r["seen"]) == 1}
    assert seen and profile.readings == seen
    assert profile.errors, "the codes of the refusals seen are pinned"

    second = run_pytest(
        "suites/api",
        "--profile",
        str(draft),
        "--conformance-summary",
        str(tmp_path / "checked.json"),
        "-q",
    )
    assert second.returncode == 0, second.output[-3000:]
    checked = json.loads((tmp_path / "checked.json").read_text("utf-8"))
    assert checked["cases"]["failed"] == 0 and checked["cases"]["finding"] == 0
    assert {p: r["pinned"] for p, r in checked["readings"].items() if r["pinned"]} == seen
