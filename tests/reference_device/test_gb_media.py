"""Video calls of a gb28181 account of the reference decoder, driven by a raw SIP platform.

Both ways a GB28181 platform gets video into a decoder (2016/2022 §9.2.2): third-party call
control (a bodyless INVITE, our offer in the 200, the answer with its ``y=`` in the ACK) and an
INVITE carrying a ``sendonly`` offer; PS over RTP over UDP, over TCP with the decoder listening
and with the decoder connecting; the bitrate status.json reports against what the sender sent;
a foreign SSRC ignored; BYE; 486 and 488; the gb_ssrc_not_echoed fault.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import PAYLOAD_PS, Impairments, RtpSender
from decoder_conformance.waiting import PeerTimeout, WaitTimeout, poll_until
from tests.reference_device.media.stream import Json, media_data
from tests.reference_device.sip.peer import LOCAL, Device, Dialog, Peer, device
from wire import gb_sdp, sdp, sip

DEVICE_ID = "34020000001140000001"  # type code 114: a decoder
PLATFORM_ID = "34020000002000000001"
SSRC = "0200000001"
#: The device's meter averages over 2 s; readings are taken from WARMUP on.
METER_WINDOW = 2.0
WARMUP = 2.5
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def stream() -> EncodedStream:
    """5 s of 640x360 30 fps at 800 kbit/s, a keyframe every second."""
    return EncodedStream.cbr(640, 360, 30, 800, 5.0)


def gb_account(dev: Device) -> None:
    """Account 1: gb28181, the device ID as localAccount, auto-answer."""
    dev.ok("add", name="gb", type="gb28181")
    dev.ok("modify", id="1", localAccount=DEVICE_ID, localAddress=dev.binds()[0])
    dev.ok("modify_call_cfg", id="1", auto_aws="1")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    """One reference decoder with a gb28181 account for the module's cases."""
    with device(tmp_path_factory.mktemp("gb")) as running:
        gb_account(running)
        yield running


@pytest.fixture
def peer(dev: Device) -> Iterator[Peer]:
    """The platform's SIP socket; afterwards the device must be idle again (a call a failed case
    left up is hung up, so it cannot turn the next cases into 486, and reported)."""
    platform = Peer()
    try:
        yield platform
    finally:
        platform.close()
        try:
            dev.wait_state("call_status", "idle")
        except WaitTimeout:
            dev.call("hangup", id="1")
            dev.wait_state("call_status", "idle")
            raise


def platform_offer(
    port: int,
    *,
    ssrc: str | None = SSRC,
    payload_type: int = 96,
    tcp: bool = False,
    setup: str | None = None,
    direction: str = sdp.DIRECTION_SENDONLY,
) -> bytes:
    """A platform's INVITE offer: PS/90000 at `payload_type`, `y=` unless None."""
    return gb_sdp.gb_offer(
        LOCAL,
        port,
        username=PLATFORM_ID,
        direction=direction,
        payloads=(sdp.RtpMap(payload_type, "PS", 90000),),
        tcp=tcp,
        setup=setup,
        ssrc=ssrc,
        session_id=1,
        session_version=1,
    ).to_bytes()


@dataclass
class GbCall:
    """One call from the test's platform to the device."""

    dialog: Dialog
    ok: sip.SipResponse
    description: sdp.SessionDescription

    @property
    def video(self) -> sdp.MediaDescription:
        """The device's (first) video section."""
        return self.description.media[0]

    @property
    def address(self) -> tuple[str, int]:
        """Where the device receives media."""
        connection = self.description.media_connection(0)
        assert connection is not None
        return connection.address, self.video.port

    def bye(self, peer: Peer) -> None:
        """BYE and its 200."""
        self.dialog.bye()
        peer.response(200, "BYE")


def invite(dev: Device, peer: Peer, body: bytes, *, ack: bytes | None = b"") -> GbCall:
    """INVITE (with `body`, possibly empty), its 200, then the ACK (with `ack`) unless None."""
    dialog = Dialog(peer, dev.sip_port(), user=DEVICE_ID)
    dialog.invite(body)
    ok = peer.response(200)
    dialog.take_tag(ok)
    assert ok.headers.get("Contact"), f"the 200 has no Contact (RFC 3261 §12.1.1):\n{ok}"
    assert (ok.headers.get("Content-Type") or "").lower() == "application/sdp"
    call = GbCall(dialog, ok, sdp.parse(ok.body))
    if ack is not None:
        dialog.ack(ack)
    return call


