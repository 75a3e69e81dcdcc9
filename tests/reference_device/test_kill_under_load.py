"""SIGKILL of the reference decoder while many writers run: no acknowledged write is lost.

WRITERS threads each own their accounts and write one request at a time over a keep-alive
connection: add (a unique name), modify_call_cfg (a new buffer value) and remove, each recorded
in the writer's ledger only once answered ok. Under load the store groups concurrent commits
into one write (reference_device/store.py), so when the kill lands many commits are staged and
not yet on disk: their requests must still be unanswered. The kill is triggered by a count of
acknowledged writes, not a timer, while every writer is still writing. After each kill the state
file must parse (never torn), hold every acknowledged write, and hold nothing unacknowledged
beyond the one request each writer had in flight; the device then restarts on the same state
directory and lists the same accounts.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reference_device.store import SLOTS_FILE, StoreError, decode_state, read_payload
from tests.reference_device.test_store_atomicity import call, start_device

WRITERS = 16
ROUNDS = 3
KILL_AFTER = 150  # acknowledged writes per round before the kill
HTTP_TIMEOUT = 10.0
JOIN_TIMEOUT = 15.0
BUFFER = "live:200:200:500:0:{}"


@dataclass
class Flight:
    """The request a writer has sent and not yet seen answered."""

    kind: str = ""
    name: str = ""
    value: str = ""


@dataclass
class Writer:
    """One writer's accounts as acknowledged: name -> buffer value; ids by name."""

    index: int
    accounts: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    serial: int = 0
    flight: Flight = field(default_factory=Flight)
    failure: str = ""  # an answer other than ok (a test failure, reported after the join)


