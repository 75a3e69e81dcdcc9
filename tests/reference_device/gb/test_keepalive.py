"""Keepalive of a gb28181 account (§9.6, A.2.5) and re-registration when the platform is lost."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

import pytest

from decoder_conformance.peers.gb_platform import GbPlatform, Presence
from decoder_conformance.waiting import DeviceTimeout, poll_until
from tests.reference_device.gb.bench import (
    COUNT,
    DEVICE,
    INTERVAL,
    WAIT,
    bench,
    received,
    registered,
    request_of,
)
from tests.reference_device.sip.peer import Device
from wire import manscdp


def test_cadence_and_content(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        platform.wait_keepalive(DEVICE, timeout=WAIT, since=4)
        seen = platform.keepalives(DEVICE)[:5]
        assert [k.sn for k in seen] == [1, 2, 3, 4, 5]
        assert {(k.device_id, k.status, k.answered) for k in seen} == {(DEVICE, "OK", 200)}
        assert all(k.problems == [] for k in seen)
        gaps = [b.t - a.t for a, b in itertools.pairwise(seen)]
        assert abs(statistics.median(gaps) - INTERVAL) < 0.1, gaps
        request = seen[0].incoming.request
        assert request.content_type == manscdp.CONTENT_TYPE
        assert request.body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
        assert request.uri == platform_uri(platform)
        assert platform.presence(DEVICE) is Presence.ONLINE
        assert platform.violations() == []


def platform_uri(platform: GbPlatform) -> str:
    return request_of(received(platform, "REGISTER")[0]).uri


def _registers_again(dev: Device, platform: GbPlatform, before: int, timeout: float) -> None:
    """A new REGISTER round after the `before` seen so far, granted, and keepalives answered."""
    poll_until(
        lambda: len(received(platform, "REGISTER")),
        lambda n: n > before,
        timeout=timeout,
        expected="a REGISTER after the platform was lost",
    )
    platform.wait_registered(DEVICE, timeout=WAIT)
    dev.wait_state("register_status", "registered")
    answered = len(platform.keepalives(DEVICE))
    platform.wait_keepalive(DEVICE, timeout=WAIT, since=answered)
    poll_until(
        lambda: platform.keepalives(DEVICE)[-1].answered,
        lambda code: code == 200,
        timeout=WAIT,
        expected="a keepalive answered 200 after registering again",
    )


def _log_moves(dev: Device) -> str:
    return dev.process.log_tail(200)


def test_platform_restart_404_registers_again(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        platform.wait_keepalive(DEVICE, timeout=WAIT)
        before = len(received(platform, "REGISTER"))
        platform.restart()
        _registers_again(dev, platform, before, WAIT)
        refused = [k for k in platform.keepalives(DEVICE) if k.answered == 404]
        assert refused, "the restarted platform never answered a keepalive 404"
        again = [request_of(r) for r in received(platform, "REGISTER")[before:]]
        assert again[0].headers.get("Authorization") is None  # from scratch: challenged again
        assert [r.call_id for r in again] == [again[0].call_id] * len(again)
        log = _log_moves(dev)
        assert "registered -> error" in log and "error -> registering" in log
        assert dev.status()["register_status"]["extra_info"] == 200


def test_refused_keepalive_registers_again(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        platform.wait_keepalive(DEVICE, timeout=WAIT)
        before = len(received(platform, "REGISTER"))
        platform.reject_keepalives(403)
        poll_until(
            lambda: len(received(platform, "REGISTER")),
            lambda n: n > before,
            timeout=WAIT,
            expected="a REGISTER after a keepalive refused with 403",
        )
        platform.reject_keepalives(None)
        _registers_again(dev, platform, before, WAIT)
        assert "registered -> error" in _log_moves(dev)
        assert platform.violations() == []


def test_unanswered_keepalives_register_again(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        platform.wait_keepalive(DEVICE, timeout=WAIT)
        before = len(received(platform, "REGISTER"))
        sent = len(platform.keepalives(DEVICE))
        platform.silence()
        # count keepalives time out (timer F = 64 * T1 = 3.2 s with the tests' 50 ms T1), then
        # the device registers again: the silenced platform sees that REGISTER in its records.
        poll_until(
            lambda: len(received(platform, "REGISTER")),
            lambda n: n > before,
            timeout=64 * 0.05 + COUNT * INTERVAL + WAIT,
            expected="a REGISTER after count keepalives went unanswered",
        )
        unanswered = [r for r in received(platform, "MESSAGE")[sent:] if b"Keepalive" in r.raw]
        assert len({request_of(r).cseq.number for r in unanswered}) >= COUNT
        platform.silence(False)
        _registers_again(dev, platform, before, WAIT)
        assert "registered -> error" in _log_moves(dev)


def test_fault_gb_no_keepalive(tmp_path: Path) -> None:
    with bench(tmp_path, faults=("gb_no_keepalive",)) as (dev, platform):
        registered(dev, platform)
        with pytest.raises(DeviceTimeout, match="expected keepalive #1"):
            platform.wait_keepalive(DEVICE, timeout=(COUNT + 1) * INTERVAL)
        platform.wait_presence(DEVICE, Presence.OFFLINE, timeout=WAIT)
        assert dev.state("register_status") == "registered"