def check_answer(call: GbCall, *, payload_type: int = 96, ssrc: str | None = SSRC) -> None:
    """The device's recvonly answer: o=<device ID>, c=127.0.0.1, PS at `payload_type`, y=."""
    description = call.description
    assert description.origin.username == DEVICE_ID
    assert description.connection is not None and description.connection.address == LOCAL
    video = call.video
    assert video.formats == [str(payload_type)]
    assert video.direction == sdp.DIRECTION_RECVONLY
    entry = video.rtpmap(payload_type)
    assert entry is not None and (entry.encoding_name, entry.clock_rate) == ("PS", 90000)
    if ssrc is not None:
        assert gb_sdp.ssrc_line_of(description) == ssrc
    if not video.proto.upper().startswith("TCP/"):
        assert video.get_attribute("setup") is None, "a=setup on UDP media"


def bitrate_readings(dev: Device, until: float) -> list[tuple[float, int]]:
    """(monotonic mid-time, status.json bitrate) about every 0.2 s until `until`."""
    readings: list[tuple[float, int]] = []

    def probe() -> float:
        before = time.monotonic()
        value = dev.state("bitrate")
        after = time.monotonic()
        readings.append(((before + after) / 2, int(value)))
        return after

    poll_until(
        probe,
        lambda now: now >= until,
        timeout=until - time.monotonic() + 5.0,
        expected="the end of the window",
        interval=0.2,
    )
    return readings


def check_bitrate(
    dev: Device, sent_kbps: Callable[[float, float], float], start: float, seconds: float
) -> None:
    """status.json bitrate from start+WARMUP to start+seconds against `sent_kbps(lo, hi)` over
    the meter's window before each reading: the median within 5 %, every reading within 10 %."""
    readings = bitrate_readings(dev, start + seconds)
    pairs = [
        (value, sent_kbps(t - METER_WINDOW, t)) for t, value in readings if t >= start + WARMUP
    ]
    assert len(pairs) >= 5, f"too few readings in the window: {readings}"
    ratios = [value / sent for value, sent in pairs]
    assert abs(statistics.median(ratios) - 1) <= TOLERANCE, f"reported/sent: {pairs}"
    assert all(abs(r - 1) <= 2 * TOLERANCE for r in ratios), f"reported/sent: {pairs}"


def started(sender: RtpSender) -> float:
    """When the sender's thread began sending (monotonic)."""
    at: float | None = poll_until(
        lambda: sender.started_at,
        lambda t: t is not None,
        timeout=2.0,
        expected="the RTP sender started",
        timeout_error=PeerTimeout,
    )
    assert at is not None
    return at


def wait_bitrate_zero(dev: Device) -> None:
    poll_until(
        lambda: dev.state("bitrate"),
        lambda b: b == 0,
        timeout=3.0,
        expected="bitrate 0 after the BYE",
    )


def frames_decoded(dev: Device, at_least: int) -> Json:
    return poll_until(
        lambda: media_data(dev),
        lambda d: d["frames_decoded"] >= at_least,
        timeout=5.0,
        expected=f"frames_decoded >= {at_least}",
    )


# --- an INVITE with a sendonly offer -------------------------------------------------------------


