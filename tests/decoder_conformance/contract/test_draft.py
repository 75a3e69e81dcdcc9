"""contract/draft.py: the profile --discover drafts is valid and pins what was observed."""

from __future__ import annotations

from datetime import UTC, datetime

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.draft import draft_profile
from decoder_conformance.contract.observations import CapabilityProbe, LimitProbe, Observations
from decoder_conformance.contract.profile import load_profile, parse_profile
from tests.conftest import ROOT

CATALOGUE = Catalogue()


def observed() -> Observations:
    generic = load_profile(ROOT / "profiles" / "generic.toml", CATALOGUE)
    seen = Observations(CATALOGUE, generic)
    seen.follow("SIP-API-LIST-002", "id_type", "decimal_string", '"id": "3"', "t::a")
    seen.follow("SIP-API-ACC-003", "register_port_type", "json_integer", "5060", "t::b")
    seen.follow("SIP-API-ACC-003", "register_port_type", "decimal_string", '"5060"', "t::c")
    for code in ("4001", "4001", "4002"):
        seen.code("unknown_id", code)
    return seen


def test_the_draft_pins_what_was_seen_and_promotes_what_was_kept() -> None:
    text = draft_profile(
        observed(),
        ["SIP-API-ENV-002", "SIP-API-ENV-001"],
        "http://127.0.0.1:9/api",
        datetime(2026, 1, 2, tzinfo=UTC),
    )
    profile = parse_profile(text, "draft.toml", CATALOGUE)
    assert profile.readings == {"id_type": "decimal_string"}
    assert profile.errors["unknown_id"] == "4001"
    # A page MUST fails a device anyway: only practices and SHOULDs are promoted.
    assert profile.promote == frozenset({"SIP-API-ENV-002"})
    assert "# register_port_type = ?  (SIP-API-ACC-003: seen following" in text
    assert "also seen: 4002" in text
    assert '# url = "http://127.0.0.1:9/api"' in text
    assert "2026-01-02 00:00 UTC" in text


def test_the_draft_pins_the_probed_limits_and_policy_write() -> None:
    seen = observed()
    seen.limits_probed = {
        "max_accounts": LimitProbe(16, "add.json refused account 17 with 16 listed (error 1210)"),
        "max_name_length": LimitProbe(4096, "add.json took a 4096-character name", at_least=True),
        "max_value_length": LimitProbe(None, "the probe stopped: ConnectionError: reset\nby peer"),
    }
    seen.capabilities_probed = {
        "policy_write": CapabilityProbe(True, "modify_call_cfg.json took policy=2")
    }
    text = draft_profile(seen, [], "http://127.0.0.1:9/api")
    profile = parse_profile(text, "draft.toml", CATALOGUE)
    generic = seen.profile
    assert profile.limits.max_accounts == 16
    # At the ceiling, and not probed: the run's profile's value is kept, and the comment says why.
    assert profile.limits.max_name_length == generic.limits.max_name_length
    assert profile.limits.max_value_length == generic.limits.max_value_length
    assert profile.has("policy_write") and not generic.has("policy_write")
    source = generic.source
    assert (
        "max_accounts = 16  # probed: add.json refused account 17 with 16 listed (error 1210)"
    ) in text
    assert (
        f"max_name_length = {generic.limits.max_name_length}  # probed: accepted at least 4096 "
        f"(add.json took a 4096-character name); {source}'s value kept"
    ) in text
    assert (
        f"max_value_length = {generic.limits.max_value_length}  # not probed: the probe stopped: "
        f"ConnectionError: reset by peer; {source}'s value"
    ) in text
    assert "policy_write = true  # probed: modify_call_cfg.json took policy=2" in text
    assert "gb28181 = true\n" in text, "capabilities no probe measures are copied as they were"


def test_probes_that_did_not_run_keep_the_profile_and_say_why() -> None:
    seen = observed()
    seen.probe_note = "the run stopped early (exit status 2)"
    seen.capabilities_probed = {
        "policy_write": CapabilityProbe(None, "the run stopped early (exit status 2)")
    }
    text = draft_profile(seen, [], "http://127.0.0.1:9/api")
    profile = parse_profile(text, "draft.toml", CATALOGUE)
    assert profile.limits == seen.profile.limits
    assert not profile.has("policy_write")
    assert "# Discovery probes: the run stopped early (exit status 2)\n" in text
    assert "policy_write = false  # not probed: the run stopped early (exit status 2); " in text
    assert f"max_accounts = 32  # no probe result; {seen.profile.source}'s value" in text
