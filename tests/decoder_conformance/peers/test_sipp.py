"""The SIPp driver against SIPp itself and against a tiny Python UDP responder (all on loopback)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.sipp.log import SippClock, SippFiles, records_from_log
from decoder_conformance.peers.sipp.run import (
    SippError,
    ToolMissing,
    base_command,
    builtin_scenarios,
    check_target,
    find_sipp,
    run_scenario,
    scenario_globals,
    scenario_path,
)
from decoder_conformance.peers.sipp.uas import start_uas
from decoder_conformance.waiting import WaitTimeout

FLOW = ["INVITE", "180", "200", "ACK", "BYE", "200"]


def kinds(lines: list[str]) -> list[str]:
    """ "INVITE sip:x SIP/2.0" -> "INVITE", "SIP/2.0 200 OK" -> "200"."""
    return [line.split()[1] if line.startswith("SIP/") else line.split()[0] for line in lines]


def flow(records: list[WireRecord]) -> list[str]:
    return kinds([r.first_line for r in records])


class OptionsResponder:
    """A UDP socket on 127.0.0.1:0 answering every request 200 OK with the copied headers."""

    COPIED = ("via", "from", "to", "call-id", "cseq")

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port: int = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="options-responder", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([self.sock], [], [], 0.05)
                if not readable:
                    continue
                data, peer = self.sock.recvfrom(65535)
                request = data.decode("utf-8", errors="replace")
                self.requests.append(request)
                head = request.split("\r\n\r\n", 1)[0].split("\r\n")
                copied = [
                    line
                    for line in head[1:]
                    if line.split(":", 1)[0].strip().lower() in self.COPIED
                ]
                response = "\r\n".join(["SIP/2.0 200 OK", *copied, "Content-Length: 0", "", ""])
                self.sock.sendto(response.encode(), peer)
        except BaseException as exc:  # re-raised in the test by close()
            self.errors.append(exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.sock.close()
        assert not self._thread.is_alive(), "responder thread did not stop"
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def responder() -> Iterator[OptionsResponder]:
    peer = OptionsResponder()
    yield peer
    peer.close()


def test_sipp_is_installed() -> None:
    assert find_sipp() is not None, "install the Debian package sip-tester"


def test_one_h264_call_against_sipp_uas(tmp_path: Path) -> None:
    with start_uas("uas_answer", log_dir=tmp_path, calls=1, timeout=10) as uas:
        assert all(s.ip == LOOPBACK for s in uas.sockets()), uas.sockets()
        result = run_scenario(
            "uac_invite_h264",
            uas.address,
            log_dir=tmp_path,
            variables={"pause_ms": "100"},
            timeout=10,
        )
        served = uas.wait(5.0)

    assert result.ok and (result.successful, result.failed) == (1, 0), result.describe()
    assert served.ok and (served.successful, served.failed) == (1, 0), served.describe()
    sent = result.records()
    assert flow(sent) == FLOW, result.first_lines()
    assert [r.direction for r in sent] == ["TX", "RX", "RX", "TX", "TX", "RX"]
    offer, answer = sent[0].text, sent[2].text
    assert "m=video " in offer and "a=rtpmap:96 H264/90000" in offer and "a=sendonly" in offer
    assert "RTP/AVP 96" in answer and "a=recvonly" in answer, answer
    assert len({r.message.call_id for r in sent}) == 1
    # The exact bytes: CRLF line ends and a body as long as Content-Length says.
    assert sent[0].raw.startswith(b"INVITE ") and b"\r\n\r\nv=0\r\n" in sent[0].raw
    assert sent[0].message.content_length == len(sent[0].message.body)
    # On the suite's monotonic clock, within the time the run took.
    assert result.clock.monotonic <= sent[0].t <= sent[-1].t <= time.monotonic() + 0.01
    # The same flow seen from the UAS, mirrored, with the same bytes.
    mirrored = served.records()
    assert flow(mirrored) == FLOW
    assert [r.direction for r in mirrored][:2] == ["RX", "TX"]
    assert [r.raw for r in mirrored] == [r.raw for r in sent]

    # Addresses: the UAC's own from its Via, the target known; the UAS's own bound address.
    uac = sent[0].local
    assert uac[0] == LOOPBACK and uac != uas.local
    assert all((r.local, r.remote) == (uac, uas.local) for r in sent)
    assert all(r.local == uas.local and r.remote == uac for r in mirrored)
    assert sent[0].src == uac and sent[0].dst == uas.local and sent[1].src == uas.local
    # Two clocks mapped onto one: each message is received after it was sent (to within the
    # stamping accuracy, about a millisecond).
    for tx, rx in zip(sent, mirrored, strict=True):
        first, second = (tx, rx) if tx.direction == "TX" else (rx, tx)
        assert second.t - first.t > -0.002, (first.label, first.t, second.t)


def test_twenty_calls_at_rate_ten(tmp_path: Path) -> None:
    with start_uas("uas_answer", log_dir=tmp_path, calls=20, timeout=15) as uas:
        result = run_scenario(
            "uac_invite_load",
            uas.address,
            log_dir=tmp_path,
            calls=20,
            rate=10,
            timeout=15,
        )
        served = uas.wait(5.0)

    assert result.ok and (result.successful, result.failed) == (20, 0), result.describe()
    assert (served.successful, served.failed) == (20, 0), served.describe()
    records = result.records()
    assert len(records) == 20 * len(FLOW), result.first_lines()
    assert len({r.message.call_id for r in records}) == 20
    # 20 calls at 10 per second start over about 1.9 s: the rate was applied.
    invites = [r.t for r in records if r.first_line.startswith("INVITE")]
    assert 1.5 < invites[-1] - invites[0] < 3.0, invites
    one_call = result.records(call_id=records[0].message.call_id)
    assert flow(one_call) == FLOW


def test_options_against_a_python_responder(tmp_path: Path, responder: OptionsResponder) -> None:
    result = run_scenario(
        "uac_options", f"{LOOPBACK}:{responder.port}", log_dir=tmp_path, timeout=5
    )
    assert result.ok and result.successful == 1, result.describe()
    assert len(responder.requests) == 1, responder.requests
    assert responder.requests[0].startswith(f"OPTIONS sip:decoder@{LOOPBACK}:{responder.port} ")
    records = result.records()
    assert flow(records) == ["OPTIONS", "200"]
    assert records[1].src == (LOOPBACK, responder.port)


def test_delayed_offer_and_audio_only_scenarios(tmp_path: Path) -> None:
    """uac_invite_no_sdp answers in the ACK; uac_invite_audio_only ACKs a 488 (test UASes)."""
    offerer = tmp_path / "uas_offer.xml"
    offerer.write_text(UAS_OFFER_IN_200, "utf-8")
    with start_uas(offerer, log_dir=tmp_path, calls=1, timeout=10) as uas:
        result = run_scenario(
            "uac_invite_no_sdp",
            uas.address,
            log_dir=tmp_path,
            variables={"pause_ms": "0"},
            timeout=10,
        )
        served = uas.wait(5.0)
    assert result.ok and served.ok, f"{result.describe()}\n{served.describe()}"
    records = result.records()
    assert "Content-Length: 0" in records[0].text  # bodyless INVITE
    ack = next(r for r in records if r.first_line.startswith("ACK"))
    assert "m=video " in ack.text and "RTP/AVP 98" in ack.text and "a=sendonly" in ack.text

    rejecter = tmp_path / "uas_488.xml"
    rejecter.write_text(UAS_REJECT_488, "utf-8")
    with start_uas(rejecter, log_dir=tmp_path, calls=1, timeout=10) as uas:
        result = run_scenario("uac_invite_audio_only", uas.address, log_dir=tmp_path, timeout=10)
        served = uas.wait(5.0)
    assert result.ok and served.ok, f"{result.describe()}\n{served.describe()}"
    first = flow(result.records())
    assert first == ["INVITE", "488", "ACK"], first
    invite, ack = result.records()[0].message, result.records()[2].message
    assert b"m=video" not in invite.body
    assert invite.headers.get("Via") == ack.headers.get("Via"), (
        "ACK to a non-2xx reuses the INVITE's Via"
    )


def test_a_missing_binary_is_a_tool_problem_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / "no-such-sipp")
    assert find_sipp(missing) is None
    with pytest.raises(ToolMissing, match="sip-tester") as caught:
        run_scenario("uac_options", f"{LOOPBACK}:9", log_dir=tmp_path, sipp=missing)
    assert not isinstance(caught.value, AssertionError)
    monkeypatch.setenv("SIPP_BIN", missing)
    assert find_sipp() is None
    with pytest.raises(ToolMissing):
        start_uas("uas_answer", log_dir=tmp_path)


def test_uas_wait_times_out_naming_what_it_saw(tmp_path: Path) -> None:
    with start_uas("uas_answer", log_dir=tmp_path, calls=1) as uas:
        with pytest.raises(WaitTimeout, match=r"messages seen: none; logs in "):
            uas.wait(0.2)
        stopped = uas.stop()
    assert (stopped.successful, stopped.failed) == (0, 0)
    assert uas.process.poll() is not None


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="network rule"):
        run_scenario("uac_options", "example.invalid:5060", log_dir=tmp_path)
    with pytest.raises(SippError, match="no SIPp scenario"):
        scenario_path("no_such_scenario")
    broken = tmp_path / "broken.xml"
    broken.write_text("<scenario><send>", "utf-8")
    with pytest.raises(SippError, match="not well-formed"):
        run_scenario(broken, f"{LOOPBACK}:9", log_dir=tmp_path)


def test_builtin_scenarios_parse() -> None:
    assert set(builtin_scenarios()) >= {
        "uac_invite_h264",
        "uac_invite_no_sdp",
        "uac_invite_audio_only",
        "uac_options",
        "uas_answer",
        "uac_invite_load",
    }
    assert scenario_globals(scenario_path("uac_invite_h264")) == {"pause_ms"}
    assert scenario_globals(scenario_path("uac_options")) == set()


def test_records_from_log_read_the_trace_msg_format() -> None:
    """Exact bytes by the logged byte count, SIPp's wall clock mapped onto the monotonic one,
    addresses from the driver or else from the Via."""
    options = (
        b"OPTIONS sip:x@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
        b"Call-ID: c1\r\nContent-Length: 0\r\n\r\n"
    )
    ok = b"SIP/2.0 200 OK\r\nCall-ID: c1\r\n\r\n"
    log = (
        b"----------------------------------------------- 2026-01-02 03:04:05.250000\n"
        + f"UDP message sent ({len(options)} bytes):\n\n".encode()
        + options
        + b"\n"
        + b"----------------------------------------------- 2026-01-02 03:04:05.500000\n"
        + f"UDP message received [{len(ok)}] bytes :\n\n".encode()
        + ok
        + b"\n"
    )
    wall = datetime(2026, 1, 2, 3, 4, 5).timestamp()  # SIPp logs local time
    clock = SippClock(wall=wall, monotonic=100.0)
    first, second = records_from_log(log, clock, remote=(LOOPBACK, 5060))
    assert (first.direction, first.transport, first.raw) == ("TX", "udp", options)
    assert (second.direction, second.raw, second.message.call_id) == ("RX", ok, "c1")
    assert first.t == pytest.approx(100.25) and second.t == pytest.approx(100.5)
    assert first.local == (LOOPBACK, 5061)  # SIPp's sent-by: the driver did not know it
    assert second.src == (LOOPBACK, 5060)  # the target, as the driver knows it
    # A UAS without a known remote: the caller's Via of that call.
    (invite,) = records_from_log(
        log.replace(b"message sent", b"message received"), clock, local=(LOOPBACK, 7000)
    )[:1]
    assert invite.direction == "RX" and invite.remote == (LOOPBACK, 5061)
    assert invite.local == (LOOPBACK, 7000)


UAS_OFFER_IN_200 = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_offer_in_200">
  <recv request="INVITE" crlf="true" />
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:offer@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=offer 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=video [media_port] RTP/AVP 98
      a=rtpmap:98 H264/90000
      a=recvonly

    ]]>
  </send>
  <recv request="ACK">
    <action>
      <ereg regexp="m=video [0-9]+ RTP/AVP 98" search_in="body" check_it="true" assign_to="m" />
      <log message="answer: [$m]" />
    </action>
  </recv>
  <recv request="BYE" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

UAS_REJECT_488 = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas_reject_488">
  <recv request="INVITE" crlf="true" />
  <send>
    <![CDATA[

      SIP/2.0 488 Not Acceptable Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
</scenario>
"""


