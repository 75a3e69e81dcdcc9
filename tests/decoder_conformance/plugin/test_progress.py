"""Progress lines and per-area timing, on fake phase reports (no pytest run, no device)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from decoder_conformance.plugin.progress import (
    AreaProgress,
    area_of,
    device_self_identity,
    fallback_verdict,
)


def run_case(
    progress: AreaProgress,
    nodeid: str,
    verdicts: tuple[str | None, str | None, str | None],
    *,
    start: float,
    seconds: float,
    unavoidable: float = 0.0,
) -> str | None:
    """Feed setup, call and teardown reports of one case (each a third of `seconds`)."""
    third = seconds / 3
    ended = None
    for n, (when, found) in enumerate(zip(("setup", "call", "teardown"), verdicts, strict=True)):
        ended = progress.record(
            nodeid,
            when,
            found,
            start=start + n * third,
            stop=start + (n + 1) * third,
            duration=third,
            unavoidable=unavoidable if when == "teardown" else 0.0,
        )
        if when != "teardown":
            assert ended is None, "an area cannot end before its case's teardown"
    return ended


def test_area_of_names_the_suites_folder() -> None:
    assert area_of("suites/media/test_bitrate.py::test_x[500k]") == "media"
    assert area_of("suites/api/test_add.py::test_y") == "api"
    assert area_of("tests/test_house_rules.py::test_z") is None
    assert area_of("suites/conftest.py") is None


def test_an_area_ends_with_its_last_case_and_its_line_counts_each_verdict() -> None:
    progress = AreaProgress()
    progress.expect(
        [
            "suites/api/test_a.py::test_1",
            "suites/api/test_a.py::test_2",
            "suites/api/test_a.py::test_3",
            "suites/sip/test_b.py::test_1",
            "tests/test_house_rules.py::test_not_an_area",
        ]
    )
    assert sorted(progress.areas) == ["api", "sip"]
    passed = (None, "passed", None)
    assert run_case(progress, "suites/api/test_a.py::test_1", passed, start=100, seconds=3) is None
    # setup skipped: no call, teardown says nothing.
    skipped = ("skipped", None, None)
    assert run_case(progress, "suites/api/test_a.py::test_2", skipped, start=103, seconds=1) is None
    # passed its call, then a duty failed it at teardown: the worse verdict counts.
    duty = (None, "passed", "failed")
    ended = run_case(progress, "suites/api/test_a.py::test_3", duty, start=104, seconds=2)
    assert ended == "api"
    line = progress.line("api")
    assert line.startswith("area api: 3 cases, 1 passed, 1 failed, 0 broken, 1 skipped in 6.0 s")
    assert "[1/2 areas done]" in line
    assert progress.unfinished() == ["area sip: stopped after 0 of 1 cases"]


def test_rare_verdicts_are_shown_only_when_present() -> None:
    progress = AreaProgress()
    progress.expect(["suites/calls/t.py::a", "suites/calls/t.py::b"])
    run_case(progress, "suites/calls/t.py::a", (None, "finding", None), start=1, seconds=1)
    run_case(progress, "suites/calls/t.py::b", ("broken", None, None), start=2, seconds=1)
    line = progress.line("calls")
    assert "0 passed, 0 failed, 1 broken, 0 skipped" in line
    assert "1 finding" in line and "waived" not in line


def test_reports_of_two_workers_interleave_and_each_area_ends_once() -> None:
    progress = AreaProgress()
    ids = ["suites/media/m.py::a", "suites/media/m.py::b", "suites/api/a.py::c"]
    progress.expect(ids)
    progress.expect(["suites/media/m.py::a"])  # the second worker's list changes nothing
    assert progress.areas["media"].expected == 2
    ended = []
    # setup of a (gw0), setup of c (gw1), call of a, teardown of c, ...
    for nodeid, when, found, t in [
        ("suites/media/m.py::a", "setup", None, 0.0),
        ("suites/api/a.py::c", "setup", None, 0.1),
        ("suites/media/m.py::a", "call", "passed", 1.0),
        ("suites/api/a.py::c", "call", "passed", 1.1),
        ("suites/api/a.py::c", "teardown", None, 1.2),
        ("suites/media/m.py::a", "teardown", None, 5.0),
        ("suites/media/m.py::b", "setup", None, 5.0),
        ("suites/media/m.py::b", "call", "passed", 9.0),
        ("suites/media/m.py::b", "teardown", None, 10.0),
        ("suites/media/m.py::b", "teardown", None, 10.0),  # a duplicate is ignored
    ]:
        done = progress.record(
            nodeid, when, found, start=t, stop=t + 0.1, duration=0.1, unavoidable=4.0
        )
        if done:
            ended.append(done)
    assert ended == ["api", "media"]
    media = progress.areas["media"]
    assert media.done == 2 and media.verdicts["passed"] == 2
    assert media.wall == pytest.approx(10.1)
    assert media.unavoidable == pytest.approx(8.0)  # counted from teardown reports only


def test_a_case_whose_worker_crashed_ends_its_area_as_broken() -> None:
    progress = AreaProgress()
    progress.expect(["suites/sip/s.py::a"])
    progress.record("suites/sip/s.py::a", "setup", None, start=1, stop=2, duration=1)

    class Crashed:
        skipped, failed, when = False, True, "???"

    found = fallback_verdict(Crashed())  # type: ignore[arg-type]
    assert found == "broken"
    ended = progress.record("suites/sip/s.py::a", "???", found, start=None, stop=None, duration=0)
    assert ended == "sip"
    assert progress.areas["sip"].wall == pytest.approx(1.0)
    assert progress.areas["sip"].verdicts["broken"] == 1


def test_timing_table_states_ratio_and_target_per_area() -> None:
    progress = AreaProgress()
    progress.expect(["suites/media/m.py::a", "suites/api/a.py::b", "suites/sip/s.py::c"])
    run_case(
        progress,
        "suites/media/m.py::a",
        (None, "passed", None),
        start=0,
        seconds=12,
        unavoidable=10,
    )
    run_case(progress, "suites/api/a.py::b", (None, "passed", None), start=12, seconds=2)
    run_case(
        progress, "suites/sip/s.py::c", (None, "passed", None), start=14, seconds=9, unavoidable=3
    )
    table = progress.timing_table()
    rows = {line.split()[0]: line for line in table[1:]}
    assert "1.20x" in rows["media"] and rows["media"].endswith("met")
    assert rows["api"].endswith("no unavoidable wait")
    assert "3.00x" in rows["sip"] and rows["sip"].endswith("missed")
    assert rows["all"].split()[1:3] == ["3", "23.0"]
    assert progress.areas["media"].ratio == pytest.approx(1.2)
    assert progress.areas["api"].ratio is None
    assert progress.most_avoidable(3) == [
        "   6.0 s  suites/sip/s.py::c",
        "   2.0 s  suites/api/a.py::b",  # ties in node id order
        "   2.0 s  suites/media/m.py::a",
    ]


def test_no_table_when_no_suite_case_ran() -> None:
    progress = AreaProgress()
    progress.expect(["tests/test_x.py::a"])
    assert progress.timing_table() == [] and progress.unfinished() == []


def test_device_self_identity_says_when_the_device_does_not_answer() -> None:
    # A TCP socket bound and kept, never listening: connecting to it is refused.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        text = device_self_identity(f"http://127.0.0.1:{port}/api", timeout=2.0)
    assert text.startswith("no answer to sip/list.json (ConnectionError")


def test_device_self_identity_gives_the_server_header() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"result":"ok","data":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def version_string(self) -> str:
            return "D100/2.4.1"

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        text = device_self_identity(f"http://127.0.0.1:{port}/api")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert text == "HTTP Server header 'D100/2.4.1' (sip/list.json, HTTP 200)"
