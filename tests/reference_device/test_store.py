"""Tests of the reference decoder's persistence (reference_device.store), without HTTP."""

import asyncio
import json
import re
import threading
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import reference_device.store as store_module
from reference_device.app import make_app
from reference_device.auth import Authenticator
from reference_device.faults import Fault, Faults
from reference_device.handlers import Api
from reference_device.model import Account, AccountType, State
from reference_device.params import Params
from reference_device.sip.agent import SipSettings
from reference_device.sip.stack import SipStack
from reference_device.store import (
    HEADER_SIZE,
    MIN_SLOT,
    SLOTS_FILE,
    STATE_FILE,
    SlotFile,
    Store,
    StoreError,
    decode_state,
    encode_state,
    read_payload,
)


def _api(directory: Path) -> Api:
    return Api(Store.open(directory, ["127.0.0.1:0"]), Faults(), Authenticator(None))


def test_new_dir_is_created_with_default_binds_and_persisted(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "state"
    store = Store.open(directory, ["127.0.0.1:0", "*:5060"])
    doc = json.loads(read_payload(directory))
    assert doc == {"version": 1, "next_id": 1, "binds": ["127.0.0.1:0", "*:5060"], "accounts": []}
    # The binds given to a later start do not override the stored ones.
    assert Store.open(directory, ["*:9999"]).state.binds == store.state.binds


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    api = _api(tmp_path)
    api.add(Params({"name": "a", "type": "gb28181"}))
    api.modify(Params({"id": "1", "localAccount": "la", "localAddress": "*:5060", "realm": "r"}))
    api.modify_call_cfg(
        Params({"id": "1", "auto_aws": "1", "allow_in_num": "3", "buffer": "x:1:2:3:4:5"})
    )
    api.set_binds(Params({"binds": "*:5060,127.0.0.2:5070"}))
    reloaded = Store.open(tmp_path, [])
    assert reloaded.state == api.store.state
    assert encode_state(reloaded.state) == json.loads(read_payload(tmp_path))


def test_ids_are_never_reused_across_restarts(tmp_path: Path) -> None:
    api = _api(tmp_path)
    for name in ("a", "b", "c"):
        api.add(Params({"name": name, "type": "sip"}))
    api.remove(Params({"id": "3"}))
    api.remove(Params({"id": "2"}))
    api = _api(tmp_path)  # restart
    api.add(Params({"name": "d", "type": "sip"}))
    assert sorted(api.store.state.accounts) == [1, 4]
    api.remove(Params({"id": "4"}))
    api.remove(Params({"id": "1"}))
    api = _api(tmp_path)
    api.add(Params({"name": "e", "type": "sip"}))
    assert list(api.store.state.accounts) == [5]


@pytest.mark.parametrize("name", [SLOTS_FILE, STATE_FILE])
def test_leftover_tmp_is_removed_and_the_committed_state_wins(tmp_path: Path, name: str) -> None:
    _api(tmp_path).add(Params({"name": "a", "type": "sip"}))
    tmp = tmp_path / (name + ".tmp")
    tmp.write_text('{"version": 1, "half written')
    store = Store.open(tmp_path, [])
    assert not tmp.exists()
    assert [a.name for a in store.state.accounts.values()] == ["a"]


def test_failed_write_leaves_old_state_in_memory_and_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path, [])
    before = read_payload(tmp_path)

    def no_fsync(_: int) -> None:
        raise OSError("EIO")

    monkeypatch.setattr("reference_device.store.os.fdatasync", no_fsync)
    new = store.snapshot()
    new.accounts[1] = Account(id=1, name="x", type=AccountType.SIP)
    new.next_id = 2
    with pytest.raises(OSError, match="EIO"):
        store.commit(new)
    assert store.state == State(binds=[])
    assert read_payload(tmp_path) == before
    monkeypatch.undo()
    assert Store.open(tmp_path, []).state == State(binds=[]), "the failed write came back"


def _valid_doc() -> dict[str, object]:
    state = State(next_id=3, binds=["*:5060"])
    state.accounts[2] = Account(id=2, name="a", type=AccountType.SIP)
    return encode_state(state)


