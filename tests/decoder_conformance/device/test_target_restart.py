"""Target.restart(): the bundled decoder restarted on its state dir and HTTP port, and a lab
decoder restarted by its profile's command, seen going down and answering again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import parse_profile
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.target import (
    ReferenceProcess,
    RestartNotSeen,
    Target,
    TargetUnavailable,
    plan_target,
    start_reference,
)

CATALOGUE = Catalogue()


def _client(url: str, token: str | None = None) -> DeviceClient:
    return DeviceClient(url, {}, token=token)


def test_bundled_decoder_restarts_on_its_state_and_http_port(
    reference: ReferenceProcess,
) -> None:
    client = _client(reference.api_url)
    account = client.add_account("kept", "sip")
    client.modify_call_cfg(account, auto_aws="1")
    url, pid = reference.api_url, reference.pid
    what = reference.restart()
    assert (reference.api_url, reference.pid != pid) == (url, True), what
    assert "the same HTTP port" in what and str(reference.pid) in what
    after = _client(reference.api_url)
    assert [(a.id, a.name) for a in after.accounts()] == [(account, "kept")]
    assert after.call_cfg(account)["auto_aws"] == 1
    assert "restarted by the suite" in reference.log_path.read_text("utf-8")


def test_bundled_decoder_takes_another_port_when_its_own_was_taken(tmp_path: Path) -> None:
    device = start_reference(tmp_path / "state")
    try:
        target = Target(
            plan_target("", "", ()),
            device.api_url,
            parse_profile("", "reference.toml", CATALOGUE),
            {},
            reference=device,
        )
        _client(device.api_url).add_account("kept", "sip")
        port = urlsplit(device.api_url).port
        device.stop()
        with socket.socket() as squatter:  # another process took the port meanwhile
            squatter.bind(("127.0.0.1", port or 0))
            squatter.listen()
            what = target.restart()
        assert "a new HTTP port" in what, what
        assert target.api_url == device.api_url != f"http://127.0.0.1:{port}/api"
        assert [a.name for a in _client(target.api_url).accounts()] == ["kept"]
        assert target.restarts == [what] and not target.lost
    finally:
        device.stop()


def test_login_again_after_a_restart(tmp_path: Path) -> None:
    device = start_reference(tmp_path / "state", user="admin", password="pw")
    try:
        profile = parse_profile("", "reference-login.toml", CATALOGUE)
        target = Target(
            plan_target("", "", ()),
            device.api_url,
            profile,
            {},
            user="admin",
            password="pw",
            reference=device,
        )
        target.token = target.client().login("admin", "pw")
        old = target.token
        target.restart()
        assert target.token and target.token != old
        stale = _client(target.api_url, old).call("list")
        assert stale.msg == "1512", stale.body  # the old token died with the process
        assert target.client().call("list").ok
    finally:
        device.stop()


# -- a lab decoder: a fake device the restart command stops and starts again ---------------------

FAKE_DEVICE = """
import http.server, sys, threading
port, delay = int(sys.argv[1]), float(sys.argv[2])
threading.Event().wait(delay)  # the reboot: down for `delay` seconds

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"result": "ok", "data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

#: restart.py PIDFILE PORT DELAY [--no-return]: stop the fake device, start a new one that binds
#: the same port after DELAY seconds, and return at once (the device comes back later).
RESTART = """
import os, signal, subprocess, sys
pidfile, port, delay = sys.argv[1:4]
os.kill(int(open(pidfile).read()), signal.SIGTERM)
if "--no-return" not in sys.argv:
    fake = os.path.join(os.path.dirname(pidfile), "fake.py")
    new = subprocess.Popen(
        [sys.executable, fake, port, delay], stdout=subprocess.DEVNULL, start_new_session=True
    )
    open(pidfile, "w").write(str(new.pid))
"""


class FakeLab:
    """A fake lab device on a loopback port, and the command lines that restart it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "fake.py").write_text(FAKE_DEVICE, "utf-8")
        (directory / "restart.py").write_text(RESTART, "utf-8")
        self.pidfile = directory / "pid"
        self.first = subprocess.Popen(
            [sys.executable, str(directory / "fake.py"), "0", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.first.stdout is None:
            raise RuntimeError("stdout not piped")
        self.port = int(self.first.stdout.readline())
        self.pidfile.write_text(str(self.first.pid))
        self.api_url = f"http://127.0.0.1:{self.port}/api"

    def restart_command(self, delay: float = 1.5, back: bool = True) -> str:
        words = [sys.executable, str(self.directory / "restart.py"), str(self.pidfile)]
        words += [str(self.port), str(delay)] + ([] if back else ["--no-return"])
        return " ".join(f"'{w}'" for w in words)

    def stop(self) -> None:
        current = int(self.pidfile.read_text())
        if current != self.first.pid:  # the one the restart command started
            with contextlib.suppress(ProcessLookupError):
                os.kill(current, signal.SIGTERM)
        self.first.terminate()
        self.first.wait(5)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[FakeLab]:
    device = FakeLab(tmp_path)
    yield device
    device.stop()


def _lab_target(lab: FakeLab, command: str, timeout: float = 20.0) -> Target:
    profile = parse_profile(
        f'[device]\nrestart_command = "{command}"\n[timers]\nrestart_timeout = {timeout}\n',
        "lab.toml",
        CATALOGUE,
    )
    return Target(plan_target(lab.api_url, "", ()), lab.api_url, profile, {})


def test_lab_restart_waits_for_the_device_to_go_down_and_come_back(lab: FakeLab) -> None:
    target = _lab_target(lab, lab.restart_command())
    assert target.can_restart and target.profile.has("restart")
    what = target.restart()
    assert "stopped answering after" in what and "answered again after" in what, what
    assert _client(target.api_url).call("list").ok


def test_lab_restart_that_never_goes_down_is_not_seen(lab: FakeLab) -> None:
    target = _lab_target(lab, f"'{sys.executable}' -c pass", timeout=2.0)
    with pytest.raises(RestartNotSeen, match="never stopped answering"):
        target.restart()
    assert not target.lost, "the device still answers: the session goes on"


def test_lab_restart_command_that_fails_is_not_seen_at_once(lab: FakeLab) -> None:
    target = _lab_target(lab, f"'{sys.executable}' -c 'raise SystemExit(3)'", timeout=20.0)
    with pytest.raises(RestartNotSeen, match="exited with code 3"):
        target.restart()


def test_lab_device_that_does_not_come_back_is_lost(lab: FakeLab) -> None:
    target = _lab_target(lab, lab.restart_command(back=False), timeout=2.0)
    with pytest.raises(TargetUnavailable, match="did not answer again"):
        target.restart()
    assert "restart_timeout" in target.lost


def test_lab_restart_command_that_cannot_run_is_not_seen(lab: FakeLab, tmp_path: Path) -> None:
    target = _lab_target(lab, str(tmp_path / "no-such-reboot"))
    with pytest.raises(RestartNotSeen, match="cannot run"):
        target.restart()
    assert not target.lost
