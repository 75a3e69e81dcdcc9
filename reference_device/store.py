"""Durable persistence of the device state in DIR/state.slots (two slots), with group commit.

The file holds two slots of equal size, each a header line (sequence number, length, CRC-32)
and the state's JSON document. A write goes to the slot that does not hold the newest state
(one pwrite, then fdatasync): a SIGKILL or power loss at any moment leaves that slot torn or
old and the other one whole, and loading takes the newest slot whose CRC holds. The file is
written in place and never changes size, so fdatasync flushes the data alone (about 0.14 ms
here, against 0.5 ms for write-temporary, fsync, rename, fsync-directory, the way DIR/state.json
was written before; a state.json found at start-up is read once and moved into the slots). A
state too large for its slot is written to a new file with larger slots, renamed over the old.
A/B slots with a checksum are what a device's configuration flash does; written here, as no
maintained package does it for a file.

Under the HTTP API (`group_commit` on) a commit does not write on the event loop: the new state
becomes current at once (later requests build on it), and one worker thread writes the newest
state; every commit made while a write was under way is carried by the next write together
(group commit: one write and fdatasync for all of them). A commit's `durable()` waits until a
write that holds it has reached the disk, and the API answers only then, so an acknowledged
write survives kill -9. If a write fails, the state goes back to what the file holds and every
commit not yet on disk fails with the error (the requests carrying them answer 500). Without
group commit (no event loop: tools, tests) a commit writes before it returns.

Four faults live here, each a configuration kept in memory only and so lost on a restart:
call_cfg_not_persisted (the file keeps every account's call settings as added),
rename_not_persisted (the file keeps every account's name as added),
binds_not_persisted (the file keeps the binds the process started with) and
id_counter_not_persisted (the next id is recomputed from the highest id on load). A fifth,
concurrent_write_lost, hands writers the last state written to disk instead of the newest
accepted one, so of the commits waiting for one write only the last survives.
"""

import asyncio
import contextlib
import copy
import dataclasses
import json
import logging
import os
import re
import typing
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reference_device.faults import Fault, Faults
from reference_device.model import Account, AccountType, CallSettings, State

SLOTS_FILE: Final = "state.slots"
#: The single-document file of earlier versions: read once at start-up, then moved into the slots.
STATE_FILE: Final = "state.json"
TMP_SUFFIX: Final = ".tmp"
MIN_SLOT: Final = 64 * 1024
_HEADER: Final = "state-slot v1 seq={:020d} len={:010d} crc={:08x}\n"
HEADER_SIZE: Final = len(_HEADER.format(0, 0, 0))
_HEADER_RE: Final = re.compile(rb"state-slot v1 seq=(\d{20}) len=(\d{10}) crc=([0-9a-f]{8})\n")
FORMAT_VERSION: Final = 1
LOST_KEPT: Final = 1024  # failed commits remembered for a late `durable()` call

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


def _slot(seq: int, payload: bytes) -> bytes:
    return _HEADER.format(seq, len(payload), zlib.crc32(payload)).encode() + payload


def _parse_slot(raw: bytes) -> tuple[int, bytes] | None:
    """(sequence number, payload) of a whole slot; None for a torn, empty or foreign one."""
    match = _HEADER_RE.match(raw)
    if match is None:
        return None
    seq, length, crc = int(match[1]), int(match[2]), int(match[3], 16)
    payload = raw[HEADER_SIZE : HEADER_SIZE + length]  # `raw` is one slot: never the other's
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return seq, payload


