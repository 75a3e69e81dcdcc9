"""The call_status_idle_flicker fault against the behaviour without it: call_status of an
established call, sampled every 20 ms for 1.5 s while nothing happens on the wire."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from decoder_conformance.waiting import poll_until
from tests.reference_device.sip.peer import Peer, device
from tests.reference_device.sip.test_calls import _answered_call

#: How long the established call is watched (s): the fault's idle falls between 0.5 s and 1 s.
WATCH = 1.5


@pytest.mark.parametrize("fault", [(), ("call_status_idle_flicker",)])
def test_call_status_holds_while_the_call_is_up(tmp_path: Path, fault: tuple[str, ...]) -> None:
    """Without the fault call_status stays calling the whole time the call is up; with it,
    the call shows idle in the middle and calling again, and the call stays up throughout."""
    peer = Peer()
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        dialog, _ok = _answered_call(dev, peer)
        until = time.monotonic() + WATCH
        seen: list[str] = []
        poll_until(
            lambda: seen.append(dev.state("call_status")) or time.monotonic(),
            lambda now: now >= until,
            timeout=WATCH + 5,
            expected=f"call_status samples over {WATCH} s",
            interval=0.02,
        )
        if fault:
            first_idle = seen.index("idle")
            assert "calling" in seen[first_idle:], f"no calling after the idle: {seen}"
            assert "calling" in seen[:first_idle], f"no calling before the idle: {seen}"
        else:
            assert set(seen) == {"calling"}, f"call_status moved while the call was up: {seen}"
        dialog.bye()
        dev.wait_state("call_status", "idle")
    peer.close()
