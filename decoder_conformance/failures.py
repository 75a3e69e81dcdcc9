"""Who failed: the two roots every harness error descends from.

A case ends **failed** only through a `DeviceFailure`: the device did something a requirement
forbids, did not do something it requires, or answered with something that is not what the
protocol allows (a malformed answer is the device's defect, not a parse error of the suite).
A case the suite could not drive ends **broken** through a `NotExercised`: a peer that hangs or
dies, a tool that is missing, a worker that does not answer its own command, a harness invariant
that does not hold. pytest, allure-pytest and the summary all sort verdicts by these roots:
AssertionError -> failed, anything else -> broken.
"""

from __future__ import annotations


class DeviceFailure(AssertionError):
    """The device under test broke a requirement (reported failed)."""


class NotExercised(RuntimeError):
    """The suite could not exercise the case: peer, tool, harness or environment (broken)."""


def harness_check(condition: object, message: str) -> None:
    """A harness invariant: raises NotExercised with `message` when `condition` is false.

    Library code uses this instead of `assert`, which would report a suite bug as a device defect
    (and vanish under `python -O`).
    """
    if not condition:
        raise NotExercised(f"harness invariant: {message}")
