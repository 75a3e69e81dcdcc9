"""device/status_judge.py: recorded status.json series, good under every reading, bad ones failed.

Each bad series is one a device could really report (a flicker into idle mid-call, a value
outside the page's set, registered before the registrar's 200, a call left in progress at the
end); each must fail its own requirement and only it.
"""

from __future__ import annotations

import pytest
import yaml

from decoder_conformance.device.client import Status
from decoder_conformance.device.status_judge import (
    ACCOUNT_STATES,
    CALL_STATES,
    EARLY_GRANT,
    END,
    FLICKER,
    REGISTER_STATES,
    VALUES,
    Expectations,
    Table,
    judge,
)
from decoder_conformance.device.status_series import Sample, read_status
from tests.conftest import ROOT

STEP = 0.1


def series(*rows: tuple[str, str, str], start: float = 100.0) -> list[Sample]:
    """Samples every STEP s from `start`, each answered 10 ms after it left."""
    return [
        Sample(start + i * STEP, Status(a, r, None, c, 0.0), answered=start + i * STEP + 0.01)
        for i, (a, r, c) in enumerate(rows)
    ]


def calls(*states: str, register: str = "idle") -> list[Sample]:
    return series(*(("created", register, c) for c in states))


def registers(*states: str) -> list[Sample]:
    return series(*(("created", r, "idle") for r in states))


def requirements(found: list) -> list[str]:
    return [v.requirement for v in found]


#: A call established on the wire before the first sample and never ended.
UP = [(0.0, None)]


# -- the table ----------------------------------------------------------------------------------


def _enum(schemas: dict, name: str) -> set[str]:
    state = schemas[name]["properties"]["state"]
    return set(state.get("enum", []))


def test_value_sets_are_the_pages_as_the_openapi_document_lists_them() -> None:
    schemas = yaml.safe_load((ROOT / "spec" / "openapi.yaml").read_text("utf-8"))["components"][
        "schemas"
    ]
    assert _enum(schemas, "AccountStatusItem") == ACCOUNT_STATES
    assert _enum(schemas, "CallStatusItem") == CALL_STATES
    assert _enum(schemas, "RegisterStatusItem") == REGISTER_STATES
    # ... and as the vendor's page prints them: every state quoted in its list.
    text = (ROOT / "spec" / "sip-module-api.txt").read_text("utf-8")
    for state in REGISTER_STATES | CALL_STATES | ACCOUNT_STATES:
        assert f"{state}”" in text or f"“{state}" in text, state


def test_table_follows_the_pinned_granted_reading() -> None:
    assert Table.from_readings({}).granted == ("registered", "connected", "on")
    assert Table.from_readings({"register_status_granted": "on"}).granted == ("on",)


# -- good series under each reading -------------------------------------------------------------

AS_NAMED = ("idle", "in", "in", "calling", "calling", "calling", "idle")
BY_DIRECTION = ("idle", "calling", "calling", "in", "in", "in", "idle")
AUTO_CALL = ("idle", "out", "calling", "calling", "reconnecting", "out", "calling", "close", "idle")


@pytest.mark.parametrize(
    ("pinned", "states"),
    [
        ({}, AS_NAMED),
        ({"call_status_meaning": "as_named"}, AS_NAMED),
        ({"call_status_meaning": "direction_when_established"}, BY_DIRECTION),
        ({}, BY_DIRECTION),
        ({}, AUTO_CALL),
    ],
    ids=["unpinned-as-named", "as-named", "by-direction", "unpinned-by-direction", "auto-call"],
)
def test_a_good_call_passes_under_each_reading(pinned: dict[str, str], states: tuple) -> None:
    samples = calls(*states)
    # The caller's BYE went out just before the last sample; the auto-call's re-dial too.
    events = [samples[-1].t - 0.05, samples[4].t - 0.05]
    wire = Expectations(events, (), samples[-1].t - 0.05, [(samples[1].t - 0.05, events[0])])
    found, exercised = judge(samples, Table.from_readings(pinned), wire)
    assert found == []
    assert {VALUES, FLICKER, END} <= exercised


@pytest.mark.parametrize("granted", ["registered", "connected", "on"])
def test_a_good_registration_passes_under_each_reading(granted: str) -> None:
    samples = registers("idle", "registering", "registering", granted, granted)
    ok_sent = samples[3].t - 0.02  # the registrar's 200 left before the sample asked
    for pinned in ({}, {"register_status_granted": granted}):
        found, exercised = judge(samples, Table.from_readings(pinned), Expectations((), [ok_sent]))
        assert found == [] and EARLY_GRANT in exercised


def test_every_move_the_page_does_not_forbid_is_allowed() -> None:
    # No meaning given, no move forbidden: a wild but value-set-true series passes.
    samples = series(
        ("not_created", "idle", "idle"),
        ("error", "closed", "close"),
        ("idle", "off", "reconnecting"),
        ("created", "disconnected", "error"),
        ("created", "reconnecting", "idle"),
    )
    found, _ = judge(samples, Table(), Expectations())
    assert found == []


# -- recorded bad series ------------------------------------------------------------------------


@pytest.mark.parametrize("dropped", ["idle", "error"])
def test_flicker_mid_call_fails(dropped: str) -> None:
    samples = calls("in", "calling", "calling", dropped, dropped, "calling", "calling")
    found, exercised = judge(samples, Table(), Expectations(established=UP))
    assert requirements(found) == [FLICKER], found
    assert f"{dropped} at" in found[0].detail and FLICKER in exercised


