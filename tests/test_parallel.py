"""Parallel runs (`-n 2`, plugin/parallel.py): complete results, grouped cases, one restore.

Two subprocess runs of a small selection (api, sip and calls cases): against the bundled
reference decoders (one per worker) and against one reference decoder the test starts and passes
as `--device` (the suite then treats it as a lab device shared by the workers). The JUnit file
names the worker of each case (property `xdist_worker`) and xdist's "@group" suffix; the summary
the controller writes must hold every case the workers ran. The fast tests at the top check the
merge of what workers send and the grouping rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.observations import Observations, ReadingSeen
from decoder_conformance.contract.profile import load_profile
from decoder_conformance.device.target import ReferenceProcess
from decoder_conformance.plugin.parallel import (
    BINDS_GROUP,
    DEVICE_GROUP,
    WORKER_PROPERTY,
    DeviceTurns,
    clean_nodeid,
)
from decoder_conformance.report.summary import Summary
from decoder_conformance.waiting import PeerTimeout
from tests.conftest import ROOT, generic_profile, run_pytest

#: Cases of three areas: reads, the binds (grouped in every parallel run) and a call.
SELECTION = (
    "suites/api/test_list.py",
    "suites/api/test_account.py::test_account_unknown_id_refused",
    "suites/api/test_status.py::test_status_unknown_id_refused",
    "suites/api/test_binds.py::test_get_binds_shape",
    "suites/api/test_binds.py::test_set_binds_then_read_back",
    "suites/api/test_binds.py::test_page_example_binds",
    "suites/sip/test_transport.py::test_bind_shows_bound_port_and_answers",
    "suites/calls/test_incoming.py::test_auto_answer_answers_200_at_once",
)
#: Of SELECTION, the cases that change nothing and send no SIP: the reads a lab run spreads.
READS = {
    "suites/api/test_account.py::test_account_unknown_id_refused",
    "suites/api/test_status.py::test_status_unknown_id_refused",
    "suites/api/test_binds.py::test_get_binds_shape",
}


def ran(junit: Path) -> dict[str, tuple[str, str]]:
    """nodeid as JUnit shows it (with any "@group") -> (worker, outcome) of every case."""
    cases: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        path = case.get("classname", "").replace(".", "/")
        nodeid = f"{path}.py::{case.get('name')}"
        worker = next(
            (p.get("value", "") for p in case.iter("property") if p.get("name") == WORKER_PROPERTY),
            "",
        )
        outcome = next((child.tag for child in case if child.tag != "properties"), "passed")
        cases[nodeid] = (worker, outcome)
    return cases


def summary_cases(summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """nodeid -> (requirement, verdict) of every case the summary lists under its own
    requirement (duty entries aside)."""
    return {
        case["nodeid"]: (req, case["verdict"])
        for req, entry in summary["requirements"].items()
        for case in entry["cases"]
        if not case.get("duty")
    }


def run_parallel(tmp_path: Path, *extra: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(summary, JUnit cases, output) of SELECTION run with -n 2."""
    summary_path, junit = tmp_path / "summary.json", tmp_path / "junit.xml"
    run = run_pytest(
        *SELECTION,
        "-n",
        "2",
        "--conformance-summary",
        str(summary_path),
        "--junitxml",
        str(junit),
        *extra,
        timeout=120,
    )
    assert run.returncode == 0, run.output[-4000:]
    assert summary_path.is_file() and junit.is_file(), run.output[-3000:]
    return json.loads(summary_path.read_text("utf-8")), ran(junit), run.output


def check_complete(summary: dict[str, Any], cases: dict[str, tuple[str, str]]) -> None:
    """Every case a worker ran is in the controller's summary, under a catalogue requirement."""
    catalogue = Catalogue().requirements
    listed = summary_cases(summary)
    assert set(listed) == {clean_nodeid(n) for n in cases}, (listed, cases)
    assert all(req in catalogue for req, _ in listed.values()), listed
    assert summary["cases"]["passed"] == len(cases), summary["cases"]
    assert {worker for worker, _ in cases.values()} == {"gw0", "gw1"}, cases


# -- fast: what a worker sends and how the controller merges it -----------------------------


def test_summary_export_is_the_workers_latest_word_on_the_case() -> None:
    worker = Summary()
    worker.cases["t.py::test_a@device"] = ("SIP-API-ADD-001", "failed")
    worker.record_duty("t.py::test_a@device", "SIP-RFC-001", "failed", ["bad CSeq"])
    controller = Summary()
    controller.merge(worker.export("t.py::test_a@device"), nodeid="t.py::test_a")
    worker.amend("SIP-API-ADD-001", "t.py::test_a@device", "waived")  # a waiver's final word
    controller.merge(worker.export("t.py::test_a@device"), nodeid="t.py::test_a")
    assert controller.cases == {"t.py::test_a": ("SIP-API-ADD-001", "waived")}
    assert controller.duties["t.py::test_a"]["SIP-RFC-001"].problems == ("bad CSeq",)


