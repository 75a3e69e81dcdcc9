"""The register_status life cycle the page lists, driven through the suite's registrar.

Each state is made to appear by what the registrar does (holds its answers, goes silent at refresh
time and answers again) or by what the case writes (registerServer cleared on a live account), and
is judged against what the registrar saw on the wire at that moment. Which of the page's states a
device shows for each step is a reading (SIP-REG-LIFE-001, -002, -004); what it must never do is
keep claiming a binding the registrar did not grant or no longer holds.
"""

from __future__ import annotations

import time

import pytest

from decoder_conformance.contract.timing import record_wait, unavoidable
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.registrar import (
    Mode,
    is_answer,
    is_authorized,
    is_register,
    wait_registered,
)
from decoder_conformance.waiting import WaitTimeout, poll_until, sample_over
from suites.sip.conftest import (
    answered_200,
    claimed_states,
    register_sample,
    registered_with_binding,
    wait_unregistered,
)

#: How often status.json is sampled while a step of the life cycle is under way (seconds).
SAMPLE_EVERY = 0.1
#: The longest the registrar holds an answer (seconds); a quarter of the device's transaction
#: timeout at most, so the device is still waiting for it.
HOLD = 0.5
#: The expiry granted in the refresh cases: the device refreshes within it (SIP-REG-006).
SHORT_GRANT = 2
#: The states a device may settle in once its registrar was cleared (register_status_after_
#: unregister) and the consecutive samples that must agree before the state counts as settled.
AFTER_UNREGISTER_STATES = ("idle", "closed", "off", "disconnected", "error")
SETTLED_SAMPLES = 3


def sample_for(api, account, seconds, timers):
    """status.json samples over `seconds`: (time the request left, time the answer came,
    register_status), in order."""
    unavoidable(seconds, "sampling status.json over the span the case holds")
    return sample_over(
        lambda: register_sample(api, account),
        seconds,
        timeout=seconds + timers.state_timeout,
        interval=SAMPLE_EVERY,
        expected=f"status.json samples over {seconds:.2f} s",
    )


def history(states):
    """`a -> b -> c`: the distinct states in the order first seen."""
    return " -> ".join(dict.fromkeys(states)) or "nothing"


@pytest.mark.req("SIP-REG-LIFE-001")
def test_pending_registration_state(
    api, sip_account, registrar, timers, readings, *, device_target
):
    """The registrar holds every answer to the first REGISTER, then (its challenge released and
    answered) holds the 200: the states sampled in each hold are register_status_pending's."""
    claimed_as = claimed_states(device_target)
    hold = min(HOLD, timers.transaction_timeout / 4)
    server = registrar(grant=60)
    server.hold_all()
    account = sip_account(registrar=server)
    server.wait_for(
        is_register, timeout=timers.state_timeout, expected="the account's first REGISTER"
    )
    unanswered = sample_for(api, account, hold, timers)
    challenge = server.release(keep_ok_held=True)
    if challenge is None:
        raise NotExercised("harness: the registrar held no answer to the first REGISTER")
    authorized = server.wait_for(
        lambda r: is_register(r) and is_authorized(r),
        since=server.records().index(challenge),
        timeout=timers.state_timeout,
        expected=f"a REGISTER answering the challenge ({challenge.first_line}) sent at "
        f"{challenge.t:.3f}",
    )
    challenged = sample_for(api, account, hold, timers)
    ok = server.release()
    if ok is None or not answered_200(ok):
        raise NotExercised(f"harness: the registrar held no 200 (released {ok})")
    wait_registered(api, account.id, server, timeout=timers.state_timeout)
    # Only the answers that left the device before the registrar's answer went out count.
    before = [state for _, came, state in unanswered if came < challenge.t]
    after = [state for sent, came, state in challenged if sent > authorized.t and came < ok.t]
    if not before or not after:
        raise NotExercised(
            f"harness: {len(before)} samples before the challenge and {len(after)} before the "
            "200; both holds need one"
        )
    observed = (
        f"register_status {history(before)} while the first REGISTER had no answer (challenge "
        f"sent at {challenge.t:.3f}), {history(after)} while the 200 was held (sent at "
        f"{ok.t:.3f})"
    )
    claimed = [state for state in before + after if state in claimed_as]
    assert not claimed, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) before the "
        f"registrar's 200, observed {observed}"
    )
    shown = (set(before), set(after))
    if shown == ({"registering"}, {"registering"}):
        readings.follow("register_status_pending", "registering", observed)
    elif shown == ({"connecting"}, {"connecting"}):
        readings.follow("register_status_pending", "connecting", observed)
    elif shown == ({"connecting"}, {"registering"}):
        readings.follow("register_status_pending", "connecting_until_challenged", observed)
    else:
        readings.none_of("register_status_pending", observed)


def silent_at_refresh(api, account, server, timers):
    """The registrar granted SHORT_GRANT seconds, then goes silent: the device's refresh
    REGISTER (NotExercised when none comes, SIP-REG-006 judges its timing)."""
    granted, _ = wait_registered(api, account.id, server, timeout=timers.state_timeout)
    server.set_mode(Mode.SILENT)
    # A late retransmission of the granted REGISTER (its Via branch) is not the refresh.
    branch = granted.message.vias[0].branch
    try:
        refresh = server.wait_for(
            lambda r: is_register(r) and r.t > granted.t and r.message.vias[0].branch != branch,
            since=server.records().index(granted),
            timeout=SHORT_GRANT + timers.state_timeout,
            expected=f"a refresh REGISTER within the {SHORT_GRANT} s granted",
        )
    except WaitTimeout as exc:
        raise NotExercised(
            f"the device sent no refresh to go unanswered (its refresh timing is SIP-REG-006): "
            f"{exc}"
        ) from None
    since = server.records().index(refresh)
    record_wait(granted.t, refresh.t, "the device refreshes on the granted expiry")
    answered = [r for r in server.records()[since:] if is_answer(r)]
    if answered:
        raise NotExercised(f"harness: the silent registrar answered {answered[0].first_line}")
    return refresh


