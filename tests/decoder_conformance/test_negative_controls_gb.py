"""Negative controls of the GB28181 cases: each feeds the check a case asserts on a recorded bad
observation and sees it report the failure, and a good one and sees it pass.

The gb28181 cases assert on the violation codes the platform peer records (peers/gb/checks.py,
stamped by gb/registrar.py, gb_platform.py and gb/invite.py). Here the platform is the real peer
on 127.0.0.1, fed by a scripted device (tests/.../test_gb_platform.py) that sends the bytes a
faulty device would; the INVITE checks take a recorded 2xx and its SDP, as gb/invite.py passes
them. Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.device.client import Status
from decoder_conformance.device.status_series import Sample, bitrate_error
from decoder_conformance.peers.gb import checks, media_checks, query_checks, register_checks
from decoder_conformance.peers.gb.invite import MediaSide
from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform
from decoder_conformance.waiting import DeviceTimeout
from tests.decoder_conformance.peers.test_gb_invite import start_device
from tests.decoder_conformance.peers.test_gb_platform import DEVICE, DOMAIN, ScriptedDevice
from wire import gb_id, manscdp, sdp, sip
from wire.sdp import RtpMap


@pytest.fixture
def platform() -> Iterator[GbPlatform]:
    with GbPlatform(date="2026-12-02T10:11:12.345") as p:
        yield p


@pytest.fixture
def device(platform: GbPlatform) -> Iterator[ScriptedDevice]:
    scripted = ScriptedDevice(platform)
    yield scripted
    scripted.close()


def seen(platform: GbPlatform, *codes: str) -> list[str]:
    """The codes among `codes` the platform recorded against DEVICE (what a case asserts on)."""
    return [v.code for v in platform.violations(device_id=DEVICE) if v.code in codes]


# --- REGISTER (gb/registrar.py) -------------------------------------------------------------------


def test_a_good_registration_records_no_violation(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    challenge, ok = device.register()
    (refresh,) = device.register()
    (gone,) = device.register(0)
    assert [challenge.status_code, ok.status_code, refresh.status_code, gone.status_code] == [
        401,
        200,
        200,
        200,
    ]
    assert platform.violations() == []


@pytest.mark.negative_control("GB-REG-010")
def test_register_without_contact_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    request = device.request("REGISTER", headers=[("Expires", "3600")])
    assert request.headers.remove("Contact") == 1
    assert device.transact(request).status_code == 401
    assert seen(platform, checks.NO_CONTACT) == [checks.NO_CONTACT]


@pytest.mark.negative_control("GB-REG-003")
@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_wrong_digest_response_is_recorded(qop: bool) -> None:
    with GbPlatform(qop=qop) as platform:
        device = ScriptedDevice(platform)
        answers = device.register(password="not-the-password")
        device.close()
        assert [a.status_code for a in answers] == [401, 403]
        assert seen(platform, checks.AUTH_RESPONSE) == [checks.AUTH_RESPONSE]


@pytest.mark.negative_control("GB-REG-003")
def test_digest_uri_not_the_request_uri_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register(auth_uri=f"sip:{DEFAULT_PLATFORM_ID}@{platform.address}")
    assert seen(platform, checks.AUTH_URI) == [checks.AUTH_URI]


@pytest.mark.negative_control("GB-REG-002")
def test_register_from_another_domain_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    request = device.request(
        "REGISTER", headers=[("Expires", "60")], from_uri=f"sip:{DEVICE}@example.invalid"
    )
    device.transact(request)
    assert seen(platform, checks.URI_DOMAIN) == [checks.URI_DOMAIN]


@pytest.mark.negative_control("GB-REG-002")
def test_register_to_another_user_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    request = device.request("REGISTER", headers=[("Expires", "60")])
    request.headers.set("To", f"<sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}>")
    device.transact(request)
    assert seen(platform, checks.FROM_TO_DIFFER) == [checks.FROM_TO_DIFFER]


@pytest.mark.negative_control("GB-REG-005")
def test_refresh_on_a_new_call_id_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    device.register(call_id=sip.new_call_id())
    # Both REGISTERs of the exchange (unauthorized, then with credentials) are recorded.
    assert set(seen(platform, checks.CALL_ID_CHANGED)) == {checks.CALL_ID_CHANGED}


@pytest.mark.negative_control("GB-REG-005")
def test_refresh_with_a_stale_cseq_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    stale = device.request("REGISTER", headers=[("Expires", "3600")], cseq=1)
    assert device.transact(stale).status_code == 200
    assert seen(platform, checks.CSEQ_NOT_INCREASING) == [checks.CSEQ_NOT_INCREASING]


@pytest.mark.negative_control("GB-REG-006")
def test_unregister_on_another_call_id_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    device.register(0, call_id=sip.new_call_id())
    # Both REGISTERs of the exchange (unauthorized, then with credentials) are recorded.
    assert set(seen(platform, checks.UNREGISTER_CALL_ID)) == {checks.UNREGISTER_CALL_ID}


# --- MESSAGE (gb_platform.py) ---------------------------------------------------------------------


@pytest.mark.negative_control("GB-KA-003")
def test_keepalive_not_manscdp_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    assert device.send_manscdp().status_code == 200
    assert seen(platform, checks.CONTENT_TYPE) == []
    assert device.send_manscdp(content_type="text/xml").status_code == 415
    assert seen(platform, checks.CONTENT_TYPE) == [checks.CONTENT_TYPE]


@pytest.mark.negative_control("GB-QRY-010")
def test_response_to_another_request_uri_user_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_DEVICE_INFO)
    _query, asked = device.answer_query()
    info = manscdp.DeviceInfo(device_name="D", manufacturer="Acme", model="D1", firmware="1")
    body = manscdp.build(info.to_message(sn, DEVICE))
    response = device.request("MESSAGE", body=body, content_type=manscdp.CONTENT_TYPE)
    response.uri = f"sip:{DEVICE}@{DOMAIN}"  # addressed to itself, not to the platform
    assert asked.sn == sn
    device.transact(response)
    assert seen(platform, checks.REQUEST_URI) == [checks.REQUEST_URI]


# --- INVITE (the checks gb/invite.py runs on the device's 2xx) ------------------------------------

#: A 200 to the platform's INVITE as a device could send it, Contact and To tag included.
GOOD_2XX = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-nc-1\r\n"
    f"From: <sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}>;tag=platform\r\n"
    f"To: <sip:{DEVICE}@{DOMAIN}>;tag=device\r\n"
    "Call-ID: nc-invite@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    f"Contact: <sip:{DEVICE}@127.0.0.1:5062>\r\n"
    "Content-Length: 0\r\n\r\n"
).encode()


TCP = "TCP/RTP/AVP"


def _offer(transport: str = "RTP/AVP", setup: str | None = None) -> sdp.SessionDescription:
    """The platform's sendonly PS offer (y= included), as gb/invite.py offers it."""
    lines = [
        "v=0",
        f"o={DEFAULT_PLATFORM_ID} 0 0 IN IP4 127.0.0.1",
        "s=Play",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=video 30000 {transport} 96",
        "a=rtpmap:96 PS/90000",
        "a=sendonly",
        *([f"a=setup:{setup}", "a=connection:new"] if setup else []),
        "y=0100000001",
    ]
    return sdp.parse("\r\n".join(lines) + "\r\n")


