"""The malformed-SIP corpus (decoder_conformance/peers/malformed): its size and shape, that it is
deterministic and writes no name a device could resolve, and negative controls: each MUST
requirement's judge fed a recorded bad answer fails it (a good one passes).

Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

import ast
import re
import socket
import threading
import time

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.peers.malformed import expect as ex
from decoder_conformance.peers.malformed import ip_level
from decoder_conformance.peers.malformed.corpus import (
    MAX_UDP_PAYLOAD,
    Case,
    all_cases,
    corpus,
    group,
)
from decoder_conformance.peers.malformed.message import OFFER, Dialog, Target
from decoder_conformance.peers.malformed.sender import ANSWER_GRACE, Sender
from tests.conftest import ROOT
from wire import sip

SUITE = ROOT / "suites" / "robustness" / "test_malformed.py"


def _target(transport: str = "udp", nonce: str = "n1") -> Target:
    dialog = Dialog("dialog-call@127.0.0.1", "local", "remote", 100, "sip:7001@127.0.0.1:5060")
    return Target("7001", "127.0.0.1", 5060, ("127.0.0.1", 40000), transport, nonce, dialog)


def _writes(case: Case, transport: str = "udp", nonce: str = "n1") -> tuple[bytes, ...]:
    return case.writes(_target(transport, nonce))


# -- the corpus ------------------------------------------------------------------------------------


def test_corpus_holds_at_least_1000_cases_with_unique_ids() -> None:
    ids = [case.id for case in all_cases()]
    assert len(ids) >= 1000, len(ids)
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1][:5]
    assert all(case.group == g.name for g in corpus() for case in g.cases)
    assert len({g.name for g in corpus()}) == len(corpus())


def test_every_group_is_a_requirement_of_the_catalogue() -> None:
    catalogue = Catalogue().requirements
    for g in corpus():
        assert g.requirement in catalogue, f"{g.name}: {g.requirement} not in the catalogue"
        assert catalogue[g.requirement].area == "sip"
        assert g.cases and g.title


def test_every_group_requirement_has_a_case_in_the_suite() -> None:
    tree = ast.parse(SUITE.read_text("utf-8"))
    marked = {
        call.args[0].value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "req"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    }
    missing = {g.requirement for g in corpus()} - marked
    assert not missing, f"no test function of {SUITE.name} carries {sorted(missing)}"


def test_the_generator_is_deterministic() -> None:
    first = {c.id: tuple(_writes(c, t) for t in c.transports) for c in all_cases()}
    for case in all_cases():
        again = tuple(_writes(case, t) for t in case.transports)
        assert first[case.id] == again, case.id
    # Another run (nonce) gives other identifiers: no transaction of a past run is matched.
    case = group("require").cases[0]
    assert _writes(case, nonce="n1") != _writes(case, nonce="n2")


def test_every_case_renders_within_its_transport_limits() -> None:
    for case in all_cases():
        assert case.transports and set(case.transports) <= {"udp", "tcp"}, case.id
        for transport in case.transports:
            writes = _writes(case, transport)
            assert writes and all(isinstance(w, bytes) and w for w in writes), case.id
            if transport == "udp":
                assert len(writes) == 1, f"{case.id}: a datagram is one write"
                assert len(writes[0]) <= MAX_UDP_PAYLOAD, case.id
            assert len(b"".join(writes)) <= 65535 + 1000, case.id
        if len(_writes(case, case.transports[-1])) > 1:
            assert case.transports == ("tcp",), f"{case.id}: fragments are a TCP matter"


#: What may follow "@" or "//" in a case: the target's and the suite's IP literals, or the
#: literal words the corpus breaks on purpose (never a resolvable name).
HOSTISH = re.compile(rb"(?:@|//)([A-Za-z][A-Za-z0-9.-]*\.[A-Za-z]{2,})")


def test_no_case_writes_a_name_a_device_could_resolve() -> None:
    for case in all_cases():
        for transport in case.transports:
            data = b"".join(_writes(case, transport))
            names = HOSTISH.findall(data)
            assert not names, f"{case.id}: {names[:3]}"


def test_sizes_reach_64_kb_over_udp_and_tcp() -> None:
    sizes = group("sizes")
    udp = max(len(_writes(c, "udp")[0]) for c in sizes.for_transport("udp"))
    tcp = max(len(b"".join(_writes(c, "tcp"))) for c in sizes.for_transport("tcp"))
    assert MAX_UDP_PAYLOAD - 100 <= udp <= MAX_UDP_PAYLOAD
    assert tcp >= 65535 - 100


def test_fragments_reassemble_to_one_whole_message() -> None:
    for case in group("tcp-fragments").cases:
        data = b"".join(_writes(case, "tcp"))
        parsed = sip.parse_stream(data)
        assert parsed is not None, case.id
        assert isinstance(parsed[0], sip.SipRequest)


def test_valid_forms_parse_as_requests() -> None:
    """The legal forms are legal: the project's own codec reads each as a request."""
    for case in group("valid-forms").cases + group("via-forms").cases:
        for transport in case.transports:
            data = b"".join(_writes(case, transport))
            message = sip.parse(data.lstrip(b"\r\n"))
            assert isinstance(message, sip.SipRequest), case.id
            assert message.method == "OPTIONS", case.id


