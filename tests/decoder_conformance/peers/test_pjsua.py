"""The pjsua2 peer fixture: two workers calling each other on loopback, crash and stop handling."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.peers.pjsua.controller import (
    PeerDied,
    PeerError,
    PeerTimeout,
    PjsuaPeer,
    SipMessage,
    ladder,
)
from decoder_conformance.peers.sipp.uas import process_sockets
from wire import sip


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[PjsuaPeer, PjsuaPeer]]:
    """Peer A (caller) and peer B (callee), each in its own worker, stopped afterwards."""
    with PjsuaPeer("a", log_dir=tmp_path) as a, PjsuaPeer("b", log_dir=tmp_path) as b:
        a.start(user="a")
        b.start(user="b")
        yield a, b
        assert a.stop() == 0, f"worker a exited badly; log {a.worker_log_path}"
        assert b.stop() == 0, f"worker b exited badly; log {b.worker_log_path}"


def labels(messages: list[SipMessage]) -> list[str]:
    """`TX INVITE`, `RX 200 INVITE`, ... in capture order."""
    return [f"{m.direction} {m.label}" for m in messages]


def media_sections(sdp: str) -> list[str]:
    """The SDP's media sections, each starting with its m= line."""
    return re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)[1:]


def test_video_offer_call_is_confirmed_and_hung_up(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(200)
    handle = a.call(b.uri(), video=True, h264_pt=97, video_port=40002)

    a.wait_call_state(handle, "CONFIRMED")
    incoming = b.wait_incoming()
    b.wait_call_state(incoming["handle"], "CONFIRMED")

    # B saw the two-slot offer: PCMU audio plus H.264 video at the requested PT and port.
    offer = incoming["sdp"]
    audio, video = media_sections(offer)
    assert audio.startswith("m=audio ") and " RTP/AVP 0" in audio.splitlines()[0]
    assert video.splitlines()[0] == "m=video 40002 RTP/AVP 97"
    assert "a=rtpmap:97 H264/90000" in video and "a=sendonly" in video
    assert all(line == f"c=IN IP4 {LOOPBACK}" for line in re.findall(r"^c=[^\r\n]*", offer, re.M))
    assert incoming["remote_uri"].startswith("<sip:a@127.0.0.1")  # pjsua drops the port in From
    # pjsua cannot do video: its answer rejects the video stream with port 0, keeps the audio.
    answer = a.call_state(handle).remote_sdp
    assert [s.splitlines()[0] for s in media_sections(answer)][1] == "m=video 0 RTP/AVP 97"
    assert media_sections(answer)[0].startswith("m=audio ")
    assert not media_sections(answer)[0].startswith("m=audio 0 ")

    assert a.hangup(handle) is True
    a.wait_call_state(handle, "DISCONNECTED")
    b.wait_call_state(incoming["handle"], "DISCONNECTED")
    a.wait_message(
        lambda m: m.status == 200 and m.cseq_method == "BYE", expected="200 to the BYE on A"
    )
    # A second hangup is refused by the worker, not passed to pjsua (which would abort).
    assert a.hangup(handle) is False

    flow = [m for m in a.messages() if m.handle == handle]
    got = labels(flow)
    assert got == [
        "TX INVITE",
        "RX 100 INVITE",
        "RX 180 INVITE",
        "RX 200 INVITE",
        "TX ACK",
        "TX BYE",
        "RX 200 BYE",
    ], ladder(flow, "a")
    assert all((m.host, m.port) == (LOOPBACK, b.udp_port) for m in flow), ladder(flow, "a")
    assert flow[0].src == f"{LOOPBACK}:{a.udp_port}" and flow[0].dst == f"{LOOPBACK}:{b.udp_port}"
    assert flow[1].src == flow[0].dst and flow[1].dst == flow[0].src
    assert [m.t for m in flow] == sorted(m.t for m in flow)


def test_manual_answer_rings_until_answered(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(None)
    handle = a.call(b.uri(), video=False)
    incoming = b.wait_incoming()
    early = a.wait_call_state(handle, "EARLY")
    assert early["code"] == 180
    assert b.call_state(incoming["handle"]).state in ("INCOMING", "EARLY")
    assert a.call_state(handle).state == "EARLY", "B answered before answer() was called"

    b.answer(incoming["handle"], 200)
    a.wait_call_state(handle, "CONFIRMED")
    b.wait_call_state(incoming["handle"], "CONFIRMED")

    assert b.hangup(incoming["handle"]) is True  # the callee ends it: BYE from B
    a.wait_call_state(handle, "DISCONNECTED")
    assert a.wait_message(lambda m: m.method == "BYE" and m.is_request, expected="BYE from B")


def test_busy_callee_486_reaches_the_caller(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(486)
    handle = a.call(b.uri())
    ended = a.wait_call_state(handle, "DISCONNECTED")
    assert (ended["code"], ended["reason"]) == (486, "Busy Here")
    got = labels([m for m in a.messages() if m.handle == handle])
    assert got == ["TX INVITE", "RX 100 INVITE", "RX 180 INVITE", "RX 486 INVITE", "TX ACK"], got


def test_auto_answer_without_ringing_sends_no_180(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(603, ring=False)
    handle = a.call(b.uri(), video=False)
    assert a.wait_call_state(handle, "DISCONNECTED")["code"] == 603
    got = labels([m for m in a.messages() if m.handle == handle])
    assert got == ["TX INVITE", "RX 100 INVITE", "RX 603 INVITE", "TX ACK"], got


def test_audio_only_offer_has_no_video(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(488)
    handle = a.call(b.uri(), video=False)
    offer = b.wait_incoming()["sdp"]
    sections = media_sections(offer)
    assert [s.split(" ", 1)[0] for s in sections] == ["m=audio"], offer
    assert "a=rtpmap:0 PCMU/8000" in offer and "H264" not in offer
    assert a.wait_call_state(handle, "DISCONNECTED")["code"] == 488


def test_reinvite_puts_every_stream_inactive(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(200)
    handle = a.call(b.uri(), video=True)
    a.wait_call_state(handle, "CONFIRMED")
    incoming = b.wait_incoming()
    a.reinvite(handle, "inactive")
    reoffer = b.wait_event(
        lambda e: (
            e.kind == "remote_sdp"
            and e["handle"] == incoming["handle"]
            and "a=inactive" in e["sdp"]
        ),
        expected="a re-INVITE offer with a=inactive",
    )
    audio, video = media_sections(reoffer["sdp"])
    assert "a=inactive" in audio and "a=inactive" in video and "H264/90000" in video
    a.wait_message(
        lambda m: m.status == 200 and m.cseq_method == "INVITE" and "a=inactive" in m.body,
        expected="200 answering the re-INVITE with a=inactive",
    )


def test_errors_and_timeouts_are_explicit(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, _b = peers
    with pytest.raises(PeerError, match="no call with handle 99"):
        a.answer(99)
    with pytest.raises(PeerTimeout, match=r"expected call 99 reaching CONFIRMED; seen:"):
        a.wait_call_state(99, "CONFIRMED", timeout=0.2)
    assert a.calls() == []  # the worker survived both


def test_killed_worker_raises_peer_died_quickly(tmp_path: Path) -> None:
    peer = PjsuaPeer("victim", log_dir=tmp_path)
    peer.start()
    peer.kill()
    started = time.monotonic()
    with pytest.raises(PeerDied) as caught:
        peer.wait_incoming(timeout=10.0)  # a wait notices the death, not its own deadline
    assert time.monotonic() - started < 2.0
    message = str(caught.value)
    assert "'victim'" in message and "SIGKILL" in message and str(peer.worker_log_path) in message
    assert "while waiting for an incoming call" in message
    started = time.monotonic()
    with pytest.raises(PeerDied, match=r"killed by SIGKILL \(exit code -9\)"):
        peer.calls()  # and so does every later command
    assert time.monotonic() - started < 2.0
    assert peer.stop() == -9  # already reported: stop() cleans up without raising again


def test_stop_leaves_no_process_and_frees_the_port(tmp_path: Path) -> None:
    peer = PjsuaPeer("s", log_dir=tmp_path)
    port = peer.start()
    pid = peer.pid
    assert pid is not None
    assert peer.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, port))  # the SIP port was released
    assert peer.stop() == 0  # idempotent


def md5(text: str) -> str:
    """Hex MD5, as RFC 2617 digest uses it."""
    return hashlib.md5(text.encode()).hexdigest()


class DigestRegistrar:
    """A minimal UDP registrar on 127.0.0.1:0: 401 with a Digest challenge, then 200."""

    REALM = "probe"
    COPIED = ("Via", "From", "To", "Call-ID", "CSeq")

    def __init__(self, username: str, password: str, expires: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.username, self.password, self.expires = username, password, expires
        self.requests: list[str] = []
        self.closing = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                data, source = self.sock.recvfrom(65535)
            except OSError:
                return
            if self.closing and not data:
                return
            text = data.decode()
            self.requests.append(text)
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")
            copied = [h for h in head[1:] if h.split(":", 1)[0] in self.COPIED]
            auth = next((h for h in head if h.startswith("Authorization:")), "")
            if not self.valid(auth):
                extra = [
                    f'WWW-Authenticate: Digest realm="{self.REALM}", nonce="n1", algorithm=MD5'
                ]
                status = "401 Unauthorized"
            else:
                contact = next((h for h in head if h.startswith("Contact:")), "")
                asked = next((h for h in head if h.startswith("Expires:")), "Expires: 0")
                granted = min(int(asked.split(":")[1]), self.expires)
                extra = [f"{contact};expires={granted}"] if granted else []
                status = "200 OK"
            reply = "\r\n".join([f"SIP/2.0 {status}", *copied, *extra, "Content-Length: 0", "", ""])
            self.sock.sendto(reply.encode(), source)

    def valid(self, header: str) -> bool:
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
        if fields.get("username") != self.username:
            return False
        ha1 = md5(f"{self.username}:{self.REALM}:{self.password}")
        ha2 = md5(f"REGISTER:{fields.get('uri')}")
        if fields.get("qop"):
            expected = md5(f"{ha1}:n1:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        else:
            expected = md5(f"{ha1}:n1:{ha2}")
        return fields.get("response") == expected

    def close(self) -> None:
        """Wake the serving thread with an empty datagram (close() alone does not), join it."""
        self.closing = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", (LOOPBACK, self.port))
        self.thread.join(2.0)
        assert not self.thread.is_alive(), "registrar thread did not stop"
        self.sock.close()


def test_registration_and_unregistration(tmp_path: Path) -> None:
    registrar = DigestRegistrar("alice", "secret", expires=60)
    try:
        with PjsuaPeer("r", log_dir=tmp_path) as peer:
            peer.start(user="alice")
            peer.register(f"sip:{LOOPBACK}:{registrar.port}", "alice", "secret", expires=60)
            state = peer.wait_registration(200)
            assert state["expiration"] == 60
            peer.unregister()
            assert peer.wait_registration(200)["expiration"] == 0
            sent = [m for m in peer.messages() if m.direction == "TX"]
            assert [m.header("Expires") for m in sent] == ["60", "60", "0", "0"]
            assert [bool(m.header("Authorization")) for m in sent] == [False, True, False, True]
    finally:
        registrar.close()


# --- suite host (--suite-host) -----------------------------------------------------------------

#: Stands for a lab suite host: another address of this machine, bound, never sent to.
SUITE_HOST = "127.0.0.2"


def test_calls_go_only_to_loopback_the_suite_host_or_the_device(tmp_path: Path) -> None:
    peer = PjsuaPeer("guard", log_dir=tmp_path, host=SUITE_HOST, allowed_hosts=("192.0.2.1",))
    assert peer.allowed_hosts == {LOOPBACK, SUITE_HOST, "192.0.2.1"}
    # Refused before the (never started) worker is asked for anything: nothing is sent.
    for uri in ("sip:7001@198.51.100.7:5060", "<sip:a@example.invalid>", "sips:[2001:db8::1]:5061"):
        with pytest.raises(ValueError, match="network rule"):
            peer.call(uri)
    with pytest.raises(ValueError, match="network rule"):
        peer.register("sip:198.51.100.7:5060;transport=udp", "alice", "secret")
    with pytest.raises(PeerError, match="not started"):
        peer.call("sip:7001@192.0.2.1:5060")  # allowed: it gets as far as the worker


def test_sip_and_media_are_bound_to_and_advertise_the_suite_host(tmp_path: Path) -> None:
    """The INVITE goes to a silent sink on 127.0.0.1; everything in it names the suite host."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((LOOPBACK, 0))
        sink.settimeout(5.0)
        with PjsuaPeer("lab", log_dir=tmp_path, host=SUITE_HOST) as peer:
            port = peer.start(user="a")
            assert peer.uri() == f"sip:a@{SUITE_HOST}:{port}"
            handle = peer.call(f"sip:7001@{LOOPBACK}:{sink.getsockname()[1]}", video=True)
            data, source = sink.recvfrom(65535)
            sockets = process_sockets(peer.pid or 0)
            peer.hangup(handle)
        invite = sip.parse(data)
    assert source == (SUITE_HOST, port)
    assert isinstance(invite, sip.SipRequest) and invite.method == "INVITE"
    assert invite.vias[0].host == SUITE_HOST, invite.headers.get("Via")
    assert invite.contacts and SUITE_HOST in str(invite.contacts[0].uri)
    body = invite.body.decode()
    assert re.findall(r"^o=.* IN IP4 (\S+)\r?$", body, re.M) == [SUITE_HOST], body
    assert set(re.findall(r"^c=IN IP4 (\S+)\r?$", body, re.M)) == {SUITE_HOST}, body
    assert "m=video " in body  # the two-slot rewrite's c= line is among those checked above
    # The SIP transport and the media transport (both audio slots) are pinned to the suite host.
    udp = [s for s in sockets if s.proto == "udp"]
    assert len(udp) >= 3 and all(s.ip == SUITE_HOST for s in udp), udp
