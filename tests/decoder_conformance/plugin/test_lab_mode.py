"""The suite against a separately started device, as in a lab: state restored, dead targets fast."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from decoder_conformance.device.target import ReferenceProcess
from decoder_conformance.waiting import poll_until
from tests.conftest import ROOT, run_pytest

pytestmark = pytest.mark.selftest
LAB_PROFILE = "profiles/reference.toml"


def device_state(api_url: str) -> dict[str, object]:
    """Everything the suite could change on the device, as raw JSON."""

    def get(endpoint: str, **params: str) -> object:
        response = requests.get(f"{api_url}/sip/{endpoint}.json", params=params, timeout=5)
        return response.json()

    listed = get("list")
    accounts = {
        str(entry["id"]): {
            "account": get("account", id=str(entry["id"])),
            "call_cfg": get("call_cfg", id=str(entry["id"])),
        }
        for entry in listed["data"]  # type: ignore[index]
    }
    return {
        "list": listed,
        "accounts": accounts,
        "binds": get("get_binds"),
        "server_port": get("server_port"),
    }


def populate(api_url: str) -> None:
    """Give the device settings of its own for the suite to leave alone."""

    def ok(endpoint: str, **params: str) -> None:
        body = requests.get(f"{api_url}/sip/{endpoint}.json", params=params, timeout=5).json()
        assert body["result"] == "ok", f"{endpoint} {params}: {body}"

    ok("add", name="lab-existing", type="sip")
    ok(
        "modify",
        id="1",
        localAccount="1001",
        localAddress="127.0.0.1:0",
        realm="lab",
        registerServer="127.0.0.1",
        registerPort="5090",
        username="u1",
        password="p1",
    )
    ok(
        "modify_call_cfg",
        id="1",
        auto_aws="1",
        allow_in="2",
        sip_out_url="9@127.0.0.1:5090",
        buffer="live:100:100:300:0:0",
        policy="2",
    )
    ok("add", name="lab-gb", type="gb28181")
    ok("set_binds", binds="127.0.0.1:0,*:0")


def test_lab_run_leaves_device_state_as_found(reference: ReferenceProcess) -> None:
    populate(reference.api_url)
    before = device_state(reference.api_url)
    run = run_pytest("suites/api", "--device", reference.api_url, "--profile", LAB_PROFILE, "-q")
    assert run.returncode == 0, run.output[-3000:]
    assert device_state(reference.api_url) == before, "the suite left the device changed"


def test_ctrl_c_mid_run_restores_state(reference: ReferenceProcess) -> None:
    populate(reference.api_url)
    before = device_state(reference.api_url)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "suites/api",
            "-q",
            "--device",
            reference.api_url,
            "--profile",
            LAB_PROFILE,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Interrupt while a case holds a scratch account (named ct-...): mid-run, state changed.
        poll_until(
            lambda: [a["name"] for a in device_state(reference.api_url)["list"]["data"]],  # type: ignore[index]
            lambda names: any(n.startswith("ct-") for n in names),
            timeout=30,
            expected="a scratch account created by a running case",
        )

        # A SIGINT that lands inside a finalizer is only reported as unraisable and the run goes
        # on, as it would for a person; like a person, press again until the run stops (the
        # plugin ignores Ctrl-C while it restores, so pressing again cannot cut that short).
        def interrupted() -> bool:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            return process.poll() is not None

        poll_until(interrupted, bool, timeout=30, interval=2.0, expected="pytest to stop on Ctrl-C")
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # pytest exits 2 when interrupted; on CPython 3.11 its KeyboardInterrupt report can itself
    # crash (a frame with tb_lineno None) and exit 1. Either way the run was interrupted, and
    # what this case checks is that the device was restored regardless.
    assert process.returncode != 0, f"the run was not interrupted:\n{output[-2000:]}"
    assert "KeyboardInterrupt" in output, f"no KeyboardInterrupt reported:\n{output[-2000:]}"
    assert device_state(reference.api_url) == before, (
        f"state not restored after Ctrl-C:\n{output[-2000:]}"
    )


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("kind", ["dead_port", "silent_port"])
def test_unreachable_device_fails_session_fast_with_one_message(
    kind: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(kind)
    run = run_pytest(
        "suites/api",
        "--device",
        f"http://127.0.0.1:{port}/api",
        "--profile",
        "profiles/example-lab.toml",
        "-q",
    )
    assert run.returncode == 3, run.output[-2000:]
    assert run.output.count("target unavailable") == 1, run.output[-2000:]
    # The session's own wait, as it reports it (interpreter and plugin start-up excluded: they
    # are not the device's and vary with the machine's load).
    waited = re.search(r"gave up after ([0-9.]+) s", run.output)
    assert waited is not None, run.output[-2000:]
    assert float(waited.group(1)) < 10, f"waited {waited.group(1)} s for the device"


def test_reference_ready_line_describes_the_device(reference: ReferenceProcess) -> None:
    assert reference.ready["api"] == reference.api_url
    assert reference.api_url.startswith("http://127.0.0.1:")
    assert json.loads(json.dumps(reference.ready))["event"] == "ready"
    assert Path(reference.ready["state"]).is_dir()
