"""SDP of incoming calls: delayed offer, no H.264, payload type echo, receive-only answer,
packetization-mode kept."""

from __future__ import annotations

import pytest

from decoder_conformance.peers.call_checks import unacceptable_offer_reading
from decoder_conformance.peers.sdp_checks import check_packetization_mode_kept, same_m_lines
from wire import sdp

VP8_ONLY = (
    "v=0\r\no=conformance 4242 1 IN IP4 {host}\r\ns=conformance\r\nc=IN IP4 {host}\r\n"
    "t=0 0\r\nm=video {port} RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\na=sendonly\r\n"
)


@pytest.mark.req("SIP-CALL-SDP-001")
def test_bodyless_invite_gets_an_offer_and_the_ack_answers_it(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = caller.call(account, None)
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to a bodyless INVITE (RFC 3261 §13.2.1: the offer goes in "
        f"the 2xx), observed {ok.status_code} {ok.reason}; flow: {leg.flow()}"
    )
    offer = calls.sdp_of(ok.body, ok.content_type or "", "the 200 to a bodyless INVITE")
    calls.usable_offer(offer, "the offer in the 200")
    answer = sdp.answer_video_recvonly(offer, caller.host, caller.media_port)
    index, _ = calls.h264_video(answer, "our answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # we are the video source
    leg.ack(answer.to_bytes())
    calls.established(account, why="the ACK carried the SDP answer")
    assert not leg.requests("BYE"), (
        f"[{api.req}] expected the call up after an ACK carrying the answer, observed the "
        f"device's BYE; flow: {leg.flow()}"
    )
    leg.bye()
    bye_ok = leg.response(method="BYE", timeout=calls.timeout)
    assert bye_ok.status_code == 200, (
        f"[{api.req}] expected the call still up (200 to our BYE), observed "
        f"{bye_ok.status_code} {bye_ok.reason}; flow: {leg.flow()}"
    )
    calls.ended(account, why="the caller hung up")


@pytest.mark.req("SIP-CALL-SDP-002")
def test_audio_only_offer_from_pjsua_gets_488(api, calls, sip_account, pjsua, readings):
    account = sip_account(call_cfg={"auto_aws": "true"})
    peer = pjsua("caller")
    handle = peer.call(account.uri, video=False)
    final = calls.final(peer, handle).message
    reading, seen = unacceptable_offer_reading(
        final.status_code, final.body, final.content_type or ""
    )
    seen += f"; flow: {calls.flow(peer, handle)}"
    if reading is None:
        readings.none_of("unacceptable_offer", seen)
    readings.follow("unacceptable_offer", reading, seen)
    if final.status_code < 300:
        peer.hangup(handle)  # a call without media: the caller ends it
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the offer was refused, or the media-less call ended")


@pytest.mark.parametrize(
    "offer",
    [
        pytest.param(lambda host, port: None, id="audio-only"),
        pytest.param(
            lambda host, port: VP8_ONLY.format(host=host, port=port).encode(), id="vp8-video-only"
        ),
    ],
)
@pytest.mark.req("SIP-CALL-SDP-002")
def test_offer_without_h264_video_gets_488(api, calls, sip_account, raw_caller, offer, *, readings):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    body = offer(caller.host, caller.media_port) or caller.offer(video=False)
    leg = caller.call(account, body)
    final = leg.response(timeout=calls.timeout)
    reading, seen = unacceptable_offer_reading(
        final.status_code, final.body, final.content_type or ""
    )
    seen += f"; flow: {leg.flow()}"
    if reading is None:
        readings.none_of("unacceptable_offer", seen)
    readings.follow("unacceptable_offer", reading, seen)
    if final.status_code < 300:
        leg.ack()
        leg.bye()  # a call without media: the caller ends it
        leg.response(method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the offer was refused, or the media-less call ended")


@pytest.mark.req("SIP-CALL-SDP-003")
@pytest.mark.parametrize("payload_type", [96, 109, 127])
def test_answer_keeps_the_offered_payload_type(api, calls, sip_account, pjsua, payload_type):
    account = sip_account(call_cfg={"auto_aws": "true"})
    peer = pjsua("caller")
    handle = peer.call(account.uri, h264_pt=payload_type)
    ok = calls.final(peer, handle)
    assert ok.message.status_code == 200, (
        f"[{api.req}] expected 200 to an H.264 offer, observed {ok.first_line!r}; "
        f"flow: {calls.flow(peer, handle)}"
    )
    answer = calls.sdp_of(ok.message.body, ok.message.content_type or "", "the 200")
    calls.accepted_video(answer, "the answer", payload_type)
    # pjsua2 cannot keep a call whose audio the device rejects: it ends it with BYE itself.
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the pjsua2 caller ended the call")


@pytest.mark.req("SIP-CALL-SDP-003")
def test_answer_keeps_payload_type_109_for_a_plain_caller(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer(payload_type=109))
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, f"[{api.req}] expected 200, observed {ok.status_code}"
    answer = calls.sdp_of(ok.body, ok.content_type or "", "the 200")
    calls.accepted_video(answer, "the answer", 109)
    leg.ack()
    calls.established(account, why="the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller hung up")


def _check_answer_shape(api, calls, offer, answer):
    """Same m-lines in the same order (RFC 3264 §6); the video accepted recvonly or inactive
    (§6.1). Rejecting the other media (port 0) is the decoder's choice, not checked here.
    Both checks are peers/sdp_checks' (same_m_lines, accepted_video)."""
    same_m_lines(api.req, offer, answer)
    calls.accepted_video(answer, "the answer")


@pytest.mark.req("SIP-CALL-SDP-004")
@pytest.mark.parametrize("video_first", [False, True], ids=["audio-video", "video-audio"])
def test_answer_receives_video_and_rejects_other_media(
    api, calls, sip_account, raw_caller, video_first
):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    body = caller.offer()
    if video_first:
        parsed = sdp.parse(body)
        parsed.media.reverse()
        body = parsed.to_bytes()
    leg = caller.call(account, body)
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, f"[{api.req}] expected 200, observed {ok.status_code}"
    answer = calls.sdp_of(ok.body, ok.content_type or "", "the 200")
    _check_answer_shape(api, calls, sdp.parse(body), answer)
    leg.ack()
    calls.established(account, why="the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller hung up")


@pytest.mark.req("SIP-CALL-SDP-004")
def test_answer_to_pjsua_offer_receives_video_only(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "true"})
    peer = pjsua("caller")
    handle = peer.call(account.uri)
    ok = calls.final(peer, handle)
    assert ok.message.status_code == 200, f"[{api.req}] expected 200, observed {ok.first_line!r}"
    offer_record = next(
        r
        for r in calls.seen(peer, handle)
        if r.direction == "TX" and r.is_request and r.message.method == "INVITE"
    )
    offer = sdp.parse(offer_record.message.body)
    answer = calls.sdp_of(ok.message.body, ok.message.content_type or "", "the 200")
    _check_answer_shape(api, calls, offer, answer)
    calls.state(peer, handle, "DISCONNECTED")
    calls.ended(account, why="the pjsua2 caller ended the call")


@pytest.mark.req("SIP-CALL-SDP-005")
def test_own_offer_in_the_200_is_shaped_for_a_decoder(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    leg = caller.call(account, None)
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to a bodyless INVITE, observed {ok.status_code} {ok.reason}; "
        f"flow: {leg.flow()}"
    )
    offer = calls.sdp_of(ok.body, ok.content_type or "", "the 200 to a bodyless INVITE")
    answer = sdp.answer_video_recvonly(offer, caller.host, caller.media_port)
    index, _ = calls.h264_video(answer, "our answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # we are the video source
    leg.ack(answer.to_bytes())
    calls.established(account, why="the ACK carried the SDP answer")
    calls.offer_shape(offer, "the device's offer in the 200", account.sip.host)
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller hung up")


@pytest.mark.req("SIP-CALL-SDP-006")
@pytest.mark.parametrize(
    "fmtp",
    [
        pytest.param(sdp.H264_DEFAULT_FMTP, id="mode-1"),
        pytest.param("profile-level-id=42e01f", id="mode-absent"),
        pytest.param(None, id="no-fmtp"),
    ],
)
def test_answer_keeps_the_offered_packetization_mode(api, calls, sip_account, raw_caller, fmtp):
    """RFC 6184 §8.2.2: the offered packetization-mode is kept or the payload type removed; an
    offer without one (mode 0) must not be answered with mode 1. Mode 0 spelt out is
    SIP-MED-H264-001's offer."""
    account = sip_account(call_cfg={"auto_aws": "true"})
    caller = raw_caller()
    body = sdp.h264_offer(
        host=caller.host,
        video_port=caller.media_port,
        audio_port=caller.media_port + 2,
        payload_type=109,
        fmtp=fmtp,
        session_id=4244,
        session_name="conformance",
    ).to_bytes()
    leg = caller.call(account, body)
    final = leg.response(timeout=calls.timeout)
    if final.status_code >= 300:
        # The offer refused: the payload type removed, which §8.2.2 allows (whether a decoder
        # must take this offer at all is SIP-CALL-SDP-004's and SIP-MED-H264-001's question).
        calls.ended(account, why=f"the offer was refused with {final.status_code}")
        return
    answer = calls.sdp_of(final.body, final.content_type or "", "the 200")
    leg.ack()
    check_packetization_mode_kept(api.req, sdp.parse(body), answer)
    calls.established(account, why="the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="the caller hung up")
