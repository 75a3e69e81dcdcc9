"""Test helpers: a reference decoder in a subprocess, and a plain-socket SIP peer on `wire/`.

The peer records what it sends and receives as the harness's one wire record type
(`decoder_conformance.peers.capture.WireRecord`, via `records()`); what it received is also in
`seen`, as `Received` records (a WireRecord that also answers to `source` and `at`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from decoder_conformance.device.target import ReferenceProcess, start_reference
from decoder_conformance.peers.capture import Address, WireRecord
from decoder_conformance.waiting import poll_until
from wire import sdp, sip

LOCAL = "127.0.0.1"
FAST_ARGS = (
    "--sip-t1-ms",
    "50",
    "--sip-t2-ms",
    "400",
    "--sip-t4-ms",
    "500",
    "--retry-base-ms",
    "200",
)
WAIT = 5.0

Json = dict[str, Any]


@dataclass
class Device:
    """A running reference decoder and its API."""

    process: ReferenceProcess

    def call(self, endpoint: str, **params: str) -> Json:
        """GET /api/sip/<endpoint>.json."""
        url = f"{self.process.api_url}/sip/{endpoint}.json"
        body: Json = requests.get(url, params=params, timeout=5).json()
        return body

    def ok(self, endpoint: str, **params: str) -> Json:
        """A call that must answer ok."""
        body = self.call(endpoint, **params)
        assert body["result"] == "ok", f"{endpoint} {params}: {body}"
        return body

    def binds(self) -> list[str]:
        """get_binds as a list."""
        return str(self.ok("get_binds")["data"]["binds"]).split(",")

    def sip_port(self) -> int:
        """The port of the first effective bind."""
        return int(self.binds()[0].rpartition(":")[2])

    def status(self, account_id: int = 1) -> dict[str, Any]:
        """status.json as {id: entry}."""
        return {e["id"]: e for e in self.ok("status", id=str(account_id))["data"]}

    def state(self, which: str, account_id: int = 1) -> Any:
        """One status entry's state."""
        return self.status(account_id)[which]["state"]

    def wait_state(
        self, which: str, wanted: str, account_id: int = 1, timeout: float = WAIT
    ) -> None:
        """Poll status.json until `which` is `wanted`."""
        poll_until(
            lambda: self.state(which, account_id),
            lambda s: s == wanted,
            timeout=timeout,
            expected=f"{which} {wanted}",
            interval=0.02,
        )

    def account(self, name: str = "a", **fields: str) -> int:
        """Add an account on the first bind and configure it; its id."""
        self.ok("add", name=name, type="sip")
        account_id = max(e["id"] for e in self.ok("list")["data"])
        defaults = {"localAccount": "dec", "localAddress": self.binds()[0]}
        self.ok("modify", id=str(account_id), **{**defaults, **fields})
        return int(account_id)


@contextmanager
def device(tmp_path: Path, *extra: str, faults: tuple[str, ...] = ()) -> Iterator[Device]:
    """A reference decoder with fast SIP timers, stopped at the end."""
    process = start_reference(tmp_path / "state", faults=faults, extra_args=(*FAST_ARGS, *extra))
    try:
        yield Device(process)
    finally:
        process.stop()


class Received(WireRecord):
    """A record of a message the peer received (RX): its `message`, `t` and `remote`.

    `source` and `at` are the names tests/reference_device/media/ reads (`remote`, `t`).
    """

    @property
    def source(self) -> Address:
        """Where the message came from (`remote`)."""
        return self.remote

    @property
    def at(self) -> float:
        """Monotonic arrival time (`t`)."""
        return self.t


