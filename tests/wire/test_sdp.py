"""wire.sdp: byte-exact round trips, typed views, RFC 3264 offer/answer, truncation, properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import sdp
from wire.sdp import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpNegotiationError,
    SessionDescription,
    answer_video_recvonly,
    find_h264_video,
    find_video_payload,
    make_video_offer_recvonly,
)


def text(*lines: str, ending: str = "\r\n") -> bytes:
    return "".join(line + ending for line in lines).encode("utf-8")


# A GB28181 platform's live-view offer (2016 Annex J style): PS, H.264 and MPEG-4, y= and f=.
GB_OFFER = text(
    "v=0",
    "o=34020000002000000001 0 0 IN IP4 192.0.2.10",
    "s=Play",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=video 6000 RTP/AVP 96 98 97",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=rtpmap:98 H264/90000",
    "a=rtpmap:97 MPEG4/90000",
    "y=0100000001",
    "f=v/2/5/25/1/4096a///",
)

# RFC 4566 §5 example, with an extra b=, an i= in the media and a session-level attribute.
RFC4566_EXAMPLE = text(
    "v=0",
    "o=jdoe 2890844526 2890842807 IN IP4 192.0.2.4",
    "s=SDP Seminar",
    "i=A Seminar on the session description protocol",
    "u=http://www.example.com/seminars/sdp.pdf",
    "e=j.doe@example.com (Jane Doe)",
    "c=IN IP4 224.2.17.12/127",
    "b=AS:256",
    "t=2873397496 2873404696",
    "a=recvonly",
    "m=audio 49170 RTP/AVP 0",
    "m=video 51372 RTP/AVP 99",
    "i=main camera",
    "b=TIAS:2000000",
    "a=rtpmap:99 h263-1998/90000",
    "a=fmtp:99 profile=0;level=10",
)

# A sendrecv SIP-phone offer: audio first, H.264 video second with fmtp.
PHONE_OFFER = text(
    "v=0",
    "o=- 3920 3921 IN IP6 2001:db8::5",
    "s=-",
    "c=IN IP6 2001:db8::5",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0 8 101",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "m=video 4002 RTP/AVP 109 126",
    "a=rtpmap:109 VP8/90000",
    "a=rtpmap:126 H264/90000",
    "a=fmtp:126 profile-level-id=42e01f;packetization-mode=1",
    "a=sendrecv",
)

CANONICAL = {"gb28181 offer": GB_OFFER, "rfc4566 example": RFC4566_EXAMPLE, "phone": PHONE_OFFER}


@pytest.mark.parametrize("data", CANONICAL.values(), ids=CANONICAL.keys())
def test_canonical_sdp_round_trips_byte_exactly(data: bytes) -> None:
    assert bytes(sdp.parse(data)) == data
    assert sdp.parse(data.decode()).to_string() == data.decode()


def test_lf_only_sdp_round_trips_and_unusual_m_spacing_is_kept() -> None:
    lf = GB_OFFER.replace(b"\r\n", b"\n")
    parsed = sdp.parse(lf)
    assert parsed.line_ending == "\n"
    assert bytes(parsed) == lf
    spaced = GB_OFFER.replace(b"m=video 6000 RTP/AVP", b"m=video  6000 RTP/AVP")
    description = sdp.parse(spaced)
    assert description.media[0].port == 6000
    assert bytes(description) == spaced
    description.media[0].port = 7000
    assert b"m=video 7000 RTP/AVP 96 98 97\r\n" in bytes(description)


def test_typed_views_of_the_gb28181_offer() -> None:
    offer = sdp.parse(GB_OFFER)
    assert offer.origin == Origin("34020000002000000001", "0", "0", "IN", "IP4", "192.0.2.10")
    assert offer.session_name == "Play"
    assert offer.connection == Connection("IN", "IP4", "192.0.2.10")
    assert offer.timing == "0 0"
    [video] = offer.media
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        6000,
        "RTP/AVP",
        ["96", "98", "97"],
    )
    assert video.rtpmap(98) == RtpMap(98, "H264", 90000)
    assert [m.encoding_name for m in video.rtpmaps()] == ["PS", "H264", "MPEG4"]
    assert video.direction == "recvonly"
    assert video.get_line("y") == "0100000001"
    assert video.get_line("f") == "v/2/5/25/1/4096a///"
    assert offer.media_connection(0) == offer.connection


def test_rfc4566_example_views_and_direction_fallback() -> None:
    description = sdp.parse(RFC4566_EXAMPLE)
    assert description.get_line("i") == "A Seminar on the session description protocol"
    assert description.connection == Connection("IN", "IP4", "224.2.17.12/127")
    assert description.direction == "recvonly"
    audio, video = description.media
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)  # static default (RFC 3551)
    assert audio.rtpmap(0, static_defaults=False) is None
    assert video.rtpmap(99) == RtpMap(99, "h263-1998", 90000)
    assert video.fmtp(99) == "profile=0;level=10"
    assert video.fmtp(98) is None
    assert video.get_line("b") == "TIAS:2000000"
    assert not video.has_direction and video.direction == "sendrecv"
    assert description.media_direction(1) == "recvonly"  # session-level attribute applies
    assert audio.attributes == []
    assert video.attributes == [("rtpmap", "99 h263-1998/90000"), ("fmtp", "99 profile=0;level=10")]


def test_editing_keeps_line_order() -> None:
    offer = sdp.parse(GB_OFFER)
    video = offer.media[0]
    video.direction = "sendonly"
    assert video.lines[0] == ("a", "sendonly")  # replaced in place
    video.add_attribute("setup", "passive")
    assert video.lines[4] == ("a", "setup:passive")  # after the last a=, before y=
    assert video.remove_attribute("rtpmap") == 3
    assert video.get_attribute("setup") == "passive"
    offer.session_name = "Playback"
    offer.connection = Connection("IN", "IP4", "192.0.2.11")
    assert offer.lines[2] == ("s", "Playback")
    assert offer.lines[3] == ("c", "IN IP4 192.0.2.11")
    media = MediaDescription("audio", 0, "RTP/AVP", ["8"])
    media.connection = Connection("IN", "IP4", "192.0.2.12")
    media.add_attribute("sendrecv")
    assert media.all_lines() == [
        ("m", "audio 0 RTP/AVP 8"),
        ("c", "IN IP4 192.0.2.12"),
        ("a", "sendrecv"),
    ]
    with pytest.raises(ValueError, match="direction 'both' is not one of"):
        media.direction = "both"


# --- offer/answer --------------------------------------------------------------------------------


def test_find_h264_takes_the_payload_type_from_the_offer() -> None:
    assert find_h264_video(sdp.parse(GB_OFFER)) == (0, 98)
    assert find_h264_video(sdp.parse(PHONE_OFFER)) == (1, 126)
    assert find_video_payload(sdp.parse(GB_OFFER), ("PS", "H264")) == (0, 96)


def test_no_acceptable_video_is_a_typed_488_error() -> None:
    with pytest.raises(SdpNegotiationError, match=r"RTP/AVP 99 \(99=h263-1998\)") as err:
        find_h264_video(sdp.parse(RFC4566_EXAMPLE))
    assert err.value.status_code == 488
    rejected = sdp.parse(PHONE_OFFER.replace(b"m=video 4002", b"m=video 0"))
    with pytest.raises(SdpNegotiationError, match=r"rejected, port 0"):
        find_h264_video(rejected)
    audio_only = text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0")
    with pytest.raises(SdpNegotiationError, match="no m=video line"):
        answer_video_recvonly(sdp.parse(audio_only), "192.0.2.2", 5000)
    not_rtp = text(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "m=video 4000 udp 98",
        "a=rtpmap:98 H264/90000",
    )
    with pytest.raises(SdpNegotiationError, match="transport udp not RTP"):
        find_h264_video(sdp.parse(not_rtp))


def test_answer_to_the_gb28181_offer() -> None:
    offer = sdp.parse(GB_OFFER.replace(b"a=recvonly", b"a=sendonly"))
    answer = answer_video_recvonly(
        offer,
        "192.0.2.20",
        9010,
        session_id="34020000001320000001",
        session_version="1",
        username="34020000001320000001",
        session_name="Play",
    )
    assert bytes(answer) == text(
        "v=0",
        "o=34020000001320000001 34020000001320000001 1 IN IP4 192.0.2.20",
        "s=Play",
        "c=IN IP4 192.0.2.20",
        "t=0 0",
        "m=video 9010 RTP/AVP 98",
        "a=rtpmap:98 H264/90000",
        "a=recvonly",
        "y=0100000001",
    )
    assert bytes(sdp.parse(bytes(answer))) == bytes(answer)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendonly", "recvonly"),
        ("sendrecv", "recvonly"),
        ("recvonly", "inactive"),
        ("inactive", "inactive"),
    ],
)
def test_answer_direction_mirrors_the_offer(offered: str, answered: str) -> None:
    offer = sdp.parse(PHONE_OFFER.replace(b"a=sendrecv", f"a={offered}".encode()))
    answer = answer_video_recvonly(offer, "2001:db8::9", 5000, session_id="7")
    assert answer.media[1].direction == answered
    assert answer.media[1].has_direction


def test_answer_to_a_two_stream_offer_rejects_the_rest_with_port_zero() -> None:
    offer = sdp.parse(PHONE_OFFER)
    answer = answer_video_recvonly(
        offer,
        "2001:db8::9",
        5000,
        session_id="7",
        session_version="8",
        fmtp="profile-level-id=42e01f",
        ssrc="0200000001",
    )
    assert answer.origin == Origin("-", "7", "8", "IN", "IP6", "2001:db8::9")
    assert answer.connection == Connection("IN", "IP6", "2001:db8::9")
    audio, video = answer.media
    assert audio.all_lines() == [("m", "audio 0 RTP/AVP 0 8 101")]
    assert video.all_lines() == [
        ("m", "video 5000 RTP/AVP 126"),
        ("a", "rtpmap:126 H264/90000"),
        ("a", "fmtp:126 profile-level-id=42e01f"),
        ("a", "recvonly"),
        ("y", "0200000001"),
    ]


def test_answer_over_tcp_takes_the_opposite_setup_role() -> None:
    tcp = GB_OFFER.replace(b"RTP/AVP", b"TCP/RTP/AVP").replace(
        b"a=recvonly", b"a=sendonly\r\na=setup:active\r\na=connection:new"
    )
    answer = answer_video_recvonly(sdp.parse(tcp), "192.0.2.20", 9010, session_id="1")
    video = answer.media[0]
    assert video.proto == "TCP/RTP/AVP"
    assert video.get_attribute("setup") == "passive"
    assert video.get_attribute("connection") == "new"
    passive = tcp.replace(b"setup:active", b"setup:passive")
    assert (
        answer_video_recvonly(sdp.parse(passive), "192.0.2.20", 9010)
        .media[0]
        .get_attribute("setup")
        == "active"
    )
    bogus = tcp.replace(b"setup:active", b"setup:sideways")
    with pytest.raises(SdpNegotiationError, match="a=setup:sideways is not RFC 4145"):
        answer_video_recvonly(sdp.parse(bogus), "192.0.2.20", 9010)
    with pytest.raises(ValueError, match="answer port 0 is not 1-65535"):
        answer_video_recvonly(sdp.parse(tcp), "192.0.2.20", 0)


def test_offer_for_a_bodyless_invite() -> None:
    offer = make_video_offer_recvonly("192.0.2.20", 9010, session_id="5", session_version="6")
    assert bytes(offer) == text(
        "v=0",
        "o=- 5 6 IN IP4 192.0.2.20",
        "s=-",
        "c=IN IP4 192.0.2.20",
        "t=0 0",
        "m=video 9010 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=recvonly",
    )
    tcp = make_video_offer_recvonly(
        "192.0.2.20", 9010, 100, encoding="H265", proto="TCP/RTP/AVP", ssrc="0200000002"
    )
    video = tcp.media[0]
    assert video.rtpmap(100) == RtpMap(100, "H265", 90000)
    assert video.lines[1:] == [
        ("a", "setup:passive"),
        ("a", "connection:new"),
        ("a", "recvonly"),
        ("y", "0200000002"),
    ]
    assert tcp.origin.session_id == tcp.origin.session_version
    assert sdp.parse(bytes(tcp)) == tcp
    with pytest.raises(ValueError, match="payload type 128 is not 0-127"):
        make_video_offer_recvonly("192.0.2.20", 9010, 128)


# --- errors and truncation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "SDP is empty"),
        (b"\r\n\r\n", "SDP is empty"),
        (text("v=1"), r"line 1: the first line must be 'v=0'"),
        (text("o=- 1 1 IN IP4 192.0.2.1", "v=0"), "the first line must be 'v=0'"),
        (text("v=0", "s=-", "t=0 0"), "no session-level o= line"),
        (text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "t=0 0"), "no session-level s= line"),
        (text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-"), "no session-level t= line"),
        (text("v=0", "v=0"), "line 2: v= appears twice"),
        (text("v=0", "o=- x 1 IN IP4 192.0.2.1"), "line 2: o= session id 'x' is not"),
        (text("v=0", "o=- 1 1 IN IP4"), "line 2: o= .*expected 6 fields"),
        (text("v=0", "c=IN IP4"), "line 2: c= .*expected 3 fields"),
        (text("v=0", "t=0"), "line 2: t= .*expected 2 fields"),
        (text("v=0", "b=AS"), r"line 2: b='AS': expected '<bwtype>:<bandwidth>'"),
        (text("v=0", "m =video 1 RTP/AVP 96"), r"line 2: expected '<letter>=<value>'"),
        (text("v=0", "M=video 1 RTP/AVP 96"), r"line 2: expected '<letter>=<value>'"),
        (text("v=0", "m=video 70000 RTP/AVP 96"), "m= port 70000 is larger than 65535"),
        (text("v=0", "m=video x RTP/AVP 96"), "m= port 'x' is not"),
        (text("v=0", "m=video 9"), "expected '<media> <port> <proto> <fmt> ...'"),
        (text("v=0", "m=video 9/x RTP/AVP 96"), "port count 'x'"),
        (text("v=0", "a=rtpmap:96"), "expected '<pt> <encoding>/<clock>'"),
        (text("v=0", "a=rtpmap:300 H264/90000"), "payload type 300 is larger than 127"),
        (text("v=0", "a=rtpmap:96 H264"), r"expected '<encoding>/<clock>\[/<params>\]'"),
        (text("v=0", "a=rtpmap:96 H264/fast"), "clock rate 'fast'"),
        (text("v=0", "a=fmtp:96"), "expected 'fmtp:<format> <params>'"),
        (text("v=0", "a=bad name"), "attribute name 'bad name' is not a token"),
        (text("v=0", "", "s=-"), "line 2: expected '<letter>=<value>', got ''"),
        (b"v=0\r\ns=\xff\r\n", r"not UTF-8 \(byte offset 7\)"),
        (b"v=0\r\ns=a\rb\r\n", "line 2: bare CR"),
    ],
)
def test_malformed_sdp_names_the_line(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sdp.parse(data)


@pytest.mark.parametrize("data", CANONICAL.values(), ids=CANONICAL.keys())
def test_every_prefix_parses_or_raises_value_error(data: bytes) -> None:
    complete = 0
    for end in range(len(data)):
        try:
            description = sdp.parse(data[:end])
        except ValueError:
            continue
        complete += 1
        assert data[:end].startswith(bytes(description).rstrip(b"\r\n"))
    assert complete > 0  # prefixes that end on a line boundary after t= do parse


def test_trailing_empty_lines_are_tolerated() -> None:
    assert bytes(sdp.parse(GB_OFFER + b"\r\n\r\n")) == GB_OFFER


# --- properties ----------------------------------------------------------------------------------

TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN, min_size=1, max_size=10)
digits = st.integers(0, 2**63).map(str)
free_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20
)
addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
attributes = st.one_of(
    tokens.map(lambda n: ("a", n)),
    st.tuples(tokens, free_text).map(lambda nv: ("a", f"{nv[0]}:{nv[1]}")),
    st.builds(
        RtpMap, st.integers(0, 127), tokens, st.integers(1, 10**6), st.none() | st.just("2")
    ).map(lambda r: ("a", f"rtpmap:{r.to_string()}")),
    st.sampled_from(sdp.DIRECTIONS).map(lambda d: ("a", d)),
    st.sampled_from(["0100000001", "200000001"]).map(lambda y: ("y", y)),
    st.just(("f", "v/2/5/25/1/4096a///")),
    st.tuples(tokens, st.integers(0, 10**9)).map(lambda b: ("b", f"{b[0]}:{b[1]}")),
)


@st.composite
def media_sections(draw: st.DrawFn) -> MediaDescription:
    media = MediaDescription(
        draw(st.sampled_from(["video", "audio", "application"])),
        draw(st.integers(0, 65535)),
        draw(st.sampled_from(list(sdp.RTP_VIDEO_PROTOS))),
        draw(st.lists(st.integers(0, 127).map(str), min_size=1, max_size=4)),
        draw(st.none() | st.integers(1, 4)),
    )
    if draw(st.booleans()):
        media.lines.append(("c", f"IN IP4 {draw(st.ip_addresses(v=4))}"))
    media.lines.extend(draw(st.lists(attributes, max_size=5)))
    return media


@st.composite
def descriptions(draw: st.DrawFn) -> SessionDescription:
    address = draw(addresses)
    origin = Origin(
        draw(tokens), draw(digits), draw(digits), "IN", "IP6" if ":" in address else "IP4", address
    )
    lines = [("v", "0"), ("o", origin.to_string()), ("s", draw(free_text))]
    if draw(st.booleans()):
        lines.append(("c", Connection("IN", "IP4", str(draw(st.ip_addresses(v=4)))).to_string()))
    lines.append(("t", f"{draw(digits)} {draw(digits)}"))
    lines.extend(draw(st.lists(attributes, max_size=3)))
    ending = draw(st.sampled_from(["\r\n", "\n"]))
    return SessionDescription(lines, draw(st.lists(media_sections(), max_size=3)), ending)


# Property tests take the active profile's example count, capped at 40 (the ci profile) so the
# folder stays fast when run without the project plugin (hypothesis' default is 100); no deadline,
# so a loaded machine cannot make them flaky.
PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)


@PROPERTY
@given(descriptions())
def test_property_generated_sdp_round_trips(description: SessionDescription) -> None:
    data = bytes(description)
    parsed = sdp.parse(data)
    assert parsed == description
    assert bytes(parsed) == data


@PROPERTY
@given(descriptions(), st.sampled_from(["H264", "h264"]), st.integers(96, 127))
def test_property_answer_keeps_the_offered_payload_type(
    offer: SessionDescription, name: str, payload_type: int
) -> None:
    video = MediaDescription("video", 7000, "RTP/AVP", ["0", str(payload_type)])
    video.add_attribute("rtpmap", f"{payload_type} {name}/90000")
    video.add_attribute("sendonly")
    offer.media = [m for m in offer.media if m.media != "video"] + [video]
    answer = answer_video_recvonly(offer, "192.0.2.30", 9000, session_id="1")
    accepted = answer.media[-1]
    assert accepted.formats == [str(payload_type)]
    assert accepted.rtpmap(payload_type) == RtpMap(payload_type, name, 90000)
    assert accepted.direction == "recvonly"
    assert all(m.port == 0 for m in answer.media[:-1])
    assert len(answer.media) == len(offer.media)
    assert answer.timing == offer.timing
    assert sdp.parse(bytes(answer)) == answer


@PROPERTY
@given(st.binary(max_size=120))
def test_property_random_bytes_parse_or_raise_value_error(data: bytes) -> None:
    for candidate in (data, b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" + data):
        with contextlib.suppress(ValueError):
            sdp.parse(candidate)


# --- h264_offer / h264_media: the offers the peers send -----------------------------------------


def test_h264_offer_defaults_byte_exactly() -> None:
    offer = sdp.h264_offer(host="192.0.2.1", video_port=40000, session_id=7)
    data = text(
        "v=0",
        "o=- 7 7 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=video 40000 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1",
        "a=sendonly",
    )
    assert bytes(offer) == data
    parsed = sdp.parse(data)
    assert parsed == offer
    assert bytes(parsed) == data
    assert find_h264_video(parsed) == (0, 96)
    assert parsed.media_direction(0) == "sendonly"
    assert parsed.media[0].fmtp(96) == sdp.H264_DEFAULT_FMTP


def test_h264_offer_with_audio_first_and_session_fields() -> None:
    offer = sdp.h264_offer(
        host="192.0.2.1",
        video_port=4000,
        audio_port=4002,
        payload_type=109,
        direction="inactive",
        session_id=4242,
        session_version=3,
        username="conformance",
        session_name="conformance",
    )
    assert bytes(offer) == text(
        "v=0",
        "o=conformance 4242 3 IN IP4 192.0.2.1",
        "s=conformance",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 4002 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=sendrecv",
        "m=video 4000 RTP/AVP 109",
        "a=rtpmap:109 H264/90000",
        "a=fmtp:109 profile-level-id=42e01f;packetization-mode=1",
        "a=inactive",
    )
    assert find_h264_video(offer) == (1, 109)
    answer = answer_video_recvonly(offer, "192.0.2.20", 9000, session_id="1")
    assert [(m.media, m.port) for m in answer.media] == [("audio", 0), ("video", 9000)]
    assert answer.media[1].direction == "inactive"  # RFC 3264 §6.1 mirror of inactive


def test_h264_offer_audio_only_for_the_488_cases() -> None:
    offer = sdp.h264_offer(host="192.0.2.1", video_port=None, audio_port=4002, session_id=1)
    assert [m.m_value() for m in offer.media] == ["audio 4002 RTP/AVP 0"]
    with pytest.raises(SdpNegotiationError, match="no m=video line"):
        find_h264_video(sdp.parse(bytes(offer)))


def test_h264_offer_over_tcp_rfc4571() -> None:
    active = sdp.h264_offer(
        host="127.0.0.1",
        video_port=5000,
        fmtp="packetization-mode=1",
        tcp=True,
        session_id=1,
        session_version=1,
        username="cam",
    )
    assert bytes(active) == text(
        "v=0",
        "o=cam 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=video 5000 TCP/RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 packetization-mode=1",
        "a=sendonly",
        "a=setup:active",
        "a=connection:new",
    )
    answer = answer_video_recvonly(sdp.parse(bytes(active)), "127.0.0.1", 9000, session_id="1")
    assert answer.media[0].get_attribute("setup") == "passive"
    passive = sdp.h264_offer(
        host="127.0.0.1", video_port=9, fmtp=None, direction=None, tcp=True, setup="passive"
    )
    assert [f"{kind}={value}" for kind, value in passive.media[0].all_lines()] == [
        "m=video 9 TCP/RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=setup:passive",
        "a=connection:new",
    ]
    assert passive.media[0].direction == "sendrecv"  # no attribute: the RFC 4566 default


def test_h264_offer_session_id_defaults() -> None:
    first = sdp.h264_offer(host="192.0.2.1", video_port=4000)
    second = sdp.h264_offer(host="192.0.2.1", video_port=4000)
    assert first.origin.session_id != second.origin.session_id
    assert first.origin.session_version == first.origin.session_id
    reoffer = sdp.h264_offer(host="192.0.2.1", video_port=4000, session_id=9, session_version=10)
    assert (reoffer.origin.session_id, reoffer.origin.session_version) == ("9", "10")


def test_h264_media_section_with_its_own_connection() -> None:
    media = sdp.h264_media(port=4002, payload_type=97, fmtp=None, host="192.0.2.7")
    assert media.to_string() == (
        "m=video 4002 RTP/AVP 97\r\nc=IN IP4 192.0.2.7\r\na=rtpmap:97 H264/90000\r\na=sendonly\r\n"
    )
    assert media.to_string("\n").count("\r") == 0
    assert media.connection == Connection("IN", "IP4", "192.0.2.7")
    spliced = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" + media.to_string()
    assert sdp.parse(spliced).media_connection(0) == Connection("IN", "IP4", "192.0.2.7")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host": "localhost"}, "host 'localhost' is not an IPv4 literal"),
        ({"host": "cam.example.com"}, "host 'cam.example.com' is not an IPv4 literal"),
        ({"host": "2001:db8::1"}, "is not an IPv4 literal"),
        ({"host": "192.0.2.256"}, "is not an IPv4 literal"),
        ({"host": ""}, "host '' is not an IPv4 literal"),
        ({"video_port": None}, "needs a video_port, an audio_port or both"),
        ({"audio_port": 4000}, "audio and video share port 4000"),
        ({"video_port": 0}, "video port 0 is not 1-65535"),
        ({"video_port": 65536}, "video port 65536 is not 1-65535"),
        ({"audio_port": 0}, "audio port 0 is not 1-65535"),
        ({"payload_type": 128}, "payload type 128 is not 0-127"),
        ({"fmtp": ""}, "fmtp is empty; pass None"),
        ({"fmtp": "a\r\na=evil"}, "fmtp .* contains CR or LF"),
        ({"direction": "sideways"}, "direction 'sideways' is not one of"),
        ({"setup": "active"}, "only applies to TCP media"),
        ({"tcp": True, "setup": "both"}, "setup 'both' is not one of"),
        ({"video_port": None, "audio_port": 4002, "tcp": True}, "there is none"),
        ({"session_id": -1}, "session id -1 is negative"),
        ({"session_version": -2}, "session version -2 is negative"),
        ({"session_name": ""}, "session name is empty"),
        ({"username": "two words"}, "o= .*expected 6 fields"),
    ],
)
def test_h264_offer_rejects_bad_arguments(arguments: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = {"host": "192.0.2.1", "video_port": 4000, **arguments}
    with pytest.raises(ValueError, match=message):
        sdp.h264_offer(**kwargs)  # type: ignore[arg-type]


def test_h264_media_rejects_a_non_literal_host() -> None:
    with pytest.raises(ValueError, match=r"media host 'cam\.local' is not an IPv4 literal"):
        sdp.h264_media(port=4000, host="cam.local")


@PROPERTY
@given(
    host=st.ip_addresses(v=4).map(str),
    ports=st.tuples(st.integers(1, 65535), st.none() | st.integers(1, 65535)).filter(
        lambda p: p[0] != p[1]
    ),
    payload_type=st.integers(0, 127),
    direction=st.none() | st.sampled_from(sdp.DIRECTIONS),
    tcp=st.booleans(),
)
def test_property_h264_offers_parse_back_and_negotiate(
    *,
    host: str,
    ports: tuple[int, int | None],
    payload_type: int,
    direction: str | None,
    tcp: bool,
) -> None:
    offer = sdp.h264_offer(
        host=host,
        video_port=ports[0],
        audio_port=ports[1],
        payload_type=payload_type,
        direction=direction,
        tcp=tcp,
    )
    data = bytes(offer)
    assert sdp.parse(data) == offer
    index, found = find_h264_video(sdp.parse(data))
    assert (index, found) == (0 if ports[1] is None else 1, payload_type)
    assert offer.media[index].proto == ("TCP/RTP/AVP" if tcp else "RTP/AVP")
    assert offer.media_direction(index) == (direction or "sendrecv")


# --- RFC 6184 §8.2.2: the answer keeps the offered H.264 configuration ---------------------------


@pytest.mark.parametrize(
    ("fmtp", "mode"),
    [
        (None, 0),
        ("profile-level-id=42e01f", 0),
        ("profile-level-id=42e01f;packetization-mode=1", 1),
        ("PACKETIZATION-MODE = 0 ; profile-level-id=42e01f", 0),
        ("packetization-mode=2;sprop-deint-buf-req=32000", 2),
    ],
)
def test_h264_packetization_mode(fmtp: str | None, mode: int) -> None:
    assert sdp.h264_packetization_mode(fmtp) == mode


def test_h264_packetization_mode_refuses_a_non_integer() -> None:
    with pytest.raises(ValueError, match="packetization-mode 'one'"):
        sdp.h264_packetization_mode("packetization-mode=one")


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        (
            "profile-level-id=42e01f;packetization-mode=1",
            "profile-level-id=42e01f;packetization-mode=1",
        ),
        (
            "packetization-mode=1; sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==;"
            "profile-level-id=42e01f",
            "packetization-mode=1;profile-level-id=42e01f",
        ),
        (
            "profile-level-id=42e01f;packetization-mode=0",
            "profile-level-id=42e01f;packetization-mode=0",
        ),
        ("profile-level-id=42e01f", "profile-level-id=42e01f"),
        (None, None),
    ],
)
def test_answer_keeps_the_offered_h264_configuration(
    offered: str | None, answered: str | None
) -> None:
    offer = sdp.h264_offer(host="192.0.2.1", video_port=4000, payload_type=109, fmtp=offered)
    answer = answer_video_recvonly(offer, "192.0.2.20", 9000, session_id="1")
    assert answer.media[0].fmtp(109) == answered
    assert sdp.h264_packetization_mode(answer.media[0].fmtp(109)) == sdp.h264_packetization_mode(
        offered
    )


def test_answer_refuses_a_packetization_mode_it_cannot_keep() -> None:
    offer = sdp.h264_offer(
        host="192.0.2.1", video_port=4000, fmtp="packetization-mode=2;sprop-deint-buf-req=32000"
    )
    with pytest.raises(SdpNegotiationError, match="packetization-mode 2"):
        answer_video_recvonly(offer, "192.0.2.20", 9000)
    answer = answer_video_recvonly(offer, "192.0.2.20", 9000, h264_modes=(0, 1, 2))
    assert answer.media[0].fmtp(96) == "packetization-mode=2"


def test_answer_fmtp_given_by_the_caller_is_used_as_is() -> None:
    offer = sdp.h264_offer(host="192.0.2.1", video_port=4000)
    answer = answer_video_recvonly(offer, "192.0.2.20", 9000, fmtp="packetization-mode=1")
    assert answer.media[0].get_attributes("fmtp") == ["96 packetization-mode=1"]