def _account_with(**changes: object) -> dict[str, object]:
    doc = _valid_doc()
    accounts = doc["accounts"]
    assert isinstance(accounts, list)
    return {**doc, "accounts": [{**accounts[0], **changes}]}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        b'{"version": 1, "next_id": 1, "binds": [], "acc',
        b"\xff\xfe",
        b"[]",
        json.dumps({**_valid_doc(), "version": 2}).encode(),
        json.dumps({**_valid_doc(), "next_id": "3"}).encode(),
        json.dumps({**_valid_doc(), "next_id": 2}).encode(),  # id 2 not below next_id
        json.dumps({**_valid_doc(), "binds": "*:5060"}).encode(),
        json.dumps(_account_with(type="Ssip")).encode(),
        json.dumps(_account_with(register_port="5060")).encode(),
        json.dumps(_account_with(register_port=True)).encode(),
        json.dumps(_account_with(call={})).encode(),
        json.dumps({k: v for k, v in _valid_doc().items() if k != "accounts"}).encode(),
    ],
)
def test_corrupt_state_is_refused_naming_the_file_and_kept(tmp_path: Path, content: bytes) -> None:
    _refused_and_kept(tmp_path / STATE_FILE, content)


def _refused_and_kept(path: Path, content: bytes) -> None:
    """A state file holding `content` stops the store naming it, and is left as it was."""
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        Store.open(path.parent, ["127.0.0.1:0"])
    assert path.read_bytes() == content  # never silently wiped


def test_valid_doc_fixture_loads(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(_valid_doc()))
    assert list(Store.open(tmp_path, []).state.accounts) == [2]


# -- the two slots ------------------------------------------------------------------------------


def _slots(directory: Path) -> tuple[bytes, list[int]]:
    """The slots file's bytes and each slot's sequence number (-1: no header)."""
    raw = (directory / SLOTS_FILE).read_bytes()
    size = len(raw) // 2
    seqs = []
    for index in (0, 1):
        match = re.match(rb"state-slot v1 seq=(\d+)", raw[index * size :])
        seqs.append(int(match[1]) if match else -1)
    return raw, seqs


def test_state_json_of_an_earlier_version_is_moved_into_the_slots(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(_valid_doc()))
    assert list(Store.open(tmp_path, []).state.accounts) == [2]
    assert not (tmp_path / STATE_FILE).exists()
    assert json.loads(read_payload(tmp_path)) == _valid_doc()
    assert list(Store.open(tmp_path, []).state.accounts) == [2]


def test_writes_go_in_place_to_the_older_slot(tmp_path: Path) -> None:
    api = _api(tmp_path)
    inode = (tmp_path / SLOTS_FILE).stat().st_ino
    seen = []
    for name in ("a", "b", "c"):
        api.add(Params({"name": name, "type": "sip"}))
        raw, seqs = _slots(tmp_path)
        seen.append(seqs)
        assert len(raw) == 2 * MIN_SLOT
    assert (tmp_path / SLOTS_FILE).stat().st_ino == inode, "a write replaced the file"
    # The new state (1), then a, b, c: each write to the slot the newest is not in.
    assert seen == [[1, 2], [3, 2], [3, 4]]


def test_a_torn_newest_slot_gives_the_state_before_it(tmp_path: Path) -> None:
    api = _api(tmp_path)
    for name in ("a", "b"):
        api.add(Params({"name": name, "type": "sip"}))
    raw, seqs = _slots(tmp_path)
    newest = seqs.index(max(seqs))
    torn = bytearray(raw)
    torn[newest * MIN_SLOT + HEADER_SIZE + 10] ^= 0xFF  # a byte of its document
    (tmp_path / SLOTS_FILE).write_bytes(bytes(torn))
    api = _api(tmp_path)
    assert [a.name for a in api.store.state.accounts.values()] == ["a"]
    # The next write goes to the torn slot: the whole one is the only good state until then.
    api.add(Params({"name": "c", "type": "sip"}))
    assert _slots(tmp_path)[1][1 - newest] == max(seqs) - 1
    assert [a.name for a in _api(tmp_path).store.state.accounts.values()] == ["a", "c"]


@pytest.mark.parametrize("spoil", ["both headers", "both documents", "odd size", "too small"])
def test_corrupt_slots_are_refused_naming_the_file_and_kept(tmp_path: Path, spoil: str) -> None:
    api = _api(tmp_path)
    api.add(Params({"name": "a", "type": "sip"}))
    raw = bytearray(_slots(tmp_path)[0])
    for index in (0, 1):
        at = index * MIN_SLOT + (0 if spoil == "both headers" else HEADER_SIZE + 3)
        raw[at] ^= 0xFF
    content = {"odd size": bytes(raw) + b"x", "too small": bytes(raw[:100])}.get(spoil, bytes(raw))
    _refused_and_kept(tmp_path / SLOTS_FILE, content)


