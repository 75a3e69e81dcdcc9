"""RFC 3261 §8.2 refusals and §18.2.2 response routing of the reference decoder.

Each case sends one raw request to an auto-answer account (so a request wrongly accepted is
answered 200 at once) and checks the refusal, that no call was set up, and with the matching
fault on that the device behaves differently.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reference_device.sip.peer import LOCAL, WAIT, Device, Peer, device, h264_offer
from wire import sip


@pytest.fixture
def peer() -> Iterator[Peer]:
    """A UDP peer, closed at the end."""
    udp = Peer()
    yield udp
    udp.close()


@contextmanager
def _auto_answer(tmp_path: Path, *faults: str) -> Iterator[Device]:
    with device(tmp_path, faults=faults) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        yield dev


#: A second, well-formed but different value for each single-valued header.
SECOND = {
    "Call-ID": "{value}x",
    "CSeq": "2 {method}",
    "From": f"<sip:other@{LOCAL}>;tag=second",
    "To": f"<sip:other@{LOCAL}>",
}


def request(
    dev_port: int,
    peer_port: int,
    method: str = "INVITE",
    *,
    cseq_method: str | None = None,
    drop: tuple[str, ...] = (),
    twice: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes | None = None,
    content_type: str | None = None,
    rport: bool = True,
    sent_by_port: int | None = None,
) -> sip.SipRequest:
    """A request to account `dec` as a misbehaving peer would send it (SDP body by default)."""
    if body is None:
        body = h264_offer() if method == "INVITE" else b""
    message = sip.make_request(
        method,
        f"sip:dec@{LOCAL}:{dev_port}",
        sent_by=(LOCAL, sent_by_port or peer_port),
        rport=rport,
        from_uri=f"sip:caller@{LOCAL}",
        from_tag=sip.new_tag(),
        to_uri=f"sip:dec@{LOCAL}:{dev_port}",
        call_id=sip.new_call_id(),
        cseq=1,
        contact=f"sip:caller@{LOCAL}:{peer_port}",
        headers=extra,
        body=body,
        content_type=content_type,
    )
    if cseq_method is not None:
        message.headers.set("CSeq", f"1 {cseq_method}")
    for name in drop:
        message.headers.remove(name)
    for name in twice:
        value = message.headers.get(name)
        assert value is not None
        message.headers.add(name, SECOND[name].format(value=value, method=method))
    return message


def final(peer: Peer, sent: sip.SipRequest, what: str) -> sip.SipResponse:
    """The final response to `sent` (same top Via branch; refusals of earlier requests that
    were not ACKed are retransmitted and skipped)."""
    branch = sent.vias[0].branch

    def answers(m: sip.SipMessage) -> bool:
        return (
            isinstance(m, sip.SipResponse)
            and m.status_code >= 200
            and bool(m.vias)
            and m.vias[0].branch == branch
        )

    got = peer.expect(answers, what)
    assert isinstance(got.message, sip.SipResponse)
    return got.message


def _no_call(dev: Device) -> None:
    assert dev.state("call_status") == "idle", dev.status()


Build = Callable[[int, int], sip.SipRequest]

REFUSED: dict[str, tuple[Build, int]] = {
    "require-unknown": (lambda d, p: request(d, p, extra=(("Require", "foo"),)), 420),
    "require-100rel": (lambda d, p: request(d, p, extra=(("Require", "100rel"),)), 420),
    "options-require": (lambda d, p: request(d, p, "OPTIONS", extra=(("Require", "foo"),)), 420),
    "text-plain": (lambda d, p: request(d, p, body=b"hello", content_type="text/plain"), 415),
    "gzip": (lambda d, p: request(d, p, extra=(("Content-Encoding", "gzip"),)), 415),
    "no-call-id": (lambda d, p: request(d, p, drop=("Call-ID",)), 400),
    "no-cseq": (lambda d, p: request(d, p, drop=("CSeq",)), 400),
    "no-from": (lambda d, p: request(d, p, drop=("From",)), 400),
    "no-to": (lambda d, p: request(d, p, drop=("To",)), 400),
    "options-no-call-id": (lambda d, p: request(d, p, "OPTIONS", drop=("Call-ID",)), 400),
    "cseq-bye": (lambda d, p: request(d, p, cseq_method="BYE"), 400),
    "two-call-ids": (lambda d, p: request(d, p, twice=("Call-ID",)), 400),
    "two-cseqs": (lambda d, p: request(d, p, twice=("CSeq",)), 400),
    "two-froms": (lambda d, p: request(d, p, twice=("From",)), 400),
    "two-tos": (lambda d, p: request(d, p, twice=("To",)), 400),
}


def test_refusals(tmp_path: Path, peer: Peer) -> None:
    """Each request gets the RFC's refusal, not a 200, and no call is set up."""
    with _auto_answer(tmp_path) as dev:
        port = dev.sip_port()
        for name, (build, code) in REFUSED.items():
            sent = build(port, peer.port)
            peer.send(sent, port)
            answer = final(peer, sent, f"a final answer to {name}")
            assert answer.status_code == code, f"{name}: {answer.status_code}"
            if code == 420:
                assert answer.headers.get("Unsupported") in ("foo", "100rel"), name
            if code == 415:
                assert answer.headers.get("Accept") == "application/sdp", name
                assert answer.headers.get("Accept-Encoding") == "identity", name
            _no_call(dev)
        # and a well-formed INVITE is still answered 200: the refusals are not blanket ones
        good = request(port, peer.port)
        peer.send(good, port)
        assert final(peer, good, "a 200 to a well-formed INVITE").status_code == 200