def test_offer_over_udp_echoes_ssrc_decodes_and_meters(
    dev: Device, peer: Peer, stream: EncodedStream
) -> None:
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((LOCAL, 0))
    try:
        call = invite(dev, peer, platform_offer(media.getsockname()[1], payload_type=97))
        check_answer(call, payload_type=97)
        dev.wait_state("call_status", "calling")
        # A second source with a foreign SSRC sends alongside from frame 0 on: never metered.
        sender = RtpSender(
            stream,
            call.address,
            97,
            ssrc=int(SSRC),
            payload=PAYLOAD_PS,
            impairments=Impairments(other_ssrc_from=0, other_ssrc_mode="add"),
        )
        with sender:
            check_bitrate(
                dev,
                lambda lo, hi: sender.sent_kbps(lo, hi, ssrc=sender.ssrc),
                started(sender),
                4.5,
            )
            sender.wait(3.0)
        data = frames_decoded(dev, len(stream.frames))
        assert data["frames_decoded"] == len(stream.frames), data
        assert (data["width"], data["height"]) == (640, 360)
        assert data["ssrc"] == int(SSRC) and data["payload_type"] == 97
        assert data["wrong_ssrc"] == len(sender.sent_packets(sender.other_ssrc)), data
        assert data["bytes"] == sender.payload_bytes(0, float("inf"), ssrc=sender.ssrc)
        call.bye(peer)
        wait_bitrate_zero(dev)
        assert dev.state("call_status") == "idle"
    finally:
        media.close()


def test_offer_without_y_gets_an_ssrc_of_the_device(dev: Device, peer: Peer) -> None:
    call = invite(dev, peer, platform_offer(40000, ssrc=None))
    check_answer(call, ssrc=None)
    chosen = gb_sdp.gb_ssrc_of(call.description)
    assert chosen is not None and chosen.is_standard and not chosen.history, call.description
    assert chosen.domain_digits == DEVICE_ID[3:8]
    call.bye(peer)


def test_tcp_device_listens_for_an_active_platform(
    dev: Device, peer: Peer, stream: EncodedStream
) -> None:
    call = invite(dev, peer, platform_offer(9, tcp=True, setup=sdp.SETUP_ACTIVE))
    check_answer(call)
    video = call.video
    assert video.proto == sdp.PROTO_TCP_RTP_AVP
    assert video.get_attribute("setup") == sdp.SETUP_PASSIVE
    assert video.get_attribute("connection") == "new"
    dev.wait_state("call_status", "calling")
    sender = RtpSender(stream, call.address, 96, tcp=True, ssrc=int(SSRC), payload=PAYLOAD_PS)
    with sender:
        check_bitrate(dev, sender.sent_kbps, started(sender), 4.5)
        sender.wait(3.0)
    data = frames_decoded(dev, len(stream.frames))
    assert data["transport"] == "tcp" and data["malformed"] == 0, data
    call.bye(peer)
    wait_bitrate_zero(dev)


def test_tcp_device_connects_to_a_passive_platform(
    dev: Device, peer: Peer, stream: EncodedStream
) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOCAL, 0))
    listener.listen(1)
    listener.settimeout(5.0)
    try:
        port = listener.getsockname()[1]
        call = invite(dev, peer, platform_offer(port, tcp=True, setup=sdp.SETUP_PASSIVE))
        check_answer(call)
        assert call.video.get_attribute("setup") == sdp.SETUP_ACTIVE
        assert call.video.get_attribute("connection") == "new"
        conn, source = listener.accept()
        assert source == call.address, "the device connects from the port it advertised"
        # The sender owns the accepted connection from here on and closes it at stop().
        sender = RtpSender(
            stream, source, 96, tcp=True, ssrc=int(SSRC), payload=PAYLOAD_PS, sock=conn
        )
        with sender:
            check_bitrate(dev, sender.sent_kbps, started(sender), 4.5)
            sender.wait(3.0)
        data = frames_decoded(dev, len(stream.frames))
        assert data["transport"] == "tcp" and data["malformed"] == 0, data
        assert data["bytes"] == sender.stats().payload_bytes
        call.bye(peer)
        wait_bitrate_zero(dev)
    finally:
        listener.close()


# --- third-party call control: a bodyless INVITE --------------------------------------------------


