"""Differential mode (--differential): the comparer on recorded observation files, how the two
sides are planned, and one small end-to-end run.

The end-to-end run stands a second reference decoder in for the lab device (started by the test,
given to the run by `--device URL` as a lab decoder would be) with the fault remove_keeps_listed
(a `page` requirement, SIP-API-REM-001, differs: flagged) and the reading id_type=decimal_string
(a `reading` requirement, SIP-API-LIST-002, differs: expected and listed, not flagged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.device.target import start_reference
from decoder_conformance.peers.capture import Direction, WireRecord
from decoder_conformance.plugin.differential import (
    plan_sides,
    shown_args,
    sip_observations,
    sip_timings,
    strip_options,
)
from decoder_conformance.report.differential import (
    FORMAT,
    compare,
    counts,
    load_observations,
    main,
    markdown,
    write,
)
from tests.conftest import generic_profile, run_pytest

CATALOGUE = Catalogue()


def answer(
    endpoint: str, body: dict[str, Any], params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "method": "GET",
        "endpoint": endpoint,
        "params": params or {},
        "status": 200,
        "result": body.get("result"),
        "msg": body.get("msg"),
        "body": body,
    }


def case(nodeid: str, req: str, verdict: str = "passed", **parts: Any) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "requirement": req,
        "verdict": verdict,
        "http": parts.get("http", []),
        "sip": parts.get("sip", {"responses": {}, "requests": {}}),
        "timing": parts.get("timing", {}),
        "duties": parts.get("duties", {}),
    }


def observation_file(
    path: Path, cases: list[dict[str, Any]], readings: dict[str, Any] | None = None
) -> Path:
    session = {"target": path.stem, "profile": "p.toml", "readings": readings or {}, "codes": {}}
    path.write_text(json.dumps({"format": FORMAT, "session": session, "cases": cases}), "utf-8")
    return path


EMPTY = {"result": "ok", "data": []}
LISTED = {"result": "ok", "data": [{"id": "<id>", "name": "ct-<hex>", "type": "sip"}]}
REGISTERING = {"result": "ok", "register_status": "registering"}
REGISTERED = {"result": "ok", "register_status": "registered"}


def recorded(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two recorded runs: one page difference, one reading, one practice code, a poll that
    caught a transient state on one side only, a SIP response, a slow answer, a skipped case."""
    ref = [
        case("t.py::test_remove", "SIP-API-REM-001", http=[answer("sip/list.json", EMPTY)]),
        case(
            "t.py::test_unknown",
            "SIP-API-REM-002",
            http=[answer("sip/remove.json", {"result": "error", "msg": "1202"}, {"id": "<id>"})],
        ),
        case(
            "t.py::test_poll",
            "SIP-API-LIST-001",
            http=[answer("sip/status.json", REGISTERED, {"id": "<id>"})],
            timing={"http_median_ms": 2.0},
        ),
        case(
            "t.py::test_sdp",
            "SIP-CALL-SDP-001",
            sip={"responses": {"INVITE": [100, 200]}, "requests": {"ACK": True}},
            timing={"invite_answer_s": 0.2},
            duties={"SIP-CALL-ACK-001": "held"},
        ),
        case("t.py::test_gb", "SIP-API-ACC-001", verdict="passed"),
    ]
    dev = [
        case(
            "t.py::test_remove", "SIP-API-REM-001", "failed", http=[answer("sip/list.json", LISTED)]
        ),
        case(
            "t.py::test_unknown",
            "SIP-API-REM-002",
            http=[answer("sip/remove.json", {"result": "error", "msg": "1203"}, {"id": "<id>"})],
        ),
        case(
            "t.py::test_poll",
            "SIP-API-LIST-001",
            http=[
                answer("sip/status.json", REGISTERING, {"id": "<id>"}),
                answer("sip/status.json", REGISTERED, {"id": "<id>"}),
            ],
            timing={"http_median_ms": 40.0},
        ),
        case(
            "t.py::test_sdp",
            "SIP-CALL-SDP-001",
            sip={"responses": {"INVITE": [100, 488]}, "requests": {"ACK": True}},
            timing={"invite_answer_s": 3.5},
            duties={"SIP-CALL-ACK-001": "broken"},
        ),
        case("t.py::test_gb", "SIP-API-ACC-001", verdict="skipped"),
    ]
    readings_ref = {"id_type": {"requirement": "SIP-API-LIST-002", "readings": ["json_integer"]}}
    readings_dev = {"id_type": {"requirement": "SIP-API-LIST-002", "readings": ["decimal_string"]}}
    return (
        load_observations(observation_file(tmp_path / "reference.json", ref, readings_ref)),
        load_observations(observation_file(tmp_path / "device.json", dev, readings_dev)),
    )