def _answer(
    *,
    transport: str = "RTP/AVP",
    rtpmap: str = "96 PS/90000",
    direction: str = "recvonly",
    setup: str | None = None,
) -> sdp.SessionDescription:
    """A device's SDP answer (or third-party offer) with the given pieces."""
    lines = [
        "v=0",
        f"o={DEVICE} 0 0 IN IP4 127.0.0.1",
        "s=Play",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=video 40000 {transport} {rtpmap.split(maxsplit=1)[0]}",
        f"a=rtpmap:{rtpmap}",
        f"a={direction}",
        *([f"a=setup:{setup}", "a=connection:new"] if setup else []),
        "y=0100000001",
    ]
    return sdp.parse("\r\n".join(lines) + "\r\n")


def _codes(findings: list[checks.Finding]) -> list[str]:
    return [code for code, _ in findings]


@pytest.mark.negative_control("GB-MED-011")
def test_2xx_without_contact_is_found() -> None:
    good = sip.parse(GOOD_2XX)
    assert isinstance(good, sip.SipResponse)
    assert checks.invite_2xx_findings(good) == []
    bad = sip.parse(GOOD_2XX.replace(f"Contact: <sip:{DEVICE}@127.0.0.1:5062>\r\n".encode(), b""))
    assert isinstance(bad, sip.SipResponse)
    assert _codes(checks.invite_2xx_findings(bad)) == [checks.INVITE_NO_CONTACT]


