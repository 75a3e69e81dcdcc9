"""The judgements of the GB28181 media cases (suites/gb28181/test_gb_media.py) that are not
platform violations, as functions of the final answer a platform INVITE got, so a project test
can feed them a recorded bad answer and see them fail
(tests/decoder_conformance/test_negative_controls_gb.py).
"""

from __future__ import annotations

from decoder_conformance.device.client import Status

#: call_status of a call in progress, under any reading of call_status_meaning.
ESTABLISHED = ("in", "out", "calling")
#: The final answer to a second INVITE while the account's one call plays (RFC 3261 §21.4.24).
BUSY = 486
#: The final answer to an offer the device cannot take (RFC 3261 §21.4.26, RFC 3264 §6).
NOT_ACCEPTABLE_HERE = 488


def busy_problem(code: int | None) -> str | None:
    """GB-MED-009: a second INVITE on an account taking one call is answered 486."""
    if code == BUSY:
        return None
    return f"expected 486 to a second INVITE on an account taking one call, observed {code}"


def unusable_offer_problem(code: int | None) -> str | None:
    """GB-MED-010: an offer of an unknown codec only is answered 488."""
    if code == NOT_ACCEPTABLE_HERE:
        return None
    return f"expected 488 to an offer of an unknown codec only, observed {code}"


def streaming(status: Status) -> bool:
    """GB-MED-015 (and each media case's precondition): status.json shows a call in progress
    with a non-zero bitrate, the stream the platform sends reaching the decoder."""
    return status.call in ESTABLISHED and status.bitrate > 0