def test_bodyless_invite_gets_an_offer_and_the_ack_answer_sets_the_ssrc(
    dev: Device, peer: Peer, stream: EncodedStream
) -> None:
    call = invite(dev, peer, b"", ack=None)
    offer = call.description
    assert offer.origin.username == DEVICE_ID
    assert offer.session_name == "Play"
    assert offer.connection is not None and offer.connection.address == LOCAL
    video = call.video
    assert video.proto == sdp.PROTO_RTP_AVP and video.formats[0] == "96"
    assert video.direction == sdp.DIRECTION_RECVONLY
    assert video.get_attribute("setup") is None, "a=setup on UDP media"
    assert [m.to_string() for m in video.rtpmaps()] == ["96 PS/90000", "98 H264/90000"]
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind((LOCAL, 0))
    try:
        answer = gb_sdp.gb_answer(
            offer, LOCAL, media.getsockname()[1], username=PLATFORM_ID, ssrc=SSRC
        )
        assert answer.media[0].direction == sdp.DIRECTION_SENDONLY
        call.dialog.ack(answer.to_bytes())
        dev.wait_state("call_status", "calling")
        # A stream with a foreign SSRC first: dropped, never metered.
        foreign = RtpSender(stream, call.address, 96, ssrc=int(SSRC) + 1, payload=PAYLOAD_PS)
        with foreign:
            poll_until(
                lambda: media_data(dev)["wrong_ssrc"],
                lambda n: n >= 20,
                timeout=3.0,
                expected="20 packets of the foreign SSRC dropped",
            )
            assert dev.state("bitrate") == 0 and media_data(dev)["packets"] == 0
        sender = RtpSender(stream, call.address, 96, ssrc=int(SSRC), payload=PAYLOAD_PS)
        with sender:
            check_bitrate(dev, sender.sent_kbps, started(sender), 4.5)
            sender.wait(3.0)
        data = frames_decoded(dev, len(stream.frames))
        assert data["frames_decoded"] == len(stream.frames) and data["corrupt"] == 0, data
        call.bye(peer)
        wait_bitrate_zero(dev)
    finally:
        media.close()


def test_ack_without_an_answer_gets_a_bye(dev: Device, peer: Peer) -> None:
    call = invite(dev, peer, b"", ack=b"")
    bye = peer.request("BYE").message
    assert isinstance(bye, sip.SipRequest) and bye.call_id == call.dialog.call_id
    peer.send(sip.make_response(bye, 200), call.dialog.port)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(platform_offer(40000, direction=sdp.DIRECTION_RECVONLY), id="recvonly"),
        pytest.param(platform_offer(40000).replace(b"sendonly", b"sendrecv"), id="sendrecv"),
        pytest.param(platform_offer(40000).replace(b"PS/90000", b"MP2T/90000"), id="no-ps-h264"),
        pytest.param(
            platform_offer(40000).replace(b"RTP/AVP", b"RTP/SAVP"), id="unsupported-transport"
        ),
    ],
)
def test_offer_it_cannot_take_gets_488(dev: Device, peer: Peer, body: bytes) -> None:
    dialog = Dialog(peer, dev.sip_port(), user=DEVICE_ID)
    dialog.invite(body)
    peer.response(488)
    dialog.ack()


def test_second_call_gets_486(dev: Device, peer: Peer) -> None:
    first = invite(dev, peer, platform_offer(40000))
    dev.wait_state("call_status", "calling")
    second = Dialog(peer, dev.sip_port(), user=DEVICE_ID)
    second.invite(platform_offer(40010, ssrc="0200000002"))
    peer.response(486)
    first.bye(peer)


# --- the fault -----------------------------------------------------------------------------------


def test_fault_gb_ssrc_not_echoed(tmp_path: Path, stream: EncodedStream) -> None:
    with device(tmp_path, faults=("gb_ssrc_not_echoed",)) as faulty:
        gb_account(faulty)
        peer = Peer()
        try:
            call = invite(faulty, peer, platform_offer(40000))
            echoed = gb_sdp.ssrc_line_of(call.description)
            assert echoed is not None and echoed != SSRC, call.description
            faulty.wait_state("call_status", "calling")
            sender = RtpSender(stream, call.address, 96, ssrc=int(SSRC) + 7, payload=PAYLOAD_PS)
            with sender:
                poll_until(
                    lambda: faulty.state("bitrate"),
                    lambda b: b > 0,
                    timeout=3.0,
                    expected="a foreign SSRC metered under the fault",
                )
            assert media_data(faulty)["ssrc"] == int(SSRC) + 7
            call.bye(peer)
        finally:
            peer.close()
