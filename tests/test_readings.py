"""The suite does not fail a decoder for the reading it follows where the page is ambiguous.

For each alternative of the reading table (`reference_device.readings.READINGS`), the suites that
observe its point run against the bundled reference decoder started with
`--reading POINT=ALTERNATIVE` (the plugin's `--reference-reading`):

* with profiles/generic.toml (a decoder as the page describes it, no reading pinned) nothing
  fails, and the summary shows the device seen following the alternative;
* with the same profile pinning the reference's default reading of the point, exactly the point's
  requirement fails: a pin is honoured, and the difference cascades into no other requirement.

Each run is a separate pytest process with its own reference decoder, as in
tests/test_detection.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reference_device.readings import READINGS, Point
from tests.conftest import ROOT, generic_profile, run_pytest
from tests.test_detection import failed_requirements, summary_of

GENERIC = ROOT / "profiles" / "generic.toml"
ALTERNATIVES = [(point, name) for point, info in READINGS.items() for name in info.alternatives]
#: The page's example binds are fixed ports (*:5060, *.2222): the runs of a device that accepts
#: them share one xdist worker (bin/test uses --dist loadgroup), so two never hold them at once.
FIXED_PORTS = {Point.PAGE_EXAMPLE_BINDS}
CASES = [
    pytest.param(
        point,
        name,
        id=f"{point.value}={name}",
        marks=[pytest.mark.xdist_group("fixed_ports")] if point in FIXED_PORTS else [],
    )
    for point, name in ALTERNATIVES
]


def run_with_reading(
    tmp_path: Path, point: Point, reading: str, profile: Path
) -> tuple[int, dict[str, Any], str]:
    """(exit code, summary, output tail) of the point's suites against the decoder reading so."""
    summary_path = tmp_path / "summary.json"
    run = run_pytest(
        *READINGS[point].suites,
        "--profile",
        str(profile),
        "--reference-reading",
        f"{point.value}={reading}",
        "--conformance-summary",
        str(summary_path),
        "-q",
        timeout=120,
    )
    assert summary_path.is_file(), f"no summary written:\n{run.output[-3000:]}"
    return run.returncode, summary_of(summary_path), run.output[-3000:]


def test_every_alternative_is_run() -> None:
    marks = getattr(test_generic_profile_accepts_the_reading, "pytestmark", [])
    (parametrize,) = [m for m in marks if m.name == "parametrize"]
    assert [tuple(case.values) for case in parametrize.args[1]] == ALTERNATIVES
    assert GENERIC.is_file()
    assert "[readings]" not in GENERIC.read_text("utf-8"), "generic.toml must pin no reading"


@pytest.mark.selftest
@pytest.mark.parametrize(("point", "reading"), CASES)
def test_generic_profile_accepts_the_reading(tmp_path: Path, point: Point, reading: str) -> None:
    profile = generic_profile(tmp_path, capabilities=READINGS[point].capabilities)
    code, summary, output = run_with_reading(tmp_path, point, reading, profile)
    cases = summary["cases"]
    # Exit 0: only passes, skips and findings (a finding is reported as an xfail).
    assert code == 0, f"{point}={reading} under the generic profile: exit {code}\n{output}"
    assert cases["failed"] == cases["broken"] == 0, cases
    assert cases["passed"] > 0, cases
    seen = summary["readings"][point.value]["seen"]
    assert reading in seen, f"{point}: summary saw {seen}, not {reading}\n{output}"


@pytest.mark.selftest
@pytest.mark.parametrize(("point", "reading"), CASES)
def test_pinned_default_fails_only_the_points_requirement(
    tmp_path: Path, point: Point, reading: str
) -> None:
    info = READINGS[point]
    pin = f'[readings]\n{point.value} = "{info.default}"\n' + info.pinned_profile
    profile = generic_profile(tmp_path, pin, info.capabilities)
    code, summary, output = run_with_reading(tmp_path, point, reading, profile)
    assert code == 1, f"{point}={reading} pinned to {info.default}: exit {code}\n{output}"
    assert failed_requirements(summary) == {info.requirement}, output
    assert summary["must_failed"] == [info.requirement], output
    # The point's own cases fail, none break; a case of another requirement may be broken when
    # this very choice leaves it nothing to judge (SIP-CALL-HUP-004 checks the code of a decline
    # a no_call_1211 device never makes).
    own = summary["requirements"][info.requirement]["cases"]
    assert all(case["verdict"] != "broken" for case in own), own
    assert summary["readings"][point.value]["pinned"] == info.default
