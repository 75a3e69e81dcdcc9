"""Waivers expire: `until` is validated, and a waiver past it is found and dropped."""

from __future__ import annotations

import datetime

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import ProfileError, Waiver, parse_profile
from tests.conftest import ROOT

CATALOGUE = Catalogue()
DAY = datetime.date(2027, 1, 31)


def profile_with(*waivers: str, firmware: str = "2.4.1") -> str:
    text = f'[device]\nfirmware = "{firmware}"\n'
    return text + "".join(f"[[waivers]]\n{w}\n" for w in waivers)


def test_until_is_a_toml_date_or_a_string() -> None:
    profile = parse_profile(
        profile_with(
            'requirement = "SIP-API-ADD-001"\nreason = "t1"\nuntil = 2027-01-31',
            'requirement = "SIP-API-ADD-002"\nreason = "t2"\nuntil = "2027-01-31"',
            'requirement = "SIP-API-ADD-003"\nreason = "t3"',
        ),
        "lab.toml",
        CATALOGUE,
    )
    assert [w.until for w in profile.waivers] == [DAY, DAY, None]


@pytest.mark.parametrize(
    "value",
    ['"2027-02-30"', '"31.01.2027"', '"2027-1-31"', "20270131", "2027-01-31T10:00:00", '""'],
)
def test_a_bad_until_names_file_and_key(value: str) -> None:
    text = profile_with(
        'requirement = "SIP-API-ADD-001"\nreason = "t"',
        f'requirement = "SIP-API-ADD-002"\nreason = "t"\nuntil = {value}',
    )
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "lab.toml", CATALOGUE)
    message = str(caught.value)
    assert message.startswith("lab.toml: [waivers[1]].until must be a date (YYYY-MM-DD"), message


def test_a_misspelt_key_lists_until_among_the_known() -> None:
    with pytest.raises(ProfileError, match=r"\[waivers\[0\]\]\.untill .*until"):
        parse_profile(
            profile_with('requirement = "A"\nreason = "t"\nuntil = 2027-01-31\nuntill = 1'),
            "lab.toml",
            CATALOGUE,
        )


def test_a_waiver_covers_its_last_day_and_not_the_next() -> None:
    waiver = Waiver("SIP-API-ADD-001", "ticket 7", "2.4.*", DAY)
    assert not waiver.expired(DAY)
    assert waiver.expired(DAY + datetime.timedelta(days=1))
    assert not Waiver("SIP-API-ADD-001", "ticket 7").expired(datetime.date(9999, 12, 31))
    assert waiver.describe() == "SIP-API-ADD-001 (firmware 2.4.*, until 2027-01-31): ticket 7"
    assert Waiver("X", "r").describe() == "X (firmware *, until no expiry): r"


def test_expired_waivers_of_this_firmware_are_found_and_dropped() -> None:
    profile = parse_profile(
        profile_with(
            'requirement = "SIP-API-ADD-001"\nreason = "old"\nuntil = 2027-01-30',
            'requirement = "SIP-API-ADD-002"\nreason = "current"\nuntil = 2027-01-31',
            'requirement = "SIP-API-ADD-003"\nreason = "other fw"\nfirmware = "3.*"\n'
            "until = 2020-01-01",
            'requirement = "SIP-API-ADD-004"\nreason = "forever"',
        ),
        "lab.toml",
        CATALOGUE,
    )
    expired = profile.expired_waivers(DAY)
    assert [w.requirement for w in expired] == ["SIP-API-ADD-001"]
    current = profile.without_expired_waivers(DAY)
    assert current.waiver_for("SIP-API-ADD-001") is None
    assert current.waiver_for("SIP-API-ADD-002") is not None
    assert current.waiver_for("SIP-API-ADD-004") is not None
    assert current.expired_waivers(DAY) == ()
    assert current.device == profile.device and current.source == "lab.toml"
    # The original still lists it (the run's profile is the copy).
    assert profile.waiver_for("SIP-API-ADD-001") is not None


def test_the_example_lab_profile_shows_until() -> None:
    text = (ROOT / "profiles" / "example-lab.toml").read_text("utf-8")
    assert "# until = " in text
    uncommented = "\n".join(
        line.removeprefix("# ")
        for line in text.splitlines()
        if line.startswith(("# [[waivers]]", "# requirement", "# firmware", "# reason", "# until"))
    )
    profile = parse_profile(profile_with() + uncommented, "example-lab.toml", CATALOGUE)
    [waiver] = profile.waivers
    assert waiver.until is not None and waiver.describe().startswith(waiver.requirement)