def test_comparer_flags_page_and_rfc_lists_reading_and_practice(tmp_path: Path) -> None:
    reference, device = recorded(tmp_path)
    results = {r.requirement: r for r in compare(reference, device, CATALOGUE)}
    remove = results["SIP-API-REM-001"]
    assert (remove.basis, remove.treatment) == ("page", "flagged")
    assert [d.kind for d in remove.differences] == ["verdict", "value"]
    sdp = results["SIP-CALL-SDP-001"]
    assert (sdp.basis, sdp.treatment) == ("rfc", "flagged")
    assert {d.kind for d in sdp.differences} == {"sip", "timing"}
    # A duty broken on one side only is compared under the duty's own requirement.
    ack = results["SIP-CALL-ACK-001"]
    assert (ack.treatment, [d.kind for d in ack.differences]) == ("flagged", ["duty"])
    assert ack.cases[0].nodeid == "t.py::test_sdp (duty)"
    reading = results["SIP-API-LIST-002"]
    assert (reading.treatment, reading.differences[0].kind) == ("expected", "reading")
    assert reading.readings == {"reference": ["json_integer"], "device": ["decimal_string"]}
    practice = results["SIP-API-REM-002"]
    assert practice.treatment == "listed"
    assert practice.differences[0].kind == "code"
    assert "1202" in practice.differences[0].reference
    # One side's poll saw a transient state the other missed; the settled answer agrees, and
    # the answer times stay within the tolerance.
    assert results["SIP-API-LIST-001"].status == "same"
    assert results["SIP-API-ACC-001"].status == "not_compared"
    assert results["SIP-API-ACC-001"].cases[0].not_compared == "skipped on device"
    assert counts(results.values()) == {
        "same": 1,
        "flagged": 3,
        "expected": 1,
        "listed": 1,
        "not_compared": 1,
    }


def test_timing_alone_is_listed_not_flagged(tmp_path: Path) -> None:
    """No page line or RFC MUST sets an answer time: a page requirement whose only difference
    is timing (a lab decoder slower than the loopback reference) is listed, not flagged."""
    slow = {"http_median_ms": 400.0, "invite_answer_s": 3.0}
    ref = [case("t.py::test_remove", "SIP-API-REM-001", timing={"http_median_ms": 1.0})]
    dev = [case("t.py::test_remove", "SIP-API-REM-001", timing=slow)]
    results = compare(
        load_observations(observation_file(tmp_path / "reference.json", ref)),
        load_observations(observation_file(tmp_path / "device.json", dev)),
        CATALOGUE,
    )
    remove = next(r for r in results if r.requirement == "SIP-API-REM-001")
    assert {d.kind for d in remove.differences} == {"timing"}
    assert (remove.basis, remove.treatment) == ("page", "listed")


def test_report_files_name_every_flagged_requirement(tmp_path: Path) -> None:
    reference, device = recorded(tmp_path)
    results = compare(reference, device, CATALOGUE)
    sides = {"reference": {"target": "bundled"}, "device": {"target": "lab"}}
    md_path = write(tmp_path / "out" / "differential.json", results, sides)
    data = json.loads((tmp_path / "out" / "differential.json").read_text("utf-8"))
    flagged = [r["id"] for r in data["requirements"] if r["treatment"] == "flagged"]
    assert flagged == ["SIP-API-REM-001", "SIP-CALL-ACK-001", "SIP-CALL-SDP-001"]
    text = md_path.read_text("utf-8")
    assert text == markdown(results, sides)
    assert "**3 flagged**" in text and "| SIP-API-LIST-002 | reading MUST |" in text


def test_a_file_that_is_not_an_observation_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "other"}', "utf-8")
    with pytest.raises(ValueError, match="not an observation file"):
        load_observations(path)


def test_sides_share_the_selection_and_only_the_device_side_gets_the_target(
    tmp_path: Path,
) -> None:
    args = [
        "suites",
        "--differential",
        "--device=http://127.0.0.1:8080/api",
        "--profile",
        "profiles/lab.toml",
        "--suite-host",
        "127.0.0.1",
        "--alluredir",
        "reports/allure-results",
        "--differential-report",
        "x.json",
        "-p",
        "no:cacheprovider",
    ]
    env = {"DECODER_DEVICE": "http://127.0.0.1:8080/api", "PATH": "/bin"}
    reference, device = plan_sides(args, env, tmp_path, default_selection=True)
    for side in (reference, device):
        assert side.args[:3] == ("suites/api", "suites/sip", "suites/calls")
        assert "suites" not in side.args and "--differential" not in side.args
        assert "x.json" not in side.args
        assert side.args[side.args.index("--record-observations") + 1] == str(side.observations)
    assert (
        "--device=http://127.0.0.1:8080/api" in device.args and "profiles/lab.toml" in device.args
    )
    assert not any(a.startswith(("--device", "--profile", "--suite-host")) for a in reference.args)
    assert "DECODER_DEVICE" not in reference.env and device.env["DECODER_DEVICE"]
    # The device side keeps the output the command line asked for; the reference side its own.
    assert device.args[device.args.index("--alluredir") + 1] == "reports/allure-results"
    assert reference.args[reference.args.index("--alluredir") + 1] == str(
        tmp_path / "reference" / "allure-results"
    )
    kept, removed = strip_options(["a", "--x", "1", "--x=2", "b"], ["--x"])
    assert (kept, removed) == (["a", "b"], {"--x": ["1", "2"]})


