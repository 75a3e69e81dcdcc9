"""wire.sip: RFC 4475 torture messages, byte-exact round trips, truncation loops, properties.

The RFC 4475 messages are written out here for this project from the RFC's text. Two deviations:
addresses in private ranges are replaced by TEST-NET ones (192.0.2.0/24; the house rules forbid
private addresses in code), and bodies keep the RFC's SDP.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire import sip
from wire.sip import (
    CSeq,
    Headers,
    NameAddr,
    SipRequest,
    SipResponse,
    SipUri,
    UnsupportedVersionError,
    Via,
    make_response,
    parse,
    parse_stream,
)


def wire(*lines: str, body: bytes = b"") -> bytes:
    """Start line and header lines (continuations as their own entries), CRLF-joined, + body."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def sdp_body(origin: str, connection: str, timing: str = "0 0") -> bytes:
    """The SDP body RFC 4475 uses in most of its messages."""
    return (
        "v=0\r\n"
        f"o=mhandley 29739 7272939 IN IP4 {origin}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {connection}\r\n"
        f"t={timing}\r\n"
        "m=audio 49217 RTP/AVP 0 12\r\n"
        "m=video 3227 RTP/AVP 31\r\n"
        "a=rtpmap:31 LPC\r\n"
    ).encode()


# --- RFC 4475 §3.1.1: valid messages ------------------------------------------------------------

WSINV = wire(  # 3.1.1.1 A Short Tortuous INVITE
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
    "TO :",
    " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
    "  ;",
    "  tag = 98asjd8",
    "MaX-fOrWaRdS: 0068",
    "Call-ID: wsinv.ndaksdj@192.0.2.1",
    "Content-Length   : 150",
    "cseq: 0009",
    "  INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.2;branch=390skdjuw",
    "s :",
    "NewFangledHeader:   newfangled value",
    " continued newfangled value",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
    "  branch  =   z9hG4bK9ikj8  ,",
    " SIP  /    2.0   / UDP  192.0.2.111   ; branch=",
    " z9hG4bK30239",
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
    "      newvalue ;",
    "  secondparam ; q = 0.33",
    body=sdp_body("192.0.2.3", "192.0.2.4"),
)

INTMETH_URI_USER = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
INTMETH_METHOD = "!interesting-Method0123456789_*+`.%indeed'~"
INTMETH = wire(  # 3.1.1.2 Wide Range of Valid Characters (control chars in a quoted-pair)
    f"{INTMETH_METHOD} sip:{INTMETH_URI_USER}:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    "@example.com SIP/2.0",
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
    f'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:{INTMETH_URI_USER}@example.com>',
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    ";fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
    f"CSeq: 139122385 {INTMETH_METHOD}",
    "Max-Forwards: 255",
    "extensionHeader-!.%*+_`'~:大停電",
    "Content-Length: 0",
)

ESC01 = wire(  # 3.1.1.3 Valid Use of the % Escaping Mechanism
    "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
    "To: sip:%75se%72@example.com",
    "From: <sip:I%20have%20spaces@example.net>;tag=938",
    "Max-Forwards: 87",
    "i: esc01.239409asdfakjkn23onasd0-3234",
    "CSeq: 234234 INVITE",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
    "C: application/sdp",
    "Contact:",
    "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    "Content-Length: 150",
    body=sdp_body("192.0.2.1", "192.0.2.1"),
)

ESCNULL = wire(  # 3.1.1.4 Escaped Nulls in URIs (%00, no NUL octet on the wire)
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:null-%00-null@example.com",
    "From: sip:null-%00-null@example.com;tag=839923423",
    "Max-Forwards: 70",
    "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    "Contact: <sip:%00@host5.example.com>",
    "Contact: <sip:%00%00@host5.example.com>",
    "L:0",
)

ESC02 = wire(  # 3.1.1.5 Use of % When It Is Not an Escape
    "RE%47IST%45R sip:registrar.example.com SIP/2.0",
    'To: "%Z%45" <sip:resource@example.com>',
    'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
    "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
    "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234",
    "CSeq: 29344 RE%47IST%45R",
    "Max-Forwards: 70",
    "Contact: <sip:alias1@host1.example.com>",
    "C%6Fntact: <sip:alias2@host2.example.com>",
    "Contact: <sip:alias3@host3.example.com>",
    "l: 0",
)

LWSDISP = wire(  # 3.1.1.6 Message with No LWS between Display Name and <
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: caller<sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.1234abcd@funky.example.com",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
)

_LONG = "long" * 25
_VIA_NAMES = ["v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA"]
LONGREQ = wire(  # 3.1.1.7 Long Values in Header Fields
    "INVITE sip:user@example.com SIP/2.0",
    f'To: "I have a user name of {"extreme" * 10} proportion"<sip:user@example.com:6000'
    f";unknownparam1=very{_LONG}value;longparam{'name' * 25}=shortvalue"
    f";very{_LONG}ParameterNameWithNoValue>",
    f"F: sip:{'amazinglylongcallername' * 5}@example.net;tag={'1298' * 40}424"
    f";unknownheaderparam{'name' * 20}=unknowheaderparam{'value' * 15}"
    f";unknownValuelessparam{'name' * 10}",
    f"Call-ID: longreq.one{'really' * 20}longcallid",
    "CSeq: 3882340 INVITE",
    f"Unknown-{'Long' * 20}-Name: unknown-{_LONG}-value; "
    f"unknown-{_LONG}-parameter-name = unknown-{_LONG}-parameter-value",
    *[f"{_VIA_NAMES[n % 10]}: SIP/2.0/TCP sip{n}.example.com" for n in range(33, 0, -1)],
    f"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{_LONG * 2}branchvalue",
    "Max-Forwards: 70",
    f"Contact: <sip:{'amazinglylongcallername' * 5}@host5.example.net>",
    "Content-Type: application/sdp",
    "l: 150",
    body=sdp_body("192.0.2.1", "192.0.2.1"),
)

DBLREQ_FIRST = wire(  # 3.1.1.8 Extra Trailing Octets in a UDP Datagram
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:j.user@example.com",
    "From: sip:j.user@example.com;tag=43251j3j324",
    "Max-Forwards: 8",
    "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    "Contact: sip:j.user@host.example.com",
    "CSeq: 8 REGISTER",
    "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
    "Content-Length: 0",
)
DBLREQ_TRAILER_BODY = sdp_body("192.0.2.15", "192.0.2.15").replace(b"m=video", b"m =video")
DBLREQ_TRAILER = wire(
    "INVITE sip:joe@example.com SIP/2.0",
    "t: sip:joe@example.com",
    "From: sip:caller@example.net;tag=141334",
    "Max-Forwards: 8",
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
    "Content-Type: application/sdp",
    f"Content-Length: {len(DBLREQ_TRAILER_BODY)}",
    body=DBLREQ_TRAILER_BODY,
)
DBLREQ = DBLREQ_FIRST + DBLREQ_TRAILER

SEMIURI = wire(  # 3.1.1.9 Semicolon-Separated Parameters in URI User Part
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
    "To: sip:j_user@example.com",
    "From: sip:caller@example.org;tag=33242",
    "Max-Forwards: 3",
    "Call-ID: semiuri.0ha0isndaksdj",
    "CSeq: 8 OPTIONS",
    "Accept: application/sdp, application/pkcs7-mime,",
    "        multipart/mixed, multipart/signed,",
    "        message/sip, message/sipfrag",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    "l: 0",
)