@dataclass
class Peer:
    """A SIP peer on one UDP (or TCP client) socket, reading with deadlines."""

    tcp: bool = False
    sock: socket.socket = field(init=False)
    _records: list[WireRecord] = field(default_factory=list)
    _backlog: list[Received] = field(default_factory=list)
    _buffer: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        kind = socket.SOCK_STREAM if self.tcp else socket.SOCK_DGRAM
        self.sock = socket.socket(socket.AF_INET, kind)
        if not self.tcp:
            self.sock.bind((LOCAL, 0))

    @property
    def port(self) -> int:
        """Our port."""
        return int(self.sock.getsockname()[1])

    @property
    def transport(self) -> str:
        """UDP or TCP."""
        return "TCP" if self.tcp else "UDP"

    def records(self) -> list[WireRecord]:
        """Everything sent (TX) and received (RX) so far, in order."""
        return list(self._records)

    @property
    def seen(self) -> list[Received]:
        """Everything received so far, in order."""
        return [r for r in self._records if isinstance(r, Received)]

    def connect(self, port: int) -> None:
        """TCP only: connect to the device."""
        self.sock.connect((LOCAL, port))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def send(self, message: sip.SipMessage, port: int) -> None:
        """Send to the device's port."""
        data = message.to_bytes()
        local: Address = self.sock.getsockname()
        transport = "tcp" if self.tcp else "udp"
        remote: Address = self.sock.getpeername() if self.tcp else (LOCAL, port)
        self._records.append(WireRecord(time.monotonic(), "TX", transport, local, remote, data))
        if self.tcp:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, remote)

    def _read(self, timeout: float) -> Received | None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            if self.tcp:
                while (parsed := sip.parse_stream(self._buffer)) is None:
                    data = self.sock.recv(65535)
                    if not data:
                        return None
                    self._buffer += data
                _message, used = parsed
                raw = bytes(self._buffer[:used])
                del self._buffer[:used]
                got = Received(
                    time.monotonic(),
                    "RX",
                    "tcp",
                    self.sock.getsockname(),
                    self.sock.getpeername(),
                    raw,
                )
            else:
                raw, addr = self.sock.recvfrom(65535)
                got = Received(time.monotonic(), "RX", "udp", self.sock.getsockname(), addr, raw)
        except (TimeoutError, BlockingIOError):
            return None
        self._records.append(got)
        return got

    def expect(
        self, accept: Callable[[sip.SipMessage], bool], what: str, timeout: float = WAIT
    ) -> Received:
        """The first message (backlog first) for which `accept` holds; AssertionError if none.

        A datagram that is not SIP fails here (DeviceFailure, an AssertionError).
        """
        for index, kept in enumerate(self._backlog):
            if accept(kept.message):
                return self._backlog.pop(index)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self._read(left)
            if got is None:
                continue
            if accept(got.message):
                return got
            self._backlog.append(got)
        lines = [r.first_line for r in self.seen]
        raise AssertionError(f"expected {what} within {timeout} s; received {lines}")

    def register(self, *, expires: str | None = None) -> sip.SipRequest:
        """The next REGISTER (with that Expires header, when `expires` is given)."""

        def wanted(m: sip.SipMessage) -> bool:
            if not isinstance(m, sip.SipRequest) or m.method != "REGISTER":
                return False
            return expires is None or m.headers.get("Expires") == expires

        got = self.expect(wanted, f"REGISTER (Expires {expires or 'any'})")
        assert isinstance(got.message, sip.SipRequest)
        return got.message

    def request(self, method: str, timeout: float = WAIT) -> Received:
        """The next request `method`."""
        return self.expect(
            lambda m: isinstance(m, sip.SipRequest) and m.method == method, method, timeout
        )

    def response(self, code: int, method: str = "INVITE", timeout: float = WAIT) -> sip.SipResponse:
        """The next response `code` to `method`."""
        got = self.expect(
            lambda m: (
                isinstance(m, sip.SipResponse) and m.status_code == code and m.cseq.method == method
            ),
            f"{code} to {method}",
            timeout,
        )
        assert isinstance(got.message, sip.SipResponse)
        return got.message

    def nothing(self, accept: Callable[[sip.SipMessage], bool], seconds: float) -> None:
        """Assert that no message `accept`s within `seconds` (a negative check, bounded)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            got = self._read(left)
            if got is not None:
                assert not accept(got.message), f"unexpected {got.first_line}"
                self._backlog.append(got)


def h264_offer(port: int = 40000, payload_type: int = 109, direction: str = "sendonly") -> bytes:
    """A sendonly H.264 video offer (plus an audio line the answer must reject)."""
    return (
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        f"m=video {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} h264/90000\r\n"
        f"a={direction}\r\n"
    ).encode()


AUDIO_ONLY = (
    b"v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass
class Dialog:
    """The caller side of one call made by a test."""

    peer: Peer
    port: int
    call_id: str = field(default_factory=sip.new_call_id)
    from_tag: str = field(default_factory=sip.new_tag)
    to_tag: str | None = None
    cseq: int = 1
    user: str = "dec"
    invite_branch: str = ""
    last_invite: sip.SipRequest | None = None

    def _request(
        self, method: str, cseq: int, body: bytes = b"", branch: str | None = None
    ) -> sip.SipRequest:
        return sip.make_request(
            method,
            f"sip:{self.user}@{LOCAL}:{self.port}",
            sent_by=(LOCAL, self.peer.port),
            transport=self.peer.transport,
            branch=branch,
            rport=False,
            from_uri=f"sip:caller@{LOCAL}",
            from_tag=self.from_tag,
            to_uri=f"sip:{self.user}@{LOCAL}:{self.port}",
            to_tag=self.to_tag,
            call_id=self.call_id,
            cseq=cseq,
            contact=f"sip:caller@{LOCAL}:{self.peer.port}",
            body=body,
        )

    def make(self, method: str, body: bytes = b"", *, cseq: int | None = None) -> sip.SipRequest:
        """A request in this call (new CSeq unless given)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        return self._request(method, cseq, body)

    def invite(self, body: bytes = b"") -> sip.SipRequest:
        """Send the initial INVITE."""
        self.invite_branch = sip.new_branch()
        request = self._request("INVITE", 1, body, self.invite_branch)
        self.last_invite = request
        self.peer.send(request, self.port)
        return request

    def take_tag(self, response: sip.SipResponse) -> None:
        """Learn the device's To tag."""
        self.to_tag = response.to_addr.tag

    def ack(self, body: bytes = b"") -> None:
        """ACK a 2xx (new branch)."""
        self.peer.send(self.make("ACK", body, cseq=1), self.port)

    def cancel(self) -> None:
        """CANCEL the INVITE (same branch)."""
        assert self.last_invite is not None, "cancel() before invite()"
        self.peer.send(sip.make_cancel(self.last_invite), self.port)

    def bye(self) -> None:
        """Send BYE."""
        self.peer.send(self.make("BYE"), self.port)

    def confirm_and_hang_up(self, ok: sip.SipResponse, dev: Device, up: str = "calling") -> None:
        """Confirm the call `ok` answered (its To tag, ACK) and see call_status `up`; then BYE,
        answered 200, and see call_status idle."""
        self.take_tag(ok)
        self.ack()
        dev.wait_state("call_status", up)
        self.bye()
        self.peer.response(200, "BYE")
        dev.wait_state("call_status", "idle")


def respond(peer: Peer, request: sip.SipRequest, code: int, port: int, **headers: str) -> None:
    """Answer a request the device sent (a To tag on finals)."""
    response = sip.make_response(request, code, to_tag=sip.new_tag() if code >= 200 else None)
    for name, value in headers.items():
        response.headers.add(name.replace("_", "-"), value)
    peer.send(response, port)


def video_of(body: bytes) -> sdp.MediaDescription:
    """The accepted (non-zero port) video section of an SDP body."""
    description = sdp.parse(body)
    return next(m for m in description.media if m.media == "video" and m.port != 0)
