"""A registering UA's duties that every registrar peer checks on every REGISTER it receives.

- RFC 3261 §10.2: "A UA MUST increment the CSeq value by one for each REGISTER request with the
  same Call-ID": across the REGISTERs of one Call-ID the CSeq grows (a retransmission, the same
  Via branch, repeats it and is not a new request);
- RFC 3261 §22.4 with RFC 2617 §3.2.2: the digest ``uri`` is the Request-URI of the request it
  authorizes (a registrar verifying the response recomputes it with the Request-URI).

Shared by the SIP registrar (peers/registrar.py) and the GB28181 platform (peers/gb/), which add
their own duties on top. Each check returns `(code, detail)` findings.
"""

from __future__ import annotations

import threading

from wire import digest
from wire.sip import SipRequest

AUTH_URI = "auth-uri"
CSEQ_NOT_INCREASING = "cseq-not-increasing"

Finding = tuple[str, str]


def digest_uri_findings(credentials: digest.Credentials, request: SipRequest) -> list[Finding]:
    """The Authorization's uri against the Request-URI it must repeat."""
    if credentials.uri == request.uri:
        return []
    return [
        (
            AUTH_URI,
            f"digest uri {credentials.uri!r} is not the Request-URI {request.uri!r} "
            "(RFC 3261 §22.4, RFC 2617 §3.2.2)",
        )
    ]


class CSeqTracker:
    """The highest CSeq seen per Call-ID of REGISTER, and the branch that carried it."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def findings(self, request: SipRequest) -> list[Finding]:
        """Record `request`; a finding when its CSeq does not grow on its Call-ID."""
        call_id = request.call_id or ""
        cseq = request.cseq.number
        branch = request.vias[0].branch or "" if request.vias else ""
        with self._lock:
            last = self._last.get(call_id)
            if last is not None and (cseq, branch) == last:
                return []  # a retransmission of the same request
            self._last[call_id] = (max(cseq, last[0]) if last else cseq, branch)
        if last is not None and cseq <= last[0]:
            return [
                (
                    CSEQ_NOT_INCREASING,
                    f"CSeq {cseq} after {last[0]} on Call-ID {call_id} (RFC 3261 §10.2)",
                )
            ]
        return []
