"""API checks shared by the cases and their negative controls, as pure functions of recorded
answers.

A reading classifier returns the listed reading an observation follows, or None when it follows
none of them (the case then fails through `readings.none_of`); a check raises ConformanceFailure.
Neither sends anything, so the project's tests feed them recorded bad answers and see them fail
(`@pytest.mark.negative_control`, tests/test_negative_controls.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from decoder_conformance.device.client import (
    ConformanceFailure,
    Exchange,
    Reply,
    as_number,
    setting_of,
)

#: call_cfg.json's defaults the page states ("default1", default "").
CALL_CFG_DEFAULTS: dict[str, Any] = {"allow_in_num": 1, "source_id": "", "default_name": ""}

#: modify_call_cfg.json's example on the page, field by field as written (the page's type is the
#: account's own: a case adds it).
PAGE_CALL_CFG_EXAMPLE: dict[str, str] = {
    "allow_in_num": "1",
    "buffer": "live:200:200:500:0:0",
    "source_id": "",
    "default_name": "",
    "sip_out_url": "",
    "allow_in": "1",
    "source_enable": "1",
    "auto_aws": "0",
    "auto_call": "0",
}


def page_modify_example(local_address: str) -> dict[str, str]:
    """modify.json's example on the page as the suite writes it: the page's localAddress *:5060
    is a bind the device opens, so `local_address` (a spare bind) stands in for it; the page's
    registerServer is a lab registrar's private address, and a loopback literal keeps the
    device's REGISTER on the device (no name to resolve, no other host contacted). registerPort
    opens nothing and keeps the page's 5060."""
    return {
        "type": "sip",
        "localAccount": "123",
        "localAddress": local_address,
        "registerServer": "127.0.0.1",
        "registerPort": "5060",
        "realm": "*",
        "serverId": "sip",
        "username": "sip1",
        "password": "sip1",
    }


def json_kind(value: Any) -> tuple[str, Any]:
    """A JSON value with its type, so that 1 and true (equal in Python) stay apart."""
    return (type(value).__name__, value)


#: (yes shown, no shown) -> reading name, for each flag's encoding point (SIP-API-CFG-005..007).
FLAG_ENCODINGS: dict[tuple[tuple[str, Any], tuple[str, Any]], str] = {
    (json_kind(1), json_kind(0)): "zero_one",
    (json_kind(1), json_kind(2)): "one_two",
    (json_kind(True), json_kind(False)): "boolean",
}


def id_type_reading(raw_id: Any) -> str | None:
    """list.json's id as id_type's reading (SIP-API-LIST-002): a JSON integer or a decimal
    string; a boolean, a float or any other string is none of them."""
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        return "json_integer"
    if isinstance(raw_id, str) and as_number(raw_id) is not None:
        return "decimal_string"
    return None


def flag_encoding_reading(yes_shown: Any, no_shown: Any) -> str | None:
    """How call_cfg.json showed a flag set to yes, then no (SIP-API-CFG-005..007)."""
    return FLAG_ENCODINGS.get((json_kind(yes_shown), json_kind(no_shown)))


def buffer_key_reading(cfg: Mapping[str, Any], written: str) -> str | None:
    """Under which key call_cfg.json shows the buffer `written` (SIP-API-CFG-004): buffer,
    buffer_option or both; None when neither key holds exactly what was written."""
    keys = tuple(k for k in ("buffer", "buffer_option") if k in cfg)
    if not keys or any(cfg[k] != written for k in keys):
        return None
    return keys[0] if len(keys) == 1 else "both"


def server_port_reading(
    entries: Sequence[Mapping[str, Any]] | None,
    binds: Sequence[str],
    accounts: Sequence[tuple[int, str]],
) -> str | None:
    """server_port.json's entries as server_port_entries' reading (SIP-API-PORT-001): one
    {name, value} per bind of get_binds.json in order (binds), or one entry per account naming
    it by id or by name (accounts). `accounts` is (id, name) of every listed account."""
    if entries is None:
        return None
    if list(entries) == [{"name": b, "value": b} for b in binds]:
        return "binds"
    names = sorted(str(e.get("name")) for e in entries)
    if names in (sorted(str(i) for i, _ in accounts), sorted(n for _, n in accounts)):
        return "accounts"
    return None


