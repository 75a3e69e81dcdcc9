"""device/target.py: the target is decided once, and contradictions are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.device.target import BUNDLED, TargetPlanError, plan_target
from tests.conftest import ROOT, run_pytest

LAB = "http://127.0.0.1:9/api"


def test_device_option_wins_over_the_profile_url() -> None:
    plan = plan_target(LAB, "http://127.0.0.1:8/api", ())
    assert (plan.api_url, plan.origin, plan.lab) == (LAB, "--device", True)


def test_profile_url_makes_a_lab_target_without_device_option() -> None:
    plan = plan_target("", LAB, ())
    assert plan.lab and plan.api_url == LAB
    assert plan.origin == "the profile's [device].url"
    assert plan.kind == "lab device" and LAB in plan.describe()


def test_no_url_is_the_bundled_decoder_with_its_faults() -> None:
    plan = plan_target("", "", ("id_reused",))
    assert not plan.lab and plan.faults == ("id_reused",)
    assert plan.describe() == f"{BUNDLED} with fault id_reused"


@pytest.mark.parametrize(("device", "profile_url"), [(LAB, ""), ("", LAB)])
def test_a_fault_with_any_lab_target_is_refused(device: str, profile_url: str) -> None:
    with pytest.raises(TargetPlanError, match=r"id_reused applies to the bundled reference"):
        plan_target(device, profile_url, ("id_reused",))


def _lab_profile(tmp_path: Path) -> Path:
    text = (ROOT / "profiles" / "example-lab.toml").read_text("utf-8")
    profile = tmp_path / "lab.toml"
    profile.write_text(text.replace('# url = ""', f'url = "{LAB}"', 1), "utf-8")
    return profile


def test_profile_url_with_a_fault_stops_the_run(tmp_path: Path) -> None:
    # Before the target plan, this run went to the lab device and dropped the fault silently.
    run = run_pytest(
        "suites/api",
        "--profile",
        str(_lab_profile(tmp_path)),
        "--reference-fault",
        "id_reused",
        "--collect-only",
    )
    assert run.returncode == 4, run.output
    assert f"the lab device {LAB} (the profile's [device].url)" in run.output, run.output


def test_header_names_the_lab_device_of_the_profile(tmp_path: Path) -> None:
    run = run_pytest("suites/api", "--profile", str(_lab_profile(tmp_path)), "--collect-only")
    assert run.returncode == 0, run.output
    assert f"decoder: {LAB} (from the profile's [device].url)" in run.output, run.output
    assert "bundled" not in run.output, run.output
