"""wire.gb_sdp: GB28181 SDP lines (y=, f=, s=, u=), the two INVITE flows, TCP roles, problems."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import gb_sdp, sdp
from wire.gb_sdp import (
    GbSdpError,
    GbSsrc,
    MediaFormat,
    MediaUri,
    channel_uri,
    download_speed_of,
    file_size_of,
    gb_answer,
    gb_offer,
    gb_problems,
    make_ssrc,
    media_format_of,
    media_uri_of,
    place_ssrc,
    ssrc_line_of,
    ssrc_of,
)
from wire.sdp import SdpNegotiationError, SessionDescription

DECODER = "34020000001140000001"  # the notes' decoder ID (type 114)
PLATFORM = "34020000002000000001"  # the notes' platform ID: its y= digits 2-6 are 20000
CAMERA = "34020000001320000001"  # a channel of the source, for u=


def text(*lines: str, ending: str = "\r\n") -> bytes:
    return "".join(line + ending for line in lines).encode("utf-8")


# The notes' §4 lines, verbatim, in whole SDPs (the notes quote lines, not bodies). Addresses are
# documentation ranges.

# Flow 1, the decoder's offer in the 200 to a bodyless INVITE (notes §4, "How a platform gets
# video into a decoder", 1).
DECODER_OFFER = text(
    "v=0",
    f"o={DECODER} 0 0 IN IP4 192.0.2.20",
    "s=Play",
    "c=IN IP4 192.0.2.20",
    "t=0 0",
    "m=video 9010 RTP/AVP 96",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
)

# Flow 2, the platform's INVITE offer: sendonly, PS/H264/MPEG4, y= from the notes' domain, f=.
PLATFORM_OFFER = text(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 192.0.2.10",
    "s=Play",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=video 30000 RTP/AVP 96 98 97",
    "a=sendonly",
    "a=rtpmap:96 PS/90000",
    "a=rtpmap:98 H264/90000",
    "a=rtpmap:97 MPEG4/90000",
    "y=0200000001",
    "f=v/2/5/25/1/4096a///",
)

# The same over TCP (2016 Annex L): the platform's sender connects.
PLATFORM_TCP_OFFER = text(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 192.0.2.10",
    "s=Play",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=video 30000 TCP/RTP/AVP 96",
    "a=sendonly",
    "a=rtpmap:96 PS/90000",
    "a=setup:active",
    "a=connection:new",
    "y=0200000001",
)

# Flow 3 of the notes (broadcast): the platform's audio answer with f=v/////a/1/8/1.
BROADCAST_ANSWER = text(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 192.0.2.10",
    "s=Play",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 30002 RTP/AVP 96",
    "a=sendonly",
    "a=rtpmap:96 PS/90000",
    "y=0200000002",
    "f=v/////a/1/8/1",
)

# The standard's own J.4.5 example has a 9-digit y= (notes §4): read it as an integer.
NINE_DIGIT_Y = text(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 192.0.2.10",
    "s=Playback",
    f"u={CAMERA}:0",
    "c=IN IP4 192.0.2.10",
    "t=1288625085 1288625871",
    "m=video 30000 RTP/AVP 96",
    "a=sendonly",
    "a=rtpmap:96 PS/90000",
    "y=100000001",
    "f=v/2/4///a///",
)

EXAMPLES = {
    "decoder-offer": DECODER_OFFER,
    "platform-offer": PLATFORM_OFFER,
    "platform-tcp-offer": PLATFORM_TCP_OFFER,
    "broadcast-answer": BROADCAST_ANSWER,
    "nine-digit-y": NINE_DIGIT_Y,
}
EXPECTED_SSRC = {
    "decoder-offer": None,
    "platform-offer": 200000001,
    "platform-tcp-offer": 200000001,
    "broadcast-answer": 200000002,
    "nine-digit-y": 100000001,
}

CITATION = re.compile(r"\((?:[^()]*; )?(?:2016|RFC)[^()]*\)$")


def cited(problems: list[str]) -> bool:
    """Every message ends with a clause citation."""
    return all(CITATION.search(p) for p in problems)


# --- the notes' lines -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_notes_examples_parse_round_trip_and_give_their_ssrc(name: str) -> None:
    data = EXAMPLES[name]
    parsed = sdp.parse(data)
    assert bytes(parsed) == data
    assert ssrc_of(parsed) == EXPECTED_SSRC[name]


def test_notes_examples_typed_views() -> None:
    offer = sdp.parse(PLATFORM_OFFER)
    assert ssrc_line_of(offer) == "0200000001"
    ssrc = gb_sdp.gb_ssrc_of(offer)
    assert ssrc is not None
    assert (ssrc.history, ssrc.domain_digits, ssrc.sequence) == (False, "20000", 1)
    assert media_format_of(offer) == MediaFormat("2", "5", "25", "1", "4096")
    fmt = media_format_of(sdp.parse(BROADCAST_ANSWER))
    assert fmt == MediaFormat(audio_codec="1", audio_bitrate="8", sample_rate="1")
    history = sdp.parse(NINE_DIGIT_Y)
    assert media_uri_of(history) == MediaUri(CAMERA, "0")
    assert media_format_of(history) == MediaFormat("2", "4")
    nine = gb_sdp.gb_ssrc_of(history)
    assert nine is not None
    assert not nine.is_standard
    assert nine.history is None


def test_clean_notes_examples_have_no_problems() -> None:
    for name in ("decoder-offer", "platform-offer", "platform-tcp-offer"):
        assert gb_problems(EXAMPLES[name]) == [], name


def test_the_nine_digit_example_is_readable_but_reported() -> None:
    problems = gb_problems(NINE_DIGIT_Y)
    assert len(problems) == 1
    assert "y=100000001 has 9 digits, not 10" in problems[0]
    assert cited(problems)


# --- y= -------------------------------------------------------------------------------------------


def test_make_ssrc_takes_digits_4_to_8_of_the_domain_id() -> None:
    assert make_ssrc(PLATFORM, sequence=1) == "0200000001"  # the notes' example
    assert make_ssrc("3402000000", sequence=1) == "0200000001"  # the 10-digit domain itself
    assert make_ssrc("13010000002000000001", realtime=False, sequence=42) == "1100000042"
    assert make_ssrc(PLATFORM, sequence=9999) == "0200009999"
    assert GbSsrc.parse(make_ssrc(PLATFORM, sequence=7), strict=True).sequence == 7


@pytest.mark.parametrize(
    ("domain", "sequence", "message"),
    [
        (PLATFORM, 10000, "not 0-9999"),
        (PLATFORM, -1, "not 0-9999"),
        (PLATFORM, True, "not 0-9999"),
        ("340200000", 1, "neither 20 digits"),
        ("34020000x02000000001", 1, "character 9"),
        ("3402000000.spvmn.cn", 1, "neither 20 digits"),
    ],
)
def test_make_ssrc_refuses_bad_parts(domain: str, sequence: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_ssrc(domain, sequence=sequence)


@pytest.mark.parametrize(
    ("value", "integer"),
    [
        ("0200000001", 200000001),
        ("1100000042", 1100000042),
        ("100000001", 100000001),  # J.4.5
        (" 0200000001\t", 200000001),  # stray white space (lzh2nix PR #1)
        ("4294967295", 0xFFFFFFFF),
    ],
)
def test_ssrc_reading_is_lenient(value: str, integer: int) -> None:
    assert GbSsrc.parse(value).value == integer


@pytest.mark.parametrize(
    ("value", "strict", "message"),
    [
        ("", False, "not a decimal SSRC"),
        ("0x0C8", False, "not a decimal SSRC"),
        ("-200000001", False, "not a decimal SSRC"),
        ("4294967296", False, "larger than a 32-bit"),
        ("02000000011", False, "11 digits"),
        ("100000001", True, "9 digits, not 10"),
        ("2000000001", True, "digit 1 is 2"),
    ],
)
def test_bad_ssrc_is_refused(value: str, strict: bool, message: str) -> None:
    with pytest.raises(GbSdpError, match=re.escape(message)):
        GbSsrc.parse(value, strict=strict)


def _platform_offer_lines() -> list[str]:
    return PLATFORM_OFFER.decode().split("\r\n")[:-1]


def _with_y_at(position: int, value: str = "0200000001") -> bytes:
    lines = [line for line in _platform_offer_lines() if not line.startswith("y=")]
    lines.insert(position, f"y={value}")
    return text(*lines)


@pytest.mark.parametrize(
    ("data", "session_level"),
    [
        (PLATFORM_OFFER, False),  # after the media section: the usual place
        (_with_y_at(5), True),  # session level, before m=
        (_with_y_at(4), True),  # session level, before t=
        (_with_y_at(7), False),  # inside the media section, before the attributes
        (_with_y_at(11, "0200000001 "), False),  # trailing space
    ],
    ids=["after-media", "session-before-m", "session-before-t", "media-before-a", "trailing-space"],
)
def test_y_is_found_wherever_platforms_put_it(data: bytes, session_level: bool) -> None:
    parsed = sdp.parse(data)
    assert bytes(parsed) == data
    assert ssrc_of(parsed) == 200000001
    assert ssrc_of(parsed, 0) == 200000001
    assert (parsed.get_line("y") is not None) == session_level


def test_y_after_the_video_of_a_two_section_sdp() -> None:
    data = text(
        *_platform_offer_lines()[:5],
        "m=audio 30002 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        *_platform_offer_lines()[5:],
    )
    parsed = sdp.parse(data)
    assert ssrc_of(parsed) == 200000001
    assert ssrc_of(parsed, 0) is None
    assert ssrc_of(parsed, 1) == 200000001


def test_absent_or_malformed_y() -> None:
    assert ssrc_of(sdp.parse(DECODER_OFFER)) is None
    with pytest.raises(GbSdpError, match="not a decimal SSRC"):
        ssrc_of(sdp.parse(_with_y_at(11, "02OOOOOOO1")))


def test_place_ssrc_moves_y_to_one_place() -> None:
    parsed = sdp.parse(PLATFORM_OFFER)
    place_ssrc(parsed, "0200000007", session_level=True)
    assert parsed.get_line("y") == "0200000007"
    assert parsed.media[0].get_line("y") is None
    place_ssrc(parsed, "0200000008")
    assert parsed.get_line("y") is None
    assert parsed.media[0].lines[-2:] == [("y", "0200000008"), ("f", "v/2/5/25/1/4096a///")]
    assert sdp.parse(bytes(parsed)) == parsed
    with pytest.raises(GbSdpError):
        place_ssrc(parsed, "02000000x8")


# --- f=, u=, the download attributes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "canonical"),
    [
        ("v/2/5/25/1/4096a///", MediaFormat("2", "5", "25", "1", "4096"), True),
        ("v/////a/1/8/1", MediaFormat("", "", "", "", "", "1", "8", "1"), True),
        ("v/2/4///a///", MediaFormat("2", "4"), True),
        ("v/5/6/30/2/8192a/1/8/1", MediaFormat("5", "6", "30", "2", "8192", "1", "8", "1"), True),
        ("", MediaFormat(), False),  # an empty f=
        ("v/2/5/25/1/4096", MediaFormat("2", "5", "25", "1", "4096"), False),  # no audio part
        ("v/2/5/25/1/4096/a///", MediaFormat("2", "5", "25", "1", "4096"), False),  # stray slash
        ("v/2/5a///", MediaFormat("2", "5"), False),  # missing video fields
    ],
)
def test_media_format_reading(value: str, expected: MediaFormat, canonical: bool) -> None:
    parsed = MediaFormat.parse(value)
    assert parsed == expected
    assert (parsed.to_string() == value) == canonical
    if canonical:
        assert MediaFormat.parse(value, strict=True) == expected
    else:
        with pytest.raises(GbSdpError):
            MediaFormat.parse(value, strict=True)


def test_media_format_codes() -> None:
    fmt = MediaFormat.parse("v/2/5/25/1/4096a///")
    assert (fmt.video_codec_code, fmt.framerate_value, fmt.bitrate_kbps) == (2, 25, 4096)
    assert gb_sdp.VIDEO_CODECS[2] == "H.264"
    assert MediaFormat().video_codec_code is None


@pytest.mark.parametrize(
    "value", ["x/2/5/25/1/4096a///", "v/1/2/3/4/5/6/7a///", "v2/5a///", "v/2/5/2 5/1/4a///"]
)
def test_malformed_media_format_is_refused(value: str) -> None:
    with pytest.raises(GbSdpError):
        MediaFormat.parse(value)


def test_media_format_fields_must_not_break_the_structure() -> None:
    with pytest.raises(GbSdpError, match="contains '/'"):
        MediaFormat(video_codec="2/3").to_string()
    with pytest.raises(GbSdpError, match="contains '/'"):
        MediaFormat(resolution="a").to_string()


def test_media_uri_forms() -> None:
    assert MediaUri.parse(f"{CAMERA}:0") == MediaUri(CAMERA, "0")
    general = "http://34020000002100000001/rec/a.ps"
    assert MediaUri.parse(general) == MediaUri(uri=general)
    assert MediaUri.parse(general).to_string() == general
    assert channel_uri(CAMERA) == f"{CAMERA}:0"
    assert channel_uri(CAMERA, 3) == f"{CAMERA}:3"
    with pytest.raises(ValueError, match="20"):
        channel_uri("3402000000132000001")
    with pytest.raises(GbSdpError):
        MediaUri.parse(" ")


# --- flow 1: third-party call control -------------------------------------------------------------


def test_decoder_offer_for_a_bodyless_invite_byte_exactly() -> None:
    offer = gb_offer("192.0.2.20", 9010, username=DECODER, session_id=0)
    assert bytes(offer) == DECODER_OFFER
    assert gb_problems(offer) == []


def test_platform_answers_the_decoders_offer_in_the_ack() -> None:
    offer = sdp.parse(DECODER_OFFER)
    ssrc = make_ssrc(PLATFORM, sequence=1)
    answer = gb_answer(
        offer, "192.0.2.10", 30000, username=PLATFORM, ssrc=ssrc, session_id=0,
        media_format=MediaFormat("2", "5", "25", "1", "4096"),
    )  # fmt: skip
    assert bytes(answer) == text(
        "v=0",
        f"o={PLATFORM} 0 0 IN IP4 192.0.2.10",
        "s=Play",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=video 30000 RTP/AVP 96",
        "a=sendonly",
        "a=rtpmap:96 PS/90000",
        "y=0200000001",
        "f=v/2/5/25/1/4096a///",
    )
    assert ssrc_of(answer) == 200000001
    assert gb_problems(answer, offer=offer, domain_id=PLATFORM) == []


def test_a_sendonly_answer_must_carry_an_ssrc() -> None:
    with pytest.raises(GbSdpError, match="must carry y="):
        gb_answer(sdp.parse(DECODER_OFFER), "192.0.2.10", 30000, username=PLATFORM)


def test_the_decoders_tcp_offer_listens_and_the_platform_connects() -> None:
    offer = gb_offer("192.0.2.20", 9010, username=DECODER, tcp=True)
    media = offer.media[0]
    assert media.proto == "TCP/RTP/AVP"
    assert (media.get_attribute("setup"), media.get_attribute("connection")) == ("passive", "new")
    answer = gb_answer(offer, "192.0.2.10", 30000, username=PLATFORM, ssrc="0200000003")
    assert answer.media[0].get_attribute("setup") == "active"
    assert gb_problems(answer, offer=offer) == []


# --- flow 2: an INVITE with a sendonly PS offer ---------------------------------------------------


def test_decoder_answers_the_platform_offer_recvonly_echoing_y() -> None:
    offer = sdp.parse(PLATFORM_OFFER)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, session_id=0)
    assert bytes(answer) == text(
        "v=0",
        f"o={DECODER} 0 0 IN IP4 192.0.2.20",
        "s=Play",
        "c=IN IP4 192.0.2.20",
        "t=0 0",
        "m=video 9010 RTP/AVP 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
        "y=0200000001",
    )
    assert gb_problems(answer, offer=offer, domain_id=PLATFORM) == []


def test_platform_offer_built_matches_the_notes_shape() -> None:
    offer = gb_offer(
        "192.0.2.10", 30000, username=PLATFORM, direction="sendonly", payloads=(96, 98, 97),
        ssrc=make_ssrc(PLATFORM, sequence=1), media_format="v/2/5/25/1/4096a///", session_id=0,
    )  # fmt: skip
    assert bytes(offer) == PLATFORM_OFFER
    assert gb_problems(offer, domain_id=PLATFORM) == []


def test_the_answer_echoes_a_nine_digit_y_verbatim_and_keeps_history() -> None:
    offer = sdp.parse(NINE_DIGIT_Y)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert answer.media[0].get_line("y") == "100000001"
    assert (answer.session_name, answer.timing) == ("Playback", "1288625085 1288625871")


def test_y_at_session_level_in_the_offer_is_echoed_after_the_media() -> None:
    offer = sdp.parse(_with_y_at(5))
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert answer.media[0].get_line("y") == "0200000001"
    assert gb_problems(answer, offer=offer) == []


def test_an_offer_without_y_gets_the_decoders_own_ssrc() -> None:
    offer = sdp.parse(text(*[x for x in _platform_offer_lines() if not x.startswith("y=")]))
    assert any("sendonly without y=" in p for p in gb_problems(offer))
    plain = gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert ssrc_of(plain) is None
    own = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, ssrc="0200000009")
    assert ssrc_of(own) == 200000009


def test_a_cross_domain_ssrc_override_is_reported_as_not_echoed() -> None:
    offer = sdp.parse(PLATFORM_OFFER)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, ssrc="0200000005")
    assert ssrc_of(answer) == 200000005
    problems = gb_problems(answer, offer=offer)
    assert problems == [
        "media 0: y=0200000005 does not echo the offered y=0200000001; within a domain the "
        "platform picks the SSRC (2016 Annex F note 4; 2022 Annex G)"
    ]


def test_preference_picks_ps_and_keeps_the_offered_number() -> None:
    data = PLATFORM_OFFER.replace(b"96 98 97", b"98 97 100").replace(b"rtpmap:96", b"rtpmap:100")
    offer = sdp.parse(data)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert answer.media[0].formats == ["100"]
    assert answer.media[0].rtpmap(100) == sdp.RtpMap(100, "PS", 90000)
    h264 = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, encodings=("H264", "PS"))
    assert h264.media[0].formats == ["98"]


def test_no_ps_in_the_offer_is_a_488() -> None:
    offer = sdp.parse(PLATFORM_OFFER.replace(b"PS/90000", b"H265/90000"))
    with pytest.raises(SdpNegotiationError, match="no PS video") as raised:
        gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert raised.value.status_code == 488
    rtsp = sdp.parse(PLATFORM_OFFER.replace(b"RTP/AVP", b"RTP/SAVP"))
    with pytest.raises(SdpNegotiationError):
        gb_answer(rtsp, "192.0.2.20", 9010, username=DECODER)


def test_other_sections_are_refused_with_port_zero() -> None:
    data = text(
        *_platform_offer_lines()[:5],
        "m=audio 30002 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        *_platform_offer_lines()[5:],
    )
    offer = sdp.parse(data)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER)
    assert [(m.media, m.port, m.formats) for m in answer.media] == [
        ("audio", 0, ["8"]),
        ("video", 9010, ["96"]),
    ]
    assert gb_problems(answer, offer=offer) == []


# --- TCP active/passive complement ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "choice", "answered"),
    [
        ("active", None, "passive"),
        ("passive", None, "active"),
        (None, None, "passive"),  # RFC 4145 §4.1: no a=setup is active
        ("actpass", None, "passive"),
        ("actpass", "active", "active"),
    ],
)
def test_tcp_answer_complements_the_offered_setup(
    offered: str | None, choice: str | None, answered: str
) -> None:
    data = PLATFORM_TCP_OFFER.replace(b"a=setup:active\r\n", b"")
    if offered is not None:
        data = data.replace(b"a=connection:new", f"a=setup:{offered}\r\na=connection:new".encode())
    offer = sdp.parse(data)
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, setup=choice)
    media = answer.media[0]
    assert media.proto == "TCP/RTP/AVP"
    assert (media.get_attribute("setup"), media.get_attribute("connection")) == (answered, "new")
    assert not [p for p in gb_problems(answer, offer=offer) if "complement" in p]


def test_a_setup_choice_that_does_not_complement_is_refused() -> None:
    with pytest.raises(GbSdpError, match="does not complement"):
        gb_answer(
            sdp.parse(PLATFORM_TCP_OFFER), "192.0.2.20", 9010, username=DECODER, setup="active"
        )
    with pytest.raises(GbSdpError, match="only applies to TCP"):
        gb_answer(sdp.parse(PLATFORM_OFFER), "192.0.2.20", 9010, username=DECODER, setup="active")


def test_the_tcp_platform_offer_builds_active() -> None:
    offer = gb_offer(
        "192.0.2.10", 30000, username=PLATFORM, direction="sendonly", tcp=True,
        ssrc="0200000001", session_id=0,
    )  # fmt: skip
    assert bytes(offer) == PLATFORM_TCP_OFFER


# --- problems a strict peer reports ---------------------------------------------------------------

DECODER_ANSWER_TCP = text(
    "v=0",
    f"o={DECODER} 0 0 IN IP4 192.0.2.20",
    "s=Play",
    "c=IN IP4 192.0.2.20",
    "t=0 0",
    "m=video 9010 TCP/RTP/AVP 96",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=setup:passive",
    "a=connection:new",
    "y=0200000001",
)


def test_the_clean_tcp_answer_has_no_problems() -> None:
    assert gb_problems(DECODER_ANSWER_TCP, offer=PLATFORM_TCP_OFFER, domain_id=PLATFORM) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (b"y=0200000001\r\n", b"", "the offer had y=0200000001 and the answer has no y="),
        (b"y=0200000001", b"y=0200000002", "does not echo the offered y=0200000001"),
        (b"y=0200000001", b"y=020000001", "has 9 digits, not 10"),
        (b"y=0200000001", b"y=3200000001", "digit 1 is 3"),
        (b"y=0200000001", b"y=1200000001", "digit 1 is 1 (history) in a s=Play session"),
        (b"y=0200000001", b"y=0200010001", "digits 2-6 are 20001, not 20000"),
        (b"y=0200000001", b"y=0200000001 ", "white space around the digits"),
        (b"a=rtpmap:96 PS/90000", b"a=rtpmap:96 H264/90000", "no a=rtpmap:<pt> PS/90000"),
        (b"a=rtpmap:96 PS/90000", b"a=rtpmap:96 PS/8000", "PS runs at 90000 Hz"),
        (b"a=rtpmap:96 PS/90000\r\n", b"", "payload type 96 has no a=rtpmap"),
        (b"a=setup:passive\r\n", b"", "TCP media without a=setup"),
        (b"a=setup:passive", b"a=setup:active", "a=setup:active does not complement"),
        (b"a=setup:passive", b"a=setup:actpass", "a=setup:actpass is not active or passive"),
        (b"a=connection:new\r\n", b"", "TCP media without a=connection:new"),
        (b"TCP/RTP/AVP", b"RTP/AVP", "answered over RTP/AVP, offered TCP/RTP/AVP"),
        (b"a=recvonly", b"a=sendonly", "a=sendonly answers a=sendonly; expected a=recvonly"),
        (b"a=recvonly\r\n", b"", "no direction attribute"),
        (b"s=Play", b"s=Live", "s='Live' is not one of"),
        (b"s=Play", b"s=Playback", "s=Playback with t=0 0: history media needs its time range"),
        (
            b"m=video 9010 TCP/RTP/AVP 96",
            b"m=video 9010 TCP/RTP/AVP 96 98",
            "['98'] were not offered",
        ),
        (f"o={DECODER}".encode(), b"o=-", "o= username '-' is not a 20-digit"),
        (b"c=IN IP4 192.0.2.20", b"c=IN IP4 decoder.example", "not an IP literal"),
        (b"y=0200000001", b"y=0200000001\r\nf=v/2/5a///", "empty fields keep their slashes"),
        (b"y=0200000001", b"y=0200000001\r\nf=", "f= is empty"),
        (b"y=0200000001", b"y=0200000001\r\na=downloadspeed:4", "a=downloadspeed in a s=Play"),
        (b"v=0", b"v=1", "not parseable SDP"),
    ],
)
def test_problems_are_named_and_cited(old: bytes, new: bytes, expected: str) -> None:
    data = DECODER_ANSWER_TCP.replace(old, new)
    problems = gb_problems(data, offer=PLATFORM_TCP_OFFER, domain_id=PLATFORM)
    assert any(expected in p for p in problems), problems
    assert cited(problems), problems


def test_setup_on_udp_media_and_talk_in_2022_are_reported() -> None:
    udp_setup = PLATFORM_OFFER.replace(b"a=sendonly", b"a=sendonly\r\na=setup:active")
    assert any("a=setup is for TCP only" in p for p in gb_problems(udp_setup))
    talk = PLATFORM_OFFER.replace(b"s=Play", b"s=Talk")
    assert not any("s=" in p for p in gb_problems(talk))
    problems = gb_problems(talk, edition=2022)
    assert any("Talk was dropped in 2022" in p for p in problems)
    assert cited(problems)


def test_two_different_ssrcs_are_ambiguous() -> None:
    data = _with_y_at(5, "0200000009").replace(b"f=v", b"y=0200000001\r\nf=v")
    problems = gb_problems(data)
    assert any("different values (session level, media 0)" in p for p in problems)


# --- history sessions (Playback, Download) --------------------------------------------------------


def test_download_offer_and_answer() -> None:
    offer = gb_offer(
        "192.0.2.10", 30000, username=PLATFORM, direction="sendonly",
        session_name="Download", uri=channel_uri(CAMERA), timing=(1288625085, 1288625871),
        download_speed=4, ssrc=make_ssrc(PLATFORM, realtime=False, sequence=2),
    )  # fmt: skip
    assert offer.get_line("u") == f"{CAMERA}:0"
    assert offer.timing == "1288625085 1288625871"
    assert download_speed_of(offer) == 4
    assert gb_problems(offer) == []
    answer = gb_answer(offer, "192.0.2.20", 9010, username=DECODER, file_size=1048576)
    assert file_size_of(answer) == 1048576
    assert answer.session_name == "Download"
    assert ssrc_of(answer) == 1200000002
    assert gb_problems(answer, offer=offer) == []


def test_history_without_a_time_range_or_with_a_live_ssrc_is_reported() -> None:
    data = NINE_DIGIT_Y.replace(b"t=1288625085 1288625871", b"t=0 0").replace(
        b"y=100000001", b"y=0200000001"
    )
    problems = gb_problems(data.replace(f"u={CAMERA}:0\r\n".encode(), b""))
    assert any("s=Playback without u=" in p for p in problems)
    assert any("needs its time range" in p for p in problems)
    assert any("digit 1 is 0 (real-time) in a s=Playback session" in p for p in problems)
    with pytest.raises(GbSdpError, match="not a decimal"):
        file_size_of(sdp.parse(data.replace(b"f=v", b"a=filesize:big\r\nf=v")))


# --- builders refuse what must not be advertised --------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"local_ip": "decoder.local"}, "not an IP literal"),
        ({"local_ip": "0.0.0.0"}, "cannot receive unicast"),
        ({"local_ip": "239.1.1.1"}, "cannot receive unicast"),
        ({"local_port": 0}, "not 1-65535"),
        ({"direction": "sendrecv"}, "one-way"),
        ({"setup": "active"}, "only applies to TCP"),
        ({"payloads": (99,)}, "no GB default rtpmap"),
        ({"payloads": (96, 96)}, "repeat"),
        ({"payloads": ()}, "at least one"),
        ({"ssrc": "02000000x1"}, "not a decimal"),
        ({"media_format": "x///"}, "does not start with 'v'"),
        ({"username": "a b"}, "one non-empty token"),
        ({"session_name": "Play\r\nx=1"}, "CR or LF"),
        ({"download_speed": 0}, "positive"),
    ],
)
def test_gb_offer_refuses_bad_arguments(arguments: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"local_ip": "127.0.0.1", "local_port": 9010, "username": DECODER}
    values.update(arguments)
    with pytest.raises(GbSdpError, match=re.escape(message)):
        gb_offer(**values)  # type: ignore[arg-type]


def test_ipv6_loopback_is_advertised_as_ip6() -> None:
    offer = gb_offer("::1", 9010, username=DECODER)
    assert offer.get_line("c") == "IN IP6 ::1"
    assert offer.origin.addrtype == "IP6"


def test_an_h265_payload_is_offered_by_rtpmap() -> None:
    entry = sdp.RtpMap(gb_sdp.H265_PAYLOAD_TYPE_2022, "H265", 90000)
    offer = gb_offer("127.0.0.1", 9010, username=DECODER, payloads=(96, entry))
    assert offer.media[0].formats == ["96", "100"]
    assert offer.media[0].rtpmap(100) == entry


# --- properties -----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)

field_text = st.one_of(st.just(""), st.integers(0, 99999).map(str))
formats = st.builds(MediaFormat, *([field_text] * 8))
domains = st.text("0123456789", min_size=10, max_size=10)


@PROPERTY
@given(domains, st.booleans(), st.integers(0, 9999))
def test_property_make_ssrc_parses_back(domain: str, realtime: bool, sequence: int) -> None:
    value = make_ssrc(domain, realtime=realtime, sequence=sequence)
    ssrc = GbSsrc.parse(value, strict=True)
    assert (ssrc.history, ssrc.domain_digits, ssrc.sequence) == (
        not realtime,
        domain[3:8],
        sequence,
    )
    assert ssrc.value == int(value) <= gb_sdp.SSRC_MAX


@PROPERTY
@given(formats)
def test_property_media_format_round_trips(fmt: MediaFormat) -> None:
    value = fmt.to_string()
    assert MediaFormat.parse(value) == fmt
    assert MediaFormat.parse(value, strict=True) == fmt
    assert value.count("/") == 8


@PROPERTY
@given(
    st.integers(0, 9999),
    st.booleans(),
    formats,
    st.booleans(),
    st.sampled_from(["\r\n", "\n"]),
)
def test_property_y_and_f_round_trip_through_sdp(
    sequence: int, realtime: bool, fmt: MediaFormat, session_level: bool, ending: str
) -> None:
    ssrc = make_ssrc(PLATFORM, realtime=realtime, sequence=sequence)
    offer = gb_offer(
        "127.0.0.1", 30000, username=PLATFORM, direction="sendonly", ssrc=ssrc, media_format=fmt,
        session_name="Play" if realtime else "Download", session_id=1,
    )  # fmt: skip
    if session_level:
        place_ssrc(offer, ssrc, session_level=True)
    offer.line_ending = ending
    parsed = SessionDescription.parse(bytes(offer))
    assert parsed == offer
    assert ssrc_of(parsed) == int(ssrc)
    assert media_format_of(parsed) == fmt
    answer = gb_answer(parsed, "127.0.0.1", 9010, username=DECODER)
    assert ssrc_line_of(answer, 0) == ssrc
    assert not [p for p in gb_problems(answer, offer=parsed) if "y=" in p]
