"""The parts of a gb28181 video call without a device process: the SDP rules of
``reference_device.sip.gb_call``, the PS path of the media session, and the active TCP port's
2022 retry rule."""

from __future__ import annotations

import asyncio
import socket

import pytest

from decoder_conformance.waiting import poll_until
from reference_device.faults import Faults
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import MediaSession
from reference_device.sip import gb_call
from reference_device.sip.media import CONNECT_RETRIES, CONNECT_SPACING, TcpActiveMediaPort
from tests.reference_device.media.stream import encode
from wire import gb_sdp, ps, sdp

DEVICE_ID = "34020000001140000001"
PLATFORM_ID = "34020000002000000001"


def _offer(text: str) -> sdp.SessionDescription:
    head = "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    return sdp.parse(head + text.replace("\n", "\r\n"))


# -- SDP ----------------------------------------------------------------------------------------


def test_ps_is_mapped_by_rtpmap_and_preferred_over_h264() -> None:
    offer = _offer(
        "m=video 4000 RTP/AVP 98 111\na=sendonly\na=rtpmap:98 H264/90000\n"
        "a=rtpmap:111 ps/90000\ny=0200000009\n"
    )
    media = gb_call.read_offer(offer)
    assert (media.payload_type, media.encoding, media.ssrc) == (111, "PS", 200000009)
    answer = gb_call.make_answer(
        offer, "127.0.0.1", 5000, device_id=DEVICE_ID, ssrc=None, session_id=1, session_version=2
    )
    video = answer.media[0]
    assert video.formats == ["111"] and video.direction == sdp.DIRECTION_RECVONLY
    assert gb_sdp.ssrc_line_of(answer) == "0200000009"


def test_h264_only_offer_is_taken() -> None:
    media = gb_call.read_offer(
        _offer("m=video 4000 RTP/AVP 98\na=sendonly\na=rtpmap:98 H264/90000\n")
    )
    assert (media.payload_type, media.encoding, media.ssrc) == (98, "H264", None)


@pytest.mark.parametrize(
    ("setup", "we_connect", "answered"),
    [
        (None, False, sdp.SETUP_PASSIVE),
        (sdp.SETUP_ACTIVE, False, sdp.SETUP_PASSIVE),
        (sdp.SETUP_ACTPASS, False, sdp.SETUP_PASSIVE),
        (sdp.SETUP_PASSIVE, True, sdp.SETUP_ACTIVE),
    ],
)
def test_tcp_roles_complement_the_offer(setup: str | None, we_connect: bool, answered: str) -> None:
    line = f"a=setup:{setup}\n" if setup else ""
    offer = _offer(f"m=video 4000 TCP/RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\n{line}")
    media = gb_call.read_offer(offer)
    assert media.tcp and media.we_connect is we_connect
    answer = gb_call.make_answer(
        offer,
        "127.0.0.1",
        5000,
        device_id=DEVICE_ID,
        ssrc="0200000001",
        session_id=1,
        session_version=2,
    )
    assert answer.media[0].get_attribute("setup") == answered


@pytest.mark.parametrize(
    "text",
    [
        "m=video 4000 RTP/AVP 96\na=recvonly\na=rtpmap:96 PS/90000\n",
        "m=video 4000 RTP/AVP 96\na=rtpmap:96 PS/90000\n",  # sendrecv by default
        "m=video 4000 RTP/AVP 96\na=sendonly\na=rtpmap:96 MP2T/90000\n",
        "m=video 4000 RTP/SAVP 96\na=sendonly\na=rtpmap:96 PS/90000\n",
        "m=video 4000 TCP/RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\na=setup:holdconn\n",
        "m=video 4000 RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\ny=12ab\n",
    ],
    ids=["recvonly", "sendrecv", "no-ps-h264", "savp", "holdconn", "bad-y"],
)
def test_offers_it_cannot_take(text: str) -> None:
    with pytest.raises(sdp.SdpNegotiationError):
        gb_call.read_offer(_offer(text))


