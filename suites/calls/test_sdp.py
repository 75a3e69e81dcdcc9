"""SDP of incoming calls: delayed offer, no H.264, payload type echo, receive-only answer."""

from __future__ import annotations

import pytest

from wire import sdp

VP8_ONLY = (
    "v=0\r\no=conformance 4242 1 IN IP4 {host}\r\ns=conformance\r\nc=IN IP4 {host}\r\n"
    "t=0 0\r\nm=video {port} RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\na=sendonly\r\n"
)


@pytest.mark.req("SIP-CALL-SDP-001")
def test_bodyless_invite_gets_an_offer_and_the_ack_answers_it(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "1"})
    caller = raw_caller()
    leg = caller.call(account, None)
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, (
        f"[{api.req}] expected 200 to a bodyless INVITE (RFC 3261 §13.2.1: the offer goes in "
        f"the 2xx), observed {ok.status_code} {ok.reason}; flow: {leg.flow()}"
    )
    offer = calls.sdp_of(ok.body, ok.content_type or "", "the 200 to a bodyless INVITE")
    calls.receive_only_h264(offer, "the offer in the 200", account.sip.host)
    answer = sdp.answer_video_recvonly(offer, caller.host, caller.media_port)
    index, _ = calls.video(answer, "our answer")
    answer.media[index].direction = sdp.DIRECTION_SENDONLY  # we are the video source
    leg.ack(answer.to_bytes())
    calls.status_is(account, "calling", why="the ACK carried the SDP answer")
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
    calls.status_is(account, "idle", why="the caller hung up")


@pytest.mark.req("SIP-CALL-SDP-002")
def test_audio_only_offer_from_pjsua_gets_488(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "1"})
    peer = pjsua("caller")
    handle = peer.call(account.uri, video=False)
    final = calls.final(peer, handle)
    assert final.message.status_code == 488, (
        f"[{api.req}] expected 488 Not Acceptable Here to an audio-only offer, observed "
        f"{final.first_line!r}; flow: {calls.flow(peer, handle)}"
    )
    calls.state(peer, handle, "DISCONNECTED")
    calls.status_now(account, "idle", "a refused offer never connects")


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
def test_offer_without_h264_video_gets_488(api, calls, sip_account, raw_caller, offer):
    account = sip_account(call_cfg={"auto_aws": "1"})
    caller = raw_caller()
    body = offer(caller.host, caller.media_port) or caller.offer(video=False)
    leg = caller.call(account, body)
    final = leg.response(timeout=calls.timeout)
    assert final.status_code == 488, (
        f"[{api.req}] expected 488 to an offer without H.264 video, observed "
        f"{final.status_code} {final.reason}; flow: {leg.flow()}"
    )
    calls.status_now(account, "idle", "a refused offer never connects")


@pytest.mark.req("SIP-CALL-SDP-003")
@pytest.mark.parametrize("payload_type", [96, 109, 127])
def test_answer_keeps_the_offered_payload_type(api, calls, sip_account, pjsua, payload_type):
    account = sip_account(call_cfg={"auto_aws": "1"})
    peer = pjsua("caller")
    handle = peer.call(account.uri, h264_pt=payload_type)
    ok = calls.final(peer, handle)
    assert ok.message.status_code == 200, (
        f"[{api.req}] expected 200 to an H.264 offer, observed {ok.first_line!r}; "
        f"flow: {calls.flow(peer, handle)}"
    )
    answer = calls.sdp_of(ok.message.body, ok.message.content_type or "", "the 200")
    calls.receive_only_h264(answer, "the answer", account.sip.host, payload_type)
    # pjsua2 cannot keep a call whose audio the device rejects: it ends it with BYE itself.
    calls.state(peer, handle, "DISCONNECTED")
    calls.status_is(account, "idle", why="the pjsua2 caller ended the call")


@pytest.mark.req("SIP-CALL-SDP-003")
def test_answer_keeps_payload_type_109_for_a_plain_caller(api, calls, sip_account, raw_caller):
    account = sip_account(call_cfg={"auto_aws": "1"})
    caller = raw_caller()
    leg = caller.call(account, caller.offer(payload_type=109))
    ok = leg.response(timeout=calls.timeout)
    assert ok.status_code == 200, f"[{api.req}] expected 200, observed {ok.status_code}"
    answer = calls.sdp_of(ok.body, ok.content_type or "", "the 200")
    calls.receive_only_h264(answer, "the answer", account.sip.host, 109)
    leg.ack()
    calls.status_is(account, "calling", why="the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.status_is(account, "idle", why="the caller hung up")


def _check_answer_shape(api, calls, offer, answer, host):
    """Same m-lines in the same order (RFC 3264 §6); video accepted recvonly, the rest port 0."""
    offered = [m.media for m in offer.media]
    answered = [m.media for m in answer.media]
    assert answered == offered, (
        f"[{api.req}] expected one answer m-line per offered one, in order: {offered}; "
        f"observed {answered}"
    )
    calls.receive_only_h264(answer, "the answer", host)
    others = [m.m_value() for m in answer.media if m.media != "video" and m.port != 0]
    assert not others, f"[{api.req}] expected every non-video m-line with port 0, observed {others}"


@pytest.mark.req("SIP-CALL-SDP-004")
@pytest.mark.parametrize("video_first", [False, True], ids=["audio-video", "video-audio"])
def test_answer_receives_video_and_rejects_other_media(
    api, calls, sip_account, raw_caller, video_first
):
    account = sip_account(call_cfg={"auto_aws": "1"})
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
    _check_answer_shape(api, calls, sdp.parse(body), answer, account.sip.host)
    leg.ack()
    calls.status_is(account, "calling", why="the 200 was ACKed")
    leg.bye()
    leg.response(200, method="BYE", timeout=calls.timeout)
    calls.status_is(account, "idle", why="the caller hung up")


@pytest.mark.req("SIP-CALL-SDP-004")
def test_answer_to_pjsua_offer_receives_video_only(api, calls, sip_account, pjsua):
    account = sip_account(call_cfg={"auto_aws": "1"})
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
    _check_answer_shape(api, calls, offer, answer, account.sip.host)
    calls.state(peer, handle, "DISCONNECTED")
    calls.status_is(account, "idle", why="the pjsua2 caller ended the call")
