"""The status trace of a registration, judged by the case that drives it (SIP-STAT-TRACE-003).

Every registration case records status.json of its accounts through the whole case and is
judged at its end (plugin/status_trace.py, autouse from conftest.py). This case makes the moment
the trace judges last long enough to be sampled: the registrar holds its 200 while the trace
samples the pending registration, then grants it.
"""

from __future__ import annotations

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.registrar import is_authorized, is_register
from decoder_conformance.waiting import poll_until

#: Samples the trace must take while the registrar holds its 200.
HELD_SAMPLES = 5


@pytest.mark.req("SIP-STAT-TRACE-003")
def test_no_granted_state_before_the_registrars_200(
    api, sip_account, registrar, device_target, status_trace
):
    timers = device_target.profile.timers
    server = registrar(grant=60)
    server.hold_ok()  # the 200 waits until the trace has sampled the pending registration
    account = sip_account(registrar=server)
    asked = server.wait_for(
        lambda r: is_register(r) and is_authorized(r),
        timeout=timers.state_timeout,
        expected="a REGISTER with digest credentials (after the 401 challenge)",
    )
    poll_until(
        lambda: [s for s in status_trace.series().get(account.id, []) if s.t > asked.t],
        lambda held: len(held) >= HELD_SAMPLES,
        timeout=min(timers.transaction_timeout / 2, timers.state_timeout),
        expected=f"{HELD_SAMPLES} status.json samples while the registrar holds its 200",
    )
    if server.release() is None:
        raise NotExercised("harness: the registrar held no 200 to release")
    api.wait_status(
        account.id,
        lambda s: s.register in ("registered", "connected", "on"),
        timeout=timers.state_timeout,
        expected="register_status registered, connected or on once the registrar answered 200",
    )
    status_trace.finish()
    if api.req not in status_trace.exercised:
        raise NotExercised(f"harness: the status trace did not exercise {api.req}")
    found = [
        f"account {a}: {v.detail}" for a, v in status_trace.violations if v.requirement == api.req
    ]
    assert not found, f"[{api.req}] " + "; ".join(found)
