"""status.json: shape, what created means, no fabricated registration, unknown ids."""

from __future__ import annotations

import pytest

from decoder_conformance.device.client import ConformanceFailure

STATUS_ORDER = ["account_status", "register_status", "call_status", "bitrate"]

#: Stands for the profile's first spare bind: the localAddress the device opens for the account.
SPARE = "<spare bind>"


@pytest.mark.req("SIP-API-STAT-001")
def test_status_shape(api, new_account):
    account_id = new_account()
    reply = api.call("status", {"id": str(account_id)})
    data = api.expect_ok(reply, data_schema="StatusOk")
    order = [item.get("id") for item in data]
    if order != STATUS_ORDER:
        raise ConformanceFailure(api.req, f"items {STATUS_ORDER}", f"{order}", reply.exchange)


@pytest.mark.parametrize(
    ("fields", "created"),
    [
        pytest.param({}, False, id="name-and-type-only", marks=pytest.mark.req("SIP-API-STAT-002")),
        pytest.param(
            {"localAccount": "2001"},
            False,
            id="localAccount-only",
            marks=pytest.mark.req("SIP-API-STAT-002"),
        ),
        pytest.param(
            {"localAddress": SPARE},
            False,
            id="localAddress-only",
            marks=pytest.mark.req("SIP-API-STAT-002"),
        ),
        pytest.param(
            {"localAccount": "2001", "localAddress": SPARE},
            True,
            id="both",
            marks=pytest.mark.req("SIP-API-STAT-002"),
        ),
    ],
)
def test_created_needs_local_account_and_address(
    api, new_account, listed, fields, created, *, spare_binds
):
    fields = {k: (spare_binds[0] if v == SPARE else v) for k, v in fields.items()}
    account_id = new_account("sip", **fields)
    state = api.status(account_id).account
    created_flag = listed(account_id).created
    want = ("created" if created else "not_created", created)
    assert (state, created_flag) == want, (
        f"[{api.req}] with {fields or 'only name and type'} expected account_status "
        f"{want[0]!r} and list created {want[1]}, observed {state!r} and {created_flag}"
    )


@pytest.mark.req("SIP-API-STAT-003")
def test_no_registrar_means_register_idle(api, new_account, spare_binds):
    account_id = new_account()
    assert api.account(account_id)["registerServer"] == "", "precondition: no registerServer"
    fresh = api.status(account_id).register
    api.modify(account_id, localAccount="2101", localAddress=spare_binds[0])
    created = api.status(account_id)
    assert created.account == "created", (
        f"precondition: account created after localAccount+localAddress, observed {created.account}"
    )
    assert (fresh, created.register) == ("idle", "idle"), (
        f"[{api.req}] expected register_status idle without a registrar (fresh and created), "
        f"observed {fresh!r} and {created.register!r}"
    )


@pytest.mark.req("SIP-API-STAT-004")
def test_no_call_means_idle_and_zero_bitrate(api, new_account):
    account_id = new_account()
    status = api.status(account_id)
    assert (status.call, status.bitrate) == ("idle", 0), (
        f"[{api.req}] expected call_status idle and bitrate 0 with no call, "
        f"observed {status.call!r} and {status.bitrate!r}"
    )


@pytest.mark.req("SIP-API-STAT-005")
def test_status_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("status", {"id": str(unknown_id)}), "unknown_id")