def test_request_without_via_gets_no_answer_and_no_call(tmp_path: Path, peer: Peer) -> None:
    with _auto_answer(tmp_path) as dev:
        port = dev.sip_port()
        peer.send(request(port, peer.port, drop=("Via",)), port)
        options = request(port, peer.port, "OPTIONS")
        peer.send(options, port)
        # the OPTIONS sent after it is answered; nothing came for the Via-less INVITE
        answer = final(peer, options, "a 200 to the OPTIONS")
        assert answer.cseq.method == "OPTIONS" and answer.status_code == 200
        assert [r.first_line for r in peer.seen] == ["SIP/2.0 200 OK"]
        _no_call(dev)


@pytest.mark.parametrize(
    ("fault", "build", "code"),
    [
        ("require_ignored", REFUSED["require-unknown"][0], 420),
        ("unknown_content_type_accepted", REFUSED["text-plain"][0], 415),
        ("cseq_method_mismatch_accepted", REFUSED["cseq-bye"][0], 400),
        ("missing_header_accepted", REFUSED["no-call-id"][0], 400),
        ("duplicate_header_accepted", REFUSED["two-call-ids"][0], 400),
    ],
)
def test_refusal_faults_set_up_a_call(
    tmp_path: Path, peer: Peer, fault: str, build: Build, code: int
) -> None:
    """With the fault on, the request the clean device refuses is answered otherwise."""
    with _auto_answer(tmp_path, fault) as dev:
        port = dev.sip_port()
        sent = build(port, peer.port)
        peer.send(sent, port)
        answer = final(peer, sent, f"a final answer with {fault} on")
        assert answer.status_code != code, f"{fault}: still {code}"
        dev.call("hangup", id="1")


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCAL, 0))
    sock.settimeout(WAIT)
    return sock


@pytest.mark.parametrize("fault", [(), ("reply_to_source_port",)])
def test_udp_response_port(tmp_path: Path, peer: Peer, fault: tuple[str, ...]) -> None:
    """Without rport the answer goes to the Via sent-by port (RFC 3261 §18.2.2), with rport to
    the source port (RFC 3581 §4); reply_to_source_port always answers the source port."""
    listener = _udp_socket()
    listen_port = int(listener.getsockname()[1])
    try:
        with device(tmp_path, faults=fault) as dev:
            port = dev.sip_port()
            plain = request(port, peer.port, "OPTIONS", rport=False, sent_by_port=listen_port)
            peer.send(plain, port)
            if fault:
                assert final(peer, plain, "the answer at the source port").status_code == 200
            else:
                data, _ = listener.recvfrom(65535)
                answer = sip.parse(data)
                assert isinstance(answer, sip.SipResponse) and answer.status_code == 200
                assert answer.headers.get("Call-ID") == plain.call_id
                peer.nothing(lambda m: True, 0.3)  # nothing at the source port
            with_rport = request(port, peer.port, "OPTIONS", sent_by_port=listen_port)
            peer.send(with_rport, port)
            answer = final(peer, with_rport, "the OPTIONS answer at the source port (rport)")
            assert answer.headers.get("Call-ID") == with_rport.call_id
    finally:
        listener.close()


def test_datagram_shorter_than_its_content_length_gets_400(tmp_path: Path, peer: Peer) -> None:
    """RFC 3261 §18.3: over UDP, a request whose body is shorter than its Content-Length SHOULD
    be answered 400 (it was dropped unanswered before); no call is set up from the cut offer."""
    with _auto_answer(tmp_path) as dev:
        port = dev.sip_port()
        cut = request(port, peer.port)
        cut.headers.set("Content-Length", str(len(cut.body) + 40))
        with pytest.raises(sip.ShortBodyError):
            sip.parse(cut.to_bytes())
        peer.send(cut, port)
        assert final(peer, cut, "a 400 to the cut INVITE").status_code == 400
        _no_call(dev)
        whole = request(port, peer.port)
        peer.send(whole, port)
        assert final(peer, whole, "a 200 to a whole INVITE").status_code == 200
