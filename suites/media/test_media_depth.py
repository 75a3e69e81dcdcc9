"""Media cases that look past the frame count: reordering, a foreign SSRC, packetization-mode 0,
parameter sets only in SDP, a resolution change, an H.265 offer, and recovery after a loss burst.

Counters other than the bitrate come from the reference extension reference/media.json
(capability reference_extensions): a case that judges decoding needs it, a case that judges the
SDP answer, status.json's bitrate or what the device sends back (a keyframe request) does not.
Each stream is 2-4 s of 640x360 30 fps 1000 kbit/s.
"""

from __future__ import annotations

import base64
import contextlib
import socket
from statistics import median

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.media.checks import decoded_all_problem
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.peers.sdp_checks import mode_0_answer_problem
from decoder_conformance.waiting import WaitTimeout, poll_until
from wire import sdp
from wire.h264 import NAL_TYPE_PPS, NAL_TYPE_SPS, split_annexb
from wire.rtp import RTCP_PSFB, RtcpUnknown, parse_rtcp

#: RFC 4585 §6.3.1 (PLI) and RFC 5104 §4.3.1 (FIR): FMT values of payload-specific feedback.
FMT_PLI, FMT_FIR = 1, 4
#: A burst of loss: every packet of BURST_FRAMES frames from frame BURST_AT (keyframes every 30).
BURST_AT, BURST_FRAMES = 40, 5


def media_stats(media, account_id):
    reply = media.api.call("reference/media", {"id": str(account_id)})
    return media.api.expect_ok(reply, data_schema="ReferenceMediaOk")


def decoded(media, call, frames, what):
    """media.json once `frames` frames are decoded (fails naming `what` when they never are)."""
    try:
        return poll_until(
            lambda: media_stats(media, call.account.id),
            lambda s: s["frames_decoded"] >= frames,
            timeout=media.timeout,
            expected=f"{frames} frames decoded",
        )
    except WaitTimeout as exc:
        raise ConformanceFailure(
            media.api.req, f"{frames} frames decoded ({what})", str(exc)
        ) from None


def still_up(media, call, why):
    status = media.api.status(call.account.id)
    if status.call not in media.ESTABLISHED or call.leg.requests("BYE"):
        raise ConformanceFailure(
            media.api.req,
            f"the call kept up {why}",
            f"call_status {status.call}; {call.leg.flow()}",
        )


# -- reordering ----------------------------------------------------------------------------------


@pytest.mark.req("SIP-MED-REORD-001")
@pytest.mark.needs("reference_extensions")
def test_reordered_packets_are_decoded_in_order(media):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 3.0)
    call = media.call()
    sender = media.stream(call, stream, reorder=0.3, seed=5)
    sent = sender.wait(stream.duration + media.timeout)
    # A packet ahead of the first one received cannot be told from a late one: not swapped.
    first = sender.packets[0].sequence_number == sender.first_sequence
    if sent.packets_reordered == 0 or sent.packets_dropped or not first:
        raise NotExercised(f"harness: the reorder pattern swapped nothing or the first ({sent})")
    stats = decoded(media, call, sent.frames_sent, f"{sent.packets_reordered} swaps")
    # Every packet used: a decoder that drops a late packet conceals the frame and still counts it.
    seen = {k: stats[k] for k in ("packets", "late", "fu_dropped", "corrupt", "decode_errors")}
    wanted = {"packets": sent.packets_sent, "late": 0, "fu_dropped": 0, "corrupt": 0}
    wanted["decode_errors"] = 0
    if seen != wanted or stats["frames_decoded"] != sent.frames_sent:
        raise ConformanceFailure(
            media.api.req,
            f"all {sent.packets_sent} packets used ({sent.packets_reordered} swapped with their"
            f" neighbour) and {sent.frames_sent} frames decoded: {wanted}",
            f"{seen}, frames_decoded {stats['frames_decoded']}",
        )


# -- a second SSRC -------------------------------------------------------------------------------


