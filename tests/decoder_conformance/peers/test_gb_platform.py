"""The GB28181 platform peer, driven by a scripted GB device on a plain UDP socket.

The device here is written in the test from wire/ (sip, digest, manscdp): it sends exactly the
bytes each case needs, right or wrong, and reads what the platform answers.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence

import pytest

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb_platform import DEFAULT_PLATFORM_ID, GbPlatform, Presence
from decoder_conformance.waiting import DeviceTimeout, poll_until
from wire import digest, gb_id, manscdp, sip

DEVICE = gb_id.make_id(gb_id.TYPE_DECODER)  # 34020000001140000001
DOMAIN = gb_id.realm_of(DEFAULT_PLATFORM_ID)  # 3402000000
PASSWORD = "12345678"
GB_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\Z")


class ScriptedDevice:
    """A GB device on one UDP socket: REGISTER, keepalive, answers to queries, nothing more."""

    def __init__(self, platform: GbPlatform, device_id: str = DEVICE) -> None:
        self.device_id = device_id
        self.platform = (LOOPBACK, platform.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.local = self.sock.getsockname()
        self.call_id = sip.new_call_id(LOOPBACK)
        self.tag = sip.new_tag()
        self.cseq = 0
        self.sn = 0
        self.inbox: list[sip.SipRequest] = []

    def close(self) -> None:
        self.sock.close()

    # -- I/O -------------------------------------------------------------------------------

    def send(self, message: sip.SipMessage) -> None:
        self.sock.sendto(message.to_bytes(), self.platform)

    def recv(self, timeout: float = 2.0) -> sip.SipMessage:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        return sip.parse(data)

    def silent_for(self, seconds: float) -> bool:
        """True when no response comes within `seconds` (a window, not a settle delay)."""
        try:
            message = self.recv(seconds)
        except TimeoutError:
            return True
        if isinstance(message, sip.SipRequest):
            self.inbox.append(message)
            return self.silent_for(seconds)
        return False

    def transact(self, request: sip.SipRequest) -> sip.SipResponse:
        """Send `request`, return its final answer; requests met on the way go to the inbox."""
        self.send(request)
        while True:
            message = self.recv()
            if isinstance(message, sip.SipRequest):
                self.inbox.append(message)
            elif message.cseq == request.cseq and not message.is_provisional:
                return message

    def next_request(self, timeout: float = 2.0) -> sip.SipRequest:
        while not self.inbox:
            message = self.recv(timeout)
            if isinstance(message, sip.SipRequest):
                self.inbox.append(message)
        return self.inbox.pop(0)

    # -- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        from_uri: str | None = None,
        call_id: str | None = None,
        cseq: int | None = None,
    ) -> sip.SipRequest:
        if cseq is None:
            self.cseq += 1
        return sip.make_request(
            method,
            f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}",
            sent_by=self.local,
            from_uri=from_uri or f"sip:{self.device_id}@{DOMAIN}",
            from_tag=self.tag if method == "REGISTER" else sip.new_tag(),
            to_uri=f"sip:{(self.device_id if method == 'REGISTER' else DEFAULT_PLATFORM_ID)}"
            f"@{DOMAIN}",
            call_id=call_id or (self.call_id if method == "REGISTER" else sip.new_call_id()),
            cseq=self.cseq if cseq is None else cseq,
            contact=f"sip:{self.device_id}@{self.local[0]}:{self.local[1]}",
            headers=headers,
            body=body,
            content_type=content_type,
        )

    def register(
        self,
        expires: int | None = 3600,
        *,
        password: str = PASSWORD,
        auth_uri: str | None = None,
        call_id: str | None = None,
    ) -> list[sip.SipResponse]:
        """REGISTER, and again with credentials after a 401; every answer, in order."""
        headers = [] if expires is None else [("Expires", str(expires))]
        first = self.request("REGISTER", headers=headers, call_id=call_id)
        answers = [self.transact(first)]
        if answers[-1].status_code == 401:
            challenge = answers[-1].headers.get("WWW-Authenticate") or ""
            credentials = digest.build_authorization(
                challenge, "REGISTER", auth_uri or first.uri, self.device_id, password
            )
            second = self.request(
                "REGISTER",
                headers=[*headers, ("Authorization", credentials.to_header())],
                call_id=call_id,
            )
            answers.append(self.transact(second))
        return answers

    def send_manscdp(
        self,
        message: manscdp.Message | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = manscdp.CONTENT_TYPE,
        encoding: str = manscdp.ENCODING_GB2312,
    ) -> sip.SipResponse:
        body = raw if raw is not None else manscdp.build(message or self.keepalive_body(), encoding)
        return self.transact(self.request("MESSAGE", body=body, content_type=content_type))

    def keepalive_body(self, status: str = manscdp.STATUS_OK) -> manscdp.Message:
        self.sn += 1
        return manscdp.Keepalive(status).to_message(self.sn, self.device_id)

    def answer_query(self, timeout: float = 2.0) -> tuple[sip.SipRequest, manscdp.Message]:
        """Take the next query off the wire, answer its MESSAGE with 200 at once (§9.5.2)."""
        request = self.next_request(timeout)
        self.send(sip.make_response(request, 200, to_tag=sip.new_tag()))
        return request, manscdp.parse_message(request.body)


@pytest.fixture
def platform() -> Iterator[GbPlatform]:
    with GbPlatform(date="2026-12-02T10:11:12.345", keepalive_interval=0.1, keepalive_count=2) as p:
        yield p


@pytest.fixture
def device(platform: GbPlatform) -> Iterator[ScriptedDevice]:
    scripted = ScriptedDevice(platform)
    yield scripted
    scripted.close()


def codes(platform: GbPlatform) -> list[str]:
    return [v.code for v in platform.violations()]


# --- registration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("qop", [True, False])
def test_register_with_digest(qop: bool) -> None:
    with GbPlatform(qop=qop, date="2026-12-02T10:11:12.345") as platform:
        device = ScriptedDevice(platform)
        challenge, ok = device.register(600)
        device.close()
        assert challenge.status_code == 401
        parsed = digest.Challenge.parse(challenge.headers.get("WWW-Authenticate") or "")
        assert parsed.realm == DOMAIN == "3402000000"
        assert parsed.qop == (["auth"] if qop else None)
        assert ok.status_code == 200
        assert ok.headers.get("Date") == "2026-12-02T10:11:12.345"
        assert ok.headers.get("Expires") == "600"
        assert ok.contacts and ok.contacts[0].sip_uri().user == DEVICE
        assert platform.registered(DEVICE)
        binding = platform.binding(DEVICE)
        assert binding is not None and binding.expires == 600
        assert platform.presence(DEVICE) is Presence.ONLINE
        assert platform.violations() == []


def test_date_is_gb_style_by_default() -> None:
    with GbPlatform(grant=120) as platform:
        device = ScriptedDevice(platform)
        ok = device.register(3600)[-1]
        device.close()
    assert GB_DATE.match(ok.headers.get("Date") or ""), ok.headers.get("Date")
    assert ok.headers.get("Expires") == "120"


def test_register_without_expires_gets_400(platform: GbPlatform, device: ScriptedDevice) -> None:
    (answer,) = device.register(None)
    assert answer.status_code == 400
    assert not platform.registered(DEVICE)
    assert codes(platform) == [checks.NO_EXPIRES]


def test_wrong_password_gets_403_without_new_challenge(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    challenge, refused = device.register(password="wrong")
    assert (challenge.status_code, refused.status_code) == (401, 403)
    assert refused.headers.get("WWW-Authenticate") is None
    assert not platform.registered(DEVICE)
    assert codes(platform) == [checks.AUTH_RESPONSE]


def test_refresh_on_the_same_call_id_needs_no_new_challenge(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    (refresh,) = device.register()
    assert refresh.status_code == 200
    assert platform.violations() == []
    # A stale CSeq on the same Call-ID is a violation (RFC 3261 §10.2.4), still accepted.
    refresh_request = device.request("REGISTER", headers=[("Expires", "3600")], cseq=1)
    assert device.transact(refresh_request).status_code == 200
    assert codes(platform) == [checks.CSEQ_NOT_INCREASING]


def test_new_call_id_while_registered_is_challenged_and_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    answers = device.register(call_id=sip.new_call_id())
    assert [a.status_code for a in answers] == [401, 200]
    assert checks.CALL_ID_CHANGED in codes(platform)


def test_unregister_with_expires_0(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    (answer,) = device.register(0)
    assert answer.status_code == 200
    assert answer.headers.get("Expires") == "0"
    assert not platform.registered(DEVICE)
    assert platform.presence(DEVICE) is Presence.UNREGISTERED
    assert platform.violations() == []


def test_digest_uri_other_than_request_uri_is_recorded(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    answers = device.register(auth_uri=f"sip:{DEFAULT_PLATFORM_ID}@{platform.address}")
    assert answers[-1].status_code == 200  # verified on the header's uri, as WVP does
    assert codes(platform) == [checks.AUTH_URI]


def test_bad_from_domain_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    request = device.request(
        "REGISTER", headers=[("Expires", "60")], from_uri=f"sip:{DEVICE}@example.invalid"
    )
    assert device.transact(request).status_code == 401
    assert checks.URI_DOMAIN in codes(platform)


def test_short_id_gets_403(platform: GbPlatform) -> None:
    device = ScriptedDevice(platform, device_id="3402000000114000001")
    (answer,) = device.register()
    device.close()
    assert answer.status_code == 403
    assert codes(platform) == [checks.BAD_ID]


# --- keepalive ------------------------------------------------------------------------------------


def test_keepalive_online_then_offline_then_online(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    assert device.send_manscdp().status_code == 200
    seen = platform.wait_keepalive(DEVICE, timeout=1)
    assert (seen.sn, seen.device_id, seen.status, seen.problems) == (1, DEVICE, "OK", [])
    assert seen.answered == 200
    assert platform.online(DEVICE)
    # interval 0.1 s, count 2: offline once 0.2 s pass without a keepalive
    platform.wait_presence(DEVICE, Presence.OFFLINE, timeout=2)
    assert platform.registered(DEVICE)
    assert device.send_manscdp().status_code == 200
    assert platform.presence(DEVICE) is Presence.ONLINE
    assert [k.sn for k in platform.keepalives(DEVICE)] == [1, 2]


def test_keepalive_content_type_any_case(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    assert device.send_manscdp(content_type="application/manscdp+xml").status_code == 200
    assert codes(platform) == [checks.CONTENT_TYPE_CASE]
    assert device.send_manscdp(content_type="text/plain").status_code == 415
    assert checks.CONTENT_TYPE in codes(platform)


def test_reject_keepalives_mode(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    platform.reject_keepalives(403)
    assert device.send_manscdp().status_code == 403
    platform.wait_presence(DEVICE, Presence.OFFLINE, timeout=2)  # a refused one does not count
    platform.reject_keepalives(None)
    assert device.send_manscdp().status_code == 200
    assert [k.answered for k in platform.keepalives()] == [403, 200]
    assert platform.online(DEVICE)


def test_restart_forgets_registrations(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    platform.restart()
    assert not platform.registered(DEVICE)
    assert device.send_manscdp().status_code == 404  # "device not found": register again
    assert [a.status_code for a in device.register()] == [401, 200]
    assert platform.registered(DEVICE)


def test_silence_then_answer_the_retransmission(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    platform.silence()
    request = device.request("REGISTER", headers=[("Expires", "60")])
    device.send(request)
    assert device.silent_for(0.3)
    platform.silence(False)
    assert device.transact(request).status_code == 401  # the retransmission is answered


def test_encoding_problem_is_recorded(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    body = (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Keepalive</CmdType>'
        f"<SN>7</SN><DeviceID>{DEVICE}</DeviceID><Status>OK</Status>"
        "<Info><Name>解码器</Name></Info></Notify>"
    ).encode()  # UTF-8 bytes under a GB2312 declaration (notes §6.7)
    assert device.send_manscdp(raw=body).status_code == 200
    (seen,) = platform.keepalives(DEVICE)
    assert [p.code for p in seen.problems] == [manscdp.PROBLEM_UTF8_UNDER_GB]
    assert codes(platform) == [checks.MANSCDP_PREFIX + manscdp.PROBLEM_UTF8_UNDER_GB]


def test_message_from_an_unknown_device_gets_404(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    assert device.send_manscdp().status_code == 404
    assert platform.keepalives()[0].answered == 404


# --- queries --------------------------------------------------------------------------------------


def test_query_and_response_with_the_same_sn(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_DEVICE_INFO)
    request, query = device.answer_query()
    assert request.method == "MESSAGE" and request.content_type == manscdp.CONTENT_TYPE
    assert (query.root, query.cmd_type, query.sn, query.device_id) == (
        "Query",
        "DeviceInfo",
        sn,
        DEVICE,
    )
    assert request.from_addr.sip_uri().user == DEFAULT_PLATFORM_ID
    info = manscdp.DeviceInfo(device_name="D", manufacturer="Acme", model="D1", firmware="1")
    assert device.send_manscdp(info.to_message(sn, DEVICE)).status_code == 200
    (response,) = platform.wait_response(sn, timeout=2)
    assert response.message is not None
    assert manscdp.DeviceInfo.from_message(response.message).manufacturer == "Acme"
    assert platform.query_state(sn).answer == 200
    assert platform.violations() == []


def test_config_download_asks_for_basic_param(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_CONFIG_DOWNLOAD)
    _, query = device.answer_query()
    assert manscdp.config_types(query) == ["BasicParam"]
    answer = manscdp.BasicParam("decoder", 3600, 60, 3).to_message(sn, DEVICE)
    device.send_manscdp(answer)
    (response,) = platform.wait_response(sn, timeout=2)
    assert response.message is not None
    assert manscdp.BasicParam.from_message(response.message).heartbeat_count == 3


def test_split_catalog_is_joined(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_CATALOG)
    device.answer_query()
    items = [
        manscdp.CatalogItem({"DeviceID": gb_id.make_id(133, n), "Name": f"out{n}", "Status": "ON"})
        for n in range(1, 6)
    ]
    parts = manscdp.split_catalog(sn, DEVICE, items, max_items=2)
    assert len(parts) == 3
    for part in parts:  # each part waits for its 200 (Annex N)
        assert device.send_manscdp(part).status_code == 200
    catalog = platform.catalog(sn, timeout=2)
    assert catalog.complete and [i.fields["Name"] for i in catalog.items] == [
        f"out{n}" for n in range(1, 6)
    ]
    assert len(platform.wait_response(sn, timeout=0)) == 3


def test_wrong_sn_and_wrong_cmd_type_are_reported(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    sn = platform.query(DEVICE, manscdp.CMD_DEVICE_STATUS)
    device.answer_query()
    device.send_manscdp(manscdp.DeviceStatus().to_message(sn + 1000, DEVICE))
    device.send_manscdp(manscdp.DeviceInfo().to_message(sn, DEVICE))
    with pytest.raises(DeviceTimeout) as caught:
        platform.wait_response(sn, timeout=0.2)
    text = str(caught.value)
    assert f"CmdType=DeviceStatus SN={sn} DeviceID={DEVICE}" in text
    assert f"SN {sn + 1000} does not match the query's SN {sn}" in text
    assert "CmdType 'DeviceInfo' does not match the query's 'DeviceStatus'" in text
    assert codes(platform) == [checks.RESPONSE_UNMATCHED, checks.RESPONSE_MISMATCH]


def test_wait_timeouts_name_what_was_expected(platform: GbPlatform, device: ScriptedDevice) -> None:
    with pytest.raises(DeviceTimeout, match=rf"expected {DEVICE} registered"):
        platform.wait_registered(DEVICE, timeout=0.1)
    device.register()
    with pytest.raises(DeviceTimeout, match=r"expected keepalive #1 .* from " + DEVICE):
        platform.wait_keepalive(DEVICE, timeout=0.1)
    sn = platform.query(DEVICE, manscdp.CMD_DEVICE_INFO)
    with pytest.raises(DeviceTimeout, match=rf"CmdType=DeviceInfo SN={sn}.*MESSAGE Query: "):
        platform.wait_response(sn, timeout=0.1)


def test_query_to_an_unregistered_device_is_not_exercised(platform: GbPlatform) -> None:
    with pytest.raises(NotExercised, match="not registered"):
        platform.query(DEVICE, manscdp.CMD_CATALOG)


def test_tcp_registration_and_query_on_the_same_connection(platform: GbPlatform) -> None:
    conn = socket.create_connection((LOOPBACK, platform.tcp_port), timeout=2)
    buffer = bytearray()

    def exchange(message: sip.SipMessage | None) -> sip.SipMessage:
        if message is not None:
            conn.sendall(message.to_bytes())
        while (parsed := sip.parse_stream(buffer)) is None:
            buffer.extend(conn.recv(65535))
        del buffer[: parsed[1]]
        return parsed[0]

    local = conn.getsockname()
    register = sip.make_request(
        "REGISTER",
        f"sip:{DEFAULT_PLATFORM_ID}@{DOMAIN}",
        sent_by=local,
        transport="TCP",
        from_uri=f"sip:{DEVICE}@{DOMAIN}",
        from_tag="t1",
        to_uri=f"sip:{DEVICE}@{DOMAIN}",
        call_id="tcp-1",
        cseq=1,
        contact=f"sip:{DEVICE}@{local[0]}:{local[1]};transport=tcp",
        headers=[("Expires", "60")],
    )
    challenge = exchange(register)
    assert isinstance(challenge, sip.SipResponse) and challenge.status_code == 401
    credentials = digest.build_authorization(
        challenge.headers.get("WWW-Authenticate") or "", "REGISTER", register.uri, DEVICE, PASSWORD
    )
    register.headers.set("CSeq", "2 REGISTER")
    register.headers.set("Via", f"SIP/2.0/TCP {local[0]}:{local[1]};branch={sip.new_branch()}")
    register.headers.add("Authorization", credentials.to_header())
    ok = exchange(register)
    assert isinstance(ok, sip.SipResponse) and ok.status_code == 200
    sn = platform.query(DEVICE, manscdp.CMD_DEVICE_STATUS)
    query = exchange(None)  # on the device's own connection (2022 §9.1.1 f)
    assert isinstance(query, sip.SipRequest) and query.vias[0].transport == "TCP"
    conn.sendall(sip.make_response(query, 200, to_tag="d1").to_bytes())
    platform.wait_presence(DEVICE, Presence.ONLINE, timeout=1)
    poll_until(
        lambda: platform.query_state(sn).answer,
        lambda answer: answer == 200,
        timeout=1,
        expected="the device's 200 to the Query on file",
    )
    conn.close()


def test_device_control_and_its_answer(platform: GbPlatform, device: ScriptedDevice) -> None:
    device.register()
    sn = platform.control(DEVICE)
    request, control = device.answer_query()
    assert (control.root, control.cmd_type, control.sn) == ("Control", "DeviceControl", sn)
    assert control.get("GuardCmd") == "ResetGuard"  # harmless: never TeleBoot
    assert request.content_type == manscdp.CONTENT_TYPE
    assert platform.wait_answer(sn, timeout=2) == 200


def test_wait_answer_names_the_message_it_waited_for(
    platform: GbPlatform, device: ScriptedDevice
) -> None:
    device.register()
    sn = platform.control(DEVICE)
    device.next_request()  # received, never answered
    with pytest.raises(DeviceTimeout, match=f"SN={sn}"):
        platform.wait_answer(sn, timeout=0.3)


def test_grant_headers_go_into_every_200() -> None:
    extra = (("X-Platform-Trace", "t1"), ("Route", "<sip:127.0.0.1;lr>"))
    with GbPlatform(grant_headers=extra) as platform:
        device = ScriptedDevice(platform)
        challenge, ok = device.register(600)
        device.close()
    assert challenge.headers.get("X-Platform-Trace") is None
    assert ok.headers.get("X-Platform-Trace") == "t1"
    assert ok.headers.get("Route") == "<sip:127.0.0.1;lr>"
