"""Command-line options and configuration: one option group, decided once at configure time.

Every option has an environment-variable fallback. A bad option, profile or catalogue stops the
run here with a usage error that names the file and the key; nothing is decided later.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from decoder_conformance import LOOPBACK, PROJECT_ROOT
from decoder_conformance.contract.catalogue import Catalogue, CatalogueError
from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import ProfileError, load_profile
from decoder_conformance.device.target import TargetPlanError, plan_target
from decoder_conformance.plugin.stash import OBSERVATIONS, SUITE_CONFIG, SUMMARY, SuiteConfig
from decoder_conformance.report.summary import Summary

REFERENCE_PROFILE = PROJECT_ROOT / "profiles" / "reference.toml"
GENERIC_PROFILE = PROJECT_ROOT / "profiles" / "generic.toml"

#: The project's markers, declared once (pyproject.toml does not repeat them).
MARKERS = (
    "req(id): the requirement ID from spec/requirements.yaml that the case checks",
    "needs(*capabilities): device-profile capabilities the case needs; skipped, naming them, "
    "when the profile lacks one",
    "only_reading(point, reading): the case applies only to a device whose profile pins this "
    "reading of the point; skipped, naming it, otherwise",
    "read_only(param=None): the case changes nothing on the device, so it runs under "
    "--read-only (with param=NAME: unless its NAME parameter is a write endpoint)",
    "selftest: project test that runs whole suites in a subprocess (slow)",
    "negative_control(*ids): project test that feeds the check of these requirements a "
    "recorded bad observation and sees it fail (counted by tests/test_negative_controls.py)",
)

# Hypothesis profiles: dev explores, ci and lab are reproducible (fixed seed) and never time out
# on network round trips. Select with --hypothesis-profile.
settings.register_profile("dev", max_examples=30, deadline=None)
for _name, _examples in (("ci", 40), ("lab", 100)):
    settings.register_profile(
        _name,
        max_examples=_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
# The default until --hypothesis-profile (applied in hypothesis' own configure) says otherwise.
settings.load_profile("dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    """One option group, each with an environment-variable fallback."""
    group = parser.getgroup("decoder", "decoder SIP-module conformance")
    group.addoption(
        "--device",
        default=os.environ.get("DECODER_DEVICE", ""),
        metavar="URL",
        help="API base URL of a lab decoder, e.g. http://HOST/api (env DECODER_DEVICE). "
        "Without it the bundled reference decoder is started on 127.0.0.1.",
    )
    group.addoption(
        "--profile",
        default=os.environ.get("DECODER_PROFILE", ""),
        metavar="FILE",
        help="device profile TOML (env DECODER_PROFILE); default profiles/reference.toml, "
        "or profiles/generic.toml with --device",
    )
    group.addoption(
        "--device-user",
        default=os.environ.get("DECODER_USER", ""),
        help="login user name, overrides the profile (env DECODER_USER)",
    )
    group.addoption(
        "--device-password",
        default=os.environ.get("DECODER_PASSWORD", ""),
        help="login password, overrides the profile (env DECODER_PASSWORD)",
    )
    group.addoption(
        "--suite-host",
        default=os.environ.get("DECODER_SUITE_HOST", LOOPBACK),
        metavar="IP",
        help="IPv4 address of this machine on the lab network: every SIP peer of the suite "
        "(registrar, pjsua2, raw caller/callee, SIPp, media source) binds it and writes it in "
        "Via/Contact/SDP (env DECODER_SUITE_HOST); default 127.0.0.1. Other than 127.0.0.1 "
        "only with a lab device.",
    )
    group.addoption(
        "--reference-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="start the reference decoder with this built-in fault (repeatable; self-test)",
    )
    group.addoption(
        "--reference-reading",
        action="append",
        default=[],
        metavar="POINT=READING",
        help="start the reference decoder following this reading of an ambiguous point of the "
        "page (repeatable; see python -m reference_device --help)",
    )
    group.addoption(
        "--discover",
        default="",
        metavar="PATH",
        help="draft a device profile at PATH from what this run observes: the readings and "
        "error codes the device follows and the practices it keeps (without --profile the "
        "run pins nothing: profiles/generic.toml)",
    )
    group.addoption(
        "--conformance-summary",
        default="",
        metavar="PATH",
        help="write a per-requirement verdict summary (JSON, and Markdown beside it)",
    )


def usage(message: str) -> pytest.UsageError:
    """A usage error in the suite's own words."""
    return pytest.UsageError(f"decoder conformance: {message}")


