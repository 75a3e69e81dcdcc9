"""Device profiles: every shipped profile loads; every mistake is refused naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import ProfileError, load_profile, parse_profile
from decoder_conformance.plugin.options import check_suite_host
from tests.conftest import ROOT, run_pytest

CATALOGUE = Catalogue()


@pytest.mark.parametrize("path", sorted((ROOT / "profiles").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path, CATALOGUE)
    assert profile.device.model
    assert profile.timers.http_timeout > 0


def test_defaults_and_values() -> None:
    profile = parse_profile(
        '[device]\nfirmware = "2.4.1"\n[capabilities]\ngb28181 = true\ntcp_media = false\n'
        '[errors]\nunknown_id = "9002"\n[timers]\nhttp_timeout = 3\n'
        '[[waivers]]\nrequirement = "SIP-API-ADD-001"\nfirmware = "2.4.*"\nreason = "ticket 7"\n',
        "x.toml",
        CATALOGUE,
    )
    assert profile.capabilities == {"gb28181"}
    assert profile.errors == {"unknown_id": "9002"}
    assert profile.timers.http_timeout == 3.0
    waiver = profile.waiver_for("SIP-API-ADD-001")
    assert waiver is not None and waiver.reason == "ticket 7"
    assert (
        parse_profile('[device]\nfirmware = "2.5"\n', "y.toml", CATALOGUE).waiver_for(
            "SIP-API-ADD-001"
        )
        is None
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[devices]\n", ["bad.toml", "[devices]"]),
        ("[device]\nurll = 'x'\n", ["bad.toml", "[device].urll"]),
        ("[capabilities]\nteleport = true\n", ["bad.toml", "[capabilities].teleport"]),
        ("[capabilities]\ngb28181 = 'yes'\n", ["bad.toml", "[capabilities].gb28181"]),
        ("[timers]\nhttp_timeout = 'fast'\n", ["bad.toml", "[timers].http_timeout"]),
        ("[timers]\nhttp_timeout = 0\n", ["bad.toml", "[timers].http_timeout"]),
        ("[limits]\nmax_accounts = true\n", ["bad.toml", "[limits].max_accounts"]),
        ("[errors]\nno_such_error = '1'\n", ["bad.toml", "[errors].no_such_error"]),
        ("[errors]\nunknown_id = 1202\n", ["bad.toml", "[errors].unknown_id"]),
        ("[[waivers]]\nreason = 'x'\n", ["bad.toml", "[waivers[0]].requirement"]),
        ("[[waivers]]\nrequirement = 'A'\nreason = 'x'\nfirm = '1'\n", ["waivers[0]].firm"]),
        ("[device\n", ["bad.toml", "not valid TOML"]),
        ("[readings]\nid_kind = 'x'\n", ["bad.toml", "[readings].id_kind", "id_type"]),
        ("[readings]\nid_type = 'hex'\n", ["[readings].id_type", "json_integer", "LIST-002"]),
        ("[findings]\npromote = 'all'\n", ["bad.toml", "[findings].promote"]),
        ("[findings]\npromote = ['SIP-X-001']\n", ["[findings].promote", "SIP-X-001"]),
        ("[findings]\npromote = ['SIP-API-ENV-001']\n", ["SIP-API-ENV-001", "fails a device"]),
        ("[findings]\npromot = []\n", ["bad.toml", "[findings].promot"]),
        ("[gb28181]\nedition = '2019'\n", ["bad.toml", "[gb28181].edition", "2016"]),
        ("[gb28181]\nedition = 2016\n", ["bad.toml", "[gb28181].edition"]),
        ("[gb28181]\nkeepalive_interval = 0\n", ["bad.toml", "[gb28181].keepalive_interval"]),
        ("[gb28181]\nkeepalive_count = 1.5\n", ["bad.toml", "[gb28181].keepalive_count"]),
        ("[gb28181]\nheartbeat = 60\n", ["bad.toml", "[gb28181].heartbeat"]),
    ],
)
def test_mistakes_name_file_and_key(text: str, names: list[str]) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "bad.toml", CATALOGUE)
    for name in names:
        assert name in str(caught.value), str(caught.value)


def test_bad_profile_stops_the_run_at_startup(tmp_path: Path) -> None:
    bad = tmp_path / "lab.toml"
    bad.write_text("[timers]\nhttp_timeout = 'soon'\n")
    run = run_pytest("suites/api", "--profile", str(bad), "--collect-only", "-q")
    assert run.returncode == 4, run.output
    assert f"{bad}: [timers].http_timeout must be float" in run.output, run.output


def test_missing_profile_file_is_named(tmp_path: Path) -> None:
    run = run_pytest("suites/api", "--profile", str(tmp_path / "nope.toml"), "--collect-only")
    assert run.returncode == 4, run.output
    assert "nope.toml: cannot read profile" in run.output, run.output


def test_device_without_profile_uses_the_generic_profile_and_says_so() -> None:
    run = run_pytest("suites/api", "--device", "http://127.0.0.1:9/api", "--collect-only")
    assert run.returncode == 0, run.output
    assert "no --profile given: using the generic profile" in run.output, run.output


def test_fault_with_lab_device_is_refused() -> None:
    run = run_pytest(
        "suites/api",
        "--device",
        "http://127.0.0.1:9/api",
        "--profile",
        "profiles/example-lab.toml",
        "--reference-fault",
        "id_reused",
        "--collect-only",
    )
    assert run.returncode == 4, run.output
    assert "--reference-fault id_reused applies to the bundled reference decoder" in run.output
    assert "the lab device http://127.0.0.1:9/api (--device)" in run.output, run.output


# --- --suite-host --------------------------------------------------------------------------------

#: TEST-NET-1 (RFC 5737): an IPv4 literal no interface of this machine has.
UNBINDABLE = "192.0.2.1"
LAB_DEVICE = "http://127.0.0.1:9/api"  # never contacted: the runs below only collect


def test_suite_host_defaults_to_loopback_and_a_lab_host_must_be_bindable() -> None:
    assert check_suite_host("127.0.0.1", lab=False) == "127.0.0.1"
    assert check_suite_host(" 127.0.0.1 ", lab=True) == "127.0.0.1"
    # 127.0.0.2 stands for a lab address of this machine: bindable, but only with --device.
    assert check_suite_host("127.0.0.2", lab=True) == "127.0.0.2"


@pytest.mark.parametrize(
    ("value", "lab", "why"),
    [
        (UNBINDABLE, True, "cannot bind"),
        ("127.0.0.2", False, "needs --device"),
        ("lab-pc.example", True, "not an IPv4 literal"),
        ("::1", True, "not an IPv4 literal"),
        ("127.1", True, "not an IPv4 literal"),
        ("", True, "not an IPv4 literal"),
        ("0.0.0.0", True, "not a wildcard"),
        ("224.0.0.1", True, "not a wildcard"),
    ],
)
def test_bad_suite_hosts_are_refused_naming_option_and_value(
    value: str, lab: bool, why: str
) -> None:
    with pytest.raises(pytest.UsageError) as caught:
        check_suite_host(value, lab=lab)
    message = str(caught.value)
    assert f"--suite-host {value!r}" in message and why in message, message


def test_unbindable_suite_host_stops_the_run_at_startup() -> None:
    run = run_pytest(
        "suites/sip", "--device", LAB_DEVICE, "--suite-host", UNBINDABLE, "--collect-only", "-q"
    )
    assert run.returncode == 4, run.output
    assert f"--suite-host '{UNBINDABLE}': cannot bind a UDP socket" in run.output, run.output


def test_suite_host_from_the_environment_without_device_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECODER_SUITE_HOST", "127.0.0.2")
    run = run_pytest("suites/sip", "--collect-only", "-q")
    assert run.returncode == 4, run.output
    assert "--suite-host '127.0.0.2': a suite host other than 127.0.0.1 needs --device" in (
        run.output
    ), run.output


def test_loopback_suite_host_with_a_lab_device_is_accepted() -> None:
    run = run_pytest(
        "suites/sip", "--device", LAB_DEVICE, "--suite-host", "127.0.0.1", "--collect-only"
    )
    assert run.returncode == 0, run.output
    assert "suite host (SIP peers bind and advertise): 127.0.0.1" in run.output, run.output


def test_readings_and_promotions_are_read() -> None:
    profile = parse_profile(
        '[readings]\nid_type = "decimal_string"\n[findings]\npromote = ["SIP-API-ENV-002"]\n',
        "x.toml",
        CATALOGUE,
    )
    assert profile.readings == {"id_type": "decimal_string"}
    assert profile.promotes("SIP-API-ENV-002") and not profile.promotes("SIP-API-ENV-004")
    assert parse_profile('[findings]\npromote = ["*"]\n', "y", CATALOGUE).promotes("SIP-X")


def test_the_reference_profile_pins_every_reading_and_the_generic_none() -> None:
    reference = load_profile(ROOT / "profiles" / "reference.toml", CATALOGUE)
    generic = load_profile(ROOT / "profiles" / "generic.toml", CATALOGUE)
    assert set(reference.readings) == set(CATALOGUE.points)
    assert reference.promotes("SIP-API-ENV-002")
    assert not generic.readings and not generic.promote and not generic.errors


def test_security_and_load_sections() -> None:
    text = (
        "[timers]\nsip_t1 = 0.1\n[security]\nmax_lockout = 2\n"
        "[load]\napi_clients = 8\ncall_storm_rate = 20\n"
    )
    profile = parse_profile(text, "x.toml", CATALOGUE)
    assert profile.lockout_bound == 2.0
    assert profile.load.api_clients == 8 and profile.load.call_storm_calls == 500
    # Unset, the bound is RFC 3261's 64*T1 (a 2xx retransmitted until the UAS gives up).
    assert parse_profile("[timers]\nsip_t1 = 0.1\n", "y.toml", CATALOGUE).lockout_bound == 6.4


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[security]\nmax_lockout = -1\n", "[security].max_lockout"),
        ("[security]\nsvcrack_attempts = 0\n", "svcrack_attempts"),
        ('[security]\nmax_lockout = "1s"\n', "[security].max_lockout must be float"),
        ("[load]\ncall_storm_rate = 0\n", "[load].call_storm_rate must be positive"),
        ("[load]\nstorm = 5\n", "unknown key [load].storm"),
    ],
)
def test_bad_security_or_load_is_refused_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ProfileError, match=r"lab\.toml") as caught:
        parse_profile(text, "lab.toml", CATALOGUE)
    assert named in str(caught.value)
