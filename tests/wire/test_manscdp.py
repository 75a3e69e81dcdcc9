"""wire.manscdp: MANSCDP bodies (GB/T 28181 A.2): build, parse, encodings, splitting, safety."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.manscdp import (
    CMD_CATALOG,
    CMD_DEVICE_INFO,
    CMD_DEVICE_STATUS,
    CMD_KEEPALIVE,
    CONTENT_TYPE,
    PROBLEM_ATTRIBUTE_FIELD,
    PROBLEM_BAD_DEVICE_ID,
    PROBLEM_BAD_SN,
    PROBLEM_DUPLICATE_FIELD,
    PROBLEM_MISSING_FIELD,
    PROBLEM_NO_DECLARATION,
    PROBLEM_NO_ENCODING,
    PROBLEM_NOT_DECLARED_CHARSET,
    PROBLEM_UNKNOWN_ROOT,
    PROBLEM_UTF8_UNDER_GB,
    BasicParam,
    Catalog,
    CatalogItem,
    DeviceInfo,
    DeviceStatus,
    Keepalive,
    ManscdpError,
    Message,
    Node,
    UnsafeXmlError,
    answers,
    build,
    collect_catalog,
    config_download_query,
    config_types,
    is_manscdp_content_type,
    leaf,
    make_query,
    parse,
    parse_message,
    response_mismatches,
    split_catalog,
)

DECODER = "34020000001140000001"
PLATFORM = "34020000002000000001"
GB2312_DECLARATION = b'<?xml version="1.0" encoding="GB2312"?>'

# Verbatim from ../shared/notes/gb28181.md §2 (keepalive body) and §3 (DeviceInfo response).
NOTES_KEEPALIVE = b"""<?xml version="1.0" encoding="GB2312"?>
<Notify><CmdType>Keepalive</CmdType><SN>57</SN>
<DeviceID>34020000001140000001</DeviceID><Status>OK</Status></Notify>"""
NOTES_DEVICE_INFO = b"""<?xml version="1.0" encoding="GB2312"?>
<Response><CmdType>DeviceInfo</CmdType><SN>4711</SN>
<DeviceID>34020000001140000001</DeviceID><DeviceName>Decoder</DeviceName>
<Result>OK</Result><Manufacturer>Acme</Manufacturer><Model>D1</Model>
<Firmware>1.0</Firmware><Channel>2</Channel></Response>"""


def item(n: int, name: str = "输出") -> CatalogItem:
    """A 2016-complete catalog item for a decoder output channel (type 133, display)."""
    return CatalogItem(
        {
            "DeviceID": f"340200000013300{n:05d}",
            "Name": f"{name}{n}",
            "Manufacturer": "Acme",
            "Model": "D1",
            "Owner": "Owner",
            "CivilCode": "3402000000",
            "Address": "Address",
            "Parental": "0",
            "ParentID": DECODER,
            "RegisterWay": "1",
            "Secrecy": "0",
            "Status": "ON",
        }
    )


def round_trip(message: Message, encoding: str = "GB2312") -> Message:
    result = parse(build(message, encoding))
    assert result.detected_problems == []
    assert result.message == message
    return result.require()


# --- the notes' examples --------------------------------------------------------------------------


def test_notes_keepalive_example_parses_cleanly() -> None:
    result = parse(NOTES_KEEPALIVE)
    assert result.ok
    assert result.declared_encoding == "GB2312"
    assert result.encoding_used == "gb2312"
    message = result.require()
    assert (message.root, message.cmd_type, message.sn, message.device_id) == (
        "Notify",
        CMD_KEEPALIVE,
        57,
        DECODER,
    )
    assert Keepalive.from_message(message) == Keepalive("OK")
    # Our builder writes the same document: the same tree, whatever the line breaks.
    assert parse(build(Keepalive().to_message(57, DECODER))).tree == result.tree


def test_notes_device_info_example_parses_to_its_fields() -> None:
    message = parse_message(NOTES_DEVICE_INFO)
    assert message.sn == 4711
    info = DeviceInfo.from_message(message)
    assert info == DeviceInfo("OK", "Decoder", "Acme", "D1", "1.0", 2)
    # The builder keeps the example's element order (DeviceName before Result).
    assert info.to_message(4711, DECODER) == message


# --- round trips for every command ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["GB2312", "GB18030", "UTF-8"])
@pytest.mark.parametrize(
    "message",
    [
        Keepalive().to_message(1, DECODER),
        Keepalive("ERROR", ["34020000001330000001", "34020000001330000002"]).to_message(2, DECODER),
        make_query(CMD_CATALOG, 3, DECODER),
        make_query(
            CMD_CATALOG,
            4,
            DECODER,
            [("StartTime", "2024-01-01T00:00:00"), ("EndTime", "2024-01-02T00:00:00")],
        ),
        make_query(CMD_DEVICE_INFO, 5, DECODER),
        make_query(CMD_DEVICE_STATUS, 6, DECODER),
        config_download_query(7, DECODER),
        config_download_query(8, DECODER, "BasicParam", "VideoParamOpt"),
        DeviceInfo("OK", "解码器", "厂商", "D1", "2.4.1", 4).to_message(9, DECODER),
        DeviceInfo("ERROR").to_message(10, DECODER),
        DeviceStatus().to_message(11, DECODER),
        DeviceStatus(
            "OK",
            "ONLINE",
            "OK",
            reason="正常",
            encode="ON",
            record="OFF",
            device_time="2024-01-01T12:00:00",
            alarms=[(DECODER, "OFFDUTY")],
        ).to_message(12, DECODER),
        Catalog(0).to_message(13, DECODER),
        Catalog(2, [item(1), item(2)]).to_message(14, DECODER),
        BasicParam("解码器", 3600, 60, 3).to_message(15, DECODER),
        BasicParam("D1", 86400, 30, 5, {"SIPServerID": PLATFORM}).to_message(16, DECODER),
        Message("Control", "DeviceControl", 17, DECODER, [leaf("TeleBoot", "Boot")]),
    ],
    ids=lambda m: f"{m.root}-{m.cmd_type}-{m.sn}",
)
def test_every_command_round_trips(message: Message, encoding: str) -> None:
    round_trip(message, encoding)


def test_typed_views_round_trip() -> None:
    keepalive = Keepalive("ERROR", ["34020000001330000001"])
    assert Keepalive.from_message(round_trip(keepalive.to_message(1, DECODER))) == keepalive
    info = DeviceInfo("OK", "解码器", "Acme", "D1", "1.0", 2)
    assert DeviceInfo.from_message(round_trip(info.to_message(2, DECODER))) == info
    status = DeviceStatus(
        "OK", "OFFLINE", "ERROR", reason="断线", device_time="2024-01-01T00:00:00", alarms=[]
    )
    assert DeviceStatus.from_message(round_trip(status.to_message(3, DECODER))) == status
    catalog = Catalog(3, [item(1), item(2), item(3)])
    assert Catalog.from_message(round_trip(catalog.to_message(4, DECODER))) == catalog
    basic = BasicParam("解码器", 3600, 60, 3, {"DomainName": "3402000000"})
    assert BasicParam.from_message(round_trip(basic.to_message(5, DECODER))) == basic


def test_config_download_query_joins_types_with_a_slash() -> None:
    message = config_download_query(8, DECODER, "BasicParam", "VideoParamOpt")
    assert message.get("ConfigType") == "BasicParam/VideoParamOpt"
    assert config_types(message) == ["BasicParam", "VideoParamOpt"]
    assert config_types(config_download_query(9, DECODER)) == ["BasicParam"]


def test_catalog_item_checks_the_2016_required_fields() -> None:
    assert item(1).missing_2016() == []
    partial = CatalogItem({"DeviceID": DECODER, "Name": "x"})
    assert "Owner" in partial.missing_2016()
    assert "Status" in partial.missing_2016()


def test_catalog_item_keeps_nested_elements() -> None:
    with_info = CatalogItem(item(1).fields, [Node("Info", children=[leaf("PTZType", "3")])])
    assert Catalog.from_message(round_trip(Catalog(1, [with_info]).to_message(1, DECODER))) == (
        Catalog(1, [with_info])
    )


# --- encoding -------------------------------------------------------------------------------------


def test_gb2312_body_with_chinese_is_byte_exact() -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER))
    assert data.startswith(GB2312_DECLARATION + b"\r\n")
    assert b"<DeviceName>\xbd\xe2\xc2\xeb\xc6\xf7</DeviceName>" in data  # 解码器 in GB2312
    assert data == (
        GB2312_DECLARATION + b"\r\n"
        b"<Response>\r\n"
        b"<CmdType>DeviceInfo</CmdType>\r\n"
        b"<SN>1</SN>\r\n"
        b"<DeviceID>34020000001140000001</DeviceID>\r\n"
        b"<DeviceName>\xbd\xe2\xc2\xeb\xc6\xf7</DeviceName>\r\n"
        b"<Result>OK</Result>\r\n"
        b"</Response>\r\n"
    )
    assert DeviceInfo.from_message(parse_message(data)).device_name == "解码器"


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("GB18030", b"GB18030"), ("gb18030", b"GB18030"), ("utf-8", b"UTF-8"), ("UTF8", b"UTF-8")],
)
def test_declaration_names_the_encoding_used(encoding: str, declared: bytes) -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER), encoding)
    assert data.startswith(b'<?xml version="1.0" encoding="' + declared + b'"?>')
    assert "解码器".encode(encoding) in data
    result = parse(data)
    assert result.ok
    assert result.declared_encoding == declared.decode()


@pytest.mark.parametrize("encoding", ["GBK", "latin-1", "no-such-codec"])
def test_build_refuses_other_encodings(encoding: str) -> None:
    with pytest.raises(ManscdpError, match=r"use GB2312 \(2016\), GB18030 \(2022\) or UTF-8"):
        build(Keepalive().to_message(1, DECODER), encoding)


def test_character_outside_gb2312_is_refused_not_replaced() -> None:
    message = DeviceInfo(device_name="解码器😀").to_message(1, DECODER)
    with pytest.raises(ManscdpError, match=r"cannot be encoded in GB2312 .*DeviceName"):
        build(message)
    assert parse_message(build(message, "GB18030")) == message  # GB18030 covers all of Unicode


def test_utf8_input_is_accepted() -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER), "UTF-8")
    result = parse(data)
    assert result.ok
    assert result.encoding_used == "utf-8"
    assert DeviceInfo.from_message(result.require()).device_name == "解码器"


def test_gbk_declaration_is_accepted() -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER)).replace(
        b'encoding="GB2312"', b'encoding="GBK"'
    )
    result = parse(data)
    assert result.ok
    assert result.declared_encoding == "GBK"
    assert DeviceInfo.from_message(result.require()).device_name == "解码器"


def test_utf8_body_under_a_gb2312_declaration_is_reported() -> None:
    """The charset mismatch of WVP #1344/#1461 (notes §6.7): reported, not repaired."""
    text = build(DeviceInfo(device_name="解码器").to_message(1, DECODER)).decode("gb2312")
    result = parse(text.encode("utf-8"))  # the declaration still says GB2312
    assert result.declared_encoding == "GB2312"
    assert result.has(PROBLEM_UTF8_UNDER_GB)
    assert [str(p) for p in result.detected_problems] == ["UTF-8 body under a GB2312 declaration"]
    assert not result.ok
    # The ASCII head is still readable, so the SN can be matched; the name is what UTF-8 says.
    assert result.require().sn == 1
    assert result.encoding_used == "utf-8"
    assert DeviceInfo.from_message(result.require()).device_name == "解码器"


