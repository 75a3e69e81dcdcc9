"""The malformed-SIP corpus (decoder_conformance/peers/malformed), group by group, over UDP and TCP.

One case per group and transport: every case of the group goes to every bound SIP port of the
device, each port with an auto-answering account of its own (so a wrongly accepted INVITE is
answered 200 at once and seen). After every case an OPTIONS must be answered over the same
transport; list.json must answer every API_EVERY cases and at the group's end, when status.json
must also show no call for the accounts. The group's requirement says what the answers must be
(spec/requirements.yaml, SIP-ROB-MALF-*); the groups whose answer the RFC leaves open share
SIP-ROB-MALF-LIVE-001 and judge liveness only. The per-group counts are recorded as properties
and attached as a table; the first failing case is attached as raw bytes and as a pcap.

The IP-level cases (IP fragments, a wrong UDP checksum, a truncated datagram) are built and sent
with scapy (decoder_conformance/peers/malformed/ip_level.py); without raw-socket rights they are
not exercised (broken), never passed.
"""

from __future__ import annotations

import itertools
import socket
from collections import Counter
from collections.abc import Callable

import pytest

from decoder_conformance.device.accounts import (
    AccountFactory,
    DeviceSip,
    SipAccount,
    SipAccounts,
    device_host_of,
    parse_bind,
)
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.status_judge import NOT_A_CALL
from decoder_conformance.device.target import Target
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.malformed import ip_level
from decoder_conformance.peers.malformed.corpus import Group, corpus
from decoder_conformance.peers.malformed.message import Dialog
from decoder_conformance.peers.malformed.sender import Result, Sender
from decoder_conformance.plugin.stash import LOCAL_ACCOUNTS, CaseEvidence
from decoder_conformance.report.pcap import attach_pcap
from decoder_conformance.waiting import DeviceTimeout, poll_until

TRANSPORTS = ("udp", "tcp")
#: list.json is asked every this many cases (and at the group's end).
API_EVERY = 100
#: Failing case ids named in a failure message besides the first.
NAMED = 8


def _groups(requirement: str, transport: str | None = None) -> list[str]:
    return [
        g.name
        for g in corpus()
        if g.requirement == requirement and (transport is None or g.for_transport(transport))
    ]


def _params(requirement: str) -> list[tuple[str, str]]:
    return [(g, t) for t in TRANSPORTS for g in _groups(requirement, t)]


@pytest.fixture
def malformed_accounts(
    request: pytest.FixtureRequest,
    api: DeviceClient,
    new_account: AccountFactory,
    device_target: Target,
) -> list[SipAccount]:
    """One auto-answering account on every usable bind of the device."""
    api_url = device_target.api_url
    numbers = request.config.stash.setdefault(LOCAL_ACCOUNTS, itertools.count(7001))
    accounts = []
    for bind in api.binds():
        parsed = parse_bind(bind)
        if parsed is None:
            continue
        host, port = parsed
        if host in ("*", "0.0.0.0", ""):
            host = device_host_of(api_url)
        factory = SipAccounts(api, new_account, DeviceSip(host, port, bind), numbers)
        accounts.append(factory(call_cfg={"auto_aws": "true"}))
    if not accounts:
        raise NotExercised(f"device shows no usable SIP bind in get_binds.json: {api.binds()}")
    return accounts


