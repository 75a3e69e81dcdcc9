"""GB28181 cases: a device registered to the suite's GB platform, and what the cases share.

A case gets its own platform (gb/ peers, on the suite host) and its own gb28181 account; the
platform's keepalive settings and edition come from the profile's [gb28181] table. A case whose
requirement is not registration itself treats a failed registration as a precondition it could
not reach (broken, naming GB-REG-001), so one defect fails one requirement.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from decoder_conformance.contract.profile import Gb28181, Timers
from decoder_conformance.contract.timing import record_wait
from decoder_conformance.device.accounts import GbAccount, GbAccounts
from decoder_conformance.device.client import DeviceClient, Status
from decoder_conformance.device.status_series import StatusRecorder
from decoder_conformance.device.target import Target
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.gb import checks, register_checks
from decoder_conformance.peers.gb.model import ManscdpIn, Query
from decoder_conformance.peers.gb_platform import GbPlatform
from decoder_conformance.waiting import poll_until

#: register_status values that claim a granted registration: the readings of
#: register_status_granted (SIP-REG-013 judges which one a device shows).
GRANTED_STATES = register_checks.GRANTED_STATES
#: Keepalive cadence tolerance: the median interval within this fraction of the profile's.
CADENCE_TOLERANCE = 0.25


@dataclass
class GbDevice:
    """One gb28181 account of the device, registered (or registering) to its own platform."""

    platform: GbPlatform
    account: GbAccount
    status: StatusRecorder
    api: DeviceClient
    timers: Timers
    gb: Gb28181

    @property
    def device_id(self) -> str:
        """The account's 20-digit device ID (its localAccount)."""
        return self.account.device_id

    @property
    def register_timeout(self) -> float:
        """How long a registration may take: a challenge round trip plus a retry."""
        return self.timers.state_timeout + self.timers.retry_base

    @property
    def keepalive_timeout(self) -> float:
        """How long the next keepalive may take: one interval and the state allowance."""
        return self.gb.keepalive_interval + self.timers.state_timeout

    def keepalive_gaps(self, count: int) -> list[float]:
        """Seconds between the device's first `count` keepalives (DeviceTimeout if they do
        not all come within `count` intervals and the state allowance)."""
        self.platform.wait_keepalive(
            self.device_id,
            timeout=self.keepalive_timeout + self.gb.keepalive_interval * (count - 1),
            since=count - 1,
        )
        seen = self.platform.keepalives(self.device_id)[:count]
        record_wait(seen[0].t, seen[-1].t, "GB28181: keepalives at the configured interval")
        return [b.t - a.t for a, b in itertools.pairwise(seen)]

    def wait_registered(self, *, precondition: str | None = None) -> None:
        """The platform holds a binding and status.json shows a granted state.

        With `precondition` (the requirement the registration serves), a failure is reported
        as not exercised, naming GB-REG-001, instead of failing the case's own requirement.
        """
        try:
            self.platform.wait_registered(self.device_id, timeout=self.register_timeout)
            self.wait_status(
                register_checks.shows_granted,
                f"register_status {' or '.join(GRANTED_STATES)} once the platform granted it",
            )
        except DeviceFailure as exc:
            if precondition is None:
                raise
            raise NotExercised(
                f"precondition of {precondition} not met: the gb28181 account did not register "
                f"(GB-REG-001 judges that): {exc}"
            ) from None

    def wait_status(self, accept: Callable[[Status], bool], expected: str) -> Status:
        """Poll status.json of the account until `accept` holds."""
        return self.api.wait_status(
            self.account.id, accept, timeout=self.timers.state_timeout, expected=expected
        )

    def violations(self, *codes: str) -> list[checks.Violation]:
        """The platform's violations of `codes` by this device."""
        return [v for v in self.platform.violations(device_id=self.device_id) if v.code in codes]

    def assert_no_violations(self, req: str, *codes: str) -> None:
        """Fail `req` with every violation of `codes` the platform saw."""
        found = self.violations(*codes)
        assert not found, f"[{req}] the platform saw:\n" + "\n".join(f"  {v}" for v in found)

    def query(self, cmd_type: str, *, req: str, **kwargs: Any) -> tuple[Query, list[ManscdpIn]]:
        """Send a Query and wait for its whole answer (200 and Response(s) with its SN)."""
        sn = self.platform.query(self.device_id, cmd_type, **kwargs)
        timeout = self.timers.state_timeout
        try:
            responses = self.platform.wait_response(sn, timeout=timeout)
        except DeviceFailure as exc:
            state = self.platform.query_state(sn)
            raise DeviceFailure(
                f"[{req}] expected {state.expected()} within {timeout} s after the Query "
                f"(answered {state.answer}); {exc}"
            ) from None
        # The 200 and the Response travel independently: the final answer may be filed after.
        poll_until(
            lambda: self.platform.query_state(sn).answer,
            lambda answer: answer is not None,
            timeout=timeout,
            expected=f"[{req}] the device's final answer to the MESSAGE Query SN={sn}",
        )
        return self.platform.query_state(sn), responses


@pytest.fixture
def gb_device(
    gb_platform: Callable[..., GbPlatform],
    gb_account: GbAccounts,
    status_series: Callable[[int], StatusRecorder],
    api: DeviceClient,
    device_target: Target,
) -> Callable[..., GbDevice]:
    """`gb_device(call_cfg=..., password=..., **platform options)`: platform + account, the
    account's status.json sampled from before it registers; registration is not awaited."""

    def make(
        *, call_cfg: dict[str, str] | None = None, password: str | None = None, **options: Any
    ) -> GbDevice:
        platform = gb_platform(**options)
        account = gb_account(platform, call_cfg=call_cfg, password=password)
        recorder = status_series(account.id)
        profile = device_target.profile
        return GbDevice(platform, account, recorder, api, profile.timers, profile.gb28181)

    return make


@pytest.fixture
def registered(gb_device: Callable[..., GbDevice], request: pytest.FixtureRequest) -> GbDevice:
    """A gb28181 account registered to a fresh platform (precondition of the case's requirement)."""
    device = gb_device()
    mark = request.node.get_closest_marker("req")
    device.wait_registered(precondition=str(mark.args[0]) if mark else "the case")
    return device
