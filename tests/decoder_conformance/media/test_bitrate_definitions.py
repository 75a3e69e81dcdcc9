"""The readings of bitrate_definition: what each counts, and how a reported median is matched."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import ProfileError, parse_profile
from decoder_conformance.media.bitrate import (
    DEFINITIONS,
    IP_UDP_HEADERS,
    RTP_HEADER,
    match_definitions,
    sent_by_definition,
    widest_ratio,
)


@dataclass(frozen=True)
class Packet:
    t: float
    payload_size: int


#: 100 packets of 1000 payload octets over 1 s: 800 kbit/s of payload.
PACKETS = [Packet(i / 100, 1000) for i in range(100)]


def test_every_reading_of_the_catalogue_is_a_definition() -> None:
    requirement = Catalogue().requirements["SIP-MED-BR-001"]
    assert requirement.point == "bitrate_definition"
    assert [r.name for r in requirement.readings] == list(DEFINITIONS)


def test_each_definition_counts_its_octets_and_its_kilo() -> None:
    sent = sent_by_definition(PACKETS, 0.0, 1.0)
    assert sent["payload_1000"] == pytest.approx(800.0)
    assert sent["payload_1024"] == pytest.approx(800.0 * 1000 / 1024)
    assert sent["rtp_1000"] == pytest.approx((1000 + RTP_HEADER) * 8 * 100 / 1000)
    assert sent["ip_1024"] == pytest.approx((1000 + RTP_HEADER + IP_UDP_HEADERS) * 0.8 / 1.024)
    assert widest_ratio(sent) == pytest.approx(1040 / 1000 * 1024 / 1000)


def test_the_window_is_half_open() -> None:
    assert DEFINITIONS["payload_1000"].kbps(PACKETS, 0.5, 1.0) == pytest.approx(800.0)
    with pytest.raises(ValueError, match="empty window"):
        DEFINITIONS["payload_1000"].kbps(PACKETS, 1.0, 1.0)


def test_unpinned_any_reading_matches_and_the_closest_is_first() -> None:
    sent = sent_by_definition(PACKETS, 0.0, 1.0)
    match = match_definitions([808.0, 810.0, 812.0, 900.0], sent, 0.05)
    assert match.matching[0] == "rtp_1000"  # median 811 against 809.6 (1012 octets a packet)
    assert set(match.matching) >= {"payload_1000", "rtp_1000", "ip_1024"}


def test_pinned_only_the_pinned_reading_is_judged() -> None:
    sent = sent_by_definition(PACKETS, 0.0, 1.0)
    kib = [781.0, 781.0, 782.0, 781.0]  # the payload per 1024 bits
    assert match_definitions(kib, sent, 0.015, only="payload_1024").matching == ["payload_1024"]
    assert match_definitions(kib, sent, 0.015, only="payload_1000").matching == []
    kbyte = [100.0] * 4  # kbyte/s: no reading at all
    assert match_definitions(kbyte, sent, 0.05).matching == []
    with pytest.raises(ValueError, match="unknown bitrate definition"):
        match_definitions(kib, sent, 0.015, only="frames")


def test_the_profile_takes_a_tolerance_in_media() -> None:
    catalogue = Catalogue()
    assert parse_profile("", "x", catalogue).media.bitrate_tolerance == 0.05
    profile = parse_profile("[media]\nbitrate_tolerance = 0.015\n", "x", catalogue)
    assert profile.media.bitrate_tolerance == 0.015
    for bad in ("[media]\nbitrate_tolerance = 0\n", "[media]\nbitrate_tolerance = 1.5\n"):
        with pytest.raises(ProfileError, match=r"\[media\].bitrate_tolerance"):
            parse_profile(bad, "x", catalogue)
    with pytest.raises(ProfileError, match=r"unknown key \[media\].window"):
        parse_profile("[media]\nwindow = 2\n", "x", catalogue)
