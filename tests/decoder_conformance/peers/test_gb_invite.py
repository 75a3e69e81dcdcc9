"""The GB28181 platform's video calls (`GbPlatform.play()`, peers/gb/invite.py) against a fake
GB device written here from wire/ (sip, sdp, gb_sdp): a UDP SIP UA that registers, answers INVITE
in either style, correctly or with one defect each, receives the PS-over-RTP media over UDP or
TCP in either setup role, and answers BYE. Every check is shown to fire on its defect and to stay
quiet on the correct device. Loopback only, port 0, no sleeps: waits are monotonic deadlines.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import RtpSender
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb.invite import ALLOW, CallState, GbPlay, MediaSide
from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform
from decoder_conformance.waiting import DeviceTimeout, poll_until
from tests.decoder_conformance.peers.test_gb_platform import DEVICE, ScriptedDevice
from wire import gb_sdp, sdp, sip
from wire.rtp import RtpPacket
from wire.rtp_tcp import Deframer
from wire.sdp import RtpMap

DEVICE_PS_PT = 100  # not 96: the platform must map by rtpmap (notes §6.17)
KBPS = 300
SECONDS = 1.0


@dataclass
class Behaviour:
    """How the fake device answers an INVITE. `faults` names the defects it commits."""

    final: int = 200
    tcp_setup: str = "passive"  # its role in its own offer (third-party) over TCP
    offer_tcp: bool = False  # third-party: offer TCP/RTP/AVP (else RTP/AVP)
    faults: set[str] = field(default_factory=set)
    bye_code: int = 200


class FakeGbDevice(ScriptedDevice):
    """A registered GB decoder: SIP on one UDP socket and media receivers, served by a thread."""

    def __init__(
        self, platform: GbPlatform, behaviour: Behaviour | None = None, *, sip_tcp: bool = False
    ) -> None:
        super().__init__(platform)
        self.behaviour = behaviour or Behaviour()
        self.sip_tcp = sip_tcp
        self._stream = bytearray()
        if sip_tcp:  # SIP over one TCP connection to the platform (registered over it)
            self.sock.close()
            self.sock = socket.create_connection((LOOPBACK, platform.tcp_port), timeout=5.0)
            self.local = self.sock.getsockname()
            self.platform = self.sock.getpeername()
        self.media_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media_udp.bind((LOOPBACK, 0))
        self.media_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.media_tcp.bind((LOOPBACK, 0))
        self.media_tcp.listen(4)
        self.packets: list[RtpPacket] = []
        self.media_peers: list[tuple[str, int]] = []
        self.requests: list[sip.SipRequest] = []
        self.sent: list[sip.SipResponse] = []
        self.tag = sip.new_tag()
        self._answered: dict[str, list[bytes]] = {}  # INVITE branch -> responses sent
        self._invites: dict[str, sip.SipRequest] = {}  # Call-ID -> INVITE
        self._deframers: dict[socket.socket, Deframer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._selector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None

    # -- I/O over UDP or TCP ----------------------------------------------------------------

    def _out(self, data: bytes) -> None:
        if self.sip_tcp:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.platform)

    def send(self, message: sip.SipMessage) -> None:
        self._out(message.to_bytes())

    def recv(self, timeout: float = 2.0) -> sip.SipMessage:
        if not self.sip_tcp:
            return super().recv(timeout)
        self.sock.settimeout(timeout)
        while True:
            parsed = sip.parse_stream(self._stream)
            if parsed is not None:
                message, used = parsed
                del self._stream[:used]
                return message
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the platform closed the SIP connection")
            self._stream += chunk

    def _sip_in(self, sock: socket.socket) -> list[sip.SipMessage]:
        if not self.sip_tcp:
            data, _ = sock.recvfrom(65535)
            return [sip.parse(data)]
        self._stream += sock.recv(65536)
        messages = []
        while (parsed := sip.parse_stream(self._stream)) is not None:
            message, used = parsed
            del self._stream[:used]
            messages.append(message)
        return messages

    # -- life cycle ------------------------------------------------------------------------

    def serve(self) -> FakeGbDevice:
        """Register (synchronously), then answer in a background thread."""
        _, ok = self.register(3600)
        assert ok.status_code == 200
        self.sock.setblocking(False)
        self._selector.register(self.sock, selectors.EVENT_READ, "sip")
        self._selector.register(self.media_udp, selectors.EVENT_READ, "udp")
        self._selector.register(self.media_tcp, selectors.EVENT_READ, "listen")
        self._thread = threading.Thread(target=self._loop, name="fake-gb-device", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        for sock in (self.sock, self.media_udp, self.media_tcp):
            sock.close()
        if self._error is not None:
            raise AssertionError(f"fake device thread failed: {self._error!r}") from self._error

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                for key, _ in self._selector.select(0.05):
                    self._ready(key)
        except BaseException as exc:
            self._error = exc

    def _ready(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if key.data == "sip":
            for message in self._sip_in(sock):
                if isinstance(message, sip.SipRequest):
                    self._request(message)
        elif key.data == "udp":
            data, _ = sock.recvfrom(65535)
            with self._lock:
                self.packets.append(RtpPacket.parse(data))
        elif key.data == "listen":
            conn, peer = sock.accept()
            self._adopt(conn, peer)
        else:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # a listener closed before it accepted: RST
                chunk = b""
            if not chunk:
                self._selector.unregister(sock)
                sock.close()
                return
            frames = self._deframers[sock].feed(chunk)
            with self._lock:
                self.packets.extend(RtpPacket.parse(f) for f in frames)

    def _adopt(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.setblocking(False)
        self._deframers[conn] = Deframer()
        self._selector.register(conn, selectors.EVENT_READ, "tcp")
        with self._lock:
            self.media_peers.append(peer)

    # -- SIP -------------------------------------------------------------------------------

    def _request(self, request: sip.SipRequest) -> None:
        with self._lock:
            self.requests.append(request)
        if request.method == "INVITE":
            self._invite(request)
        elif request.method == "ACK":
            self._ack(request)
        elif request.method == "BYE":
            self._send(sip.make_response(request, self.behaviour.bye_code))
        elif request.method == "CANCEL":
            self._send(sip.make_response(request, 200))
            invite = self._invites.get(request.call_id or "")
            if invite is not None:
                self._send(sip.make_response(invite, 487, to_tag=self.tag))

    def _send(self, response: sip.SipResponse) -> bytes:
        data = response.to_bytes()
        self._out(data)
        with self._lock:
            self.sent.append(response)
        return data

    def _invite(self, invite: sip.SipRequest) -> None:
        branch = invite.vias[0].branch or ""
        if branch in self._answered:  # a retransmission: the same answers again
            for data in self._answered[branch][-1:]:
                self._out(data)
            return
        self._invites[invite.call_id or ""] = invite
        faults = self.behaviour.faults
        sent = self._answered.setdefault(branch, [])
        if "silent" in faults:
            self._answered[branch] = []
            return
        sent.append(self._send(sip.make_response(invite, 100)))
        ringing = sip.make_response(invite, 180, to_tag=self.tag)
        sent.append(self._send(ringing))
        if "provisional_only" in faults:
            return
        if self.behaviour.final != 200:
            sent.append(
                self._send(sip.make_response(invite, self.behaviour.final, to_tag=self.tag))
            )
            return
        ok = sip.make_response(invite, 200, to_tag=None if "no_to_tag" in faults else self.tag)
        if "no_contact" not in faults:
            ok.headers.add("Contact", f"<sip:{DEVICE}@{self.local[0]}:{self.local[1]}>")
        if "no_sdp" not in faults:
            content_type = "text/plain" if "content_type" in faults else "application/sdp"
            ok.set_body(self._sdp(invite), content_type)
        sent.append(self._send(ok))

    def _sdp(self, invite: sip.SipRequest) -> bytes:
        b, faults = self.behaviour, self.behaviour.faults
        if "unreadable" in faults:
            return b"v=0\r\nthis is not sdp\r\n"
        if invite.body:
            offer = sdp.parse(invite.body)
            tcp = gb_sdp.is_tcp(offer.media[0])
            port = self.media_tcp.getsockname()[1] if tcp else self.media_udp.getsockname()[1]
            has_y = gb_sdp.ssrc_line_of(offer) is not None
            own = None if has_y and "other_y" not in faults else "0200009999"
            answer = gb_sdp.gb_answer(
                offer,
                LOOPBACK,
                port,
                username="34020000001140000999" if "origin" in faults else DEVICE,
                ssrc=own,
            )
            media = answer.media[0]
            if "drop_y" in faults:
                media.lines[:] = [line for line in media.lines if line[0] != "y"]
            if "renumber" in faults:
                media.formats = ["98"]
                media.remove_attribute("rtpmap")
                media.add_attribute("rtpmap", "98 PS/90000")
            if "transport" in faults and tcp:
                media.proto = "RTP/AVP"
                media.port = self.media_udp.getsockname()[1]
                media.remove_attribute("setup")
                media.remove_attribute("connection")
            if "same_setup" in faults:
                media.remove_attribute("setup")
                media.add_attribute("setup", gb_sdp.setup_of(offer.media[0]) or "active")
        else:
            tcp = b.offer_tcp
            port = self.media_tcp.getsockname()[1] if tcp else self.media_udp.getsockname()[1]
            answer = gb_sdp.gb_offer(
                LOOPBACK,
                port,
                username="34020000001140000999" if "origin" in faults else DEVICE,
                payloads=[RtpMap(DEVICE_PS_PT, "PS", 90000)],
                tcp=tcp,
                setup=b.tcp_setup if tcp else None,
                media_format="v/2/4/25/1/512a///",
            )
            media = answer.media[0]
        if "sendrecv" in faults:
            media.direction = "sendrecv"
        if "savp" in faults:
            media.proto = "RTP/SAVP"
        if "no_ps" in faults:
            formats = media.formats
            media.remove_attribute("rtpmap")
            media.add_attribute("rtpmap", f"{formats[0]} H264/90000")
        if "bad_y" in faults:
            media.lines[:] = [line for line in media.lines if line[0] != "y"]
            media.lines.append(("y", "200000001"))
        if "bad_f" in faults:
            media.lines.append(("f", "v/2/5a"))
        if "no_setup" in faults:
            media.remove_attribute("setup")
        if "udp_setup" in faults:
            media.add_attribute("setup", "passive")
        return answer.to_bytes()

    def _ack(self, ack: sip.SipRequest) -> None:
        """Over TCP with the device active, connect to the platform's media address.

        With ``repeat_200`` the 200 is sent again when the first ACK comes, as a retransmission
        that crossed the ACK on the wire: the platform must ACK it again (RFC 3261 §13.2.2.4).
        """
        invite = self._invites.get(ack.call_id or "")
        if invite is None:
            return
        if "repeat_200" in self.behaviour.faults and len(self.seen("ACK")) == 1:
            branch = invite.vias[0].branch or ""
            self._out(self._answered[branch][-1])
        platform_sdp = ack.body or invite.body
        if not platform_sdp:
            return
        description = sdp.parse(platform_sdp)
        media = description.media[0]
        if media.port == 0 or not gb_sdp.is_tcp(media):
            return
        if gb_sdp.setup_of(media) != "passive":
            return  # the platform connects
        with self._lock:
            if any(r.method == "ACK" and r.call_id == ack.call_id for r in self.requests[:-1]):
                return  # a retransmitted ACK: connected already
        if "never_connect" in self.behaviour.faults:
            return
        connection = description.media_connection(0)
        assert connection is not None
        try:
            conn = socket.create_connection((connection.address, media.port), timeout=2.0)
        except ConnectionRefusedError:
            return  # the call ended before the media connection (a case that sends no media)
        self._adopt(conn, conn.getpeername())

    # -- views -----------------------------------------------------------------------------

    def seen(self, method: str) -> list[sip.SipRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def wait_seen(self, method: str, count: int = 1) -> list[sip.SipRequest]:
        return poll_until(
            lambda: self.seen(method),
            lambda found: len(found) >= count,
            timeout=5.0,
            expected=f"{count} {method} at the fake device",
        )

    def received(self) -> list[RtpPacket]:
        with self._lock:
            return list(self.packets)


@pytest.fixture
def platform() -> Iterator[GbPlatform]:
    with GbPlatform() as p:
        yield p


def start_device(platform: GbPlatform, **kwargs: object) -> FakeGbDevice:
    return FakeGbDevice(platform, Behaviour(**kwargs)).serve()  # type: ignore[arg-type]


@pytest.fixture
def device(platform: GbPlatform) -> Iterator[FakeGbDevice]:
    fake = start_device(platform)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def stream() -> EncodedStream:
    return EncodedStream.cbr(320, 240, 25, KBPS, SECONDS)


def codes(call: GbPlay) -> list[str]:
    return [v.code for v in call.violations()]


def stream_through(call: GbPlay, device: FakeGbDevice, stream: EncodedStream) -> RtpSender:
    """Send the whole stream (4x real time) and wait until the device has every packet."""
    sender = call.send(KBPS, SECONDS, stream=stream, speed=4.0)
    sender.wait(10.0)
    total = sender.stats().packets_sent
    poll_until(
        device.received,
        lambda got: len(got) >= total,
        timeout=5.0,
        expected=f"{total} RTP packets at the fake device",
    )
    return sender


# --- correct devices: every style and transport, quiet checks, media arrives ----------------------


@pytest.mark.parametrize("transport", ["udp", "tcp_passive", "tcp_active"])
@pytest.mark.parametrize("style", ["third_party", "offer"])
def test_a_correct_device_gets_ps_media_with_no_violation(
    platform: GbPlatform, stream: EncodedStream, style: str, transport: str
) -> None:
    tcp = transport != "udp"
    setup = "passive" if transport == "tcp_passive" else "active"
    device = start_device(platform, offer_tcp=tcp, tcp_setup=setup)
    try:
        with platform.play(DEVICE, style=style, transport=transport) as call:  # type: ignore[arg-type]
            assert call.code == 200 and call.state is CallState.CONFIRMED
            assert call.transport == transport
            assert call.media_error is None
            sender = stream_through(call, device, stream)
            got = device.received()
            assert {p.ssrc for p in got} == {call.ssrc}
            expected_pt = DEVICE_PS_PT if style == "third_party" else gb_sdp.PS_PAYLOAD_TYPE
            assert {p.payload_type for p in got} == {expected_pt}
            assert sorted(p.sequence_number for p in got) == sorted(
                p.sequence_number for p in sender.sent_packets()
            )
            if transport == "udp":
                # The RTP comes from the port the platform put in its SDP.
                assert sender.local_address is not None
                assert call.platform_sdp is not None
                assert sender.local_address[1] == call.platform_sdp.media[0].port
            elif transport == "tcp_passive":
                assert device.media_peers[0][1] == call.platform_sdp.media[0].port  # type: ignore[union-attr]
            assert call.media_records() and call.media_records()[0].protocol == "rtp"
        assert call.state is CallState.ENDED and call.bye_code == 200
        assert device.wait_seen("BYE")
        assert call.violations() == [] and platform.violations() == []
    finally:
        device.close()


def test_third_party_exchange_on_the_wire(platform: GbPlatform, device: FakeGbDevice) -> None:
    with platform.play(DEVICE, style="third_party") as call:
        invite = device.seen("INVITE")[0]
        assert invite.body == b"" and invite.content_type is None
        assert invite.uri == f"sip:{DEVICE}@{device.local[0]}:{device.local[1]}"
        assert invite.from_addr.sip_uri().user == DEFAULT_PLATFORM_ID
        assert invite.to_addr.sip_uri().user == DEVICE
        assert invite.headers.get("Allow") == ALLOW
        assert (
            invite.headers.get("Subject")
            == f"{DEFAULT_PLATFORM_ID}:{call.platform_ssrc},{DEVICE}:0"
        )
        assert invite.contacts[0].sip_uri().user == DEFAULT_PLATFORM_ID
        (ack,) = device.wait_seen("ACK")
        assert ack.cseq.number == invite.cseq.number and ack.vias[0].branch != invite.vias[0].branch
        assert ack.to_addr.tag == device.tag
        assert ack.uri == f"sip:{DEVICE}@{device.local[0]}:{device.local[1]}"
        assert ack.content_type == "application/sdp"
        answer = sdp.parse(ack.body)
        media = answer.media[0]
        assert answer.origin.username == DEFAULT_PLATFORM_ID
        assert answer.media_direction(0) == "sendonly"
        assert media.formats == [str(DEVICE_PS_PT)]
        assert gb_sdp.ssrc_line_of(answer) == call.platform_ssrc
        assert gb_sdp.gb_problems(answer, offer=call.device_sdp) == []
        assert call.ssrc == int(call.platform_ssrc) and call.ssrc_from == "platform"
        assert call.media_address == (LOOPBACK, device.media_udp.getsockname()[1])
    assert device.wait_seen("BYE")[0].cseq.number == invite.cseq.number + 1
    labels = [r.label for r in call.records()]
    assert labels[0].startswith("INVITE") and any(lb.startswith("200 OK (BYE)") for lb in labels)


def test_offer_exchange_on_the_wire(platform: GbPlatform, device: FakeGbDevice) -> None:
    with platform.play(DEVICE, style="offer", transport="tcp_passive") as call:
        invite = device.seen("INVITE")[0]
        assert invite.content_type == "application/sdp"
        offer = sdp.parse(invite.body)
        assert offer.origin.username == DEFAULT_PLATFORM_ID
        assert offer.session_name == "Play"
        assert offer.connection is not None and offer.connection.address == LOOPBACK
        media = offer.media[0]
        assert media.m_value().startswith("video ") and media.proto == "TCP/RTP/AVP"
        assert media.formats == ["96"] and media.rtpmap(96) == RtpMap(96, "PS", 90000)
        assert offer.media_direction(0) == "sendonly"
        assert gb_sdp.setup_of(media) == "active" and media.get_attribute("connection") == "new"
        assert media.get_line("y") == call.platform_ssrc and media.get_line("f") == "v/2////a///"
        assert gb_sdp.gb_problems(offer) == []
        assert call.ssrc == int(call.platform_ssrc) and call.ssrc_from == "device"
        (ack,) = device.wait_seen("ACK")
        assert ack.body == b""
    assert call.violations() == []


def test_the_device_chooses_the_ssrc_when_the_offer_has_none(
    platform: GbPlatform, device: FakeGbDevice, stream: EncodedStream
) -> None:
    with platform.play(DEVICE, style="offer", with_y=False) as call:
        offer = sdp.parse(device.seen("INVITE")[0].body)
        assert gb_sdp.ssrc_line_of(offer) is None
        assert (
            device.seen("INVITE")[0].headers.get("Subject") == f"{DEFAULT_PLATFORM_ID}:0,{DEVICE}:0"
        )
        assert call.ssrc == 200009999 and call.ssrc_from == "device"
        stream_through(call, device, stream)
        assert {p.ssrc for p in device.received()} == {200009999}
    assert call.violations() == []


# --- every check fires on its defect --------------------------------------------------------------

FAULTS = [
    # (style, transport, fault, code)
    ("third_party", "udp", "no_contact", checks.INVITE_NO_CONTACT),
    ("offer", "udp", "no_contact", checks.INVITE_NO_CONTACT),
    ("offer", "udp", "no_to_tag", checks.INVITE_NO_TO_TAG),
    ("third_party", "udp", "sendrecv", checks.INVITE_NOT_RECVONLY),
    ("offer", "udp", "sendrecv", checks.INVITE_NOT_RECVONLY),
    ("third_party", "udp", "no_ps", checks.INVITE_NO_PS),
    ("offer", "udp", "no_ps", checks.INVITE_NO_PS),
    ("offer", "udp", "other_y", checks.INVITE_SSRC_NOT_ECHOED),
    ("offer", "udp", "drop_y", checks.INVITE_SSRC_NOT_ECHOED),
    ("offer", "udp", "bad_y", checks.INVITE_SSRC_MALFORMED),
    ("third_party", "udp", "bad_f", checks.INVITE_FORMAT_MALFORMED),
    ("offer", "udp", "bad_f", checks.INVITE_FORMAT_MALFORMED),
    ("third_party", "tcp_passive", "no_setup", checks.INVITE_TCP_SETUP_MISSING),
    ("offer", "tcp_passive", "no_setup", checks.INVITE_TCP_SETUP_MISSING),
    ("offer", "tcp_active", "same_setup", checks.INVITE_TCP_SETUP_ROLE),
    ("third_party", "udp", "udp_setup", checks.INVITE_UDP_SETUP),
    ("offer", "udp", "udp_setup", checks.INVITE_UDP_SETUP),
    ("third_party", "udp", "origin", checks.INVITE_ORIGIN_USER),
    ("offer", "udp", "origin", checks.INVITE_ORIGIN_USER),
    ("offer", "udp", "content_type", checks.INVITE_CONTENT_TYPE),
    ("third_party", "udp", "no_sdp", checks.INVITE_NO_SDP),
    ("offer", "udp", "no_sdp", checks.INVITE_NO_SDP),
    ("third_party", "udp", "unreadable", checks.INVITE_SDP_UNREADABLE),
    ("offer", "udp", "renumber", checks.INVITE_PAYLOAD_NOT_OFFERED),
    ("offer", "tcp_passive", "transport", checks.INVITE_TRANSPORT_CHANGED),
]


@pytest.mark.parametrize(("style", "transport", "fault", "code"), FAULTS)
def test_each_defect_is_a_named_violation(
    platform: GbPlatform, style: str, transport: str, fault: str, code: str
) -> None:
    tcp = transport != "udp"
    device = start_device(platform, faults={fault}, offer_tcp=tcp)
    try:
        wanted = None if style == "third_party" else transport
        with platform.play(DEVICE, style=style, transport=wanted) as call:  # type: ignore[arg-type]
            assert call.code == 200
            found = codes(call)
            assert code in found, f"{fault}: expected {code}, got {found}"
            # One defect, one code (y= also fails its echo when it is malformed and changed).
            assert set(found) <= {code, checks.INVITE_SSRC_NOT_ECHOED}, found
            record = call.violations(code)[0].record
            assert record.direction == "RX" and record.status_of("INVITE") == 200
        assert device.wait_seen("ACK")
        assert call.ended
    finally:
        device.close()


def test_without_ssrc_in_offer_or_answer_the_ssrc_is_missing(platform: GbPlatform) -> None:
    device = start_device(platform, faults={"drop_y"})
    try:
        with platform.play(DEVICE, style="offer", with_y=False) as call:
            assert codes(call) == [checks.INVITE_SSRC_MISSING]
            assert call.ssrc_from == "platform"
    finally:
        device.close()


@pytest.mark.parametrize("fault", ["no_ps", "no_sdp", "unreadable", "savp"])
def test_a_2xx_without_usable_ps_is_acked_ended_and_refuses_media(
    platform: GbPlatform, fault: str
) -> None:
    device = start_device(platform, faults={fault})
    try:
        call = platform.play(DEVICE, style="third_party", transport=None)
        assert call.media_error is not None and call.state is CallState.ENDED
        with pytest.raises(DeviceFailure, match="no media can be sent"):
            call.send(KBPS, SECONDS)
        (ack,) = device.wait_seen("ACK")
        if fault in ("no_ps", "savp"):  # an answer must still go in the ACK: streams refused
            assert sdp.parse(ack.body).media[0].port == 0
        assert device.wait_seen("BYE")
    finally:
        device.close()


def test_bye_not_answered_200_is_a_violation(platform: GbPlatform) -> None:
    device = start_device(platform, bye_code=481)
    try:
        call = platform.play(DEVICE, style="offer")
        assert call.bye() == 481
        assert codes(call) == [checks.BYE_NOT_200]
        assert call.violations()[0].record.status_of("BYE") == 481
    finally:
        device.close()


# --- non-2xx, silence, retransmissions, the device's BYE ------------------------------------------


@pytest.mark.parametrize("final", [486, 488, 603])
def test_a_refusal_is_returned_and_acked_in_the_transaction(
    platform: GbPlatform, final: int
) -> None:
    device = start_device(platform, final=final)
    try:
        with platform.play(DEVICE, style="offer") as call:
            assert call.code == final and call.state is CallState.REJECTED
            assert call.device_sdp is None
        (ack,) = device.wait_seen("ACK")
        invite = device.seen("INVITE")[0]
        assert ack.vias[0].branch == invite.vias[0].branch and ack.uri == invite.uri
        assert ack.to_addr.tag == device.tag
        assert device.seen("BYE") == [] and call.violations() == []
    finally:
        device.close()


def test_a_silent_device_fails_after_the_invite_was_retransmitted(platform: GbPlatform) -> None:
    device = start_device(platform, faults={"silent"})
    try:
        with pytest.raises(DeviceTimeout, match="final answer to the offer INVITE"):
            platform.play(DEVICE, style="offer", timeout=1.2)
        invites = device.seen("INVITE")
        assert len(invites) >= 2  # Timer A: T1 = 0.5 s
        assert {i.vias[0].branch for i in invites} == {invites[0].vias[0].branch}
    finally:
        device.close()


def test_provisional_only_is_cancelled_then_fails(platform: GbPlatform) -> None:
    device = start_device(platform, faults={"provisional_only"})
    try:
        with pytest.raises(DeviceTimeout):
            platform.play(DEVICE, style="third_party", timeout=0.8)
        assert device.wait_seen("CANCEL")
        assert device.seen("INVITE")[1:] == []  # a provisional stops Timer A
        assert device.wait_seen("ACK")[0].cseq.method == "ACK"  # the 487, ACKed
        (call,) = platform.calls(DEVICE)
        assert call.code == 487 and call.ended
    finally:
        device.close()


def test_a_retransmitted_2xx_gets_the_ack_again(platform: GbPlatform) -> None:
    device = start_device(platform, faults={"repeat_200"})
    try:
        with platform.play(DEVICE, style="third_party"):
            acks = device.wait_seen("ACK", 2)
            assert acks[0].to_bytes() == acks[1].to_bytes()
    finally:
        device.close()


def test_the_devices_bye_ends_the_call(platform: GbPlatform, device: FakeGbDevice) -> None:
    call = platform.play(DEVICE, style="offer")
    bye = sip.make_request(
        "BYE",
        f"sip:{DEFAULT_PLATFORM_ID}@{LOOPBACK}:{platform.port}",
        sent_by=device.local,
        from_uri=f"sip:{DEVICE}@3402000000",
        from_tag=device.tag,
        to_uri=f"sip:{DEFAULT_PLATFORM_ID}@3402000000",
        to_tag=call.local_tag,
        call_id=call.call_id,
        cseq=1,
    )
    device.sock.sendto(bye.to_bytes(), device.platform)
    poll_until(
        lambda: call.ended_by_device,
        bool,
        timeout=5.0,
        expected="the call ended by the device's BYE",
    )
    answered = poll_until(
        lambda: [s for s in platform.records() if s.status_of("BYE") is not None],
        bool,
        timeout=5.0,
        expected="the platform's answer to the BYE",
    )
    assert answered[0].status_of("BYE") == 200
    assert call.bye() is None  # nothing left to end
    assert device.seen("BYE") == []


# --- transports and roles -------------------------------------------------------------------------


def test_third_party_transport_mismatch_is_not_exercised_and_ends_the_call(
    platform: GbPlatform, device: FakeGbDevice
) -> None:
    with pytest.raises(NotExercised, match="asked for tcp_active"):
        platform.play(DEVICE, style="third_party", transport="tcp_active")
    ack = device.wait_seen("ACK")[0]
    assert sdp.parse(ack.body).media[0].port == 0
    assert device.wait_seen("BYE")


def test_third_party_actpass_lets_the_platform_pick_the_role(
    platform: GbPlatform, stream: EncodedStream
) -> None:
    device = start_device(platform, offer_tcp=True, tcp_setup="actpass")
    try:
        with platform.play(DEVICE, style="third_party", transport="tcp_active") as call:
            ack = device.wait_seen("ACK")[0]
            assert gb_sdp.setup_of(sdp.parse(ack.body).media[0]) == "passive"
            stream_through(call, device, stream)
        assert call.violations() == []
    finally:
        device.close()


def test_a_device_that_never_connects_fails_the_send(platform: GbPlatform) -> None:
    device = start_device(platform, faults={"never_connect"})
    try:
        with (
            platform.play(DEVICE, style="offer", transport="tcp_active") as call,
            pytest.raises(DeviceTimeout, match="had not connected"),
        ):
            call.send(KBPS, SECONDS, connect_timeout=0.3)
    finally:
        device.close()


@pytest.mark.parametrize("style", ["third_party", "offer"])
def test_a_device_registered_over_tcp_is_called_on_its_connection(
    platform: GbPlatform, stream: EncodedStream, style: str
) -> None:
    device = FakeGbDevice(platform, sip_tcp=True).serve()
    try:
        with platform.play(DEVICE, style=style) as call:  # type: ignore[arg-type]
            assert call.code == 200 and call.route.transport == "tcp"
            invite = device.seen("INVITE")[0]
            assert invite.vias[0].transport == "TCP"
            assert invite.contacts[0].sip_uri().transport == "tcp"
            assert device.wait_seen("ACK")
            stream_through(call, device, stream)
        assert call.bye_code == 200 and call.violations() == []
        assert len(device.seen("INVITE")) == 1  # no retransmission over TCP
    finally:
        device.close()


def test_play_needs_a_registered_device(platform: GbPlatform) -> None:
    with pytest.raises(NotExercised, match="not registered"):
        platform.play(DEVICE)


def test_the_sender_sends_on_a_given_socket(stream: EncodedStream) -> None:
    with socket.socket() as listener, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        udp.bind((LOOPBACK, 0))
        with pytest.raises(ValueError, match="tcp=True sends on a SOCK_STREAM"):
            RtpSender(stream, listener.getsockname(), 96, tcp=True, sock=udp)
        unconnected = socket.socket()
        unconnected.bind((LOOPBACK, 0))
        with pytest.raises(ValueError, match="not connected"):
            RtpSender(stream, listener.getsockname(), 96, tcp=True, sock=unconnected)
        unconnected.close()
        client = socket.create_connection(listener.getsockname())
        accepted, peer = listener.accept()
        sender = RtpSender(stream, peer, 96, tcp=True, sock=accepted, payload="ps", speed=8.0)
        assert sender.local_address == accepted.getsockname()
        sender.start()
        sender.wait(10.0)
        sender.stop()
        deframer = Deframer()
        client.settimeout(5.0)
        packets = []
        while chunk := client.recv(65536):
            packets += deframer.feed(chunk)
        client.close()
        assert len(packets) == sender.stats().packets_sent


def test_media_port_listens_only_after_listen_after() -> None:
    media = MediaSide("tcp_active", LOOPBACK, listen_after=0.3)
    refused: list[bool] = []

    def connect() -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.connect((LOOPBACK, media.port))
        except ConnectionRefusedError:
            sock.close()
            refused.append(True)
            return None
        return sock

    try:
        first = connect()
        assert first is None and media.listening_at is None  # shut at first: refused
        client = poll_until(connect, lambda s: s is not None, timeout=3, expected="listening")
        assert client is not None
        sock, peer = media.socket_for_sender((LOOPBACK, 1), timeout=2)
        assert peer == client.getsockname() and media.accepted_at is not None
        assert media.listening_at is not None and media.accepted_at >= media.listening_at
        sock.close()
        client.close()
    finally:
        media.close()
    assert refused