def test_a_state_larger_than_its_slot_moves_to_a_larger_file(tmp_path: Path) -> None:
    store = Store.open(tmp_path, [])
    state = store.snapshot()
    for account_id in range(1, 400):
        state.accounts[account_id] = Account(id=account_id, name="n" * 64, type=AccountType.SIP)
    state.next_id = 400
    store.commit(state)
    assert (tmp_path / SLOTS_FILE).stat().st_size > 2 * MIN_SLOT
    assert not (tmp_path / (SLOTS_FILE + ".tmp")).exists()
    assert Store.open(tmp_path, []).state == state


# -- group commit (the HTTP app's mode): writes off the event loop, concurrent commits batched --


REAL_WRITE = store_module.write_atomic
#: The faults of group commit, each switched on by a `test_fault_<name>` of this module
#: (test_api.py's fault coverage counts them as tested here).
STORE_FAULTS = frozenset({Fault.CONCURRENT_WRITE_LOST, Fault.BUSY_WRITE_REFUSED})


class SlowDisk:
    """write_atomic that holds each write until released, keeping what each write held.

    `started` is set on the event loop when a write begins in the worker thread: awaiting it
    also shows the loop runs while the write is held."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loop = asyncio.get_running_loop()
        self.written: list[bytes] = []
        self.started = asyncio.Event()
        self.release = threading.Event()
        self.fail: OSError | None = None
        monkeypatch.setattr(store_module, "write_atomic", self)

    def __call__(self, slots: SlotFile, data: bytes) -> None:
        self.loop.call_soon_threadsafe(self.started.set)
        assert self.release.wait(10), "the test never released the write"
        if self.fail is not None:
            raise self.fail
        self.written.append(data)
        REAL_WRITE(slots, data)


def _grouped(directory: Path, faults: Faults | None = None) -> Api:
    api = Api(
        Store.open(directory, ["127.0.0.1:0"], faults), faults or Faults(), Authenticator(None)
    )
    api.store.group_commit = True
    return api


def test_concurrent_commits_share_one_write_and_are_answered_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        api = _grouped(tmp_path)
        store = api.store
        disk = SlowDisk(monkeypatch)
        api.add(Params({"name": "first", "type": "sip"}))
        first = asyncio.ensure_future(store.durable(store.version))
        await disk.started.wait()  # the first write is under way, held in the worker thread
        versions = []
        for name in ("a", "b", "c"):  # accepted while the disk is busy: they wait together
            api.add(Params({"name": name, "type": "sip"}))
            versions.append(store.version)
        waiting = [asyncio.ensure_future(store.durable(v)) for v in versions]
        # The loop runs on while the disk works, and no commit is answered before its write.
        done, _ = await asyncio.wait([first, *waiting], timeout=0.05)
        assert not done
        assert [a.name for a in store.state.accounts.values()] == ["first", "a", "b", "c"]
        disk.release.set()
        await asyncio.gather(first, *waiting)
        assert len(disk.written) == 2, "the three later commits should share one write"
        on_disk = decode_state(json.loads(disk.written[-1]))
        assert [a.name for a in on_disk.accounts.values()] == ["first", "a", "b", "c"]

    asyncio.run(scenario())
    assert [a.name for a in Store.open(tmp_path, []).state.accounts.values()] == [
        "first",
        "a",
        "b",
        "c",
    ]


def test_failed_group_write_fails_every_waiting_commit_and_reverts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    async def scenario() -> None:
        api = _grouped(tmp_path)
        store = api.store
        disk = SlowDisk(monkeypatch)
        disk.release.set()
        api.add(Params({"name": "kept", "type": "sip"}))
        await store.durable(store.version)
        disk.release.clear()
        disk.started.clear()
        new = store.snapshot()
        new.accounts[9] = Account(id=9, name="lost", type=AccountType.SIP)
        new.next_id = 10
        store.commit(new, undo=lambda: ran.append("lost"))
        lost = store.version
        await disk.started.wait()
        api.modify(Params({"id": "1", "realm": "built-on-lost"}))  # waits behind it
        store.commit(store.snapshot(), undo=lambda: ran.append("latest"))
        later = store.version
        disk.fail = OSError("EIO")
        disk.release.set()
        for version in (lost, later - 1, later):
            with pytest.raises(OSError, match="EIO"):
                await store.durable(version)
        assert ran == ["latest", "lost"], "every undo runs, the newest first"
        assert [a.name for a in store.state.accounts.values()] == ["kept"]
        assert store.state.accounts[1].realm == "*"
        disk.fail = None
        api.add(Params({"name": "after", "type": "sip"}))
        await store.durable(store.version)

    asyncio.run(scenario())
    reloaded = Store.open(tmp_path, [])
    assert [a.name for a in reloaded.state.accounts.values()] == ["kept", "after"]


def test_fault_concurrent_write_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def adds(directory: Path, faults: Faults) -> list[str]:
        """The names on disk after `first`, then `a` and `b` while `first` is being written."""

        async def scenario() -> list[str]:
            api = _grouped(directory, faults)
            with monkeypatch.context() as patch:
                disk = SlowDisk(patch)
                api.add(Params({"name": "first", "type": "sip"}))
                await disk.started.wait()
                api.add(Params({"name": "a", "type": "sip"}))
                api.add(Params({"name": "b", "type": "sip"}))
                disk.release.set()
                await api.store.durable(api.store.version)
            return [a.name for a in Store.open(directory, []).state.accounts.values()]

        return asyncio.run(scenario())

    assert adds(tmp_path / "clean", Faults()) == ["first", "a", "b"]
    # Under the fault a and b were both built on the state on disk then (empty): b wins.
    assert adds(tmp_path / "fault", Faults(["concurrent_write_lost"])) == ["b"]


def test_file_holds_one_line_per_account_and_decodes_to_the_state(tmp_path: Path) -> None:
    api = _api(tmp_path)
    for name in ("a", "b"):
        api.add(Params({"name": name, "type": "sip"}))
    text = read_payload(tmp_path).decode()
    assert text.count("\n") == 4, text  # head, one line per account, tail
    assert json.loads(text) == encode_state(api.store.state)


def test_fault_busy_write_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(faults: list[str]) -> tuple[int, str]:
        """The answer to a modify.json sent while add.json's write is held."""
        api = _grouped(tmp_path / "-".join(faults or ["clean"]), Faults(faults))
        async with TestClient(TestServer(make_app(api), host="127.0.0.1", port=0)) as client:
            with monkeypatch.context() as patch:
                disk = SlowDisk(patch)
                first = asyncio.ensure_future(client.get("/api/sip/add.json?name=a&type=sip"))
                await disk.started.wait()
                second = asyncio.ensure_future(client.get("/api/sip/modify.json?id=1&realm=r"))
                done, _ = await asyncio.wait([second], timeout=0.5)
                disk.release.set()
                resp = await second
                answer = (resp.status, await resp.text())
                assert (await (await first).json()) == {"result": "ok"}
                # Clean: the modify waited for its own write, so it was not answered before.
                assert bool(done) == bool(faults), "only the fault answers while the disk works"
                return answer

    status, text = asyncio.run(scenario([]))
    assert (status, json.loads(text)) == (200, {"result": "ok"})
    assert asyncio.run(scenario(["busy_write_refused"])) == (503, "busy")