TRANSPORTS = wire(  # 3.1.1.10 Varied and Unknown Transport Types
    "OPTIONS sip:user@example.com SIP/2.0",
    "To: sip:user@example.com",
    "From: <sip:caller@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
    "Accept: application/sdp",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    "l: 0",
)

MPART_BODY = (
    b"--boundary42\r\n"
    b"Content-Type: application/sdp\r\n\r\n"
    + sdp_body("192.0.2.1", "192.0.2.1")
    + b"\r\n--boundary42\r\n"
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\x30\x82\x01\x00\xff\xfe\r\n\r\n\x00binary\r\n"
    b"--boundary42--\r\n"
)
MPART01 = wire(  # 3.1.1.11 Multipart MIME Message (body octets are opaque, not UTF-8)
    "INVITE sip:user@example.com SIP/2.0",
    "To: <sip:user@example.com>",
    "From: Caller <sip:caller@example.net>;tag=08179",
    "Call-ID: mpart01.0ha0isndaksdjweiafasdk3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK-39234-23523",
    "Max-Forwards: 70",
    "Contact: <sip:caller@host5.example.net>",
    'Content-Type: multipart/mixed;boundary="boundary42"',
    f"Content-Length: {len(MPART_BODY)}",
    body=MPART_BODY,
)

UNREASON_PHRASE = "= 2**3 * 5**2 но сто девяносто девять - простое"
UNREASON = wire(  # 3.1.1.12 Unusual Reason Phrase
    f"SIP/2.0 200 {UNREASON_PHRASE}",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:user@example.com;tag=11141343",
    "To: sip:user@example.edu;tag=2229",
    "Content-Length: 154",
    "Content-Type: application/sdp",
    "Contact: <sip:user@host198.example.com>",
    body=sdp_body("192.0.2.198", "192.0.2.198"),
)

NOREASON = wire(  # 3.1.1.13 Empty Reason Phrase (the SP after the code is required)
    "SIP/2.0 100 ",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: noreason.asndj203insdf99223ndf",
    "CSeq: 35 INVITE",
    "From: <sip:user@example.com>;tag=39ansfi3",
    "To: <sip:user@example.edu>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:user@host105.example.com>",
)

VALID = {
    "3.1.1.1 wsinv": WSINV,
    "3.1.1.2 intmeth": INTMETH,
    "3.1.1.3 esc01": ESC01,
    "3.1.1.4 escnull": ESCNULL,
    "3.1.1.5 esc02": ESC02,
    "3.1.1.6 lwsdisp": LWSDISP,
    "3.1.1.7 longreq": LONGREQ,
    "3.1.1.9 semiuri": SEMIURI,
    "3.1.1.10 transports": TRANSPORTS,
    "3.1.1.11 mpart01": MPART01,
    "3.1.1.12 unreason": UNREASON,
    "3.1.1.13 noreason": NOREASON,
}


def request(data: bytes) -> SipRequest:
    message = parse(data)
    assert isinstance(message, SipRequest), f"parsed a response: {message.start_line()!r}"
    return message


def response(data: bytes) -> SipResponse:
    message = parse(data)
    assert isinstance(message, SipResponse), f"parsed a request: {message.start_line()!r}"
    return message


@pytest.mark.parametrize("data", VALID.values(), ids=VALID.keys())
def test_valid_torture_message_round_trips_byte_exactly(data: bytes) -> None:
    assert bytes(parse(data)) == data
    assert parse(data).to_bytes() == data


def test_3_1_1_1_wsinv_fields() -> None:
    message = request(WSINV)
    assert (message.method, message.uri) == (
        "INVITE",
        "sip:vivekg@chair-dnrc.example.com;unknownparam",
    )
    assert message.to_addr.uri == "sip:vivekg@chair-dnrc.example.com"
    assert message.to_addr.tag == "1918181833n"
    assert message.from_addr.display_name == 'J Rosenberg \\"'
    assert message.from_addr.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.cseq == CSeq(9, "INVITE")
    assert message.content_length == 150 == len(message.body)
    assert message.headers.get("Subject") == ""
    assert message.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    vias = message.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.0.2.111", "z9hG4bK30239"),
    ]
    assert all(v.protocol == "SIP/2.0" for v in vias)
    route = NameAddr.parse(message.headers.get_list("Route")[0])
    assert route.sip_uri().params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    [contact] = message.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}


