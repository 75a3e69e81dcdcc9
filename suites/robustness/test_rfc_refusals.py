"""Requests RFC 3261 requires a device to refuse, and where UDP answers go.

Each case sends one raw request (built with wire/, then broken on purpose) over UDP or TCP to the
bind of an auto-answering account, so a device that wrongly accepts an INVITE answers it 200 at
once and the case sees it. The expected code comes from the RFC clause of the group's
requirement. After each case the device must still be alive: an OPTIONS over the same transport
is answered, list.json answers, and status.json shows no call for the account. Only the
account's bind is used: on a bind without an account a 404 may rightly come first (§8.2.2.1).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import pytest

from decoder_conformance.device.accounts import SipAccount, SipAccounts
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.status_judge import NOT_A_CALL
from decoder_conformance.failures import DeviceFailure, NotExercised, harness_check
from decoder_conformance.peers import sip_checks
from decoder_conformance.peers.capture import Direction, WireRecord, address_text
from decoder_conformance.peers.sockets import open_to_device
from decoder_conformance.plugin.stash import CaseEvidence
from wire import sip

TRANSPORTS = ("udp", "tcp")
UNKNOWN_OPTION = "x-conformance-unknown"
UNKNOWN_TYPE = "application/x-conformance-unknown"
UNKNOWN_ENCODING = "x-conformance-unknown"
#: A minimal H.264 offer: an INVITE the account would accept when nothing else is wrong with it.
OFFER = (
    b"v=0\r\no=conformance 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=video 40000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
)


@dataclass(frozen=True)
class Broken:
    """How one case breaks an otherwise valid request."""

    method: str = "INVITE"
    drop: tuple[str, ...] = ()
    twice: tuple[str, ...] = ()
    cseq_method: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None


#: A second, well-formed but different value for each single-valued header.
SECOND = {
    "Call-ID": "{value}-second",
    "CSeq": "2 {method}",
    "From": "<sip:second@{host}>;tag=second",
    "To": "<sip:second@{host}>",
}


@dataclass
class RawSip:
    """One raw request at a time to the account's bind, with the records kept as evidence."""

    api: DeviceClient
    account: SipAccount
    host: str
    timeout: float
    records: list[WireRecord] = field(default_factory=list)

    def build(
        self, broken: Broken, local: tuple[str, int], transport: str, *, rport: bool = True
    ) -> sip.SipRequest:
        """The request `broken` describes, from `local` (Via sent-by) to the account."""
        body = broken.body
        if body is None:
            body = OFFER if broken.method == sip.METHOD_INVITE else b""
        request = sip.make_request(
            broken.method,
            self.account.uri,
            sent_by=local,
            transport=transport,
            rport=rport,
            from_uri=f"sip:conformance@{self.host}",
            from_tag=sip.new_tag(),
            to_uri=self.account.uri,
            call_id=sip.new_call_id(),
            cseq=1,
            contact=f"sip:conformance@{local[0]}:{local[1]}",
            headers=broken.headers,
            body=body,
            content_type=broken.content_type,
        )
        if broken.cseq_method is not None:
            request.headers.set("CSeq", f"1 {broken.cseq_method}")
        for name in broken.drop:
            request.headers.remove(name)
        for name in broken.twice:
            value = request.headers.get(name) or ""
            second = SECOND[name].format(value=value, method=broken.method, host=self.host)
            request.headers.add(name, second)
        return request

    def _record(
        self,
        direction: Direction,
        transport: str,
        local: tuple[str, int],
        remote: tuple[str, int],
        data: bytes,
    ) -> WireRecord:
        record = WireRecord(
            time.monotonic(),
            direction,
            "udp" if transport == "udp" else "tcp",
            local,
            remote,
            data,
        )
        self.records.append(record)
        return record

    def exchange(
        self,
        broken: Broken,
        transport: str,
        *,
        rport: bool = True,
        sent_by_port: int | None = None,
        answered: bool = True,
    ) -> tuple[sip.SipRequest, sip.SipResponse | None]:
        """Send the request `broken` describes; its final answer, then an OPTIONS over the same
        socket and its answer (liveness). `answered=False`: no answer to the broken request by
        the time the OPTIONS is answered is accepted (None)."""
        remote = (self.account.sip.host, self.account.sip.port)
        with _Socket(transport, self.host, remote, self.timeout) as sock:
            local = sock.local
            sent_by = (local[0], sent_by_port or local[1])
            request = self.build(broken, sent_by, transport, rport=rport)
            self._record("TX", transport, local, remote, request.to_bytes())
            sock.send(request.to_bytes())
            options = self.build(Broken(method=sip.METHOD_OPTIONS), local, transport)
            if not answered:
                self._record("TX", transport, local, remote, options.to_bytes())
                sock.send(options.to_bytes())
            answer = self._final(sock, request, "the answer", optional=not answered)
            if answered:
                self._record("TX", transport, local, remote, options.to_bytes())
                sock.send(options.to_bytes())
            if answer is not None:  # None: the OPTIONS was answered already
                self._final(sock, options, "the answer to an OPTIONS sent after it")
            return request, answer

    def _final(
        self, sock: _Socket, sent: sip.SipRequest, what: str, *, optional: bool = False
    ) -> sip.SipResponse | None:
        """The final answer to `sent` (same top Via branch or Call-ID); None if `optional` and
        the OPTIONS sent after it was answered first (the device has dealt with `sent`)."""
        vias = sent.vias
        branch = vias[0].branch if vias else None
        call_id = sent.call_id
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            got = sock.receive(left)
            if got is None:
                break
            data, peer = got
            record = self._record("RX", sock.transport, sock.local, peer, data)
            answer = record.message  # not SIP: DeviceFailure
            if not isinstance(answer, sip.SipResponse) or answer.status_code < 200:
                continue
            answer_vias = answer.vias
            same_branch = bool(answer_vias) and answer_vias[0].branch == branch
            if (branch is not None and same_branch) or (
                call_id is not None and answer.call_id == call_id
            ):
                return answer
            if optional and answer.cseq.method == sip.METHOD_OPTIONS:
                return None
        raise DeviceFailure(
            f"[{self.api.req}] expected {what} to {sent.method} over {sock.transport.upper()} at "
            f"{self.account.sip.address} within {self.timeout} s; observed "
            f"{[r.first_line for r in self.records if r.direction == 'RX'] or 'nothing'}"
        )


