"""Property-based: whatever text arrives in modify.json / modify_call_cfg.json fields, the device
either applies all of it (and reads it back exactly) or refuses it with a catalogue code and
changes nothing.

The account is created by the case (through `new_account`), outside the @given body: the inner
property function takes no fixtures, so hypothesis runs its examples against one account, which
is put back to the settings it started with before every example (so a failing example fails
again when hypothesis replays it, whatever the examples before it changed).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoder_conformance.device.client import (
    PAGE_FLAG_FORMS,
    ConformanceFailure,
    as_number,
    setting_of,
)

FUZZ_SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

#: Printable ASCII, a few separators SIP and URLs care about, some non-ASCII and control chars.
ALPHABET = st.characters(
    codec="utf-8", min_codepoint=0, max_codepoint=0x2FF, exclude_categories=("Cs",)
) | st.sampled_from("@:;,*.%&=+ ?#/\\\"'<>\u4e2d\u00e9")

TEXT = st.text(ALPHABET, max_size=24)


def values(*typical):
    """Generated text, plus numbers as strings, plus `typical` well-formed values."""
    return st.one_of(
        TEXT,
        st.integers(-3, 70000).map(str),
        st.sampled_from(["", "x" * 129, *typical]),
    )


MODIFY_FIELDS = {
    "name": values("renamed-by-fuzz"),
    "localAccount": values("1001", "34020000001320000001"),
    "localAddress": values("*"),  # plus the profile's spare binds: see modify_fields()
    "realm": values("*", "realm-fuzz"),
    "serverId": values("34020000002000000001"),
    # Loopback literals only: a fuzzed address must never make the device contact another host.
    "registerServer": values("127.0.0.1", "127.0.0.2"),
    "registerPort": values("5060", "1", "65535", "0", "65536"),
    "username": values("user"),
    "password": values("secret"),
}


def modify_fields(spare_binds):
    """MODIFY_FIELDS with the spare binds as well-formed localAddress values: the device opens
    an accepted localAddress, so the only binds offered are the ones the suite may open."""
    return {**MODIFY_FIELDS, "localAddress": values(*spare_binds, "*")}


CALL_FIELDS = {
    "allow_in": values("1", "2", "true"),
    "auto_aws": values("0", "1", "2", "true", "false"),
    "auto_call": values("0", "1", "2", "true", "false"),
    "source_enable": values("1", "2"),
    "policy": values("1", "2", "3", "4"),
    "allow_in_num": values("1", "16", "17"),
    "buffer": values("live:200:200:500:0:0", "live:1:2:3:4:100001", "LIVE:1:1:1:1:1"),
    "sip_out_url": values("1001@127.0.0.1", "sip:1@127.0.0.2:5062"),
    "source_id": values("src-1"),
    "default_name": values("decoder-1"),
}


def field_sets(fields):
    """1..3 distinct fields, each with a generated value."""
    return st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: fields[n] for n in names})
    )


def _expect_refusal_or_readback(api, guard, reply, before, readback, *, codes):
    """The property: a catalogue error with nothing changed, or ok with `readback()` == sent."""
    api.expect_envelope(reply)
    if not reply.ok:
        if reply.msg not in codes:
            raise ConformanceFailure(
                api.req, "an error code from the catalogue", f"error {reply.msg!r}", reply.exchange
            )
        guard.unchanged(before, reply)
        return
    want, seen = readback()
    if seen != want:
        raise ConformanceFailure(
            api.req, f"the accepted values read back exactly: {want!r}", f"{seen!r}", reply.exchange
        )


def port_of(value):
    """account.json's registerPort for an accepted `value`; a value no port reads back as."""
    if value.isascii() and value.isdigit():
        return int(value)
    return f"<no port: {value!r} should have been refused>"


@pytest.mark.req("LOCAL-API-FUZZ-001")
def test_modify_fuzz(api, new_account, guard, spare_binds, catalogue_codes):
    account_id = new_account()
    start = api.account(account_id)
    baseline = {k: str(start[k]) for k in MODIFY_FIELDS}

    @FUZZ_SETTINGS
    @given(fields=field_sets(modify_fields(spare_binds)))
    def prop(fields):
        api.modify(account_id, **baseline)
        before = guard.snap(account_id)
        reply = api.call("modify", {"id": str(account_id), **fields})

        def readback():
            data = api.account(account_id)
            want = {k: (port_of(v) if k == "registerPort" else v) for k, v in fields.items()}
            # registerPort compared as a number: its JSON type is SIP-API-ACC-003's reading.
            seen = {
                k: (as_number(data.get(k)) if k == "registerPort" else data.get(k)) for k in fields
            }
            return want, seen

        _expect_refusal_or_readback(api, guard, reply, before, readback, codes=catalogue_codes)

    prop()


YES, NO = ("1", "true"), ("0", "2", "false")


def expected_cfg(field, value):
    """What call_cfg.json (or account.json policy) must show after `field`=`value` was accepted;
    None when the contract gives `value` no meaning (accepting it is then a defect)."""
    # Flags as their meaning: how call_cfg.json encodes them is SIP-API-CFG-005..007's reading.
    if field in ("allow_in", "source_enable"):
        return {"1": True, "2": False}.get(value)
    if field in ("auto_aws", "auto_call"):
        return True if value in YES else False if value in NO else None
    if field == "policy":
        return {"1": 1, "2": 2, "3": 3}.get(value)
    if field == "allow_in_num":
        return int(value) if value.isascii() and value.isdigit() and 1 <= int(value) <= 16 else None
    return value


def _as_param(field, cfg):
    """A call_cfg.json setting as a modify_call_cfg.json parameter: a flag in the page's form, the
    buffer under either key, anything else as shown."""
    value = setting_of(cfg, field)
    if field in PAGE_FLAG_FORMS and isinstance(value, bool):
        return PAGE_FLAG_FORMS[field][0 if value else 1]
    return str(value)


@pytest.mark.req("LOCAL-API-FUZZ-002")
def test_modify_call_cfg_fuzz(api, new_account, guard, catalogue_codes, *, device_target):
    # policy is written through modify_call_cfg.json only where the profile says the device
    # takes it (capability policy_write): the page documents no way to write it.
    writes_policy = device_target.profile.has("policy_write")
    call_fields = {k: v for k, v in CALL_FIELDS.items() if writes_policy or k != "policy"}
    account_id = new_account()
    start = api.call_cfg(account_id)
    baseline = {k: _as_param(k, start) for k in call_fields if k != "policy"}
    if writes_policy:
        baseline["policy"] = str(api.account(account_id)["call_in_options"]["policy"])

    @FUZZ_SETTINGS
    @given(fields=field_sets(call_fields))
    def prop(fields):
        api.modify_call_cfg(account_id, **baseline)
        before = guard.snap(account_id)
        reply = api.call("modify_call_cfg", {"id": str(account_id), **fields})

        def readback():
            cfg = api.call_cfg(account_id)
            policy = api.account(account_id)["call_in_options"]["policy"]
            want = {k: expected_cfg(k, v) for k, v in fields.items()}
            seen = {k: (policy if k == "policy" else setting_of(cfg, k)) for k in fields}
            return want, seen

        _expect_refusal_or_readback(api, guard, reply, before, readback, codes=catalogue_codes)

    prop()
