"""What the reference decoder's SIP fast paths must keep doing (issue 11, load): the UDP receive
buffer, the top Via parsed once and stamped as before, compact finished server transactions
that still absorb retransmissions, and the bye_leaks_older_call fault against the clean path.

The figures (calls/s, OPTIONS/s, CPU per call) are benchmarks/sip_load.py's, never asserted here.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from reference_device.sip.transaction import (
    ServerTransaction,
    Timers,
    TransactionLayer,
    TxState,
)
from reference_device.sip.transport import (
    UDP_RECEIVE_BUFFER,
    Flow,
    bind_pair,
    stamped_top_via,
    top_via,
)
from tests.reference_device.sip.peer import LOCAL, Dialog, Peer, device, h264_offer
from wire import sip


def _options(via: str, *, call_id: str = "c1@x") -> sip.SipRequest:
    raw = (
        f"OPTIONS sip:dec@{LOCAL}:5060 SIP/2.0\r\nVia: {via}\r\n"
        f"From: <sip:a@{LOCAL}>;tag=1\r\nTo: <sip:dec@{LOCAL}>\r\nCall-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    request = sip.parse(raw)
    assert isinstance(request, sip.SipRequest)
    return request


def test_sip_udp_socket_asks_for_a_large_receive_buffer() -> None:
    udp, tcp = bind_pair(LOCAL, 0)
    try:
        with open("/proc/sys/net/core/rmem_max", encoding="ascii") as cap:
            rmem_max = int(cap.read())
        got = udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        # Linux doubles what is asked for (bookkeeping) and caps the request at rmem_max.
        assert got >= 2 * min(UDP_RECEIVE_BUFFER, rmem_max)
    finally:
        udp.close()
        tcp.close()


@pytest.mark.parametrize(
    ("via", "source", "stamped"),
    [
        (f"SIP/2.0/UDP {LOCAL}:5062;branch=z9hG4bKa", (LOCAL, 5062), ""),
        (f"SIP/2.0/UDP {LOCAL}:5062;branch=z9hG4bKa;rport", (LOCAL, 40000), "rport=40000"),
        ("SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKa", (LOCAL, 5062), f"received={LOCAL}"),
    ],
)
def test_top_via_is_stamped_as_stamp_received_does(
    via: str, source: tuple[str, int], stamped: str
) -> None:
    mine, theirs = _options(via), _options(via)
    parsed = stamped_top_via(mine, source)
    sip.stamp_received(theirs, source)
    assert mine.headers.get("Via") == theirs.headers.get("Via")
    assert parsed == top_via(theirs) and parsed is not None
    assert (stamped in str(mine.headers.get("Via"))) if stamped else mine == _options(via)


def test_top_via_of_a_request_without_one_is_none() -> None:
    request = _options(f"SIP/2.0/UDP {LOCAL}:5062;branch=z9hG4bKa")
    request.headers.remove("Via")
    assert top_via(request) is None and stamped_top_via(request, (LOCAL, 5062)) is None


class _Sent:
    """A stand-in flow that keeps what is sent."""

    reliable = False
    addr = (LOCAL, 5062)

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, message: sip.SipMessage) -> None:
        self.sent.append(message.to_bytes())

    def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)


def test_finished_server_transaction_still_absorbs_retransmissions() -> None:
    async def run() -> None:
        answered: list[str] = []

        def on_request(request: sip.SipRequest, flow: Flow, tx: ServerTransaction | None) -> None:
            answered.append(request.method)
            assert tx is not None
            tx.respond(sip.make_response(request, 200, to_tag="t"))

        layer = TransactionLayer(Timers(), on_request, lambda r, f: None)
        flow = _Sent()
        via = f"SIP/2.0/UDP {LOCAL}:5062;branch=z9hG4bKretrans"
        layer.receive(_options(via), flow)  # type: ignore[arg-type]
        layer.receive(_options(via), flow)  # type: ignore[arg-type]
        assert answered == ["OPTIONS"], "the retransmission reached the TU"
        assert len(flow.sent) == 2 and flow.sent[0] == flow.sent[1]
        (tx,) = layer.servers.values()
        assert tx.state is TxState.COMPLETED and tx.final_sent and tx.final_is_2xx
        assert tx.request.method == "OPTIONS" and len(tx.request.headers) == 0  # let go
        layer.close()
        assert not layer.servers

    asyncio.run(run())


@pytest.mark.parametrize("fault", [(), ("bye_leaks_older_call",)])
def test_bye_for_the_older_of_two_calls_frees_its_slot(
    tmp_path: Path, fault: tuple[str, ...]
) -> None:
    peers = [Peer() for _ in range(4)]
    with device(tmp_path, faults=fault) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1", allow_in_num="2")
        calls = []
        for peer in peers[:2]:  # two calls up at once, the first is the older
            dialog = Dialog(peer, dev.sip_port())
            dialog.invite(h264_offer())
            dialog.take_tag(peer.response(200))
            dialog.ack()
            calls.append(dialog)
        for dialog in calls:  # the older one hung up first: both BYEs answered 200
            dialog.bye()
            dialog.peer.response(200, "BYE")
        finals: list[int] = []
        for peer in peers[2:]:  # two new calls: room for both unless a slot leaked
            Dialog(peer, dev.sip_port()).invite(h264_offer())
            finals.append(peer.response(200 if not finals or not fault else 486).status_code)
        assert finals == ([200, 486] if fault else [200, 200])
    for peer in peers:
        peer.close()