def test_every_store_fault_is_tested_here() -> None:
    tested = {
        name.removeprefix("test_fault_") for name in globals() if name.startswith("test_fault_")
    }
    assert tested == {fault.value for fault in STORE_FAULTS}


def test_failed_write_takes_the_sip_layer_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = Store.open(tmp_path, ["127.0.0.1:0"])
        store.group_commit = True
        sip = SipStack(SipSettings(), Faults())
        sip.start(store.state.binds, [])
        api = Api(store, Faults(), Authenticator(None), sip=sip)
        try:
            api.add(Params({"name": "a", "type": "sip"}))
            await store.durable(store.version)
            with monkeypatch.context() as patch:
                disk = SlowDisk(patch)
                disk.fail = OSError("EIO")
                disk.release.set()
                api.modify(
                    Params({"id": "1", "localAccount": "100", "localAddress": "127.0.0.1:0"})
                )
                assert sip.current_transport(1) is not None, "the SIP layer follows at once"
                api.add(Params({"name": "b", "type": "sip"}))
                assert 2 in sip.agents
                with pytest.raises(OSError, match="EIO"):
                    await store.durable(store.version)
            assert (sip.current_transport(1), 2 in sip.agents) == (None, False)
            assert [(a.name, a.local_address) for a in store.state.accounts.values()] == [("a", "")]
        finally:
            await sip.close()

    asyncio.run(scenario())
