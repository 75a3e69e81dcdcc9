"""The SIPp driver against SIPp itself and against a tiny Python UDP responder (all on loopback)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.peers.sipp.log import SippFiles, parse_messages
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
    sent = result.messages()
    assert kinds([m.first_line for m in sent]) == FLOW, result.first_lines()
    assert [m.direction for m in sent] == [
        "sent",
        "received",
        "received",
        "sent",
        "sent",
        "received",
    ]
    offer, answer = sent[0].text, sent[2].text
    assert "m=video " in offer and "a=rtpmap:96 H264/90000" in offer and "a=sendonly" in offer
    assert "RTP/AVP 96" in answer and "a=recvonly" in answer, answer
    assert len({m.call_id for m in sent}) == 1
    assert sent[0].timestamp <= sent[-1].timestamp
    # The same flow seen from the UAS, mirrored.
    assert kinds([m.first_line for m in served.messages()]) == FLOW
    assert [m.direction for m in served.messages()][:2] == ["received", "sent"]

    ladder = result.ladder()
    assert [m.label.split()[0] for m in ladder] == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    assert ladder[0].dst == uas.address and ladder[1].src == uas.address
    assert ladder[0].src.startswith(f"{LOOPBACK}:") and ladder[0].src != uas.address
    assert served.ladder()[0].src == ladder[0].src


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
    messages = result.messages()
    assert len(messages) == 20 * len(FLOW), result.first_lines()
    assert len({m.call_id for m in messages}) == 20
    # 20 calls at 10 per second start over about 1.9 s: the rate was applied.
    invites = [m.timestamp for m in messages if m.first_line.startswith("INVITE")]
    assert 1.5 < invites[-1] - invites[0] < 3.0, invites
    one_call = result.ladder(call_id=messages[0].call_id)
    assert [m.label.split()[0] for m in one_call] == FLOW


def test_options_against_a_python_responder(tmp_path: Path, responder: OptionsResponder) -> None:
    result = run_scenario(
        "uac_options", f"{LOOPBACK}:{responder.port}", log_dir=tmp_path, timeout=5
    )
    assert result.ok and result.successful == 1, result.describe()
    assert len(responder.requests) == 1, responder.requests
    assert responder.requests[0].startswith(f"OPTIONS sip:decoder@{LOOPBACK}:{responder.port} ")
    assert kinds([m.first_line for m in result.messages()]) == ["OPTIONS", "200"]


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
    messages = result.messages()
    assert "Content-Length: 0" in messages[0].text  # bodyless INVITE
    ack = next(m for m in messages if m.first_line.startswith("ACK"))
    assert "m=video " in ack.text and "RTP/AVP 98" in ack.text and "a=sendonly" in ack.text

    rejecter = tmp_path / "uas_488.xml"
    rejecter.write_text(UAS_REJECT_488, "utf-8")
    with start_uas(rejecter, log_dir=tmp_path, calls=1, timeout=10) as uas:
        result = run_scenario("uac_invite_audio_only", uas.address, log_dir=tmp_path, timeout=10)
        served = uas.wait(5.0)
    assert result.ok and served.ok, f"{result.describe()}\n{served.describe()}"
    first = kinds([m.first_line for m in result.messages()])
    assert first == ["INVITE", "488", "ACK"], first
    invite, ack = result.messages()[0], result.messages()[2]
    assert "m=video" not in invite.text
    assert invite.header("Via") == ack.header("Via"), "ACK to a non-2xx reuses the INVITE's Via"


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


def test_parse_messages_reads_the_trace_msg_format() -> None:
    log = (
        "----------------------------------------------- 2026-01-02 03:04:05.250000\n"
        "UDP message sent (40 bytes):\n\n"
        "OPTIONS sip:x@127.0.0.1:5060 SIP/2.0\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n\n"
        "----------------------------------------------- 2026-01-02 03:04:05.500000\n"
        "UDP message received [30] bytes :\n\n"
        "SIP/2.0 200 OK\r\nCall-ID: c1\r\n\r\n\n"
    )
    first, second = parse_messages(log)
    assert (first.direction, first.transport, first.first_line) == (
        "sent",
        "UDP",
        "OPTIONS sip:x@127.0.0.1:5060 SIP/2.0",
    )
    assert (second.direction, second.first_line, second.call_id) == (
        "received",
        "SIP/2.0 200 OK",
        "c1",
    )
    assert second.timestamp - first.timestamp == pytest.approx(0.25)
    assert "\r" not in first.text


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
