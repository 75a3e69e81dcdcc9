"""plugin/status_trace.py and peer_duties.py: what the judge is told from the case's wire
records, the duty mapping of the peers' checks, and the trace's plot."""

from __future__ import annotations

from decoder_conformance.device.client import Status
from decoder_conformance.device.status_series import Sample
from decoder_conformance.peers import register_duties
from decoder_conformance.peers.capture import Direction, WireRecord
from decoder_conformance.plugin.peer_duties import REGISTER_REQUIREMENTS, registrar_duties
from decoder_conformance.plugin.status_trace import calls_over_at, expectations
from decoder_conformance.report.status_plot import status_plot_png
from wire import sip

PEER = ("127.0.0.1", 5070)
DEVICE = ("127.0.0.1", 5060)


def request(method: str, call_id: str, cseq: int = 1) -> sip.SipRequest:
    return sip.make_request(
        method,
        "sip:7001@127.0.0.1:5060",
        sent_by=PEER,
        from_uri="sip:peer@127.0.0.1",
        from_tag="f",
        to_uri="sip:7001@127.0.0.1",
        call_id=call_id,
        cseq=cseq,
    )


def record(t: float, direction: Direction, message: sip.SipMessage) -> WireRecord:
    return WireRecord(t, direction, "udp", PEER, DEVICE, message.to_bytes())


def test_call_events_grants_and_the_end_of_the_calls() -> None:
    invite = request("INVITE", "a")
    bye = request("BYE", "a", 2)
    register = request("REGISTER", "r")
    records = [
        record(1.0, "RX", register),
        record(1.1, "TX", sip.make_response(register, 200)),
        record(2.0, "TX", invite),
        record(2.1, "RX", sip.make_response(invite, 180, to_tag="t")),
        record(2.2, "RX", sip.make_response(invite, 200, to_tag="t")),
        record(2.3, "TX", request("ACK", "a")),
        record(3.0, "TX", bye),
        record(3.1, "RX", sip.make_response(bye, 200)),
    ]
    wire = expectations(records)
    # The INVITE and the BYE move calls; 1xx, 2xx, ACK and REGISTER do not.
    assert list(wire.call_events) == [2.0, 3.0]
    assert list(wire.grants) == [1.1]
    assert wire.calls_over_at == 3.0
    assert list(wire.established) == [(2.3, 3.0)]  # from the ACK of the 2xx to the BYE


def test_calls_are_not_over_while_one_rings_or_is_up() -> None:
    invite = request("INVITE", "a")
    ringing = [record(1.0, "TX", invite), record(1.1, "RX", sip.make_response(invite, 180))]
    assert calls_over_at(ringing) is None
    up = [*ringing, record(1.2, "RX", sip.make_response(invite, 200, to_tag="t"))]
    assert calls_over_at(up) is None
    assert expectations(up).established == []  # answered, not ACKed: not established yet
    refused = request("INVITE", "b")
    busy = [record(2.0, "TX", refused), record(2.1, "RX", sip.make_response(refused, 486))]
    assert calls_over_at(busy) == 2.1
    assert expectations(busy).call_events == [2.0, 2.1]  # the refusal is an event too
    assert calls_over_at([]) is None


def test_every_register_duty_code_has_its_requirement() -> None:
    codes = {
        value
        for name, value in vars(register_duties).items()
        if name.isupper() and isinstance(value, str)
    }
    assert codes == set(REGISTER_REQUIREMENTS)


def test_status_plot_is_a_png_with_its_legend() -> None:
    samples = [
        Sample(10.0 + i / 10, Status("created", "registered", None, call, 0.0))
        for i, call in enumerate(["idle", "in", "calling", "idle"])
    ]
    samples.append(Sample(10.5, None, "ConnectionError"))
    png = status_plot_png(samples, 10.0, "trace")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"calling rgb" in png and b"Title\x00trace" in png


class _Violation:
    def __init__(self, code: str) -> None:
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: seen"


class _Registrar:
    """A registrar peer as the duty check reads it: records and violations."""

    address = "127.0.0.1:5070"

    def __init__(self, records: list[WireRecord], codes: list[str]) -> None:
        self._records, self._codes = records, codes

    def records(self) -> list[WireRecord]:
        return self._records

    def violations(self, *codes: str) -> list[_Violation]:
        return [_Violation(c) for c in self._codes if not codes or c in codes]


def test_registrar_duties_name_what_was_exercised_and_what_broke() -> None:
    first = request("REGISTER", "r", 1)
    again = request("REGISTER", "r", 2)
    again.headers.add("Authorization", 'Digest username="alice", uri="sip:127.0.0.1"')
    records = [record(1.0, "RX", first), record(1.2, "RX", again)]
    kept = registrar_duties(_Registrar(records, []))()  # type: ignore[arg-type]
    assert kept == {"SIP-REG-014": [], "SIP-REG-015": []}
    broken = registrar_duties(_Registrar(records, [register_duties.AUTH_URI]))()  # type: ignore[arg-type]
    assert list(broken["SIP-REG-014"]) == ["registrar 127.0.0.1:5070: auth-uri: seen"]
    only_one = registrar_duties(_Registrar(records[:1], []))()  # type: ignore[arg-type]
    assert only_one == {}  # no credentials, no second REGISTER: nothing exercised
