"""Allure run metadata: the four categories, executor.json, the device label, the readings, and
Allure 3's config with one environment per device."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.report import allure, allurerc

ENVIRONMENT, DEFECT, FINDING, NOT_EXERCISED = (
    "Environment",
    "Device defects",
    "Findings",
    "Not exercised",
)

#: (status, message as allure-pytest writes it) -> the category it must land in (None: none).
SAMPLES: list[tuple[str, str, str | None]] = [
    ("failed", "AssertionError: [SIP-API-ADD-003] expected 1203, got 0000", DEFECT),
    (
        "failed",
        "decoder_conformance.plugin.verdicts.DutyFailure: device duties checked through the "
        "case were broken:\n  [SIP-STAT-TRACE-002] (status trace) account 66",
        DEFECT,
    ),
    ("failed", "", ENVIRONMENT),  # a strict xfail that passed: the profile's waiver is stale
    (
        "broken",
        "decoder_conformance.peers.sipp.run.ToolMissing: SIPp not found ('sipp'); install it",
        ENVIRONMENT,
    ),
    (
        "broken",
        "NotExercised: scapy raw send not permitted (needs root or CAP_NET_RAW): denied",
        ENVIRONMENT,
    ),
    ("broken", "decoder_conformance.peers.pjsua.controller.PeerDied: worker 4 died", NOT_EXERCISED),
    (
        "skipped",
        "XFAIL finding [SIP-API-ENV-008] (a practice; not a page or RFC MUST): AssertionError",
        FINDING,
    ),
    ("skipped", "XFAIL waived in profiles/x.toml (firmware 2.*): known\n\nDeviceFailure", None),
    ("skipped", "not applicable: profile p lacks capability gb28181", None),
    ("passed", "", None),
]


def category(status: str, message: str, full_match: bool) -> str | None:
    """The first category matching, as Allure 3 (search) or Allure 2 (whole message) would."""
    for entry in allure.CATEGORIES:
        if status not in entry["matchedStatuses"]:
            continue
        pattern = entry.get("messageRegex")
        if pattern is None:
            return str(entry["name"])
        found = re.fullmatch(pattern, message) if full_match else re.search(pattern, message)
        if found:
            return str(entry["name"])
    return None


def test_exactly_the_four_categories_of_the_issue() -> None:
    names = {c["name"].split(":")[0] for c in allure.CATEGORIES}
    assert names == {ENVIRONMENT, DEFECT, FINDING, NOT_EXERCISED}


@pytest.mark.parametrize(("status", "message", "wanted"), SAMPLES)
@pytest.mark.parametrize("full_match", [False, True], ids=["allure3", "allure2"])
def test_each_verdict_lands_in_its_category(
    status: str, message: str, wanted: str | None, full_match: bool
) -> None:
    found = category(status, message, full_match)
    assert (found.split(":")[0] if found else None) == wanted, (status, message, found)


def test_the_category_patterns_are_valid_javascript() -> None:
    # Allure 3 builds `new RegExp(pattern)`: Python-only syntax such as (?s) throws there.
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: Node.js is needed for the HTML report (bin/report)")
    patterns = [c["messageRegex"] for c in allure.CATEGORIES if "messageRegex" in c]
    script = "for (const p of JSON.parse(process.argv[1])) new RegExp(p);"
    done = subprocess.run(
        [node, "-e", script, json.dumps(patterns)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_executor_names_the_ci_run() -> None:
    github = allure.executor(
        {
            "GITHUB_RUN_ID": "99",
            "GITHUB_RUN_NUMBER": "7",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "qa/conformance",
            "GITHUB_WORKFLOW": "nightly",
        }
    )
    assert github["buildUrl"] == "https://github.example/qa/conformance/actions/runs/99"
    assert github["buildName"] == "nightly #7" and github["buildOrder"] == 7
    gitlab = allure.executor({"CI_JOB_URL": "https://gl.example/j/5", "CI_PIPELINE_IID": "3"})
    assert gitlab["type"] == "gitlab" and gitlab["buildUrl"].endswith("/j/5")
    jenkins = allure.executor({"BUILD_URL": "https://ci.example/b/1", "JENKINS_URL": "x"})
    assert jenkins["type"] == "jenkins"
    local = allure.executor({}, host="bench-3")
    assert local == {"name": "local run on bench-3", "type": "local", "buildName": "bench-3"}


def test_run_metadata_names_the_device(tmp_path: Path) -> None:
    environment = {"device.model": "D100", "device.firmware": "2.4.1"}
    allure.write_run_metadata(tmp_path, environment, environ={})
    assert allure.read_properties(tmp_path / "environment.properties")["device.name"] == (
        "D100 2.4.1"
    )
    assert json.loads((tmp_path / "executor.json").read_text())["type"] == "local"
    assert json.loads((tmp_path / "categories.json").read_text()) == allure.CATEGORIES
    allure.write_run_metadata(tmp_path, environment, environ={allure.DEVICE_NAME_ENV: "bench A"})
    assert allure.read_properties(tmp_path / "environment.properties")["device.name"] == "bench A"


def results_folder(root: Path, device: str, summary: dict[str, Any] | None = None) -> Path:
    """An allure-results folder of one device's run, with one result and its summary."""
    results = root / device / "allure-results"
    results.mkdir(parents=True)
    allure.write_properties(results / "environment.properties", {"device.name": device})
    result = {"uuid": device, "name": "test_x", "status": "passed", "labels": []}
    (results / "a-result.json").write_text(json.dumps(result))
    if summary is not None:
        (results.parent / "summary.json").write_text(json.dumps(summary))
    return results