# -- negative controls: each MUST group's judge fails a recorded bad answer ------------------------


def _answer(code: int, *headers: tuple[str, str], body: bytes = b"") -> sip.SipResponse:
    request = sip.make_request(
        "INVITE",
        "sip:7001@127.0.0.1:5060",
        sent_by=("127.0.0.1", 40000),
        from_uri="sip:conformance@127.0.0.1",
        from_tag="t1",
        to_uri="sip:7001@127.0.0.1:5060",
        call_id="nc@127.0.0.1",
        cseq=1,
    )
    response = sip.make_response(request, code, to_tag="dev")
    for name, value in headers:
        response.headers.add(name, value)
    if body:
        response.set_body(body, "application/sdp")
    return response


def _fails(case_group: str, bad: sip.SipResponse | None, good: sip.SipResponse | None) -> None:
    """Every case of the group fails `bad` and passes `good`."""
    for case in group(case_group).cases:
        for transport in case.transports:
            expect = case.expect_for(transport)
            assert ex.judge(expect, bad) is not None, f"{case.id}: bad answer passed"
            if good is not None and (expect.codes is None or good.status_code in expect.codes):
                assert ex.judge(expect, good) is None, f"{case.id}: {ex.judge(expect, good)}"


@pytest.mark.negative_control("SIP-ROB-MALF-METHOD-001")
def test_unknown_method_accepted_or_405_without_allow() -> None:
    _fails("unknown-method", _answer(200), _answer(405, ("Allow", "INVITE, ACK")))
    expect = ex.METHOD_UNKNOWN
    assert ex.judge(expect, _answer(405)) is not None  # no Allow
    assert ex.judge(expect, _answer(501)) is None


@pytest.mark.negative_control("SIP-ROB-MALF-MISSING-001")
def test_missing_header_processed() -> None:
    _fails("missing-mandatory", _answer(200), _answer(400))
    assert ex.judge(ex.BAD_REQUEST, None) is not None  # From missing: silence is not 400


@pytest.mark.negative_control("SIP-ROB-MALF-DUP-001")
def test_duplicated_header_processed() -> None:
    _fails("duplicate-mandatory", _answer(200), _answer(400))
    assert ex.judge(ex.BAD_REQUEST, _answer(486)) is not None


@pytest.mark.negative_control("SIP-ROB-MALF-CSEQ-001")
def test_bad_cseq_processed() -> None:
    _fails("cseq", _answer(200), _answer(400))


@pytest.mark.negative_control("SIP-ROB-MALF-CLEN-001")
def test_content_length_ignored() -> None:
    # Octets beyond Content-Length refused, or an incomplete message answered 200.
    _fails("content-length-short", _answer(400), _answer(200))
    _fails("content-length-long", _answer(200), None)
    assert ex.judge(group("content-length-short").cases[0].expect, None) is not None


@pytest.mark.negative_control("SIP-ROB-MALF-VIA-001")
def test_legal_via_unanswered() -> None:
    _fails("via-forms", None, _answer(200))
    _fails("via-forms", _answer(400), _answer(200))


@pytest.mark.negative_control("SIP-ROB-MALF-VALID-001")
def test_legal_form_refused() -> None:
    _fails("valid-forms", _answer(400), _answer(200))
    _fails("valid-forms", None, _answer(200))


