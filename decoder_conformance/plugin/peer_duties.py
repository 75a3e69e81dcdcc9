"""The peers' checks of the device's RFC duties, as duty checks of every case that started them.

The peers check what the RFCs make the device's duty on every exchange (peers/registrar.py via
peers/register_duties.py, peers/raw_ua.py's RawCallee.ack_problems, the GB28181 platform's
peers/gb/checks.py); the dedicated cases assert
them, and through these checks every other case that started the peer fails, under the duty's own
requirement, when the device broke one there (plugin/verdicts.py judges them at teardown). A
requirement is returned only when the case exercised it (a REGISTER with credentials, two on
one Call-ID, an ACK to the callee's 2xx).
"""

from __future__ import annotations

from collections.abc import Callable

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers import register_duties
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb.registrar import GbRegistrar
from decoder_conformance.peers.raw_ua import RawCallee
from decoder_conformance.peers.registrar import (
    INVITE_AUTH_URI,
    INVITE_CSEQ_NOT_INCREASING,
    Registrar,
    is_authorized,
    is_register,
)
from decoder_conformance.plugin.stash import DutyResults
from wire import sip

#: The registrar's violation codes (peers/register_duties.py) -> the requirement of each.
REGISTER_REQUIREMENTS = {
    register_duties.AUTH_URI: "SIP-REG-014",
    register_duties.CSEQ_NOT_INCREASING: "SIP-REG-015",
}
#: The registrar's INVITE codes (as the proxy of its domain) -> the requirement of each.
INVITE_REQUIREMENTS = {
    INVITE_AUTH_URI: "SIP-CALL-AUTH-002",
    INVITE_CSEQ_NOT_INCREASING: "SIP-CALL-AUTH-002",
}
ACK_REQUIREMENT = "SIP-CALL-ACK-001"
#: The GB28181 platform's REGISTER and MESSAGE codes -> the requirement of each. Only codes whose
#: breach is the device's whatever the case does: not CALL_ID_CHANGED (a device may start a new
#: registration after a refused keepalive), not AUTH_RESPONSE or AUTH_MALFORMED (a case may give
#: a wrong password), not REQUEST_URI (it serves GB-REG-002 and GB-QRY-010), and none of the
#: INVITE codes (a media case judges its own call).
GB_REGISTER_REQUIREMENTS = {
    checks.BAD_ID: "GB-REG-002",
    checks.FROM_TO_DIFFER: "GB-REG-002",
    checks.URI_USER: "GB-REG-002",
    checks.URI_DOMAIN: "GB-REG-002",
    checks.AUTH_USERNAME: "GB-REG-003",
    checks.AUTH_REALM: "GB-REG-003",
    checks.AUTH_URI: "GB-REG-003",
    checks.CSEQ_NOT_INCREASING: "GB-REG-005",
    checks.UNREGISTER_CALL_ID: "GB-REG-006",
    checks.NO_EXPIRES: "GB-REG-009",
    checks.NO_CONTACT: "GB-REG-010",
}
GB_MESSAGE_REQUIREMENTS = {
    checks.CONTENT_TYPE: "GB-KA-003",
    checks.CONTENT_TYPE_CASE: "GB-KA-004",
    checks.BODY_DEVICE_ID: "GB-QRY-010",
}


def _parses(record: WireRecord) -> bool:
    """Whether the record is SIP that parses (bytes that are not are judged by the case that
    read them)."""
    try:
        record.message  # noqa: B018 - parsed for the check
    except Exception:
        return False
    return True


def _is_invite_with_credentials(record: WireRecord) -> bool:
    """Whether `record` is an INVITE the device sent the registrar with credentials."""
    message = record.message
    return (
        record.direction == "RX"
        and isinstance(message, sip.SipRequest)
        and message.method == "INVITE"
        and any(
            message.headers.get(h) is not None for h in ("Authorization", "Proxy-Authorization")
        )
    )


def registrar_duties(server: Registrar) -> Callable[[], DutyResults]:
    """The duty check of one registrar: its violations by requirement."""

    def check() -> DutyResults:
        registers = [r for r in server.records() if _parses(r) and is_register(r)]
        # Retransmissions (one Via branch) are one request: only new requests count.
        call_ids = [r.message.call_id for r in registers]
        requests = {(r.message.call_id, r.message.cseq.number) for r in registers}
        results: dict[str, list[str]] = {}
        if any(is_authorized(r) for r in registers):
            results[REGISTER_REQUIREMENTS[register_duties.AUTH_URI]] = []
        if len(requests) > len(set(call_ids)):
            results[REGISTER_REQUIREMENTS[register_duties.CSEQ_NOT_INCREASING]] = []
        # The INVITE duties are exercised once the device sent an INVITE with credentials.
        if any(_is_invite_with_credentials(r) for r in server.records() if _parses(r)):
            results.setdefault(INVITE_REQUIREMENTS[INVITE_AUTH_URI], [])
        codes = {**REGISTER_REQUIREMENTS, **INVITE_REQUIREMENTS}
        for violation in server.violations(*codes):
            req = codes[violation.code]
            results.setdefault(req, []).append(f"registrar {server.address}: {violation}")
        return results

    return check


def _answered_2xx(callee: RawCallee) -> list[str]:
    """Call-IDs the callee answered with a 2xx and got an ACK on."""
    answered, acked = [], set()
    for record in callee.records():
        try:
            message = record.message
        except Exception:  # not SIP: the case that read it judges it
            continue
        call_id = message.call_id or ""
        if (
            record.direction == "TX"
            and isinstance(message, sip.SipResponse)
            and message.cseq.method == "INVITE"
            and 200 <= message.status_code < 300
        ):
            answered.append(call_id)
        elif (
            record.direction == "RX"
            and isinstance(message, sip.SipRequest)
            and message.method == "ACK"
        ):
            acked.add(call_id)
    return [c for c in dict.fromkeys(answered) if c in acked]


def callee_duties(callee: RawCallee) -> Callable[[], DutyResults]:
    """The duty check of one raw callee: the device's ACKs to its 2xx (RFC 3261 §13.2.2.4)."""

    def check() -> DutyResults:
        calls = _answered_2xx(callee)
        if not calls:
            return {}
        problems = []
        for call_id in calls:
            try:
                found = callee.ack_problems(call_id)
            except NotExercised:
                continue  # nothing to judge on this call (the callee says why)
            problems += [f"callee {callee.address}, Call-ID {call_id}: {p}" for p in found]
        return {ACK_REQUIREMENT: problems}

    return check


def _received(server: GbRegistrar, method: str) -> bool:
    """Whether the platform received a `method` request that parses."""
    return any(
        r.direction == "RX"
        and _parses(r)
        and isinstance(r.message, sip.SipRequest)
        and r.message.method == method
        for r in server.records()
    )


def gb_platform_duties(server: GbRegistrar) -> Callable[[], DutyResults]:
    """The duty check of one GB28181 platform: its REGISTER and MESSAGE violations."""

    def check() -> DutyResults:
        results: dict[str, list[str]] = {}
        for method, table in (
            ("REGISTER", GB_REGISTER_REQUIREMENTS),
            ("MESSAGE", GB_MESSAGE_REQUIREMENTS),
        ):
            if _received(server, method):
                results.update({req: [] for req in table.values()})
        mapped = GB_REGISTER_REQUIREMENTS | GB_MESSAGE_REQUIREMENTS
        for violation in server.violations():
            req = mapped.get(violation.code)
            if req is not None:
                results.setdefault(req, []).append(f"platform {server.address}: {violation}")
        return results

    return check
