"""GB28181 real-time video into the decoder (2016/2022 §9.2, Annex C, F, L; 2022 Annex C, D, G):
both INVITE styles, PS over RTP on UDP and TCP in both setup roles, SSRC, BYE, busy, refusal.

The platform (peers/gb/invite.py) checks every INVITE exchange; a case asserts on the codes its
requirement is about. A bitrate case first proves the call was up and media flowed.
"""

from __future__ import annotations

import pytest

from decoder_conformance.device.status_series import bitrate_error
from decoder_conformance.failures import NotExercised, harness_check
from decoder_conformance.media.sender import Impairments
from decoder_conformance.peers.gb import checks, media_checks
from decoder_conformance.waiting import PeerTimeout, poll_until
from wire.sdp import RtpMap

pytestmark = pytest.mark.needs("gb28181")

#: The account takes platform INVITEs at once: allowed in, answered automatically, one call.
CALL_CFG = {"allow_in": "1", "auto_aws": "true", "allow_in_num": "1"}
KBPS = 800
SECONDS = 3.6
#: Seconds after the first packet before the reported bitrate is judged (the meter's window).
WARMUP = 1.5
TOLERANCE = 0.05
ESTABLISHED = media_checks.ESTABLISHED


class Player:
    """The case's registered gb28181 account and the calls the platform makes into it."""

    def __init__(self, device, evidence, req):
        self.device = device
        self.evidence = evidence
        self.req = req
        self.calls = []

    @property
    def invite_timeout(self):
        return self.device.timers.state_timeout

    def play(self, **options):
        call = self.device.platform.play(
            self.device.device_id, timeout=self.invite_timeout, **options
        )
        self.calls.append(call)
        self.evidence.add_records(
            f"GB media {len(self.calls)}",
            call.media_records,
            lambda c=call: {f"{h}:{p}": "decoder (media)" for h, p in [c.media_address or ("", 0)]},
        )
        return call

    def answered(self, call):
        """The call is up (precondition of every media requirement but the one about its answer)."""
        if call.code != 200:
            raise NotExercised(
                f"precondition of {self.req} not met: the INVITE was answered {call.code}, not "
                f"200 (GB-MED-001/003 judge the answer)\n{call.describe()}"
            )
        return call

    def stream(self, call, **options):
        sender = call.send(KBPS, SECONDS, **options)
        self.device.wait_status(
            lambda s: s.call in ESTABLISHED and s.bitrate > 0,
            "the call established with a non-zero bitrate while PS flows",
        )
        return sender

    def check_bitrate(self, sender):
        sender.wait(SECONDS + self.device.timers.state_timeout)
        start = sender.started_at + WARMUP
        end = sender.started_at + SECONDS
        reported = self.device.status.bitrates_between(start, end)
        sent = sender.sent_kbps(start, end, ssrc=sender.ssrc)
        problem = bitrate_error(reported, sent, TOLERANCE)
        assert problem is None, (
            f"[{self.req}] expected status.json bitrate within {TOLERANCE:.0%} of the PS payload "
            f"bitrate sent, observed {problem}"
        )

    def close(self):
        for call in self.calls:
            call.close()


@pytest.fixture
def player(gb_device, evidence, request):
    req = str(request.node.get_closest_marker("req").args[0])
    device = gb_device(call_cfg=CALL_CFG)
    device.wait_registered(precondition=req)
    kit = Player(device, evidence, req)
    yield kit
    kit.close()


def no_violations(player, call, *codes):
    found = [v for v in call.violations() if v.code in codes]
    assert not found, f"[{player.req}] the platform saw:\n" + "\n".join(f"  {v}" for v in found)


@pytest.mark.req("GB-MED-001")
def test_third_party_invite_gets_the_receivers_offer(player):
    call = player.play(style="third_party", transport=None)
    assert call.code == 200, (
        f"[GB-MED-001] expected 200 to the bodyless INVITE, observed {call.code}"
    )
    assert call.device_sdp is not None, "[GB-MED-001] expected an SDP offer in the 200"
    no_violations(
        player,
        call,
        checks.INVITE_NO_SDP,
        checks.INVITE_SDP_UNREADABLE,
        checks.INVITE_NOT_RECVONLY,
        checks.INVITE_NO_PS,
    )


@pytest.mark.req("GB-MED-002")
def test_third_party_video_is_decoded(player):
    call = player.answered(player.play(style="third_party", transport=None))
    player.check_bitrate(player.stream(call))


@pytest.mark.req("GB-MED-003")
def test_sendonly_offer_answered_and_decoded(player):
    call = player.play(style="offer", transport="udp")
    assert call.code == 200, (
        f"[GB-MED-003] expected 200 to the sendonly offer, observed {call.code}"
    )
    no_violations(
        player,
        call,
        checks.INVITE_NO_SDP,
        checks.INVITE_NOT_RECVONLY,
        checks.INVITE_NO_PS,
        checks.INVITE_PAYLOAD_NOT_OFFERED,
    )
    player.check_bitrate(player.stream(call))


@pytest.mark.req("GB-MED-004")
def test_ssrc_echoed(player):
    call = player.answered(player.play(style="offer", transport="udp", with_y=True))
    no_violations(player, call, checks.INVITE_SSRC_NOT_ECHOED, checks.INVITE_SSRC_MALFORMED)
    assert call.ssrc_from == "device" and call.ssrc == int(call.platform_ssrc), (
        f"[GB-MED-004] expected y={call.platform_ssrc} echoed, observed {call.describe()}"
    )