def test_our_offer_and_the_answers_it_takes() -> None:
    offer = gb_call.make_offer(
        "127.0.0.1", 5000, device_id=DEVICE_ID, session_id=7, session_version=8
    )
    assert offer.origin.username == DEVICE_ID and offer.session_name == "Play"
    assert offer.media[0].m_value() == "video 5000 RTP/AVP 96 98"
    good = gb_sdp.gb_answer(offer, "127.0.0.1", 4000, username=PLATFORM_ID, ssrc="0200000003")
    media = gb_call.read_answer(good)
    assert (media.port, media.payload_type, media.encoding) == (4000, 96, "PS")
    assert media.ssrc == 200000003
    renumbered = sdp.parse(good.to_bytes().replace(b"96", b"97"))
    inactive = sdp.parse(good.to_bytes().replace(b"sendonly", b"inactive"))
    for bad in (renumbered, inactive):
        with pytest.raises(sdp.SdpNegotiationError):
            gb_call.read_answer(bad)


def test_own_ssrc_is_real_time_in_the_device_domain_and_avoids_the_offered_one() -> None:
    for _ in range(50):
        chosen = gb_sdp.GbSsrc.parse(gb_call.choose_ssrc(DEVICE_ID, avoid="0200000001"))
        assert chosen.is_standard and chosen.history is False
        assert chosen.domain_digits == "20000" and chosen.value != 200000001
    assert gb_sdp.GbSsrc.parse(gb_call.choose_ssrc("dec")).domain_digits == "00000"


# -- the PS path of a media session ------------------------------------------------------------


def test_ps_session_meters_ps_octets_drops_foreign_ssrc_and_counts_lost_frames() -> None:
    units = encode(1.0, 500)

    async def body() -> None:
        pool = DecoderPool()
        session = MediaSession("udp", Faults(), pool, name="ps")
        session.payload_type, session.encoding, session.expected_ssrc = 96, "PS", 42
        session.confirm()
        seq, sent, foreign, dropped_frame = 0, 0, 0, 10
        for index, unit in enumerate(units):
            pack = ps.mux(unit, 3000 * index)
            packets = ps.packetize(pack, seq, 3000 * index, 42, max_payload=1000)
            seq += len(packets)
            for number, packet in enumerate(packets):
                # A copy under another SSRC first: it must not lock the session.
                session.receive(ps.packetize(pack, number, 0, 43)[0].to_bytes())
                foreign += 1
                if index == dropped_frame and number == 0:
                    continue  # a loss inside frame 10 (a P frame)
                session.receive(packet.to_bytes())
                sent += len(packet.payload)
        view = session.view()
        assert (view["bytes"], view["wrong_ssrc"]) == (sent, foreign)
        assert view["ssrc"] == 42 and view["lost"] == 1 and view["corrupt"] == 1
        assert view["fu_dropped"] == 0 and view["waiting_keyframe"] == 0
        await asyncio.to_thread(
            poll_until,
            lambda: session.view()["frames_decoded"],
            lambda n: n == len(units) - 1,
            timeout=5.0,
            expected="every frame but the damaged one decoded",
        )
        session.close()
        await pool.close()

    asyncio.run(body())


# -- TCP, the decoder connecting --------------------------------------------------------------


def test_active_port_retries_one_second_apart_until_the_peer_listens() -> None:
    assert CONNECT_RETRIES >= 3 and CONNECT_SPACING >= 1.0  # GB/T 28181-2022 Annex D

    async def body() -> None:
        pool = DecoderPool()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))  # bound, not listening yet: connects are refused
        try:
            session = MediaSession("tcp", Faults(), pool, name="active")
            port = TcpActiveMediaPort("127.0.0.1", session, listener.getsockname())
            # The peer starts listening after the third attempt (at 0, 1 and 2 s) failed.
            asyncio.get_running_loop().call_later(2.5, listener.listen, 1)
            port.start()
            assert await asyncio.wait_for(port.connected, 6.0) is True
            gaps = [b - a for a, b in zip(port.attempts, port.attempts[1:], strict=False)]
            assert len(port.attempts) == 4, port.attempts
            assert all(gap >= CONNECT_SPACING for gap in gaps), gaps
            conn, source = listener.accept()
            conn.close()
            assert source[1] == port.port  # from the port the answer advertised
            port.close()
            assert port.closed and session.closed
        finally:
            listener.close()
            await pool.close()

    asyncio.run(body())