class _Socket:
    """A UDP socket or a TCP connection from the suite host to the device, with framing."""

    def __init__(self, transport: str, host: str, remote: tuple[str, int], timeout: float) -> None:
        self.transport = transport
        self.remote = remote
        self._buffer = bytearray()
        try:
            self.sock, self.local = open_to_device(transport, host, remote, timeout)
        except ConnectionError as exc:
            raise DeviceFailure(str(exc)) from None

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Send one message."""
        if self.transport == "udp":
            self.sock.sendto(data, self.remote)
        else:
            self.sock.sendall(data)

    def receive(self, timeout: float) -> tuple[bytes, tuple[str, int]] | None:
        """One message, or None when nothing came within `timeout` (or TCP closed)."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            if self.transport == "udp":
                data, peer = self.sock.recvfrom(65535)
                return data, (str(peer[0]), int(peer[1]))
            while True:
                while self._buffer.startswith(b"\r\n"):
                    del self._buffer[:2]
                if self._buffer:
                    try:
                        parsed = sip.parse_stream(self._buffer)
                    except ValueError:
                        return bytes(self._buffer), self.remote  # recorded, fails as not SIP
                    if parsed is not None:
                        data = bytes(self._buffer[: parsed[1]])
                        del self._buffer[: parsed[1]]
                        return data, self.remote
                chunk = self.sock.recv(65535)
                if not chunk:
                    return None
                self._buffer += chunk
        except (TimeoutError, ConnectionError):
            return None


@pytest.fixture
def raw_sip(
    api: DeviceClient,
    sip_account: SipAccounts,
    suite_host: str,
    device_target: object,
    evidence: CaseEvidence,
) -> RawSip:
    """An auto-answering account and a raw sender to its bind; afterwards the device must be
    alive (list.json answers) and show no call for the account."""
    account = sip_account(call_cfg={"auto_aws": "true"})
    timeout = device_target.profile.timers.state_timeout  # type: ignore[attr-defined]
    raw = RawSip(api, account, suite_host, timeout)
    evidence.add_records(
        "raw requests",
        lambda: list(raw.records),
        lambda: {
            **{address_text(r.local): "suite (raw request)" for r in raw.records},
            account.sip.address: "decoder",
        },
    )
    return raw


def _alive_without_call(api: DeviceClient, account: SipAccount, what: str) -> None:
    """list.json answers and status.json shows no call for the account."""
    api.accounts()
    call = api.status(account.id).call
    if call not in NOT_A_CALL:
        raise DeviceFailure(
            f"[{api.req}] expected no call after {what} (call_status one of {NOT_A_CALL}), "
            f"observed call_status {call!r}"
        )


