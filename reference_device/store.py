"""Atomic persistence of the device state in DIR/state.json.

Each commit writes state.json.tmp, flushes and fsyncs it, renames it over state.json and fsyncs
the directory, so a SIGKILL at any moment leaves the old or the new state, never a torn file.

Four faults live here, each a configuration kept in memory only and so lost on a restart:
call_cfg_not_persisted (the file keeps every account's call settings as added),
rename_not_persisted (the file keeps every account's name as added),
binds_not_persisted (the file keeps the binds the process started with) and
id_counter_not_persisted (the next id is recomputed from the highest id on load).
"""

import copy
import dataclasses
import json
import logging
import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from reference_device.faults import Fault, Faults
from reference_device.model import Account, AccountType, CallSettings, State

STATE_FILE: Final = "state.json"
TMP_SUFFIX: Final = ".tmp"
FORMAT_VERSION: Final = 1

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The state file cannot be used; the message names the file. Never silently wiped."""


def encode_state(state: State) -> dict[str, Any]:
    """The JSON document for `state`."""
    return {
        "version": FORMAT_VERSION,
        "next_id": state.next_id,
        "binds": list(state.binds),
        "accounts": [dataclasses.asdict(a) for a in sorted(state.accounts.values(), key=_id)],
    }


def _id(account: Account) -> int:
    return account.id


def _typed_fields(cls: type[Any], raw: object, where: str) -> dict[str, Any]:
    """Read the dataclass fields of `cls` from `raw`, checking each JSON value's type."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            raise ValueError(f"{where}: missing {f.name!r}")
        value, expected = raw[f.name], hints[f.name]
        # bool is an int subclass; a stored true must not pass as an integer field.
        if expected in (bool, int, str) and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise ValueError(f"{where}.{f.name}: expected {expected.__name__}")
        values[f.name] = value
    return values


def decode_state(doc: object) -> State:
    """Rebuild a State from its JSON document; raise ValueError saying what is wrong."""
    if not isinstance(doc, Mapping):
        raise ValueError("top level is not an object")
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported version {doc.get('version')!r} (expected {FORMAT_VERSION})")
    next_id, binds, raw_accounts = doc.get("next_id"), doc.get("binds"), doc.get("accounts")
    if not isinstance(next_id, int) or isinstance(next_id, bool) or next_id < 1:
        raise ValueError("next_id is not a positive integer")
    if not isinstance(binds, list) or not all(isinstance(b, str) for b in binds):
        raise ValueError("binds is not a list of strings")
    if not isinstance(raw_accounts, list):
        raise ValueError("accounts is not a list")
    accounts: dict[int, Account] = {}
    for index, raw in enumerate(raw_accounts):
        where = f"accounts[{index}]"
        fields = _typed_fields(Account, raw, where)
        fields["type"] = AccountType(fields["type"])  # ValueError names the bad value
        fields["call"] = CallSettings(
            **_typed_fields(CallSettings, fields["call"], where + ".call")
        )
        account = Account(**fields)
        if account.id < 1 or account.id >= next_id or account.id in accounts:
            raise ValueError(f"{where}: id {account.id} is duplicate or not below next_id")
        accounts[account.id] = account
    return State(next_id=next_id, accounts=accounts, binds=list(binds))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers (and crashes) see old or new, never half."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)  # make the rename itself durable


class Store:
    """The current state and its file. Readers use `state`; writers commit a modified snapshot."""

    def __init__(self, path: Path, state: State, faults: Faults | None = None) -> None:
        self.path = path
        self._state = state
        self.faults = faults if faults is not None else Faults()
        # What the file holds of what the faults keep in memory only.
        self._persisted_binds = list(state.binds)
        self._persisted_calls = {i: copy.deepcopy(a.call) for i, a in state.accounts.items()}
        self._persisted_names = {i: a.name for i, a in state.accounts.items()}

    @classmethod
    def open(
        cls, directory: Path, default_binds: Iterable[str], faults: Faults | None = None
    ) -> "Store":
        """Load DIR/state.json, or start a new state with `default_binds` if there is none."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / STATE_FILE
        tmp = path.with_name(path.name + TMP_SUFFIX)
        if tmp.exists():
            log.warning("removing leftover %s from an interrupted write", tmp)
            tmp.unlink()
        if not path.exists():
            store = cls(path, State(binds=list(default_binds)), faults)
            store.commit(store.snapshot())
            log.info("new state in %s", path)
            return store
        try:
            state = decode_state(json.loads(path.read_bytes()))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise StoreError(f"corrupt state file {path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read state file {path}: {exc}") from exc
        log.info("loaded %d account(s) from %s", len(state.accounts), path)
        if faults is not None and faults.on(Fault.ID_COUNTER_NOT_PERSISTED):
            state.next_id = max(state.accounts, default=0) + 1
        return cls(path, state, faults)

    @property
    def state(self) -> State:
        """The committed state; do not mutate it (take a snapshot instead)."""
        return self._state

    def snapshot(self) -> State:
        """A private deep copy to validate and modify before committing."""
        return copy.deepcopy(self._state)

    def commit(self, new_state: State) -> None:
        """Persist `new_state`, then make it current; if persisting fails nothing changes."""
        data = json.dumps(encode_state(self._as_persisted(new_state)), indent=1, sort_keys=True)
        write_atomic(self.path, data.encode() + b"\n")
        self._state = new_state

    def _as_persisted(self, new_state: State) -> State:
        """`new_state` as written to the file: itself, unless a fault keeps part of it in memory."""
        calls = self.faults.on(Fault.CALL_CFG_NOT_PERSISTED)
        names = self.faults.on(Fault.RENAME_NOT_PERSISTED)
        binds = self.faults.on(Fault.BINDS_NOT_PERSISTED)
        if not (calls or names or binds):
            return new_state
        written = copy.deepcopy(new_state)
        if binds:
            written.binds = list(self._persisted_binds)
        if calls:
            for account_id, account in written.accounts.items():
                # An account's call settings reach the file once, when it is first written.
                stored = self._persisted_calls.setdefault(account_id, copy.deepcopy(account.call))
                account.call = copy.deepcopy(stored)
        if names:
            for account_id, account in written.accounts.items():
                account.name = self._persisted_names.setdefault(account_id, account.name)
        return written
