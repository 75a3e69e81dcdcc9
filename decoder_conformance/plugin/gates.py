"""Collection gates: one requirement ID per case, Allure labels, capability skips and waivers.

This is the only place a conformance case is skipped (a capability the profile lacks, a GB/T
28181 edition the profile does not declare, or a reading of the page the profile does not pin
for a case that applies under one reading only) or waived (a known defect the profile lists, as
a strict xfail).

Waivers expire. A waiver past its `until` date (UTC) is dropped from the run's profile at
start-up, so it waives nothing: not the case, not a device duty checked through other cases. Its
cases fail loudly and name it: a defect still present is reported failed with the waiver in the
failure message; a defect gone fails as a strict XPASS naming the waiver, exactly as an unexpired
waiver on a fixed defect does. The run goes on, so one stale waiver does not hide every other
result of a nightly run, and it is never green on an expired waiver while the waived case
runs. The terminal names every expired waiver at the top and at the end, and the summary's
first line counts them.

pytest decides xfail after the plugin's innermost report wrapper fed the summary
(plugin/verdicts.py), so a report wrapper here tells the summary the final word on a waived
case: waived, or xpassed when the waived defect no longer shows.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Generator

import pytest

from decoder_conformance.contract.catalogue import Requirement
from decoder_conformance.contract.profile import CAPABILITIES, Waiver
from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.stash import SUITE_CONFIG, SUMMARY, is_suite_case, item_req
from decoder_conformance.report.allure import LABEL_MARK, device_name, labels
from decoder_conformance.report.summary import FINDING

#: The profile's waivers for this firmware past their last day, found at start-up.
EXPIRED_WAIVERS = pytest.StashKey[tuple[Waiver, ...]]()
#: On a case: the waiver applied to it (strict xfail) or expired for it (its failure names it).
CASE_WAIVER = pytest.StashKey[tuple[Waiver, bool]]()  # (waiver, expired)
#: What pytest writes before the reason of a strict xfail whose case passed.
XPASS_STRICT = "[XPASS(strict)]"


class ExpiredWaiverMatchesNothing(Exception):
    """Never raised: the `raises` of an expired waiver's xfail, so that any failure of the
    case is an ordinary failure while a pass is a strict XPASS naming the waiver."""


def today() -> datetime.date:
    """The date waivers expire against: UTC, so a fleet of lab machines agrees."""
    return datetime.datetime.now(datetime.UTC).date()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Drop expired waivers from the run's profile (after options.py loaded it)."""
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None:
        return
    day = today()
    expired = suite.profile.expired_waivers(day)
    config.stash[EXPIRED_WAIVERS] = expired
    if expired:
        profile = suite.profile.without_expired_waivers(day)
        config.stash[SUITE_CONFIG] = dataclasses.replace(suite, profile=profile)
        config.stash[SUMMARY].expired_waivers = [w.describe() for w in expired]


def expired_waiver_lines(config: pytest.Config) -> list[str]:
    """One line per expired waiver of the run's profile, naming it."""
    expired = config.stash.get(EXPIRED_WAIVERS, ())
    if not expired:
        return []
    source = config.stash[SUITE_CONFIG].profile.source
    return [
        f"EXPIRED WAIVER in {source}, not applied (its cases fail): {w.describe()}" for w in expired
    ]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name every expired waiver before the first case."""
    return expired_waiver_lines(config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every expired waiver again at the end, where the verdict is read."""
    lines = expired_waiver_lines(terminalreporter.config)
    if lines:
        terminalreporter.section("expired waivers", sep="=", red=True, bold=True)
        for line in lines:
            terminalreporter.write_line(line, red=True)
        terminalreporter.write_line(
            "renew a waiver with a new `until` and a fresh reason, or remove it"
        )


