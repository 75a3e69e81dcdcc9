"""Allure evidence: labels from the requirement catalogue, exchanges as attachments, run metadata.

The plugin's gates apply the labels as allure-pytest's own `allure_label` marks at collection, so
every result carries them whatever happens at run time: test-case ID (AS_ID) and story = the
requirement ID, epic = area, feature = endpoint or flow, severity from the level (MUST ->
critical). Given the device's name (`device_name`: model and firmware, or $DECODER_DEVICE_NAME),
`labels` adds a `device` label; results without one get it at report time from their folder's
environment.properties (`report/allurerc.py`), so a report merged from several devices' results
shows each device as an Allure environment.

Run metadata for the report, written beside the results: `categories.json` (the four categories
below), `environment.properties` and `executor.json` (the CI run, or a local run and its host).
Allure 3 (the npm `allure` that `bin/report` runs) reads categories and environments from its
config file, not from the results: `report/allurerc.py` writes that config at report time.

Nothing here needs more than the standard library at run time (the type-only imports stay
behind TYPE_CHECKING), so `bin/report` can run it without the project's virtual environment.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decoder_conformance.contract.catalogue import Requirement
    from decoder_conformance.device.client import Exchange

LABEL_MARK = "allure_label"
#: The label naming the device on every result; a merged report's environments match on it.
DEVICE_LABEL = "device"
#: Overrides the device's name in the report (default: "<model> <firmware>" from the profile).
DEVICE_NAME_ENV = "DECODER_DEVICE_NAME"

# Categories, first match wins (Allure 3). The regular expressions must mean the same in Java
# (Allure 2 matches the whole message) and JavaScript (Allure 3 searches it): hence [\s\S]*
# around them and no inline flags such as (?s), which JavaScript rejects.
#: Tool, permission or target problems: what whoever set up the run must fix.
_ENVIRONMENT_BROKEN = (
    r"[\s\S]*(ToolMissing|SipviciousMissing|TargetUnavailable|TargetRefused|FileNotFoundError"
    r"|PermissionError|not permitted|CAP_NET_RAW|Address already in use|not found[^\n]*install)"
    r"[\s\S]*"
)

#: The four Allure categories of issue 12, in the order they are matched. A strict xfail that
#: passed (a waived defect no longer shows: the profile must drop the waiver) is failed with no
#: message in allure-pytest; it is an environment matter, not a device defect.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Environment: the run's setup needs fixing (tool, permission, target, profile)",
        "matchedStatuses": ["broken"],
        "messageRegex": _ENVIRONMENT_BROKEN,
    },
    {
        "name": "Environment: the run's setup needs fixing (tool, permission, target, profile)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"^$",
    },
    {
        "name": "Device defects: a page, RFC or reading MUST the device breaks",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Findings: practices and SHOULDs the device does not follow (not failures)",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"^(XFAIL )?finding \[[\s\S]*",
    },
    {
        "name": "Not exercised: the suite could not drive the case (peer or harness problem)",
        "matchedStatuses": ["broken"],
    },
]


def labels(req: Requirement, device: str = "") -> list[tuple[str, str]]:
    """(label type, value) pairs for one requirement, as allure-pytest's label marks take them;
    with `device`, also the device label."""
    found = [
        ("as_id", req.id),
        ("story", req.id),
        ("epic", req.area),
        ("feature", req.feature),
        ("severity", req.severity),
        ("tag", req.level),
    ]
    return [*found, (DEVICE_LABEL, device)] if device else found


def device_name(model: str, firmware: str, environ: Mapping[str, str] = os.environ) -> str:
    """The device's name in reports: $DECODER_DEVICE_NAME, else "<model> <firmware>"."""
    return environ.get(DEVICE_NAME_ENV, "").strip() or f"{model} {firmware}".strip()


def render_exchanges(exchanges: Iterable[Exchange]) -> str:
    """All exchanges of one case as text, in order, secrets redacted."""
    return "\n".join(f"#{n} {e.render()}" for n, e in enumerate(exchanges, 1))


def attach_exchanges(exchanges: list[Exchange]) -> None:
    """Attach the case's HTTP exchanges to its Allure result (no-op without allure-pytest)."""
    if not exchanges:
        return
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach(
        render_exchanges(exchanges),
        name=f"HTTP exchanges ({len(exchanges)})",
        attachment_type=allure.attachment_type.TEXT,
    )


def executor(environ: Mapping[str, str] = os.environ, host: str = "") -> dict[str, Any]:
    """Allure's executor.json for this run: the CI run that made it (GitHub Actions, GitLab,
    Jenkins or any CI that sets BUILD_URL), else a local run on `host`."""
    if environ.get("GITHUB_RUN_ID"):
        github = "https://github.com"  # network-hygiene: a link in the report, never contacted
        server = environ.get("GITHUB_SERVER_URL", github)
        repo = environ.get("GITHUB_REPOSITORY", "")
        number = environ.get("GITHUB_RUN_NUMBER", "")
        workflow = environ.get("GITHUB_WORKFLOW", "workflow")
        found: dict[str, Any] = {
            "name": "GitHub Actions",
            "type": "github",
            "url": f"{server}/{repo}",
            "buildName": f"{workflow} #{number or environ['GITHUB_RUN_ID']}",
            "buildUrl": f"{server}/{repo}/actions/runs/{environ['GITHUB_RUN_ID']}",
        }
    elif environ.get("CI_JOB_URL"):
        found = {
            "name": "GitLab CI",
            "type": "gitlab",
            "url": environ.get("CI_PROJECT_URL", ""),
            "buildName": f"{environ.get('CI_JOB_NAME', 'job')} #{environ.get('CI_JOB_ID', '')}",
            "buildUrl": environ["CI_JOB_URL"],
        }
        number = environ.get("CI_PIPELINE_IID", "")
    elif environ.get("BUILD_URL"):
        found = {
            "name": "Jenkins" if environ.get("JENKINS_URL") else "CI",
            "type": "jenkins" if environ.get("JENKINS_URL") else "ci",
            "url": environ.get("JENKINS_URL", ""),
            "buildName": f"{environ.get('JOB_NAME', 'build')} #{environ.get('BUILD_NUMBER', '')}",
            "buildUrl": environ["BUILD_URL"],
        }
        number = environ.get("BUILD_NUMBER", "")
    else:
        where = host or socket.gethostname()
        return {"name": f"local run on {where}", "type": "local", "buildName": where}
    if number.isdigit():
        found["buildOrder"] = int(number)
    return found


def write_run_metadata(
    alluredir: Path, environment: dict[str, str], environ: Mapping[str, str] = os.environ
) -> None:
    """categories.json, environment.properties and executor.json for the Allure report."""
    alluredir.mkdir(parents=True, exist_ok=True)
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), "utf-8")
    model, firmware = environment.get("device.model", ""), environment.get("device.firmware", "")
    name = device_name(model, firmware, environ)
    write_properties(alluredir / "environment.properties", {"device.name": name} | environment)
    (alluredir / "executor.json").write_text(json.dumps(executor(environ), indent=2), "utf-8")


def read_properties(path: Path) -> dict[str, str]:
    """environment.properties as a dict ({} when absent)."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text("utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            found[key.strip()] = value.strip()
    return found


def write_properties(path: Path, values: Mapping[str, str]) -> None:
    """Write `values` as environment.properties, sorted by key."""
    lines = [f"{key}={value}" for key, value in sorted(values.items())]
    path.write_text("\n".join(lines) + "\n", "utf-8")