def test_flicker_under_the_direction_reading_fails() -> None:
    samples = calls("calling", "in", "idle", "in")
    pinned = {"call_status_meaning": "direction_when_established"}
    found, _ = judge(samples, Table.from_readings(pinned), Expectations(established=UP))
    assert requirements(found) == [FLICKER]


def test_a_drop_across_a_call_event_is_no_flicker() -> None:
    samples = calls("calling", "calling", "idle", "out", "calling")
    # A BYE ended the call, then a new INVITE: two calls, no flicker.
    events = [samples[2].t - 0.05, samples[3].t - 0.05]
    found, _ = judge(samples, Table(), Expectations(events, established=UP))
    assert found == []


def test_a_sample_in_flight_across_an_event_is_not_counted() -> None:
    samples = calls("calling", "idle", "calling")
    # The event came while the idle sample's request was out: the idle may be the event's.
    found, _ = judge(samples, Table(), Expectations([samples[1].t + 0.005], established=UP))
    assert found == []


def test_a_sample_just_before_an_event_is_not_counted() -> None:
    samples = calls("calling", "idle", "calling")
    # The device may show the next call's state a moment before its INVITE reaches the peer.
    found, _ = judge(samples, Table(), Expectations([samples[2].t + 0.1], established=UP))
    assert found == []


def test_an_ended_call_that_stays_ended_is_no_flicker() -> None:
    samples = calls("calling", "calling", "idle", "idle")
    found, _ = judge(samples, Table(), Expectations(established=UP))
    assert found == []


def test_no_flicker_is_judged_without_an_established_call() -> None:
    # auto_call failing and retrying: what out means there is a reading, no call was up.
    samples = calls("out", "error", "out", "error", "out")
    found, exercised = judge(samples, Table(), Expectations())
    assert found == [] and FLICKER not in exercised
    # The same drop while a call is up on the wire is a flicker.
    assert set(requirements(judge(samples, Table(), Expectations(established=UP))[0])) == {FLICKER}


@pytest.mark.negative_control("SIP-STAT-TRACE-001")
@pytest.mark.parametrize(
    ("row", "name"),
    [
        (("created", "idle", "talking"), "call_status"),
        (("created", "Registered", "idle"), "register_status"),
        (("ok", "idle", "idle"), "account_status"),
    ],
)
def test_a_value_outside_the_page_set_fails(row: tuple[str, str, str], name: str) -> None:
    samples = series(("created", "idle", "idle"), row, ("created", "idle", "idle"))
    found, exercised = judge(samples, Table(), Expectations())
    assert requirements(found) == [VALUES] and name in found[0].detail
    assert VALUES in exercised


@pytest.mark.negative_control("SIP-STAT-TRACE-003")
def test_registered_before_the_200_fails() -> None:
    samples = registers("idle", "registering", "registered", "registered")
    ok_sent = samples[3].t + 0.05  # held by the registrar: the device claimed it first
    found, exercised = judge(samples, Table(), Expectations((), [ok_sent]))
    assert requirements(found) == [EARLY_GRANT] and EARLY_GRANT in exercised


def test_registered_with_no_200_at_all_fails() -> None:
    found, _ = judge(registers("idle", "registered"), Table(), Expectations())
    assert requirements(found) == [EARLY_GRANT]
    assert "no registrar" in found[0].detail


def test_a_sample_answered_after_the_200_may_claim_the_grant() -> None:
    samples = registers("registering", "registered")
    # The request left before the 200 but its answer came after it: the state may be the 200's.
    ok_sent = samples[1].t + 0.005
    found, _ = judge(samples, Table(), Expectations((), [ok_sent]))
    assert found == []


def test_only_the_pinned_granted_state_claims_the_grant() -> None:
    samples = registers("on", "on")
    pinned = Table.from_readings({"register_status_granted": "registered"})
    assert judge(samples, pinned, Expectations())[0] == []
    assert requirements(judge(samples, Table(), Expectations())[0]) == [EARLY_GRANT]


@pytest.mark.negative_control("SIP-STAT-TRACE-004")
def test_wrong_end_state_fails() -> None:
    samples = calls("calling", "calling", "calling", "calling")
    found, exercised = judge(samples, Table(), Expectations((), (), samples[1].t - 0.05))
    assert requirements(found) == [END] and END in exercised


def test_no_end_is_judged_while_a_call_is_not_over() -> None:
    found, exercised = judge(calls("calling", "calling"), Table(), Expectations())
    assert found == [] and END not in exercised


# -- the recorder's lenient reading -------------------------------------------------------------


def test_read_status_keeps_values_outside_the_set() -> None:
    body = {
        "result": "ok",
        "data": [
            {"id": "account_status", "state": "created"},
            {"id": "register_status", "state": "Registered", "extra_info": 200},
            {"id": "call_status", "state": 3},
            {"id": "bitrate", "state": 512},
        ],
    }
    status, why = read_status(body)
    assert why == "" and status is not None
    assert (status.register, status.call, status.bitrate) == ("Registered", "3", 512.0)
    assert read_status({"result": "error", "msg": "1202"})[0] is None
    assert "call_status" in read_status({"result": "ok", "data": body["data"][:2]})[1]
