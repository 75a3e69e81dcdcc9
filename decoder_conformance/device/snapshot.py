"""Lab safety: snapshot the device's accounts, call settings and binds, and put them back.

Taken before the first case; restored at the end of the session, after a failure and on Ctrl-C.
Both read the raw answers (no schema: whatever form the device uses, an `id` of 1 or "1", a
registerPort of 5060 or "5060", a buffer under `buffer` or `buffer_option`, binds the page's own
`*:5060,*.2222`) and write the same values back. A field the device refuses to take back is
skipped and named in the restore report; nothing about the device's readings stops the session.

Accounts are matched by name, since a device gives a re-added account a new id: an account the
session removed comes back with the same settings under a new id, and the restore report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decoder_conformance.device.client import (
    PAGE_FLAG_FORMS,
    ConformanceFailure,
    DeviceClient,
    Reply,
    flag_meaning,
)

#: account.json fields that modify.json writes back.
ACCOUNT_FIELDS = (
    "localAccount",
    "localAddress",
    "realm",
    "serverId",
    "registerServer",
    "registerPort",
    "username",
    "password",
)
#: call_cfg.json fields that modify_call_cfg.json writes back (the buffer under either key).
CALL_FIELDS = (
    "allow_in",
    "auto_aws",
    "auto_call",
    "source_enable",
    "sip_out_url",
    "buffer",
    "source_id",
    "allow_in_num",
    "default_name",
)


def param_text(value: Any) -> str:
    """A read-back value as a request parameter (JSON booleans as true/false, as read)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Listed:
    """One list.json entry as the device sent it (`id` in whatever form it uses)."""

    id: Any
    name: str
    type: str

    @property
    def param(self) -> str:
        """The id as a request parameter."""
        return param_text(self.id)


@dataclass(frozen=True)
class AccountState:
    """Everything the suite may change about one account, as the device showed it."""

    name: str
    type: str
    account: dict[str, Any]
    call_cfg: dict[str, Any]

    def modify_params(self) -> dict[str, str]:
        """modify.json parameters that set this state."""
        params = {k: param_text(self.account[k]) for k in ACCOUNT_FIELDS if k in self.account}
        params["type"] = self.type
        return params

    def call_params(self) -> dict[str, str]:
        """modify_call_cfg.json parameters that set this state."""
        cfg = dict(self.call_cfg)
        if "buffer" not in cfg and "buffer_option" in cfg:
            cfg["buffer"] = cfg["buffer_option"]  # modify_call_cfg.json's parameter is `buffer`
        params = {k: param_text(cfg[k]) for k in CALL_FIELDS if k in cfg}
        for flag, forms in PAGE_FLAG_FORMS.items():
            # Written back in the page's own form, whatever encoding call_cfg.json showed.
            meaning = flag_meaning(cfg.get(flag))
            if meaning is not None:
                params[flag] = forms[0] if meaning else forms[1]
        options = self.account.get("call_in_options")
        policy = options.get("policy") if isinstance(options, dict) else None
        if policy is not None:
            params["policy"] = param_text(policy)  # not on the page: refused ones are reported
        return params


def _listed(client: DeviceClient) -> list[Listed]:
    """list.json entries, raw; an answer that is not a list of accounts stops the snapshot."""
    reply = client.call("list")
    data = client.expect_ok(reply)
    if not isinstance(data, list):
        raise ConformanceFailure(
            client.req, "list.json data as an array", f"{data!r}", reply.exchange
        )
    return [
        Listed(e.get("id"), str(e.get("name")), str(e.get("type", "sip")))
        for e in data
        if isinstance(e, dict) and "id" in e and "name" in e
    ]


def _data(client: DeviceClient, endpoint: str, entry: Listed, notes: list[str]) -> dict[str, Any]:
    """The `data` object of `endpoint` for `entry`, raw; {} (and a note) if the device refuses."""
    reply = client.call(endpoint, {"id": entry.param})
    if reply.ok and isinstance(reply.data, dict):
        return dict(reply.data)
    notes.append(f"could not read {endpoint}.json of account {entry.name!r}: {reply.body!r}")
    return {}


def _binds_text(client: DeviceClient) -> str | None:
    """get_binds.json's binds string as the device shows it; None if it shows none."""
    reply = client.call("get_binds")
    data = reply.data if reply.ok else None
    binds = data.get("binds") if isinstance(data, dict) else None
    return binds if isinstance(binds, str) else None


def _refused(reply: Reply) -> str:
    return f"error {reply.msg}" if reply.msg is not None else f"answer {reply.body!r}"


def _write(
    client: DeviceClient, endpoint: str, entry_id: str, params: dict[str, str], what: str
) -> list[str]:
    """Write `params` in one request; if refused, field by field. Returns what was refused."""
    reply = client.call(endpoint, {"id": entry_id, **params})
    if reply.ok:
        return []
    refused = []
    for key, value in params.items():
        single = client.call(endpoint, {"id": entry_id, key: value})
        if not single.ok:
            refused.append(f"{what}: the device refused {key}={value!r} ({_refused(single)})")
    return refused


@dataclass
class Snapshot:
    """The device's state as the session found it."""

    accounts: dict[str, AccountState]
    binds: str | None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def take(cls, client: DeviceClient) -> Snapshot:
        """Read accounts (with their settings) and binds, raw."""
        notes: list[str] = []
        accounts = {}
        for entry in _listed(client):
            accounts[entry.name] = AccountState(
                entry.name,
                entry.type,
                _data(client, "account", entry, notes),
                _data(client, "call_cfg", entry, notes),
            )
        return cls(accounts, _binds_text(client), notes)

    def restore(self, client: DeviceClient) -> list[str]:
        """Put the device back; returns what had to be changed or could not be (empty: as found)."""
        changes: list[str] = list(self.notes)
        current = {e.name: e for e in _listed(client)}
        for name, entry in current.items():
            if name not in self.accounts:
                reply = client.call("remove", {"id": entry.param})
                if reply.ok:
                    changes.append(f"removed account {name!r} (id {entry.id}) left by the session")
                else:
                    changes.append(f"could not remove account {name!r}: {_refused(reply)}")
        for name, state in self.accounts.items():
            if name in current:
                entry = current[name]
                scratch: list[str] = []
                now = AccountState(
                    name,
                    entry.type,
                    _data(client, "account", entry, scratch),
                    _data(client, "call_cfg", entry, scratch),
                )
                if now == state:
                    continue
                changes.append(f"restored settings of account {name!r} (id {entry.id})")
            else:
                reply = client.call("add", {"name": name, "type": state.type})
                found = next((e for e in _listed(client) if e.name == name), None)
                if not reply.ok or found is None:
                    changes.append(f"could not re-create account {name!r}: {_refused(reply)}")
                    continue
                entry = found
                changes.append(f"re-created account {name!r} as id {entry.id} (its old id is gone)")
            what = f"account {name!r}"
            if state.account:
                changes += _write(client, "modify", entry.param, state.modify_params(), what)
            if state.call_cfg:
                changes += _write(client, "modify_call_cfg", entry.param, state.call_params(), what)
        if _binds_text(client) != self.binds:
            if self.binds:
                reply = client.call("set_binds", {"binds": self.binds})
                if reply.ok:
                    changes.append(f"restored binds {self.binds}")
                else:
                    changes.append(f"could not restore binds {self.binds}: {_refused(reply)}")
            else:
                changes.append("binds were empty before the session; set_binds cannot empty them")
        return changes
