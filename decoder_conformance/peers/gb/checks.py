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

INVITE and BYE (real-time media into the decoder, §9.2.2; notes §4 "How a platform gets video
into a decoder"), checked on every call the platform places (gb/invite.py). "The device's SDP" is
its offer in the 200 to a bodyless INVITE (third-party call control) or its answer in the 200 to
the platform's sendonly offer:

- ``invite-no-contact``: a 2xx to INVITE without Contact (RFC 3261 §13.3.1.4 MUST; notes §6.15);
- ``invite-no-to-tag``: a 2xx to INVITE whose To has no tag (RFC 3261 §8.2.6.2 MUST);
- ``invite-no-sdp``: a 2xx without SDP: the offer to a bodyless INVITE (RFC 3261 §13.2.1, 2016
  §9.2.2.2) or the answer to the INVITE's offer (RFC 3264 §5/§6) must be in it;
- ``invite-content-type``: the 2xx body is not ``application/sdp`` (RFC 3261 §7.4.1, §20.15);
- ``invite-sdp-unreadable``: the device's SDP does not parse (RFC 4566 §5);
- ``invite-not-recvonly``: the device's media is not ``a=recvonly`` (2016/2022 §9.2.2: the decoder
  is the media receiver, its SDP recvonly, the source's sendonly);
- ``invite-no-ps``: no active video section with an ``a=rtpmap:<pt> PS/90000`` among its formats
  (2016 Annex C.1, 2022 Annex C; notes §4 and §6.17: mapped by rtpmap, any payload number);
- ``invite-payload-not-offered``: the answer lists payload types the offer did not (RFC 3264
  §6.1; the renumbered payload type sip-tt found on a camera);
- ``invite-transport-changed``: the answer's transport (RTP/AVP, TCP/RTP/AVP) is not the offer's
  (RFC 3264 §6.1);
- ``invite-ssrc-not-echoed``: the offer had ``y=`` and the answer has none or another value (2016
  Annex F note 4: within a domain the platform picks the SSRC and the device echoes it; notes
  §6.1);
- ``invite-ssrc-missing``: the offer had no ``y=`` and the answer has none: the device must
  choose one and return it (notes §6.2);
- ``invite-ssrc-malformed``: a ``y=`` that is not ten decimal digits starting 0 or 1 (2016 Annex
  F; 2022 Annex G);
- ``invite-format-malformed``: an ``f=`` without its full slash structure
  ``v/x/x/x/x/xa/x/x/x`` (2016 Annex F; notes §6.3; ``wire.gb_sdp.MediaFormat`` strict, as
  ``gb_problems`` reads it);
- ``invite-tcp-setup-missing``: TCP/RTP/AVP media without ``a=setup`` (2016 Annex L, 2022 Annex
  D; RFC 4145 §4);
- ``invite-tcp-setup-role``: ``a=setup`` that is not the complement of the offer's (active <->
  passive; actpass -> either), or in the device's own offer not active/passive/actpass (RFC 4145
  §4.1; notes §6.5);
- ``invite-udp-setup``: ``a=setup`` on RTP/AVP media: it is for TCP only (notes §6.5, AKStream
  PR #75);
- ``invite-origin-user``: the ``o=`` username is not the device's ID (2016 Annex F lists the
  device ID; practice, a finding);
- ``bye-not-200``: a BYE of the platform answered with a final other than 200 (RFC 3261 §15.1.2;
  2016 Annex M: a BYE gets a 200).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from decoder_conformance.peers import register_duties
from decoder_conformance.peers.capture import WireRecord
from wire import digest, gb_id, gb_sdp, manscdp
from wire.sdp import (
    DIRECTION_RECVONLY,
    SETUP_ACTIVE,
    SETUP_ACTPASS,
    SETUP_PASSIVE,
    VIDEO_CLOCK_RATE,
    SessionDescription,
)
from wire.sip import CONTENT_TYPE_SDP, NameAddr, SipRequest, SipResponse, SipUri