#: The register_status values of register_status_refresh_lost's readings.
REFRESH_LOST_STATES = (
    "reconnecting",
    "error",
    "connecting",
    "registering",
    "disconnected",
    "off",
    "closed",
    "idle",
)


@pytest.mark.req("SIP-REG-LIFE-002")
def test_refresh_lost_stops_claiming_registered(
    api, sip_account, registrar, timers, readings, *, device_target
):
    claimed_as = claimed_states(device_target)
    server = registrar(grant=SHORT_GRANT)
    account = sip_account(registrar=server)
    refresh = silent_at_refresh(api, account, server, timers)
    # Timer F: the refresh failed 64*T1 after it was sent; from then on no granted state.
    failed_at = refresh.t + timers.transaction_timeout
    record_wait(refresh.t, failed_at, "Timer F: the refresh goes unanswered")
    seen = []

    def sample():
        seen.append(api.status(account.id).register)
        return seen[-1]

    try:
        state = poll_until(
            sample,
            lambda s: s not in claimed_as,
            timeout=max(0.0, failed_at - time.monotonic()) + timers.state_timeout,
            interval=SAMPLE_EVERY,
            expected="a register_status that claims no binding once the refresh went unanswered",
        )
    except WaitTimeout:
        raise AssertionError(
            f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) once "
            f"the refresh REGISTER sent at {refresh.t:.3f} went unanswered for the transaction "
            f"timeout ({timers.transaction_timeout:.1f} s, timer F) and "
            f"{timers.state_timeout:.1f} s more, observed {history(seen)} until "
            f"{time.monotonic():.3f}"
        ) from None
    observed = (
        f"register_status {state} after the refresh REGISTER sent at {refresh.t:.3f} went "
        f"unanswered (seen {history(seen)})"
    )
    if state not in REFRESH_LOST_STATES:
        readings.none_of("register_status_refresh_lost", observed)
    readings.follow("register_status_refresh_lost", state, observed)


@pytest.mark.req("SIP-REG-LIFE-005")
def test_registered_again_once_the_registrar_answers(api, sip_account, registrar, timers):
    """Whatever the device shows meanwhile (SIP-REG-LIFE-002), once its refresh went unanswered
    it gets the binding back when the registrar answers again."""
    server = registrar(grant=SHORT_GRANT)
    account = sip_account(registrar=server)
    refresh = silent_at_refresh(api, account, server, timers)
    # The refresh has failed once the device starts another REGISTER (a new branch), or at
    # the latest when its transaction timed out (timer F).
    branch = refresh.message.vias[0].branch
    server.watch(
        lambda r: is_register(r) and r.message.vias[0].branch != branch,
        seconds=max(0.0, refresh.t + timers.transaction_timeout - time.monotonic()),
        limit=0,
        since=server.records().index(refresh),
    )
    mark = len(server.records())
    server.set_mode(Mode.NORMAL, grant=60)
    # The device retries on its own schedule: a REGISTER in flight (its retransmissions are
    # answered now), else the next one after its backoff.
    retry_window = timers.transaction_timeout + 8 * timers.retry_base + timers.state_timeout
    wait_registered(
        api,
        account.id,
        server,
        timeout=timers.state_timeout,
        since=mark,
        answer_timeout=retry_window,
    )


@pytest.mark.req("SIP-REG-LIFE-003")
def test_clearing_register_server_unregisters(api, sip_account, registrar, timers):
    server, account = registered_with_binding(api, sip_account, registrar, timers)
    mark = len(server.records())
    api.modify(account.id, registerServer="")
    wait_unregistered(
        server,
        since=mark,
        timeout=timers.state_timeout,
        after="modify.json cleared registerServer",
    )


@pytest.mark.req("SIP-REG-LIFE-004")
def test_state_after_clearing_register_server(
    api, sip_account, registrar, timers, readings, *, device_target
):
    claimed_as = claimed_states(device_target)
    server = registrar(grant=60)
    account = sip_account(registrar=server)
    ok, _ = wait_registered(api, account.id, server, timeout=timers.state_timeout)
    cleared_at = time.monotonic()
    api.modify(account.id, registerServer="")
    seen = []

    def settled(state):
        seen.append(state)
        last = seen[-SETTLED_SAMPLES:]
        return len(last) == SETTLED_SAMPLES and len(set(last)) == 1 and state not in claimed_as

    try:
        state = poll_until(
            lambda: api.status(account.id).register,
            settled,
            timeout=timers.state_timeout,
            interval=SAMPLE_EVERY,
            expected="register_status settled after registerServer was cleared",
        )
    except WaitTimeout:
        state = seen[-1] if seen else "nothing"
    observed = (
        f"register_status {state} after modify.json cleared registerServer at {cleared_at:.3f} "
        f"(registered at {ok.t:.3f}; seen {history(seen)})"
    )
    # The first samples may still show the binding (the device has not acted yet); once it has
    # left the granted states it must not claim one again.
    left = next((i for i, s in enumerate(seen) if s not in claimed_as), len(seen))
    again = [s for s in seen[left:] if s in claimed_as]
    assert not again, (
        f"[{api.req}] expected no granted register_status ({' or '.join(claimed_as)}) once it "
        f"was left after registerServer was cleared, observed {observed}"
    )
    if state not in AFTER_UNREGISTER_STATES:
        readings.none_of("register_status_after_unregister", observed)
    readings.follow("register_status_after_unregister", state, observed)