def test_readings_go_into_the_environment_and_a_global_attachment(tmp_path: Path) -> None:
    summary = {
        "device": {"model": "D100", "firmware": "2.4.1"},
        "readings": {
            "id_type": {"requirement": "R-1", "seen": ["json_integer"], "pinned": None},
            "answer_dir": {"requirement": "R-2", "seen": [], "pinned": "optional"},
        },
    }
    results = results_folder(tmp_path, "D100", summary)
    for _ in range(2):  # idempotent: bin/report may run again on the same results
        assert allurerc.add_readings(results, results.parent / "summary.json", "D100")
    properties = allure.read_properties(results / "environment.properties")
    assert properties["reading.id_type"] == "json_integer"
    assert properties["reading.answer_dir"] == "not observed (pinned: optional)"
    globals_files = list(results.glob("*-globals.json"))
    assert len(globals_files) == 1
    attachment = json.loads(globals_files[0].read_text())["attachments"][0]
    assert "| id_type | R-1 | json_integer | - |" in (results / attachment["source"]).read_text()
    assert not allurerc.add_readings(results, tmp_path / "none.json")


def test_merged_results_get_one_environment_per_device(tmp_path: Path) -> None:
    folders = [results_folder(tmp_path, name) for name in ("D100 2.4.1", "D200 3.0")]
    config = tmp_path / "allurerc.mjs"
    assert allurerc.main([str(config), "./html", *map(str, folders)]) == 0
    assert allurerc.devices(folders) == ["D100 2.4.1", "D200 3.0"]
    fleet = allure.read_properties(tmp_path / allurerc.FLEET_METADATA / "environment.properties")
    assert fleet == {"D100 2.4.1 | device.name": "D100 2.4.1", "D200 3.0 | device.name": "D200 3.0"}
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: Node.js is needed for the HTML report (bin/report)")
    # The config is what Allure 3 imports: load it and ask each matcher about each device.
    script = (
        "const c = (await import(process.argv[1])).default;"
        "const out = {};"
        "for (const [id, e] of Object.entries(c.environments)) out[id] = ['D100 2.4.1', 'D200 3.0']"
        ".filter((v) => e.matcher({ labels: [{ name: 'device', value: v }] }));"
        "console.log(JSON.stringify([out, c.categories.rules.length]));"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, config.as_uri()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    matched, rules = json.loads(done.stdout)
    assert matched == {"D100-2-4-1": ["D100 2.4.1"], "D200-3-0": ["D200 3.0"]}
    assert rules == len(allure.CATEGORIES)


def test_one_device_has_no_environments(tmp_path: Path) -> None:
    folder = results_folder(tmp_path, "D100")
    config = tmp_path / "allurerc.mjs"
    assert allurerc.main([str(config), "./html", str(folder)]) == 0
    assert "environments" not in config.read_text()
    labels = json.loads((folder / "a-result.json").read_text())["labels"]
    assert labels == [{"name": "device", "value": "D100"}]
