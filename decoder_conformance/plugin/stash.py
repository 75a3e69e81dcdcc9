"""What the plugin keeps in `config.stash` and `item.stash`: the parsed configuration and evidence.

Module-level keys only; every value lives in pytest's stashes, never in module globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import Profile
from decoder_conformance.device.client import Exchange
from decoder_conformance.device.target import TargetPlan
from decoder_conformance.peers.capture import WireRecord, merged
from decoder_conformance.report.summary import Summary


@dataclass(frozen=True)
class SuiteConfig:
    """What the options and the profile decided, once, at configure time."""

    catalogue: Catalogue
    profile: Profile
    plan: TargetPlan
    summary_path: Path | None
    error_codes: dict[str, str]
    #: The address of this machine that every SIP peer binds and advertises (--suite-host).
    suite_host: str
    #: Where --discover writes the profile drafted from this run (None: no discovery).
    discover_path: Path | None = None


def _no_roles() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class RecordsSource:
    """Where one peer's wire records come from, and the ladder names of its addresses.

    Both are read when the case's call phase ends (a peer learns addresses as it goes). `roles`
    maps "host:port" to a lifeline name ("decoder", "registrar", "caller").
    """

    name: str
    records: Callable[[], Sequence[WireRecord]]
    roles: Callable[[], Mapping[str, str]] = _no_roles


@dataclass
class CaseEvidence:
    """The one evidence wrapper of a case: its HTTP exchanges, the wire records of every peer it
    started, and extra attachers (e.g. the bitrate plot), turned into attachments when its call
    phase ends (plugin/evidence.py)."""

    exchanges: list[Exchange]
    sources: list[RecordsSource] = field(default_factory=list)
    attachers: list[Callable[[], None]] = field(default_factory=list)

    def add_records(
        self,
        name: str,
        records: Callable[[], Sequence[WireRecord]],
        roles: Callable[[], Mapping[str, str]] = _no_roles,
    ) -> None:
        """Register a peer's records source (and the names of its addresses)."""
        self.sources.append(RecordsSource(name, records, roles))

    def add_roles(self, name: str, roles: Callable[[], Mapping[str, str]]) -> None:
        """Register lifeline names only (e.g. the device's SIP addresses)."""
        self.sources.append(RecordsSource(name, list, roles))

    def add_attacher(self, attach: Callable[[], None]) -> None:
        """Register an attacher run when the call phase ends (after the ladder and pcap)."""
        self.attachers.append(attach)

    def collect(self) -> tuple[list[WireRecord], dict[str, str], list[str]]:
        """(every source's records merged by time, the roles, problems reading sources).

        A source that raises (a peer that died) is named in the problems, not raised: evidence
        never replaces the case's own outcome.
        """
        streams: list[Sequence[WireRecord]] = []
        roles: dict[str, str] = {}
        problems: list[str] = []
        for source in self.sources:
            try:
                streams.append(source.records())
                roles.update(source.roles())
            except Exception as exc:  # a dead peer has nothing to give; its death shows elsewhere
                problems.append(f"{source.name}: {type(exc).__name__}: {exc}")
        return merged(*streams), roles, problems


#: What a duty check returns: requirement ID -> the problems seen ([] when it was checked and
#: held). A requirement left out was not exercised by the case.
DutyResults = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class DutyCheck:
    """A device duty a peer or a recorder checked through the whole case (a registrar's REGISTER
    duties, the callee's ACK checks, the status trace), judged when the case's teardown ends.

    A problem fails the case that saw it under the duty's own requirement (plugin/verdicts.py),
    whatever requirement the case itself carries.
    """

    name: str
    check: Callable[[], DutyResults]


@dataclass(frozen=True)
class DutyOutcome:
    """One duty requirement as one case's teardown judged it."""

    requirement: str
    source: str
    problems: tuple[str, ...]


SUITE_CONFIG = pytest.StashKey[SuiteConfig]()
#: The readings and error codes the device was seen to choose in this run.
OBSERVATIONS = pytest.StashKey[Observations]()
SUMMARY = pytest.StashKey[Summary]()
#: The case's evidence wrapper, attached when its call phase ends.
CASE_EVIDENCE = pytest.StashKey[CaseEvidence]()
#: The duty checks the case's fixtures registered (run at teardown), and what they found.
CASE_DUTIES = pytest.StashKey[list[DutyCheck]]()
DUTY_OUTCOMES = pytest.StashKey[list[DutyOutcome]]()
#: Local account numbers (7001, 7002, ...) handed out across the session, so no two collide.
LOCAL_ACCOUNTS = pytest.StashKey[Iterator[int]]()


def case_evidence(item: pytest.Item) -> CaseEvidence:
    """The evidence wrapper of `item`, made on first use."""
    return item.stash.setdefault(CASE_EVIDENCE, CaseEvidence([]))


def add_duty(item: pytest.Item, name: str, check: Callable[[], DutyResults]) -> None:
    """Register a duty check of `item`, run once its teardown ends (plugin/verdicts.py)."""
    item.stash.setdefault(CASE_DUTIES, []).append(DutyCheck(name, check))


def item_req(item: pytest.Item) -> str:
    """The requirement ID a case carries (LOCAL-UNSPECIFIED-000 for a project test)."""
    mark = item.get_closest_marker("req")
    return str(mark.args[0]) if mark and mark.args else "LOCAL-UNSPECIFIED-000"


def is_suite_case(item: pytest.Item) -> bool:
    """True for a conformance case (under suites/), False for a project test."""
    return "suites" in item.path.relative_to(item.config.rootpath).parts[:1]
