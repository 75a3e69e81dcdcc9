"""Self-checks of the independent platform's parts, against the RFCs and an outside demuxer.

Digest against RFC 2617 §3.5's worked example; the PS muxer against FFmpeg's MPEG-PS demuxer and
H.264 decoder (through PyAV), which know nothing of this code; the registrar and keepalive sink
against a scripted device on a loopback socket.
"""

from __future__ import annotations

import io
import re
import socket
import time

import av
import pytest

from tests.independent_gb import platform as gb

DEVICE = "34020000001140000001"


def test_digest_matches_rfc2617_worked_example() -> None:
    # RFC 2617 §3.5: "Circle Of Life", qop=auth, nc=00000001, cnonce 0a4f113b.
    response = gb.digest_response(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"
    header = (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
        'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    fields = gb.parse_digest(header)
    assert fields["qop"] == "auth" and fields["nc"] == "00000001"
    assert gb.digest_ok(fields, "Circle Of Life", "GET")
    assert not gb.digest_ok(fields, "wrong", "GET")


def test_digest_without_qop_is_the_rfc2069_form() -> None:
    ha1 = gb._md5("u:r:p")
    ha2 = gb._md5("REGISTER:sip:x@y")
    expected = gb._md5(f"{ha1}:n:{ha2}")
    assert gb.digest_response("u", "r", "p", method="REGISTER", uri="sip:x@y", nonce="n") == (
        expected
    )


def test_sip_parse_compact_folded_and_content_length() -> None:
    data = (
        b"MESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h:1;branch=z9hG4bK1, SIP/2.0/UDP h:2\r\n"
        b"f: <sip:x@d>;tag=9\r\nt: <sip:y@d>\r\ni: c1\r\nCSeq: 7\r\n MESSAGE\r\n"
        b"l: 3\r\n\r\nabcdef"
    )
    msg = gb.parse_sip(data)
    assert msg.method == "MESSAGE" and msg.uri == "sip:a@b"
    assert msg.all("Via") == ["SIP/2.0/UDP h:1;branch=z9hG4bK1", "SIP/2.0/UDP h:2"]
    assert msg.branch == "z9hG4bK1" and msg.cseq == (7, "MESSAGE") and msg.call_id == "c1"
    assert gb.param(msg.get("From") or "", "tag") == "9" and msg.body == b"abc"
    response = gb.parse_sip(gb.build_response(msg, 200, "OK", to_tag="t1"))
    assert response.status == 200 and response.method == "MESSAGE"
    assert gb.param(response.get("To") or "", "tag") == "t1"
    assert response.all("Via") == msg.all("Via")


def test_uri_helpers() -> None:
    assert gb.uri_parts("sip:34020000002000000001@127.0.0.1:5060") == (
        "34020000002000000001",
        "127.0.0.1",
        5060,
    )
    assert gb.uri_parts(gb.uri_of('"d" <sip:1@3402000000>;tag=x')) == ("1", "3402000000", None)
    assert gb.host_form("127.0.0.1:5060", "3402000000") == "ip:port"
    assert gb.host_form("3402000000", "3402000000") == "domain"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", gb.gb_date())


def test_manscdp_query_is_gb2312_with_child_elements() -> None:
    body = gb.manscdp_query("Catalog", 17, DEVICE)
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    read = gb.read_manscdp(body)
    assert read.root == "Query" and read.cmd_type == "Catalog" and read.sn == 17
    assert read.fields["DeviceID"] == DEVICE and read.decodes


def test_manscdp_reads_by_declaration_and_sees_a_mismatch() -> None:
    xml = (
        '<?xml version="1.0" encoding="GB2312"?>\n<Response><CmdType>Catalog</CmdType>'
        f"<SN>3</SN><DeviceID>{DEVICE}</DeviceID><SumNum>1</SumNum>"
        '<DeviceList Num="1"><Item><DeviceID>34020000001330000001</DeviceID>'
        "<Name>解码输出一</Name><Status>ON</Status></Item></DeviceList></Response>"
    )
    good = gb.read_manscdp(xml.encode("gb2312"))
    assert good.decodes and good.sn == 3 and good.fields["SumNum"] == "1"
    assert good.items() == [
        {"DeviceID": "34020000001330000001", "Name": "解码输出一", "Status": "ON"}
    ]
    assert good.list_num() == 1
    utf8_bytes = gb.read_manscdp(xml.encode("utf-8"))  # declared GB2312, sent as UTF-8
    assert utf8_bytes.declared == "GB2312" and not utf8_bytes.decodes
    undeclared = gb.read_manscdp(xml.split("\n", 1)[1].encode("utf-8"))
    assert undeclared.declared is None and undeclared.decodes


def test_sdp_offer_and_answer() -> None:
    offer = (
        b"v=0\r\no=34020000001140000001 0 0 IN IP4 127.0.0.1\r\ns=Play\r\n"
        b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 9010 RTP/AVP 96 98\r\na=recvonly\r\n"
        b"a=rtpmap:96 PS/90000\r\na=rtpmap:98 H264/90000\r\ny=0200000001\r\n"
    )
    sdp = gb.parse_sdp(offer)
    assert (sdp.port, sdp.direction, sdp.address, sdp.y) == (
        9010,
        "recvonly",
        "127.0.0.1",
        "0200000001",
    )
    assert gb.ps_payload_type(sdp) == "96"
    answer = gb.parse_sdp(gb.answer_sdp(gb.SOURCE_ID, "127.0.0.1", 4000, "96", "0200000001"))
    assert answer.direction == "sendonly" and answer.y == "0200000001" and answer.port == 4000
    assert answer.rtpmap == {"96": "PS/90000"}
    assert gb.live_ssrc(gb.PLATFORM_ID, 1) == "0200000001"


def test_crc32_mpeg2_check_value_and_psm_crc() -> None:
    assert gb._crc32_mpeg(b"123456789") == 0x0376E6E7  # CRC-32/MPEG-2 check value
    psm = gb.program_stream_map()
    assert gb._crc32_mpeg(psm) == 0  # the CRC over the section with its CRC is zero
    assert psm[4:6] == (len(psm) - 6).to_bytes(2, "big")


@pytest.fixture(scope="module")
def frames() -> list[gb.Frame]:
    return gb.encode_h264(50, fps=25)


def test_encoded_frames_start_with_an_idr_once_a_second(frames: list[gb.Frame]) -> None:
    assert len(frames) == 50
    assert [i for i, f in enumerate(frames) if f.keyframe] == [0, 25]
    assert frames[0].data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))