def check_call_cfg_defaults(
    req: str, cfg: Mapping[str, Any], exchange: Exchange | None = None
) -> None:
    """A new account's call_cfg.json shows the page's defaults (SIP-API-CFG-002)."""
    seen = {k: cfg.get(k) for k in CALL_CFG_DEFAULTS}
    if seen != CALL_CFG_DEFAULTS:
        raise ConformanceFailure(req, f"page defaults {CALL_CFG_DEFAULTS}", f"{seen}", exchange)


def check_binds_list(req: str, binds: str, exchange: Exchange | None = None) -> None:
    """get_binds.json's binds is a comma-separated list with no empty entry (SIP-API-BIND-001;
    its type is the PageBindsOk schema's)."""
    if binds and any(not entry.strip() for entry in binds.split(",")):
        raise ConformanceFailure(
            req, "a comma-separated list of binds (no empty entry)", f"{binds!r}", exchange
        )


#: (list.json type, account.json protocol) of an account stored from type=Ssip -> reading
#: (ssip_type, ssip_type_on_modify: SIP-API-ADD-003, SIP-API-MOD-010).
SSIP_READINGS: dict[tuple[Any, Any], str] = {
    ("sip", "sip"): "alias_of_sip",
    ("Ssip", "Ssip"): "own_type",
}
#: get_binds.json after set_binds.json took the page's example *:5060,*.2222 -> reading
#: (page_example_binds, SIP-API-SBIND-002).
PAGE_EXAMPLE_BINDS_READINGS: dict[str, str] = {
    "*:5060,*.2222": "accepted_as_written",
    "*:5060,*:2222": "accepted_normalised",
}
#: The readings of register_status_unconfigured (SIP-API-STAT-003).
UNCONFIGURED_REGISTER_STATES = ("idle", "off", "closed", "disconnected", "error")


def refused_or_shown_reading(
    accepted: bool, changed: Any, shown: Any, table: Mapping[Any, str]
) -> str | None:
    """A request the page's wording leaves open: refused with nothing changed ("refused"), or
    accepted and shown as one of `table`'s readings. A refusal that changed something
    (`changed` non-empty: a DeviceState diff) and an acceptance shown otherwise are neither."""
    if not accepted:
        return None if changed else "refused"
    return table.get(shown)


def created_readings(fields: Sequence[str], state: str, created_flag: Any) -> list[str]:
    """The readings of created_meaning (SIP-API-STAT-002) that an account with `fields` set
    showing account_status `state` and list.json created `created_flag` agrees with."""
    both = {"localAccount", "localAddress"} <= set(fields)
    followed = []
    if (state, created_flag) == ("created" if both else "not_created", both):
        followed.append("configured")
    if created_flag is True and state != "not_created":
        followed.append("on_add")
    return followed


def unconfigured_register_reading(state: str) -> str | None:
    """register_status of an account with no registerServer as a reading of
    register_status_unconfigured (SIP-API-STAT-003); registered or registering are none."""
    return state if state in UNCONFIGURED_REGISTER_STATES else None


def check_read_back(
    req: str, what: str, want: Any, seen: Any, exchange: Exchange | None = None
) -> None:
    """What a read shows (`seen`) is what was written (`want`); `what` names the read."""
    if seen != want:
        raise ConformanceFailure(req, f"{what} {want!r}", f"{seen!r}", exchange)


def check_untouched(req: str, what: str, before: Any, after: Any) -> None:
    """A read of something the request did not name (`what`) is the same after it."""
    if after != before:
        raise ConformanceFailure(req, f"{what} unchanged", f"{before!r} -> {after!r}")