@pytest.mark.negative_control("GB-MED-001")
def test_third_party_offer_not_recvonly_or_without_ps_is_found() -> None:
    assert checks.device_sdp_findings(_answer(), device_id=DEVICE) == []
    sendrecv = checks.device_sdp_findings(_answer(direction="sendrecv"), device_id=DEVICE)
    assert _codes(sendrecv) == [checks.INVITE_NOT_RECVONLY]
    h264 = checks.device_sdp_findings(_answer(rtpmap="98 H264/90000"), device_id=DEVICE)
    assert _codes(h264) == [checks.INVITE_NO_PS]


@pytest.mark.negative_control("GB-MED-006")
def test_tcp_answer_to_active_not_passive_is_found() -> None:
    offer = _offer(TCP, "active")
    good = _answer(transport=TCP, setup="passive")
    assert checks.device_sdp_findings(good, device_id=DEVICE, offer=offer) == []
    same = _answer(transport=TCP, setup="active")
    found = checks.device_sdp_findings(same, device_id=DEVICE, offer=offer)
    assert _codes(found) == [checks.INVITE_TCP_SETUP_ROLE]
    udp = checks.device_sdp_findings(_answer(), device_id=DEVICE, offer=offer)
    assert checks.INVITE_TRANSPORT_CHANGED in _codes(udp)


@pytest.mark.negative_control("GB-MED-007")
def test_tcp_answer_to_passive_without_setup_is_found() -> None:
    offer = _offer(TCP, "passive")
    good = _answer(transport=TCP, setup="active")
    assert checks.device_sdp_findings(good, device_id=DEVICE, offer=offer) == []
    bare = _answer(transport=TCP)
    found = checks.device_sdp_findings(bare, device_id=DEVICE, offer=offer)
    assert _codes(found) == [checks.INVITE_TCP_SETUP_MISSING]
    wrong = _answer(transport=TCP, setup="passive")
    found = checks.device_sdp_findings(wrong, device_id=DEVICE, offer=offer)
    assert _codes(found) == [checks.INVITE_TCP_SETUP_ROLE]


@pytest.mark.negative_control("GB-MED-008")
def test_bye_not_answered_200_is_found() -> None:
    ok = sip.parse(GOOD_2XX.replace(b"CSeq: 1 INVITE", b"CSeq: 2 BYE"))
    assert isinstance(ok, sip.SipResponse)
    assert checks.bye_findings(ok) == []
    gone = sip.parse(
        GOOD_2XX.replace(b"200 OK", b"481 Call/Transaction Does Not Exist").replace(
            b"CSeq: 1 INVITE", b"CSeq: 2 BYE"
        )
    )
    assert isinstance(gone, sip.SipResponse)
    assert _codes(checks.bye_findings(gone)) == [checks.BYE_NOT_200]


# --- queries (query_checks.py, on what the platform received) -------------------------------------


def _outputs(count: int) -> list[manscdp.CatalogItem]:
    return [
        manscdp.CatalogItem({"DeviceID": gb_id.make_id(133, n), "Name": f"out{n}", "Status": "ON"})
        for n in range(1, count + 1)
    ]


