"""The sipvicious driver: target policy, output parsers, masking, and stopping a run."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import sipvicious
from decoder_conformance.peers.sipvicious import (
    SipviciousMissing,
    ToolRun,
    check_target,
    mask,
    svcrack,
    table_rows,
)

TABLE = """+-----------+----------------+
| Extension | Authentication |
+===========+================+
| 7001      | weird          |
+-----------+----------------+
| 7002      | reqauth        |
+-----------+----------------+
"""

ANSWER = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport=5060\r\n"
    b"To: <sip:100@1.1.1.1>;tag=a\r\nFrom: <sip:100@1.1.1.1>;tag=b\r\nCall-ID: 1\r\n"
    b"CSeq: 1 OPTIONS\r\nServer: Box v2.1\r\nAllow: INVITE, BYE\r\nContent-Length: 0\r\n\r\n"
)
# What svmap -d prints: the source address, each answer as a bytes literal, then its table.
SVMAP_DEBUG = f"""('127.0.0.1', 37390)
{ANSWER!r}
+-----------------+------------+
| SIP Device      | User Agent |
+=================+============+
| 127.0.0.1:37390 | Box v2.1   |
+-----------------+------------+
"""


def test_table_rows_reads_the_data_rows() -> None:
    assert table_rows(TABLE) == [["7001", "weird"], ["7002", "reqauth"]]
    assert table_rows("ERROR: nothing\n") == []


def test_svmap_debug_output_is_parsed() -> None:
    responses = sipvicious._debug_responses(SVMAP_DEBUG)
    run = ToolRun("svmap", ("svmap",), 0, SVMAP_DEBUG, "", 0.1)
    result = sipvicious.SvmapResult(run, {}, responses)
    assert len(responses) == 1
    assert result.headers("Server") == ["Box v2.1"]
    assert result.headers("Allow") == ["INVITE, BYE"]
    assert table_rows(SVMAP_DEBUG) == [["127.0.0.1:37390", "Box v2.1"]]


@pytest.mark.parametrize("host", ["localhost", "192.0.2.7", "198.51.100.1"])
def test_targets_outside_the_network_rule_are_refused(host: str) -> None:
    with pytest.raises(NotExercised, match=r"network rule|IP literal"):
        check_target(host)


def test_the_lab_device_given_explicitly_is_allowed() -> None:
    assert check_target("127.0.0.1") == "127.0.0.1"
    assert check_target("192.0.2.7", ("192.0.2.7",)) == "192.0.2.7"


def test_mask_hides_every_secret_longest_first() -> None:
    text = "password for 7001 is hunter2; hunter2x too"
    assert mask(text, ["hunter2", "hunter2x", ""]) == "password for 7001 is ***; *** too"
    run = ToolRun("svcrack", ("svcrack", "-u", "7001"), None, "is hunter2", "", 0.1, "outcome")
    assert "hunter2" not in run.text(["hunter2"])


def test_a_missing_script_is_not_exercised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sipvicious.SCRIPTS, "svmap", "sipvicious_svmap_not_installed")
    with pytest.raises(SipviciousMissing):
        sipvicious.find_script("svmap")


def test_a_run_that_gets_no_answer_is_stopped_at_its_time(tmp_path: Path) -> None:
    """svcrack waits 10 s for a silent target; the driver stops it at 1 s, process and all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        with pytest.raises(sipvicious.ScanError, match="did not get going"):
            svcrack("127.0.0.1", silent.getsockname()[1], "7001", ["a"], tmp_path, timeout=1.0)
        assert time.monotonic() - started < 1.0 + 2 * sipvicious.STOP_GRACE
        assert silent.recv(65535).startswith(b"REGISTER ")  # it did send
