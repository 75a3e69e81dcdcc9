"""wire.gb_id: the 20-digit GB28181 ID (2016 Annex D.1, 2022 Annex E.1) and its domain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.gb_id import (
    TYPE_DECODER,
    TYPE_SIP_SERVER,
    GbId,
    GbIdError,
    TypeCategory,
    domain_matches,
    is_valid_id,
    make_id,
    parse_id,
    realm_of,
    type_category,
)

DECODER = "34020000001140000001"  # the notes' decoder ID
PLATFORM = "34020000002000000001"  # the notes' platform (SIP server) ID


def test_decoder_id_from_the_notes_splits_into_its_fields() -> None:
    gb = parse_id(DECODER)
    assert (gb.province, gb.city, gb.district, gb.grassroots) == ("34", "02", "00", "00")
    assert gb.center_code == "34020000"
    assert gb.industry == "00"
    assert gb.type_code == TYPE_DECODER == 114
    assert gb.type_name == "decoder"
    assert gb.category is TypeCategory.FRONT_END_DEVICE
    assert gb.network == 0
    assert gb.network_name_2016 == "private monitoring network"
    assert gb.serial == "000001"
    assert str(gb) == DECODER


def test_platform_id_is_the_central_signalling_server() -> None:
    gb = parse_id(PLATFORM)
    assert gb.type_code == TYPE_SIP_SERVER == 200
    assert gb.type_name == "central signalling server"
    assert gb.category is TypeCategory.PLATFORM


@pytest.mark.parametrize(
    ("code", "category", "name"),
    [
        (111, TypeCategory.FRONT_END_DEVICE, "DVR"),
        (118, TypeCategory.FRONT_END_DEVICE, "NVR"),
        (122, TypeCategory.FRONT_END_DEVICE, None),  # 2022 adds 120-125, range only
        (130, TypeCategory.FRONT_END_DEVICE, "HVR"),
        (131, TypeCategory.PERIPHERAL, "camera"),
        (133, TypeCategory.PERIPHERAL, "display"),
        (137, TypeCategory.PERIPHERAL, "audio output"),
        (199, TypeCategory.PERIPHERAL, None),
        (215, TypeCategory.PLATFORM, "business group"),
        (216, TypeCategory.PLATFORM, "virtual organisation"),
        (300, TypeCategory.CENTRE_USER, "centre user"),
        (400, TypeCategory.TERMINAL_USER, "terminal user"),
    ],
)
def test_type_code_ranges(code: int, category: TypeCategory, name: str | None) -> None:
    gb = parse_id(make_id(code))
    assert gb.category is category
    assert gb.type_name == name
    assert type_category(code) is category


@pytest.mark.parametrize("code", [0, 110, 500, 999])
def test_unassigned_type_codes_are_refused_unless_asked_not_to(code: int) -> None:
    text = f"3402000000{code:03d}0000001"
    with pytest.raises(GbIdError, match=rf"type code {code:03d} \(digits 11-13\)"):
        parse_id(text)
    assert parse_id(text, known_type_only=False).category is None
    assert not is_valid_id(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("3402000000114000001", "has 19 digits, not 20 .short by 1"),
        ("340200000011400000011", "has 21 digits, not 20 .long by 1"),
        ("3402000000114000000A", "character 20 is 'A'"),
        (" 34020000001140000001", "character 1 is ' '"),
        ("３4020000001140000001", "character 1 is '３'"),  # str.isdigit() says yes
    ],
)
def test_malformed_ids_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GbIdError, match=message):
        parse_id(text)


def test_errors_are_value_errors() -> None:
    assert issubclass(GbIdError, ValueError)


def test_make_id_builds_the_notes_ids() -> None:
    assert make_id(TYPE_DECODER) == DECODER
    assert make_id(TYPE_SIP_SERVER) == PLATFORM
    assert make_id(132, 42, center="11010500", industry=8, network=7) == "11010500081327000042"
    assert make_id(114, "000123") == "34020000001140000123"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type_code": 114, "serial": 1_000_000}, "serial 1000000 does not fit in 6 digits"),
        ({"type_code": 114, "serial": "12"}, "serial '12' must be exactly 6"),
        ({"type_code": 114, "center": "3402"}, "centre code '3402' must be exactly 8"),
        ({"type_code": 114, "industry": "0x"}, "industry code '0x'"),
        ({"type_code": 114, "network": 10}, "network flag 10 does not fit in 1"),
        ({"type_code": 1000}, "type code 1000 does not fit in 3"),
        ({"type_code": 600}, "type code 600 .digits 11-13. is outside"),
        ({"type_code": True}, "type code must be 3 digits, got a bool"),
    ],
)
def test_make_id_names_the_bad_part(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GbIdError, match=message):
        make_id(**kwargs)  # type: ignore[arg-type]


def test_realm_is_the_first_ten_digits() -> None:
    assert realm_of(DECODER) == "3402000000"
    assert parse_id(PLATFORM).realm == "3402000000"
    assert domain_matches(DECODER, "3402000000")
    assert domain_matches(DECODER, "3402000000.spvmn.cn")
    assert domain_matches(DECODER, "3402000000.SPVMN.CN")
    assert not domain_matches(DECODER, "3402000001")
    assert not domain_matches(DECODER, "340200000")
    with pytest.raises(GbIdError, match="has 10 digits"):
        realm_of("3402000000")


def test_is_valid_id_checks_the_type_when_asked() -> None:
    assert is_valid_id(DECODER, type_code=TYPE_DECODER)
    assert not is_valid_id(PLATFORM, type_code=TYPE_DECODER)
    assert not is_valid_id("not an id")


@given(
    center=st.from_regex(r"\A[0-9]{8}\Z"),
    industry=st.integers(0, 99),
    type_code=st.integers(111, 499),
    network=st.integers(0, 9),
    serial=st.integers(0, 999_999),
)
def test_make_then_parse_round_trips(
    center: str, industry: int, type_code: int, network: int, serial: int
) -> None:
    text = make_id(type_code, serial, center=center, industry=industry, network=network)
    gb = GbId.parse(text)
    assert str(gb) == text
    assert (gb.center_code, int(gb.industry), gb.type_code, gb.network, int(gb.serial)) == (
        center,
        industry,
        type_code,
        network,
        serial,
    )
    assert gb.realm == text[:10]