@pytest.mark.negative_control("GB-QRY-008")
def test_catalog_in_one_oversized_udp_message_is_found(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
    device.answer_query()
    # A device that does not split: twenty Items in one MESSAGE over UDP.
    (whole,) = manscdp.split_catalog(sn, DEVICE, _outputs(20), max_items=20)
    assert device.send_manscdp(whole).status_code == 200
    responses = platform.wait_response(sn, timeout=2)
    messages = [r.message for r in responses if r.message is not None]
    problems = query_checks.catalog_split_problems(responses, messages, sn)
    assert len(problems) == 1 and "within 1300 bytes" in problems[0]


@pytest.mark.negative_control("GB-QRY-008")
def test_catalog_split_with_parts_missing_is_found(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
    device.answer_query()
    parts = manscdp.split_catalog(sn, DEVICE, _outputs(5), max_items=2)
    for part in parts:
        assert device.send_manscdp(part).status_code == 200
    whole = platform.wait_response(sn, timeout=2)
    good = [r.message for r in whole if r.message is not None]
    assert query_checks.catalog_split_problems(whole, good, sn) == []
    # The last part never sent: two of the three Responses, SumNum 5 with 4 Items.
    problems = query_checks.catalog_split_problems(whole[:2], good[:2], sn)
    assert problems == ["expected SumNum 5 items in all"]


@pytest.mark.negative_control("GB-QRY-012")
def test_catalog_channels_of_no_reading_are_found() -> None:
    five = manscdp.Catalog(5, _outputs(5))
    reading, _ = query_checks.catalog_channels_reading(five, 5, DEVICE)
    assert reading == "outputs"
    assert query_checks.catalog_channels_reading(manscdp.Catalog(0), 0, DEVICE)[0] == "none"
    # DeviceInfo's Channel counting other than the Items; the device listing itself; an Item ID
    # repeated; an Item ID that is not a 20-digit GB28181 ID.
    assert query_checks.catalog_channels_reading(five, 4, DEVICE)[0] is None
    itself = manscdp.Catalog(1, [manscdp.CatalogItem({"DeviceID": DEVICE, "Name": "me"})])
    assert query_checks.catalog_channels_reading(itself, None, DEVICE)[0] is None
    twice = manscdp.Catalog(2, _outputs(1) * 2)
    assert query_checks.catalog_channels_reading(twice, None, DEVICE)[0] is None
    short = manscdp.Catalog(1, [manscdp.CatalogItem({"DeviceID": "3402000000", "Name": "x"})])
    reading, seen = query_checks.catalog_channels_reading(short, None, DEVICE)
    assert reading is None and "3402000000" in seen


@pytest.mark.negative_control("GB-QRY-002")
def test_catalog_items_short_or_without_fields_are_found() -> None:
    full = manscdp.Catalog(
        2,
        [
            manscdp.CatalogItem(dict.fromkeys(manscdp.CATALOG_ITEM_REQUIRED_2016, "x"))
            for _ in range(2)
        ],
    )
    assert query_checks.catalog_items_problems(full, "2016") == []
    assert query_checks.catalog_items_problems(manscdp.Catalog(2, _outputs(2)), "2022") == []
    # SumNum counting more than was sent; 2016 Items with only DeviceID/Name/Status; an Item
    # without DeviceID under 2022.
    short = query_checks.catalog_items_problems(manscdp.Catalog(3, _outputs(2)), "2022")
    assert short == ["expected SumNum 3 items, observed 2"]
    (bare,) = query_checks.catalog_items_problems(manscdp.Catalog(2, _outputs(2)), "2016")
    assert "2016 required fields" in bare and "Manufacturer" in bare
    anonymous = manscdp.Catalog(1, [manscdp.CatalogItem({"Name": "out1"})])
    assert query_checks.catalog_items_problems(anonymous, "2022") == ["Items without DeviceID"]


@pytest.mark.negative_control("GB-QRY-003")
def test_device_info_of_another_device_or_result_is_found() -> None:
    good = manscdp.DeviceInfo(device_name="D").to_message(7, DEVICE)
    assert query_checks.device_info_problem(good, DEVICE) is None
    other = manscdp.DeviceInfo(device_name="D").to_message(7, DEFAULT_PLATFORM_ID)
    assert query_checks.device_info_problem(other, DEVICE) is not None
    failed = manscdp.DeviceInfo(result="FAIL").to_message(7, DEVICE)
    assert query_checks.device_info_problem(failed, DEVICE) is not None


@pytest.mark.negative_control("GB-QRY-004")
def test_device_status_values_out_of_the_lists_are_found() -> None:
    assert query_checks.device_status_problem(manscdp.DeviceStatus().to_message(7, DEVICE)) is None
    for wrong in (
        manscdp.DeviceStatus(online="YES"),
        manscdp.DeviceStatus(status="NORMAL"),
        manscdp.DeviceStatus(result="SUCCESS"),
    ):
        problem = query_checks.device_status_problem(wrong.to_message(7, DEVICE))
        assert problem is not None and "observed" in problem


@pytest.mark.negative_control("GB-QRY-005")
def test_basic_param_with_zero_heartbeat_is_found() -> None:
    good = manscdp.BasicParam("D", 3600, 60, 3)
    assert query_checks.basic_param_problem(good) is None
    for wrong in (
        manscdp.BasicParam("D", 3600, 0, 3),
        manscdp.BasicParam("D", 3600, 60, 0),
        manscdp.BasicParam("D", 0, 60, 3),
    ):
        assert query_checks.basic_param_problem(wrong) is not None


@pytest.mark.negative_control("GB-KA-002")
@pytest.mark.parametrize(
    ("status", "body_id", "expected"),
    [
        ("BAD", DEVICE, "expected Status OK or ERROR, observed 'BAD'"),
        (manscdp.STATUS_OK, gb_id.make_id(133, 9), "expected DeviceID"),
    ],
    ids=["status", "device-id"],
)
def test_keepalive_body_wrong_is_found(
    platform: GbPlatform, device: ScriptedDevice, status: str, body_id: str, expected: str
) -> None:
    device.register()
    assert device.send_manscdp().status_code == 200
    device.send_manscdp(manscdp.Keepalive(status).to_message(99, body_id))
    good, bad = platform.keepalives()
    assert query_checks.keepalive_problems(good, DEVICE) == []
    (problem,) = query_checks.keepalive_problems(bad, DEVICE)
    assert problem.startswith(expected)


# --- registration, beyond the platform's violations (register_checks.py) -------------------------

#: The states that claim a registration (suites/gb28181/conftest.py GRANTED_STATES).
GRANTED = ("registered", "connected", "on")


def _series(*states: str | None) -> list[Sample]:
    """A recorded status.json series of the account (None: a sample that got no answer)."""
    return [
        Sample(
            t=float(n),
            status=None if s is None else Status("gb-1", s, None, "idle", 0),
            error="" if s is not None else "timed out",
        )
        for n, s in enumerate(states)
    ]


@pytest.mark.negative_control("GB-REG-004")
def test_granted_state_after_403_is_found() -> None:
    refused = _series("idle", "registering", None, "error")
    assert register_checks.refused_registration_problem("error", refused, GRANTED) is None
    # Granted for a moment before settling, settled granted, never left registering but showed
    # connected in between.
    flashed = _series("registering", "registered", "error")
    assert register_checks.refused_registration_problem("error", flashed, GRANTED) is not None
    stays = _series("registering", "registered")
    assert register_checks.refused_registration_problem("registered", stays, GRANTED) is not None
    between = _series("registering", "connected", "registering")
    problem = register_checks.refused_registration_problem("still in progress", between, GRANTED)
    assert problem is not None and "connected" in problem


@pytest.mark.negative_control("GB-REG-007")
def test_register_without_x_gb_ver_is_found(platform: GbPlatform, device: ScriptedDevice) -> None:
    with_ver = device.request("REGISTER", headers=[("Expires", "60"), ("X-GB-ver", "3.0")])
    without = device.request("REGISTER", headers=[("Expires", "60")])
    assert register_checks.x_gb_ver_problem([with_ver, with_ver]) is None
    # The challenged REGISTER carried it, the one with credentials did not; none sent at all.
    problem = register_checks.x_gb_ver_problem([with_ver, without])
    assert problem is not None and "['3.0', None]" in problem
    assert register_checks.x_gb_ver_problem([]) is not None


# --- the platform's calls into a fake device that commits the defect (gb/invite.py end to end) ---


@pytest.mark.negative_control("GB-MED-008")
def test_bye_answered_481_is_recorded_on_the_call(platform: GbPlatform) -> None:
    device = start_device(platform, bye_code=481)
    try:
        with platform.play(DEVICE, style="offer", transport="udp") as call:
            assert call.code == 200
            assert call.bye(timeout=5.0) == 481
            assert [v.code for v in call.violations(checks.BYE_NOT_200)] == [checks.BYE_NOT_200]
    finally:
        device.close()


@pytest.mark.negative_control("GB-MED-011")
@pytest.mark.parametrize("style", ["third_party", "offer"])
def test_2xx_without_contact_is_recorded_on_the_call(platform: GbPlatform, style: str) -> None:
    device = start_device(platform, faults={"no_contact"})
    try:
        transport = None if style == "third_party" else "udp"
        with platform.play(DEVICE, style=style, transport=transport) as call:  # type: ignore[arg-type]
            assert call.code == 200
            found = [v.code for v in call.violations(checks.INVITE_NO_CONTACT)]
            assert found == [checks.INVITE_NO_CONTACT]
    finally:
        device.close()


@pytest.mark.negative_control("GB-MED-009")
def test_second_invite_answered_while_busy_is_found(platform: GbPlatform) -> None:
    """A device that answers 200 to every INVITE, a second one while its one call plays too."""
    assert media_checks.busy_problem(486) is None
    device = start_device(platform)
    try:
        with (
            platform.play(DEVICE, style="offer", transport="udp") as first,
            platform.play(DEVICE, style="offer", transport="udp") as second,
        ):
            assert (first.code, second.code) == (200, 200)
            busy = media_checks.busy_problem(second.code)
            assert busy is not None and "observed 200" in busy
    finally:
        device.close()


@pytest.mark.negative_control("GB-MED-010")
@pytest.mark.parametrize("final", [415, 606])
def test_unusable_offer_not_answered_488_is_found(platform: GbPlatform, final: int) -> None:
    """The offer of an unknown codec only, refused with another code (415 Unsupported Media
    Type, 606 Not Acceptable); 488 passes."""
    unknown = (RtpMap(97, "X-UNKNOWN", 90000),)
    for code in (488, final):
        device = start_device(platform, final=code)
        try:
            with platform.play(DEVICE, style="offer", transport="udp", payloads=unknown) as call:
                assert call.code == code
                problem = media_checks.unusable_offer_problem(call.code)
                assert (problem is None) == (code == 488), problem
        finally:
            device.close()


@pytest.mark.negative_control("GB-MED-002")
def test_bitrate_off_the_ps_sent_is_found() -> None:
    """Player.check_bitrate judges status.json's bitrate samples in the window against the PS
    payload bitrate sent (device/status_series.bitrate_error, 5 %)."""
    tolerance = 0.05
    assert bitrate_error([790.0, 805.0, 812.0, 798.0], 800.0, tolerance) is None
    # Recorded series: a decoder counting only half the stream (a dropped RTP/PS layer), one
    # counting the RTP headers and PS packs too (+12 %), one still at 0, too few samples.
    for reported in ([400.0, 410.0, 395.0, 405.0], [896.0, 900.0, 905.0, 890.0], [0.0] * 5):
        problem = bitrate_error(reported, 800.0, tolerance)
        assert problem is not None and "of the 800 kbit/s sent" in problem
    assert bitrate_error([800.0, 800.0], 800.0, tolerance) == (
        "2 status.json samples in the window (at least 4 are needed)"
    )


@pytest.mark.negative_control("GB-REG-001")
def test_challenge_never_answered_is_not_registered(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    """The case waits for the platform's binding (GbRegistrar.wait_registered, through
    GbDevice.wait_registered); a device that never answers the 401 with credentials, or answers
    with the wrong ones, never gets one."""
    first = device.request("REGISTER", headers=[("Expires", "3600")])
    assert device.transact(first).status_code == 401
    with pytest.raises(DeviceTimeout):
        platform.wait_registered(DEVICE, timeout=0.3)
    device.register(password="not-the-password")
    with pytest.raises(DeviceTimeout):
        platform.wait_registered(DEVICE, timeout=0.3)
    device.register()
    assert platform.wait_registered(DEVICE, timeout=2).device_id == DEVICE


# --- a GB Date in the REGISTER 200 (register_checks.shows_granted: GB-REG-008) --------------------


@pytest.mark.negative_control("GB-REG-008")
def test_gb_date_in_the_200_not_taken_as_granted_is_found() -> None:
    """The case waits (GbDevice.wait_registered) for status.json to show the registration
    granted once the platform sent its 200 with `Date: 2026-12-02T08:00:00.000`."""
    for state in GRANTED:
        assert register_checks.shows_granted(Status("gb-1", state, None, "idle", 0))
    # Recorded series after that 200: a device whose RFC 1123 date parser throws on the GB
    # form and marks the registration failed, and one that keeps registering.
    for series in (
        _series("registering", "error", "error"),
        _series("registering", "registering", "registering"),
    ):
        assert not [s for s in series if s.status and register_checks.shows_granted(s.status)]


# --- an active TCP connection retried (GB-MED-015) ------------------------------------------------


@pytest.mark.negative_control("GB-MED-015")
def test_stream_not_reaching_the_decoder_is_found() -> None:
    """The case waits for media_checks.streaming once the device's retried connection carries
    the stream: recorded, a device that gave up the connection (no bitrate on a call still
    shown up, or the call ended or in error)."""
    assert media_checks.streaming(Status("gb-1", "registered", None, "calling", 812.0))
    for call, bitrate in (("calling", 0.0), ("in", 0.0), ("idle", 0.0), ("error", 0.0)):
        assert not media_checks.streaming(Status("gb-1", "registered", None, call, bitrate))


def _connect_attempts(port: int, times: int, stop: threading.Event) -> None:
    """A device's active TCP connection to the platform's media port: `times` attempts, 0.2 s
    apart (refused ones retried)."""
    for _ in range(times):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.connect((LOOPBACK, port))
            except ConnectionRefusedError:
                if stop.wait(0.2):
                    return
                continue
            stop.wait(5.0)  # hold the connection until the platform took it
            return


@pytest.mark.negative_control("GB-MED-015")
@pytest.mark.parametrize("attempts", [1, 10], ids=["one-attempt", "retried"])
def test_active_connection_not_retried_is_found(attempts: int) -> None:
    """The platform's media side of the case (`listen_after`): its port listens only after a
    while, so a device that connects once and gives up never connects (DeviceTimeout, as
    call.send raises it in the case); one that retries does."""
    side = MediaSide("tcp_active", LOOPBACK, listen_after=0.3)
    stop = threading.Event()
    device = threading.Thread(target=_connect_attempts, args=(side.port, attempts, stop))
    device.start()
    try:
        if attempts == 1:
            with pytest.raises(DeviceTimeout, match="had not connected"):
                side.socket_for_sender((LOOPBACK, 9), timeout=1.0)
        else:
            sock, _ = side.socket_for_sender((LOOPBACK, 9), timeout=3.0)
            sock.close()
            assert side.accepted_at is not None and side.listening_at is not None
    finally:
        stop.set()
        device.join(5.0)
        side.close()