# REGISTER
NO_EXPIRES = "register-no-expires"
BAD_ID = "register-bad-id"
FROM_TO_DIFFER = "register-from-to-differ"
URI_USER = "uri-user"
URI_DOMAIN = "uri-domain"
REQUEST_URI = "request-uri"
NO_CONTACT = "register-no-contact"
CALL_ID_CHANGED = "register-call-id-changed"
CSEQ_NOT_INCREASING = register_duties.CSEQ_NOT_INCREASING
UNREGISTER_CALL_ID = "unregister-call-id"
AUTH_USERNAME = "auth-username"
AUTH_REALM = "auth-realm"
AUTH_URI = register_duties.AUTH_URI
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
# INVITE / BYE (real-time media)
INVITE_NO_CONTACT = "invite-no-contact"
INVITE_NO_TO_TAG = "invite-no-to-tag"
INVITE_NO_SDP = "invite-no-sdp"
INVITE_CONTENT_TYPE = "invite-content-type"
INVITE_SDP_UNREADABLE = "invite-sdp-unreadable"
INVITE_NOT_RECVONLY = "invite-not-recvonly"
INVITE_NO_PS = "invite-no-ps"
INVITE_PAYLOAD_NOT_OFFERED = "invite-payload-not-offered"
INVITE_TRANSPORT_CHANGED = "invite-transport-changed"
INVITE_SSRC_NOT_ECHOED = "invite-ssrc-not-echoed"
INVITE_SSRC_MISSING = "invite-ssrc-missing"
INVITE_SSRC_MALFORMED = "invite-ssrc-malformed"
INVITE_FORMAT_MALFORMED = "invite-format-malformed"
INVITE_TCP_SETUP_MISSING = "invite-tcp-setup-missing"
INVITE_TCP_SETUP_ROLE = "invite-tcp-setup-role"
INVITE_UDP_SETUP = "invite-udp-setup"
INVITE_ORIGIN_USER = "invite-origin-user"
BYE_NOT_200 = "bye-not-200"
#: Every INVITE/BYE code, for a case about "any duty of the call".
INVITE_CODES = (
    INVITE_NO_CONTACT,
    INVITE_NO_TO_TAG,
    INVITE_NO_SDP,
    INVITE_CONTENT_TYPE,
    INVITE_SDP_UNREADABLE,
    INVITE_NOT_RECVONLY,
    INVITE_NO_PS,
    INVITE_PAYLOAD_NOT_OFFERED,
    INVITE_TRANSPORT_CHANGED,
    INVITE_SSRC_NOT_ECHOED,
    INVITE_SSRC_MISSING,
    INVITE_SSRC_MALFORMED,
    INVITE_FORMAT_MALFORMED,
    INVITE_TCP_SETUP_MISSING,
    INVITE_TCP_SETUP_ROLE,
    INVITE_UDP_SETUP,
    INVITE_ORIGIN_USER,
    BYE_NOT_200,
)
#: What answers each offered a=setup role (RFC 4145 §4.1); no a=setup offered means active.
SETUP_COMPLEMENTS = {
    SETUP_ACTIVE: (SETUP_PASSIVE,),
    SETUP_PASSIVE: (SETUP_ACTIVE,),
    SETUP_ACTPASS: (SETUP_ACTIVE, SETUP_PASSIVE),
}

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
    return found + register_duties.digest_uri_findings(credentials, request)


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


# --- INVITE ---------------------------------------------------------------------------------------


