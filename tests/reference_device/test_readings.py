"""The reference decoder's readings (`--reading POINT=READING`): the table, the command line, and
that each alternative changes exactly what its row says over HTTP, nothing else.

Each device is a `python -m reference_device` subprocess, as tests/reference_device/
test_store_atomicity.py starts it. The same scenario runs against the default device and against
each alternative; the two views must differ exactly where the alternative says.
"""

import copy
import json
import re
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from reference_device.readings import READINGS, Point, ReadingError, Readings
from tests.conftest import ROOT
from tests.reference_device.sip.peer import (
    AUDIO_ONLY,
    Device,
    Dialog,
    Peer,
    device,
    h264_offer,
    respond,
)
from tests.reference_device.test_store_atomicity import call, run_device, running_device
from tests.test_detection import cases_in
from wire import sip

Json = dict[str, Any]
ALTERNATIVES = [(point, name) for point, info in READINGS.items() for name in info.alternatives]
ALTERNATIVE_IDS = [f"{point.value}={name}" for point, name in ALTERNATIVES]


# -- the table -----------------------------------------------------------------------------------


def catalogue() -> dict[str, Json]:
    """spec/requirements*.yaml by id, read directly (the table must stand without the harness)."""
    entries: dict[str, Json] = {}
    for path in sorted((ROOT / "spec").glob("requirements*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        entries |= {entry["id"]: entry for entry in doc["requirements"]}
    return entries


def test_every_point_has_one_row() -> None:
    assert list(READINGS) == list(Point), "READINGS must hold one row per Point, in its order"


@pytest.mark.parametrize("point", list(READINGS), ids=[p.value for p in READINGS])
def test_row_names_a_reading_requirement_and_its_readings(point: Point) -> None:
    info = READINGS[point]
    entry = catalogue().get(info.requirement)
    assert entry is not None, f"{point}: {info.requirement} is not in spec/requirements.yaml"
    assert entry.get("basis") == "reading", f"{info.requirement} has basis {entry.get('basis')}"
    assert entry.get("point") == point.value, f"{info.requirement} is point {entry.get('point')}"
    listed = [r["name"] for r in entry["readings"]]
    unknown = [name for name in info.names if name not in listed]
    assert not unknown, f"{point}: readings {unknown} not listed by {info.requirement}: {listed}"
    assert info.alternatives, f"{point}: no alternative"
    assert info.default not in info.alternatives
    assert all(text.strip() and "\n" not in text for text in info.alternatives.values())


@pytest.mark.parametrize("point", list(READINGS), ids=[p.value for p in READINGS])
def test_row_suites_hold_cases_of_its_requirement(point: Point) -> None:
    info = READINGS[point]
    assert info.suites, f"{point}: no suite"
    for suite in info.suites:
        assert suite.startswith("suites/") and (ROOT / suite.partition("::")[0]).exists(), suite
    covered = set().union(*(ids for s in info.suites for ids in cases_in(s).values()))
    assert info.requirement in covered, f"{point}: no case of {info.requirement} in {info.suites}"


def test_follows_refuses_what_the_table_does_not_list() -> None:
    readings = Readings(["id_type=decimal_string"])
    assert readings.follows(Point.ID_TYPE, "decimal_string")
    assert not readings.follows(Point.ID_TYPE, "json_integer")
    assert readings.follows(Point.CREATED_MEANING, "configured")
    with pytest.raises(KeyError):
        readings.follows("id_type", "decimal_string")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        readings.follows(Point.ID_TYPE, "decimal")
    with pytest.raises(ReadingError):
        Readings(["id_type=decimal_string", "id_type=json_integer"])
    assert Readings(["id_type=json_integer"]).enabled == {}


# -- the command line ----------------------------------------------------------------------------


def test_help_lists_every_reading_with_its_text(tmp_path: Path) -> None:
    result = run_device(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for point, info in READINGS.items():
        assert f"{point.value} ({info.requirement}; default {info.default})" in text
        for name, meaning in info.alternatives.items():
            assert f"{point.value}={name}: {' '.join(meaning.split())}" in text


@pytest.mark.parametrize(
    "reading",
    ["no_such_point=x", "id_type=no_such_reading", "id_type", "id_type=decimal_string,"],
)
def test_unknown_point_or_reading_exits_2_listing_the_known_ones(
    tmp_path: Path, reading: str
) -> None:
    result = run_device(tmp_path, "--state", str(tmp_path), "--reading", reading)
    assert result.returncode == 2, result.stderr
    assert reading in result.stderr
    for point, info in READINGS.items():
        assert point.value in result.stderr
        assert all(f"{point.value}={name}" in result.stderr for name in info.alternatives)
    assert result.stdout == ""


def test_two_readings_of_one_point_exit_2(tmp_path: Path) -> None:
    result = run_device(
        tmp_path,
        "--state",
        str(tmp_path),
        "--reading",
        "page_example_binds=accepted_as_written",
        "--reading",
        "page_example_binds=accepted_normalised",
    )
    assert result.returncode == 2
    assert "page_example_binds" in result.stderr


def test_ready_line_and_info_report_the_readings(tmp_path: Path) -> None:
    with running_device(
        tmp_path / "state",
        "--reading",
        "id_type=decimal_string",
        "--reading",
        "created_meaning=configured",  # the default: accepted, changes nothing
        "--reading",
        "register_port_type=decimal_string",
        stderr_path=tmp_path / "log",
    ) as device:
        expected = {"id_type": "decimal_string", "register_port_type": "decimal_string"}
        assert device.ready["readings"] == expected
        assert device.ready["faults"] == []
        url = f"{device.api}/reference/info.json"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert json.loads(resp.read())["data"]["readings"] == expected


# -- each alternative over HTTP ------------------------------------------------------------------


def free_port() -> int:
    """A loopback port free for UDP and TCP right now (a UDP-free port may be TCP-busy)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no loopback port free for both UDP and TCP")


def masked(binds: str) -> str:
    """Binds with ephemeral (device-chosen) ports replaced, to compare two devices."""
    return re.sub(r"^127\.0\.0\.1:[0-9]+$", "127.0.0.1:EPHEMERAL", binds, flags=re.M)


def scenario(api: str, port: int) -> Json:
    """Everything the readings could change, after the same requests (account 1 bare, account 2
    able to serve, the page's set_binds example with a free port)."""
    for name in ("bare", "serving"):
        assert call(api, "add", name=name, type="sip") == {"result": "ok"}
    assert call(api, "modify", id="1", localAccount="1001")["result"] == "ok"
    assert call(api, "modify", id="2", localAccount="1002", localAddress="127.0.0.1:0") == {
        "result": "ok"
    }
    assert call(api, "modify_call_cfg", id="2", auto_aws="1") == {"result": "ok"}
    binds_before = call(api, "get_binds")["data"]["binds"]
    set_binds = call(api, "set_binds", binds=f"{binds_before},*.{port}")
    binds = call(api, "get_binds")["data"]["binds"]
    view = {
        "list": call(api, "list"),
        "status": {i: call(api, "status", id=i) for i in ("1", "2")},
        "account": {i: call(api, "account", id=i) for i in ("1", "2")},
        "call_cfg": {i: call(api, "call_cfg", id=i) for i in ("1", "2")},
        "bad_id": [call(api, "account", id=i) for i in ("", "x", "9")],
        "set_binds": set_binds,
        "binds": masked("\n".join(binds.split(","))),
        "server_port": [masked(e["name"]) for e in call(api, "server_port")["data"]],
        "server_port_9": call(api, "server_port", id="9", type="sip").get("msg"),
        "post": {
            "query": post(api, "status", query="id=1").get("msg"),
            "body": post(api, "status", body="id=1").get("msg"),
        },
    }
    # Last, so that nothing above sees it: the list table's type "Ssip" (ssip_type).
    ssip = {
        "add": call(api, "add", name="ssip", type="Ssip"),
        "modify": call(api, "modify", id="1", type="Ssip"),
    }
    ssip["listed"] = [(e["name"], e["type"]) for e in call(api, "list")["data"]]
    view["ssip"] = ssip
    return view


def post(api: str, endpoint: str, *, query: str = "", body: str = "") -> Json:
    """POST <api>/sip/<endpoint>.json with `query` in the URL and `body` as a form body."""
    request = urllib.request.Request(
        f"{api}/sip/{endpoint}.json" + (f"?{query}" if query else ""),
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        answer: Json = json.loads(resp.read())
    return answer


def views(tmp_path: Path, *args: str) -> Json:
    port = free_port()
    with running_device(tmp_path / "state", *args, stderr_path=tmp_path / "log") as device:
        view = scenario(device.api, port)
        view["port"] = port
        return view


@pytest.fixture(scope="module")
def default_view(tmp_path_factory: pytest.TempPathFactory) -> Json:
    return views(tmp_path_factory.mktemp("default"))


def test_default_behaviour_is_the_reference_reading(default_view: Json) -> None:
    entries = default_view["list"]["data"]
    assert [(e["id"], e["created"]) for e in entries] == [(1, False), (2, True)]
    states = [default_view["status"][i]["data"][0]["state"] for i in ("1", "2")]
    assert states == ["not_created", "created"]
    assert [default_view["account"][i]["data"]["registerPort"] for i in ("1", "2")] == [5060] * 2
    assert default_view["set_binds"] == {"result": "error", "msg": "1206"}
    assert default_view["binds"] == "127.0.0.1:EPHEMERAL"
    assert default_view["server_port_9"] is None  # id and type ignored
    assert default_view["post"] == {"query": None, "body": None}  # both carriers read
    assert default_view["account"]["2"]["data"]["call_in_options"]["auto_answer"] is True
    assert default_view["ssip"] == {
        "add": {"result": "error", "msg": "1204"},
        "modify": {"result": "error", "msg": "1204"},
        "listed": [("bare", "sip"), ("serving", "sip")],
    }


#: The flag encodings' alternatives: call_cfg.json field and its value under the alternative.
FLAG_ENCODINGS = {
    Point.AUTO_AWS_ENCODING: ("auto_aws", lambda v: v == 1),
    Point.AUTO_CALL_ENCODING: ("auto_call", lambda v: 1 if v == 1 else 2),
    Point.SOURCE_ENABLE_ENCODING: ("source_enable", lambda v: v == 1),
}


def expected_change(point: Point, reading: str, view: Json) -> Json:
    """The default view changed exactly as the alternative says."""
    if point is Point.ID_TYPE:
        for entry in view["list"]["data"]:
            entry["id"] = str(entry["id"])
    elif point is Point.REGISTER_PORT_TYPE:
        for account in view["account"].values():
            account["data"]["registerPort"] = "5060"
    elif point is Point.CREATED_MEANING:
        view["list"]["data"][0]["created"] = True
        view["status"]["1"]["data"][0]["state"] = "error"
    elif point is Point.PAGE_EXAMPLE_BINDS:
        sep = "." if reading == "accepted_as_written" else ":"
        view["set_binds"] = {"result": "ok"}
        view["binds"] += f"\n*{sep}{view['port']}"
        view["server_port"].append(f"*{sep}{view['port']}")
    elif point is Point.SSIP_TYPE:
        # Accepted by add.json as sip: the new account is listed (and counted) as a sip account.
        view["ssip"]["add"] = {"result": "ok"}
        view["ssip"]["listed"].append(("ssip", "sip"))
    elif point is Point.SSIP_TYPE_ON_MODIFY:
        view["ssip"]["modify"] = {"result": "ok"}  # account 1 was sip and stays sip
    elif point is Point.CALL_CFG_BUFFER_KEY:
        for answer in view["call_cfg"].values():
            answer["data"]["buffer_option"] = answer["data"].pop("buffer")
    elif point in FLAG_ENCODINGS:
        field, encode = FLAG_ENCODINGS[point]
        for answer in view["call_cfg"].values():
            answer["data"][field] = encode(answer["data"][field])
    elif point is Point.POST_PARAMETER_CARRIER:
        ignored = "query" if reading == "form_body" else "body"
        view["post"][ignored] = "1201"  # the id it did not read is missing
    elif point is Point.REGISTER_STATUS_UNCONFIGURED:
        for answer in view["status"].values():
            answer["data"][1]["state"] = reading
    elif point is Point.CALL_SETTINGS_VIEWS:
        view["account"]["2"]["data"]["call_in_options"]["auto_answer"] = False
    elif point is Point.SERVER_PORT_ENTRIES:
        view["server_port"] = ["1", "2"]
    elif point is Point.SERVER_PORT_PARAMS:
        view["server_port_9"] = "1202"
    # The SIP-side readings (hangup_ringing, unacceptable_offer(_sipp),
    # register_status_on_failure, register_aor_user, policy_3_meaning, early_media_counted,
    # call_status_meaning, answer_dir, register_status_granted) change nothing over HTTP alone:
    # the wire tests below and tests/test_readings.py show them.
    return view


@pytest.mark.parametrize(("point", "reading"), ALTERNATIVES, ids=ALTERNATIVE_IDS)
def test_alternative_changes_exactly_what_it_says(
    tmp_path: Path, default_view: Json, point: Point, reading: str
) -> None:
    seen = views(tmp_path, "--reading", f"{point.value}={reading}")
    expected = expected_change(
        point, reading, {**copy.deepcopy(default_view), "port": seen["port"]}
    )
    assert seen == expected


@pytest.mark.parametrize("reading", ["accepted_as_written", "accepted_normalised"])
def test_accepted_page_example_opens_the_port_and_survives_a_restart(
    tmp_path: Path, reading: str
) -> None:
    port = free_port()
    written = f"*.{port}" if reading == "accepted_as_written" else f"*:{port}"
    args = ("--reading", f"page_example_binds={reading}")
    with running_device(tmp_path / "state", *args, stderr_path=tmp_path / "log") as device:
        assert call(device.api, "set_binds", binds=f"*.{port}") == {"result": "ok"}
        assert call(device.api, "get_binds")["data"] == {"binds": written}
        with socket.socket() as probe, pytest.raises(OSError, match="in use"):
            probe.bind(("127.0.0.1", port))  # the device holds *:PORT (on loopback)
        assert call(device.api, "set_binds", binds=f"*:{port},*.{port}")["msg"] == "1206"
    with running_device(tmp_path / "state", *args, stderr_path=tmp_path / "log") as device:
        assert call(device.api, "get_binds")["data"] == {"binds": written}


def test_ssip_alias_account_is_stored_as_sip(tmp_path: Path) -> None:
    args = ("--reading", "ssip_type=alias_of_sip")
    with running_device(tmp_path / "state", *args, stderr_path=tmp_path / "log") as device_:
        assert call(device_.api, "add", name="s", type="Ssip") == {"result": "ok"}
        assert call(device_.api, "account", id="1")["data"]["protocol"] == "sip"
        assert call(device_.api, "add", name="t", type="ssip")["msg"] == "1204"  # exact spelling


# -- the SIP-side alternatives, on the wire --------------------------------------------------------


def ring_on(peer: Peer, dev: Device, state: str = "in") -> Dialog:
    """An H.264 call from `peer` ringing on the device's account 1 (180 seen, call_status
    `state`): the dialog, for the case to answer, hang up or cancel."""
    dev.account()
    dialog = Dialog(peer, dev.sip_port())
    dialog.invite(h264_offer())
    peer.response(180)
    dev.wait_state("call_status", state)
    return dialog


@pytest.mark.parametrize("reading", [(), ("--reading", "hangup_ringing=no_call_1211")])
def test_hangup_ringing(tmp_path: Path, reading: tuple[str, ...]) -> None:
    """decline: ok and 603; no_call_1211: 1211, the call still rings, and a CANCEL ends it."""
    peer = Peer()
    with device(tmp_path, *reading) as dev:
        dialog = ring_on(peer, dev)
        if not reading:
            dev.ok("hangup", id="1")
            peer.response(603)
        else:
            assert dev.call("hangup", id="1") == {"result": "error", "msg": "1211"}
            peer.nothing(lambda m: isinstance(m, sip.SipResponse) and m.status_code >= 200, 0.3)
            assert dev.state("call_status") == "in"
            dialog.cancel()
            peer.response(200, "CANCEL")
            peer.response(487)
        dev.wait_state("call_status", "idle")
    peer.close()


@pytest.mark.parametrize(
    ("reading", "code"),
    [
        ((), 488),
        (("--reading", "unacceptable_offer=reject_other_final"), 415),
        (("--reading", "unacceptable_offer_sipp=reject_other_final"), 415),
    ],
)
def test_unacceptable_offer(tmp_path: Path, reading: tuple[str, ...], code: int) -> None:
    """An audio-only offer is refused with 488, or 415 under reject_other_final (either point);
    a usable offer is answered 200 as before."""
    peer = Peer()
    with device(tmp_path, *reading) as dev:
        dev.account()
        dev.ok("modify_call_cfg", id="1", auto_aws="1")
        Dialog(peer, dev.sip_port()).invite(AUDIO_ONLY)
        peer.response(code)
        assert dev.state("call_status") == "idle"
        dialog = Dialog(peer, dev.sip_port())
        dialog.invite(h264_offer())
        ok = peer.response(200)
        dialog.take_tag(ok)
        dialog.ack()
        dev.wait_state("call_status", "calling")
    peer.close()


@pytest.mark.parametrize(
    ("reading", "ringing", "up"),
    [
        ((), "in", "calling"),
        (("--reading", "call_status_meaning=direction_when_established"), "calling", "in"),
    ],
)
def test_call_status_meaning(
    tmp_path: Path, reading: tuple[str, ...], ringing: str, up: str
) -> None:
    """An incoming call shows in, then calling once answered; calling, then in under
    direction_when_established; idle after the caller's BYE either way."""
    peer = Peer()
    with device(tmp_path, *reading) as dev:
        dialog = ring_on(peer, dev, ringing)
        dev.ok("answer", id="1")
        dialog.confirm_and_hang_up(peer.response(200), dev, up)
    peer.close()


@pytest.mark.parametrize("reading", [(), ("--reading", "answer_dir=required_sip_out")])
def test_answer_dir(tmp_path: Path, reading: tuple[str, ...]) -> None:
    """answer.json without dir answers the ringing call, or under required_sip_out is refused
    (1201; another dir 1203) and the call rings on until dir=sip_out answers it."""
    peer = Peer()
    with device(tmp_path, *reading) as dev:
        dialog = ring_on(peer, dev)
        if reading:
            assert dev.call("answer", id="1") == {"result": "error", "msg": "1201"}
            assert dev.call("answer", id="1", dir="in") == {"result": "error", "msg": "1203"}
            assert dev.state("call_status") == "in"
            dev.ok("answer", id="1", dir="sip_out")
        else:
            dev.ok("answer", id="1")
        dialog.take_tag(peer.response(200))
        dialog.ack()
        dev.wait_state("call_status", "calling")
    peer.close()


def _register(registrar: Peer) -> sip.SipRequest:
    got = registrar.expect(
        lambda m: isinstance(m, sip.SipRequest) and m.method == "REGISTER", "REGISTER"
    )
    assert isinstance(got.message, sip.SipRequest)
    return got.message


@pytest.mark.parametrize(
    ("reading", "state"),
    [((), "error"), (("--reading", "register_status_on_failure=closed"), "closed")],
)
def test_register_status_after_403(tmp_path: Path, reading: tuple[str, ...], state: str) -> None:
    """After a 403: error, or closed under register_status_on_failure=closed; the retry still
    comes and a 200 then registers."""
    registrar = Peer()
    with device(tmp_path, *reading, "--retry-base-ms", "1000") as dev:
        port = dev.sip_port()
        dev.account(registerServer="127.0.0.1", registerPort=str(registrar.port))
        respond(registrar, _register(registrar), 403, port)
        dev.wait_state("register_status", state)
        assert dev.status()["register_status"]["extra_info"] == 403
        retry = _register(registrar)
        contact = retry.headers.get("Contact")
        respond(registrar, retry, 200, port, Contact=f"{contact};expires=60")
        dev.wait_state("register_status", "registered")
    registrar.close()


@pytest.mark.parametrize(
    ("reading", "state"),
    [((), "registered"), (("--reading", "register_status_granted=connected"), "connected")],
)
def test_register_status_granted(tmp_path: Path, reading: tuple[str, ...], state: str) -> None:
    """After the registrar's 200: registered, or connected under register_status_granted=
    connected (never before the 200); remove.json then unregisters from either state."""
    registrar = Peer()
    with device(tmp_path, *reading) as dev:
        port = dev.sip_port()
        account_id = dev.account(registerServer="127.0.0.1", registerPort=str(registrar.port))
        request = _register(registrar)
        assert dev.state("register_status") not in ("registered", "connected")
        contact = request.headers.get("Contact")
        respond(registrar, request, 200, port, Contact=f"{contact};expires=60")
        dev.wait_state("register_status", state)
        assert dev.status()["register_status"]["extra_info"] == 200
        dev.ok("remove", id=str(account_id))
        assert _register(registrar).headers.get("Expires") == "0"
    registrar.close()