@pytest.mark.req("SIP-MED-SSRC-001")
def test_foreign_ssrc_is_not_metered(media):
    seconds, joins = 4.0, 15  # the second source sends every frame from 0.5 s on
    call = media.call()
    recorder = media.record(call)
    sender = media.stream(
        call,
        EncodedStream.cbr(640, 360, 30, 1000, seconds),
        other_ssrc_from=joins,
        other_ssrc_mode="add",
    )
    sender.wait(seconds + media.timeout)
    recorder.stop()
    start, end = sender.started_at + 2.5, sender.started_at + seconds
    one = sender.sent_kbps(start, end, ssrc=sender.ssrc)
    other = sender.sent_kbps(start, end, ssrc=sender.other_ssrc)
    reported = recorder.between(start, end)
    if other < 0.5 * one or len(reported) < 4:
        raise NotExercised(
            f"harness: second source {other:.0f} vs {one:.0f} kbit/s, {len(reported)} samples"
        )
    value = median(reported)
    if value <= 0:
        raise NotExercised(f"the bitrate never moved while both sources sent: {reported}")
    if value >= 1.5 * one:
        raise ConformanceFailure(
            media.api.req,
            f"status.json bitrate of one source (~{one:.0f} kbit/s; below 1.5x = {1.5 * one:.0f})"
            f" while a second SSRC sends {other:.0f} kbit/s into the same port",
            f"median {value:.0f} kbit/s over the last 1.5 s ({reported})",
        )


# -- H.264 packetization and parameter sets ------------------------------------------------------

MODE_0_FMTP = "profile-level-id=42e01f;packetization-mode=0"


@pytest.mark.req("SIP-MED-H264-001")
def test_packetization_mode_0_offer_is_accepted(media):
    call = media.call(fmtp=MODE_0_FMTP, payload_type=97)
    index, _ = sdp.find_h264_video(call.answer)
    fmtp = call.answer.media[index].fmtp(call.payload_type)
    problem = mode_0_answer_problem(97, call.payload_type, fmtp)
    if problem is not None:
        raise ConformanceFailure(
            media.api.req,
            "the answer keeps payload type 97 with packetization-mode 0 (absent or 0)",
            problem,
        )


@pytest.mark.req("SIP-MED-H264-001")
@pytest.mark.needs("reference_extensions")
def test_packetization_mode_0_stream_is_decoded(media):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 3.0, slice_max_size=1100)
    call = media.call(fmtp=MODE_0_FMTP)
    sender = media.stream(call, stream, sender_options={"packetization_mode": 0})
    sent = sender.wait(stream.duration + media.timeout)
    kinds = {p.data[12] & 0x1F for p in sender.sent_packets()}
    if not kinds or not kinds <= set(range(1, 24)):
        raise NotExercised(f"harness: mode 0 sent NAL unit types {sorted(kinds)}, not 1-23 only")
    stats = decoded(media, call, sent.frames_sent, "single NAL unit packets")
    problem = decoded_all_problem(stats, sent.frames_sent, sent.packets_sent)
    if problem is not None:
        raise ConformanceFailure(
            media.api.req,
            f"{sent.frames_sent} frames decoded from {sent.packets_sent} single NAL unit packets",
            problem,
        )


def sprop_fmtp(parameter_sets):
    """An fmtp naming the stream's own profile and level and carrying its parameter sets."""
    sps = next(n for n in parameter_sets if n[0] & 0x1F == NAL_TYPE_SPS)
    sprop = ",".join(base64.b64encode(n).decode() for n in parameter_sets)
    return f"profile-level-id={sps[1:4].hex()};packetization-mode=1;sprop-parameter-sets={sprop}"


