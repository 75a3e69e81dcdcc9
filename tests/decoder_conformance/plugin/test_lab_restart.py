"""The restart cases against a lab device: a reference decoder started by the test, restarted by
the profile's [device].restart_command (a script that stops it and starts it again on the same
state dir and port), so the lab path runs through the real cases."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from decoder_conformance.device.target import ReferenceProcess
from tests.conftest import ROOT, run_pytest

pytestmark = pytest.mark.selftest

#: restart.py SPEC: stop the decoder named in SPEC's pidfile, wait until its HTTP port refuses
#: connections and a second more (a reboot), start it again with the same arguments in the
#: background, and return.
RESTART = """
import json, os, signal, socket, subprocess, sys, threading
spec = json.load(open(sys.argv[1]))
os.kill(int(open(spec["pidfile"]).read()), signal.SIGTERM)
while True:
    try:
        socket.create_connection(("127.0.0.1", spec["port"]), timeout=1).close()
    except OSError:
        break
    threading.Event().wait(0.05)
threading.Event().wait(1.0)  # a reboot takes a while: the suite must see the device down
with open(spec["log"], "a") as log:
    new = subprocess.Popen(
        spec["args"], env=spec["env"], stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,
    )
open(spec["pidfile"], "w").write(str(new.pid))
"""


def test_restart_cases_pass_against_a_lab_device_restarted_by_its_command(
    reference: ReferenceProcess, tmp_path: Path
) -> None:
    port = urlsplit(reference.api_url).port
    args = list(reference.args)
    args[args.index("--http") + 1] = f"127.0.0.1:{port}"
    pidfile = tmp_path / "pid"
    pidfile.write_text(str(reference.pid))
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "pidfile": str(pidfile),
                "port": port,
                "args": args,
                "env": reference.env,
                "log": str(tmp_path / "restarted.log"),
            }
        )
    )
    script = tmp_path / "restart.py"
    script.write_text(RESTART, "utf-8")
    text = (ROOT / "profiles" / "reference.toml").read_text("utf-8")
    command = f"'{sys.executable}' '{script}' '{spec}'"
    text = text.replace("[device]\n", f'[device]\nrestart_command = "{command}"\n', 1)
    text = text.replace("[timers]\n", "[timers]\nrestart_timeout = 20.0\n", 1)
    profile = tmp_path / "lab.toml"
    profile.write_text(text, "utf-8")
    try:
        run = run_pytest(
            "suites/api/test_restart.py",
            "--device",
            reference.api_url,
            "--profile",
            str(profile),
            "-q",
            timeout=180,
        )
        assert run.returncode == 0, run.output[-3000:]
        assert "5 passed" in run.output, run.output[-3000:]
        assert int(pidfile.read_text()) != reference.pid, "the command never restarted it"
    finally:
        current = int(pidfile.read_text())
        if current != reference.pid:  # the decoder the restart command started last
            with contextlib.suppress(ProcessLookupError):
                os.kill(current, signal.SIGTERM)
