"""answer.json and hangup.json with no call to act on, and with unknown ids."""

from __future__ import annotations

import pytest

#: call_status while a call rings or is up, under every reading of call_status_meaning.
IN_PROGRESS = ("in", "out", "calling")


def _no_call(api, account_id, when):
    """No call in progress (what a call-less account shows otherwise is SIP-API-STAT-004's)."""
    call = api.status(account_id).call
    assert call not in IN_PROGRESS, f"{when}: expected no call in progress, observed {call!r}"


@pytest.mark.req("SIP-API-ANS-001")
def test_answer_without_call(api, new_account):
    account_id = new_account()
    _no_call(api, account_id, "precondition: a new account")
    api.expect_error(api.call("answer", {"id": str(account_id), "dir": "sip_out"}), "no_call")
    _no_call(api, account_id, f"[{api.req}] after answer.json")


@pytest.mark.req("SIP-API-ANS-002")
def test_answer_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("answer", {"id": str(unknown_id), "dir": "sip_out"}), "unknown_id")


@pytest.mark.req("SIP-API-HUP-001")
def test_hangup_without_call(api, new_account):
    account_id = new_account()
    _no_call(api, account_id, "precondition: a new account")
    api.expect_error(api.call("hangup", {"id": str(account_id)}), "no_call")
    _no_call(api, account_id, f"[{api.req}] after hangup.json")


@pytest.mark.req("SIP-API-HUP-002")
def test_hangup_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("hangup", {"id": str(unknown_id)}), "unknown_id")