def test_3_1_1_2_intmeth_fields() -> None:
    message = request(INTMETH)
    assert message.method == INTMETH_METHOD
    uri = SipUri.parse(message.uri)
    assert uri.user == INTMETH_URI_USER
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert message.to_addr.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    sender = message.from_addr
    assert sender.display_name == "token1~` token2'+_ token3*%!.-"
    assert sender.tag == "_token~1'+`*%!-."
    assert sender.params["fromParam''~+*_!.-%"] == '"работающий"'
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.cseq == CSeq(139122385, INTMETH_METHOD)
    assert message.vias[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert message.headers.get("EXTENSIONHEADER-!.%*+_`'~") == "大停電"
    assert message.max_forwards == 255


def test_3_1_1_3_and_3_1_1_4_escapes_are_kept_verbatim() -> None:
    esc01 = request(ESC01)
    assert SipUri.parse(esc01.uri).user == "sips%3Auser%40example.com"
    assert esc01.to_addr.sip_uri().user == "%75se%72"
    assert esc01.from_addr.sip_uri().user == "I%20have%20spaces"
    assert esc01.content_type == "application/sdp"  # compact form c
    assert esc01.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # compact form i
    contact = esc01.contacts[0].sip_uri()
    assert contact.params == {"%6C%72": None, "n%61me": "v%61lue%25%34%31"}
    escnull = request(ESCNULL)
    assert escnull.to_addr.sip_uri().user == "null-%00-null"
    assert [c.sip_uri().user for c in escnull.contacts] == ["%00", "%00%00"]
    assert escnull.content_length == 0


def test_3_1_1_5_esc02_percent_in_tokens_is_not_an_escape() -> None:
    message = request(ESC02)
    assert message.method == "RE%47IST%45R"
    assert message.cseq.method == "RE%47IST%45R"
    assert message.to_addr.display_name == "%Z%45"
    assert [c.uri for c in message.contacts] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_3_1_1_6_lwsdisp_display_name_without_space() -> None:
    sender = request(LWSDISP).from_addr
    assert (sender.display_name, sender.uri, sender.tag) == (
        "caller",
        "sip:caller@example.com",
        "323",
    )


def test_3_1_1_7_longreq_long_values_and_many_vias() -> None:
    message = request(LONGREQ)
    vias = message.vias
    assert len(vias) == 34
    assert [v.host for v in vias[:3]] == [
        "sip33.example.com",
        "sip32.example.com",
        "sip31.example.com",
    ]
    assert vias[-1].received == "192.0.2.5"
    assert vias[-1].branch == f"very{_LONG * 2}branchvalue"
    assert message.to_addr.display_name == f"I have a user name of {'extreme' * 10} proportion"
    assert message.to_addr.sip_uri().port == 6000
    assert message.from_addr.tag == "1298" * 40 + "424"
    assert message.content_length == 150


def test_3_1_1_8_dblreq_extra_octets_in_a_datagram_are_ignored() -> None:
    message = request(DBLREQ)
    assert message.method == "REGISTER"
    assert message.body == b""
    assert bytes(message) == DBLREQ_FIRST


def test_3_1_1_9_semiuri_and_folded_list_header() -> None:
    message = request(SEMIURI)
    assert SipUri.parse(message.uri).user == "user;par=u%40example.net"
    assert SipUri.parse(message.uri).params == {}
    assert message.headers.get_list("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_3_1_1_10_unknown_transports_in_via() -> None:
    vias = request(TRANSPORTS).vias
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert request(TRANSPORTS).call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_3_1_1_11_multipart_body_is_kept_as_octets() -> None:
    message = request(MPART01)
    assert message.body == MPART_BODY
    assert message.content_type == 'multipart/mixed;boundary="boundary42"'


def test_3_1_1_12_and_13_reason_phrases() -> None:
    unusual = response(UNREASON)
    assert (unusual.status_code, unusual.reason) == (200, UNREASON_PHRASE)
    assert unusual.is_success
    empty = response(NOREASON)
    assert (empty.status_code, empty.reason) == (100, "")
    assert empty.is_provisional


# --- RFC 4475 §3.1.2: invalid messages -----------------------------------------------------------

INVALID = {
    "3.1.2.1 badinv01 empty Via params": (
        wire(
            "INVITE sip:user@example.com SIP/2.0",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=134161461246",
            "Max-Forwards: 7",
            "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
            'Contact: "Joe" <sip:joe@example.org>;;;;',
            "Content-Length: 152",
            "Content-Type: application/sdp",
            body=sdp_body("192.0.2.15", "192.0.2.15"),
        ),
        r"line 7: Via header: empty element 3",
    ),
    "3.1.2.2 clerr Content-Length larger than message": (
        wire(
            "INVITE sip:user@example.com SIP/2.0",
            "Max-Forwards: 80",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=93942939o2",
            "Contact: <sip:caller@hungry.example.net>",
            "Call-ID: clerr.0ha0isndaksdjweiafasdk3",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
            "Content-Type: application/sdp",
            "Content-Length: 9999",
            body=b"\r\n" + sdp_body("192.0.2.155", "192.0.2.155"),
        ),
        r"body is 156 bytes, shorter than Content-Length 9999",
    ),
    "3.1.2.3 ncl negative Content-Length": (
        wire(
            "INVITE sip:user@example.com SIP/2.0",
            "Max-Forwards: 254",
            "To: sip:j.user@example.com",
            "From: sip:caller@example.net;tag=32394234",
            "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
            "CSeq: 0 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
            "Contact: <sip:caller@example53.example.net>",
            "Content-Type: application/sdp",
            "Content-Length: -999",
            body=sdp_body("192.0.2.53", "192.0.2.53"),
        ),
        r"line 10: Content-Length header: Content-Length '-999' is not a non-negative integer",
    ),
    "3.1.2.4 scalar02 overlarge CSeq": (
        wire(
            "REGISTER sip:example.com SIP/2.0",
            "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
            "To: <sip:user@example.com>",
            "From: <sip:user@example.com>;tag=239232jh3",
            "CSeq: 36893488147419103232 REGISTER",
            "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
            "Max-Forwards: 300",
            "Expires: 1" + "0" * 100,
            "Contact: <sip:user@host129.example.com>",
            "  ;expires=280297596632815",
            "Content-Length: 0",
        ),
        r"line 5: CSeq header: .*2\*\*31 or more",
    ),
    "3.1.2.5 scalarlg overlarge response CSeq": (
        wire(
            "SIP/2.0 503 Service Unavailable",
            "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
            "To: <sip:user@example.com>",
            "From: <sip:other@example.net>;tag=2easdjfejw",
            "CSeq: 9292394834772304023312 OPTIONS",
            "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
            "Retry-After: 949302838503028349304023988",
            'Warning: 1812 overture "In Progress"',
            "Content-Length: 0",
        ),
        r"line 5: CSeq header",
    ),
    "3.1.2.6 quotbal unterminated quoted string": (
        wire(
            "INVITE sip:user@example.com SIP/2.0",
            'To: "Mr. J. User <sip:j.user@example.com>',
            "From: sip:caller@example.net;tag=93334",
            "Max-Forwards: 10",
            "Call-ID: quotbal.aksdj",
            "Contact: <sip:caller@host59.example.net>",
            "CSeq: 8 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
            "Content-Type: application/sdp",
            "Content-Length: 152",
            body=sdp_body("192.0.2.15", "192.0.2.15"),
        ),
        r"line 2: To header: unterminated quoted string starting at offset 0",
    ),
    "3.1.2.7 ltgtruri <> around Request-URI": (
        wire(
            "INVITE <sip:user@example.com> SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=39291",
            "Max-Forwards: 23",
            "Call-ID: ltgtruri.1@192.0.2.5",
            "CSeq: 1 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.5",
            "Content-Length: 0",
        ),
        r"Request-URI '<sip:user@example.com>' is not an absolute URI",
    ),
    "3.1.2.8 lwsruri LWS inside Request-URI": (
        wire(
            "INVITE sip:user@example.com; lr SIP/2.0",
            "To: sip:user@example.com;tag=3xfe-9921883-z9f",
            "From: sip:caller@example.net;tag=231413434",
            "Max-Forwards: 5",
            "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
            "CSeq: 2130706432 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
            "Content-Length: 0",
        ),
        r"found 4 SP-separated parts",
    ),
    "3.1.2.9 lwsstart multiple SP in request line": (
        wire(
            "INVITE  sip:user@example.com  SIP/2.0",
            "Max-Forwards: 8",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=8814",
            "Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
            "CSeq: 1893884 INVITE",
            "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
            "Content-Length: 0",
        ),
        r"found 5 SP-separated parts",
    ),
    "3.1.2.10 trws SP at end of request line": (
        wire(
            "OPTIONS sip:remote-target@example.com SIP/2.0  ",
            "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093",
            "To: <sip:remote-target@example.com>",
            "From: <sip:local-resource@example.com>;tag=329429089",
            "Call-ID: trws.oicu34958239neffasdhr2345r",
            "CSeq: 238923 OPTIONS",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ),
        r"start line: request line .* must be 'METHOD SP Request-URI SP SIP/2.0'",
    ),
    "3.1.2.11 escruri headers in Request-URI": (
        wire(
            "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:caller@example.net;tag=341518",
            "Max-Forwards: 7",
            "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
            "CSeq: 149209342 INVITE",
            "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
            "Content-Length: 0",
        ),
        r"must not carry URI headers",
    ),
    "3.1.2.13 regbadct URI with ? not in <>": (
        wire(
            "REGISTER sip:example.com SIP/2.0",
            "To: sip:user@example.com",
            "From: sip:user@example.com;tag=998332",
            "Max-Forwards: 70",
            "Call-ID: regbadct.k345asrl3fdbv@192.0.2.1",
            "CSeq: 1 REGISTER",
            "Via: SIP/2.0/UDP 192.0.2.133:5060;branch=z9hG4bKkdjuw",
            "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "l: 0",
        ),
        r"line 8: Contact header: .*a URI containing '\?' must be inside <...>",
    ),
    "3.1.2.14 badaspec spaces within addr-spec": (
        wire(
            "OPTIONS sip:user@example.org SIP/2.0",
            "Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
            "Max-Forwards: 70",
            'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
            'To: "Watson, Thomas" < sip:t.watson@example.org >',
            "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
            "CSeq: 3923239 OPTIONS",
            "l: 0",
        ),
        r"line 5: To header: .*whitespace inside <...>",
    ),
    "3.1.2.15 baddn non-token display name": (
        wire(
            "OPTIONS sip:t.watson@example.org SIP/2.0",
            "Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
            "Max-Forwards:      70",
            "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "To:      Watson, Thomas <sip:t.watson@example.org>",
            "Call-ID: baddn.31415@c.example.com",
            "CSeq:    3923239 OPTIONS",
            "l: 0",
        ),
        r"line 4: From header: .*non-token characters and must be quoted",
    ),
    "3.1.2.19 bigcode overlarge status code": (
        wire(
            "SIP/2.0 4294967301 better not break the receiver",
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
            "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
            "CSeq: 353494 INVITE",
            "Content-Length: 0",
        ),
        r"status code '4294967301' is not three digits",
    ),
    "mcl01 two Content-Length values": (
        wire(
            "OPTIONS sip:user@example.com SIP/2.0",
            "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
            "Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
            "CSeq: 15932 OPTIONS",
            "Content-Length: 13",
            "Max-Forwards: 60",
            "Content-Length: 5",
            body=b"There's no way to know how many octets are supposed to be here.\r\n",
        ),
        r"Content-Length appears 2 times \(13, 5\)",
    ),
}


@pytest.mark.parametrize(("data", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_torture_message_is_a_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(data)


def test_3_1_2_16_badvers_is_a_typed_version_error() -> None:
    data = wire(
        "OPTIONS sip:t.watson@example.org SIP/7.0",
        "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
        "Max-Forwards:     70",
        "Call-ID: badvers.31417@c.example.com",
        "CSeq:    1 OPTIONS",
        "l: 0",
    )
    with pytest.raises(UnsupportedVersionError, match=r"unsupported SIP version 'SIP/7.0'") as err:
        parse(data)
    assert err.value.version == "SIP/7.0"
    with pytest.raises(ValueError, match=r"'SIP/two' is not a SIP version"):
        parse(wire("OPTIONS sip:a@example.com SIP/two", "l: 0"))


def test_semantic_errors_are_not_parse_errors() -> None:
    """Missing Call-ID/From/To, CSeq method mismatch: syntax is fine, so parse() accepts them."""
    insufficient = request(
        wire(
            "INVITE sip:user@example.com SIP/2.0",
            "CSeq: 193942 INVITE",
            "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
            "l: 0",
        )
    )
    assert insufficient.call_id is None
    with pytest.raises(ValueError, match="message has no From header"):
        _ = insufficient.from_addr
    mismatch = request(wire("OPTIONS sip:user@example.com SIP/2.0", "CSeq: 8 INVITE", "l: 0"))
    assert mismatch.cseq.method != mismatch.method


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"INVITE sip:a@example.com SIP/2.0\r\nl: 0\r\n", "no blank line"),
        (b"", "no blank line"),
        (b"\r\n\r\n", "request line '' must be"),
        (wire("INVITE sip:a@example.com SIP/2.0", " folded: first"), "line 2: continuation line"),
        (wire("INVITE sip:a@example.com SIP/2.0", "NoColonHere"), "line 2: header line has no ':'"),
        (wire("INVITE sip:a@example.com SIP/2.0", "Bad Name: x"), "header name 'Bad Name'"),
        (wire("INVITE sip:a@example.com SIP/2.0", "X: a\nb"), r"line 2: bare '\\n'"),
        (wire("SIP/2.0 099 Low"), "status code 99 is outside 100-699"),
        (wire("SIP/2.0 20x OK"), "status code '20x' is not three digits"),
        (wire("SIP/2.0 200"), "needs 'SIP/2.0 code reason'"),
        (wire("SIP/2.0 200 O\x01K"), "control character"),
        (wire("INV@ITE sip:a@example.com SIP/2.0"), "method 'INV@ITE' is not a token"),
        (wire("INVITE sip:a@example.com:99999 SIP/2.0"), "port '99999'"),
        (wire("INVITE sip:a@[::1 SIP/2.0"), "no closing"),
        (wire("INVITE sip:a@[zz::1] SIP/2.0"), "'zz::1' is not an IPv6 address"),
        (wire("INVITE sip:a@example.com SIP/2.0", "Max-Forwards: 256"), "larger than 255"),
        (wire("INVITE sip:a@example.com SIP/2.0", "Content-Length: 1" + "0" * 12), "larger than"),
        (wire("INVITE sip:a@example.com SIP/2.0", "Via: SIP/2.0/UDP"), "Via header: Via"),
        (wire("INVITE sip:a@example.com SIP/2.0", "Route: "), "Route header: empty value"),
        (b"INVITE sip:a@example.com SIP/2.0\r\nX: \xff\r\n\r\n", "not UTF-8 \\(byte offset 37\\)"),
    ],
)
def test_malformed_messages_name_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(data)


# --- truncation loops ----------------------------------------------------------------------------


def _truncation_cases() -> dict[str, bytes]:
    cases = dict(VALID)
    invite = request(WSINV)
    cases["make_response 200"] = bytes(make_response(invite, 200, to_tag="abc"))
    return cases


@pytest.mark.parametrize("name", list(_truncation_cases()))
def test_every_prefix_is_incomplete_on_a_stream_and_an_error_in_a_datagram(name: str) -> None:
    data = _truncation_cases()[name]
    for end in range(len(data)):
        prefix = data[:end]
        assert parse_stream(prefix) is None, f"prefix of {end} bytes parsed on a stream"
        with pytest.raises(ValueError):  # noqa: PT011 - any ValueError; messages checked above
            parse(prefix)
    result = parse_stream(data)
    assert result is not None
    assert result[1] == len(data)
    assert bytes(result[0]) == data


def test_prefix_without_content_length_parses_or_raises_value_error() -> None:
    data = wire("MESSAGE sip:a@example.com SIP/2.0", "Call-ID: x", body=b"hello body")
    for end in range(len(data) + 1):
        try:
            message = parse(data[:end])
        except ValueError:
            continue
        assert data[:end].startswith(bytes(message))


# --- stream helper -------------------------------------------------------------------------------


def test_stream_reads_messages_one_at_a_time_and_skips_keepalive_crlfs() -> None:
    buffer = b"\r\n\r\n" + DBLREQ + NOREASON[:10]
    first = parse_stream(buffer)
    assert first is not None
    assert isinstance(first[0], SipRequest) and first[0].method == "REGISTER"
    assert first[1] == 4 + len(DBLREQ_FIRST)
    buffer = buffer[first[1] :]
    second = parse_stream(buffer)
    assert second is not None
    assert isinstance(second[0], SipRequest) and second[0].method == "INVITE"
    assert second[0].body == DBLREQ_TRAILER_BODY
    buffer = buffer[second[1] :]
    assert parse_stream(buffer) is None
    assert parse_stream(buffer + NOREASON[10:]) == (response(NOREASON), len(NOREASON))


def test_stream_requires_content_length_and_bounds_the_header() -> None:
    with pytest.raises(ValueError, match=r"Content-Length is required on stream transports"):
        parse_stream(wire("OPTIONS sip:a@example.com SIP/2.0", "Call-ID: x"))
    with pytest.raises(ValueError, match="no end of header section within 64 bytes"):
        parse_stream(
            b"OPTIONS sip:a@example.com SIP/2.0\r\n" + b"X: y\r\n" * 10, max_header_bytes=64
        )
    assert parse_stream(b"\r\n\r\n\r\n") is None


# --- helpers -------------------------------------------------------------------------------------


def test_headers_multimap_lookup_order_and_editing() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a.example.com"), ("v", "SIP/2.0/UDP b.example.com")])
    headers.add("Call-ID", "x@y")
    headers.prepend("VIA", "SIP/2.0/UDP top.example.com")
    assert headers.get_all("via") == [
        "SIP/2.0/UDP top.example.com",
        "SIP/2.0/UDP a.example.com",
        "SIP/2.0/UDP b.example.com",
    ]
    assert [h.name for h in headers] == ["VIA", "Via", "v", "Call-ID"]
    assert "i" in headers and "I" in headers and "Contact" not in headers
    headers.set("l", "0")
    headers.set("Content-Length", "5")
    assert headers.get_all("content-length") == ["5"]
    assert headers.remove("Via") == 3
    assert len(headers) == 2
    assert headers.get("Subject", "none") == "none"
    with pytest.raises(ValueError, match="header name 'Bad Name' is not a token"):
        headers.add("Bad Name", "x")
    with pytest.raises(ValueError, match="contains CR or LF"):
        headers.add("X", "a\r\nInjected: 1")


def test_split_header_values_respects_quotes_and_angle_brackets() -> None:
    value = '"Doe, John" <sip:a@example.com;x=1,2>;q=0.5 , <sip:b@example.com>,sip:c@example.com'
    assert sip.split_header_values(value) == [
        '"Doe, John" <sip:a@example.com;x=1,2>;q=0.5',
        "<sip:b@example.com>",
        "sip:c@example.com",
    ]
    assert sip.split_header_values("  ") == []
    with pytest.raises(ValueError, match="empty element 2"):
        sip.split_header_values("a,,b")
    with pytest.raises(ValueError, match="unterminated quoted string"):
        sip.split_header_values('"open, b')
    with pytest.raises(ValueError, match="'<' at offset 0 has no matching '>'"):
        sip.split_header_values("<sip:a@example.com, b")


def test_via_parse_and_serialize() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKabc;rport;received=192.0.2.7")
    assert (via.transport, via.host, via.port) == ("UDP", "2001:db8::9", 5070)
    assert via.branch == "z9hG4bKabc" and via.is_rfc3261_branch
    assert via.rport_requested and via.rport is None
    assert via.received == "192.0.2.7"
    assert str(via) == "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKabc;rport;received=192.0.2.7"
    filled = Via.parse("SIP/2.0/TCP host.example.com ; RPORT = 5062")
    assert filled.rport == 5062 and filled.port is None
    built = Via("TLS", "proxy.example.com", 5061, {"branch": "z9hG4bK1"})
    assert Via.parse(str(built)) == built
    with pytest.raises(ValueError, match="port 'x'"):
        Via.parse("SIP/2.0/UDP host;rport=x")
    with pytest.raises(ValueError, match=r"expected 'SIP/2\.0/TRANSPORT"):
        Via.parse("SIP/2.0 host")
    with pytest.raises(ValueError, match="parameter 'branch' has '=' but no value"):
        Via.parse("SIP/2.0/UDP host;branch=")


def test_sip_uri_parse_and_serialize() -> None:
    uri = SipUri.parse("SIPS:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x=")
    assert uri.scheme == "sips"
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "2001:db8::1", 5061)
    assert uri.params == {"transport": "tcp", "lr": None}
    assert uri.transport == "tcp"
    assert uri.headers == {"subject": "hi", "x": ""}
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x="
    assert str(SipUri.parse("sip:example.com")) == "sip:example.com"
    assert SipUri("192.0.2.1", "34020000001320000001", port=5060).to_string() == (
        "sip:34020000001320000001@192.0.2.1:5060"
    )
    for bad, message in [
        ("tel:+123", "scheme must be sip or sips"),
        ("sip:@example.com", "user part '' is empty"),
        ("sip:a b@example.com", "contains whitespace"),
        ("sip:a@example.com;", "URI parameter '' is empty"),
        ("sip:a@exa mple.com", "whitespace"),
        ("sip:a@", "host is empty"),
        ("sip:a@ex!ample", "not a valid host"),
        ("sip:a@example.com?h", "is not hname=hvalue"),
    ]:
        with pytest.raises(ValueError, match=message):
            SipUri.parse(bad)


