"""A registered account registers again when the reference decoder restarts on its state dir,
unless the fault no_register_after_restart keeps the stored registrar from its user agent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reference_device.sip.peer import Device, Peer, device, respond
from wire import sip

#: How long the fault's silence is watched: the clean device registers at once on start-up.
QUIET = 1.5


def _is_register(expires: str | None = None) -> Callable[[sip.SipMessage], bool]:
    def wanted(m: sip.SipMessage) -> bool:
        if not isinstance(m, sip.SipRequest) or m.method != "REGISTER":
            return False
        return expires is None or m.headers.get("Expires") == expires

    return wanted


def _granted(dev: Device, registrar: Peer, port: int) -> None:
    """Answer the account's REGISTER with 200 (no challenge) and see it registered."""
    got = registrar.expect(_is_register(), "REGISTER")
    assert isinstance(got.message, sip.SipRequest)
    assert got.message.headers.get("Expires") != "0"
    respond(registrar, got.message, 200, port, Expires="60")
    dev.wait_state("register_status", "registered")


@pytest.mark.parametrize("faults", [(), ("no_register_after_restart",)], ids=["clean", "fault"])
def test_fault_no_register_after_restart(tmp_path: Path, faults: tuple[str, ...]) -> None:
    registrar = Peer()
    with device(tmp_path, faults=faults) as dev:
        port = dev.sip_port()
        account = dev.account(registerServer="127.0.0.1", registerPort=str(registrar.port))
        _granted(dev, registrar, port)  # before the restart the fault changes nothing
        old_pid = dev.process.pid
        dev.process.process.terminate()  # answer the unregister it sends on the way out
        leaving = registrar.expect(_is_register("0"), "REGISTER Expires: 0")
        assert isinstance(leaving.message, sip.SipRequest)
        respond(registrar, leaving.message, 200, port)
        dev.process.restart()
        assert dev.process.pid != old_pid
        if not faults:
            _granted(dev, registrar, port)  # the account's localAddress is its old bound port
        else:
            registrar.nothing(_is_register(), QUIET)
            assert dev.state("register_status", account) == "idle"
            # The account still names its registrar; the next save hands it over.
            assert dev.ok("account", id=str(account))["data"]["registerServer"] == "127.0.0.1"
            dev.ok("modify", id=str(account), realm="*")
            _granted(dev, registrar, port)
    registrar.close()