@pytest.mark.req("GB-MED-005")
def test_ssrc_chosen_when_the_offer_has_none(player):
    call = player.answered(player.play(style="offer", transport="udp", with_y=False))
    no_violations(player, call, checks.INVITE_SSRC_MISSING, checks.INVITE_SSRC_MALFORMED)


def tcp_case(player, transport):
    """An offer of PS over TCP with the device in `transport`'s role, decoded."""
    call = player.play(style="offer", transport=transport)
    assert call.code == 200, f"[{player.req}] expected 200 to the TCP offer, got {call.code}"
    no_violations(
        player,
        call,
        checks.INVITE_TCP_SETUP_MISSING,
        checks.INVITE_TCP_SETUP_ROLE,
        checks.INVITE_TRANSPORT_CHANGED,
    )
    player.check_bitrate(player.stream(call))


@pytest.mark.req("GB-MED-006")
@pytest.mark.needs("tcp_media")
def test_tcp_device_passive(player):
    tcp_case(player, "tcp_passive")


@pytest.mark.req("GB-MED-007")
@pytest.mark.needs("tcp_media")
def test_tcp_device_active(player):
    tcp_case(player, "tcp_active")


#: How long the platform's media port stays shut in GB-MED-015: past a first attempt and the
#: retry 1 s after it that 2022 Annex D asks for.
LISTEN_AFTER = 1.5


@pytest.mark.req("GB-MED-015")
@pytest.mark.needs("tcp_media")
def test_tcp_active_connection_is_retried(player):
    call = player.answered(
        player.play(style="offer", transport="tcp_active", listen_after=LISTEN_AFTER)
    )
    sender = call.send(KBPS, SECONDS, connect_timeout=LISTEN_AFTER + 3 * 1.0 + 1.0)
    media = call.media
    harness_check(
        media is not None and media.listening_at is not None and media.accepted_at is not None,
        "the platform listened and accepted a connection",
    )
    player.device.wait_status(
        media_checks.streaming,
        "a non-zero bitrate once the device's retried connection carries the stream",
    )
    sender.stop()


@pytest.mark.req("GB-MED-008")
def test_bye_ends_the_stream(player):
    call = player.answered(player.play(style="offer", transport="udp"))
    sender = player.stream(call)
    code = call.bye(timeout=player.invite_timeout)
    sender.stop()
    # A final other than 200 is kept by the platform as bye-not-200 (checks.bye_findings).
    no_violations(player, call, checks.BYE_NOT_200)
    assert code == 200, f"[GB-MED-008] expected 200 to the BYE, observed {code}"
    player.device.wait_status(
        lambda s: s.call not in ESTABLISHED and s.bitrate == 0,
        "the call ended and bitrate 0 after the 200 to BYE",
    )


@pytest.mark.req("GB-MED-009")
def test_second_invite_while_busy_gets_486(player):
    first = player.answered(player.play(style="offer", transport="udp"))
    sender = player.stream(first)
    second = player.play(style="offer", transport="udp")
    problem = media_checks.busy_problem(second.code)
    assert problem is None, f"[GB-MED-009] {problem}"
    still = player.device.wait_status(
        lambda s: s.call in ESTABLISHED and s.bitrate > 0,
        "the first stream still playing after the refused INVITE",
    )
    assert still.bitrate > 0
    sender.stop()


@pytest.mark.req("GB-MED-010")
def test_unusable_offer_gets_488(player):
    unknown = RtpMap(97, "X-UNKNOWN", 90000)
    call = player.play(style="offer", transport="udp", payloads=(unknown,))
    problem = media_checks.unusable_offer_problem(call.code)
    assert problem is None, f"[GB-MED-010] {problem}"
    status = player.device.api.status(player.device.account.id)
    assert status.call not in ESTABLISHED, f"[GB-MED-010] a call is up: {status.call}"


@pytest.mark.req("GB-MED-011")
@pytest.mark.parametrize("style", ["third_party", "offer"])
def test_2xx_carries_contact(player, style):
    call = player.answered(
        player.play(style=style, transport=None if style == "third_party" else "udp")
    )
    no_violations(player, call, checks.INVITE_NO_CONTACT)


@pytest.mark.req("GB-MED-012")
def test_foreign_ssrc_not_counted(player):
    call = player.answered(player.play(style="offer", transport="udp"))
    sender = player.stream(call, impairments=Impairments(other_ssrc_from=0, other_ssrc_mode="add"))
    poll_until(
        lambda: {p.ssrc for p in sender.sent_packets() if not p.dropped},
        lambda ssrcs: len(ssrcs) >= 2,
        timeout=SECONDS,
        expected="the source sending from the negotiated and a second SSRC",
        timeout_error=PeerTimeout,
    )
    # sent_kbps counts the negotiated SSRC only: the foreign stream must not add to the bitrate.
    player.check_bitrate(sender)


@pytest.mark.req("GB-MED-013")
def test_no_setup_attribute_on_udp(player):
    call = player.answered(player.play(style="offer", transport="udp"))
    no_violations(player, call, checks.INVITE_UDP_SETUP)


@pytest.mark.req("GB-MED-014")
@pytest.mark.parametrize("style", ["third_party", "offer"])
def test_origin_and_format_lines(player, style):
    call = player.answered(
        player.play(style=style, transport=None if style == "third_party" else "udp")
    )
    no_violations(player, call, checks.INVITE_ORIGIN_USER, checks.INVITE_FORMAT_MALFORMED)
