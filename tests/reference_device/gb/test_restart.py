"""A registered gb28181 account registers again when the reference decoder restarts on its state
dir, unless the fault gb_no_register_after_restart keeps the stored platform from its agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb_platform import GbPlatform
from decoder_conformance.peers.registrar import asked_expiry
from decoder_conformance.waiting import WaitTimeout, poll_until
from tests.reference_device.gb.bench import DEVICE, WAIT, bench, registered
from wire import sip

#: How long the fault's silence is watched: the clean device registers at once on start-up.
QUIET = 1.5


def _registers_since(platform: GbPlatform, since: int) -> list[sip.SipRequest]:
    """REGISTERs asking for a binding (not an unregister) the platform got from record `since`."""
    found = []
    for record in platform.records()[since:]:
        message = record.message
        if (
            record.direction == "RX"
            and isinstance(message, sip.SipRequest)
            and message.method == "REGISTER"
            and checks.user_of(message.from_addr) == DEVICE
            and asked_expiry(message) != 0
        ):
            found.append(message)
    return found


@pytest.mark.parametrize(
    "faults", [(), ("gb_no_register_after_restart",)], ids=["clean", "gb_no_register_after_restart"]
)
def test_gb_registration_after_a_restart(tmp_path: Path, faults: tuple[str, ...]) -> None:
    with bench(tmp_path, faults=faults) as (dev, platform):
        account = registered(dev, platform)  # before the restart the fault changes nothing
        since = len(platform.records())
        dev.process.restart()
        if not faults:
            poll_until(
                lambda: _registers_since(platform, since), bool, timeout=WAIT, expected="a REGISTER"
            )
            dev.wait_state("register_status", "registered", account)
            return
        with pytest.raises(WaitTimeout):
            poll_until(
                lambda: _registers_since(platform, since),
                bool,
                timeout=QUIET,
                expected="no REGISTER",
            )
        assert dev.state("register_status", account) == "idle"
        # The account still names its platform; the next save hands it over.
        assert dev.ok("account", id=str(account))["data"]["registerServer"] == "127.0.0.1"
        since = len(platform.records())
        dev.ok("modify", id=str(account), realm="*")
        poll_until(
            lambda: _registers_since(platform, since), bool, timeout=WAIT, expected="a REGISTER"
        )
        dev.wait_state("register_status", "registered", account)
