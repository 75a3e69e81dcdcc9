"""GB28181 queries (2016/2022 §9.5.2, A.2.4, A.2.6, Annex N/M): the platform asks, the device
answers 200 at once and then sends a MESSAGE Response with the same SN.

Each Response is read the way a GB2312 platform reads it (wire.manscdp): in the charset its XML
declaration names, with every problem kept.
"""

from __future__ import annotations

import statistics

import pytest

from decoder_conformance.peers.gb import checks, query_checks
from wire import manscdp
from wire.sip import SipUri

pytestmark = pytest.mark.needs("gb28181")

QUERIES = [
    manscdp.CMD_CATALOG,
    manscdp.CMD_DEVICE_INFO,
    manscdp.CMD_DEVICE_STATUS,
    manscdp.CMD_CONFIG_DOWNLOAD,
]
#: XML charsets each edition's bodies may be in (2016 §6.10 GB2312 should; 2022 GB18030 shall,
#: GB2312 being its subset).
EDITION_CHARSETS = {"2016": ("gb2312", "gb18030", "gbk"), "2022": ("gb18030", "gb2312")}


def response_messages(responses, req):
    messages = [r.message for r in responses]
    assert all(m is not None for m in messages), f"[{req}] unreadable Response: " + "; ".join(
        r.describe() for r in responses
    )
    return messages


@pytest.mark.req("GB-QRY-001")
@pytest.mark.parametrize("cmd_type", QUERIES)
def test_query_answered_with_the_same_sn(registered, cmd_type):
    query, responses = registered.query(cmd_type, req="GB-QRY-001")
    assert query.answer is not None and 200 <= query.answer < 300, (
        f"[GB-QRY-001] expected 200 to the MESSAGE Query, observed {query.answer}"
    )
    assert not query.mismatched, "[GB-QRY-001] Responses that do not match the Query: " + "; ".join(
        f"{r.describe()}: {', '.join(why)}" for r, why in query.mismatched
    )
    for message in response_messages(responses, "GB-QRY-001"):
        assert (message.root, message.cmd_type, message.sn, message.device_id) == (
            manscdp.ROOT_RESPONSE,
            cmd_type,
            query.sn,
            registered.device_id,
        ), f"[GB-QRY-001] expected Response/{cmd_type} SN={query.sn}, observed {message}"
    # The 200 comes before the Response (§9.5.2: answered at once, the Response follows).
    answered = [
        r
        for r in registered.platform.records()
        if r.direction == "RX"
        and r.status_of("MESSAGE") is not None
        and r.message.call_id == query.sent.message.call_id
    ]
    assert answered and answered[0].t <= responses[0].record.t, (
        "[GB-QRY-001] expected the 200 to the Query before the Response MESSAGE"
    )


@pytest.mark.req("GB-QRY-002")
def test_catalog_items(registered):
    _, responses = registered.query(manscdp.CMD_CATALOG, req="GB-QRY-002")
    catalog = manscdp.collect_catalog(response_messages(responses, "GB-QRY-002"))
    problems = query_checks.catalog_items_problems(catalog, registered.gb.edition)
    assert not problems, "[GB-QRY-002] " + "; ".join(problems)


@pytest.mark.req("GB-QRY-003")
def test_device_info(registered):
    _, responses = registered.query(manscdp.CMD_DEVICE_INFO, req="GB-QRY-003")
    (message,) = response_messages(responses, "GB-QRY-003")[:1]
    problem = query_checks.device_info_problem(message, registered.device_id)
    assert problem is None, f"[GB-QRY-003] {problem}"


@pytest.mark.req("GB-QRY-004")
def test_device_status(registered):
    _, responses = registered.query(manscdp.CMD_DEVICE_STATUS, req="GB-QRY-004")
    (message,) = response_messages(responses, "GB-QRY-004")[:1]
    problem = query_checks.device_status_problem(message)
    assert problem is None, f"[GB-QRY-004] {problem}"


def basic_param(device, req):
    _, responses = device.query(
        manscdp.CMD_CONFIG_DOWNLOAD, config_types=[manscdp.CONFIG_BASIC_PARAM], req=req
    )
    (message,) = response_messages(responses, req)[:1]
    try:
        return manscdp.BasicParam.from_message(message)
    except manscdp.ManscdpError as exc:
        raise AssertionError(f"[{req}] BasicParam: {exc}") from None


@pytest.mark.req("GB-QRY-005")
def test_config_download_basic_param(registered):
    param = basic_param(registered, "GB-QRY-005")
    problem = query_checks.basic_param_problem(param)
    assert problem is None, f"[GB-QRY-005] {problem}"


