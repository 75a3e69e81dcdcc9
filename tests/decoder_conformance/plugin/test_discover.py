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
    # The limits and policy_write are measured by the discovery probes, not copied.
    generic = load_profile(generic_profile(tmp_path), Catalogue())
    assert not generic.has("policy_write")
    assert profile.has("policy_write"), "the bundled decoder takes policy"
    assert vars(profile.limits) == {
        "max_accounts": 32,
        "max_name_length": 64,
        "max_value_length": 128,
    }
    text = draft.read_text("utf-8")
    for line in (
        "max_accounts = 32  # probed: add.json refused account 33 with 32 listed",
        "max_name_length = 64  # probed: add.json took a 64-character name and refused 65",
        "max_value_length = 128  # probed: modify.json took a 128-character username",
        "policy_write = true  # probed: modify_call_cfg.json took policy=2",
    ):
        assert line in text, text
    assert "probed max_accounts: 32 (add.json refused account 33" in first.output
    assert "left by the session" not in first.output, "the probes removed their accounts"

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
