"""Tests of the reference decoder's persistence (reference_device.store), without HTTP."""

import json
from pathlib import Path

import pytest

from reference_device.auth import Authenticator
from reference_device.faults import Faults
from reference_device.handlers import Api
from reference_device.model import Account, AccountType, State
from reference_device.params import Params
from reference_device.store import STATE_FILE, Store, StoreError, encode_state


def _api(directory: Path) -> Api:
    return Api(Store.open(directory, ["127.0.0.1:0"]), Faults(), Authenticator(None))


def test_new_dir_is_created_with_default_binds_and_persisted(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "state"
    store = Store.open(directory, ["127.0.0.1:0", "*:5060"])
    doc = json.loads((directory / STATE_FILE).read_text())
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
    assert encode_state(reloaded.state) == json.loads((tmp_path / STATE_FILE).read_text())


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


def test_leftover_tmp_is_removed_and_the_committed_state_wins(tmp_path: Path) -> None:
    _api(tmp_path).add(Params({"name": "a", "type": "sip"}))
    tmp = tmp_path / (STATE_FILE + ".tmp")
    tmp.write_text('{"version": 1, "half written')
    store = Store.open(tmp_path, [])
    assert not tmp.exists()
    assert [a.name for a in store.state.accounts.values()] == ["a"]


def test_failed_write_leaves_old_state_in_memory_and_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path, [])
    before = (tmp_path / STATE_FILE).read_bytes()

    def no_fsync(_: int) -> None:
        raise OSError("EIO")

    monkeypatch.setattr("reference_device.store.os.fsync", no_fsync)
    new = store.snapshot()
    new.accounts[1] = Account(id=1, name="x", type=AccountType.SIP)
    new.next_id = 2
    with pytest.raises(OSError, match="EIO"):
        store.commit(new)
    assert store.state == State(binds=[])
    assert (tmp_path / STATE_FILE).read_bytes() == before


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
    path = tmp_path / STATE_FILE
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        Store.open(tmp_path, ["127.0.0.1:0"])
    assert path.read_bytes() == content  # never silently wiped


def test_valid_doc_fixture_loads(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps(_valid_doc()))
    assert list(Store.open(tmp_path, []).state.accounts) == [2]
