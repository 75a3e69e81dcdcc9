"""The pjsua2 peer: two workers calling each other on loopback, crash, hang and stop handling."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.pjsua import controller
from decoder_conformance.peers.pjsua.controller import PeerDied, PeerError, PjsuaPeer
from decoder_conformance.peers.sipp.uas import process_sockets
from decoder_conformance.report.ladder import ladder_rows, render_text
from decoder_conformance.waiting import DeviceTimeout, PeerTimeout
from wire import sip

pytest_plugins = ["pytester"]


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[PjsuaPeer, PjsuaPeer]]:
    """Peer A (caller) and peer B (callee), each in its own worker, stopped afterwards."""
    with PjsuaPeer("a", log_dir=tmp_path) as a, PjsuaPeer("b", log_dir=tmp_path) as b:
        a.start(user="a")
        b.start(user="b")
        yield a, b
        assert a.stop() == 0, f"worker a exited badly; log {a.worker_log_path}"
        assert b.stop() == 0, f"worker b exited badly; log {b.worker_log_path}"


def short(record: WireRecord) -> str:
    """`TX INVITE` or `RX 200 INVITE`."""
    message = record.message
    if isinstance(message, sip.SipRequest):
        return f"{record.direction} {message.method}"
    return f"{record.direction} {message.status_code} {message.cseq.method}"


def labels(records: Iterable[WireRecord]) -> list[str]:
    """`TX INVITE`, `RX 200 INVITE`, ... in capture order."""
    return [short(r) for r in records]


def ladder(records: list[WireRecord]) -> str:
    """The text ladder of `records`, for assertion messages."""
    return render_text(ladder_rows(records))


def media_sections(sdp: str) -> list[str]:
    """The SDP's media sections, each starting with its m= line."""
    return re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)[1:]


