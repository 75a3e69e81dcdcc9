"""contract/draft.py: the profile --discover drafts is valid and pins what was observed."""

from __future__ import annotations

from datetime import UTC, datetime

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.draft import draft_profile
from decoder_conformance.contract.observations import Observations
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
