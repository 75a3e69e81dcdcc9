"""REGISTER of a gb28181 account against the suite's GbPlatform (2016/2022 §9.1; notes §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform, Presence
from decoder_conformance.waiting import DeviceTimeout
from tests.reference_device.gb.bench import (
    DEVICE,
    DOMAIN,
    INTERVAL,
    WAIT,
    bench,
    received,
    registered,
    request_of,
    wait_count,
)
from wire import digest


@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_registers_with_digest_as_the_standard_shows(tmp_path: Path, qop: bool) -> None:
    platform = GbPlatform(qop=qop, keepalive_interval=INTERVAL)
    with bench(tmp_path, platform=platform) as (dev, platform):
        account_id = registered(dev, platform)
        first, second = (request_of(r) for r in received(platform, "REGISTER")[:2])
        assert first.uri == second.uri == f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}"
        for request in (first, second):
            assert request.from_addr.uri == request.to_addr.uri == f"sip:{DEVICE}@{DOMAIN}"
            assert request.from_addr.tag and request.to_addr.tag is None
            assert request.vias[0].params.keys() >= {"rport", "branch"}
            assert request.headers.get("X-GB-ver") is None  # 2016: no version header
        port = dev.sip_port()
        assert [c.uri for c in second.contacts] == [f"sip:{DEVICE}@127.0.0.1:{port}"]
        assert first.headers.get("Authorization") is None
        credentials = digest.Credentials.parse(second.headers.get("Authorization") or "")
        assert (credentials.username, credentials.realm, credentials.uri) == (
            DEVICE,
            DOMAIN,
            second.uri,
        )
        assert (credentials.qop is not None) is qop
        assert second.call_id == first.call_id
        assert dev.status(account_id)["register_status"]["extra_info"] == 200
        assert platform.violations() == []


def test_explicit_realm_and_username(tmp_path: Path) -> None:
    platform = GbPlatform(users={"decoder-1": "other"}, keepalive_interval=INTERVAL)
    with bench(tmp_path, platform=platform) as (dev, platform):
        registered(dev, platform, realm=DOMAIN, username="decoder-1", password="other")
        last = request_of(received(platform, "REGISTER")[-1])
        assert last.from_addr.uri == f"sip:{DEVICE}@{DOMAIN}"
        credentials = digest.Credentials.parse(last.headers.get("Authorization") or "")
        assert credentials.username == "decoder-1"
        assert platform.violations() == []


def test_edition_2022_sends_x_gb_ver(tmp_path: Path) -> None:
    with bench(tmp_path, "--gb-edition", "2022") as (dev, platform):
        registered(dev, platform)
        versions = [request_of(r).headers.get("X-GB-ver") for r in received(platform, "REGISTER")]
        assert versions and set(versions) == {"3.0"}


def test_refresh_on_the_granted_expiry_and_same_call_id(tmp_path: Path) -> None:
    # granted 2 s: refreshed at 2 - min(5, 2/4) = 1.5 s, the Date header (§9.10) tolerated
    platform = GbPlatform(grant=2, keepalive_interval=INTERVAL, date="2026-12-02T06:00:00.123")
    with bench(tmp_path, platform=platform) as (dev, platform):
        registered(dev, platform)
        wait_count(lambda: len(received(platform, "REGISTER")), 3, "a refresh REGISTER")
        first, second, refresh = (request_of(r) for r in received(platform, "REGISTER")[:3])
        assert refresh.call_id == first.call_id
        assert refresh.cseq.number > second.cseq.number
        assert refresh.headers.get("Expires") == "3600"
        dev.wait_state("register_status", "registered")
        assert platform.violations() == []


def test_remove_unregisters_and_stops_keepalives(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        account_id = registered(dev, platform)
        platform.wait_keepalive(DEVICE, timeout=WAIT)
        dev.ok("remove", id=str(account_id))
        platform.wait_presence(DEVICE, Presence.UNREGISTERED, timeout=WAIT)
        last = request_of(received(platform, "REGISTER")[-1])
        assert last.headers.get("Expires") == "0"
        assert last.call_id == request_of(received(platform, "REGISTER")[0]).call_id
        seen = len(platform.keepalives(DEVICE))
        # a window of three intervals with no keepalive (bounded negative check)
        with pytest.raises(DeviceTimeout, match="expected keepalive"):
            platform.wait_keepalive(DEVICE, timeout=3 * INTERVAL, since=seen)
        assert platform.violations() == []
