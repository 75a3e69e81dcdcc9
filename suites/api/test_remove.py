"""remove.json: the account goes, its id is dead, nothing else is touched."""

from __future__ import annotations

import pytest

from decoder_conformance.device.api_checks import check_untouched


@pytest.mark.req("SIP-API-REM-001")
def test_remove_unlists(api, new_account):
    account_id = new_account()
    assert account_id in {a.id for a in api.accounts()}, "precondition: account listed"
    api.remove(account_id)
    listed = {a.id for a in api.accounts()}
    assert account_id not in listed, (
        f"[{api.req}] expected id {account_id} not listed after remove.json ok, observed listed"
    )


@pytest.mark.req("SIP-API-REM-002")
def test_remove_unknown_id_refused(api, unknown_id):
    api.expect_error(api.call("remove", {"id": str(unknown_id)}), "unknown_id")


@pytest.mark.req("SIP-API-REM-002")
def test_remove_twice_refused(api, new_account):
    account_id = new_account()
    api.remove(account_id)
    api.expect_error(api.call("remove", {"id": str(account_id)}), "unknown_id")


@pytest.mark.req("SIP-API-REM-003")
def test_remove_touches_only_named_account(api, new_account):
    doomed = new_account()
    kept = new_account("sip", localAccount="6001", realm="kept-realm")
    api.modify_call_cfg(kept, auto_aws="true", default_name="kept")
    account_before, cfg_before = api.account(kept), api.call_cfg(kept)
    api.remove(doomed)
    listed = {a.id for a in api.accounts()}
    assert doomed not in listed, f"precondition: id {doomed} removed, observed still listed"
    assert kept in listed, f"[{api.req}] expected id {kept} still listed, observed gone"
    account_after, cfg_after = api.account(kept), api.call_cfg(kept)
    check_untouched(
        api.req,
        f"account.json and call_cfg.json of id {kept} (remove.json named id {doomed})",
        (account_before, cfg_before),
        (account_after, cfg_after),
    )