def test_utf8_that_also_decodes_as_gb2312_is_reported_with_the_gb_reading() -> None:
    # "两两" in UTF-8 is E4 B8 A4 E4 B8 A4; as GB2312 those six bytes are "涓や袱".
    body = b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType><SN>1</SN>'
    data = body + f"<DeviceID>{DECODER}</DeviceID><Status>两两</Status></Notify>".encode()
    result = parse(data)
    assert result.has(PROBLEM_UTF8_UNDER_GB)
    assert "decodes as GB2312 to different text" in str(result.detected_problems[0])
    assert result.encoding_used == "gb2312"  # the declaration is honoured
    assert result.require().get("Status") == "涓や袱"


def test_gb18030_only_characters_under_gb2312_are_reported() -> None:
    # 镕 is in GBK/GB18030 but not in GB2312.
    data = build(DeviceInfo(device_name="镕").to_message(1, DECODER), "GB18030").replace(
        b'encoding="GB18030"', b'encoding="GB2312"'
    )
    result = parse(data)
    assert result.has(PROBLEM_NOT_DECLARED_CHARSET)
    assert str(result.detected_problems[0]) == "body is not valid GB2312 but decodes as GB18030"
    assert DeviceInfo.from_message(result.require()).device_name == "镕"


def test_missing_declaration_is_reported_and_read_as_utf8() -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER), "UTF-8")
    result = parse(data.split(b"?>", 1)[1])
    assert result.declared_encoding is None
    assert result.has(PROBLEM_NO_DECLARATION)
    assert DeviceInfo.from_message(result.require()).device_name == "解码器"


