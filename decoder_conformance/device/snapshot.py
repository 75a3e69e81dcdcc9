"""Lab safety: snapshot the device's accounts, call settings and binds, and put them back.

Taken before the first case; restored at the end of the session, after a failure and on Ctrl-C.
Accounts are matched by name, since a device gives a re-added account a new id: an account the
session removed comes back with the same settings under a new id, and the restore report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decoder_conformance.device.client import DeviceClient

#: account.json fields that modify.json writes back, with how each is written.
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


@dataclass(frozen=True)
class AccountState:
    """Everything the suite may change about one account."""

    name: str
    type: str
    account: dict[str, Any]
    call_cfg: dict[str, Any]

    def modify_params(self) -> dict[str, str]:
        """modify.json parameters that set this state."""
        params = {k: str(self.account[k]) for k in ACCOUNT_FIELDS if k in self.account}
        params["type"] = self.type
        return params

    def call_params(self) -> dict[str, str]:
        """modify_call_cfg.json parameters that set this state."""
        params = {k: str(self.call_cfg[k]) for k in CALL_FIELDS if k in self.call_cfg}
        policy = self.account.get("call_in_options", {}).get("policy")
        if policy is not None:
            params["policy"] = str(policy)
        return params


@dataclass
class Snapshot:
    """The device's state as the session found it."""

    accounts: dict[str, AccountState]
    binds: list[str]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def take(cls, client: DeviceClient) -> Snapshot:
        """Read accounts (with their settings) and binds."""
        accounts = {}
        for entry in client.accounts():
            accounts[entry.name] = AccountState(
                entry.name, entry.type, client.account(entry.id), client.call_cfg(entry.id)
            )
        return cls(accounts, client.binds())

    def restore(self, client: DeviceClient) -> list[str]:
        """Put the device back; returns what had to be changed (empty: it was as found)."""
        changes: list[str] = []
        current = {a.name: a for a in client.accounts()}
        for name, entry in current.items():
            if name not in self.accounts:
                client.remove(entry.id)
                changes.append(f"removed account {name!r} (id {entry.id}) left by the session")
        for name, state in self.accounts.items():
            if name in current:
                account_id = current[name].id
                now = AccountState(
                    name,
                    current[name].type,
                    client.account(account_id),
                    client.call_cfg(account_id),
                )
                if now == state:
                    continue
                changes.append(f"restored settings of account {name!r} (id {account_id})")
            else:
                client.expect_ok(client.call("add", {"name": name, "type": state.type}))
                found = client.find(name)
                if found is None:
                    changes.append(f"could not re-create account {name!r}")
                    continue
                account_id = found.id
                changes.append(
                    f"re-created account {name!r} as id {account_id} (its old id is gone)"
                )
            client.modify(account_id, **state.modify_params())
            client.modify_call_cfg(account_id, **state.call_params())
        if client.binds() != self.binds:
            if self.binds:
                client.set_binds(self.binds)
                changes.append(f"restored binds {','.join(self.binds)}")
            else:
                changes.append("binds were empty before the session; set_binds cannot empty them")
        return changes
