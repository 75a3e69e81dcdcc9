"""--read-only: the device sees no write, the cases that write are skipped naming the mode, the read
cases pass, and a case that tries to write anyway is refused unsent (broken, never sent).

The runs are against a reference decoder started here, as a lab device, so its write counter
(reference/stats.json) can be read before and after; a run without --read-only shows the counter
counts, so the zero is not a counter that never moves.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from decoder_conformance.device.client import (
    WRITE_ENDPOINTS,
    DeviceClient,
    ReadOnlyRefused,
    write_endpoint_of,
)
from decoder_conformance.device.target import ReferenceProcess, start_reference
from decoder_conformance.plugin.read_only import env_flag
from reference_device import write_counter
from tests.conftest import ROOT, run_pytest

PROFILE = str(ROOT / "profiles" / "reference.toml")
MODE = "read-only mode: the case writes to the device ("
#: A few cases of each kind: read cases, a case parametrized over every endpoint (its write
#: endpoints skip), cases that add scratch accounts, OPTIONS to an existing bind.
SELECTION = (
    "suites/api/test_status.py",
    "suites/api/test_envelope.py::test_every_endpoint_answers_application_json",
    "suites/sip/test_transport.py::test_options_answer_carries_a_to_tag",
)
READ_ENDPOINTS = ("list", "status", "account", "call_cfg", "server_port", "get_source", "get_binds")


def test_client_and_device_agree_on_the_write_endpoints() -> None:
    assert set(WRITE_ENDPOINTS) == write_counter.WRITE_ENDPOINTS


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("http://d/api/sip/add.json", "add"),
        ("http://d/api/SIP//Modify_Call_Cfg.JSON", "modify_call_cfg"),
        ("http://d/api/sip/%72emove.json", "remove"),
        ("http://d/api/sip/hangup", "hangup"),
        ("http://d/api/sip/list.json", None),
        ("http://d/api/sip/add_account.json", None),
        ("http://d/api/users/login.json", None),
    ],
)
def test_write_endpoint_of(url: str, written: str | None) -> None:
    assert write_endpoint_of(url) == written


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a request that is sent is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_read_only_client_refuses_writes_unsent(closed_port: int) -> None:
    sent: list[object] = []
    client = DeviceClient(
        f"http://127.0.0.1:{closed_port}/api",
        {},
        timeout=2.0,
        read_only=True,
        on_exchange=sent.append,
    )
    with pytest.raises(ReadOnlyRefused, match=r"refused to send set_binds\.json"):
        client.call("set_binds", {"binds": "*:5060"})
    # A read goes through the guard and is sent: the closed port refuses the connection.
    with pytest.raises(requests.ConnectionError):
        client.call("list")
    assert sent == []


@pytest.mark.parametrize(("value", "flag"), [("1", True), ("Yes", True), ("", False), ("0", False)])
def test_env_flag(value: str, flag: bool) -> None:
    assert env_flag(value) is flag


def test_env_flag_names_the_variable() -> None:
    with pytest.raises(pytest.UsageError, match="DECODER_READ_ONLY='maybe'"):
        env_flag("maybe")


# -- runs of the suite against a device started here ------------------------------------------


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ReferenceProcess]:
    """A reference decoder standing in for a production device, with an account of its own."""
    device = start_reference(tmp_path / "state")
    try:
        body = requests.get(
            f"{device.api_url}/sip/add.json", params={"name": "in-use", "type": "sip"}, timeout=5
        ).json()
        assert body == {"result": "ok"}, body
        yield device
    finally:
        device.stop()


def device_stats(device: ReferenceProcess) -> dict[str, Any]:
    """reference/stats.json's data."""
    body = requests.get(f"{device.api_url}/reference/stats.json", timeout=5).json()
    data: dict[str, Any] = body["data"]
    return data


def outcomes(junit: Path) -> dict[str, str]:
    """Test name -> "passed", "failed", "error" or "skipped: <reason>", from a JUnit file."""
    found: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdict = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                verdict = "failed" if child.tag == "failure" else "error"
            elif child.tag == "skipped":
                verdict = f"skipped: {child.get('message', '')}"
        found[case.get("name", "")] = verdict
    return found