@pytest.mark.req("GB-QRY-006")
@pytest.mark.parametrize("cmd_type", [manscdp.CMD_CATALOG, manscdp.CMD_DEVICE_INFO])
def test_response_charset(registered, cmd_type):
    _, responses = registered.query(cmd_type, req="GB-QRY-006")
    allowed = EDITION_CHARSETS[registered.gb.edition]
    for response in responses:
        parsed = response.parsed
        assert parsed is not None, f"[GB-QRY-006] unreadable Response: {response.describe()}"
        wrong = [p for p in parsed.detected_problems if p.code in ENCODING_PROBLEMS]
        assert not wrong, "[GB-QRY-006] " + "; ".join(p.detail for p in wrong)
        declared = (parsed.declared_encoding or "").lower()
        assert declared in allowed, (
            f"[GB-QRY-006] expected an XML declaration naming one of {allowed} "
            f"(edition {registered.gb.edition}, §6.10), observed {parsed.declared_encoding!r}"
        )


ENCODING_PROBLEMS = (
    manscdp.PROBLEM_UTF8_UNDER_GB,
    manscdp.PROBLEM_NOT_DECLARED_CHARSET,
    manscdp.PROBLEM_NO_DECLARATION,
    manscdp.PROBLEM_NO_ENCODING,
)


@pytest.mark.req("GB-QRY-007")
def test_utf8_query_answered(registered):
    query, responses = registered.query(
        manscdp.CMD_DEVICE_INFO, encoding=manscdp.ENCODING_UTF8, req="GB-QRY-007"
    )
    assert query.answer == 200 and response_messages(responses, "GB-QRY-007")


@pytest.mark.req("GB-QRY-008")
def test_large_catalog_split(registered):
    query, responses = registered.query(manscdp.CMD_CATALOG, req="GB-QRY-008")
    messages = response_messages(responses, "GB-QRY-008")
    problems = query_checks.catalog_split_problems(responses, messages, query.sn)
    assert not problems, "[GB-QRY-008] " + "; ".join(problems)


@pytest.mark.req("GB-QRY-009")
def test_basic_param_matches_the_keepalive_cadence(registered):
    param = basic_param(registered, "GB-QRY-009")
    measured = statistics.median(registered.keepalive_gaps(3))
    assert abs(measured - param.heartbeat_interval) <= 0.25 * max(param.heartbeat_interval, 1), (
        f"[GB-QRY-009] BasicParam HeartBeatInterval {param.heartbeat_interval} s, keepalives "
        f"measured every {measured:.2f} s"
    )


@pytest.mark.req("GB-QRY-010")
def test_response_addressed_to_the_platform(registered):
    _, responses = registered.query(manscdp.CMD_DEVICE_INFO, req="GB-QRY-010")
    for response in responses:
        request = response.request
        assert response.from_user == registered.device_id, (
            f"[GB-QRY-010] expected From user {registered.device_id}, observed {response.from_user}"
        )
        uri_user = SipUri.parse(request.uri).user
        assert uri_user in (None, registered.platform.platform_id), (
            f"[GB-QRY-010] expected Request-URI user {registered.platform.platform_id}, "
            f"observed {request.uri}"
        )
    registered.assert_no_violations("GB-QRY-010", checks.REQUEST_URI, checks.BODY_DEVICE_ID)


@pytest.mark.req("GB-QRY-011")
def test_device_control_answered(registered):
    platform = registered.platform
    sn = platform.control(registered.device_id)
    answer = platform.wait_answer(sn, timeout=registered.timers.state_timeout)
    assert 200 <= answer < 300, (
        f"[GB-QRY-011] expected 2xx to a DeviceControl MESSAGE, observed {answer}"
    )


@pytest.mark.req("GB-QRY-012")
def test_catalog_channels(registered, readings):
    _, responses = registered.query(manscdp.CMD_CATALOG, req="GB-QRY-012")
    catalog = manscdp.collect_catalog(response_messages(responses, "GB-QRY-012"))
    _, info = registered.query(manscdp.CMD_DEVICE_INFO, req="GB-QRY-012")
    channel = manscdp.DeviceInfo.from_message(response_messages(info, "GB-QRY-012")[0]).channel
    reading, seen = query_checks.catalog_channels_reading(catalog, channel, registered.device_id)
    if reading is None:
        readings.none_of("gb_decoder_channels", seen)
    readings.follow("gb_decoder_channels", reading, seen)
