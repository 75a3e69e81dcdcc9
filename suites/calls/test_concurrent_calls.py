"""allow_in_num above 1: concurrent incoming calls, the call above the limit, and the bitrate
status.json reports while several calls carry media.

allow_in_num is the page's "Maximum number of permitted calls, default1", while policy 1 says
"Only one incoming call is allowed": with allow_in_num 2 the page contradicts itself, so which
one a device follows is the reading allow_in_num_limit (SIP-CALL-NUM-001). The page gives one
bitrate per account and says nothing of several calls: whose rate it is, is the reading
concurrent_call_bitrate (SIP-CALL-NUM-002); read any way, a call's media stops counting once the
call is over.

The cases write allow_in_num 2 (the page's modify_call_cfg.json example passes allow_in_num) and
keep the account's policy, which must be 1, the page's default (account.json shows it).
"""

from __future__ import annotations

import statistics
import time

import pytest

from decoder_conformance.failures import NotExercised
from decoder_conformance.media.encode import EncodedStream
from decoder_conformance.media.sender import RtpSender
from decoder_conformance.peers.call_checks import concurrent_bitrate_reading
from decoder_conformance.peers.capture import rtp_records
from decoder_conformance.waiting import poll_until
from wire import sdp

#: The concurrent calls allowed: the smallest limit above the page's default of 1.
ALLOW_IN_NUM = 2
#: Seconds after media starts (or a call ends) before the reported bitrate is read: a meter
#: over a window of up to 2 s has filled (or drained) by then (SIP-MED-BR-001 waits 3 s).
SETTLE_WINDOW = 2.5
#: Seconds over which the reported bitrate is sampled, and how often.
SAMPLE_SECONDS = 1.75
SAMPLE_EVERY = 0.25


def _call(calls, caller, account):
    """A call from `caller` to `account`: (leg, its final answer), ACKed when it is a 200."""
    leg = caller.call(account, caller.offer())
    final = leg.response(timeout=calls.timeout)
    if final.status_code == 200:
        leg.ack()
    return leg, final


def _end_each(calls, legs):
    """BYE on every leg the device did not end: the 200 codes (a 481 says it was gone)."""
    codes = []
    for leg in legs:
        if leg.requests("BYE"):
            codes.append("ended by the device")
            continue
        leg.bye()
        codes.append(leg.response(method="BYE", timeout=calls.timeout).status_code)
    return codes


@pytest.mark.req("SIP-CALL-NUM-001")
def test_allow_in_num_2_holds_two_calls(api, calls, sip_account, raw_caller, readings):
    account = calls.policy_1_account(sip_account, ALLOW_IN_NUM)
    first = calls.answered(raw_caller("a"), account)
    second, second_final = _call(calls, raw_caller("b"), account)
    legs, third_final = [first], None
    if second_final.status_code == 200:
        legs.append(second)
        third, third_final = _call(calls, raw_caller("c"), account)
        if third_final.status_code == 200:
            legs.append(third)
    calls.status_now(account, calls.IN_PROGRESS, "the first call is up")
    byes = _end_each(calls, legs)
    seen = (
        f"allow_in_num {ALLOW_IN_NUM}, policy 1: second call {second_final.status_code}"
        + ("" if third_final is None else f", third call {third_final.status_code}")
        + f"; BYE of each call held, answered: {byes}"
    )
    refused = [f for f in (second_final, third_final) if f is not None and f.status_code >= 400]
    if any(code != 200 for code in byes) or len(refused) != 1 or refused[0].status_code >= 700:
        readings.none_of("allow_in_num_limit", seen)
    readings.follow(
        "allow_in_num_limit", "limit" if third_final is not None else "single_per_policy", seen
    )
    calls.ended(account, why="every caller hung up")


def _media_of(ok):
    """(host, port, payload type) of the H.264 video the device's 200 accepts."""
    answer = sdp.parse(ok.body)
    index, payload_type = sdp.find_h264_video(answer)
    connection = answer.media_connection(index)
    if connection is None or answer.media[index].port == 0:
        raise NotExercised(f"the device's answer accepts no video: {ok.body!r}")
    return connection.address, answer.media[index].port, payload_type


