"""answer.json and hangup.json with no call to act on, and with unknown ids."""

from __future__ import annotations

import pytest


@pytest.mark.req("SIP-API-ANS-001")
def test_answer_without_call(api, new_account):
    account_id = new_account()
    assert api.status(account_id).call == "idle", "precondition: no call"
    api.expect_error(api.call("answer", {"id": str(account_id), "dir": "sip_out"}), "no_call")
    call = api.status(account_id).call
    assert call == "idle", (
        f"[{api.req}] expected call_status idle after answer.json, observed {call!r}"
    )


@pytest.mark.req("SIP-API-ANS-002")
def test_answer_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("answer", {"id": str(unknown_id), "dir": "sip_out"}), "unknown_id")


@pytest.mark.req("SIP-API-HUP-001")
def test_hangup_without_call(api, new_account):
    account_id = new_account()
    assert api.status(account_id).call == "idle", "precondition: no call"
    api.expect_error(api.call("hangup", {"id": str(account_id)}), "no_call")
    call = api.status(account_id).call
    assert call == "idle", (
        f"[{api.req}] expected call_status idle after hangup.json, observed {call!r}"
    )


@pytest.mark.req("SIP-API-HUP-002")
def test_hangup_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("hangup", {"id": str(unknown_id)}), "unknown_id")
