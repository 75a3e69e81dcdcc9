"""The HTTP duties of the device, checked on every exchange of every case that used the API.

The dedicated case (suites/api/test_envelope.py) asks each endpoint once; through this duty every
other case that saw an answer with the wrong Content-Type reports it too, under the duty's own
requirement (plugin/verdicts.py judges duties at teardown), so a fuzzed or loaded request that
makes the device change its answer's type is not lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from decoder_conformance.device.api_checks import CONTENT_TYPE_REQ, content_type_problem
from decoder_conformance.device.client import Exchange
from decoder_conformance.plugin.stash import DutyResults

#: At most this many problems are listed per case (a device that always answers wrongly would
#: otherwise repeat one line per request).
MOST_LISTED = 5


def http_duties(exchanges: Sequence[Exchange]) -> Callable[[], DutyResults]:
    """The duty check of the case's HTTP exchanges (read when the case's teardown ends)."""

    def check() -> DutyResults:
        judged = [e for e in exchanges if e.status == 200 and e.body.lstrip().startswith("{")]
        if not judged:
            return {}
        problems = [p for p in map(content_type_problem, judged) if p is not None]
        shown = problems[:MOST_LISTED]
        if len(problems) > MOST_LISTED:
            shown.append(f"... and {len(problems) - MOST_LISTED} more answers like these")
        return {CONTENT_TYPE_REQ: shown}

    return check