def invite_2xx_findings(response: SipResponse) -> list[Finding]:
    """The headers of a 2xx to the platform's INVITE: Contact, To tag, the SDP's Content-Type."""
    found: list[Finding] = []
    try:
        contacts = response.contacts
    except ValueError as exc:
        contacts = []
        found.append((INVITE_NO_CONTACT, f"the 2xx Contact does not parse: {exc}"))
    if not contacts and not found:
        found.append(
            (
                INVITE_NO_CONTACT,
                f"{response.status_code} to INVITE without Contact: the platform has no remote "
                "target for ACK and BYE (RFC 3261 §13.3.1.4; notes §6.15)",
            )
        )
    try:
        tag = response.to_addr.tag
    except ValueError:
        tag = None
    if not tag:
        found.append(
            (
                INVITE_NO_TO_TAG,
                f"{response.status_code} to INVITE without a To tag (RFC 3261 §8.2.6.2)",
            )
        )
    if response.body:
        value = response.content_type
        media_type = (value or "").split(";", 1)[0].strip().lower()
        if media_type != CONTENT_TYPE_SDP:
            found.append(
                (
                    INVITE_CONTENT_TYPE,
                    f"the 2xx body is Content-Type {value!r}, not {CONTENT_TYPE_SDP} "
                    "(RFC 3261 §7.4.1)",
                )
            )
    return found


def ps_payload_types(description: SessionDescription, index: int) -> list[int]:
    """The payload types of media `index` that its rtpmaps map to PS/90000, in m= order."""
    media = description.media[index]
    found = []
    for fmt in media.formats:
        if not fmt.isdigit():
            continue
        try:
            entry = media.rtpmap(int(fmt), static_defaults=False)
        except ValueError:
            continue
        if (
            entry is not None
            and entry.encoding_name.upper() == gb_sdp.ENCODING_PS
            and entry.clock_rate == VIDEO_CLOCK_RATE
        ):
            found.append(int(fmt))
    return found