@pytest.fixture
def run_group(
    *,
    api: DeviceClient,
    malformed_accounts: list[SipAccount],
    suite_host: str,
    device_target: Target,
    evidence: CaseEvidence,
    record_property: Callable[[str, object], None],
) -> Callable[[str, str], None]:
    """`run_group(name, transport)`: the group's cases to every port, then the verdict naming
    the first failing case (a device that stops answering ends the group there)."""
    timers = device_target.profile.timers

    def run(name: str, transport: str) -> None:
        group = next(g for g in corpus() if g.name == name)
        results: list[Result] = []
        extra: list[str] = []
        for account in malformed_accounts:
            sender = Sender(
                suite_host,
                (account.sip.host, account.sip.port),
                account.local_account,
                transport,
                timers.state_timeout,
            )
            results += _play(api, group, sender, extra)
            if results and not results[-1].alive:
                break
        _report(
            group=group,
            transport=transport,
            results=results,
            extra=extra,
            evidence=evidence,
            record_property=record_property,
        )
        api.accounts()
        for account in malformed_accounts:
            problem = _call_left(api, account, timers.state_timeout)
            if problem:
                extra.append(problem)
        failed = [r for r in results if r.problem]
        if failed or extra:
            first = failed[0] if failed else None
            lines = [f"[{api.req}] group {group.name} over {transport.upper()}: "]
            if first is not None:
                lines.append(
                    f"{len(failed)} of {len(results)} cases failed; first {first.case.id} "
                    f"(port {first.port}): {first.problem}"
                )
                others = sorted({r.case.id for r in failed[1:]})
                if others:
                    lines.append(
                        f"; also {', '.join(others[:NAMED])}"
                        + (" ..." if len(others) > NAMED else "")
                    )
            if extra:
                lines.append(("; " if first else "") + "; ".join(extra))
            raise DeviceFailure("".join(lines))

    return run


def _play(api: DeviceClient, group: Group, sender: Sender, extra: list[str]) -> list[Result]:
    results: list[Result] = []
    dialog: Dialog | None = None
    setup_log: list[WireRecord] = []
    if group.in_dialog:
        dialog = sender.open_dialog(setup_log)
    for count, case in enumerate(group.for_transport(sender.transport), 1):
        result = sender.run(case, dialog)
        results.append(result)
        if not result.alive:
            break  # a device that stopped answering would make every later case wait it out
        if count % API_EVERY == 0:
            api.accounts()
    if dialog is not None and results and results[-1].alive:
        bye = sender.close_dialog(dialog, setup_log)
        if bye is None or not bye.is_success:
            extra.append(
                "the dialog set up before the cases did not survive them: its BYE was answered "
                + (f"{bye.status_code} {bye.reason}" if bye else "nothing")
            )
    return results


def _call_left(api: DeviceClient, account: SipAccount, timeout: float) -> str | None:
    try:
        poll_until(
            lambda: api.status(account.id).call,
            lambda call: call in NOT_A_CALL,
            timeout=timeout,
            expected=(
                f"no call for account {account.id} at the group's end "
                f"(call_status one of {NOT_A_CALL})"
            ),
        )
    except DeviceTimeout as exc:
        return str(exc)
    return None


def _report(
    *,
    group: Group,
    transport: str,
    results: list[Result],
    extra: list[str],
    evidence: CaseEvidence,
    record_property: Callable[[str, object], None],
) -> None:
    """Counts as properties; a table of every case, and the first failure's bytes and pcap."""
    failed = [r for r in results if r.problem]
    answers = Counter(r.answer_text.split(" ", 1)[0] if r.answer else "none" for r in results)
    record_property("malformed_group", group.name)
    record_property("malformed_cases", len(results))
    record_property("malformed_failed", len(failed))
    record_property("malformed_invites_accepted", sum(r.accepted for r in results))
    record_property("malformed_answers", dict(sorted(answers.items())))

    def attach_table() -> None:
        import allure

        rows = [
            f"group {group.name} ({group.requirement}) over {transport.upper()}: {len(results)} "
            f"cases, {len(failed)} failed, answers {dict(sorted(answers.items()))}",
            *extra,
            "",
            *(
                f"{r.case.id:60} port {r.port:5} {r.answer_text[:40]:40} "
                f"{'FAILED: ' + r.problem if r.problem else 'ok'}"
                for r in results
            ),
        ]
        allure.attach(
            "\n".join(rows),
            name=f"malformed SIP: {group.name} ({transport})",
            attachment_type=allure.attachment_type.TEXT,
        )

    evidence.add_attacher(attach_table)
    if failed:
        first = failed[0]

        def attach_first() -> None:
            import allure

            allure.attach(
                b"".join(first.writes),
                name=f"first failing case {first.case.id} (raw bytes)",
                extension="sip",
            )
            attach_pcap(first.records, f"first failing case {first.case.id}")

        evidence.add_attacher(attach_first)


