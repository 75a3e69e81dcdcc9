"""What the plugin keeps in `config.stash` and `item.stash`: the parsed configuration and evidence.

Module-level keys only; every value lives in pytest's stashes, never in module globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.profile import Profile
from decoder_conformance.device.client import Exchange
from decoder_conformance.device.target import TargetPlan
from decoder_conformance.report.ladder import LadderMessage
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


#: A callable returning (messages, roles) for the ladder of the current case.
LadderSource = Callable[[], tuple[list[LadderMessage], dict[str, str]]]

SUITE_CONFIG = pytest.StashKey[SuiteConfig]()
SUMMARY = pytest.StashKey[Summary]()
#: The case's HTTP exchanges, attached when its call phase ends.
EXCHANGES = pytest.StashKey[list[Exchange]]()
#: The case's ladder sources (one per peer it started), drawn when its call phase ends.
LADDERS = pytest.StashKey[list[LadderSource]]()
#: Local account numbers (7001, 7002, ...) handed out across the session, so no two collide.
LOCAL_ACCOUNTS = pytest.StashKey[Iterator[int]]()
#: Attachers a case's fixtures register (e.g. the media bitrate plot), run when its call ends.
EVIDENCE = pytest.StashKey[list[Callable[[], None]]]()


def item_req(item: pytest.Item) -> str:
    """The requirement ID a case carries (LOCAL-UNSPECIFIED-000 for a project test)."""
    mark = item.get_closest_marker("req")
    return str(mark.args[0]) if mark and mark.args else "LOCAL-UNSPECIFIED-000"


def is_suite_case(item: pytest.Item) -> bool:
    """True for a conformance case (under suites/), False for a project test."""
    return "suites" in item.path.relative_to(item.config.rootpath).parts[:1]