class Round:
    """One kill round: the writers, the shared ack counter and the kill trigger."""

    def __init__(self, host: str, port: int, prefix: str, writers: list[Writer]) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.writers = writers
        self.acked = 0
        self.lock = threading.Lock()
        self.enough = threading.Event()

    def request(self, conn: http.client.HTTPConnection, endpoint: str, **params: str) -> Any:
        """GET one endpoint on the writer's connection; the decoded body."""
        conn.request("GET", f"{self.prefix}/sip/{endpoint}.json?{urllib.parse.urlencode(params)}")
        return json.loads(conn.getresponse().read())

    def run(self, writer: Writer) -> None:
        """Write until the connection fails (the kill) or an answer is not ok."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT)
        try:
            while True:
                self._one(conn, writer)
                with self.lock:
                    self.acked += 1
                    if self.acked >= KILL_AFTER:
                        self.enough.set()
        except (OSError, http.client.HTTPException, json.JSONDecodeError):
            pass  # the kill: `flight` is the request it interrupted (if any)
        except AssertionError as exc:
            writer.failure = str(exc)
            self.enough.set()
        finally:
            conn.close()

    def _one(self, conn: http.client.HTTPConnection, w: Writer) -> None:
        w.serial += 1
        known = sorted(n for n in w.accounts if n in w.ids)
        step = w.serial % 6
        if not known or step in (0, 3):
            name = f"w{w.index}-{w.serial}"
            w.flight = Flight("add", name, BUFFER.format(0))
            body = self.request(conn, "add", name=name, type="sip")
            assert body == {"result": "ok"}, f"add {name}: {body}"
            w.accounts[name] = BUFFER.format(0)
            w.flight = Flight()
            # The page's add answers no id: list.json gives it (a read, not a write).
            listed = self.request(conn, "list")["data"]
            w.ids[name] = next(int(e["id"]) for e in listed if e["name"] == name)
            return
        name = known[w.serial % len(known)]
        if step == 5 and len(known) > 1:
            w.flight = Flight("remove", name)
            body = self.request(conn, "remove", id=str(w.ids[name]))
            assert body == {"result": "ok"}, f"remove {name}: {body}"
            del w.accounts[name], w.ids[name]
        else:
            value = BUFFER.format(w.serial)
            w.flight = Flight("modify", name, value)
            body = self.request(conn, "modify_call_cfg", id=str(w.ids[name]), buffer=value)
            assert body == {"result": "ok"}, f"modify_call_cfg {name}: {body}"
            w.accounts[name] = value
        w.flight = Flight()


def check_file(state_dir: Path, writers: list[Writer], where: str) -> dict[str, Any]:
    """The state file parses and decodes; every acked write is in it; only in-flight extras."""
    try:
        text = read_payload(state_dir).decode()
        doc = json.loads(text)
        decode_state(doc)
    except (StoreError, ValueError) as exc:
        pytest.fail(f"{where}: {SLOTS_FILE} torn or invalid after SIGKILL ({exc})")
    stored = {a["name"]: a for a in doc["accounts"]}
    assert len(stored) == len(doc["accounts"]), f"{where}: a name stored twice"
    expected: set[str] = set()
    for w in writers:
        f = w.flight
        for name, value in w.accounts.items():
            expected.add(name)
            if f.kind == "remove" and f.name == name and name not in stored:
                continue  # the remove in flight may have been applied
            assert name in stored, f"{where}: acknowledged account {name!r} is missing"
            allowed = {value, f.value} if f.kind == "modify" and f.name == name else {value}
            got = stored[name]["call"]["buffer"]
            assert got in allowed, f"{where}: {name!r} buffer {got!r}, acknowledged {allowed}"
        if f.kind == "add":
            expected.add(f.name)  # the add in flight may have been applied
    extra = set(stored) - expected
    assert not extra, f"{where}: accounts nobody was acknowledged or had in flight: {extra}"
    return {name: a["id"] for name, a in stored.items()}


def test_sigkill_under_concurrent_writers_loses_no_acknowledged_write(tmp_path: Path) -> None:
    state_dir, log = tmp_path / "state", tmp_path / "device.log"
    writers = [Writer(i) for i in range(WRITERS)]
    device = start_device(state_dir, "--max-accounts", "100000", stderr_path=log)
    try:
        for round_no in range(ROUNDS):
            where = f"round {round_no}"
            parts = urllib.parse.urlsplit(device.api)
            assert parts.hostname == "127.0.0.1" and parts.port is not None
            run = Round(parts.hostname, parts.port, parts.path, writers)
            threads = [threading.Thread(target=run.run, args=(w,)) for w in writers]
            for thread in threads:
                thread.start()
            try:
                assert run.enough.wait(JOIN_TIMEOUT), (
                    f"{where}: only {run.acked} writes acknowledged in {JOIN_TIMEOUT} s:\n"
                    f"{device.stderr()}"
                )
                device.proc.kill()
                assert device.proc.wait(JOIN_TIMEOUT) == -signal.SIGKILL, where
            finally:
                device.proc.kill()
                for thread in threads:
                    thread.join(JOIN_TIMEOUT)
            failures = [w.failure for w in writers if w.failure]
            assert not failures, f"{where}: answers other than ok: {failures}"
            assert not any(t.is_alive() for t in threads), f"{where}: a writer hung"
            device.stop()
            ids = check_file(state_dir, writers, where)
            device = start_device(state_dir, "--max-accounts", "100000", stderr_path=log)
            listed = {e["name"]: e["id"] for e in call(device.api, "list")["data"]}
            assert listed == ids, f"{where}: list.json after restart disagrees with the file"
            # Adopt the outcome of each interrupted request, now decided by the file.
            for w in writers:
                f = w.flight
                if f.kind == "add" and f.name in listed:
                    w.accounts[f.name], w.ids[f.name] = f.value, listed[f.name]
                elif f.kind == "remove" and f.name not in listed:
                    del w.accounts[f.name], w.ids[f.name]
                elif f.kind == "modify":
                    cfg = call(device.api, "call_cfg", id=str(listed[f.name]))
                    w.accounts[f.name] = cfg["data"]["buffer"]
                w.flight = Flight()
                # an add acknowledged just before the kill may not have had its id read yet
                w.ids = {name: listed[name] for name in w.accounts}
            assert not (state_dir / (SLOTS_FILE + ".tmp")).exists(), f"{where}: tmp left"
    finally:
        rc = device.stop()
    assert rc == 0, f"expected exit 0 after SIGTERM, got {rc}:\n{device.stderr()}"