def run_against(device: ReferenceProcess, tmp_path: Path, *args: str) -> dict[str, str]:
    junit = tmp_path / "junit.xml"
    run = run_pytest(
        *SELECTION, "--device", device.api_url, "--profile", PROFILE,
        "--junitxml", str(junit), "-q", *args, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    return outcomes(junit)


@pytest.mark.selftest
def test_read_only_run_writes_nothing(lab: ReferenceProcess, tmp_path: Path) -> None:
    before = device_stats(lab)
    seen = run_against(lab, tmp_path, "--read-only")
    after = device_stats(lab)
    assert after["writes"] == before["writes"], f"the device saw writes: {before} -> {after}"
    assert after["commits"] == before["commits"], f"the device committed: {before} -> {after}"
    # The run did reach the device: reads and OPTIONS arrived.
    assert after["api_requests"]["status"] > before["api_requests"].get("status", 0), after
    assert after["sip_requests"].get("OPTIONS", 0) >= 2, after

    expected_passed = {
        "test_status_shape",  # on the account the device already holds (existing_account)
        "test_status_unknown_id_refused",
        "test_options_answer_carries_a_to_tag[udp]",
        "test_options_answer_carries_a_to_tag[tcp]",
        *(f"test_every_endpoint_answers_application_json[{e}]" for e in READ_ENDPOINTS),
    }
    passed = {name for name, verdict in seen.items() if verdict == "passed"}
    assert passed == expected_passed, json.dumps(seen, indent=1)
    skipped = {name: v for name, v in seen.items() if name not in passed}
    assert skipped, "nothing was skipped"
    assert all(v.startswith(f"skipped: {MODE}") for v in skipped.values()), skipped
    for endpoint in WRITE_ENDPOINTS:
        verdict = seen[f"test_every_endpoint_answers_application_json[{endpoint}]"]
        assert f"it calls {endpoint}.json, an endpoint that writes" in verdict, verdict
    idle = seen["test_no_call_means_idle_and_zero_bitrate"]
    assert "(new_account)" in idle, idle


@pytest.mark.selftest
def test_without_read_only_the_counter_counts(lab: ReferenceProcess, tmp_path: Path) -> None:
    before = device_stats(lab)
    seen = run_against(lab, tmp_path)
    after = device_stats(lab)
    assert "skipped" not in " ".join(seen.values()), seen
    # Scratch accounts added and removed, the write endpoints called without parameters.
    assert after["api_writes"] >= before["api_writes"] + 2 * len(WRITE_ENDPOINTS), after
    assert after["commits"] > before["commits"], after
    lab.stop()
    assert "writes received: " in lab.log_path.read_text("utf-8"), lab.log_tail()


TEMP_CASES = """
import pytest


@pytest.mark.req("SIP-API-LIST-001")
@pytest.mark.read_only
def test_marked_but_writes(api):
    api.call("add", {"name": "ct-mismarked", "type": "sip"})


@pytest.mark.req("SIP-API-STAT-001")
@pytest.mark.read_only
def test_reads_an_account(api, existing_account):
    assert api.status(existing_account.id).account
"""


def run_temp_cases(device: ReferenceProcess, tmp_path: Path, *args: str) -> dict[str, str]:
    """TEMP_CASES as suites/test_temp.py in a folder of their own, run against `device`."""
    folder = tmp_path / ("read-only" if args else "plain")
    (folder / "suites").mkdir(parents=True)
    (folder / "suites" / "test_temp.py").write_text(TEMP_CASES, "utf-8")
    junit = folder / "junit.xml"
    run_pytest(
        "suites", "--device", device.api_url, "--profile", PROFILE, "--junitxml", str(junit),
        f"--rootdir={folder}", "-c", str(ROOT / "pyproject.toml"), *args, cwd=folder, timeout=120,
    )  # fmt: skip
    return outcomes(junit)


@pytest.mark.selftest
def test_a_mis_marked_case_is_refused_unsent(lab: ReferenceProcess, tmp_path: Path) -> None:
    """The client's guard, not the mark, keeps the device unwritten; a read case takes an
    account the device has (read-only) or a scratch one (otherwise)."""
    before = device_stats(lab)
    seen = run_temp_cases(lab, tmp_path, "--read-only")
    after = device_stats(lab)
    assert after["writes"] == before["writes"], f"{before} -> {after}"
    assert seen == {"test_marked_but_writes": "failed", "test_reads_an_account": "passed"}, seen
    junit = (tmp_path / "read-only" / "junit.xml").read_text("utf-8")
    assert "ReadOnlyRefused: read-only mode: refused to send add.json" in junit, junit

    seen = run_temp_cases(lab, tmp_path)
    assert seen == {"test_marked_but_writes": "passed", "test_reads_an_account": "passed"}, seen
    # add.json twice (the mis-marked case's and the scratch account's), the removals after them
    assert device_stats(lab)["api_requests"]["add"] == before["api_requests"]["add"] + 2


MARKED_WITH_WRITING_FIXTURE = """
import pytest


@pytest.mark.req("SIP-API-LIST-001")
@pytest.mark.read_only
def test_marked_but_adds(api, new_account):
    new_account()
"""


def test_a_mark_on_a_case_with_a_writing_fixture_stops_the_run(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_marked.py").write_text(MARKED_WITH_WRITING_FIXTURE, "utf-8")
    run = run_pytest(
        "suites", "--collect-only", f"--rootdir={tmp_path}", "-c", str(ROOT / "pyproject.toml"),
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert run.returncode == 4, run.output[-3000:]
    assert "marked read_only, but it adds scratch accounts (new_account)" in run.output