def test_name_addr_parse_and_serialize() -> None:
    addr = NameAddr.parse(' "A \\"B\\" C"  <sip:a@example.com;transport=udp> ;tag=x1;expires=60 ')
    assert addr.display_name == 'A "B" C'
    assert addr.uri == "sip:a@example.com;transport=udp"
    assert addr.params == {"tag": "x1", "expires": "60"}
    assert str(addr) == '"A \\"B\\" C" <sip:a@example.com;transport=udp>;tag=x1;expires=60'
    assert NameAddr.parse(str(addr)) == addr
    bare = NameAddr.parse("sip:a@example.com;tag=9")
    assert (bare.uri, bare.tag, bare.display_name) == ("sip:a@example.com", "9", None)
    assert NameAddr.parse("<urn:service:sos>").uri == "urn:service:sos"
    with pytest.raises(ValueError, match="quoted display name must be followed by <URI>"):
        NameAddr.parse('"Name" sip:a@example.com')
    with pytest.raises(ValueError, match="is not an absolute URI"):
        NameAddr.parse("<not a uri>")


def test_cseq_parse() -> None:
    assert CSeq.parse(" 0009 \t INVITE ") == CSeq(9, "INVITE")
    assert str(CSeq(2**31 - 1, "BYE")) == "2147483647 BYE"
    for bad, message in [
        ("1", "expected 'number METHOD'"),
        ("x INVITE", "not an integer"),
        ("2147483648 INVITE", "2\\*\\*31 or more"),
        ("1 IN@VITE", "not a token"),
    ]:
        with pytest.raises(ValueError, match=message):
            CSeq.parse(bad)