def check_suite_host(value: str, *, lab: bool) -> str:
    """The --suite-host value, validated: an IPv4 literal this machine can bind (UsageError else).

    A host other than 127.0.0.1 needs a lab device (`lab`): the bundled reference decoder listens
    on loopback and must not be pointed at any other address.
    """
    host = value.strip()
    where = f"--suite-host {value!r}"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise usage(f"{where}: not an IPv4 literal (give this machine's lab address)") from None
    if address.is_unspecified or address.is_multicast or host == "255.255.255.255":
        raise usage(
            f"{where}: the peers advertise this address in Via/Contact/SDP, so it must be this "
            "machine's unicast address on the lab network, not a wildcard, multicast or broadcast"
        )
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
            probe_socket.bind((host, 0))
    except OSError as exc:
        raise usage(
            f"{where}: cannot bind a UDP socket to it on this machine ({exc.strerror or exc}); "
            "give an address of one of this machine's interfaces"
        ) from None
    if host != LOOPBACK and not lab:
        raise usage(
            f"{where}: a suite host other than {LOOPBACK} needs --device (a lab decoder); "
            f"the bundled reference decoder listens on {LOOPBACK} only"
        )
    return host


def pytest_configure(config: pytest.Config) -> None:
    """Load catalogue, profile and target plan; a bad one stops the run here, naming the key."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    catalogue = Catalogue()
    try:
        errors = catalogue.errors
        catalogue.requirements  # noqa: B018 - load now so a broken catalogue fails at start-up
    except CatalogueError as exc:
        raise usage(str(exc)) from None
    device_option = str(config.getoption("device")).strip()
    profile_option = str(config.getoption("profile")).strip()
    discover = str(config.getoption("discover")).strip()
    # Discovery observes instead of judging: it runs with nothing pinned unless told otherwise.
    default = GENERIC_PROFILE if device_option or discover else REFERENCE_PROFILE
    profile_path = Path(profile_option) if profile_option else default
    try:
        profile = load_profile(profile_path, catalogue)
    except ProfileError as exc:
        raise usage(str(exc)) from None
    try:
        plan = plan_target(
            device_option,
            profile.device.url,
            tuple(config.getoption("reference_fault")),
            tuple(config.getoption("reference_reading")),
        )
    except TargetPlanError as exc:
        raise usage(str(exc)) from None
    suite_host = check_suite_host(str(config.getoption("suite_host")), lab=plan.lab)
    # Pinned codes only: those the vendor numbers, and those the profile pins. Any other refusal
    # passes with any error code, which is recorded (a practice, not a page requirement).
    codes = {name: entry.code for name, entry in errors.items() if entry.source == "vendor"}
    codes |= profile.errors
    summary = str(config.getoption("conformance_summary"))
    config.stash[SUITE_CONFIG] = SuiteConfig(
        catalogue=catalogue,
        profile=profile,
        plan=plan,
        summary_path=Path(summary) if summary else None,
        error_codes=codes,
        suite_host=suite_host,
        discover_path=Path(discover) if discover else None,
    )
    config.stash[SUMMARY] = Summary()
    config.stash[OBSERVATIONS] = Observations(catalogue, profile)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which device and profile the run is against (read from the one target plan)."""
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None:
        return []
    lines = [
        f"decoder: {suite.plan.describe()}; profile {suite.profile.source}",
        f"suite host (SIP peers bind and advertise): {suite.suite_host}",
    ]
    if suite.discover_path is not None:
        lines.append(f"discovery: the profile drafted from this run goes to {suite.discover_path}")
    if suite.plan.lab and not config.getoption("profile"):
        lines.append(
            "no --profile given: using the generic profile (the vendor page's assumptions); "
            "describe the model with a copy of profiles/example-lab.toml"
        )
    return lines