def _refused(
    api: DeviceClient,
    raw: RawSip,
    broken: Broken,
    *,
    transport: str,
    code: int,
    what: str,
) -> sip.SipResponse:
    """Send `broken`; the answer must be `code`; the device alive with no call afterwards."""
    request, answer = raw.exchange(broken, transport)
    harness_check(answer is not None, "exchange() returns an answer or raises")
    assert answer is not None  # for the type checker: checked above
    if answer.status_code != code:
        raise DeviceFailure(
            f"[{api.req}] expected {code} to {what} over {transport.upper()}, observed "
            f"{answer.status_code} {answer.reason}"
        )
    _alive_without_call(api, raw.account, f"{what} ({request.method})")
    return answer


REQUIRE = {
    "invite": Broken(headers=(("Require", UNKNOWN_OPTION),)),
    "options": Broken(method=sip.METHOD_OPTIONS, headers=(("Require", UNKNOWN_OPTION),)),
}


@pytest.mark.req("SIP-ROB-REQUIRE-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("variant", list(REQUIRE))
def test_unsupported_require_gets_420(api, raw_sip, variant, transport):
    """RFC 3261 §8.2.2.3: an unknown Require option is refused with 420 naming it."""
    answer = _refused(
        api,
        raw_sip,
        REQUIRE[variant],
        transport=transport,
        code=420,
        what=f"Require: {UNKNOWN_OPTION}",
    )
    listed = [t.strip().lower() for t in answer.headers.get_list("Unsupported")]
    if UNKNOWN_OPTION not in listed:
        raise DeviceFailure(
            f"[{api.req}] expected the 420's Unsupported to list {UNKNOWN_OPTION}, observed "
            f"Unsupported {answer.headers.get_all('Unsupported')}"
        )


CONTENT = {
    "text-plain": (Broken(body=b"hello", content_type="text/plain"), "Accept"),
    "unknown-type": (Broken(body=b"hello", content_type=UNKNOWN_TYPE), "Accept"),
    "unknown-encoding": (
        Broken(headers=(("Content-Encoding", UNKNOWN_ENCODING),)),
        "Accept-Encoding",
    ),
}


@pytest.mark.req("SIP-ROB-CTYPE-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("variant", list(CONTENT))
def test_unknown_body_gets_415(api, raw_sip, variant, transport):
    """RFC 3261 §8.2.3: a body the device cannot read is refused with 415 saying what it can."""
    broken, listing = CONTENT[variant]
    answer = _refused(
        api, raw_sip, broken, transport=transport, code=415, what=f"an INVITE with a {variant} body"
    )
    if not answer.headers.get_all(listing):
        raise DeviceFailure(
            f"[{api.req}] expected the 415 to carry {listing}, observed none "
            f"(headers {[h.name for h in answer.headers]})"
        )


MANDATORY = ("Call-ID", "CSeq", "From", "To")


@pytest.mark.req("SIP-ROB-MANDATORY-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("header", MANDATORY)
def test_missing_mandatory_header_gets_400(api, raw_sip, header, transport):
    """RFC 3261 §8.1.1: a request without one of the mandatory headers is malformed."""
    _refused(
        api,
        raw_sip,
        Broken(drop=(header,)),
        transport=transport,
        code=400,
        what=f"an INVITE without {header}",
    )


@pytest.mark.req("SIP-ROB-MANDATORY-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_via_is_never_accepted(api, raw_sip, transport):
    """Without Via there is nowhere to answer: 400 or silence, never a 2xx, never a call."""
    _request, answer = raw_sip.exchange(Broken(drop=("Via",)), transport, answered=False)
    if answer is not None and answer.status_code != 400:
        raise DeviceFailure(
            f"[{api.req}] expected 400 or no answer to an INVITE without Via over "
            f"{transport.upper()}, observed {answer.status_code} {answer.reason}"
        )
    _alive_without_call(api, raw_sip.account, "an INVITE without Via")


CSEQ = {
    "invite-cseq-bye": Broken(cseq_method=sip.METHOD_BYE),
    "options-cseq-invite": Broken(method=sip.METHOD_OPTIONS, cseq_method=sip.METHOD_INVITE),
}


@pytest.mark.req("SIP-ROB-CSEQ-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("variant", list(CSEQ))
def test_cseq_method_mismatch_gets_400(api, raw_sip, variant, transport):
    """RFC 3261 §8.1.1.5: the CSeq method must be the request's method."""
    broken = CSEQ[variant]
    _refused(
        api,
        raw_sip,
        broken,
        transport=transport,
        code=400,
        what=f"{broken.method} with CSeq: 1 {broken.cseq_method}",
    )


@pytest.mark.req("SIP-ROB-DUP-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("header", MANDATORY)
def test_duplicated_header_gets_400(api, raw_sip, header, transport):
    """RFC 3261 §7.3.1: Call-ID, CSeq, From and To may appear once."""
    _refused(
        api,
        raw_sip,
        Broken(twice=(header,)),
        transport=transport,
        code=400,
        what=f"an INVITE with two {header}",
    )


@pytest.mark.req("SIP-ROB-VIA-001")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_udp_response_goes_to_the_via_port(api, raw_sip, suite_host, transport):
    """RFC 3261 §18.2.2: without rport, a UDP answer goes to the Via sent-by port; over TCP it
    comes back on the connection whatever the Via says."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind((suite_host, 0))
        via_port = int(listener.getsockname()[1])
        if transport == "tcp":
            raw_sip.exchange(
                Broken(method=sip.METHOD_OPTIONS), transport, rport=False, sent_by_port=via_port
            )
            return
        remote = (raw_sip.account.sip.host, raw_sip.account.sip.port)
        with _Socket("udp", suite_host, remote, raw_sip.timeout) as source:
            request = raw_sip.build(
                Broken(method=sip.METHOD_OPTIONS),
                (suite_host, via_port),
                "udp",
                rport=False,
            )
            raw_sip._record("TX", "udp", source.local, remote, request.to_bytes())
            source.send(request.to_bytes())
            listener.settimeout(raw_sip.timeout)
            try:
                data, peer = listener.recvfrom(65535)
            except TimeoutError:
                stray = source.receive(0.2)
                seen = "nothing" if stray is None else f"it at the source port {source.local[1]}"
                raise DeviceFailure(
                    f"[{api.req}] expected the answer to an OPTIONS whose Via (no rport) names "
                    f"port {via_port} at that port within {raw_sip.timeout} s, observed {seen}"
                ) from None
            local = (suite_host, via_port)
            record = raw_sip._record("RX", "udp", local, (str(peer[0]), int(peer[1])), data)
            answer = record.message
            if not isinstance(answer, sip.SipResponse) or answer.call_id != request.call_id:
                raise NotExercised(
                    f"harness: unexpected datagram at port {via_port}: {data[:80]!r}"
                )
    _alive_without_call(api, raw_sip.account, "an OPTIONS without rport")


@pytest.mark.req("SIP-ROB-VIA-002")
def test_rport_is_filled_in_where_honoured(api, raw_sip, suite_host, record_property):
    """RFC 3581 §4: a device that answers a bare-rport request at its source port fills in
    rport and received (over UDP, and then over TCP too: the duty is transport-independent)."""
    remote = (raw_sip.account.sip.host, raw_sip.account.sip.port)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener,
        _Socket("udp", suite_host, remote, raw_sip.timeout) as source,
    ):
        listener.bind((suite_host, 0))
        via_port = int(listener.getsockname()[1])
        request = raw_sip.build(
            Broken(method=sip.METHOD_OPTIONS), (suite_host, via_port), "udp", rport=True
        )
        raw_sip._record("TX", "udp", source.local, remote, request.to_bytes())
        source.send(request.to_bytes())
        listener.setblocking(False)
        deadline = time.monotonic() + raw_sip.timeout
        answer, at_source = None, False
        while answer is None and time.monotonic() < deadline:
            got = source.receive(0.05)
            if got is not None:
                answer, at_source = got[0], True
                continue
            try:
                answer = listener.recv(65535)
            except BlockingIOError:
                continue
        if answer is None:
            raise DeviceFailure(
                f"[{api.req}] expected an answer to an OPTIONS (Via sent-by port {via_port}, "
                f"rport) at the source port {source.local[1]} or at {via_port} within "
                f"{raw_sip.timeout} s; observed nothing"
            )
        local = source.local if at_source else (suite_host, via_port)
        parsed = raw_sip._record("RX", "udp", local, remote, answer).message
        if not isinstance(parsed, sip.SipResponse) or parsed.call_id != request.call_id:
            raise NotExercised(f"harness: unexpected datagram {answer[:80]!r}")
    record_property("rfc3581", "honoured" if at_source else "not implemented (sent-by port)")
    problem = sip_checks.rport_problem(parsed, source.local, at_source_port=at_source)
    if problem:
        raise DeviceFailure(f"[{api.req}] UDP answer at the source port: {problem}")
    if not at_source:
        return
    tcp_request, tcp_answer = raw_sip.exchange(Broken(method=sip.METHOD_OPTIONS), "tcp")
    harness_check(tcp_answer is not None, "the TCP OPTIONS got no answer")
    assert tcp_answer is not None
    sent_by = tcp_request.vias[0]
    problem = sip_checks.rport_problem(
        tcp_answer, (sent_by.host, sent_by.port or 0), at_source_port=True
    )
    if problem:
        raise DeviceFailure(f"[{api.req}] TCP answer: {problem}")