def test_make_response_copies_the_dialog_headers() -> None:
    invite = request(
        wire(
            "INVITE sip:decoder@example.com SIP/2.0",
            "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP ua.example.com",
            "v: SIP/2.0/TCP origin.example.com;branch=z9hG4bK0",
            "Record-Route: <sip:proxy.example.com;lr>",
            "From: <sip:platform@example.com>;tag=f1",
            "To: <sip:decoder@example.com>",
            "Call-ID: call-1@example.com",
            "CSeq: 20 INVITE",
            "Max-Forwards: 69",
            "Content-Length: 0",
        )
    )
    ok = make_response(invite, sip.STATUS_OK, to_tag="t9")
    assert ok.reason == "OK"
    assert ok.headers.get_all("Via") == invite.headers.get_all("Via")
    assert [h.name for h in ok.headers] == [
        "Via",
        "v",
        "Record-Route",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Content-Length",
    ]
    assert ok.to_addr.tag == "t9"
    assert ok.from_addr.tag == "f1"
    assert (ok.call_id, ok.cseq) == ("call-1@example.com", CSeq(20, "INVITE"))
    assert ok.content_length == 0
    assert parse(bytes(ok)) == ok
    busy = make_response(invite, sip.STATUS_BUSY_HERE, to_tag="t9")
    assert busy.reason == "Busy Here" and "Record-Route" not in busy.headers
    trying = make_response(invite, sip.STATUS_TRYING)
    assert trying.to_addr.tag is None
    retagged = bytes(invite).replace(b"<sip:decoder@example.com>", b"<sip:d@example.com>;tag=old")
    tagged = make_response(request(retagged), 200, to_tag="new")
    assert tagged.to_addr.tag == "old"
    assert make_response(invite, 299, "Custom").start_line() == "SIP/2.0 299 Custom"
    with pytest.raises(ValueError, match="status code 700 is outside 100-699"):
        make_response(invite, 700)


