"""Collection gates: one requirement ID per case, Allure labels, capability skips and waivers.

This is the only place a conformance case is skipped (a capability the profile lacks, a GB/T
28181 edition the profile does not declare, or a reading of the page the profile does not pin
for a case that applies under one reading only) or waived (a known defect the profile lists, as
a strict xfail).
"""

from __future__ import annotations

import pytest

from decoder_conformance.contract.catalogue import Requirement
from decoder_conformance.contract.profile import CAPABILITIES
from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.stash import SUITE_CONFIG, is_suite_case
from decoder_conformance.report.allure import LABEL_MARK, labels


def label_marks(req: Requirement) -> list[pytest.MarkDecorator]:
    """The allure-pytest label marks for one requirement."""
    mark = getattr(pytest.mark, LABEL_MARK)
    return [mark(value, label_type=kind) for kind, value in labels(req)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Requirement IDs, Allure labels, capability skips and waivers, all decided here."""
    suite = config.stash[SUITE_CONFIG]
    profile = suite.profile
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
        for label in label_marks(req):
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