def sip(t: float, direction: Direction, start: str, method: str = "INVITE") -> WireRecord:
    raw = (
        f"{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: c1\r\n"
        f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    return WireRecord(t, direction, "udp", ("127.0.0.1", 5070), ("127.0.0.1", 5060), raw)


def test_recorder_reads_the_decoders_answers_and_timings_from_wire_records() -> None:
    records = [
        sip(10.0, "TX", "INVITE sip:b@127.0.0.1:5060 SIP/2.0"),
        sip(10.1, "RX", "SIP/2.0 100 Trying"),
        sip(10.6, "RX", "SIP/2.0 200 OK"),
        sip(10.7, "TX", "ACK sip:b@127.0.0.1:5060 SIP/2.0", "ACK"),
        sip(11.0, "RX", "REGISTER sip:127.0.0.1 SIP/2.0", "REGISTER"),
        sip(12.0, "RX", "BYE sip:a@127.0.0.1:5070 SIP/2.0", "BYE"),
        sip(12.1, "TX", "SIP/2.0 200 OK", "BYE"),
    ]
    assert sip_observations(records) == {
        "responses": {"INVITE": [200]},  # final answers only: a 100 is not always due
        "requests": {"BYE": True},  # REGISTER comes on the decoder's own schedule
    }
    assert sip_timings(records, started=9.5) == {
        "first_register_s": 1.5,
        "invite_answer_s": 0.6,
    }


def test_end_to_end_flags_a_page_difference_and_lists_a_reading(tmp_path: Path) -> None:
    lab = start_reference(
        tmp_path / "lab-state",
        faults=("remove_keeps_listed",),
        readings=("id_type=decimal_string",),
    )
    try:
        report = tmp_path / "differential.json"
        run = run_pytest(
            "suites/api/test_remove.py::test_remove_unlists",
            "suites/api/test_list.py::test_list_id_type_and_id_addresses_account",
            "suites/api/test_list.py::test_list_schema",
            "--differential",
            "--device",
            lab.api_url,
            "--profile",
            str(generic_profile(tmp_path)),
            "--differential-report",
            str(report),
            timeout=120,
        )
    finally:
        assert lab.stop() == 0, lab.log_tail()
    assert report.is_file(), run.output[-3000:]
    # A flagged difference makes the run fail, naming the requirement.
    assert run.returncode == 1, run.output[-3000:]
    assert "flagged SIP-API-REM-001 (page): verdict, value" in run.output
    data = json.loads(report.read_text("utf-8"))
    by_id = {r["id"]: r for r in data["requirements"]}
    assert by_id["SIP-API-REM-001"]["treatment"] == "flagged"
    reading = by_id["SIP-API-LIST-002"]
    assert reading["treatment"] == "expected"
    assert reading["readings"] == {"reference": ["json_integer"], "device": ["decimal_string"]}
    # The reading difference does not cascade: the other list case reads the same answers.
    assert by_id["SIP-API-LIST-001"]["status"] == "same", by_id["SIP-API-LIST-001"]
    assert data["sides"]["device"]["target"].startswith(lab.api_url)
    assert "**1 flagged**, 1 expected (reading)" in report.with_suffix(".md").read_text("utf-8")


def test_the_password_is_not_shown() -> None:
    shown = shown_args(["suites", "--device-password", "s3cret", "--device-user=admin"])
    assert "s3cret" not in shown and shown[-1] == "***"


def test_a_reading_seen_on_one_side_only_is_not_a_difference(tmp_path: Path) -> None:
    seen = {"id_type": {"requirement": "SIP-API-LIST-002", "readings": ["json_integer"]}}
    reference = load_observations(observation_file(tmp_path / "r.json", [], seen))
    device = load_observations(observation_file(tmp_path / "d.json", [], {}))
    (result,) = compare(reference, device, CATALOGUE)
    assert (result.requirement, result.status, result.differences) == (
        "SIP-API-LIST-002",
        "not_compared",
        [],
    )


def test_two_recorded_files_compare_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(tmp_path)  # writes reference.json and device.json
    out = tmp_path / "cli" / "differential.json"
    code = main(
        [str(tmp_path / "reference.json"), str(tmp_path / "device.json"), "--out", str(out)]
    )
    assert code == 1, "a flagged difference exits 1"
    assert "3 flagged, 1 expected (reading)" in capsys.readouterr().out
    assert out.with_suffix(".md").is_file()
    assert json.loads(out.read_text("utf-8"))["counts"]["flagged"] == 3
