"""call_status while hangup.json's BYE is unanswered and once it failed: close, then idle; idle
at once under call_status_closing=idle; calling for good under hangup_status_stuck_calling."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.waiting import WaitTimeout
from tests.reference_device.sip.peer import Device, Dialog, Peer, device, h264_offer, respond
from wire import sip

#: How long the fault's stuck state is watched after the 481 (the clean device is idle at once).
QUIET = 1.0


def _hung_up(dev: Device, peer: Peer) -> sip.SipRequest:
    """An auto-answered call from `peer`, ended by hangup.json: the device's BYE (unanswered)."""
    dev.account()
    dev.ok("modify_call_cfg", id="1", auto_aws="1")
    dialog = Dialog(peer, dev.sip_port())
    dialog.invite(h264_offer())
    dialog.take_tag(peer.response(200))
    dialog.ack()
    dev.wait_state("call_status", "calling")
    dev.ok("hangup", id="1")
    bye = peer.request("BYE").message
    assert isinstance(bye, sip.SipRequest)
    return bye


@pytest.mark.parametrize(
    "faults", [(), ("hangup_status_stuck_calling",)], ids=["clean", "hangup_status_stuck_calling"]
)
def test_bye_answered_481(tmp_path: Path, faults: tuple[str, ...]) -> None:
    peer = Peer()
    with device(tmp_path, faults=faults) as dev:
        bye = _hung_up(dev, peer)
        assert dev.state("call_status") == ("calling" if faults else "close")
        respond(peer, bye, 481, dev.sip_port())
        if not faults:
            dev.wait_state("call_status", "idle")
        else:
            with pytest.raises(WaitTimeout):
                dev.wait_state("call_status", "idle", timeout=QUIET)
            assert dev.state("call_status") == "calling"
    peer.close()


def test_fault_still_ends_on_a_200(tmp_path: Path) -> None:
    """The fault keeps a failed BYE's call only: a 200 to the BYE ends it as before."""
    peer = Peer()
    with device(tmp_path, faults=("hangup_status_stuck_calling",)) as dev:
        bye = _hung_up(dev, peer)
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
    peer.close()


def test_closing_reading_idle(tmp_path: Path) -> None:
    peer = Peer()
    with device(tmp_path, "--reading", "call_status_closing=idle") as dev:
        bye = _hung_up(dev, peer)
        assert dev.state("call_status") == "idle"
        respond(peer, bye, 200, dev.sip_port())
        dev.wait_state("call_status", "idle")
    peer.close()
