"""Crash test of the reference decoder's persistence, plus its command-line contract.

Starts `python -m reference_device` as a subprocess, streams add/modify/remove writes, SIGKILLs
it at a random moment, restarts it on the same state dir and checks that every acknowledged
write survived, nothing unacknowledged appeared beyond the one write in flight, ids stayed
stable and were never reused, and the state file always holds a whole state.
"""

import http.client
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reference_device.store import SLOTS_FILE, StoreError, read_payload
from tests.conftest import ROOT

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
HTTP_TIMEOUT = 5.0
ROUNDS = 50


@dataclass
class DeviceProcess:
    """A running `python -m reference_device` and the ready line it printed."""

    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    stderr_path: Path

    @property
    def api(self) -> str:
        """The API base URL from the ready line."""
        return str(self.ready["api"])

    def stderr(self) -> str:
        """What the device logged so far (for failure messages)."""
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def _device_command(state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reference_device",
        "--http",
        "127.0.0.1:0",
        "--state",
        str(state_dir),
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    pythonpath = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    return {**os.environ, "PYTHONPATH": pythonpath, **extra}


def start_device(
    state_dir: Path,
    *extra: str,
    stderr_path: Path,
    timeout: float = READY_TIMEOUT,
    env: dict[str, str] | None = None,
) -> DeviceProcess:
    """Start the device and read its one JSON ready line from stdout before `timeout`."""
    with open(stderr_path, "ab") as stderr:
        proc = subprocess.Popen(
            _device_command(state_dir, *extra),
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=_env(**(env or {})),
        )
    assert proc.stdout is not None
    device = DeviceProcess(proc, {}, stderr_path)
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in seen:
            remaining = deadline - time.monotonic()
            chunk = os.read(proc.stdout.fileno(), 4096) if selector.select(remaining) else None
            if not chunk:  # deadline passed (None) or the process closed stdout (b"")
                device.stop()
                pytest.fail(
                    f"expected a JSON ready line on stdout within {timeout}s; saw {seen!r}, "
                    f"exit code {proc.returncode}, stderr:\n{device.stderr()}"
                )
            seen += chunk
    line, _, rest = seen.partition(b"\n")
    assert rest == b"", f"expected exactly one stdout line before requests, also got {rest!r}"
    device.ready = json.loads(line)
    return device


@contextmanager
def running_device(state_dir: Path, *extra: str, stderr_path: Path) -> Iterator[DeviceProcess]:
    """start_device() that is always stopped afterwards."""
    device = start_device(state_dir, *extra, stderr_path=stderr_path)
    try:
        yield device
    finally:
        device.stop()


def call(api: str, endpoint: str, **params: str) -> dict[str, Any]:
    """GET <api>/sip/<endpoint>.json?params and decode the JSON answer."""
    url = f"{api}/sip/{endpoint}.json?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


@dataclass
class Ledger:
    """What the test knows must (or may) be in the device state."""

    expected: dict[str, str] = field(default_factory=dict)  # acked account name -> its realm
    ids: dict[str, int] = field(default_factory=dict)  # name -> id, once seen after a restart
    owners: dict[int, str] = field(default_factory=dict)  # every id ever seen -> its name
    serial: int = 0
    acked_writes: int = 0


@dataclass
class InFlight:
    """The write that was under way when the kill hit: it may or may not have been applied."""

    kind: str = ""
    name: str = ""
    realm: str = ""


def _one_write(api: str, ledger: Ledger, rng: random.Random, flight: InFlight) -> None:
    """Send one random write; raise OSError/HTTPException when the device is gone."""
    ledger.serial += 1
    known = sorted(n for n in ledger.expected if n in ledger.ids)
    choice = rng.random()
    if not known or choice < 0.4:
        name = f"acct-{ledger.serial}"
        flight.kind, flight.name, flight.realm = "add", name, "*"
        body = call(api, "add", name=name, type=rng.choice(["sip", "gb28181"]))
        ledger.expected[name] = "*"
    elif choice < 0.85:
        name, realm = rng.choice(known), f"realm-{ledger.serial}"
        flight.kind, flight.name, flight.realm = "modify", name, realm
        body = call(api, "modify", id=str(ledger.ids[name]), realm=realm)
        ledger.expected[name] = realm
    else:
        name = rng.choice(known)
        flight.kind, flight.name = "remove", name
        body = call(api, "remove", id=str(ledger.ids[name]))
        del ledger.expected[name]
    assert body == {"result": "ok"}, f"{flight}: expected ok, got {body}"
    ledger.acked_writes += 1


def _check_state(state_dir: Path, ledger: Ledger, flight: InFlight, where: str) -> None:
    """The state file's newest whole slot parses and holds every acked write; only the
    in-flight write may differ."""
    try:
        doc = json.loads(read_payload(state_dir))
    except (StoreError, ValueError) as exc:
        pytest.fail(f"{where}: state file torn after SIGKILL ({exc})")
    assert doc["version"] == 1, where
    stored = {a["name"]: a for a in doc["accounts"]}
    for name, realm in ledger.expected.items():
        if flight.kind == "remove" and name == flight.name:
            continue  # the remove in flight may have happened
        assert name in stored, f"{where}: acknowledged account {name!r} is missing"
        allowed = {realm, flight.realm} if flight.name == name else {realm}
        assert stored[name]["realm"] in allowed, (
            f"{where}: {name!r} realm {stored[name]['realm']!r}, expected one of {allowed}"
        )
    extra = set(stored) - set(ledger.expected)
    allowed_extra = {flight.name} if flight.kind == "add" else set()
    assert extra <= allowed_extra, f"{where}: unacknowledged accounts appeared: {extra}"
    assert all(a["id"] < doc["next_id"] for a in doc["accounts"]), f"{where}: next_id too low"


def _check_ids(api: str, ledger: Ledger, where: str) -> set[str]:
    """Ids from list.json are stable per name and never given to a second name; returns names."""
    listed = call(api, "list")["data"]
    for entry in listed:
        name, account_id = entry["name"], entry["id"]
        owner = ledger.owners.setdefault(account_id, name)
        assert owner == name, f"{where}: id {account_id} reused: was {owner!r}, now {name!r}"
        assert ledger.ids.setdefault(name, account_id) == account_id, f"{where}: {name!r} moved"
    return {entry["name"] for entry in listed}


def _resync(state_dir: Path, ledger: Ledger, listed: set[str], where: str) -> None:
    """Adopt the restarted state (the in-flight write's outcome is now decided)."""
    doc = json.loads(read_payload(state_dir))
    ledger.expected = {a["name"]: a["realm"] for a in doc["accounts"]}
    assert listed == set(ledger.expected), f"{where}: list.json disagrees with the state file"


def test_sigkill_at_any_moment_loses_no_acknowledged_write(tmp_path: Path) -> None:
    seed = int(os.environ.get("ATOMICITY_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    state_dir, log = tmp_path / "state", tmp_path / "device.log"
    ledger = Ledger()
    extra = ("--max-accounts", "100000")
    device = start_device(state_dir, *extra, stderr_path=log)
    started = time.monotonic()
    try:
        for round_no in range(ROUNDS):
            where = f"seed {seed} round {round_no}"
            flight = InFlight()
            killer = threading.Timer(rng.uniform(0.0, 0.12), device.proc.kill)
            killer.start()
            try:
                while True:
                    _one_write(device.api, ledger, rng, flight)
                    flight = InFlight()
            except (OSError, http.client.HTTPException):
                pass  # the kill landed; `flight` is the write it interrupted
            finally:
                killer.join()
            assert device.proc.wait(STOP_TIMEOUT) == -signal.SIGKILL, where
            device.stop()
            _check_state(state_dir, ledger, flight, where)
            device = start_device(state_dir, *extra, stderr_path=log)
            _resync(state_dir, ledger, _check_ids(device.api, ledger, where), where)
            assert not (state_dir / (SLOTS_FILE + ".tmp")).exists(), f"{where}: tmp left behind"
        assert ledger.acked_writes >= ROUNDS, f"seed {seed}: only {ledger.acked_writes} writes"
    finally:
        rc = device.stop()
    assert rc == 0, f"expected exit 0 after SIGTERM, got {rc}:\n{device.stderr()}"
    print(
        f"seed {seed}: {ROUNDS} kills, {ledger.acked_writes} acked writes, "
        f"{len(ledger.owners)} ids, {time.monotonic() - started:.1f}s"
    )


# -- command line --------------------------------------------------------------------------------


def test_ready_line_and_clean_exit_on_sigint(tmp_path: Path) -> None:
    state_dir = tmp_path / "new" / "state"
    with running_device(
        state_dir,
        "--fault",
        "id_reused",
        "--fault",
        "register_port_string",
        "--sip-bind",
        "*:5060",
        stderr_path=tmp_path / "log",
    ) as device:
        ready = device.ready
        assert set(ready) == {"event", "http", "api", "pid", "faults", "readings", "state", "sip"}
        assert ready["event"] == "ready"
        assert ready["http"].startswith("http://127.0.0.1:")
        assert ready["api"] == ready["http"] + "/api"
        assert ready["pid"] == device.proc.pid
        assert ready["faults"] == ["id_reused", "register_port_string"]
        assert ready["state"] == str(state_dir)
        assert call(device.api, "get_binds")["data"] == {"binds": "*:5060"}
        device.proc.send_signal(signal.SIGINT)
        assert device.proc.wait(STOP_TIMEOUT) == 0, device.stderr()


def test_password_from_environment_enforces_login(tmp_path: Path) -> None:
    device = start_device(
        tmp_path / "state",
        "--user",
        "admin",
        "--password-env",
        "REF_TEST_PASSWORD",
        stderr_path=tmp_path / "log",
        env={"REF_TEST_PASSWORD": "s3cret"},
    )
    try:
        assert call(device.api, "list") == {"result": "error", "msg": "1512"}
        url = f"{device.api}/users/login.json?username=admin&password=s3cret"
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
            token = json.loads(resp.read())["data"]["token"]
        assert call(device.api, "list", token=token) == {"result": "ok", "data": []}
        assert "s3cret" not in str(device.proc.args)
    finally:
        assert device.stop() == 0, device.stderr()


def run_device(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m reference_device --http 127.0.0.1:0 ARGS`, run to its exit."""
    return subprocess.run(
        [sys.executable, "-m", "reference_device", "--http", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=30,
        check=False,
    )


def test_missing_password_env_exits_2(tmp_path: Path) -> None:
    result = run_device(
        tmp_path, "--state", str(tmp_path), "--user", "u", "--password-env", "NO_SUCH_VAR_X"
    )
    assert result.returncode == 2
    assert "NO_SUCH_VAR_X" in result.stderr


def test_unknown_fault_exits_2_listing_the_known_ones(tmp_path: Path) -> None:
    result = run_device(tmp_path, "--state", str(tmp_path), "--fault", "no_such_fault")
    assert result.returncode == 2
    assert "no_such_fault" in result.stderr
    assert "remove_keeps_listed" in result.stderr
    assert "post_body_ignored" in result.stderr
    assert result.stdout == ""


def test_corrupt_state_exits_2_naming_the_file_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "next_id": ')
    result = run_device(tmp_path, "--state", str(tmp_path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert path.read_text() == '{"version": 1, "next_id": '
    assert result.stdout == ""
