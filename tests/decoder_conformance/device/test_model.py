"""The stateful case's model (decoder_conformance/device/model.py) fed recorded observations:
good ones pass, and recorded bad ones (the modify_forgets_calls fault's status.json among them)
are flagged."""

from __future__ import annotations

from typing import Any

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.device.client import Status
from decoder_conformance.device.model import (
    CALL_STATUS_MEANING,
    POINTS,
    Call,
    DeviceModel,
    Observation,
    Outcome,
    Readings,
)

BIND = "127.0.0.1:40321"


def readings(pinned: dict[str, str] | None = None) -> Readings:
    points = Catalogue().points
    listed = {p: [r.name for r in points[p].readings] for p in POINTS}
    return Readings.allowing(listed, pinned or {})


def configured_model(pinned: dict[str, str] | None = None) -> DeviceModel:
    model = DeviceModel(readings(pinned))
    model.added(3, "st-a", "sip")
    model.modified(3, {"localAccount": "7001", "localAddress": BIND})
    return model


def observation(
    *,
    call: str = "idle",
    register: str = "idle",
    account_status: str = "created",
    created: Any = True,
    listed_name: str = "st-a",
    realm: str = "*",
    auto_aws: Any = 0,
    extra_listed: tuple[dict[str, Any], ...] = (),
    granted: frozenset[int] | set[int] = frozenset(),
    register_server: str | None = None,
) -> Observation:
    account = {
        "name": "st-a",
        "protocol": "sip",
        "localAccount": "7001",
        "localAddress": BIND,
        "realm": realm,
        "call_in_options": {"auto_answer": bool(auto_aws), "allow": True, "policy": 1},
    }
    if register_server is not None:
        account["registerServer"] = register_server
    cfg = {"allow_in": 1, "auto_aws": auto_aws, "buffer": "live:200:200:500:0:0"}
    listed = [{"id": 3, "name": listed_name, "type": "sip", "created": created}, *extra_listed]
    status = Status(account_status, register, 0, call, 0)
    return Observation(listed, {3: account}, {3: cfg}, {3: status}, frozenset(granted))


def test_the_reading_tables_cover_the_catalogue() -> None:
    points = Catalogue().points
    assert set(CALL_STATUS_MEANING) == {r.name for r in points["call_status_meaning"].readings}
    for point in POINTS:
        assert point in points, point


def test_a_good_observation_passes_and_narrows() -> None:
    model = configured_model()
    assert model.check(observation()) == []
    assert model.readings.open["created_meaning"] == {"configured", "on_add"}
    assert model.readings.open["register_status_unconfigured"] == {"idle"}


@pytest.mark.negative_control("LOCAL-API-STATE-001")
def test_a_call_the_device_forgot_is_flagged() -> None:
    # Recorded under modify_forgets_calls: the call rings at the caller, status.json says idle.
    model = configured_model()
    model.call_is(3, Call.RINGING)
    problems = model.check(observation(call="idle"))
    assert problems and "call_status 'idle'" in problems[0]
    model.call_is(3, Call.UP)
    assert model.check(observation(call="idle"))
    assert model.check(observation(call="calling")) == []


def test_call_status_readings_narrow_across_steps() -> None:
    model = configured_model()
    model.call_is(3, Call.RINGING)
    assert model.check(observation(call="in")) == []  # as_named only
    model.call_is(3, Call.UP)
    assert model.check(observation(call="in"))  # direction_when_established: ruled out
    assert model.check(observation(call="calling")) == []


def test_a_pinned_reading_is_the_only_one() -> None:
    model = configured_model({"call_status_meaning": "direction_when_established"})
    model.call_is(3, Call.RINGING)
    assert model.check(observation(call="in"))
    assert model.check(observation(call="calling")) == []


def test_a_failed_check_does_not_narrow() -> None:
    model = configured_model()
    model.call_is(3, Call.RINGING)
    assert model.check(observation(call="in", listed_name="other"))
    assert model.readings.open["call_status_meaning"] == set(CALL_STATUS_MEANING)


def test_no_call_in_progress_without_one_on_the_wire() -> None:
    assert configured_model().check(observation(call="calling"))
    assert configured_model().check(observation(call="close")) == []


def test_read_back_and_list_problems() -> None:
    assert configured_model().check(observation(listed_name="old-name"))
    model = configured_model()
    model.modified(3, {"realm": "r1"})
    assert model.check(observation(realm="*"))
    assert model.check(observation(realm="r1")) == []
    model.call_cfg_modified(3, {"auto_aws": True})
    assert model.check(observation(realm="r1", auto_aws=0))
    assert model.check(observation(realm="r1", auto_aws=True)) == []


def test_a_removed_account_still_listed_is_flagged() -> None:
    model = configured_model()
    model.added(4, "st-b", "sip")
    model.removed_account(4)
    ghost = {"id": 4, "name": "st-b", "type": "sip", "created": False}
    problems = model.check(observation(extra_listed=(ghost,)))
    assert problems == ["list.json: id 4 listed after remove.json answered ok"]


def test_created_meaning_is_held_to_one_reading() -> None:
    model = DeviceModel(readings())
    model.added(3, "st-a", "sip")
    unconfigured = observation(account_status="not_created", created=False)
    assert model.check(unconfigured) == []
    assert model.readings.open["created_meaning"] == {"configured"}
    assert model.check(observation(account_status="error", created=True))


def test_registered_only_after_the_registrars_200() -> None:
    model = configured_model()
    assert model.check(observation(register="registered"))  # no registrar at all
    model.modified(3, {"registerServer": "127.0.0.1"}, since=10)
    problems = model.check(observation(register="registered", register_server="127.0.0.1"))
    assert any("no 200 from the registrar" in p for p in problems)
    granted = observation(register="registered", register_server="127.0.0.1", granted={3})
    assert model.check(granted) == []
    model.modified(3, {"registerServer": ""})
    assert model.check(observation(register="registered", register_server=""))
    assert model.check(observation(register="unregistering", register_server="")) == []
    assert model.check(observation(register="idle", register_server="")) == []


def test_what_requests_and_events_must_lead_to() -> None:
    model = configured_model()
    assert model.incoming(3) is Outcome.RINGS
    assert model.answer(3) is Outcome.NO_CALL and model.hangup(3) is Outcome.NO_CALL
    model.call_cfg_modified(3, {"auto_aws": True})
    assert model.incoming(3) is Outcome.ANSWERED
    model.call_cfg_modified(3, {"allow_in": False})
    assert model.incoming(3) is Outcome.REFUSED
    model.call_is(3, Call.RINGING)
    assert model.answer(3) is Outcome.ACTS and model.hangup(3) is Outcome.HANGUP_RINGING
    model.call_is(3, Call.UP)
    assert model.answer(3) is Outcome.UNCHANGED and model.hangup(3) is Outcome.ACTS


def test_hangup_of_a_ringing_call_follows_one_reading() -> None:
    model = configured_model()
    model.call_is(3, Call.RINGING)
    assert model.hangup_ringing_seen(3, ok=False, msg="1211", final=None) == []
    assert model.accounts[3].call is Call.RINGING
    assert model.hangup_ringing_seen(3, ok=True, msg=None, final=603)  # decline ruled out
    other = configured_model()
    other.call_is(3, Call.RINGING)
    assert other.hangup_ringing_seen(3, ok=True, msg=None, final=603) == []
    assert other.accounts[3].call is Call.NONE
    assert configured_model().hangup_ringing_seen(3, ok=True, msg=None, final=None)