@pytest.mark.negative_control("SIP-ROB-MALF-REQUIRE-001")
def test_require_ignored_or_unsupported_partial() -> None:
    _fails("require", _answer(200), None)
    two = ex.require_unknown("x-a", "x-b")
    assert ex.judge(two, _answer(420, ("Unsupported", "x-a"))) is not None
    assert ex.judge(two, _answer(420)) is not None
    assert ex.judge(two, _answer(420, ("Unsupported", "X-A, x-b"))) is None
    assert ex.judge(two, _answer(420, ("Unsupported", "x-a"), ("Unsupported", "x-b"))) is None


@pytest.mark.negative_control("SIP-ROB-MALF-CTYPE-001")
def test_unknown_body_accepted_or_415_without_accept() -> None:
    _fails("content-type", _answer(200), None)
    assert ex.judge(ex.TYPE_UNKNOWN, _answer(415)) is not None
    assert ex.judge(ex.TYPE_UNKNOWN, _answer(415, ("Accept", "application/sdp"))) is None
    assert ex.judge(ex.ENCODING_UNKNOWN, _answer(415, ("Accept", "application/sdp"))) is not None
    assert ex.judge(ex.NO_CONTENT_TYPE, _answer(400)) is None


@pytest.mark.negative_control("SIP-ROB-MALF-SDP-001")
def test_unusable_offer_taking_video() -> None:
    taken = _answer(200, body=OFFER.replace(b"40000", b"50000"))
    refused = _answer(200, body=OFFER.replace(b"m=video 40000", b"m=video 0"))
    _fails("sdp-unusable", taken, _answer(488))
    assert ex.judge(ex.VIDEO_NOT_TAKEN, refused) is None
    assert ex.judge(ex.VIDEO_NOT_TAKEN, None) is not None


@pytest.mark.negative_control("SIP-ROB-MALF-FRAG-001")
def test_fragmented_message_unanswered_or_refused() -> None:
    _fails("tcp-fragments", None, None)
    for case in group("tcp-fragments").cases:
        if case.method == "OPTIONS":
            assert ex.judge(case.expect, _answer(400)) is not None, case.id
            assert ex.judge(case.expect, _answer(200)) is None, case.id


@pytest.mark.negative_control("SIP-ROB-MALF-DIALOG-001")
def test_unknown_dialog_or_out_of_order_processed() -> None:
    _fails("dialog-unknown", _answer(200), _answer(481))
    lower = next(c for c in group("dialog-existing").cases if c.id.endswith("bye-cseq-lower"))
    assert ex.judge(lower.expect, _answer(200)) is not None
    assert ex.judge(lower.expect, _answer(481)) is not None
    assert ex.judge(lower.expect, _answer(500)) is None


def _sent() -> ip_level.Sent:
    request = sip.make_request(
        "OPTIONS",
        "sip:7001@127.0.0.1:5060",
        sent_by=("127.0.0.1", 40000),
        from_uri="sip:conformance@127.0.0.1",
        from_tag="t1",
        to_uri="sip:7001@127.0.0.1:5060",
        call_id="ip@127.0.0.1",
        cseq=1,
    )
    return ip_level.Sent(request, 3, True, "recorded")


@pytest.mark.negative_control("SIP-ROB-MALF-IP-001")
def test_ip_level_verdicts() -> None:
    sent = _sent()
    assert ip_level.judge_fragmented(sent, None) is not None
    assert ip_level.judge_fragmented(sent, _answer(200)) is None
    assert ip_level.judge_dropped(sent, _answer(200), alive=True) is not None
    assert ip_level.judge_dropped(sent, None, alive=False) is not None
    assert ip_level.judge_dropped(sent, None, alive=True) is None
    assert ip_level.judge_truncated(sent, _answer(200), alive=True) is not None
    assert ip_level.judge_truncated(sent, None, alive=False) is not None
    assert ip_level.judge_truncated(sent, _answer(400), alive=True) is None


