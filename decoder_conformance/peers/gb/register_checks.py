"""The judgements of the GB28181 registration cases (suites/gb28181/test_gb_registration.py)
that are not platform violations, as functions of what the case observed (the REGISTERs the
platform received, the account's register_status series), so a project test can feed them a
recorded bad observation and see them fail
(tests/decoder_conformance/test_negative_controls_gb.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from decoder_conformance.device.client import Status
from decoder_conformance.device.status_series import Sample
from wire.sip import SipRequest

#: register_status values that claim a granted registration: the readings of
#: register_status_granted (SIP-REG-013 judges which one a device shows).
GRANTED_STATES = ("registered", "connected", "on")


def shows_granted(status: Status, granted: Sequence[str] = GRANTED_STATES) -> bool:
    """GB-REG-001, GB-REG-008: status.json shows the account's registration granted (once the
    platform's 200 was sent; a device that could not take the 200, its GB Date for one, shows
    error or keeps registering)."""
    return status.register in granted


def refused_registration_problem(
    settled: str, series: Sequence[Sample], granted: Sequence[str]
) -> str | None:
    """GB-REG-004: after the platform's 403 neither the state the account settled in nor any
    state of its sampled status.json series is one of the `granted` states."""
    seen = sorted({s.status.register for s in series if s.status is not None})
    if settled not in granted and not set(seen) & set(granted):
        return None
    return (
        f"expected no granted register_status after the platform's 403, "
        f"observed {settled} (series {seen})"
    )


def x_gb_ver_problem(registers: Sequence[SipRequest]) -> str | None:
    """GB-REG-007: a 2022 device sends X-GB-ver on every REGISTER (and sent at least one)."""
    versions = [m.headers.get("X-GB-ver") for m in registers]
    if versions and all(versions):
        return None
    return f"expected X-GB-ver on every REGISTER of a 2022 device, observed {versions}"
