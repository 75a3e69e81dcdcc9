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

from collections.abc import Mapping, Sequence

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.sipp.run import SippResult
from wire import sdp, sip

#: call_status of a call ringing or up, under any reading of call_status_meaning.
IN_PROGRESS = ("in", "out", "calling")

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


# -- auto_call once the callee ended the attempt (SIP-CALL-LIFE-001..003) -------------------------

#: The call_status values of no call the auto_call_after_* readings name (the page's others).
NO_CALL = ("reconnecting", "error", "idle", "close")


def _where(invite: sip.SipRequest) -> tuple[str | None, str, int | None]:
    """(user, host, port) of an INVITE's Request-URI."""
    uri = sip.SipUri.parse(invite.uri)
    return uri.user, uri.host, uri.port


def after_the_end_reading(
    samples: Sequence[tuple[str, float]], first: sip.SipRequest, again: sip.SipRequest | None
) -> tuple[str | None, str]:
    """The reading of auto_call_after_refusal / _timeout / _remote_bye that status.json's
    (call_status, bitrate) `samples`, taken from the end of the `first` attempt until the
    callee saw a new INVITE `again` (None: none within the window), follow, and what more was
    seen ("" or where the re-dial went).

    `redial_<state>` names the last state of no call sampled before the re-dial
    (`redial_at_once` when none was; its bitrate is judged after, as a meter may still be
    draining at the re-dial), `no_redial_<state>` the state at the window's end, which must
    show bitrate 0. None for no reading: a re-dial elsewhere than sip_out_url, a state the
    readings do not name, a call still claimed or a bitrate at the window's end.
    """
    if again is not None:
        if _where(again) != _where(first):
            return None, f" to {again.uri}, not {first.uri} (sip_out_url)"
        ended = [call for call, _ in samples if call not in IN_PROGRESS]
        if not ended:
            return "redial_at_once", ""
        if ended[-1] not in NO_CALL:
            return None, ""
        return f"redial_{ended[-1]}", ""
    if not samples:
        return None, ""
    call, bitrate = samples[-1]
    if call not in NO_CALL or bitrate != 0:
        return None, ""
    return f"no_redial_{call}", ""


# -- answer.json on an established outgoing call (SIP-CALL-ANS-002) -------------------------------


def changes_call(record: WireRecord, since: float) -> bool:
    """A request the device sent at or after `since` (answer.json's time) changes the call: its
    BYE, CANCEL, a re-INVITE or a new INVITE. An ACK retransmitted for the callee's 200 does not."""
    return record.t >= since and record.is_request and not record.is_request_of("ACK")


def answer_outgoing_reading(sip_out_ok: bool) -> str:
    """The reading of answer_outgoing_call answer.json with dir=sip_out follows on a call left
    as it was (what changes the call fails it first, changes_call and call_status)."""
    return "ok_unchanged" if sip_out_ok else "refused"


# -- several calls on one account (SIP-CALL-NUM-002) ----------------------------------------------

#: How far the reported median may be from the rate it is read as. The candidates (one call,
#: the other, their sum) are at least a third apart, so a reading is never ambiguous.
CONCURRENT_BITRATE_TOLERANCE = 0.12


def concurrent_bitrate_reading(
    both: float,
    sent: Mapping[str, float],
    alone: float,
    alone_sent: float,
    tolerance: float = CONCURRENT_BITRATE_TOLERANCE,
) -> str | None:
    """The reading of concurrent_call_bitrate status.json's median bitrate `both`, while two
    calls carried media, follows: the one of `sent` (reading -> kbit/s sent: oldest_call,
    newest_call, sum) it is closest to, within `tolerance`; None when it is within none, or
    when `alone`, the median once the second call ended, is not within `tolerance` of the
    first call's `alone_sent` (an ended call's media still counted, or the survivor's lost)."""
    reading, rate = min(sent.items(), key=lambda item: abs(both - item[1]) / item[1])
    if abs(both - rate) > tolerance * rate or abs(alone - alone_sent) > tolerance * alone_sent:
        return None
    return reading