def test_gb_body_without_declaration_is_reported() -> None:
    data = build(DeviceInfo(device_name="解码器").to_message(1, DECODER))
    result = parse(data.split(b"?>", 1)[1])
    assert result.has(PROBLEM_NO_DECLARATION)
    assert result.has(PROBLEM_NOT_DECLARED_CHARSET)
    assert result.encoding_used == "gb18030"


def test_declaration_without_encoding_is_reported() -> None:
    result = parse(NOTES_KEEPALIVE.replace(b' encoding="GB2312"', b""))
    assert result.has(PROBLEM_NO_ENCODING)
    assert result.require().sn == 57


def test_single_quoted_declaration_and_bom() -> None:
    data = NOTES_KEEPALIVE.replace(b'"1.0" encoding="GB2312"', b"'1.0' encoding='UTF-8'")
    assert parse(data).ok
    assert parse(b"\xef\xbb\xbf" + data).ok
    with pytest.raises(ManscdpError, match="byte order mark under a GB2312"):
        parse(b"\xef\xbb\xbf" + NOTES_KEEPALIVE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0" encoding="Shift_JIS"?><Notify/>', "not one MANSCDP uses"),
        (b'<?xml version="1.0" encoding="bogus"?><Notify/>', "'bogus' is unknown"),
        (b'<?xml version="1.0" encoding="UTF-8"?><a>\xff\xff\xff</a>', "not valid UTF-8"),
        (b"", "empty MANSCDP body"),
    ],
)
def test_unreadable_bodies_raise(data: bytes, message: str) -> None:
    with pytest.raises(ManscdpError, match=message):
        parse(data)