def test_set_body_updates_content_length_and_type() -> None:
    message = SipRequest("MESSAGE", "sip:a@example.com", Headers([("Call-ID", "c")]))
    message.set_body(b"<xml/>", "Application/MANSCDP+xml")
    assert bytes(message) == wire(
        "MESSAGE sip:a@example.com SIP/2.0",
        "Call-ID: c",
        "Content-Type: Application/MANSCDP+xml",
        "Content-Length: 6",
        body=b"<xml/>",
    )


def test_fresh_identifiers() -> None:
    branches = {sip.new_branch() for _ in range(50)}
    assert len(branches) == 50
    assert all(b.startswith("z9hG4bK") and sip.is_token(b) for b in branches)
    assert len({sip.new_tag() for _ in range(50)}) == 50
    assert sip.new_call_id("example.com").endswith("@example.com")
    assert "@" not in sip.new_call_id()


# --- properties ----------------------------------------------------------------------------------

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_ALPHABET, min_size=1, max_size=12)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
hosts = st.one_of(
    st.lists(labels, min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
ports = st.none() | st.integers(0, 65535)
param_names = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
param_values = st.none() | st.text(TOKEN_ALPHABET, min_size=1, max_size=8)
uri_param_values = st.none() | st.text(
    "abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()[]/:&+$", min_size=1, max_size=8
)
uri_params = st.dictionaries(param_names, uri_param_values, max_size=3)
header_params = st.dictionaries(param_names, param_values, max_size=3)
sip_uris = st.builds(
    SipUri,
    host=hosts,
    user=st.none()
    | st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$,;?/", min_size=1, max_size=12),
    port=ports,
    params=uri_params,
    scheme=st.sampled_from(["sip", "sips"]),
)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"]),
    host=hosts,
    port=ports,
    params=header_params,
)
display_names = st.none() | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
)
name_addrs = st.builds(
    NameAddr, uri=sip_uris.map(str), display_name=display_names, params=header_params
)
header_values = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30
).map(str.strip)
unvalidated_names = tokens.filter(
    lambda n: (
        sip.header_key(n)
        not in {
            "via",
            "from",
            "to",
            "contact",
            "route",
            "record-route",
            "cseq",
            "content-length",
            "max-forwards",
        }
    )
)


@st.composite
def messages(draw: st.DrawFn) -> SipRequest | SipResponse:
    headers = Headers()
    for via in draw(st.lists(vias, min_size=1, max_size=3)):
        headers.add(draw(st.sampled_from(["Via", "v", "VIA"])), str(via))
    headers.add("From", str(draw(name_addrs)))
    headers.add("To", str(draw(name_addrs)))
    headers.add("Call-ID", draw(tokens))
    headers.add("CSeq", str(CSeq(draw(st.integers(0, 2**31 - 1)), draw(tokens))))
    for name, value in draw(st.lists(st.tuples(unvalidated_names, header_values), max_size=5)):
        headers.add(name, value)
    body = draw(st.binary(max_size=64))
    headers.add(draw(st.sampled_from(["Content-Length", "l"])), str(len(body)))
    if draw(st.booleans()):
        return SipRequest(draw(tokens), str(draw(sip_uris)), headers, body)
    code = draw(st.integers(100, 699))
    reason = draw(header_values)
    return SipResponse(code, reason, headers, body)


# Property tests take the active profile's example count, capped at 40 (the ci profile) so the
# folder stays fast when run without the project plugin (hypothesis' default is 100); no deadline,
# so a loaded machine cannot make them flaky.
PROPERTY = settings(max_examples=min(settings().max_examples, 40), deadline=None)


@PROPERTY
@given(messages())
def test_property_canonical_messages_round_trip(message: SipRequest | SipResponse) -> None:
    data = bytes(message)
    parsed = parse(data)
    assert parsed == message
    assert bytes(parsed) == data
    assert parse_stream(data + b"OPTIONS") == (message, len(data))


@PROPERTY
@given(sip_uris)
def test_property_sip_uri_round_trips(uri: SipUri) -> None:
    assert SipUri.parse(str(uri)) == uri
    assert str(SipUri.parse(str(uri))) == str(uri)


@PROPERTY
@given(vias)
def test_property_via_round_trips(via: Via) -> None:
    assert Via.parse(str(via)) == via


@PROPERTY
@given(name_addrs)
def test_property_name_addr_round_trips(addr: NameAddr) -> None:
    assert NameAddr.parse(str(addr)) == addr


@settings(parent=PROPERTY, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(VALID.values())), st.data())
def test_property_mutated_messages_parse_or_raise_value_error(
    data: bytes, draw: st.DataObject
) -> None:
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        position = draw.draw(st.integers(0, len(mutated) - 1))
        action = draw.draw(st.sampled_from(["flip", "delete", "insert"]))
        byte = draw.draw(st.sampled_from(b' \t\r\n:;,<>"\\@=/%\x00\xff0aZ'))
        if action == "flip":
            mutated[position] = byte
        elif action == "delete":
            del mutated[position]
        else:
            mutated.insert(position, byte)
    try:
        message = parse(bytes(mutated))
    except ValueError:
        return
    assert isinstance(message, (SipRequest, SipResponse))
    parse(bytes(message))  # what parsed re-serializes to something that parses


@PROPERTY
@given(st.binary(max_size=200))
def test_property_random_bytes_parse_or_raise_value_error(data: bytes) -> None:
    for candidate in (data, b"INVITE sip:a@example.com SIP/2.0\r\n" + data):
        with contextlib.suppress(ValueError):
            parse(candidate)
        with contextlib.suppress(ValueError):
            parse_stream(candidate)


# --- request builders (RFC 3261 §8.1.1, §9.1, §17.1.1.3) ----------------------------------------

DEVICE_URI = "sip:dec@192.0.2.10:5060"


