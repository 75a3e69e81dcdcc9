"""The bench of the GB28181 tests: the reference decoder (fast SIP timers) and the suite's
GbPlatform peer, both on 127.0.0.1, and a gb28181 account pointing the one at the other."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform
from decoder_conformance.waiting import poll_until
from tests.reference_device.sip.peer import Device, device
from wire import gb_id, sip

DEVICE = gb_id.make_id(gb_id.TYPE_DECODER)  # 34020000001140000001
DOMAIN = gb_id.realm_of(DEFAULT_PLATFORM_ID)  # 3402000000
PASSWORD = "12345678"
INTERVAL = 0.3  # keepalive interval of the tests (s)
COUNT = 3
WAIT = 5.0


@contextmanager
def bench(
    tmp_path: Path,
    *extra: str,
    faults: tuple[str, ...] = (),
    interval: float = INTERVAL,
    count: int = COUNT,
    platform: GbPlatform | None = None,
) -> Iterator[tuple[Device, GbPlatform]]:
    """A GbPlatform (the given one, or a default one) and a reference decoder keeping
    `interval`/`count` keepalives; the decoder stops first (it unregisters on the way out)."""
    peer = platform or GbPlatform(keepalive_interval=interval, keepalive_count=count)
    with peer:
        args = ("--gb-keepalive-interval", str(interval), "--gb-keepalive-count", str(count))
        with device(tmp_path, *args, *extra, faults=faults) as dev:
            yield dev, peer


def gb_account(dev: Device, platform: GbPlatform, **fields: str) -> int:
    """Add a gb28181 account registering with `platform`; its id."""
    dev.ok("add", name="gb", type="gb28181")
    account_id = max(e["id"] for e in dev.ok("list")["data"])
    settings = {
        "localAccount": DEVICE,
        "localAddress": dev.binds()[0],
        "registerServer": "127.0.0.1",
        "registerPort": str(platform.port),
        "serverId": DEFAULT_PLATFORM_ID,
        "realm": "*",
        "username": "",
        "password": PASSWORD,
    }
    dev.ok("modify", id=str(account_id), **{**settings, **fields})
    return int(account_id)


def registered(dev: Device, platform: GbPlatform, **fields: str) -> int:
    """A gb28181 account, registered (platform binding and register_status)."""
    account_id = gb_account(dev, platform, **fields)
    platform.wait_registered(DEVICE, timeout=WAIT)
    dev.wait_state("register_status", "registered", account_id)
    return account_id


def received(platform: GbPlatform, method: str) -> list[WireRecord]:
    """The `method` requests the platform received, in order."""
    return [r for r in platform.records() if r.direction == "RX" and r.is_request_of(method)]


def request_of(record: WireRecord) -> sip.SipRequest:
    """The request in a record (typed)."""
    message = record.message
    assert isinstance(message, sip.SipRequest)
    return message


def wait_count(what: Callable[[], int], wanted: int, expected: str, timeout: float = WAIT) -> int:
    """Poll until `what()` reaches `wanted`."""
    return poll_until(what, lambda n: n >= wanted, timeout=timeout, expected=expected)
