"""The GB28181 suites under each edition a profile can declare: the bundled decoder started as a
2022 device passes the 2022-only cases the 2016 run skips, and the 2016 run names why it skips."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_pytest

#: The cases whose verdict depends on the edition: X-GB-ver and the retried TCP connection (2022
#: only) and the body charset.
CASES = (
    "suites/gb28181/test_gb_registration.py::test_sends_x_gb_ver_on_register",
    "suites/gb28181/test_gb_queries.py::test_response_charset",
    "suites/gb28181/test_gb_media.py::test_tcp_active_connection_is_retried",
)


def profile_with_edition(directory: Path, edition: str) -> Path:
    text = (ROOT / "profiles" / "reference.toml").read_text("utf-8")
    profile = directory / f"reference-{edition}.toml"
    profile.write_text(text.replace('edition = "2016"', f'edition = "{edition}"'), "utf-8")
    return profile


def verdicts(summary: Path) -> dict[str, str]:
    data = json.loads(summary.read_text("utf-8"))
    return {req: entry["verdict"] for req, entry in data["requirements"].items()}


def test_2022_device_sends_x_gb_ver_and_passes(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    run = run_pytest(
        *CASES,
        "--profile",
        str(profile_with_edition(tmp_path, "2022")),
        "--conformance-summary",
        str(summary),
    )
    assert run.returncode == 0, run.output[-3000:]
    found = verdicts(summary)
    assert found["GB-REG-007"] == found["GB-MED-015"] == "passed", run.output[-2000:]


def test_2016_profile_skips_the_2022_case_naming_the_edition(tmp_path: Path) -> None:
    run = run_pytest(CASES[0], "-rs", "--profile", str(profile_with_edition(tmp_path, "2016")))
    assert run.returncode == 0, run.output[-3000:]
    assert "applies to GB/T 28181-2022" in run.output and "edition 2016" in run.output