def test_video_offer_call_is_confirmed_and_hung_up(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(200)
    started = time.monotonic()
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
    a.wait_message(lambda r: r.status_of("BYE") == 200, expected="200 to the BYE on A")
    # A second hangup is refused by the worker, not passed to pjsua (which would abort).
    assert a.hangup(handle) is False

    flow = a.call_records(handle)
    got = labels(flow)
    assert got == [
        "TX INVITE",
        "RX 100 INVITE",
        "RX 180 INVITE",
        "RX 200 INVITE",
        "TX ACK",
        "TX BYE",
        "RX 200 BYE",
    ], ladder(flow)
    assert all(r.remote == (LOOPBACK, b.udp_port) for r in flow), ladder(flow)
    assert all(r.local == (LOOPBACK, a.udp_port) and r.transport == "udp" for r in flow)
    assert flow[0].src == (LOOPBACK, a.udp_port) and flow[0].dst == (LOOPBACK, b.udp_port)
    assert flow[1].src == flow[0].dst and flow[1].dst == flow[0].src
    # Record times are on this process's monotonic clock, in capture order.
    assert [r.t for r in flow] == sorted(r.t for r in flow)
    assert started <= flow[0].t and flow[-1].t <= time.monotonic()
    # The raw bytes are the message as sent: they parse, and the INVITE carries its SDP.
    assert flow[0].raw.startswith(b"INVITE sip:b@") and b"m=video 40002 RTP/AVP 97" in flow[0].raw
    # B saw the same dialog from its side.
    b_flow = b.call_records(incoming["handle"])
    assert labels(b_flow)[:2] == ["RX INVITE", "TX 100 INVITE"], ladder(b_flow)


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
    bye = a.wait_message(lambda r: r.is_request_of("BYE"), expected="BYE from B")
    assert bye.direction == "RX" and bye.remote == (LOOPBACK, b.udp_port)


def test_busy_callee_486_reaches_the_caller(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(486)
    handle = a.call(b.uri())
    ended = a.wait_call_state(handle, "DISCONNECTED")
    assert (ended["code"], ended["reason"]) == (486, "Busy Here")
    got = labels(a.call_records(handle))
    assert got == ["TX INVITE", "RX 100 INVITE", "RX 180 INVITE", "RX 486 INVITE", "TX ACK"], got


def test_auto_answer_without_ringing_sends_no_180(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, b = peers
    b.set_auto_answer(603, ring=False)
    handle = a.call(b.uri(), video=False)
    assert a.wait_call_state(handle, "DISCONNECTED")["code"] == 603
    got = labels(a.call_records(handle))
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
        lambda r: r.status_of("INVITE") == 200 and b"a=inactive" in r.message.body,
        expected="200 answering the re-INVITE with a=inactive",
    )


def test_errors_and_timeouts_are_explicit(peers: tuple[PjsuaPeer, PjsuaPeer]) -> None:
    a, _b = peers
    with pytest.raises(PeerError, match="no call with handle 99") as refused:
        a.answer(99)
    assert isinstance(refused.value, NotExercised)  # the suite's own misuse: broken
    # Nothing happens on call 99 and the worker is healthy: blamed on the other end (failed).
    with pytest.raises(DeviceTimeout, match=r"expected call 99 reaching CONFIRMED; seen:"):
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
    assert isinstance(caught.value, NotExercised) and not isinstance(caught.value, AssertionError)
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
            sent = [r.message for r in peer.records() if r.direction == "TX"]
            assert [m.headers.get("Expires") for m in sent] == ["60", "60", "0", "0"]
            assert ["Authorization" in m.headers for m in sent] == [False, True, False, True]
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


# --- who failed: a hung peer is broken, a silent device is failed -------------------------------


def stop_soon(pid: int, delay: float = 0.05) -> threading.Timer:
    """SIGSTOP `pid` after `delay` s (while the caller is already waiting on it)."""
    timer = threading.Timer(delay, os.kill, (pid, signal.SIGSTOP))
    timer.start()
    return timer


def test_a_stopped_worker_makes_a_device_wait_broken_not_failed(tmp_path: Path) -> None:
    with PjsuaPeer("frozen", log_dir=tmp_path) as peer:
        peer.start()
        pid = peer.pid
        assert pid is not None
        timer = stop_soon(pid)
        try:
            started = time.monotonic()
            with pytest.raises(NotExercised) as caught:
                peer.wait_incoming(timeout=0.5)  # the device's doing, but the peer is frozen
            elapsed = time.monotonic() - started
        finally:
            timer.cancel()
            timer.join()
            os.kill(pid, signal.SIGCONT)
        assert peer.ping()["pid"] == pid  # continued, it works again
    error = caught.value
    assert not isinstance(error, AssertionError), "a frozen peer must not be a device failure"
    assert isinstance(error, PeerTimeout) and not isinstance(error, DeviceFailure)
    message = str(error)
    assert f"'frozen' (pid {pid}) is stopped (state T (stopped) in /proc/{pid}/stat)" in message
    assert "a 0.5 s wait for an incoming call timed out" in message
    assert str(peer.worker_log_path) in message
    assert elapsed < 2.0  # a stopped worker is seen in /proc: no ping to wait out


def test_a_worker_that_does_not_answer_a_ping_is_hung(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc to read (as on another OS), the ping after the wait tells a hung worker."""
    monkeypatch.setattr(controller, "_proc_state", lambda pid: None)
    with PjsuaPeer("hung", log_dir=tmp_path, command_timeout=0.3) as peer:
        peer.start()
        pid = peer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(PeerTimeout) as waited:
                peer.wait_call_state(1, "CONFIRMED", timeout=0.2)
            with pytest.raises(PeerTimeout) as commanded:
                peer.calls()  # a command whose reply does not come: the worker's fault
        finally:
            os.kill(pid, signal.SIGCONT)
        assert peer.calls() == []  # the late replies were dropped, the new one is read
    assert f"'hung' (pid {pid}) is hung" in str(waited.value)
    assert "did not answer a ping within 0.3 s" in str(waited.value)
    assert "it did not answer 'calls' within 0.3 s" in str(commanded.value)
    assert not isinstance(waited.value, AssertionError)
    assert not isinstance(commanded.value, AssertionError)


@pytest.fixture
def silent_device() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that is bound (kept open) and never answers: its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((LOOPBACK, 0))
        yield sink.getsockname()[1]


def test_a_healthy_worker_and_a_silent_device_fail(tmp_path: Path, silent_device: int) -> None:
    """The negative control: the worker answers, the device does not: DeviceTimeout (failed)."""
    with PjsuaPeer("caller", log_dir=tmp_path) as peer:
        peer.start()
        handle = peer.call(f"sip:7001@{LOOPBACK}:{silent_device}", video=False)
        with pytest.raises(DeviceTimeout) as state:
            peer.wait_call_state(handle, "CONFIRMED", timeout=0.3)
        with pytest.raises(DeviceTimeout) as message:
            peer.wait_message(
                lambda r: r.direction == "RX", timeout=0.2, expected="any answer to the INVITE"
            )
    for caught in (state, message):
        assert isinstance(caught.value, AssertionError)
        assert not isinstance(caught.value, NotExercised)
        assert "answered a ping: it is healthy" in str(caught.value)
    assert f"TX INVITE sip:7001@{LOOPBACK}:{silent_device}" in str(message.value)


VERDICT_CONFTEST = """
import json

import pytest

from decoder_conformance.report.summary import verdict


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    found = verdict(report, call)
    if found is not None:
        with open({out!r}, "a", encoding="utf-8") as out:
            out.write(json.dumps([item.name, report.when, found]) + "\\n")
    return report
"""

VERDICT_CASES = """
import os
import signal
import socket

from decoder_conformance.peers.pjsua.controller import PjsuaPeer


def test_hung_peer(tmp_path):
    with PjsuaPeer("frozen", log_dir=tmp_path) as peer:
        peer.start()
        os.kill(peer.pid, signal.SIGSTOP)
        try:
            peer.wait_incoming(timeout=0.3)
        finally:
            os.kill(peer.pid, signal.SIGCONT)


def test_silent_device(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with PjsuaPeer("caller", log_dir=tmp_path) as peer:
            peer.start()
            handle = peer.call(f"sip:7001@127.0.0.1:{sink.getsockname()[1]}", video=False)
            peer.wait_call_state(handle, "CONFIRMED", timeout=0.3)
"""


def test_verdicts_as_the_report_sorts_them(pytester: pytest.Pytester) -> None:
    """Through summary.verdict (what the reports use): hung peer broken, silent device failed."""
    out = pytester.path / "verdicts.jsonl"
    pytester.makeconftest(VERDICT_CONFTEST.format(out=str(out)))
    pytester.makepyfile(test_cases=VERDICT_CASES)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:decoder_conformance")
    result.assert_outcomes(failed=2)
    lines = out.read_text(encoding="utf-8").splitlines()
    verdicts = {name: found for name, when, found in map(json.loads, lines) if when == "call"}
    assert verdicts == {"test_hung_peer": "broken", "test_silent_device": "failed"}, "\n".join(
        result.outlines[-40:]
    )