def test_observations_export_since_a_mark_sends_each_observation_once() -> None:
    catalogue = Catalogue()
    profile = load_profile(ROOT / "profiles" / "generic.toml", catalogue)
    worker, controller = Observations(catalogue, profile), Observations(catalogue, profile)
    worker.readings.append(ReadingSeen("id_type", "integer", "SIP-API-LIST-003", "1", "t::a"))
    worker.code("bad_binds", "1206")
    first = worker.export()
    mark = worker.mark()
    worker.code("bad_binds", "1206")
    worker.code("unknown_id", "1203")
    for sent in (first, json.loads(json.dumps(worker.export(mark)))):
        controller.merge(sent)
    assert controller.readings == worker.readings
    assert controller.codes == {
        "bad_binds": Counter({"1206": 2}),
        "unknown_id": Counter({"1203": 1}),
    }


@pytest.mark.parametrize(
    ("sent", "own"),
    [
        (f"suites/a.py::test_x@{DEVICE_GROUP}", "suites/a.py::test_x"),
        (f"suites/a.py::test_x[a@b]@{BINDS_GROUP}", "suites/a.py::test_x[a@b]"),
        ("suites/a.py::test_x[a@b]", "suites/a.py::test_x[a@b]"),
        ("suites/a@b.py::test_x", "suites/a@b.py::test_x"),
    ],
)
def test_clean_nodeid_drops_only_the_group_suffix(sent: str, own: str) -> None:
    assert clean_nodeid(sent) == own


def test_a_device_group_case_has_the_shared_device_alone(tmp_path: Path) -> None:
    turns = DeviceTurns(tmp_path, timeout=0.3)
    busy = pytest.raises(PeerTimeout, match="a turn on the shared device")
    # Reads share the device; a restart waits for them.
    with turns.turn(alone=False), turns.turn(alone=False), busy, turns.turn(alone=True):
        pass
    busy = pytest.raises(PeerTimeout, match="a turn on the shared device")
    with turns.turn(alone=True, restart=True), busy, turns.turn(alone=False):
        pass
    assert turns.restarts() == 1
    with turns.turn(alone=False):  # the restart's turn is over
        pass


def test_a_waiting_read_gets_its_turn_before_the_next_exclusive_case(tmp_path: Path) -> None:
    """flock is not fair: the worker of the exclusive cases waits for a read's mark to go (a
    dead worker's mark is passed over) before it takes the device again."""
    turns = DeviceTurns(tmp_path, timeout=5.0)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / f"want-{gone.pid}").touch()  # a worker that died while waiting
    mark = tmp_path / f"want-{os.getpid()}"
    mark.touch()
    timer = threading.Timer(0.2, mark.unlink)
    timer.start()
    try:
        with turns.turn(alone=True):
            assert not mark.exists(), "the exclusive case went ahead of a waiting read"
    finally:
        timer.cancel()


# -- subprocess runs --------------------------------------------------------------------------


def test_two_workers_against_reference_decoders(tmp_path: Path) -> None:
    """One decoder per worker: the summary is complete, the binds cases share one worker, and
    the controller's summary has the reading and the codes the workers observed."""
    summary, cases, _ = run_parallel(tmp_path)
    check_complete(summary, cases)
    grouped = {n: w for n, (w, _) in cases.items() if n.endswith(f"@{BINDS_GROUP}")}
    assert {clean_nodeid(n) for n in grouped} == {
        "suites/api/test_binds.py::test_set_binds_then_read_back",
        "suites/api/test_binds.py::test_page_example_binds",
    }, cases
    assert len(set(grouped.values())) == 1, grouped
    assert summary["readings"]["page_example_binds"]["seen"] == ["refused"], summary["readings"]


def test_lab_device_shared_by_two_workers(tmp_path: Path, reference: ReferenceProcess) -> None:
    """A device given with --device: every case that needs it to itself ran on one worker, the
    reads were not grouped, and the device is left as it was found."""
    before = requests.get(f"{reference.api_url}/sip/list.json", timeout=5).json()
    profile = generic_profile(tmp_path)
    summary, cases, output = run_parallel(
        tmp_path, "--device", reference.api_url, "--profile", str(profile)
    )
    check_complete(summary, cases)
    exclusive = {n: w for n, (w, _) in cases.items() if n.endswith(f"@{DEVICE_GROUP}")}
    reads = {clean_nodeid(n) for n in cases} - {clean_nodeid(n) for n in exclusive}
    assert reads == READS, cases
    assert len(set(exclusive.values())) == 1, exclusive
    assert "the xdist controller snapshots" in output, output[:3000]
    after = requests.get(f"{reference.api_url}/sip/list.json", timeout=5).json()
    assert after == before
