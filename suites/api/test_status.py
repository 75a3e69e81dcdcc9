"""status.json: shape, what created means, no fabricated registration, unknown ids."""

from __future__ import annotations

import pytest

from decoder_conformance.device import schema
from decoder_conformance.device.api_checks import created_readings, unconfigured_register_reading
from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised

#: Stands for the profile's first spare bind: the localAddress the device opens for the account.
SPARE = "<spare bind>"


@pytest.mark.req("SIP-API-STAT-001")
@pytest.mark.read_only
def test_status_shape(api, existing_account):
    """The four objects, each with a state from the page's set, found by their id: in any order,
    among more objects if the device adds some ("return includes multi objects"). Read-only mode
    reads an account the device already has; otherwise a scratch one."""
    account_id = existing_account.id
    reply = api.call("status", {"id": str(account_id)})
    data = api.expect_ok(reply, data_schema="PageStatusOk")
    _, problems = schema.status_items(data)
    if problems:
        raise ConformanceFailure(
            api.req,
            "objects account_status, register_status, call_status and bitrate with the page's "
            "states (any order, others allowed)",
            "; ".join(problems[:5]),
            reply.exchange,
        )


ROWS = {
    "name-and-type-only": {},
    "localAccount-only": {"localAccount": "2001"},
    "localAddress-only": {"localAddress": SPARE},
    "both": {"localAccount": "2001", "localAddress": SPARE},
}


@pytest.mark.parametrize(
    "row", [pytest.param(r, marks=pytest.mark.req("SIP-API-STAT-002")) for r in ROWS]
)
def test_created_meaning(api, new_account, listed, readings, row, *, spare_binds):
    fields = {k: (spare_binds[0] if v == SPARE else v) for k, v in ROWS[row].items()}
    account_id = new_account("sip", **fields)
    state = api.status(account_id).account
    created_flag = listed(account_id).created
    seen = (
        f"with {fields or 'only name and type'}: account_status {state!r}, "
        f"list created {created_flag}"
    )
    followed = created_readings(fields, state, created_flag)
    if not followed:
        readings.none_of("created_meaning", seen)
    if len(followed) == 1:  # a row both readings predict alike tells them apart no further
        readings.follow("created_meaning", followed[0], seen)


@pytest.mark.req("SIP-API-STAT-003")
def test_no_registrar_register_status(api, new_account, readings, spare_binds):
    account_id = new_account()
    if api.account(account_id)["registerServer"] != "":
        api.modify(account_id, registerServer="")
    if api.account(account_id)["registerServer"] != "":
        raise NotExercised("harness: could not give the account an empty registerServer")
    fresh = api.status(account_id).register
    api.modify(account_id, localAccount="2101", localAddress=spare_binds[0])
    configured = api.status(account_id).register
    for state, when in ((fresh, "of a new account"), (configured, "with localAccount+Address")):
        seen = f"register_status {state!r} without a registerServer, {when}"
        reading = unconfigured_register_reading(state)
        if reading is None:
            readings.none_of("register_status_unconfigured", seen)
        readings.follow("register_status_unconfigured", reading, seen)


@pytest.mark.req("SIP-API-STAT-004")
def test_no_call_means_idle_and_zero_bitrate(api, new_account):
    account_id = new_account()
    status = api.status(account_id)
    assert (status.call, status.bitrate) == ("idle", 0), (
        f"[{api.req}] expected call_status idle and bitrate 0 with no call, "
        f"observed {status.call!r} and {status.bitrate!r}"
    )


@pytest.mark.req("SIP-API-STAT-005")
@pytest.mark.read_only
def test_status_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("status", {"id": str(unknown_id)}), "unknown_id")