def test_cbr_padding_tracks_the_target(frames: list[gb.Frame]) -> None:
    padded = gb.cbr_frames(frames, 1000, 25)
    per_second = [sum(len(f.data) for f in padded[s * 25 : (s + 1) * 25]) for s in range(2)]
    for total in per_second:
        assert abs(total * 8 / 1000 - 1000) < 2
    assert all(f.keyframe == g.keyframe for f, g in zip(frames, padded, strict=True))


def test_ps_packs_demux_and_decode_with_ffmpeg(frames: list[gb.Frame]) -> None:
    padded = gb.cbr_frames(frames, 1000, 25)
    packs = [gb.ps_pack(f.data, 3600 + i * 3600, f.keyframe) for i, f in enumerate(padded)]
    for pack, frame in zip(packs, padded, strict=True):
        assert pack.startswith(b"\x00\x00\x01\xba")
        assert (b"\x00\x00\x01\xbb" in pack[:40]) == frame.keyframe
        assert (b"\x00\x00\x01\xbc" in pack[:60]) == frame.keyframe
    container = av.open(io.BytesIO(b"".join(packs)), format="mpeg")
    try:
        [stream] = container.streams.video
        assert stream.codec_context.name == "h264"
        pts = []
        decoded = 0
        for packet in container.demux(stream):
            if packet.size:
                pts.append(packet.pts)
            decoded += len(packet.decode())
    finally:
        container.close()
    assert pts == [3600 + i * 3600 for i in range(50)]
    assert decoded == 50


def test_large_frame_spans_several_pes_packets() -> None:
    es = b"\x00\x00\x00\x01\x09\xf0" + b"\x11" * 150_000
    pack = gb.ps_pack(es, 9000, keyframe=False)
    assert pack.count(b"\x00\x00\x01\xe0") == 3
    container = av.open(io.BytesIO(pack + gb.pack_header(0)), format="mpeg")
    try:
        total = sum(p.size for p in container.demux() if p.size)
    finally:
        container.close()
    assert total == len(es)