# -- the groups, one test function per requirement -------------------------------------------------


@pytest.mark.req("SIP-ROB-MALF-LIVE-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-LIVE-001"))
def test_open_answer_groups_keep_the_device_alive(run_group, group, transport):
    """RFC 3261 names no answer: an OPTIONS answered after each, the API alive, no call left."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-METHOD-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-METHOD-001"))
def test_unknown_methods_get_405_or_501(run_group, group, transport):
    """RFC 3261 §8.2.1, §21.5.2: 405 with Allow, or 501."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-MISSING-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-MISSING-001"))
def test_missing_mandatory_headers_get_400(run_group, group, transport):
    """RFC 3261 §8.1.1, §21.4.1: 400 (a missing Via: 400 or silence)."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-DUP-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-DUP-001"))
def test_duplicated_mandatory_headers_get_400(run_group, group, transport):
    """RFC 3261 §7.3.1, §21.4.1: two From, To, Call-ID or CSeq rows get 400."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-VALUE-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-VALUE-001"))
def test_malformed_mandatory_values_get_400_or_nothing(run_group, group, transport):
    """RFC 3261 §21.4.1, RFC 4475 §3.1.2: 400 or no answer, never processed."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-CSEQ-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-CSEQ-001"))
def test_bad_cseq_gets_400(run_group, group, transport):
    """RFC 3261 §8.1.1.5: a CSeq naming another method, or not a number below 2**31."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-CLEN-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-CLEN-001"))
def test_content_length_frames_the_message(run_group, group, transport):
    """RFC 3261 §18.3: octets beyond Content-Length are not the message; short is not whole."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-CLEN-002")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-CLEN-002"))
def test_datagram_shorter_than_content_length_gets_400(run_group, group, transport):
    """RFC 3261 §18.3: a UDP request whose body ends before its Content-Length SHOULD get 400."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-VIA-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-VIA-001"))
def test_legal_via_forms_are_answered(run_group, group, transport):
    """RFC 3261 §18.2.2, §20.42, §7.3.1; RFC 3581: legal Via forms get the OPTIONS answer."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-VALID-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-VALID-001"))
def test_legal_unusual_forms_are_answered(run_group, group, transport):
    """RFC 3261 §7.3.1, §7.5, §25.1: folding, compact names, LWS and case are the same request."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-REQUIRE-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-REQUIRE-001"))
def test_unknown_required_options_get_420(run_group, group, transport):
    """RFC 3261 §8.2.2.3: 420 whose Unsupported lists every unknown option tag."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-CTYPE-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-CTYPE-001"))
def test_unknown_bodies_get_415(run_group, group, transport):
    """RFC 3261 §8.2.3, §20.15: 415 with Accept / Accept-Encoding; an untyped body 400 or 415."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-SDP-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-SDP-001"))
def test_unusable_offers_take_no_video(run_group, group, transport):
    """RFC 3264 §6: an offer with no video the device can take: refused, or video at port 0."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-FRAG-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-FRAG-001"))
def test_messages_split_over_tcp_writes(run_group, group, transport):
    """RFC 3261 §18.3: a message is framed by its bytes, not by the writes that carry them."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-DIALOG-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-DIALOG-001"))
def test_requests_for_unknown_dialogs_and_out_of_order(run_group, group, transport):
    """RFC 3261 §12.2.2: 481 for a dialog that does not exist, 500 for a lower CSeq."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-DIALOG-002")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-DIALOG-002"))
def test_bye_and_cancel_matching_nothing_get_481(run_group, group, transport):
    """RFC 3261 §15.1.2, §9.2 (SHOULD): 481."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-SCHEME-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-SCHEME-001"))