@pytest.mark.req("SIP-MED-H264-002")
@pytest.mark.needs("reference_extensions")
def test_parameter_sets_only_in_sprop_are_used(media):
    full = EncodedStream.cbr(640, 360, 30, 1000, 3.0)
    parameter_sets = full.parameter_sets()
    stream = full.without_parameter_sets()
    in_band = {n[0] & 0x1F for f in stream.frames for n in split_annexb(f.data)}
    types = sorted(n[0] & 0x1F for n in parameter_sets)
    if types != [NAL_TYPE_SPS, NAL_TYPE_PPS] or in_band & {NAL_TYPE_SPS, NAL_TYPE_PPS}:
        raise NotExercised(f"harness: parameter sets {types}, NAL types left in band {in_band}")
    call = media.call(fmtp=sprop_fmtp(parameter_sets))
    sent = media.stream(call, stream).wait(stream.duration + media.timeout)
    stats = decoded(media, call, sent.frames_sent, "SPS and PPS only in sprop-parameter-sets")
    size = (stats["width"], stats["height"])
    if stats["frames_decoded"] != sent.frames_sent or size != (640, 360):
        raise ConformanceFailure(
            media.api.req,
            f"{sent.frames_sent} frames decoded at 640x360",
            f"frames_decoded {stats['frames_decoded']} at {size}",
        )


@pytest.mark.req("SIP-MED-RES-001")
@pytest.mark.needs("reference_extensions")
def test_resolution_change_is_decoded_on(media):
    stream = EncodedStream.resolution_change((640, 360), (480, 270), 1.5, 3.0)
    call = media.call()
    sent = media.stream(call, stream).wait(stream.duration + media.timeout)
    stats = decoded(media, call, sent.frames_sent, "640x360, then 480x270 from an IDR at 1.5 s")
    size = (stats["width"], stats["height"])
    if stats["frames_decoded"] != sent.frames_sent or size != (480, 270):
        raise ConformanceFailure(
            media.api.req,
            f"{sent.frames_sent} frames decoded, ending at 480x270",
            f"frames_decoded {stats['frames_decoded']}, size {size}",
        )


# -- codec negotiation -----------------------------------------------------------------------------


def h265_offer(media, caller):
    offer = media.offer(caller, fmtp=None)
    video = offer.media[0]
    video.remove_attribute("rtpmap")
    video.add_attribute("rtpmap", sdp.RtpMap(96, sdp.ENCODING_H265, 90000).to_string())
    return offer


@pytest.mark.req("SIP-MED-CODEC-001")
def test_h265_only_offer_is_not_accepted(media):
    account = media.sip_account(call_cfg={"auto_aws": "true"})
    caller = media.raw_caller()
    offer = h265_offer(media, caller)
    leg = caller.call(account, offer.to_bytes())
    final = leg.response(timeout=media.timeout)
    if not final.is_success:
        return  # refused (488 or another final answer: SIP-CALL-SDP-002 records which)
    leg.ack()
    text = final.body.decode(errors="replace")
    try:
        answer = sdp.parse(final.body)
    except ValueError as exc:
        raise ConformanceFailure(
            media.api.req, "a 200 carries an SDP answer (RFC 3264 §6)", f"{exc}: {text}"
        ) from None
    finally:
        leg.bye()
    accepted = [m.m_value() for m in answer.media if m.port != 0]
    if accepted:
        raise ConformanceFailure(
            media.api.req,
            "an H.265-only offer refused, or answered with the video at port 0",
            f"200 accepting {accepted}:\n{text}",
        )


# -- loss bursts -----------------------------------------------------------------------------------


def burst_sender(media, call, stream):
    """A sender of `stream` that loses every packet of the burst's frames."""
    return media.stream(call, stream, loss_burst=(BURST_AT, BURST_FRAMES))


def burst_lost(sender):
    """The frames the burst dropped (a harness check: all of their packets)."""
    lost = {p.frame for p in sender.packets if p.dropped}
    if lost != set(range(BURST_AT, BURST_AT + BURST_FRAMES)):
        raise NotExercised(f"harness: the burst dropped frames {sorted(lost)}")
    return lost


@pytest.mark.req("SIP-MED-LOSS-002")
@pytest.mark.needs("reference_extensions")
def test_decoding_resumes_after_a_loss_burst(media):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 3.0)
    call = media.call()
    sender = burst_sender(media, call, stream)
    sender.wait(stream.duration + media.timeout)
    burst_lost(sender)
    keyframe = min(i for i in stream.keyframe_indices if i >= BURST_AT + BURST_FRAMES)
    # Frames hit by the burst (up to the next IDR) may be concealed or skipped; the rest must be.
    wanted = BURST_AT + (len(stream.frames) - keyframe)
    decoded(media, call, wanted, f"{BURST_AT} before the burst, all from the IDR at {keyframe}")
    still_up(media, call, "after a loss burst")