def built_invite(**overrides: object) -> SipRequest:
    """An INVITE from make_request with fixed identifiers; `overrides` replace keyword args."""
    arguments: dict[str, object] = {
        "sent_by": ("192.0.2.1", 5062),
        "from_uri": "sip:caller@192.0.2.1",
        "from_tag": "ft1",
        "to_uri": DEVICE_URI,
        "call_id": "call-1@192.0.2.1",
        "cseq": 1,
        "branch": "z9hG4bKinv1",
        **overrides,
    }
    return sip.make_request(sip.METHOD_INVITE, DEVICE_URI, **arguments)  # type: ignore[arg-type]


def test_make_request_writes_every_header_in_order_byte_exactly() -> None:
    built = sip.make_request(
        sip.METHOD_INVITE,
        DEVICE_URI,
        sent_by="192.0.2.1:5062",
        transport="udp",
        from_uri='"Camera 1" <sip:caller@192.0.2.1>',
        from_tag="ft1",
        to_uri=DEVICE_URI,
        call_id="call-1@192.0.2.1",
        cseq=7,
        branch="z9hG4bKabc",
        contact="sip:caller@192.0.2.1:5062",
        routes=["sip:p1.example.com;lr", "<sip:p2.example.com;lr>"],
        headers=[("User-Agent", "ua/1"), ("Allow", "INVITE, ACK, BYE")],
        body=b"v=0\r\n",
    )
    data = wire(
        "INVITE sip:dec@192.0.2.10:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKabc;rport",
        "Max-Forwards: 70",
        "Route: <sip:p1.example.com;lr>",
        "Route: <sip:p2.example.com;lr>",
        'From: "Camera 1" <sip:caller@192.0.2.1>;tag=ft1',
        "To: <sip:dec@192.0.2.10:5060>",
        "Call-ID: call-1@192.0.2.1",
        "CSeq: 7 INVITE",
        "Contact: <sip:caller@192.0.2.1:5062>",
        "User-Agent: ua/1",
        "Allow: INVITE, ACK, BYE",
        "Content-Type: application/sdp",
        "Content-Length: 5",
        body=b"v=0\r\n",
    )
    assert bytes(built) == data
    parsed = parse(data)
    assert parsed == built
    assert bytes(parsed) == data


def test_make_request_minimal_out_of_dialog_request() -> None:
    options = sip.make_request(
        sip.METHOD_OPTIONS,
        DEVICE_URI,
        sent_by=("2001:db8::1", 5070),
        transport="TCP",
        from_uri="sip:conformance@example.com",
        from_tag="f",
        to_uri=DEVICE_URI,
        call_id="c1",
        cseq=1,
        rport=False,
    )
    assert [h.name for h in options.headers] == [
        "Via",
        "Max-Forwards",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Content-Length",
    ]
    via = options.vias[0]
    assert (via.transport, via.host, via.port) == ("TCP", "2001:db8::1", 5070)
    assert (options.headers.get("Via") or "").startswith("SIP/2.0/TCP [2001:db8::1]:5070;branch=")
    assert not via.rport_requested and via.is_rfc3261_branch
    assert options.to_addr.tag is None and options.content_type is None
    assert options.content_length == 0 and options.body == b""
    assert parse(bytes(options)) == options
    host_only = built_invite(sent_by="ua.example.com").vias[0]
    assert (host_only.host, host_only.port, host_only.rport_requested) == (
        "ua.example.com",
        None,
        True,
    )


def test_make_request_in_dialog_addresses_and_tags() -> None:
    bye = sip.make_request(
        sip.METHOD_BYE,
        "sip:dec@192.0.2.10:5060;transport=udp",
        sent_by=("192.0.2.1", 5062),
        from_uri="sip:caller@192.0.2.1;user=phone",  # bare: the ;param stays inside <>
        from_tag="ft1",
        to_uri="Decoder <sip:dec@192.0.2.10>",  # a name-addr is kept as written
        to_tag="dev9",
        call_id="call-1@192.0.2.1",
        cseq=2,
    )
    assert bye.headers.get("From") == "<sip:caller@192.0.2.1;user=phone>;tag=ft1"
    assert bye.headers.get("To") == "Decoder <sip:dec@192.0.2.10>;tag=dev9"
    assert (bye.from_addr.tag, bye.to_addr.tag) == ("ft1", "dev9")
    kept = built_invite(to_uri="<sip:dec@192.0.2.10>;tag=already")
    assert kept.to_addr.tag == "already"
    star = built_invite(contact="*")
    assert star.contact_is_star


def test_make_request_cseq_and_branch_rules() -> None:
    for number in (0, 1, sip.MAX_CSEQ):
        request_ = sip.make_request(
            sip.METHOD_REGISTER,
            "sip:registrar.example.com",
            sent_by="192.0.2.1:5062",
            from_uri="sip:a@example.com",
            from_tag="t",
            to_uri="sip:a@example.com",
            call_id="reg",
            cseq=number,
        )
        assert request_.headers.get("CSeq") == f"{number} REGISTER"
        assert request_.cseq == CSeq(number, sip.METHOD_REGISTER)
    fresh = {built_invite(branch=None).vias[0].branch for _ in range(20)}
    assert len(fresh) == 20 and all(b and b.startswith(sip.BRANCH_MAGIC_COOKIE) for b in fresh)
    assert built_invite(branch="z9hG4bKmine").vias[0].branch == "z9hG4bKmine"
    assert built_invite(branch="rfc2543-style").vias[0].branch == "rfc2543-style"  # kept as given