def account_read_back(
    written: Mapping[str, str], account: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(want, seen) of modify.json's `written` fields in account.json: type is shown as
    protocol, registerPort compared as a number (its JSON type is SIP-API-ACC-003's reading)."""
    want: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    for field, value in written.items():
        key = "protocol" if field == "type" else field
        if field == "registerPort":
            want[key], seen[key] = as_number(value), as_number(account.get(key))
        else:
            want[key], seen[key] = value, account.get(key)
    return want, seen


def sent_as_cfg(field: str, value: str) -> Any:
    """The setting a modify_call_cfg.json value stands for, as `setting_of` shows it: a flag as
    yes/no, numbers as integers, text unchanged."""
    return setting_of({field: int(value) if value.isdigit() else value}, field)


def call_cfg_read_back(
    written: Mapping[str, str], cfg: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(want, seen) of modify_call_cfg.json's `written` fields in call_cfg.json (flags by their
    meaning, the buffer under either key: SIP-API-CFG-004..007's readings)."""
    want = {k: sent_as_cfg(k, v) for k, v in written.items()}
    return want, {k: setting_of(cfg, k) for k in want}


def check_renamed(req: str, names: Mapping[int, str], account_id: int, old: str, new: str) -> None:
    """After modify.json name=`new`, list.json (id -> name) lists `account_id` as `new` and no
    account as `old` (SIP-API-MOD-008)."""
    shown, old_listed = names.get(account_id), old in names.values()
    if (shown, old_listed) != (new, False):
        raise ConformanceFailure(
            req,
            f"id {account_id} listed as {new!r} and {old!r} gone",
            f"{shown!r}, old name listed: {old_listed}",
        )


def mcfg_type_reading(protocol: Any) -> str | None:
    """account.json protocol of a sip account after modify_call_cfg.json type=gb28181, as
    mcfg_type_param's reading (SIP-API-MCFG-011)."""
    return (
        {"sip": "ignored", "gb28181": "applied"}.get(protocol)
        if isinstance(protocol, str)
        else None
    )


def check_setting_shown(req: str, field: str, cfg_value: Any, want: Any) -> None:
    """call_cfg.json's `field` showing `cfg_value` is the setting `want`: a flag by its meaning
    in any encoding the page allows (`setting_of`; SIP-API-MCFG-003)."""
    if setting_of({field: cfg_value}, field) != want:
        raise ConformanceFailure(req, f"call_cfg.json {field} showing {want!r}", f"{cfg_value!r}")


def check_allow_in_shown(req: str, cfg_value: Any, written: str) -> None:
    """call_cfg.json allow_in reads back exactly as written (1 or 2, a JSON number), as both of
    the page's tables give it (SIP-API-MCFG-003)."""
    if cfg_value != int(written) or isinstance(cfg_value, bool):
        raise ConformanceFailure(req, f"call_cfg.json allow_in {int(written)}", f"{cfg_value!r}")


def server_port_entries(data: Any) -> list[dict[str, Any]] | None:
    """server_port.json's data as a list of {name, value} objects, or None if it is not one."""
    if not isinstance(data, list) or not all(
        isinstance(e, dict) and "name" in e and "value" in e for e in data
    ):
        return None
    return data


def server_port_params_reading(
    plain: Reply, example: Reply, mine: Reply, *, id_3_unknown: bool
) -> str | None:
    """server_port_params' reading (SIP-API-PORT-002) of server_port.json answered without
    parameters (`plain`), with the page's id=3&type=sip (`example`) and with an existing
    account's id (`mine`): the same answer each time (ignored), or answers selecting among the
    plain one's entries (filter; an error to id 3 when no account has it). None: neither."""
    if example.body == plain.body and mine.body == plain.body:
        return "ignored"
    listed = server_port_entries(plain.data) or []

    def selects(reply: Reply) -> bool:
        entries = server_port_entries(reply.data) if reply.ok else None
        return entries is not None and all(e in listed for e in entries)

    if selects(mine) and (selects(example) or (not example.ok and id_3_unknown)):
        return "filter"
    return None


#: The requirement of an answer's Content-Type (a practice: the page shows bodies, no headers).
CONTENT_TYPE_REQ = "SIP-API-ENV-008"


def content_type_problem(exchange: Exchange) -> str | None:
    """What is wrong with the Content-Type of an HTTP 200 answer whose body is a JSON envelope
    (anything but application/json); None when nothing is, or the answer is no envelope (its
    own case judges that)."""
    if exchange.status != 200 or not exchange.body.lstrip().startswith("{"):
        return None
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return None
    if not isinstance(body, dict) or "result" not in body:
        return None
    media_type = exchange.content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        return None
    path = exchange.url.rsplit("/", 1)[-1]
    return f"{path} answered its JSON envelope as {exchange.content_type or 'no Content-Type'}"
