"""Allure evidence: labels from the requirement catalogue, exchanges as attachments, run metadata.

The plugin's gates apply the labels as allure-pytest's own `allure_label` marks at collection, so
every result carries them whatever happens at run time: test-case ID (AS_ID) and story = the
requirement ID, epic = area, feature = endpoint or flow, severity from the level (MUST ->
critical).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from decoder_conformance.contract.catalogue import Requirement
from decoder_conformance.device.client import Exchange

LABEL_MARK = "allure_label"

#: Allure categories: device defects (failed) apart from cases the suite could not run (broken).
CATEGORIES = [
    {
        "name": "Device defects (conformance failures)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*\[(SIP|GB|LOCAL)-[A-Z0-9-]+\].*",
    },
    {"name": "Other assertion failures", "matchedStatuses": ["failed"]},
    {
        "name": "Not exercised: the suite could not drive the case (peer, tool or target problem)",
        "matchedStatuses": ["broken"],
    },
    {
        "name": "Findings: practices and SHOULDs the device does not follow (not failures)",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"(?s)(XFAIL )?finding \[.*",
    },
    {
        "name": "Known defects (waived in the device profile)",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"(?s).*waived.*",
    },
]


def labels(req: Requirement) -> list[tuple[str, str]]:
    """(label type, value) pairs for one requirement, as allure-pytest's label marks take them."""
    return [
        ("as_id", req.id),
        ("story", req.id),
        ("epic", req.area),
        ("feature", req.feature),
        ("severity", req.severity),
        ("tag", req.level),
    ]


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


def write_run_metadata(alluredir: Path, environment: dict[str, str]) -> None:
    """categories.json and environment.properties for the Allure report."""
    alluredir.mkdir(parents=True, exist_ok=True)
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), "utf-8")
    lines = [f"{key}={value}" for key, value in sorted(environment.items())]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n", "utf-8")