def test_make_request_content_type() -> None:
    sdp = built_invite(body=b"v=0\r\n")
    assert sdp.content_type == "application/sdp" and sdp.content_length == 5
    xml = built_invite(body=b"<x/>", content_type="Application/MANSCDP+xml")
    assert xml.content_type == "Application/MANSCDP+xml" and xml.body == b"<x/>"
    empty = built_invite(content_type="application/sdp")
    assert empty.content_type == "application/sdp" and empty.content_length == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cseq": -1}, r"CSeq number -1 is outside 0\.\.2\*\*31-1"),
        ({"cseq": 2**31}, r"CSeq number 2147483648 is outside"),
        ({"max_forwards": 256}, "Max-Forwards 256 is outside 0-255"),
        ({"call_id": "has space"}, "Call-ID 'has space' is not word"),
        ({"call_id": ""}, "Call-ID '' is not word"),
        ({"from_tag": "a;b"}, "From: tag 'a;b' is not a token"),
        ({"to_tag": ""}, "To: tag '' is not a token"),
        ({"from_uri": "<sip:a@example.com>;tag=x"}, "From: .* already has a tag"),
        ({"to_uri": "not a uri"}, "To: .*is not an absolute URI"),
        ({"contact": "sip:a@bad host"}, "Contact: "),
        ({"routes": ["<sip:p.example.com;lr"]}, "Route: "),
        ({"branch": "z9hG4bK1;received=x"}, "Via branch .* is not a token"),
        ({"branch": ""}, "Via branch '' is not a token"),
        ({"transport": "U D P"}, "Via transport 'U D P' is not a token"),
        ({"sent_by": "192.0.2.1:99999"}, "sent-by: port '99999'"),
        ({"sent_by": ("bad host", 5060)}, "sent-by: 'bad host' is not a valid host"),
        ({"sent_by": ("192.0.2.1", -1)}, "sent-by: port '-1'"),
        ({"headers": [("Via", "SIP/2.0/UDP x")]}, "extra header 'Via' is written by"),
        ({"headers": [("l", "0")]}, "extra header 'l' is written by"),
        ({"headers": [("Route", "<sip:x>")]}, "extra header 'Route' is written by"),
        ({"headers": [("X-Bad", "a\r\nb")]}, "contains CR or LF"),
    ],
)
def test_make_request_rejects_bad_arguments(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        built_invite(**overrides)


def test_make_request_rejects_a_bad_method_or_request_uri() -> None:
    kwargs: dict[str, object] = {
        "sent_by": "192.0.2.1",
        "from_uri": "sip:a@example.com",
        "from_tag": "t",
        "to_uri": "sip:b@example.com",
        "call_id": "c",
        "cseq": 1,
    }
    for method, uri, message in [
        ("IN VITE", DEVICE_URI, "method 'IN VITE' is not a token"),
        ("INVITE", "dec@192.0.2.10", "is not an absolute URI"),
        ("INVITE", "sip:dec@192.0.2.10?Subject=x", "must not carry URI headers"),
        ("INVITE", "sip:dec@", "host is empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            sip.make_request(method, uri, **kwargs)  # type: ignore[arg-type]


PROXIED_INVITE = wire(
    "INVITE sip:dec@192.0.2.10:5060 SIP/2.0",
    "v: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKinv7;rport, SIP/2.0/UDP 192.0.2.99",
    "Via: SIP/2.0/TCP 192.0.2.98;branch=z9hG4bKold",
    "Max-Forwards: 12",
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
    "Route: <sip:p3.example.com;lr>",
    'f: "Cam" <sip:caller@192.0.2.1>;tag=ft7',
    "t: <sip:dec@192.0.2.10:5060>",
    "i: call-7@192.0.2.1",
    "CSeq: 31 INVITE",
    "Contact: <sip:caller@192.0.2.1:5062>",
    "Content-Type: application/sdp",
    "Content-Length: 5",
    body=b"v=0\r\n",
)


def test_ack_for_non_2xx_copies_routes_top_via_and_the_response_to() -> None:
    invite = request(PROXIED_INVITE)
    busy = make_response(invite, sip.STATUS_BUSY_HERE, to_tag="dev1")
    ack = sip.make_ack_for_non_2xx(invite, busy)
    data = wire(
        "ACK sip:dec@192.0.2.10:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKinv7;rport",
        "Max-Forwards: 70",
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        "Route: <sip:p3.example.com;lr>",
        'From: "Cam" <sip:caller@192.0.2.1>;tag=ft7',
        "To: <sip:dec@192.0.2.10:5060>;tag=dev1",
        "Call-ID: call-7@192.0.2.1",
        "CSeq: 31 ACK",
        "Content-Length: 0",
    )
    assert bytes(ack) == data
    assert parse(data) == ack
    assert ack.vias[0].branch == invite.vias[0].branch  # same transaction
    assert ack.headers.get_list("Route") == invite.headers.get_list("Route")
    for code in (300, 407, 487, 699):
        assert sip.make_ack_for_non_2xx(invite, make_response(invite, code)).cseq == CSeq(
            31, sip.METHOD_ACK
        )


def test_ack_for_a_built_invite_without_routes() -> None:
    invite = built_invite()
    ack = sip.make_ack_for_non_2xx(invite, make_response(invite, 488, to_tag="x"))
    assert "Route" not in ack.headers
    assert (ack.uri, ack.call_id, ack.to_addr.tag) == (invite.uri, invite.call_id, "x")
    assert ack.headers.get("From") == invite.headers.get("From")


def test_ack_for_non_2xx_refuses_what_it_cannot_acknowledge() -> None:
    invite = request(PROXIED_INVITE)
    cases: list[tuple[SipRequest, SipResponse, str]] = [
        (invite, make_response(invite, 200, to_tag="t"), "200 is not a 3xx-6xx final"),
        (invite, make_response(invite, 180, to_tag="t"), "180 is not a 3xx-6xx final"),
        (built_invite(), make_response(invite, 486), "does not answer this INVITE"),
    ]
    other_cseq = make_response(invite, 486)
    other_cseq.headers.set("CSeq", "32 INVITE")
    cases.append((invite, other_cseq, "does not answer this INVITE"))
    bye = built_invite()
    bye.method = sip.METHOD_BYE
    cases.append((bye, make_response(bye, 486), "BYE is not an INVITE"))
    for original, answer, message in cases:
        with pytest.raises(ValueError, match=message):
            sip.make_ack_for_non_2xx(original, answer)


def test_cancel_matches_the_invite_transaction() -> None:
    invite = request(PROXIED_INVITE)
    cancel = sip.make_cancel(invite)
    data = wire(
        "CANCEL sip:dec@192.0.2.10:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKinv7;rport",
        "Max-Forwards: 70",
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        "Route: <sip:p3.example.com;lr>",
        'From: "Cam" <sip:caller@192.0.2.1>;tag=ft7',
        "To: <sip:dec@192.0.2.10:5060>",
        "Call-ID: call-7@192.0.2.1",
        "CSeq: 31 CANCEL",
        "Content-Length: 0",
    )
    assert bytes(cancel) == data
    assert parse(data) == cancel
    built = built_invite(routes=["sip:p.example.com;lr"])
    built_cancel = sip.make_cancel(built)
    assert built_cancel.to_addr.tag is None
    assert built_cancel.headers.get_all("Via") == built.headers.get_all("Via")
    assert built_cancel.headers.get_all("Route") == ["<sip:p.example.com;lr>"]
    assert built_cancel.cseq == CSeq(built.cseq.number, sip.METHOD_CANCEL)


def test_cancel_refuses_non_invites_and_broken_invites() -> None:
    options = built_invite()
    options.method = sip.METHOD_OPTIONS
    with pytest.raises(ValueError, match="only an INVITE is cancelled, not OPTIONS"):
        sip.make_cancel(options)
    mismatched = built_invite()
    mismatched.headers.set("CSeq", "1 BYE")
    with pytest.raises(ValueError, match="CSeq method BYE differs from INVITE"):
        sip.make_cancel(mismatched)
    no_via = built_invite()
    no_via.headers.remove("Via")
    with pytest.raises(ValueError, match="make_cancel has no Via header"):
        sip.make_cancel(no_via)


@PROPERTY
@given(
    method=tokens,
    uri=sip_uris,
    host=hosts,
    port=st.integers(0, 65535),
    tags=st.tuples(tokens, st.none() | tokens),
    cseq=st.integers(0, sip.MAX_CSEQ),
    body=st.binary(max_size=32),
)
def test_property_built_requests_round_trip(
    *,
    method: str,
    uri: SipUri,
    host: str,
    port: int,
    tags: tuple[str, str | None],
    cseq: int,
    body: bytes,
) -> None:
    built = sip.make_request(
        method,
        str(uri),
        sent_by=(host, port),
        from_uri=str(uri),
        from_tag=tags[0],
        to_uri=str(uri),
        to_tag=tags[1],
        call_id=f"{tags[0]}@{host}" if ":" not in host else tags[0],
        cseq=cseq,
        body=body,
    )
    data = bytes(built)
    assert parse(data) == built
    assert built.cseq == CSeq(cseq, method)
    assert (built.from_addr.tag, built.to_addr.tag) == tags
    assert (built.vias[0].host, built.vias[0].port) == (host, port)