def test_unsupported_uri_schemes_get_416(run_group, group, transport):
    """RFC 3261 §8.2.2.1 (SHOULD): 416."""
    run_group(group, transport)


@pytest.mark.req("SIP-ROB-MALF-MAXFWD-001")
@pytest.mark.parametrize(("group", "transport"), _params("SIP-ROB-MALF-MAXFWD-001"))
def test_max_forwards_zero_at_the_uas(run_group, group, transport):
    """RFC 3261 §16.3 item 2, §8.2: OPTIONS with Max-Forwards 0 answered 2xx or 483."""
    run_group(group, transport)


# -- IP level (scapy) ------------------------------------------------------------------------------


@pytest.fixture
def ip_socket(malformed_accounts: list[SipAccount], suite_host: str, evidence: CaseEvidence):
    """A UDP socket on the suite host and the first account's port; records for the evidence."""
    account = malformed_accounts[0]
    log: list[WireRecord] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((suite_host, 0))
        evidence.add_attacher(lambda: _attach_log(log))
        yield ip_level.Probe(sock, account.sip.host, account.sip.port, account.local_account, log)


def _attach_log(log: list[WireRecord]) -> None:
    attach_pcap(list(log), "IP-level case (the SIP bytes as the socket saw them)")


def _scapy(action: Callable[[], ip_level.Sent]) -> ip_level.Sent:
    try:
        return action()
    except ip_level.NotPermitted as exc:
        raise NotExercised(
            f"scapy raw send not permitted (needs root or CAP_NET_RAW): {exc}"
        ) from None


@pytest.mark.req("SIP-ROB-MALF-IP-001")
def test_ip_fragmented_options_is_answered(api, ip_socket, device_target):
    """RFC 1122 §3.3.2 (MUST reassemble): an OPTIONS in IP fragments is answered."""
    timeout = device_target.profile.timers.state_timeout
    sent = _scapy(lambda: ip_socket.send_fragmented(fragment_size=256))
    answer = ip_socket.answer_to(sent.request, timeout)
    if answer is None and not sent.seen_on_wire:
        raise NotExercised(f"harness: the fragments were not seen on the wire ({sent.note})")
    problem = ip_level.judge_fragmented(sent, answer)
    if problem:
        raise DeviceFailure(f"[{api.req}] {problem}")
    api.accounts()


@pytest.mark.req("SIP-ROB-MALF-IP-001")
def test_ip_bad_udp_checksum_is_dropped(api, ip_socket, device_target):
    """RFC 1122 §4.1.3.4 (MUST silently discard): no answer to it; an OPTIONS after it answered."""
    timeout = device_target.profile.timers.state_timeout
    _sent_then_judged(
        api,
        ip_socket,
        timeout,
        send=lambda: ip_socket.send_bad_checksum(timeout),
        what="the datagram with a wrong checksum",
        judge=ip_level.judge_dropped,
    )


@pytest.mark.req("SIP-ROB-MALF-IP-001")
def test_ip_truncated_datagram(api, ip_socket, device_target):
    """RFC 768: a UDP length covering half the SIP message: never answered as the whole."""
    timeout = device_target.profile.timers.state_timeout
    _sent_then_judged(
        api,
        ip_socket,
        timeout,
        send=lambda: ip_socket.send_truncated("udp-length"),
        what="the truncated datagram",
        judge=ip_level.judge_truncated,
    )


def _sent_then_judged(api, ip_socket, timeout, *, send, what, judge):
    """Send with scapy (`send`), prove the datagram was on the wire, check an OPTIONS is still
    answered, look for an answer to it, and let `judge` decide; the API must still answer."""
    sent = _scapy(send)
    if not sent.seen_on_wire:
        raise NotExercised(f"harness: {what} was not seen on the wire ({sent.note})")
    live = ip_socket.options_alive(timeout)
    answer = ip_socket.answer_to(sent.request, 0.0)
    problem = judge(sent, answer, live)
    if problem:
        raise DeviceFailure(f"[{api.req}] {problem}")
    api.accounts()
