"""The device's duties the GB28181 platform checks on every exchange, as named violations.

Each check returns `(code, detail)` pairs; the platform stamps them into `Violation`s with the
time, the device and the record, and a case asserts on the codes it is about (one device choice
fails at most the one requirement about it). Sources, per code (notes/gb28181.md):

- URIs (2016 §6.1.2, J.1): From/To user is the 20-digit ID, host the first ten digits, that plus
  ``.spvmn.cn``, or IP:port; REGISTER From = To = the device; Request-URI ``sip:<serverID>@...``
  (or RFC 3261's user-less form);
- REGISTER (§9.1, RFC 3261 §10.2): Contact present, one Call-ID across refreshes, CSeq growing
  within it, ``Expires: 0`` on the same Call-ID to unregister;
- digest (RFC 3261 §22.4, notes §6.11): username, realm of the challenge, uri = Request-URI;
- MESSAGE (§9.5, §9.6, notes §6.6/§6.7): ``Application/MANSCDP+xml`` as the standard writes it,
  body DeviceID = From user, encoding problems from wire.manscdp.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from decoder_conformance.peers.capture import WireRecord
from wire import digest, gb_id, manscdp
from wire.sip import NameAddr, SipRequest, SipUri

# REGISTER
NO_EXPIRES = "register-no-expires"
BAD_ID = "register-bad-id"
FROM_TO_DIFFER = "register-from-to-differ"
URI_USER = "uri-user"
URI_DOMAIN = "uri-domain"
REQUEST_URI = "request-uri"
NO_CONTACT = "register-no-contact"
CALL_ID_CHANGED = "register-call-id-changed"
CSEQ_NOT_INCREASING = "cseq-not-increasing"
UNREGISTER_CALL_ID = "unregister-call-id"
AUTH_USERNAME = "auth-username"
AUTH_REALM = "auth-realm"
AUTH_URI = "auth-uri"
AUTH_RESPONSE = "auth-response"
AUTH_MALFORMED = "auth-malformed"
# MESSAGE
CONTENT_TYPE = "content-type"
CONTENT_TYPE_CASE = "content-type-case"
BODY_UNREADABLE = "manscdp-unreadable"
BODY_DEVICE_ID = "manscdp-device-id"
KEEPALIVE_STATUS = "keepalive-status"
RESPONSE_MISMATCH = "response-mismatch"
RESPONSE_UNMATCHED = "response-unmatched"
#: A wire.manscdp problem code is recorded as this prefix plus the code.
MANSCDP_PREFIX = "manscdp:"

Finding = tuple[str, str]


@dataclass(frozen=True)
class Violation:
    """One duty the device did not keep on one exchange."""

    t: float
    device_id: str
    code: str
    detail: str
    record: WireRecord

    def __str__(self) -> str:
        return f"{self.code} ({self.device_id or 'unknown device'}): {self.detail}"


def _host_ok(host: str, port: int | None, domain: str) -> bool:
    if host.lower() in (domain, domain + gb_id.SPVMN_SUFFIX):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True  # IP:port is the third form §6.1.2 allows


def _uri(text: NameAddr | str) -> SipUri | None:
    try:
        return text.sip_uri() if isinstance(text, NameAddr) else SipUri.parse(text)
    except ValueError:
        return None


def address_findings(what: str, addr: NameAddr, expected_user: str | None) -> list[Finding]:
    """From/To: user a 20-digit ID (= `expected_user` when given), host an allowed domain form."""
    uri = _uri(addr)
    if uri is None:
        return [(URI_USER, f"{what} {addr} is not a SIP URI")]
    found: list[Finding] = []
    user = uri.user or ""
    if not gb_id.is_valid_id(user):
        found.append((URI_USER, f"{what} user {user!r} is not a 20-digit GB28181 ID"))
    elif expected_user is not None and user != expected_user:
        found.append((URI_USER, f"{what} user {user} is not {expected_user}"))
    if gb_id.is_valid_id(user) and not _host_ok(uri.host, uri.port, gb_id.realm_of(user)):
        found.append(
            (
                URI_DOMAIN,
                f"{what} host {uri.host!r} is neither {gb_id.realm_of(user)}, "
                f"{gb_id.realm_of(user)}{gb_id.SPVMN_SUFFIX} nor an IP address",
            )
        )
    return found


def request_uri_findings(request: SipRequest, platform_id: str) -> list[Finding]:
    """Request-URI ``sip:<serverID>@<domain or IP:port>``, or RFC 3261's ``sip:<domain>``."""
    uri = _uri(request.uri)
    if uri is None:
        return [(REQUEST_URI, f"Request-URI {request.uri!r} is not a SIP URI")]
    found: list[Finding] = []
    if uri.user is not None and uri.user != platform_id:
        found.append(
            (REQUEST_URI, f"Request-URI user {uri.user} is not the platform {platform_id}")
        )
    if not _host_ok(uri.host, uri.port, gb_id.realm_of(platform_id)):
        found.append((REQUEST_URI, f"Request-URI host {uri.host!r} is not the platform's domain"))
    return found


def user_of(addr: NameAddr) -> str:
    """The user part of a From/To address ('' when there is none or it does not parse)."""
    uri = _uri(addr)
    return "" if uri is None or uri.user is None else uri.user


def credential_findings(
    credentials: digest.Credentials,
    request: SipRequest,
    *,
    device_id: str,
    realm: str,
    usernames: set[str],
) -> list[Finding]:
    """The Authorization of a REGISTER: username, realm of the challenge, uri = Request-URI."""
    found: list[Finding] = []
    if credentials.username != device_id and credentials.username not in usernames:
        found.append(
            (
                AUTH_USERNAME,
                f"digest username {credentials.username!r} is neither the device ID "
                f"{device_id} nor a configured user",
            )
        )
    if credentials.realm != realm:
        found.append(
            (AUTH_REALM, f"digest realm {credentials.realm!r} is not the challenge's {realm!r}")
        )
    if credentials.uri != request.uri:
        found.append(
            (
                AUTH_URI,
                f"digest uri {credentials.uri!r} is not the Request-URI {request.uri!r} "
                "(RFC 3261 §22.4)",
            )
        )
    return found


def content_type_findings(request: SipRequest) -> list[Finding]:
    """MANSCDP Content-Type: any case is accepted, the standard's spelling is expected."""
    value = request.content_type
    if value is None or not manscdp.is_manscdp_content_type(value):
        return [(CONTENT_TYPE, f"Content-Type {value!r} is not {manscdp.CONTENT_TYPE}")]
    if value.split(";", 1)[0].strip() != manscdp.CONTENT_TYPE:
        return [
            (CONTENT_TYPE_CASE, f"Content-Type {value!r} is not spelled {manscdp.CONTENT_TYPE}")
        ]
    return []


def body_findings(parsed: manscdp.ParseResult, from_user: str) -> list[Finding]:
    """wire.manscdp's problems, and a body DeviceID that is not the sender's."""
    found = [(MANSCDP_PREFIX + p.code, p.detail) for p in parsed.detected_problems]
    message = parsed.message
    if message is not None and message.device_id != from_user and message.root != "Response":
        found.append(
            (
                BODY_DEVICE_ID,
                f"{message.root}/{message.cmd_type} DeviceID {message.device_id} "
                f"is not the sender {from_user}",
            )
        )
    return found