def test_content_type_matches_in_any_case() -> None:
    assert CONTENT_TYPE == "Application/MANSCDP+xml"
    assert is_manscdp_content_type("application/manscdp+xml")
    assert is_manscdp_content_type("APPLICATION/MANSCDP+XML; charset=GB2312")
    assert not is_manscdp_content_type("application/sdp")


# --- structure problems and malformed XML ---------------------------------------------------------


def doc(inner: str, root: str = "Notify", attrs: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="GB2312"?><{root}{attrs}>{inner}</{root}>'.encode()


HEAD = f"<CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>{DECODER}</DeviceID>"


@pytest.mark.parametrize(
    ("data", "code", "usable"),
    [
        (doc(HEAD, root="Request"), PROBLEM_UNKNOWN_ROOT, False),
        (doc(f"<CmdType>Keepalive</CmdType><DeviceID>{DECODER}</DeviceID>"), "missing", False),
        (doc("<CmdType>Keepalive</CmdType><SN>1</SN>"), PROBLEM_MISSING_FIELD, False),
        (doc(f"<SN>1</SN><DeviceID>{DECODER}</DeviceID>"), PROBLEM_MISSING_FIELD, False),
        (doc(HEAD.replace("<SN>1<", "<SN>0x1F<")), PROBLEM_BAD_SN, False),
        (doc(HEAD.replace("<SN>1<", "<SN>-1<")), PROBLEM_BAD_SN, False),
        (doc(HEAD.replace("<SN>1<", "<SN><")), PROBLEM_BAD_SN, False),
        (doc(HEAD.replace(DECODER, "3402")), PROBLEM_BAD_DEVICE_ID, True),
        (doc(HEAD + "<SN>2</SN>"), PROBLEM_DUPLICATE_FIELD, True),
        (
            doc(f"<SN>1</SN><DeviceID>{DECODER}</DeviceID>", attrs=' CmdType="Keepalive"'),
            PROBLEM_ATTRIBUTE_FIELD,
            False,
        ),
    ],
)
def test_structural_problems_are_reported(data: bytes, code: str, usable: bool) -> None:
    result = parse(data)
    if code == "missing":
        code = PROBLEM_MISSING_FIELD
    assert result.has(code), result.detected_problems
    assert (result.message is not None) is usable
    if not usable:
        with pytest.raises(ManscdpError, match="no usable MANSCDP message"):
            result.require()


def test_missing_sn_names_the_element() -> None:
    result = parse(doc(f"<CmdType>Keepalive</CmdType><DeviceID>{DECODER}</DeviceID>"))
    assert [str(p) for p in result.detected_problems] == ["<Notify> has no <SN> element"]


def test_sn_with_surrounding_whitespace_is_read() -> None:
    assert parse_message(doc(HEAD.replace("<SN>1<", "<SN>\r\n 42 \r\n<"))).sn == 42


@pytest.mark.parametrize(
    "data",
    [
        doc(HEAD + "<Status>OK</Status"),
        doc(HEAD + "<Status>OK</Info>"),
        doc(HEAD) + b"<Extra/>",
        b'<?xml version="1.0" encoding="GB2312"?>',
        doc(HEAD + "<Status>&unknown;</Status>"),
        b'<?xml version="1.0" encoding="GB2312"?><?xml version="1.0"?><Notify/>',
    ],
)
def test_malformed_xml_raises(data: bytes) -> None:
    with pytest.raises(ManscdpError, match="malformed XML"):
        parse(data)


def test_predefined_entities_and_escaping_round_trip() -> None:
    message = DeviceInfo(device_name='A&B <"x">').to_message(1, DECODER)
    data = build(message)
    assert b'<DeviceName>A&amp;B &lt;"x"&gt;</DeviceName>' in data
    assert parse_message(data) == message


@pytest.mark.parametrize(
    "data",
    [
        # billion laughs
        b'<?xml version="1.0" encoding="GB2312"?><!DOCTYPE Notify [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Notify><SN>&b;</SN></Notify>',
        # external entity
        b'<?xml version="1.0"?><!DOCTYPE Notify [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Notify>&x;</Notify>",
        # a DOCTYPE alone is refused too
        b'<!DOCTYPE Notify SYSTEM "manscdp.dtd"><Notify/>',
    ],
)
def test_doctype_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafeXmlError, match="DOCTYPE 'Notify' refused"):
        parse(data)