def _ssrc_value(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return gb_sdp.GbSsrc.parse(text).value
    except gb_sdp.GbSdpError:
        return None


def _gb_line_findings(description: SessionDescription) -> list[Finding]:
    """Every y= in the strict ten-digit form, every f= with its full slash structure."""
    found: list[Finding] = []
    lines = list(description.lines) + [line for m in description.media for line in m.lines]
    for kind, value in lines:
        if kind == "y":
            try:
                gb_sdp.GbSsrc.parse(value, strict=True)
            except gb_sdp.GbSdpError as exc:
                found.append((INVITE_SSRC_MALFORMED, f"{exc} ({gb_sdp.CITE_SDP})"))
        elif kind == "f":
            try:
                gb_sdp.MediaFormat.parse(value, strict=True)
            except gb_sdp.GbSdpError as exc:
                text = str(exc)
                cited = text if gb_sdp.CITE_SDP in text else f"{text} ({gb_sdp.CITE_SDP})"
                found.append((INVITE_FORMAT_MALFORMED, f"f={value}: {cited}"))
    return found


def device_sdp_findings(
    description: SessionDescription,
    *,
    device_id: str,
    offer: SessionDescription | None = None,
) -> list[Finding]:
    """The device's SDP in its 2xx: its offer (`offer` None, third-party call control) or its
    answer to the platform's `offer`. See the module docstring for each code and its source."""
    found: list[Finding] = []
    username = description.origin.username
    if username != device_id:
        found.append(
            (
                INVITE_ORIGIN_USER,
                f"o= username {username!r} is not the device ID {device_id} ({gb_sdp.CITE_SDP})",
            )
        )
    found += _gb_line_findings(description)
    index = gb_sdp.video_index(description)
    if index is None:
        found.append(
            (
                INVITE_NO_PS,
                f"no m=video line with a non-zero port, so no PS video ({gb_sdp.CITE_PS})",
            )
        )
        return found
    media = description.media[index]
    where = f"m={media.m_value()}"
    direction = description.media_direction(index)
    if direction != DIRECTION_RECVONLY:
        found.append(
            (
                INVITE_NOT_RECVONLY,
                f"{where}: a={direction}; the decoder receives, its SDP is recvonly "
                f"({gb_sdp.CITE_FLOW})",
            )
        )
    if not ps_payload_types(description, index):
        maps = ", ".join(m.to_string() for m in media.rtpmaps()) or "none"
        found.append(
            (
                INVITE_NO_PS,
                f"{where}: no a=rtpmap:<pt> PS/90000 among its formats (rtpmaps: {maps}; "
                f"{gb_sdp.CITE_PS})",
            )
        )
    found += _setup_findings(description, index, offer)
    if offer is not None:
        found += _answer_findings(description, index, offer)
    return found


def _setup_findings(
    description: SessionDescription, index: int, offer: SessionDescription | None
) -> list[Finding]:
    media = description.media[index]
    setup = gb_sdp.setup_of(media)
    where = f"m={media.m_value()}"
    if not gb_sdp.is_tcp(media):
        if setup is None:
            return []
        return [
            (
                INVITE_UDP_SETUP,
                f"a=setup:{setup} on UDP media {where}: a=setup is for TCP only "
                f"({gb_sdp.CITE_TCP}; notes §6.5)",
            )
        ]
    if setup is None:
        return [
            (
                INVITE_TCP_SETUP_MISSING,
                f"{where}: TCP media without a=setup:active|passive ({gb_sdp.CITE_TCP})",
            )
        ]
    offered_index = None if offer is None else gb_sdp.video_index(offer)
    if offer is None or offered_index is None:
        allowed: tuple[str, ...] = (SETUP_ACTIVE, SETUP_PASSIVE, SETUP_ACTPASS)
        offered_text = ""
    else:
        offered = gb_sdp.setup_of(offer.media[offered_index]) or SETUP_ACTIVE
        allowed = SETUP_COMPLEMENTS.get(offered, ())
        offered_text = f" to the offered a=setup:{offered}"
    if setup not in allowed:
        return [
            (
                INVITE_TCP_SETUP_ROLE,
                f"a=setup:{setup}{offered_text}; expected {' or '.join(allowed) or 'none'} "
                f"({gb_sdp.CITE_TCP})",
            )
        ]
    return []


def _answer_findings(
    answer: SessionDescription, index: int, offer: SessionDescription
) -> list[Finding]:
    found: list[Finding] = []
    offered_index = gb_sdp.video_index(offer)
    if offered_index is None:
        return found
    offered, answered = offer.media[offered_index], answer.media[index]
    if answered.proto.upper() != offered.proto.upper():
        found.append(
            (
                INVITE_TRANSPORT_CHANGED,
                f"answered over {answered.proto}, offered {offered.proto} (RFC 3264 §6.1)",
            )
        )
    unknown = [f for f in answered.formats if f not in offered.formats]
    if unknown:
        found.append(
            (
                INVITE_PAYLOAD_NOT_OFFERED,
                f"payload types {unknown} were not offered ({offered.formats}; RFC 3264 §6.1)",
            )
        )
    offered_y = gb_sdp.ssrc_line_of(offer, offered_index)
    answered_y = gb_sdp.ssrc_line_of(answer, index)
    if offered_y is not None:
        if answered_y is None:
            found.append(
                (
                    INVITE_SSRC_NOT_ECHOED,
                    f"the offer had y={offered_y.strip()} and the answer has no y= "
                    f"({gb_sdp.CITE_SSRC_ECHO}; notes §6.1)",
                )
            )
        elif _ssrc_value(answered_y) != _ssrc_value(offered_y):
            found.append(
                (
                    INVITE_SSRC_NOT_ECHOED,
                    f"y={answered_y.strip()} does not echo the offered y={offered_y.strip()}; "
                    f"within a domain the platform picks the SSRC ({gb_sdp.CITE_SSRC_ECHO})",
                )
            )
    elif answered_y is None:
        found.append(
            (
                INVITE_SSRC_MISSING,
                "the offer had no y= and the answer has none either: the device must choose an "
                f"SSRC and return it (notes §6.2; {gb_sdp.CITE_SDP})",
            )
        )
    return found


def bye_findings(response: SipResponse) -> list[Finding]:
    """The final answer to the platform's BYE: 200 (RFC 3261 §15.1.2)."""
    if response.status_code == 200:
        return []
    return [
        (
            BYE_NOT_200,
            f"BYE answered {response.status_code} {response.reason}, not 200 (RFC 3261 §15.1.2; "
            "2016 Annex M)",
        )
    ]