# --- suite host (--suite-host) and the device host -------------------------------------------

#: Stands for a lab suite host: another address of this machine, bound, never sent to.
SUITE_HOST = "127.0.0.2"


def test_target_rule_accepts_only_loopback_and_an_explicit_device_host(tmp_path: Path) -> None:
    assert check_target(f"{LOOPBACK}:5060") == (LOOPBACK, 5060)
    assert check_target("192.0.2.1:5060", ("192.0.2.1",)) == ("192.0.2.1", 5060)
    for target, allowed in [
        ("192.0.2.1:5060", ()),
        ("198.51.100.7:5060", ("192.0.2.1",)),
        ("192.0.2.1:sip", ("192.0.2.1",)),
        (f"{SUITE_HOST}:5060", ()),
    ]:
        with pytest.raises(ValueError, match="network rule"):
            check_target(target, allowed)
    with pytest.raises(TypeError):
        check_target("192.0.2.1:5060", "192.0.2.1")  # type: ignore[arg-type]
    # Refused before SIPp is even looked for: nothing is sent.
    with pytest.raises(ValueError, match="network rule"):
        run_scenario(
            "uac_options",
            "198.51.100.7:5060",
            log_dir=tmp_path,
            allowed_hosts=("192.0.2.1",),
            sipp=str(tmp_path / "no-such-sipp"),
        )


def test_sipp_binds_and_advertises_the_suite_host(tmp_path: Path) -> None:
    files = SippFiles(tmp_path)
    command = base_command(
        "sipp",
        scenario_path("uac_options"),
        transport="u1",
        variables={},
        files=files,
        timeout=None,
        host="192.0.2.1",
    )
    for flag in ("-i", "-mi", "-ci"):
        assert command[command.index(flag) + 1] == "192.0.2.1", command
    with start_uas("uas_answer", log_dir=tmp_path, calls=1, host=SUITE_HOST) as uas:
        assert uas.address == f"{SUITE_HOST}:{uas.port}"
        sockets = uas.sockets()
        assert sockets and all(s.ip == SUITE_HOST for s in sockets), sockets