class SlotFile:
    """DIR/state.slots: two slots, each written whole in place (see the module docstring).
    Only one thread writes at a time (the store's worker, or the caller without group commit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._slot_size = 0
        self._seq = 0  # the newest whole slot's
        self._next = 0  # the slot not holding it: the next write's
        self._closer: weakref.finalize[[int], SlotFile] | None = None

    def read(self) -> bytes | None:
        """The newest whole slot's payload (None: no file yet); StoreError if no slot is whole."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read state file {self.path}: {exc}") from exc
        size = len(raw) // 2
        if len(raw) % 2 or size < MIN_SLOT:
            raise StoreError(f"corrupt state file {self.path}: {len(raw)} bytes, not two slots")
        slots = (raw[:size], raw[size:])
        whole = [(s[0], index, s[1]) for index in (0, 1) if (s := _parse_slot(slots[index]))]
        if not whole:
            raise StoreError(f"corrupt state file {self.path}: neither slot holds a whole state")
        self._seq, newest, payload = max(whole)
        self._slot_size, self._next = size, 1 - newest
        return payload

    def write(self, payload: bytes) -> None:
        """Write `payload` as the newest state, durably, before returning."""
        data = _slot(self._seq + 1, payload)
        if self._fd < 0 and self._slot_size:
            self._open()
        if len(data) > self._slot_size:
            self._create(data)
        else:
            offset = self._next * self._slot_size
            try:
                os.pwrite(self._fd, data, offset)
                os.fdatasync(self._fd)
            except OSError:
                # A state its writer was told failed must not be loaded later: spoil the
                # slot's header (best effort: the disk is failing). The other slot is whole.
                with contextlib.suppress(OSError):
                    os.pwrite(self._fd, bytes(HEADER_SIZE), offset)
                raise
            self._next = 1 - self._next
        self._seq += 1

    def _create(self, first: bytes) -> None:
        """A new file with `first` in slot 0 (slots large enough for it), renamed into place."""
        size = max(MIN_SLOT, self._slot_size)
        while size < 2 * len(first):
            size *= 2
        tmp = self.path.with_name(self.path.name + TMP_SUFFIX)
        with open(tmp, "wb") as f:
            f.write(first.ljust(2 * size, b"\0"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)  # make the rename itself durable
        self._slot_size, self._next = size, 1
        self._open()

    def _open(self) -> None:
        self.close()
        self._fd = os.open(self.path, os.O_RDWR)
        self._closer = weakref.finalize(self, os.close, self._fd)

    def close(self) -> None:
        """Close the file (the next write opens it again)."""
        if self._closer is not None:
            self._closer()
            self._closer, self._fd = None, -1


def write_atomic(slots: SlotFile, data: bytes) -> None:
    """Write `data` as the newest state of `slots`: a later load sees it whole or the state
    before it, never a mix (the store's one way to the disk; tests replace it)."""
    slots.write(data)


def read_payload(directory: Path) -> bytes:
    """The newest whole state document in DIR's slots, as written; StoreError if there is none."""
    payload = SlotFile(directory / SLOTS_FILE).read()
    if payload is None:
        raise StoreError(f"no state file {directory / SLOTS_FILE}")
    return payload


@dataclass
class _Pending:
    """A commit waiting for a write to reach the disk, and what undoes its side effects if the
    write fails."""

    version: int
    done: asyncio.Future[None]
    undo: Callable[[], None] | None


def _retrieve(future: asyncio.Future[None]) -> None:
    # A failed commit whose request went away must not log "exception never retrieved".
    if not future.cancelled():
        future.exception()


class Store:
    """The current state and its file. Readers use `state`; writers commit a modified snapshot."""

    def __init__(self, slots: SlotFile, state: State, faults: Faults | None = None) -> None:
        self.slots = slots
        self.path = slots.path
        self._state = state  # the newest accepted state (what readers see, writers build on)
        self._durable = state  # what the file holds
        self.faults = faults if faults is not None else Faults()
        #: Commits wait for a worker thread's write (set by the HTTP app); off: write at once.
        self.group_commit = False
        self._version = 0  # commits accepted so far
        self._durable_version = 0  # commits on disk so far
        self._queue: list[_Pending] = []  # accepted since the current write started
        self._waiting: dict[int, _Pending] = {}
        self._lost: dict[int, BaseException] = {}  # the last failed commits, by version
        self._writer: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lines: dict[int, tuple[Account, bytes]] = {}  # account id -> (account, its line)
        # What the file holds of what the faults keep in memory only.
        self._persisted_binds = list(state.binds)
        self._persisted_calls = {i: copy.deepcopy(a.call) for i, a in state.accounts.items()}
        self._persisted_names = {i: a.name for i, a in state.accounts.items()}

    @classmethod
    def open(
        cls, directory: Path, default_binds: Iterable[str], faults: Faults | None = None
    ) -> "Store":
        """Load DIR/state.slots (or an earlier version's DIR/state.json, moved into the slots),
        or start a new state with `default_binds` if there is neither."""
        directory.mkdir(parents=True, exist_ok=True)
        slots = SlotFile(directory / SLOTS_FILE)
        legacy = directory / STATE_FILE
        for tmp in (p.with_name(p.name + TMP_SUFFIX) for p in (slots.path, legacy)):
            if tmp.exists():
                log.warning("removing leftover %s from an interrupted write", tmp)
                tmp.unlink()
        payload, source = slots.read(), slots.path
        if payload is None and legacy.exists():
            payload, source = cls._read_legacy(legacy), legacy
        if payload is None:
            store = cls(slots, State(binds=list(default_binds)), faults)
            store.commit(store.snapshot())
            log.info("new state in %s", slots.path)
            return store
        try:
            state = decode_state(json.loads(payload))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise StoreError(f"corrupt state file {source}: {exc}") from exc
        log.info("loaded %d account(s) from %s", len(state.accounts), source)
        if faults is not None and faults.on(Fault.ID_COUNTER_NOT_PERSISTED):
            state.next_id = max(state.accounts, default=0) + 1
        store = cls(slots, state, faults)
        if source == legacy:
            # Moved as read (faults and all): the slots hold it before state.json goes.
            write_atomic(slots, payload)
            legacy.unlink()
            log.info("moved %s into %s", legacy, slots.path)
        return store

    @staticmethod
    def _read_legacy(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read state file {path}: {exc}") from exc

    @property
    def state(self) -> State:
        """The newest accepted state; do not mutate it (take a snapshot instead)."""
        return self._state

    @property
    def busy(self) -> bool:
        """Whether a write of the file is under way (only the busy_write_refused fault asks)."""
        return self._writer is not None

    @property
    def version(self) -> int:
        """How many commits were accepted; a request that changed it waits for `durable`."""
        return self._version

    def snapshot(self) -> State:
        """A private copy to change and commit: its own account table and binds list, sharing
        the accounts themselves; `editable()` gives an account that may be changed."""
        base = self._state
        if self.faults.on(Fault.CONCURRENT_WRITE_LOST):
            base = self._durable  # the fault: commits still waiting for the disk are left out
        return State(next_id=base.next_id, accounts=dict(base.accounts), binds=list(base.binds))

    @staticmethod
    def editable(state: State, account_id: int) -> Account:
        """The account `account_id` of a snapshot, replaced by a private copy to change."""
        # Every field but `call` is immutable (str, int, enum): two shallow copies suffice.
        account = dataclasses.replace(state.accounts[account_id])
        account.call = dataclasses.replace(account.call)
        state.accounts[account_id] = account
        return account

    def commit(self, new_state: State, undo: Callable[[], None] | None = None) -> None:
        """Make `new_state` current; `undo` takes back what the caller does next (its side
        effects, e.g. on the SIP layer) should writing it fail.

        Without group commit (or outside an event loop) it is written before this returns,
        and if writing fails nothing changes and the OSError propagates (`undo` is not run:
        the caller has done nothing yet). With group commit it is current at once and written
        by the worker thread: await `durable(version)`.
        """
        loop = _running_loop() if self.group_commit else None
        if loop is None:
            self._write(new_state)
            self._state = self._durable = new_state
            self._version += 1
            self._durable_version = self._version
            return
        self._state = new_state
        self._version += 1
        pending = _Pending(self._version, loop.create_future(), undo)
        pending.done.add_done_callback(_retrieve)
        self._queue.append(pending)
        self._waiting[pending.version] = pending
        if self._writer is None:
            self._writer = loop.create_task(self._write_queued())

    async def durable(self, version: int) -> None:
        """Return once commit `version` is on disk; raise the OSError if writing it failed
        (the state is then back to what the file holds, the commits' undos run)."""
        if version > self._version:
            raise ValueError(f"commit {version} was never made (last {self._version})")
        pending = self._waiting.get(version)
        if pending is not None:
            # A request cancelled while waiting must not cancel the commit others share.
            await asyncio.shield(pending.done)
        elif version in self._lost:
            raise self._lost[version]

    async def _write_queued(self) -> None:
        """Write the newest state until no commit waits; one write per group of commits."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        try:
            while self._queue:
                group, self._queue = self._queue, []
                state = self._state
                try:
                    await loop.run_in_executor(self._executor, self._write, state)
                except Exception as exc:
                    # Commits made since were built on the lost ones: none of them stands.
                    failed, self._queue = group + self._queue, []
                    log.error(
                        "writing %s failed; %d commit(s) lost: %s", self.path, len(failed), exc
                    )
                    self._state = self._durable
                    # The newest first: each undo takes its side effects back to the state the
                    # commit before it had made.
                    for pending in reversed(failed):
                        self._undo(pending)
                    for pending in failed:
                        self._settle(pending, exc)
                    continue
                self._durable, self._durable_version = state, group[-1].version
                for pending in group:
                    self._settle(pending, None)
        finally:
            self._writer = None

    @staticmethod
    def _undo(pending: _Pending) -> None:
        try:
            if pending.undo is not None:
                pending.undo()
        except Exception:  # one undo failing must not keep the others from running
            log.exception("undoing commit %d failed", pending.version)

    def _settle(self, pending: _Pending, error: BaseException | None) -> None:
        """Answer the commit's waiters: on disk (`error` None) or lost with `error`."""
        del self._waiting[pending.version]
        if error is not None:
            self._lost[pending.version] = error
            while len(self._lost) > LOST_KEPT:
                del self._lost[next(iter(self._lost))]
        if not pending.done.done():
            if error is None:
                pending.done.set_result(None)
            else:
                pending.done.set_exception(error)

    def _write(self, state: State) -> None:
        """Write `state` to the file (in the worker thread under group commit)."""
        write_atomic(self.slots, self._encode(self._as_persisted(state)))

    def _encode(self, state: State) -> bytes:
        """The file's bytes: one line per account, each encoded once per account object."""
        lines = []
        for account_id in sorted(state.accounts):
            account = state.accounts[account_id]
            cached = self._lines.get(account_id)
            if cached is None or cached[0] is not account:
                line = json.dumps(dataclasses.asdict(account), sort_keys=True).encode()
                cached = self._lines[account_id] = (account, line)
            lines.append(cached[1])
        for gone in self._lines.keys() - state.accounts.keys():
            del self._lines[gone]
        head = {"version": FORMAT_VERSION, "next_id": state.next_id, "binds": list(state.binds)}
        opening = json.dumps(head, sort_keys=True)[:-1].encode() + b', "accounts": ['
        body = b",\n".join(lines)
        return opening + (b"\n" + body + b"\n" if lines else b"") + b"]}\n"

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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
