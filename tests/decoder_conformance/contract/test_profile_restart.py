"""The restart keys of a profile: [device].restart_command declares capability restart, a bad one
stops the run naming the file and the key, and the restart cases are skipped, naming the
capability, where the suite has no way to restart the device."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.draft import draft_profile
from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import ProfileError, parse_profile
from tests.conftest import ROOT, run_pytest

CATALOGUE = Catalogue()
LAB = "http://127.0.0.1:9/api"


def test_restart_command_declares_the_capability() -> None:
    profile = parse_profile(
        '[device]\nrestart_command = "ssh root@lab reboot"\n[timers]\nrestart_timeout = 90\n',
        "lab.toml",
        CATALOGUE,
    )
    assert profile.has("restart")
    assert profile.device.restart_command == "ssh root@lab reboot"
    assert profile.timers.restart_timeout == 90.0


def test_without_restart_command_no_restart() -> None:
    profile = parse_profile('[device]\nmodel = "x"\n', "lab.toml", CATALOGUE)
    assert not profile.has("restart") and profile.device.restart_command == ""
    assert profile.timers.restart_timeout == 120.0


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[device]\nrestart_command = 5\n", ["[device].restart_command must be str", "int 5"]),
        ("[device]\nrestart_command = ['reboot']\n", ["[device].restart_command must be str"]),
        ("[device]\nrestart_command = 'ssh \"root'\n", ["[device].restart_command", "not a"]),
        ("[device]\nrestart_command = '  '\n", ["[device].restart_command names no command"]),
        (
            "[device]\nrestart_command = 'reboot'\n[capabilities]\nrestart = false\n",
            ["[device].restart_command", "[capabilities].restart = false"],
        ),
        ("[capabilities]\nrestart = 'yes'\n", ["[capabilities].restart must be true or false"]),
        ("[timers]\nrestart_timeout = 'long'\n", ["[timers].restart_timeout must be float"]),
        ("[timers]\nrestart_timeout = 0\n", ["[timers].restart_timeout must be positive"]),
    ],
)
def test_bad_restart_keys_name_file_and_key(text: str, names: list[str]) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_profile(text, "bad.toml", CATALOGUE)
    message = str(raised.value)
    assert message.startswith("bad.toml: "), message
    for name in names:
        assert name in message, message


def test_lab_profile_declaring_restart_without_a_command_skips_the_restart_cases(
    tmp_path: Path,
) -> None:
    # restart = true says the device may be restarted, but on a lab device only the command
    # says how: without it the cases do not apply (no device is contacted for a skip).
    text = (ROOT / "profiles" / "example-lab.toml").read_text("utf-8")
    profile = tmp_path / "lab.toml"
    profile.write_text(text.replace("policy_write = false", "policy_write = false\nrestart = true"))
    run = run_pytest(
        "suites/api/test_restart.py", "--profile", str(profile), "--device", LAB, "-rs", "-q"
    )
    assert run.returncode == 0, run.output
    assert "5 skipped" in run.output and "lacks capability restart" in run.output, run.output


def test_restart_cases_are_skipped_naming_the_capability() -> None:
    # The generic profile neither declares restart nor gives a restart_command.
    run = run_pytest(
        "suites/api/test_restart.py",
        "--profile",
        str(ROOT / "profiles" / "generic.toml"),
        "-rs",
        "-q",
    )
    assert run.returncode == 0, run.output
    assert "5 skipped" in run.output, run.output
    assert "lacks capability restart" in run.output, run.output


def test_a_discovery_draft_keeps_the_restart_command() -> None:
    lab = parse_profile(
        "[device]\nrestart_command = \"ssh root@lab 'reboot now'\"\n", "lab.toml", CATALOGUE
    )
    text = draft_profile(Observations(CATALOGUE, lab), [], LAB)
    drafted = parse_profile(text, "draft.toml", CATALOGUE)
    assert drafted.device.restart_command == "ssh root@lab 'reboot now'"
    assert drafted.has("restart") and drafted.timers.restart_timeout == 120.0
