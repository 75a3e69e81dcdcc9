"""Queries to a gb28181 account (§9.5.2, A.2.4/A.2.6, Annex N): 200 at once, then Response(s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform
from decoder_conformance.waiting import DeviceTimeout, poll_until
from tests.reference_device.gb.bench import DEVICE, DOMAIN, WAIT, bench, registered, request_of
from tests.reference_device.sip.peer import Device, Peer
from wire import gb_id, manscdp, sip

MESSAGE_LIMIT = 1300  # RFC 3261 §18.1.1 over UDP


def _answer(platform: GbPlatform, sn: int) -> int | None:
    """The device's answer to Query `sn` once the platform has it on file.

    The platform files its client transaction after sending (peers/gb/transport.py), so a 200
    that beats the filing is only matched when the Query's retransmission is answered again.
    """
    return poll_until(
        lambda: platform.query_state(sn).answer,
        lambda answer: answer is not None,
        timeout=WAIT,
        expected=f"the device's answer to Query SN {sn} on file",
    )


def _one(platform: GbPlatform, cmd_type: str, **kwargs: object) -> manscdp.Message:
    sn = platform.query(DEVICE, cmd_type, **kwargs)  # type: ignore[arg-type]
    (response,) = platform.wait_response(sn, timeout=WAIT)
    assert _answer(platform, sn) == 200
    assert response.problems == []
    assert response.request.content_type == manscdp.CONTENT_TYPE
    assert response.request.uri == f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}"
    assert response.request.body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    assert response.message is not None and response.message.sn == sn
    return response.message


def test_device_info_status_and_basic_param(tmp_path: Path) -> None:
    with bench(tmp_path, "--gb-channels", "4") as (dev, platform):
        registered(dev, platform)
        info = manscdp.DeviceInfo.from_message(_one(platform, manscdp.CMD_DEVICE_INFO))
        assert (info.result, info.channel) == (manscdp.RESULT_OK, 4)
        assert info.device_name and info.manufacturer and info.model and info.firmware
        status = manscdp.DeviceStatus.from_message(_one(platform, manscdp.CMD_DEVICE_STATUS))
        assert (status.result, status.online, status.status) == ("OK", "ONLINE", "OK")
        config = _one(platform, manscdp.CMD_CONFIG_DOWNLOAD)
        basic = manscdp.BasicParam.from_message(config)
        assert (basic.expiration, basic.heartbeat_interval, basic.heartbeat_count) == (3600, 1, 3)
        assert basic.extra["SIPServerID"] == DEFAULT_PLATFORM_ID
        assert config.get("Result") == manscdp.RESULT_OK
        assert platform.violations() == []


def test_catalog_one_item_per_output_split_to_fit_udp(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
        catalog = platform.catalog(sn, timeout=WAIT)
        parts = platform.wait_response(sn, timeout=0)
        assert catalog.complete and catalog.sum_num == 16
        assert len(parts) > 1  # 16 items do not fit one 1300-byte MESSAGE
        assert all(len(p.record.raw) <= MESSAGE_LIMIT for p in parts)
        ids = [item.device_id for item in catalog.items]
        assert ids == [gb_id.make_id(gb_id.TYPE_DISPLAY, n) for n in range(1, 17)]
        for item in catalog.items:
            assert item.missing_2016() == []
            assert (item.fields["ParentID"], item.fields["Status"]) == (DEVICE, "ON")
        assert catalog.items[0].fields["Name"] == "解码器输出 1"
        assert {p.message.sn for p in parts if p.message is not None} == {sn}
        assert platform.violations() == []


def test_empty_catalog_and_2022_items(tmp_path: Path) -> None:
    with bench(tmp_path, "--gb-channels", "0") as (dev, platform):
        registered(dev, platform)
        sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
        assert platform.catalog(sn, timeout=WAIT).sum_num == 0
    with bench(tmp_path / "2022", "--gb-channels", "2", "--gb-edition", "2022") as (dev, platform):
        registered(dev, platform)
        catalog = platform.catalog(platform.query(DEVICE, manscdp.CMD_CATALOG), timeout=WAIT)
        assert [i.missing_2016() for i in catalog.items] == [["Owner"], ["Owner"]]


def test_unknown_query_gets_result_error(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        answer = _one(platform, "RecordInfo")
        assert (answer.cmd_type, answer.get("Result")) == ("RecordInfo", manscdp.RESULT_ERROR)
        config = _one(platform, manscdp.CMD_CONFIG_DOWNLOAD, config_types=["VideoParamOpt"])
        assert config.get("Result") == manscdp.RESULT_ERROR


@pytest.mark.parametrize("encoding", [manscdp.ENCODING_UTF8, manscdp.ENCODING_GB18030])
def test_queries_in_other_encodings_are_read(tmp_path: Path, encoding: str) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        _one(platform, manscdp.CMD_DEVICE_STATUS, encoding=encoding)


def _message(port: int, peer: Peer, body: bytes, content_type: str, user: str = DEVICE) -> None:
    request = sip.make_request(
        "MESSAGE",
        f"sip:{user}@127.0.0.1:{port}",
        sent_by=("127.0.0.1", peer.port),
        from_uri=f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}",
        from_tag=sip.new_tag(),
        to_uri=f"sip:{user}@{DOMAIN}",
        call_id=sip.new_call_id(),
        cseq=1,
        body=body,
        content_type=content_type,
    )
    peer.send(request, port)


def _status(peer: Peer) -> int:
    got = peer.expect(lambda m: isinstance(m, sip.SipResponse), "a response to the MESSAGE")
    assert isinstance(got.message, sip.SipResponse)
    return got.message.status_code


def _raw(dev: Device, body: bytes, content_type: str = manscdp.CONTENT_TYPE, **kw: str) -> int:
    peer = Peer()
    try:
        _message(dev.sip_port(), peer, body, content_type, **kw)
        return _status(peer)
    finally:
        peer.close()


def test_raw_messages(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        gbk = (
            '<?xml version="1.0" encoding="GBK"?><Query><CmdType>DeviceInfo</CmdType><SN>7</SN>'
            f"<DeviceID>{DEVICE}</DeviceID><Info>解码</Info></Query>"
        ).encode("gbk")
        assert _raw(dev, gbk) == 200
        assert _raw(dev, b"<Query><CmdType>Catalog</Query>") == 400  # malformed XML
        assert _raw(dev, b"<Query/>") == 400  # no CmdType, SN, DeviceID
        assert _raw(dev, b"hello", content_type="text/plain") == 415
        control = (
            '<?xml version="1.0" encoding="GB2312"?><Control><CmdType>DeviceControl</CmdType>'
            f"<SN>8</SN><DeviceID>{DEVICE}</DeviceID><TeleBoot>Boot</TeleBoot></Control>"
        ).encode()
        assert _raw(dev, control) == 200
        # a MESSAGE to a user that is no gb28181 account: 405 as before
        assert _raw(dev, control, user="somebody") == 405


def test_sip_account_still_refuses_message(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, _platform):
        dev.account(localAccount="dec")
        body = b"<Query/>"
        assert _raw(dev, body, user="dec") == 405


def test_fault_gb_response_wrong_sn(tmp_path: Path) -> None:
    with bench(tmp_path, faults=("gb_response_wrong_sn",)) as (dev, platform):
        registered(dev, platform)
        sn = platform.query(DEVICE, manscdp.CMD_DEVICE_INFO)
        with pytest.raises(DeviceTimeout, match=f"SN {sn + 1} does not match the query's SN {sn}"):
            platform.wait_response(sn, timeout=2)
        assert [v.code for v in platform.violations()] == [checks.RESPONSE_UNMATCHED]


def test_fault_gb_utf8_under_gb2312(tmp_path: Path) -> None:
    with bench(tmp_path, "--gb-channels", "3", faults=("gb_utf8_under_gb2312",)) as (
        dev,
        platform,
    ):
        registered(dev, platform)
        sn = platform.query(DEVICE, manscdp.CMD_DEVICE_INFO)
        (info,) = platform.wait_response(sn, timeout=WAIT)
        assert [p.code for p in info.problems] == [manscdp.PROBLEM_UTF8_UNDER_GB]
        assert info.request.body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
        assert "解码器".encode() in info.request.body  # UTF-8 bytes
        catalog_sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
        parts = platform.wait_response(catalog_sn, timeout=WAIT)
        assert all(p.problems for p in parts)
        assert all(len(p.record.raw) <= MESSAGE_LIMIT for p in parts)
        codes = {v.code for v in platform.violations()}
        assert codes == {checks.MANSCDP_PREFIX + manscdp.PROBLEM_UTF8_UNDER_GB}


def test_response_request_shape(tmp_path: Path) -> None:
    with bench(tmp_path) as (dev, platform):
        registered(dev, platform)
        sn = platform.query(DEVICE, manscdp.CMD_DEVICE_STATUS)
        (response,) = platform.wait_response(sn, timeout=WAIT)
        request = request_of(response.record)
        assert request.from_addr.uri == f"sip:{DEVICE}@{DOMAIN}"
        assert request.to_addr.uri == f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}"
        assert request.vias[0].params.keys() >= {"rport"}


def test_bodies_are_in_the_editions_charset() -> None:
    from reference_device.gb.outbox import encode
    from reference_device.gb.settings import Edition, GbSettings
    from wire import manscdp

    message = manscdp.DeviceInfo(device_name="参考解码器").to_message(7, "34020000001140000001")
    for edition, charset in ((Edition.GB2016, "GB2312"), (Edition.GB2022, "GB18030")):
        body = encode(message, GbSettings(edition=edition).charset)
        parsed = manscdp.parse(body)
        assert parsed.declared_encoding == charset and parsed.ok, (edition, parsed)
        assert manscdp.DeviceInfo.from_message(parsed.require()).device_name == "参考解码器"