def _sampled(api, account, start, end):
    """status.json bitrates sampled every SAMPLE_EVERY s between the monotonic `start` and
    `end` (the meter's window is what is waited for; each poll is a reading)."""
    samples = []

    def probe():
        now = time.monotonic()
        if now >= start:
            samples.append(api.status(account.id).bitrate)
        return now

    poll_until(
        probe,
        lambda now: now >= end,
        timeout=end - time.monotonic() + 1.0,
        expected="the sampling window to pass",
        interval=SAMPLE_EVERY,
    )
    return samples


@pytest.mark.req("SIP-CALL-NUM-002")
def test_each_call_metered_on_its_own(
    api, calls, sip_account, raw_caller, readings, *, evidence, suite_host, device_hosts
):
    account = calls.policy_1_account(sip_account, ALLOW_IN_NUM)
    legs, senders = [], []
    evidence.add_records("RTP senders", lambda: [r for s in senders for r in rtp_records(s)])
    # (stream, loops): the first call's outlasts both windows; the second's rate is half of it.
    for name, stream, loops in (
        ("a", EncodedStream.cbr(640, 360, 30, 1000, 4.0), 3),
        ("b", EncodedStream.cbr(640, 360, 30, 500, 6.0), 1),
    ):
        leg, ok = _call(calls, raw_caller(name), account)
        if ok.status_code != 200:
            raise NotExercised(
                f"call {name} was not answered ({ok.status_code} {ok.reason}): the device holds "
                "fewer calls than allow_in_num (SIP-CALL-NUM-001's reading)"
            )
        host, port, payload_type = _media_of(ok)
        legs.append(leg)
        senders.append(
            RtpSender(
                stream,
                (host, port),
                payload_type,
                loops=loops,
                bind_host=suite_host,
                allowed_hosts=device_hosts,
            )
        )
    calls.established(account, why="both calls answered 200 and ACKed")
    first, second = senders
    try:
        for sender in senders:
            sender.start()
        started = time.monotonic()
        window = (started + SETTLE_WINDOW, started + SETTLE_WINDOW + SAMPLE_SECONDS)
        both = _sampled(api, account, *window)
        sent = {
            "oldest_call": first.sent_kbps(*window, ssrc=first.ssrc),
            "newest_call": second.sent_kbps(*window, ssrc=second.ssrc),
        }
        sent["sum"] = sent["oldest_call"] + sent["newest_call"]
        legs[1].bye()
        legs[1].response(200, method="BYE", timeout=calls.timeout)
        second.stop()
        ended = time.monotonic()
        later = (ended + SETTLE_WINDOW, ended + SETTLE_WINDOW + SAMPLE_SECONDS)
        alone = _sampled(api, account, *later)
        alone_sent = first.sent_kbps(*later, ssrc=first.ssrc)
    finally:
        for sender in senders:
            sender.stop()
    value, value_alone = statistics.median(both), statistics.median(alone)
    seen = (
        f"sent {sent['oldest_call']:.0f} kbit/s on the first call and {sent['newest_call']:.0f} "
        f"on the second: status.json bitrate median {value:.0f} of {[round(b) for b in both]}; "
        f"after the second caller's BYE, {alone_sent:.0f} sent on the first: median "
        f"{value_alone:.0f} of {[round(b) for b in alone]}"
    )
    # Within call_checks.CONCURRENT_BITRATE_TOLERANCE of the closest reading, and of the first
    # call's rate alone once the second ended.
    reading = concurrent_bitrate_reading(value, sent, value_alone, alone_sent)
    if reading is None:
        readings.none_of("concurrent_call_bitrate", seen)
    readings.follow("concurrent_call_bitrate", reading, seen)
    legs[0].bye()
    legs[0].response(200, method="BYE", timeout=calls.timeout)
    calls.ended(account, why="both callers hung up")
