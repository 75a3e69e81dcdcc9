"""The judgements of the call cases (suites/calls) as functions of what a case observed.

A case drives the call (a caller, a callee, answer.json, hangup.json) and gathers what it saw:
the final answer a caller received, the call_status at each moment, which answer.json forms were
taken, SIPp's result. It then calls one of these to judge it, so a project test can feed the same
function a recorded bad observation and see it fail (the negative controls,
tests/decoder_conformance/test_negative_controls_calls.py). A `*_reading` function names the
reading of a reading point the observation follows, None when it follows none (the case then
fails it through `readings.none_of`); a `*_problem` function returns what is wrong, None when
nothing is.
"""

from __future__ import annotations

from collections.abc import Mapping

from decoder_conformance.peers.sipp.run import SippResult
from wire import sdp, sip

# -- call_status_meaning (SIP-CALL-STAT-001) ------------------------------------------------------

#: Per reading of call_status_meaning, the call state of (a call being set up, the established
#: call), for an incoming and for an outgoing call. Both readings show idle once the call is over.
INCOMING = {"as_named": ("in", "calling"), "direction_when_established": ("calling", "in")}
OUTGOING = {"as_named": ("out", "calling"), "direction_when_established": ("calling", "out")}


def call_status_reading(
    table: Mapping[str, tuple[str, str]], *, setup: str, established: str, over: str
) -> str | None:
    """The reading of call_status_meaning (in `table`, INCOMING or OUTGOING) whose states are the
    ones seen while the call was set up, once established and once over; None for no reading."""
    for name, states in table.items():
        if (setup, established, over) == (*states, "idle"):
            return name
    return None


# -- unacceptable_offer (SIP-CALL-SDP-002, SIP-CALL-IND-003) --------------------------------------


def unacceptable_offer_reading(
    code: int, body: str | bytes, content_type: str
) -> tuple[str | None, str]:
    """The reading of `unacceptable_offer` a final answer to an offer without H.264 video
    follows, and what was seen; None when it follows none (a 2xx accepting an unusable stream,
    a 3xx, a 2xx without an SDP answer)."""
    if code == 488:
        return "reject_488", f"final answer {code}"
    if 400 <= code < 700:
        return "reject_other_final", f"final answer {code}"
    if 200 <= code < 300:
        try:
            answer = sdp.parse(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
        except ValueError as exc:
            return None, f"200 whose SDP does not parse ({exc}; Content-Type {content_type!r})"
        ports = [m.m_value() for m in answer.media]
        if answer.media and all(m.port == 0 for m in answer.media):
            return "accept_with_rejected_streams", f"200 with every stream at port 0: {ports}"
        return None, f"200 accepting a stream it cannot use: {ports}"
    return None, f"final answer {code}"


def sipp_unacceptable_offer_reading(final: sip.SipResponse) -> tuple[str | None, str]:
    """The reading of `unacceptable_offer_sipp` the device's final answer to SIPp's audio-only
    INVITE follows, and what more was seen ("" or the answer's ports); None when it follows none
    (a 2xx accepting a stream, or one without a readable SDP, a 1xx or 3xx final)."""
    code = final.status_code
    if code == 488:
        return "reject_488", ""
    if 400 <= code < 700:
        return "reject_other_final", ""
    if 200 <= code < 300:
        try:
            ports = [m.port for m in sdp.parse(final.body).media]
        except ValueError:
            ports = []
        seen = f"; answer ports {ports}"
        if not ports or any(ports):
            return None, seen
        return "accept_with_rejected_streams", seen
    return None, ""


def sipp_completed(result: SippResult, calls: int = 1) -> bool:
    """SIPp's scenario completed `calls` calls, none failed, and SIPp exited cleanly."""
    return result.ok and result.successful == calls


# -- hangup_ringing (SIP-CALL-HUP-002) ------------------------------------------------------------


def declined(code: int) -> bool:
    """A final answer that declines a call: 4xx or 6xx (a 5xx is a server error, not a decline)."""
    return 400 <= code < 500 or code >= 600


def hangup_ringing_reading(
    ok: bool, msg: str | None, final_code: int | None, still_ringing: bool
) -> str | None:
    """The reading of hangup_ringing that hangup.json on a ringing call follows: `ok`/`msg` its
    answer, `final_code` the caller's final answer after an ok (None when not waited for),
    `still_ringing` whether the call still rang after an error. None for no reading."""
    if ok:
        return "decline" if final_code is not None and declined(final_code) else None
    if msg == "1211" and still_ringing:
        return "no_call_1211"
    return None


# -- answer_dir (SIP-CALL-ANS-001) ----------------------------------------------------------------

#: (answer.json with dir=sip_out taken, without dir taken) -> the reading of answer_dir.
ANSWER_DIR_BY_FORMS = {
    (True, True): "optional",
    (True, False): "required_sip_out",
    (False, True): "without_dir",
}


def answered_as_told(reply_ok: bool, final_code: int) -> bool:
    """answer.json's answer and the caller's final agree: ok and a 200, or an error and no 200
    (the refused form left the call ringing, so the caller's CANCEL ended it)."""
    return reply_ok == (final_code == 200)


def answer_dir_reading(sip_out_taken: bool, no_dir_taken: bool) -> str | None:
    """The reading of answer_dir the forms answer.json took follow; None when it took neither."""
    return ANSWER_DIR_BY_FORMS.get((sip_out_taken, no_dir_taken))


# -- incoming and outgoing calls ------------------------------------------------------------------


def dialog_2xx_problem(response: sip.SipResponse) -> str | None:
    """A 2xx creating a dialog carries a To tag and a Contact (RFC 3261 §12.1.1 MUST)."""
    if not response.to_addr.tag:
        return "expected a To tag in the 200 (a dialog)"
    if not response.contacts:
        return "expected a Contact in the 200"
    return None


def refused(code: int) -> bool:
    """A final refusal: any 4xx-6xx (which one is the device's choice unless the page says)."""
    return 400 <= code < 700


def invite_reaches(invite: sip.SipRequest, user: str, host: str, port: int) -> bool:
    """The device's INVITE goes to sip:user@host:port (the sip_out_url it was given)."""
    uri = sip.SipUri.parse(invite.uri)
    return (uri.user, uri.host, uri.port) == (user, host, port)


def caller_bye_problem(response: sip.SipResponse) -> str | None:
    """The device answers the caller's BYE in an established call with 200 (RFC 3261 §15.1.2)."""
    if response.status_code == 200:
        return None
    return f"expected 200 to the caller's BYE, observed {response.status_code} {response.reason}"


def in_dialog(request: sip.SipRequest, invite: sip.SipRequest) -> bool:
    """`request` (the device's BYE) belongs to the call `invite` set up: the same Call-ID."""
    return request.call_id == invite.call_id


# -- policy (SIP-CALL-POL-003) --------------------------------------------------------------------


def policy_3_reading(final_code: int, replaced: bool, kept: bool) -> str:
    """The reading of policy_3_meaning a second call under policy 3 follows: `replace_like_2`
    when it was answered 200 (`final_code`), the first call got the device's BYE (`replaced`)
    and the new one was kept (`kept`), else `undocumented` (any other behaviour, recorded; only
    a profile pinning replace_like_2 fails it)."""
    return "replace_like_2" if final_code == 200 and replaced and kept else "undocumented"