def label_marks(req: Requirement, device: str = "") -> list[pytest.MarkDecorator]:
    """The allure-pytest label marks for one requirement (and the device, for merged reports)."""
    mark = getattr(pytest.mark, LABEL_MARK)
    return [mark(value, label_type=kind) for kind, value in labels(req, device)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Requirement IDs, Allure labels, capability skips and waivers, all decided here."""
    suite = config.stash[SUITE_CONFIG]
    profile = suite.profile
    device = device_name(profile.device.model, profile.device.firmware)
    for item in items:
        for mark in item.iter_markers("needs"):
            unknown = [c for c in mark.args if c not in CAPABILITIES]
            if unknown:
                raise usage(f"{item.nodeid}: unknown capability {unknown} in @needs")
        reqs = [m.args[0] for m in item.iter_markers("req") if m.args]
        if not is_suite_case(item):
            continue
        if len(reqs) != 1:
            raise usage(f"{item.nodeid}: a suite case carries exactly one @req(ID), found {reqs}")
        try:
            req = suite.catalogue.requirement(reqs[0])
        except KeyError as exc:
            raise usage(f"{item.nodeid}: {exc.args[0]}") from None
        for label in label_marks(req, device):
            item.add_marker(label)
        missing = sorted(
            {c for m in item.iter_markers("needs") for c in m.args if not profile.has(c)}
        )
        if missing:
            reason = (
                f"not applicable: profile {profile.source} lacks capability "
                f"{', '.join(missing)} ({'; '.join(CAPABILITIES[c] for c in missing)})"
            )
            item.add_marker(pytest.mark.skip(reason=reason))
        edition = profile.gb28181.edition
        if not req.applies_to_edition(edition):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"not applicable: {req.id} applies to GB/T 28181-"
                    f"{'/'.join(req.edition_list)}; profile {profile.source} declares edition "
                    f"{edition} ([gb28181].edition)"
                )
            )
        for mark in item.iter_markers("only_reading"):
            point, reading = mark.args
            if point not in suite.catalogue.points:
                raise usage(f"{item.nodeid}: unknown reading point {point!r} in @only_reading")
            if profile.readings.get(point) != reading:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"not applicable: applies under reading {point} = {reading}, "
                        f"which profile {profile.source} does not pin"
                    )
                )
        waiver = profile.waiver_for(req.id)
        if waiver is not None:
            reason = f"waived in {profile.source} (firmware {waiver.firmware}): {waiver.reason}"
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
            item.stash[CASE_WAIVER] = (waiver, False)
            continue
        for expired in config.stash.get(EXPIRED_WAIVERS, ()):
            if expired.requirement == req.id:
                reason = (
                    f"EXPIRED WAIVER in {profile.source}: {expired.describe()}; the defect no "
                    "longer shows: remove the waiver"
                )
                item.add_marker(
                    pytest.mark.xfail(
                        strict=True, reason=reason, raises=ExpiredWaiverMatchesNothing
                    )
                )
                item.stash[CASE_WAIVER] = (expired, True)
                break


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A case whose waiver expired fails naming the waiver (a note on its exception)."""
    try:
        return (yield)
    except BaseException as exc:
        waiver, expired = item.stash.get(CASE_WAIVER, (None, False))
        if waiver is not None and expired:
            source = item.config.stash[SUITE_CONFIG].profile.source
            exc.add_note(
                f"EXPIRED WAIVER in {source}, not applied, so this failure counts: "
                f"{waiver.describe()}"
            )
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The summary's final word on a waived case, once pytest decided its xfail.

    A plain wrapper on purpose: it wraps pytest's own xfail wrapper (a built-in plugin,
    registered before this one) and is wrapped by plugin/parallel.py's (registered after it),
    which sends an xdist worker's verdicts to the controller with this word already in.
    """
    report = yield
    if CASE_WAIVER not in item.stash or FINDING in report.user_properties:
        return report
    if report.when in ("setup", "call"):
        if report.skipped and hasattr(report, "wasxfail"):
            item.config.stash[SUMMARY].amend(item_req(item), item.nodeid, "waived")
        elif report.failed and str(report.longrepr).startswith(XPASS_STRICT):
            item.config.stash[SUMMARY].amend(item_req(item), item.nodeid, "xpassed")
    return report
