"""The reference decoder receives, filters, meters and decodes RTP H.264 of a real call."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from decoder_conformance.device import schema
from decoder_conformance.waiting import poll_until
from tests.reference_device.media.stream import (
    HEIGHT,
    WIDTH,
    Json,
    RtpStream,
    SentLog,
    bitrate,
    media_data,
    media_json,
    pace,
    place_call,
)
from tests.reference_device.sip.peer import LOCAL, Device, Dialog, Peer, device, respond
from wire import sdp, sip
from wire.rtp import ReceiverReport, RtpPacket, serialize_rtcp
from wire.rtp_tcp import frame as rfc4571_frame

TOLERANCE = 0.05


def _frames_decoded(dev: Device, count: int, timeout: float = 3.0) -> Json:
    return poll_until(
        lambda: media_data(dev),
        lambda d: d["frames_decoded"] == count,
        timeout=timeout,
        expected=f"frames_decoded == {count}",
    )


def test_bitrate_frames_and_filters_over_udp(
    tmp_path: Path, units: list[bytes], record_property: Callable[[str, object], None]
) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev, ack=False)
        stream = RtpStream()
        for n in range(5):  # before the ACK: counted early, never metered or decoded
            early = RtpPacket(
                96,
                (stream.seq - 10 + n) & 0xFFFF,
                stream.timestamp,
                stream.ssrc,
                b"\x09\x10" * 200,
                marker=True,
            )
            call.send(early.to_bytes())
        poll_until(
            lambda: media_data(dev)["early"],
            lambda n: n == 5,
            timeout=3.0,
            expected="5 early packets counted",
        )
        call.ack()

        hostile = {"wrong_ssrc": 0, "wrong_pt": 0, "rtcp": 0}
        rr = serialize_rtcp([ReceiverReport(ssrc=stream.ssrc)])

        def extra(packet: RtpPacket) -> list[bytes]:
            copies = []
            if packet.sequence_number % 10 == 0:
                other = RtpPacket(
                    96,
                    packet.sequence_number,
                    packet.timestamp,
                    stream.ssrc ^ 0x5A5A,
                    packet.payload,
                    packet.marker,
                )
                copies.append(other.to_bytes())
                hostile["wrong_ssrc"] += 1
            if packet.sequence_number % 10 == 5:
                copies.append(
                    RtpPacket(
                        97, packet.sequence_number, packet.timestamp, stream.ssrc, packet.payload
                    ).to_bytes()
                )
                hostile["wrong_pt"] += 1
            if packet.sequence_number % 50 == 0:
                copies.append(rr)
                hostile["rtcp"] += 1
            return copies

        readings: list[tuple[float, int]] = []
        fps: list[float] = []

        def probe(index: int, start: float) -> None:
            if index >= 45 and index % 6 == 0:  # from 1.5 s on
                before = time.monotonic()
                value = bitrate(dev)
                readings.append(((before + time.monotonic()) / 2, value))
            if index == 75:
                fps.append(media_data(dev)["fps"])

        log = SentLog()
        pace(units, stream, call.send, log, after_frame=probe, extra=extra)
        stopped = time.monotonic()

        data = _frames_decoded(dev, len(units))
        assert (data["width"], data["height"]) == (WIDTH, HEIGHT)
        assert data["bytes"] == log.total
        assert data["packets"] == len(log.entries)
        for name, count in hostile.items():
            assert data[name] == count, (name, data)
        assert data["early"] == 5
        counters = (
            "lost",
            "late",
            "malformed",
            "decode_errors",
            "waiting_keyframe",
            "decoder_overrun",
            "fu_dropped",
            "corrupt",
        )
        assert {k: data[k] for k in counters} == dict.fromkeys(counters, 0)
        assert (data["ssrc"], data["payload_type"], data["transport"]) == (stream.ssrc, 96, "udp")
        assert data["call"] == "active"
        assert not schema.errors(media_json(dev), "ReferenceMediaOk")
        assert fps and 27.0 <= fps[0] <= 33.0, fps

        errors = []
        for at, value in readings:
            sent = log.kbps_like_the_meter(at)
            errors.append((value - sent) / sent)
        worst = max(errors, key=abs)
        record_property("meter_errors", [f"{e:+.2%}" for e in errors])
        assert abs(worst) <= TOLERANCE, [f"{e:+.2%}" for e in errors]

        poll_until(
            lambda: bitrate(dev),
            lambda b: b == 0,
            timeout=3.0,
            expected="bitrate 0 after the media stopped",
        )
        assert time.monotonic() - stopped <= 3.0
        call.bye()
        dev.wait_state("call_status", "idle")
        ended = media_data(dev)
        assert ended["call"] == "ended"
        assert ended["frames_decoded"] == len(units) and ended["bytes"] == log.total
        assert not schema.errors(media_json(dev), "ReferenceMediaOk")
        call.close()


@pytest.mark.parametrize("fault", ["", "bitrate_bytes", "bitrate_stuck_after_bye"])
def test_bitrate_while_streaming_and_right_after_bye(
    tmp_path: Path, units: list[bytes], fault: str
) -> None:
    with device(tmp_path, faults=(fault,) if fault else ()) as dev:
        dev.account()
        call = place_call(dev)
        log = SentLog()
        pace(units[:60], RtpStream(), call.send, log)
        sent = log.kbps_like_the_meter(time.monotonic())
        reported = bitrate(dev)
        expected = sent / 8 if fault == "bitrate_bytes" else sent
        assert abs(reported - expected) <= TOLERANCE * expected, (reported, sent)
        truth = media_data(dev)["bitrate_kbps"]  # the meter itself, whatever status.json says
        assert abs(truth - sent) <= TOLERANCE * sent
        call.bye()
        after = bitrate(dev)
        if fault == "bitrate_stuck_after_bye":
            assert after >= 0.9 * reported > 0
        else:
            assert after == 0
        data = media_data(dev)
        assert data["call"] == "ended" and data["bitrate_kbps"] == 0 and data["fps"] == 0.0
        assert data["bytes"] == log.total
        assert media_data(dev) == data  # frozen
        call.close()


def test_five_percent_loss_keeps_the_call_and_decodes(tmp_path: Path, units: list[bytes]) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev)
        log = SentLog()
        pace(units[:45], RtpStream(), call.send, log, keep=lambda n: n % 20 != 0)
        sent = len(log.entries)
        data = poll_until(
            lambda: media_data(dev),
            lambda d: d["packets"] == sent,
            timeout=3.0,
            expected=f"{sent} packets received",
        )
        dropped = sent // 19
        assert dropped - 1 <= data["lost"] <= dropped + 1, data
        assert data["frames_decoded"] > 0
        assert dev.state("call_status") == "calling"
        call.bye()
        call.close()


def test_flood_is_counted_and_the_device_keeps_answering(
    tmp_path: Path, units: list[bytes], record_property: Callable[[str, object], None]
) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev)
        stream = RtpStream()
        pace(units[:15], stream, call.send, SentLog())
        before = _frames_decoded(dev, 15)

        stop = threading.Event()
        sent = {"garbage": 0, "big": 0}

        def flood() -> None:
            big_other = RtpPacket(96, 1, 0, stream.ssrc ^ 1, secrets.token_bytes(60000 - 12))
            while not stop.is_set() or sent["garbage"] < 2000:
                call.send(secrets.token_bytes(1 + secrets.randbelow(300)))
                sent["garbage"] += 1
                if sent["big"] < 50 and sent["garbage"] % 40 == 0:
                    if sent["big"] % 2:
                        call.send(big_other.to_bytes())
                    else:  # the call's own SSRC and type, in sequence, garbage payload
                        junk = RtpPacket(
                            96,
                            stream.seq,
                            stream.timestamp,
                            stream.ssrc,
                            secrets.token_bytes(60000 - 12),
                            marker=True,
                        )
                        stream.seq = (stream.seq + 1) & 0xFFFF
                        call.send(junk.to_bytes())
                    sent["big"] += 1

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            options = Peer()
            for _ in range(3):
                started = time.monotonic()
                assert dev.state("call_status") == "calling"
                assert time.monotonic() - started <= 1.0
                started = time.monotonic()
                options.send(Dialog(options, dev.sip_port()).make("OPTIONS"), dev.sip_port())
                options.response(200, "OPTIONS", timeout=1.0)
                assert time.monotonic() - started <= 1.0
            options.close()
        finally:
            stop.set()
            flooder.join()
        assert sent == {"garbage": sent["garbage"], "big": 50}

        def hostile(d: Json) -> int:
            return int(d["malformed"] + d["wrong_pt"] + d["wrong_ssrc"] + d["rtcp"] + d["late"])

        after = poll_until(
            lambda: media_data(dev),
            lambda d: hostile(d) > 0 and d["bytes"] > before["bytes"],
            timeout=3.0,
            expected="the flood counted",
        )
        seen = ("malformed", "wrong_pt", "wrong_ssrc", "rtcp", "late", "corrupt", "decode_errors")
        record_property("flood", {"sent": sent, "counted": {k: after[k] for k in seen}})
        # A junk unit can parse as an SPS or PPS and replace the real one until the next IDR
        # (1.5% of runs); so the sender answers as it would a PLI: a keyframe, then P frames.
        pace(units[:30], stream, call.send, SentLog())  # the decoder survived the garbage
        poll_until(
            lambda: media_data(dev)["frames_decoded"],
            lambda n: n > before["frames_decoded"],
            timeout=3.0,
            expected="frames decoded after the flood",
        )
        assert dev.state("call_status") == "calling"
        call.bye()
        call.close()


def test_tcp_media_rfc4571(tmp_path: Path, units: list[bytes]) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev, tcp=True)
        answer = call.answer
        assert answer.proto == "TCP/RTP/AVP"
        assert answer.get_attribute("setup") == "passive"
        assert answer.get_attribute("connection") == "new"
        call.media.connect(call.target)
        log = SentLog()
        pace(units[:30], RtpStream(), lambda d: call.media.sendall(rfc4571_frame(d)), log)
        data = _frames_decoded(dev, 30)
        assert data["transport"] == "tcp" and data["bytes"] == log.total
        assert bitrate(dev) > 0
        call.bye()
        call.close()


def test_tcp_offer_that_wants_us_to_connect_gets_488(tmp_path: Path) -> None:
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        peer = Peer()
        body = sdp.h264_offer(  # passive: the device would have to connect to us (RFC 4145)
            host=LOCAL,
            video_port=9,
            fmtp=None,
            direction=None,
            tcp=True,
            setup=sdp.SETUP_PASSIVE,
            username="cam",
            session_id=1,
            session_version=1,
        )
        Dialog(peer, dev.sip_port()).invite(body.to_bytes())
        peer.response(488)
        peer.close()


def test_fua_broken_fault_decodes_nothing(tmp_path: Path, units: list[bytes]) -> None:
    with device(tmp_path, faults=("fua_broken",)) as dev:
        dev.account()
        call = place_call(dev)
        log = SentLog()
        pace(units[:30], RtpStream(), call.send, log)
        data = poll_until(
            lambda: media_data(dev),
            lambda d: d["packets"] == len(log.entries),
            timeout=3.0,
            expected="every packet received",
        )
        assert data["frames_decoded"] == 0 and data["fu_dropped"] > 0, data
        assert bitrate(dev) > 0  # the API still answers, the meter still runs
        call.bye()
        call.close()


def test_media_json_ids_and_methods(tmp_path: Path) -> None:
    with device(tmp_path) as dev:
        assert media_json(dev, "7") == {"result": "error", "msg": "1202"}
        body = requests_get_without_id(dev)
        assert body == {"result": "error", "msg": "1201"}
        dev.account()
        none = media_json(dev)
        assert none["result"] == "ok" and none["data"]["call"] == "none"
        assert none["data"]["ssrc"] is None and none["data"]["transport"] is None
        assert media_json(dev, method="POST") == none
        assert media_json(dev, "x")["msg"] == "1203"


def requests_get_without_id(dev: Device) -> Json:
    body: Json = requests.get(f"{dev.process.api_url}/reference/media.json", timeout=5).json()
    return body


def test_answer_offers_the_payload_type_it_then_accepts(tmp_path: Path) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev, payload_type=109)
        assert call.answer.formats == ["109"]
        assert sdp.parse(call.ok.body).connection is not None
        assert call.target[0] == LOCAL
        call.send(RtpPacket(109, 1, 0, 1, b"\x09\x10").to_bytes())
        call.send(RtpPacket(96, 2, 0, 1, b"\x09\x10").to_bytes())
        data = poll_until(
            lambda: media_data(dev),
            lambda d: d["packets"] + d["wrong_pt"] == 2,
            timeout=3.0,
            expected="both packets counted",
        )
        assert (data["packets"], data["wrong_pt"], data["payload_type"]) == (1, 1, 109)
        call.bye()
        call.close()


def test_outgoing_call_counts_early_media_then_decodes(tmp_path: Path, units: list[bytes]) -> None:
    callee = Peer()
    with device(tmp_path) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", sip_out_url=f"cam@{LOCAL}:{callee.port}", auto_call="1")
        got = callee.request("INVITE")
        invite = got.message
        assert isinstance(invite, sip.SipRequest)
        offer = sdp.parse(invite.body)
        video = next(m for m in offer.media if m.media == "video")
        target = (LOCAL, video.port)
        media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        media.bind((LOCAL, 0))
        stream = RtpStream()
        for packet in stream.frame(units[0], 0)[:3]:  # before their 2xx and our ACK
            media.sendto(packet.to_bytes(), target)
        poll_until(
            lambda: media_data(dev)["early"],
            lambda n: n == 3,
            timeout=3.0,
            expected="3 early packets",
        )
        ok = sip.make_response(invite, 200, to_tag="callee")
        ok.headers.add("Contact", f"<sip:cam@{LOCAL}:{callee.port}>")
        answer = sdp.answer_video_recvonly(offer, LOCAL, media.getsockname()[1])
        answer.media[0].direction = "sendonly"
        ok.set_body(answer.to_bytes(), "application/sdp")
        callee.send(ok, got.source[1])
        callee.request("ACK")
        dev.wait_state("call_status", "calling")
        stream = RtpStream()
        pace(units[:15], stream, lambda d: media.sendto(d, target), SentLog())
        data = _frames_decoded(dev, 15)
        assert data["early"] == 3 and data["payload_type"] == 96
        assert bitrate(dev) > 0
        dev.ok("hangup", id="1")
        assert bitrate(dev) == 0  # BYE in flight: no established call any more
        bye = callee.request("BYE").message
        assert isinstance(bye, sip.SipRequest)
        respond(callee, bye, 200, got.source[1])
        dev.wait_state("call_status", "idle")
        media.close()
    callee.close()


def test_shutdown_during_a_call_closes_media_and_joins_the_decoder(
    tmp_path: Path, units: list[bytes]
) -> None:
    with device(tmp_path) as dev:
        dev.account()
        call = place_call(dev)
        pace(units[:10], RtpStream(), call.send, SentLog())
        _frames_decoded(dev, 10)
        assert dev.process.stop() == 0
        log = dev.process.log_path.read_text("utf-8")
        assert "decoder thread decoder-in-" in log and "joined" in log
        assert f"media port udp {LOCAL}:{call.target[1]} closed" in log
        assert "did not end" not in log
        call.close()