def test_probe_keeps_answers_it_read_while_waiting_for_another() -> None:
    """An answer read while waiting for the OPTIONS is not lost to the later check."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as suite,
    ):
        device.bind(("127.0.0.1", 0))
        suite.bind(("127.0.0.1", 0))
        probe = ip_level.Probe(suite, "127.0.0.1", device.getsockname()[1], "7001")
        first, second = probe.options(), probe.options()
        for request in (first, second):
            suite.sendto(request.to_bytes(), device.getsockname())
            data, peer = device.recvfrom(65535)
            parsed = sip.parse(data)
            assert isinstance(parsed, sip.SipRequest)
            device.sendto(sip.make_response(parsed, 200, to_tag="d").to_bytes(), peer)
        assert probe.answer_to(second, 2.0) is not None
        assert probe.answer_to(first, 0.0) is not None


class _LateInviteDevice:
    """A TCP device that reads each connection in order but answers an INVITE only once the
    next message on its connection arrives: the liveness OPTIONS, on a connection of its own, is
    answered first (two connections carry no order between them)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.byes = 0
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _connection(self, conn: socket.socket) -> None:
        held: list[sip.SipRequest] = []  # the INVITE this connection holds unanswered
        buffer = bytearray()
        with conn:
            while chunk := conn.recv(65535):
                buffer += chunk
                while (parsed := sip.parse_stream(buffer)) is not None:
                    request, size = parsed
                    del buffer[:size]
                    assert isinstance(request, sip.SipRequest)
                    if request.method == sip.METHOD_INVITE:
                        held.append(request)
                    elif not self._behind(conn, request, held):
                        return

    def _behind(
        self, conn: socket.socket, request: sip.SipRequest, held: list[sip.SipRequest]
    ) -> bool:
        """Answer `request` (and the INVITE held before it); False closes the connection."""
        out = [sip.make_response(h, code, to_tag="dev") for h in held for code in (100, 200)]
        held.clear()
        if request.method == sip.METHOD_BYE:
            self.byes += 1
        if request.method != sip.METHOD_ACK:
            out.append(sip.make_response(request, 200, to_tag="dev"))
        conn.sendall(b"".join(r.to_bytes() for r in out))
        return True

    def close(self) -> None:
        self.listener.close()
        for thread in self._threads:
            thread.join(5.0)


def test_an_invite_answered_after_the_liveness_options_is_still_acked_and_ended() -> None:
    """The case's own connection is asked behind the case, so a 200 the device sends after the
    OPTIONS on the other connection is read, ACKed and its call ended (not left to time out)."""
    device = _LateInviteDevice()
    try:
        case = next(c for c in group("max-forwards-other").cases if c.id.endswith("invite-absent"))
        sender = Sender("127.0.0.1", ("127.0.0.1", device.port), "7001", "tcp", 2.0)
        result = sender.run(case)
    finally:
        device.close()
    assert result.alive and result.answer is not None
    assert result.answer.status_code == 200, result.answer_text
    assert result.accepted
    assert device.byes == 1


class _ClosingDevice(_LateInviteDevice):
    """A TCP device that answers OPTIONS, holds an INVITE unanswered and closes its connection
    when the next message arrives on it (as a device that gives up on a stream it cannot use)."""

    closed_behind_invite = 0

    def _behind(
        self, conn: socket.socket, request: sip.SipRequest, held: list[sip.SipRequest]
    ) -> bool:
        if held:
            self.closed_behind_invite += 1
            return False  # closed, the INVITE and what came behind it unanswered
        conn.sendall(sip.make_response(request, 200, to_tag="dev").to_bytes())
        return True


def test_a_connection_the_device_closed_ends_the_wait_behind_an_invite() -> None:
    """Nothing more can come on a connection the device closed: the sender stops waiting for
    the probe behind the INVITE then, instead of waiting out its answer grace."""
    device = _ClosingDevice()
    try:
        # An INVITE the device can read whose case asks no answer: its liveness OPTIONS goes on a
        # connection of its own, and the probe behind it on the INVITE's.
        case = next(
            c
            for c in group("start-line-uri").cases
            if c.method == sip.METHOD_INVITE
            and c.framing
            and c.expect_for("tcp").silent
            and _parses_as_invite(b"".join(_writes(c, "tcp")))
        )
        sender = Sender("127.0.0.1", ("127.0.0.1", device.port), "7001", "tcp", 2.0)
        started = time.monotonic()
        result = sender.run(case)
        took = time.monotonic() - started
    finally:
        device.close()
    assert result.alive and result.answer is None and not result.accepted
    assert device.closed_behind_invite == 1, "no probe was sent behind the INVITE"
    assert took < ANSWER_GRACE * 0.9, f"waited {took:.2f} s on a closed connection"


def _parses_as_invite(data: bytes) -> bool:
    try:
        parsed = sip.parse_stream(bytearray(data))
    except ValueError:
        return False
    return parsed is not None and getattr(parsed[0], "method", "") == sip.METHOD_INVITE