def test_builder_refuses_what_would_make_bad_xml() -> None:
    with pytest.raises(ManscdpError, match="U\\+0001 is not allowed"):
        build(DeviceInfo(device_name="a\x01").to_message(1, DECODER))
    with pytest.raises(ManscdpError, match="not a usable XML element"):
        build(Message("Notify", "Keepalive", 1, DECODER, [leaf("Bad Tag", "x")]))
    with pytest.raises(ManscdpError, match="mixed content"):
        build(Node("Notify", "text", [leaf("SN", 1)]))


# --- typed views refuse what they cannot read -----------------------------------------------------


def test_typed_views_check_root_and_cmd_type() -> None:
    with pytest.raises(ManscdpError, match="expected Response DeviceInfo, got Notify Keepalive"):
        DeviceInfo.from_message(Keepalive().to_message(1, DECODER))
    with pytest.raises(ManscdpError, match="has no <Result>"):
        DeviceInfo.from_message(Message("Response", CMD_DEVICE_INFO, 1, DECODER))
    with pytest.raises(ManscdpError, match="<Channel> 'two' is not a decimal integer"):
        DeviceInfo.from_message(
            Message(
                "Response",
                CMD_DEVICE_INFO,
                1,
                DECODER,
                [leaf("Result", "OK"), leaf("Channel", "two")],
            )
        )
    with pytest.raises(ManscdpError, match="has no <Online>"):
        DeviceStatus.from_message(
            Message("Response", CMD_DEVICE_STATUS, 1, DECODER, [leaf("Result", "OK")])
        )
    with pytest.raises(ManscdpError, match="has no <BasicParam>"):
        BasicParam.from_message(Message("Response", "ConfigDownload", 1, DECODER))


def test_catalog_num_must_match_the_items() -> None:
    message = Catalog(3, [item(1), item(2)]).to_message(1, DECODER)
    device_list = message.find("DeviceList")
    assert device_list is not None
    device_list.attrs["Num"] = "3"
    with pytest.raises(ManscdpError, match="DeviceList Num=3 but 2 <Item> elements"):
        Catalog.from_message(message)
    with pytest.raises(ManscdpError, match="3 items in one message exceed SumNum 2"):
        Catalog.from_message(Catalog(2, [item(1), item(2), item(3)]).to_message(1, DECODER))


# --- SN matching ----------------------------------------------------------------------------------


def test_response_matches_its_query() -> None:
    query = make_query(CMD_DEVICE_INFO, 4711, DECODER)
    response = parse_message(NOTES_DEVICE_INFO)
    assert answers(query, response)
    assert response_mismatches(query, response) == []


def test_sn_mismatch_is_named() -> None:
    query = make_query(CMD_DEVICE_INFO, 4712, DECODER)
    response = parse_message(NOTES_DEVICE_INFO)
    assert response_mismatches(query, response) == ["SN 4711 does not match the query's SN 4712"]
    assert not answers(query, response)