def feedback_socket(caller):
    """A UDP socket for the offer's RTCP: port + 1 when free (RFC 3550 §11), else any port; the
    offer names it with a=rtcp (RFC 3605), so either way the device is told where RTCP goes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((caller.host, caller.media_port + 1))
    except OSError:
        sock.bind((caller.host, 0))
    return sock


def read_waiting(sock):
    """Datagrams waiting on `sock`, read without blocking."""
    found = []
    while True:
        try:
            found.append(sock.recvfrom(65535, socket.MSG_DONTWAIT)[0])
        except (BlockingIOError, InterruptedError):
            return found
        except OSError:
            return found


def keyframe_request(data, media_ssrc):
    """'PLI' or 'FIR' when `data` is RTCP asking for a keyframe of `media_ssrc`, else None."""
    try:
        packets = parse_rtcp(data)
    except ValueError:
        return None
    for packet in packets:
        if not isinstance(packet, RtcpUnknown) or packet.type != RTCP_PSFB:
            continue
        body = packet.body
        if packet.count == FMT_PLI and int.from_bytes(body[4:8], "big") == media_ssrc:
            return "PLI"
        # FIR: the media SSRC is in each FCI entry (8 octets) after the two SSRC fields.
        entries = [body[i : i + 4] for i in range(8, len(body) - 7, 8)]
        if packet.count == FMT_FIR and media_ssrc.to_bytes(4, "big") in entries:
            return "FIR"
    return None


@pytest.mark.req("SIP-MED-LOSS-003")
def test_keyframe_requested_after_a_loss_burst(media):
    stream = EncodedStream.cbr(640, 360, 30, 1000, 2.0)
    rtcp = None

    def avpf_offer(caller, offer):
        nonlocal rtcp
        rtcp = feedback_socket(caller)
        video = offer.media[0]
        video.proto = sdp.PROTO_RTP_AVPF
        for feedback in ("nack pli", "ccm fir"):
            video.add_attribute("rtcp-fb", f"96 {feedback}")
        video.add_attribute("rtcp", str(rtcp.getsockname()[1]))

    try:
        try:
            call = media.call(edit_offer=avpf_offer)
        except ConformanceFailure as exc:
            raise NotExercised(f"the device did not take an RTP/AVPF offer: {exc}") from None
        sender = burst_sender(media, call, stream)
        sender.wait(stream.duration + media.timeout)
        burst_lost(sender)
        burst_t = min(p.t for p in sender.packets if p.dropped)
        seen = []

        def requests():
            for where, sock in (("RTCP port", rtcp), ("RTP port", call.caller.media)):
                seen.extend((where, data) for data in read_waiting(sock))
            seen.extend(("sender", r.data) for r in sender.received() if r.t >= burst_t)
            found = [
                f"{kind} at the {where}"
                for where, data in seen
                if (kind := keyframe_request(data, sender.ssrc))
            ]
            infos = [r for r in call.leg.requests("INFO") if b"picture_fast_update" in r.body]
            return found + [f"SIP INFO picture_fast_update ({len(infos)})"] * bool(infos)

        try:
            found = poll_until(
                requests,
                bool,
                timeout=media.timeout,
                expected="an RTCP PLI/FIR for the stream or a SIP INFO picture_fast_update",
            )
        except WaitTimeout:
            raise ConformanceFailure(
                media.api.req,
                f"a keyframe request within {media.timeout:g} s of a burst of loss (frames"
                f" {BURST_AT}-{BURST_AT + BURST_FRAMES - 1}): RTCP PLI or FIR for SSRC"
                f" {sender.ssrc:#010x} or SIP INFO picture_fast_update",
                f"{len(seen)} datagrams back ({[w for w, _ in seen][:10]}), no keyframe request;"
                f" flow: {call.leg.flow()}",
            ) from None
        if not found:  # pragma: no cover - poll_until returns only an accepted value
            raise NotExercised("harness invariant: the poll returned no keyframe request")
    finally:
        if rtcp is not None:
            with contextlib.suppress(OSError):
                rtcp.close()
