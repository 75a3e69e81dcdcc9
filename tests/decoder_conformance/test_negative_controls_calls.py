"""Negative controls of the call cases (suites/calls): each feeds the function a case judges
with (decoder_conformance/peers/call_checks.py, DeviceClient.expect_error, SIPp's result) a
recorded bad observation, a final answer as a device could send it, a call_status series, an
API answer or a SIPp run, and sees it report the failure; a good one passes. The reading
functions must name a reading the requirement lists, so a None is the case's
`readings.none_of`, its failure.

Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import load_profile
from decoder_conformance.device.accounts import DeviceSip, SipAccount
from decoder_conformance.device.client import ConformanceFailure, DeviceClient, Exchange, Reply
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.peers import call_checks
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.raw_ua import Leg, RawCallee, RawCaller
from decoder_conformance.peers.sipp.log import SippClock
from decoder_conformance.peers.sipp.run import (
    EXIT_ALL_OK,
    EXIT_SOME_FAILED,
    SippResult,
    collect,
    new_run_dir,
)
from decoder_conformance.waiting import DeviceTimeout
from tests.conftest import ROOT
from wire import sip

CATALOGUE = Catalogue()


def _listed(req: str, reading: str | None) -> str:
    """`reading`, checked to be one `req` lists (a typo would make the case NotExercised)."""
    assert reading is not None
    return CATALOGUE.requirements[req].reading(reading).name


def _response(
    code: int, reason: str, *, to_tag: str | None = "dev", contact: bool = True, body: str = ""
) -> sip.SipResponse:
    """A final answer to the suite's INVITE as a device could send it."""
    lines = [
        f"SIP/2.0 {code} {reason}",
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-nc-call",
        "From: <sip:caller@127.0.0.1:40000>;tag=suite",
        "To: <sip:1001@127.0.0.1:5060>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: nc-call@127.0.0.1",
        "CSeq: 1 INVITE",
        *(["Contact: <sip:1001@127.0.0.1:5060>"] if contact else []),
        *(["Content-Type: application/sdp"] if body else []),
        f"Content-Length: {len(body.encode())}",
    ]
    parsed = sip.parse(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
    assert isinstance(parsed, sip.SipResponse)
    return parsed


def _sdp(*media: str) -> str:
    head = ["v=0", "o=dev 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    return "\r\n".join([*head, *media]) + "\r\n"


#: A 200 accepting the VP8-only (or audio-only) offer it cannot decode: streams at live ports.
ACCEPTS_VP8 = _sdp("m=video 40000 RTP/AVP 100", "a=rtpmap:100 VP8/90000", "a=recvonly")
ACCEPTS_AUDIO = _sdp("m=audio 40002 RTP/AVP 0", "a=rtpmap:0 PCMU/8000")
REJECTS_ALL = _sdp("m=audio 0 RTP/AVP 0")


# -- readings -------------------------------------------------------------------------------------


@pytest.mark.negative_control("SIP-CALL-STAT-001")
def test_call_status_series_of_no_reading() -> None:
    incoming, outgoing = call_checks.INCOMING, call_checks.OUTGOING
    good = call_checks.call_status_reading(incoming, setup="in", established="calling", over="idle")
    assert _listed("SIP-CALL-STAT-001", good) == "as_named"
    good = call_checks.call_status_reading(
        outgoing, setup="calling", established="out", over="idle"
    )
    assert _listed("SIP-CALL-STAT-001", good) == "direction_when_established"
    # Recorded series: the same state ringing and answered, an outgoing call shown as incoming,
    # and a call never shown over (close) or still up once the caller's BYE was answered.
    bad = [
        (incoming, ("in", "in", "idle")),
        (outgoing, ("in", "calling", "idle")),
        (incoming, ("in", "calling", "close")),
        (incoming, ("in", "calling", "calling")),
    ]
    for table, (setup, established, over) in bad:
        assert (
            call_checks.call_status_reading(table, setup=setup, established=established, over=over)
            is None
        )


@pytest.mark.negative_control("SIP-CALL-SDP-002")
def test_unusable_offer_accepted() -> None:
    reading, _ = call_checks.unacceptable_offer_reading(488, b"", "")
    assert _listed("SIP-CALL-SDP-002", reading) == "reject_488"
    reading, _ = call_checks.unacceptable_offer_reading(200, REJECTS_ALL, "application/sdp")
    assert _listed("SIP-CALL-SDP-002", reading) == "accept_with_rejected_streams"
    reading, seen = call_checks.unacceptable_offer_reading(200, ACCEPTS_VP8, "application/sdp")
    assert reading is None and "accepting a stream it cannot use" in seen
    reading, seen = call_checks.unacceptable_offer_reading(200, b"not sdp", "text/plain")
    assert reading is None and "does not parse" in seen
    assert call_checks.unacceptable_offer_reading(302, b"", "")[0] is None


@pytest.mark.negative_control("SIP-CALL-IND-003")
def test_audio_only_offer_accepted_by_the_device_under_sipp() -> None:
    reading, _ = call_checks.sipp_unacceptable_offer_reading(_response(488, "Not Acceptable Here"))
    assert _listed("SIP-CALL-IND-003", reading) == "reject_488"
    rejected = _response(200, "OK", body=REJECTS_ALL)
    reading, _ = call_checks.sipp_unacceptable_offer_reading(rejected)
    assert _listed("SIP-CALL-IND-003", reading) == "accept_with_rejected_streams"
    accepted = _response(200, "OK", body=ACCEPTS_AUDIO)
    reading, seen = call_checks.sipp_unacceptable_offer_reading(accepted)
    assert reading is None and "[40002]" in seen
    assert call_checks.sipp_unacceptable_offer_reading(_response(200, "OK"))[0] is None


@pytest.mark.negative_control("SIP-CALL-HUP-002")
def test_hangup_on_a_ringing_call_of_no_reading() -> None:
    reading = call_checks.hangup_ringing_reading(True, None, 603, False)
    assert _listed("SIP-CALL-HUP-002", reading) == "decline"
    reading = call_checks.hangup_ringing_reading(False, "1211", None, True)
    assert _listed("SIP-CALL-HUP-002", reading) == "no_call_1211"
    # hangup.json ok but the call answered (200) or failed with a server error; an error code
    # other than 1211; 1211 while the call no longer rings.
    assert call_checks.hangup_ringing_reading(True, None, 200, False) is None
    assert call_checks.hangup_ringing_reading(True, None, 503, False) is None
    assert call_checks.hangup_ringing_reading(False, "1000", None, True) is None
    assert call_checks.hangup_ringing_reading(False, "1211", None, False) is None


@pytest.mark.negative_control("SIP-CALL-ANS-001")
def test_answer_json_forms_of_no_reading() -> None:
    assert call_checks.answered_as_told(True, 200) and call_checks.answered_as_told(False, 487)
    # answer.json ok but the caller never got its 200 (487 to its CANCEL); an error but a 200.
    assert not call_checks.answered_as_told(True, 487)
    assert not call_checks.answered_as_told(False, 200)
    assert _listed("SIP-CALL-ANS-001", call_checks.answer_dir_reading(True, False)) == (
        "required_sip_out"
    )
    assert _listed("SIP-CALL-ANS-001", call_checks.answer_dir_reading(True, True)) == "optional"
    assert call_checks.answer_dir_reading(False, False) is None


# -- incoming and outgoing calls ------------------------------------------------------------------


@pytest.mark.negative_control("SIP-CALL-IN-001")
def test_200_without_dialog_identifiers() -> None:
    assert call_checks.dialog_2xx_problem(_response(200, "OK")) is None
    untagged = call_checks.dialog_2xx_problem(_response(200, "OK", to_tag=None))
    assert untagged is not None and "To tag" in untagged
    no_contact = call_checks.dialog_2xx_problem(_response(200, "OK", contact=False))
    assert no_contact is not None and "Contact" in no_contact


@pytest.mark.negative_control("SIP-CALL-IN-003")
def test_allow_in_2_call_not_refused() -> None:
    assert call_checks.refused(403) and call_checks.refused(603)
    # The call answered, redirected, or still ringing (a provisional is no final refusal).
    for code in (200, 302, 180):
        assert not call_checks.refused(code)


def _invite(uri: str) -> sip.SipRequest:
    parsed = sip.parse(
        (
            f"INVITE {uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-nc-out\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:1001@127.0.0.1:5060>;tag=dev\r\n"
            f"To: <{uri}>\r\n"
            "Call-ID: nc-out@127.0.0.1\r\n"
            "CSeq: 1 INVITE\r\n"
            "Contact: <sip:1001@127.0.0.1:5060>\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(parsed, sip.SipRequest)
    return parsed


@pytest.mark.negative_control("SIP-CALL-OUT-001")
def test_auto_call_invite_to_another_uri() -> None:
    assert call_checks.invite_reaches(
        _invite("sip:callee@127.0.0.1:41000"), "callee", "127.0.0.1", 41000
    )
    # The default port instead of sip_out_url's, another user, the registrar's host.
    for uri in ("sip:callee@127.0.0.1", "sip:1001@127.0.0.1:41000", "sip:callee@127.0.0.2:41000"):
        assert not call_checks.invite_reaches(_invite(uri), "callee", "127.0.0.1", 41000)


def _sipp_run(tmp_path: Path, returncode: int, successful: int, failed: int) -> SippResult:
    """A SIPp run as `collect` reads it from its files: the -trace_stat CSV (its last row)."""
    files = new_run_dir(tmp_path, "nc")
    header = "StartTime;LastResetTime;SuccessfulCall(C);FailedCall(C)"
    files.stats.write_text(
        f"{header}\n2026-12-02 11:00:00;2026-12-02 11:00:00;0;0\n"
        f"2026-12-02 11:00:01;2026-12-02 11:00:01;{successful};{failed}\n",
        "utf-8",
    )
    return collect(
        "uac_invite_h264",
        ["sipp"],
        returncode,
        files,
        1.0,
        clock=SippClock(wall=0.0, monotonic=0.0),
    )


@pytest.mark.negative_control("SIP-CALL-IND-001", "SIP-CALL-IND-002")
def test_sipp_call_failed(tmp_path: Path) -> None:
    assert call_checks.sipp_completed(_sipp_run(tmp_path, EXIT_ALL_OK, 1, 0))
    # The device's 200 never came (SIPp's timeout: rc 1, one failed call); the call counted
    # successful but SIPp exited on an unexpected message; no call completed at all.
    assert not call_checks.sipp_completed(_sipp_run(tmp_path, EXIT_SOME_FAILED, 0, 1))
    assert not call_checks.sipp_completed(_sipp_run(tmp_path, EXIT_SOME_FAILED, 1, 0))
    assert not call_checks.sipp_completed(_sipp_run(tmp_path, EXIT_ALL_OK, 0, 0))


# -- answer.json / hangup.json after the call (DeviceClient.expect_error) ----------------------


def _reply(body: dict[str, Any], endpoint: str) -> Reply:
    text = json.dumps(body)
    url = f"http://127.0.0.1:9/api/sip/{endpoint}.json"
    return Reply(Exchange("GET", url, {}, 200, text, 1.0, "application/json"), body)


@pytest.mark.negative_control("SIP-CALL-HUP-003")
@pytest.mark.parametrize("endpoint", ["answer", "hangup"])
def test_no_call_not_answered_1211(endpoint: str) -> None:
    client = DeviceClient("http://127.0.0.1:9/api", {"no_call": "1211"}, req="SIP-CALL-HUP-003")
    client.expect_error(_reply({"result": "error", "msg": "1211"}, endpoint), "no_call")
    # The ended call answered or hung up again (ok), or refused with another code.
    for body in ({"result": "ok"}, {"result": "error", "msg": "1000"}):
        with pytest.raises(ConformanceFailure) as failed:
            client.expect_error(_reply(body, endpoint), "no_call")
        assert failed.value.req == "SIP-CALL-HUP-003" and "1211" in failed.value.expected


def _bye_answer(code: int, reason: str) -> sip.SipResponse:
    answer = _response(code, reason).to_bytes().replace(b"CSeq: 1 INVITE", b"CSeq: 2 BYE")
    parsed = sip.parse(answer)
    assert isinstance(parsed, sip.SipResponse)
    return parsed


@pytest.mark.negative_control("SIP-CALL-BYE-001")
def test_caller_bye_not_answered_200() -> None:
    assert call_checks.caller_bye_problem(_bye_answer(200, "OK")) is None
    # The device lost the dialog (481) or refuses the BYE.
    for code, reason in ((481, "Call/Transaction Does Not Exist"), (405, "Method Not Allowed")):
        problem = call_checks.caller_bye_problem(_bye_answer(code, reason))
        assert problem is not None and f"observed {code} {reason}" in problem


@pytest.mark.negative_control("SIP-CALL-OUT-002")
def test_bye_after_hangup_json_outside_the_dialog() -> None:
    invite = _invite("sip:callee@127.0.0.1:41000")
    bye = sip.parse(
        invite.to_bytes().replace(b"INVITE sip:", b"BYE sip:").replace(b"1 INVITE", b"2 BYE")
    )
    assert isinstance(bye, sip.SipRequest) and call_checks.in_dialog(bye, invite)
    # A BYE for another call (a stale Call-ID the device kept from an earlier call).
    stale = sip.parse(bye.to_bytes().replace(b"nc-out@", b"nc-earlier@"))
    assert isinstance(stale, sip.SipRequest) and not call_checks.in_dialog(stale, invite)


@pytest.mark.negative_control("SIP-CALL-POL-003")
def test_policy_3_not_replacing_fails_the_pinned_reading() -> None:
    """policy_3_meaning accepts any behaviour as `undocumented`; a profile pinning
    replace_like_2 (the reference profile does) fails a device that refuses the second call."""
    assert call_checks.policy_3_reading(200, True, True) == "replace_like_2"
    # The second call refused busy; answered but the first never got BYE; the new one dropped.
    bad = [(486, False, False), (200, False, True), (200, True, False)]
    profile = load_profile(ROOT / "profiles" / "reference.toml", CATALOGUE)
    assert profile.readings.get("policy_3_meaning") == "replace_like_2"
    for final_code, replaced, kept in bad:
        reading = call_checks.policy_3_reading(final_code, replaced, kept)
        assert _listed("SIP-CALL-POL-003", reading) == "undocumented"
        with pytest.raises(DeviceFailure, match="policy_3_meaning = replace_like_2"):
            Observations(CATALOGUE, profile).follow(
                "SIP-CALL-POL-003", "policy_3_meaning", reading, "recorded", "nc"
            )


# -- policy 2: the first caller gets the device's BYE (raw_ua.Leg, as the case waits on it) -------


class ScriptedDevice:
    """A device on one UDP socket that answers each INVITE 200 and sends the BYEs it is told."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(5.0)
        port = self.sock.getsockname()[1]
        self.account = SipAccount(1, "1001", DeviceSip(LOOPBACK, port, f"{LOOPBACK}:{port}"))

    def answer(self, caller: RawCaller) -> tuple[Leg, sip.SipRequest]:
        """`caller` calls; the INVITE is answered 200 and ACKed."""
        leg = caller.call(self.account, caller.offer())
        invite = self._next("INVITE")
        ok = sip.make_response(invite, 200, to_tag="dev")
        ok.headers.add("Contact", f"<sip:1001@{self.account.sip.address}>")
        self.sock.sendto(ok.to_bytes(), (caller.host, caller.port))
        assert leg.response(timeout=5.0).status_code == 200
        leg.ack()
        self._next("ACK")
        return leg, invite

    def bye(self, invite: sip.SipRequest, caller: RawCaller) -> None:
        """The device's BYE in the dialog `invite` set up."""
        bye = sip.make_request(
            "BYE",
            invite.contacts[0].uri,
            sent_by=self.sock.getsockname(),
            from_uri=invite.to_addr.uri,
            from_tag="dev",
            to_uri=invite.from_addr.uri,
            to_tag=invite.from_addr.tag,
            call_id=invite.call_id or "",
            cseq=1,
        )
        self.sock.sendto(bye.to_bytes(), (caller.host, caller.port))

    def _next(self, method: str) -> sip.SipRequest:
        while True:
            message = sip.parse(self.sock.recvfrom(65535)[0])
            if isinstance(message, sip.SipRequest) and message.method == method:
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.mark.negative_control("SIP-CALL-POL-002")
@pytest.mark.parametrize("replaces", [True, False], ids=["bye-to-first", "bye-to-second"])
def test_policy_2_first_caller_not_sent_bye(replaces: bool) -> None:
    """The case waits for the first caller's BYE (Leg.wait_request) and checks the new call got
    none (Leg.requests). A device that drops the new call instead fails both."""
    device = ScriptedDevice()
    first_caller, second_caller = (
        RawCaller("a", "SIP-CALL-POL-002"),
        RawCaller("b", "SIP-CALL-POL-002"),
    )
    try:
        first, first_invite = device.answer(first_caller)
        second, second_invite = device.answer(second_caller)
        if replaces:
            device.bye(first_invite, first_caller)
            assert first.wait_request("BYE", timeout=5.0).call_id == first.call_id
            assert not second.requests("BYE")
        else:
            device.bye(second_invite, second_caller)
            second.wait_request("BYE", timeout=5.0)
            with pytest.raises(DeviceTimeout, match="expected a BYE from the device"):
                first.wait_request("BYE", timeout=0.3)
            assert second.requests("BYE")
    finally:
        first_caller.close()
        second_caller.close()
        device.close()


@pytest.mark.negative_control("SIP-CALL-IN-002")
def test_answer_json_refused_or_not_answering_the_ringing_call() -> None:
    """The case answers the ringing call with answer.json (CallKit.answer: DeviceClient.expect_ok
    on its reply) and then needs the caller's 200 (answered_as_told)."""
    client = DeviceClient("http://127.0.0.1:9/api", {"no_call": "1211"}, req="SIP-CALL-IN-002")
    client.expect_ok(_reply({"result": "ok"}, "answer"))
    # answer.json refused on a call that rings (the device does not see its own ringing call).
    with pytest.raises(ConformanceFailure) as failed:
        client.expect_ok(_reply({"result": "error", "msg": "1211"}, "answer"))
    assert failed.value.req == "SIP-CALL-IN-002" and "error 1211" in failed.value.observed
    assert call_checks.answered_as_told(True, 200)
    # answer.json ok, but the caller got a refusal, or a timeout (408) instead of the 200.
    for code in (486, 603, 408):
        assert not call_checks.answered_as_told(True, code)


# -- auto_call once the callee ended the attempt (call_checks.after_the_end_reading) -------------

CALLEE_URI = "sip:callee@127.0.0.1:41000"


def _redial(uri: str = CALLEE_URI) -> sip.SipRequest:
    """The device's next INVITE: a new Call-ID, to `uri`."""
    again = sip.parse(_invite(uri).to_bytes().replace(b"nc-out@", b"nc-again@"))
    assert isinstance(again, sip.SipRequest)
    return again


@pytest.mark.negative_control("SIP-CALL-LIFE-001", "SIP-CALL-LIFE-002")
def test_auto_call_after_a_refused_or_timed_out_attempt_of_no_reading() -> None:
    """The series test_call_lifecycle.py samples from the callee's 486/603 (LIFE-001) or the
    end of Timer B (LIFE-002) until a new INVITE or the window's end, as (call_status,
    bitrate) pairs."""
    first = _invite(CALLEE_URI)
    good = [
        ([("out", 0.0), ("error", 0.0), ("error", 0.0)], _redial(), "redial_error"),
        ([("out", 0.0), ("out", 0.0)], _redial(), "redial_at_once"),
        ([("calling", 0.0), ("reconnecting", 0.0)], None, "no_redial_reconnecting"),
        ([("out", 0.0), ("idle", 0.0)], None, "no_redial_idle"),
    ]
    for samples, again, name in good:
        reading, _ = call_checks.after_the_end_reading(samples, first, again)
        for req in ("SIP-CALL-LIFE-001", "SIP-CALL-LIFE-002"):
            assert _listed(req, reading) == name
    # Recorded series: the refused call still claimed at the window's end; no call shown but
    # the bitrate still up; a state the page does not list, at the end or before a re-dial;
    # nothing sampled.
    bad = [
        ([("out", 0.0), ("out", 0.0)], None),
        ([("out", 0.0), ("idle", 350.0)], None),
        ([("out", 0.0), ("failed", 0.0)], None),
        ([("out", 0.0), ("busy", 0.0)], _redial()),
        ([], None),
    ]
    for samples, again in bad:
        assert call_checks.after_the_end_reading(samples, first, again)[0] is None
    # A re-dial to the default port instead of sip_out_url's.
    reading, seen = call_checks.after_the_end_reading(
        [("out", 0.0), ("error", 0.0)], first, _redial("sip:callee@127.0.0.1")
    )
    assert reading is None and "(sip_out_url)" in seen


# -- answer.json on an established outgoing call (call_checks.changes_call) ----------------------


PEER, DEVICE = (LOOPBACK, 41000), (LOOPBACK, 5060)


def _after_answer_json(invite: sip.SipRequest, *methods: str) -> None:
    """A scripted device sends `methods` in the dialog of `invite` to a RawCallee right after
    answer.json, and the case's check runs on what the callee got: RawCallee.none_for with
    call_checks.changes_call over the window (shortened here)."""
    callee = RawCallee("callee", "SIP-CALL-ANS-002")
    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.bind((LOOPBACK, 0))
    try:
        since = time.monotonic()
        for cseq, method in enumerate(methods, 1):
            request = sip.make_request(
                method,
                f"sip:callee@{callee.address}",
                sent_by=device.getsockname(),
                from_uri=invite.from_addr.uri,
                from_tag="dev",
                to_uri=invite.to_addr.uri,
                to_tag="callee",
                call_id=invite.call_id or "",
                cseq=cseq,
            )
            device.sendto(request.to_bytes(), (callee.host, callee.port))
        last = methods[-1]
        callee.wait_for(lambda r: r.is_request_of(last), 5.0, expected=f"the device's {last}")
        callee.none_for(
            lambda record: call_checks.changes_call(record, since),
            0.2,
            expected="the established outgoing call left as it was",
        )
    finally:
        callee.close()
        device.close()


@pytest.mark.negative_control("SIP-CALL-ANS-002")
def test_answer_json_touching_an_outgoing_call() -> None:
    """The case waits UNTOUCHED_WINDOW at the callee for any request call_checks.changes_call
    counts, then needs call_status still a call in progress. Recorded: the device's ACK sent
    again (no change) passes; answer.json taken as hangup.json (a BYE) or as a new offer
    (a re-INVITE) fails, as does the call shown ended."""
    invite = _invite(CALLEE_URI)
    _after_answer_json(invite, "ACK")
    for change in ("BYE", "INVITE"):
        with pytest.raises(DeviceFailure, match="left as it was"):
            _after_answer_json(invite, "ACK", change)
    assert call_checks.answer_outgoing_reading(True) == "ok_unchanged"
    assert _listed("SIP-CALL-ANS-002", call_checks.answer_outgoing_reading(False)) == "refused"
    assert "out" in call_checks.IN_PROGRESS
    for shown in ("idle", "close", "error"):  # the call dropped by answer.json
        assert shown not in call_checks.IN_PROGRESS
    # A request counts from answer.json on: the same BYE before it is not this check's.
    bye = invite.to_bytes().replace(b"INVITE sip:", b"BYE sip:").replace(b"1 INVITE", b"2 BYE")
    assert call_checks.changes_call(WireRecord(5.0, "RX", "udp", PEER, DEVICE, bye), 4.0)
    assert not call_checks.changes_call(WireRecord(3.0, "RX", "udp", PEER, DEVICE, bye), 4.0)


# -- several calls on one account (call_checks.concurrent_bitrate_reading) -----------------------


@pytest.mark.negative_control("SIP-CALL-NUM-002")
def test_concurrent_call_bitrate_of_no_reading() -> None:
    """status.json's median bitrate while two calls stream (1000 and 500 kbit/s sent), and once
    the second caller's BYE ended its call (1000 sent on the first)."""
    sent = {"oldest_call": 1000.0, "newest_call": 500.0, "sum": 1500.0}
    for both, name in ((1480.0, "sum"), (985.0, "oldest_call"), (520.0, "newest_call")):
        reading = call_checks.concurrent_bitrate_reading(both, sent, 990.0, 1000.0)
        assert _listed("SIP-CALL-NUM-002", reading) == name
    # Recorded medians: the ended call's media still counted after its BYE; the second call's
    # media counted twice; kbyte/s; the surviving call's meter stopped with the other call.
    bad = [(1490.0, 1495.0), (2000.0, 990.0), (187.0, 124.0), (1480.0, 0.0)]
    for both, alone in bad:
        assert call_checks.concurrent_bitrate_reading(both, sent, alone, 1000.0) is None