def test_every_mismatch_is_named() -> None:
    query = make_query(CMD_CATALOG, 1, DECODER)
    wrong = Keepalive().to_message(2, PLATFORM)
    assert response_mismatches(query, wrong) == [
        "root is <Notify>, not <Response>",
        "CmdType 'Keepalive' does not match the query's 'Catalog'",
        "SN 2 does not match the query's SN 1",
        f"DeviceID {PLATFORM} is not the queried {DECODER}",
    ]


# --- catalog splitting (2016 Annex N, 2022 Annex M) -----------------------------------------------


def test_25_items_at_most_10_make_3_messages() -> None:
    items = [item(n) for n in range(25)]
    parts = split_catalog(99, DECODER, items, max_items=10)
    assert len(parts) == 3
    catalogs = [Catalog.from_message(parse_message(build(p))) for p in parts]
    assert [c.sum_num for c in catalogs] == [25, 25, 25]
    assert [len(c.items) for c in catalogs] == [10, 10, 5]
    assert {p.sn for p in parts} == {99}
    assert [p.find("DeviceList").attrs["Num"] for p in parts] == ["10", "10", "5"]  # type: ignore[union-attr]
    merged = collect_catalog(parts)
    assert merged.complete
    assert merged.items == items


def test_empty_catalog_is_sumnum_0_without_a_list() -> None:
    (only,) = split_catalog(5, DECODER, [])
    assert only.find("DeviceList") is None
    assert only.get("SumNum") == "0"
    assert collect_catalog([only]) == Catalog(0, [])
    assert collect_catalog([only]).complete


def test_split_by_bytes_keeps_each_message_under_the_limit() -> None:
    items = [item(n, name="解码器输出通道") for n in range(40)]
    parts = split_catalog(7, DECODER, items, max_bytes=1300)  # RFC 3261's UDP advice
    assert len(parts) > 1
    assert all(len(build(p)) <= 1300 for p in parts)
    assert collect_catalog(parts).items == items


def test_split_refuses_impossible_limits() -> None:
    with pytest.raises(ManscdpError, match="max_items 0 must be at least 1"):
        split_catalog(1, DECODER, [item(1)], max_items=0)
    with pytest.raises(ManscdpError, match="exceeds Annex N's 10000"):
        split_catalog(1, DECODER, [item(1)], max_items=10_001)
    with pytest.raises(ManscdpError, match="alone builds to more than 100 bytes"):
        split_catalog(1, DECODER, [item(1)], max_bytes=100)


def test_collect_catalog_spots_parts_that_do_not_belong() -> None:
    parts = split_catalog(1, DECODER, [item(n) for n in range(4)], max_items=2)
    other = split_catalog(2, DECODER, [item(n) for n in range(4)], max_items=2)
    with pytest.raises(ManscdpError, match="does not belong to SN=1"):
        collect_catalog([parts[0], other[1]])
    bigger = split_catalog(1, DECODER, [item(n) for n in range(5)], max_items=2)
    with pytest.raises(ManscdpError, match="SumNum 5 after 4"):
        collect_catalog([parts[0], bigger[1]])
    with pytest.raises(ManscdpError, match="6 items exceed SumNum 4"):
        collect_catalog([*parts, parts[0]])
    assert not collect_catalog(parts[:1]).complete


# --- property: any message the model can hold survives build and parse ---------------------------

# Text with no surrounding whitespace (the parser strips it) and only XML characters; CJK included.
_text = st.text(
    alphabet=st.characters(
        codec="gb18030",
        exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
        exclude_characters="\x85",
    ),
    max_size=12,
)
_tag = st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,10}\Z")
_nodes = st.recursive(
    st.builds(Node, _tag, _text),
    lambda children: st.builds(
        Node,
        _tag,
        st.just(""),
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(_tag, _text, max_size=2),
    ),
    max_leaves=12,
)


@given(
    root=st.sampled_from(["Query", "Response", "Notify", "Control"]),
    cmd_type=_tag,
    sn=st.integers(0, 2**31),
    serial=st.integers(0, 999_999),
    body=st.lists(_nodes, max_size=5),
    encoding=st.sampled_from(["GB18030", "UTF-8"]),
)
def test_build_parse_round_trip_property(  # noqa: PLR0917 (one argument per strategy)
    root: str, cmd_type: str, sn: int, serial: int, body: list[Node], encoding: str
) -> None:
    body = [n for n in body if n.tag not in ("CmdType", "SN", "DeviceID")]
    message = Message(root, cmd_type, sn, f"34020000001140{serial:06d}", body)
    result = parse(build(message, encoding))
    assert result.detected_problems == []
    assert result.message == message