def test_rtp_split_shares_the_timestamp_and_marks_the_last() -> None:
    payload = bytes(range(256)) * 20
    packets = gb.rtp_packets(payload, seq=65534, timestamp=123, ssrc=200000001, pt=96)
    assert len(packets) == 4
    assert [int.from_bytes(p[2:4], "big") for p in packets] == [65534, 65535, 0, 1]
    assert {p[4:8] for p in packets} == {(123).to_bytes(4, "big")}
    assert {int.from_bytes(p[8:12], "big") for p in packets} == {200000001}
    assert [p[1] >> 7 for p in packets] == [0, 0, 0, 1]
    assert {p[1] & 0x7F for p in packets} == {96}
    assert b"".join(p[12:] for p in packets) == payload


# --- the platform against a scripted device on loopback -----------------------------------------


class ScriptedDevice:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def receive(self) -> gb.SipMsg:
        data, _ = self.sock.recvfrom(65535)
        return gb.parse_sip(data)

    def register(self, port: int, cseq: int, authorization: str = "") -> gb.SipMsg:
        headers = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={gb.new_branch()}"),
            ("From", f"<sip:{DEVICE}@3402000000>;tag=d1"),
            ("To", f"<sip:{DEVICE}@3402000000>"),
            ("Call-ID", "reg-1"),
            ("CSeq", f"{cseq} REGISTER"),
            ("Contact", f"<sip:{DEVICE}@127.0.0.1:{self.port}>"),
            ("Expires", "3600"),
        ]
        if authorization:
            headers.append(("Authorization", authorization))
        uri = f"sip:{gb.PLATFORM_ID}@127.0.0.1:{port}"
        self.send(gb.build_request("REGISTER", uri, headers), port)
        return self.receive()


def test_registrar_challenges_then_grants_with_gb_date_and_sinks_keepalives() -> None:
    device = ScriptedDevice()
    with gb.Platform(password="pw") as platform:
        challenge = device.register(platform.port, 1)
        assert challenge.status == 401
        fields = gb.parse_digest(challenge.get("WWW-Authenticate") or "")
        assert fields["qop"] == "auth" and fields["realm"] == "3402000000"
        uri = f"sip:{gb.PLATFORM_ID}@127.0.0.1:{platform.port}"
        bad = gb.digest_response(
            DEVICE, fields["realm"], "nope", method="REGISTER", uri=uri, nonce=fields["nonce"]
        )
        refused = device.register(
            platform.port,
            2,
            f'Digest username="{DEVICE}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
            f'uri="{uri}", response="{bad}", algorithm=MD5',
        )
        assert refused.status == 403
        good = gb.digest_response(
            DEVICE,
            fields["realm"],
            "pw",
            method="REGISTER",
            uri=uri,
            nonce=fields["nonce"],
            qop="auth",
            nc="00000001",
            cnonce="c0",
        )
        granted = device.register(
            platform.port,
            3,
            f'Digest username="{DEVICE}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
            f'uri="{uri}", response="{good}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0"',
        )
        assert granted.status == 200 and granted.get("Expires") == "3600"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", granted.get("Date") or "")
        platform.wait_registered(DEVICE, timeout=2)
        view = gb.registration_view(
            [(s.msg, s.answered) for s in platform.registers], gb.PLATFORM_ID, "3402000000"
        )
        assert view["codes"] == [401, 403, 200]
        assert view["call_id_reused"] and view["cseq_increasing"] and view["digest_qop"] == "auth"
        assert view["request_uri_host_form"] == "ip:port" and view["from_host_form"] == "domain"
        for sn in (1, 2):
            body = (
                '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Keepalive</CmdType>'
                f"<SN>{sn}</SN><DeviceID>{DEVICE}</DeviceID><Status>OK</Status></Notify>\r\n"
            ).encode("gb2312")
            headers = [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{device.port};rport;branch={gb.new_branch()}"),
                ("From", f"<sip:{DEVICE}@3402000000>;tag=k{sn}"),
                ("To", f"<sip:{gb.PLATFORM_ID}@3402000000>"),
                ("Call-ID", f"ka-{sn}"),
                ("CSeq", f"{sn} MESSAGE"),
                ("Content-Type", gb.MANSCDP_TYPE),
            ]
            device.send(gb.build_request("MESSAGE", uri, headers, body), platform.port)
            assert device.receive().status == 200
        seen = platform.wait_keepalives(2, timeout=2)
        assert [k.body.sn for k in seen] == [1, 2]
        assert {k.body.fields["Status"] for k in seen} == {"OK"}
        started = time.monotonic()
        platform.check()
        assert time.monotonic() - started < 1
    device.sock.close()
