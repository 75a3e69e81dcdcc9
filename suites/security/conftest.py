"""Local fixtures of the security suites: accounts sharing one bind, scanner runs kept as evidence.

* `shared_bind_accounts`: two accounts on the device's one SIP bind, the first auto-answering,
  the second not (the page lets several accounts share a localAddress such as "*:5060").
* `scans`: every sipvicious run of the case, attached to it as text (passwords masked) pass or
  fail; `scans.secrets` are masked in whatever the case attaches.
* An autouse fixture hangs up any call a case left on its accounts, so the next case starts idle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from decoder_conformance.device.accounts import SipAccount, SipAccounts
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.peers.sipvicious import ToolRun, mask
from decoder_conformance.plugin.stash import CaseEvidence

#: call_status values of a call that rings or is up (any reading of call_status_meaning).
CALL_STATES = ("in", "out", "calling")


@dataclass
class Scans:
    """The scanner runs of one case, and the secrets no report of it may show in clear."""

    runs: list[ToolRun] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def keep(self, run: ToolRun) -> ToolRun:
        """Keep `run` for the case's attachment; returns it."""
        self.runs.append(run)
        return run

    def text(self) -> str:
        """Every run as text, the secrets masked."""
        return "\n".join(run.text(self.secrets) for run in self.runs)

    def masked(self, text: str) -> str:
        """`text` with the secrets masked."""
        return mask(text, self.secrets)


def _attach(scans: Scans) -> None:
    if not scans.runs:
        return
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach(
        scans.text(),
        name=f"sipvicious runs ({len(scans.runs)})",
        attachment_type=allure.attachment_type.TEXT,
    )


@pytest.fixture
def scans(evidence: CaseEvidence) -> Scans:
    """The case's scanner runs, attached (secrets masked) when the case ends."""
    kept = Scans()
    evidence.add_attacher(lambda: _attach(kept))
    return kept


@pytest.fixture
def shared_bind_accounts(sip_account: SipAccounts) -> tuple[SipAccount, SipAccount]:
    """Two accounts on the device's one SIP bind: the first auto-answers, the second rings."""
    answering = sip_account(call_cfg={"auto_aws": "true"})
    ringing = sip_account()
    return answering, ringing


@pytest.fixture(autouse=True)
def _hang_up_leftovers(api: DeviceClient, sip_account: SipAccounts) -> Iterator[None]:
    """After the case's peers are stopped: hang up any call still on the case's accounts."""
    yield
    for account in sip_account.made:
        if api.status(account.id).call in CALL_STATES:
            api.call("hangup", {"id": str(account.id)})
