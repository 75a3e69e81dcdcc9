"""SIP messages (RFC 3261): parse and serialize requests and responses, with no I/O.

Hand-written on purpose: the maintained Python SIP stacks (pjsua2, sipvicious, aiosip and the like)
parse messages only as part of their own transport and transaction layers, so none of them offers a
pure ``bytes -> message -> bytes`` codec that a conformance suite can point at a device's traffic,
round-trip byte for byte and fuzz. This module is that codec: no sockets, no asyncio, no logging,
standard library only.

What it does:

* ``parse(data)`` reads one message from a datagram (Content-Length honoured, extra octets after
  the body ignored as RFC 3261 §18.3 asks); ``parse_stream(buffer)`` reads one message from the
  front of a stream buffer and says how many bytes it used, or returns None when more are needed.
* Headers are an ordered multi-map (:class:`Headers`) that keeps the names as written, repeated
  headers and the raw (possibly folded) lines, so an unmodified parsed message serializes to the
  same bytes. Lookup is case-insensitive and knows the compact forms (``v`` is Via, ...).
* The headers whose syntax the transaction layer relies on (Via, From, To, Contact, Route,
  Record-Route, CSeq, Content-Length, Max-Forwards) are checked while parsing; any error is a
  ``ValueError`` naming the line and what was wrong.
* Helpers: :class:`Via`, :class:`NameAddr`, :class:`SipUri`, :class:`CSeq`,
  :func:`make_response`, :func:`new_branch`, :func:`new_tag`, :func:`new_call_id`.
* Request builders, so no caller assembles Via/CSeq/Route by hand: :func:`make_request`
  (RFC 3261 §8.1.1), :func:`make_ack_for_non_2xx` (§17.1.1.3) and :func:`make_cancel` (§9.1).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

# --- methods (RFC 3261 §7.1 and extensions) -------------------------------------------------------

METHOD_INVITE = "INVITE"
METHOD_ACK = "ACK"
METHOD_BYE = "BYE"
METHOD_CANCEL = "CANCEL"
METHOD_OPTIONS = "OPTIONS"
METHOD_REGISTER = "REGISTER"
METHOD_INFO = "INFO"  # RFC 6086
METHOD_MESSAGE = "MESSAGE"  # RFC 3428
METHOD_SUBSCRIBE = "SUBSCRIBE"  # RFC 6665
METHOD_NOTIFY = "NOTIFY"  # RFC 6665
METHOD_UPDATE = "UPDATE"  # RFC 3311
METHOD_PRACK = "PRACK"  # RFC 3262
METHOD_REFER = "REFER"  # RFC 3515
METHOD_PUBLISH = "PUBLISH"  # RFC 3903

# --- status codes (RFC 3261 §21) ------------------------------------------------------------------

STATUS_TRYING = 100
STATUS_RINGING = 180
STATUS_SESSION_PROGRESS = 183
STATUS_OK = 200
STATUS_ACCEPTED = 202
STATUS_BAD_REQUEST = 400
STATUS_UNAUTHORIZED = 401
STATUS_FORBIDDEN = 403
STATUS_NOT_FOUND = 404
STATUS_METHOD_NOT_ALLOWED = 405
STATUS_PROXY_AUTHENTICATION_REQUIRED = 407
STATUS_REQUEST_TIMEOUT = 408
STATUS_UNSUPPORTED_MEDIA_TYPE = 415
STATUS_BAD_EXTENSION = 420
STATUS_INTERVAL_TOO_BRIEF = 423
STATUS_TEMPORARILY_UNAVAILABLE = 480
STATUS_CALL_DOES_NOT_EXIST = 481
STATUS_LOOP_DETECTED = 482
STATUS_TOO_MANY_HOPS = 483
STATUS_BUSY_HERE = 486
STATUS_REQUEST_TERMINATED = 487
STATUS_NOT_ACCEPTABLE_HERE = 488
STATUS_REQUEST_PENDING = 491
STATUS_SERVER_INTERNAL_ERROR = 500
STATUS_NOT_IMPLEMENTED = 501
STATUS_SERVICE_UNAVAILABLE = 503
STATUS_VERSION_NOT_SUPPORTED = 505
STATUS_DECLINE = 603

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

SIP_VERSION = "SIP/2.0"
BRANCH_MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7
CRLF = "\r\n"
MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31
MAX_CONTENT_LENGTH = 2**31 - 1
MAX_FORWARDS_LIMIT = 255  # RFC 3261 §20.22: Max-Forwards is 0-255
DEFAULT_MAX_HEADER_BYTES = 65536

# Compact header forms (RFC 3261 §7.3.3 and the IANA registry) -> full lower-case names.
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "f": "from",
    "t": "to",
    "v": "via",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "u": "allow-events",  # RFC 6665
    "x": "session-expires",  # RFC 4028
    "b": "referred-by",  # RFC 3892
}

# Headers whose grammar is a comma-separated list (RFC 3261 §25.1, `#` rules); only these may be
# split on commas. Authorization-style headers carry commas inside one value and are not listed.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "alert-info",
        "call-info",
        "error-info",
        "in-reply-to",
        "warning",
        "allow-events",
        "path",
        "service-route",
    }
)

_TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~"
_TOKEN_RE = re.compile(f"[{_TOKEN_CHARS}]+")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_ABSOLUTE_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"]+")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?")
_ESCAPED = "%[0-9A-Fa-f]{2}"
_UNRESERVED = "A-Za-z0-9\\-_.!~*'()"
_USER_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
_PASSWORD_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
_URI_PARAM_RE = re.compile(f"(?:[{_UNRESERVED}\\[\\]/:&+$]|{_ESCAPED})+")
_URI_HEADER_RE = re.compile(f"(?:[{_UNRESERVED}\\[\\]/?:+$]|{_ESCAPED})*")
_GEN_VALUE_RE = re.compile(f"[{_TOKEN_CHARS}:\\[\\]]+")
_DIGITS_RE = re.compile(r"[0-9]+")


class UnsupportedVersionError(ValueError):
    """The start line is well formed but names a SIP version other than 2.0 (answer 505)."""

    def __init__(self, version: str, where: str) -> None:
        super().__init__(f"{where}: unsupported SIP version {version!r} (only SIP/2.0)")
        self.version = version


# --- small lexical helpers ------------------------------------------------------------------------


def is_token(text: str) -> bool:
    """True when `text` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.fullmatch(text) is not None


def quote_string(text: str) -> str:
    """`text` as an RFC 3261 quoted-string (backslash before ``"`` and ``\\``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string opening at `text[start]` (which is ``"``)."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise ValueError(f"quoted string opened at offset {start} ends in a lone backslash")
            i += 2
            continue
        if char == '"':
            return i + 1
        i += 1
    raise ValueError(f"unterminated quoted string starting at offset {start}")


def unquote_string(text: str) -> str:
    """The content of the quoted-string `text` (which must be exactly one quoted-string)."""
    if not text.startswith('"'):
        raise ValueError(f"expected a quoted string, got {text!r}")
    end = _scan_quoted(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected text after quoted string: {text[end:]!r}")
    out: list[str] = []
    i = 1
    while i < end - 1:
        if text[i] == "\\":
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_outside(text: str, separator: str) -> list[str]:
    """Split `text` on `separator`, ignoring separators inside quoted strings and ``<...>``.

    Raises ValueError on an unterminated quoted string or ``<`` without ``>``.
    """
    parts: list[str] = []
    current = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _scan_quoted(text, i)
            continue
        if char == "<":
            close = text.find(">", i)
            if close < 0:
                raise ValueError(f"'<' at offset {i} has no matching '>'")
            i = close + 1
            continue
        if char == separator:
            parts.append(text[current:i])
            current = i + 1
        i += 1
    parts.append(text[current:])
    return parts


def split_header_values(value: str) -> list[str]:
    """The comma-separated elements of a list header value, trimmed (quotes and ``<>`` respected).

    An empty value gives an empty list; an empty element (``a,,b``) is a ValueError.
    """
    if not value.strip():
        return []
    parts = [part.strip(" \t") for part in split_outside(value, ",")]
    for index, part in enumerate(parts):
        if not part:
            raise ValueError(f"empty element {index + 1} in comma-separated list {value!r}")
    return parts


Params: TypeAlias = dict[str, str | None]


def _parse_params(text: str, where: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (text starts with ``;`` or is blank)."""
    params: Params = {}
    stripped = text.strip(" \t")
    if not stripped:
        return params
    if not stripped.startswith(";"):
        raise ValueError(f"{where}: expected ';' before parameters, got {stripped[:30]!r}")
    for raw in split_outside(stripped, ";")[1:]:
        item = raw.strip(" \t")
        if not item:
            raise ValueError(f"{where}: empty parameter (stray ';')")
        name, equals, value = item.partition("=")
        name = name.strip(" \t")
        if not is_token(name):
            raise ValueError(f"{where}: parameter name {name!r} is not a token")
        if not equals:
            params[name] = None
            continue
        value = value.strip(" \t")
        if not value:
            raise ValueError(f"{where}: parameter {name!r} has '=' but no value")
        if value.startswith('"'):
            unquote_string(value)  # validates: exactly one complete quoted-string
        elif _GEN_VALUE_RE.fullmatch(value) is None:
            raise ValueError(f"{where}: parameter {name!r} has an invalid value {value!r}")
        params[name] = value
    return params


def _format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def get_param(params: Params, name: str) -> str | None:
    """The value of parameter `name` (case-insensitive); None when absent or valueless."""
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def has_param(params: Params, name: str) -> bool:
    """True when parameter `name` is present (case-insensitive), with or without a value."""
    lowered = name.lower()
    return any(key.lower() == lowered for key in params)


def _parse_host(text: str, where: str) -> str:
    """A host: hostname, IPv4 address or bracketed IPv6 reference (brackets removed)."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"{where}: IPv6 reference {text!r} has no closing ']'")
        inner = text[1:-1]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ValueError(f"{where}: {inner!r} is not an IPv6 address") from None
        return inner
    if not text:
        raise ValueError(f"{where}: host is empty")
    if _HOSTNAME_RE.fullmatch(text) is None:
        raise ValueError(f"{where}: {text!r} is not a valid host")
    return text


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _parse_port(text: str, where: str) -> int:
    if _DIGITS_RE.fullmatch(text) is None or len(text) > 5 or int(text) > 65535:
        raise ValueError(f"{where}: port {text!r} is not an integer 0-65535")
    return int(text)


def _split_hostport(text: str, where: str) -> tuple[str, int | None]:
    """``host [ ":" port ]`` with optional LWS around the colon."""
    text = text.strip(" \t")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{where}: IPv6 reference {text!r} has no closing ']'")
        host_text, rest = text[: close + 1], text[close + 1 :].strip(" \t")
    else:
        host_text, colon, port_text = text.partition(":")
        host_text = host_text.strip(" \t")
        rest = colon + port_text
    if not rest:
        return _parse_host(host_text, where), None
    if not rest.startswith(":"):
        raise ValueError(f"{where}: unexpected {rest!r} after host")
    return _parse_host(host_text, where), _parse_port(rest[1:].strip(" \t"), where)


# --- SIP URI --------------------------------------------------------------------------------------


@dataclass
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1); user, password and parameters stay escaped."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP/SIPS URI; ValueError names the part that is wrong."""
        where = f"SIP URI {text[:80]!r}"
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            raise ValueError(f"{where}: scheme must be sip or sips")
        if any(c.isspace() for c in text):
            raise ValueError(f"{where}: contains whitespace")
        user: str | None = None
        password: str | None = None
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user_text, has_password, password_text = userinfo.partition(":")
            if _USER_RE.fullmatch(user_text) is None:
                raise ValueError(f"{where}: user part {user_text!r} is empty or has invalid chars")
            user = user_text
            if has_password:
                if _PASSWORD_RE.fullmatch(password_text) is None:
                    raise ValueError(f"{where}: password has invalid characters")
                password = password_text
        headers: dict[str, str] = {}
        rest, question, header_text = rest.partition("?")
        if question:
            for item in header_text.split("&"):
                name, equals, value = item.partition("=")
                if not equals or _URI_PARAM_RE.fullmatch(name) is None:
                    raise ValueError(f"{where}: URI header {item!r} is not hname=hvalue")
                if _URI_HEADER_RE.fullmatch(value) is None:
                    raise ValueError(f"{where}: URI header {name!r} has invalid characters")
                headers[name] = value
        hostport, semi, param_text = rest.partition(";")
        host, port = _split_hostport(hostport, where)
        params: Params = {}
        if semi:
            for item in param_text.split(";"):
                name, equals, value = item.partition("=")
                if _URI_PARAM_RE.fullmatch(name) is None:
                    raise ValueError(f"{where}: URI parameter {item!r} is empty or invalid")
                if equals and _URI_PARAM_RE.fullmatch(value) is None:
                    raise ValueError(f"{where}: URI parameter {name!r} has an invalid value")
                params[name] = value if equals else None
        return cls(host, user, password, port, params, headers, scheme.lower())

    def to_string(self) -> str:
        """The URI text."""
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(_format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def transport(self) -> str | None:
        """The ``transport`` URI parameter, if any."""
        return get_param(self.params, "transport")


def is_absolute_uri(text: str) -> bool:
    """True when `text` looks like ``scheme:rest`` with no whitespace, quotes or angle brackets."""
    return _ABSOLUTE_URI_RE.fullmatch(text) is not None


def _check_uri(text: str, where: str) -> None:
    if not is_absolute_uri(text):
        raise ValueError(f"{where}: {text[:80]!r} is not an absolute URI")
    if text.split(":", 1)[0].lower() in ("sip", "sips"):
        SipUri.parse(text)


# --- name-addr ------------------------------------------------------------------------------------


@dataclass
class NameAddr:
    """``[display-name] <URI> *(;param)`` or ``addr-spec *(;param)`` (From, To, Contact, Route).

    `display_name` is unquoted and unescaped; `uri` is kept as text (see :meth:`sip_uri`).
    Serialization always quotes the display name and brackets the URI.
    """

    uri: str
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse one name-addr / addr-spec with header parameters."""
        where = f"address {text.strip()[:80]!r}"
        value = text.strip(" \t")
        if not value:
            raise ValueError(f"{where}: empty")
        display: str | None = None
        if value.startswith('"'):
            end = _scan_quoted(value, 0)
            display = unquote_string(value[:end])
            rest = value[end:].lstrip(" \t")
            if not rest.startswith("<"):
                raise ValueError(f"{where}: quoted display name must be followed by <URI>")
        else:
            angle = value.find("<")
            if angle >= 0:
                words = value[:angle].strip(" \t")
                for word in words.split():
                    if not is_token(word):
                        raise ValueError(
                            f"{where}: display name {words!r} has non-token characters "
                            "and must be quoted"
                        )
                display = " ".join(words.split()) if words else None
                rest = value[angle:]
            else:
                rest = value
        if rest.startswith("<"):
            close = rest.find(">")
            if close < 0:
                raise ValueError(f"{where}: '<' has no matching '>'")
            uri = rest[1:close]
            if uri != uri.strip(" \t"):
                raise ValueError(f"{where}: whitespace inside <...> around the URI")
            param_text = rest[close + 1 :]
        else:
            uri, semi, param_text = rest.partition(";")
            param_text = semi + param_text
            uri = uri.strip(" \t")
            for char in ",?":
                if char in uri:
                    raise ValueError(f"{where}: a URI containing {char!r} must be inside <...>")
        _check_uri(uri, where)
        return cls(uri, display, _parse_params(param_text, where))

    def to_string(self) -> str:
        """Canonical text: ``"Name" <uri>;k=v``."""
        prefix = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{prefix}<{self.uri}>{_format_params(self.params)}"

    def __str__(self) -> str:
        return self.to_string()

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter, if any."""
        return get_param(self.params, "tag")

    def sip_uri(self) -> SipUri:
        """The URI parsed as a SIP URI (ValueError for other schemes)."""
        return SipUri.parse(self.uri)


# --- Via ------------------------------------------------------------------------------------------

_VIA_RE = re.compile(
    rf"\s*([{_TOKEN_CHARS}]+)\s*/\s*([{_TOKEN_CHARS}]+)\s*/\s*([{_TOKEN_CHARS}]+)\s+(.+)",
    re.DOTALL,
)


@dataclass
class Via:
    """One Via value (RFC 3261 §20.42): ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)
    protocol: str = SIP_VERSION

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse a single via-parm (LWS around '/', ':', ';' and '=' allowed)."""
        where = f"Via {text.strip()[:80]!r}"
        match = _VIA_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"{where}: expected 'SIP/2.0/TRANSPORT host[:port][;params]'")
        name, version, transport, rest = match.groups()
        sent_by, semi, param_text = rest.partition(";")
        host, port = _split_hostport(sent_by, where)
        params = _parse_params(semi + param_text, where)
        rport = get_param(params, "rport")
        if rport is not None:
            _parse_port(rport, where)
        return cls(transport, host, port, params, f"{name}/{version}")

    def to_string(self) -> str:
        """Canonical text."""
        port = "" if self.port is None else f":{self.port}"
        return (
            f"{self.protocol}/{self.transport} {_format_host(self.host)}{port}"
            f"{_format_params(self.params)}"
        )

    def __str__(self) -> str:
        return self.to_string()

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter."""
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter."""
        return get_param(self.params, "received")

    @property
    def rport_requested(self) -> bool:
        """True when ``rport`` is present, as a flag or with a value (RFC 3581)."""
        return has_param(self.params, "rport")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value filled in by a server; None when absent or a bare flag."""
        value = get_param(self.params, "rport")
        return None if value is None else int(value)

    @property
    def is_rfc3261_branch(self) -> bool:
        """True when the branch starts with the RFC 3261 magic cookie ``z9hG4bK``."""
        branch = self.branch
        return branch is not None and branch.startswith(BRANCH_MAGIC_COOKIE)


# --- CSeq and scalar headers ----------------------------------------------------------------------


@dataclass(frozen=True)
class CSeq:
    """The CSeq header: sequence number and method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``1*DIGIT LWS Method``."""
        parts = text.split()
        if len(parts) != 2:
            raise ValueError(f"CSeq {text.strip()!r}: expected 'number METHOD'")
        number_text, method = parts
        if _DIGITS_RE.fullmatch(number_text) is None:
            raise ValueError(f"CSeq {text.strip()!r}: sequence number is not an integer")
        if len(number_text.lstrip("0")) > 10 or int(number_text) > MAX_CSEQ:
            raise ValueError(f"CSeq {text.strip()[:40]!r}: sequence number is 2**31 or more")
        if not is_token(method):
            raise ValueError(f"CSeq {text.strip()!r}: method {method!r} is not a token")
        return cls(int(number_text), method)

    def to_string(self) -> str:
        """``number METHOD``."""
        return f"{self.number} {self.method}"

    def __str__(self) -> str:
        return self.to_string()


def _parse_bounded_int(text: str, limit: int, what: str) -> int:
    value = text.strip(" \t")
    if _DIGITS_RE.fullmatch(value) is None:
        raise ValueError(f"{what} {value[:40]!r} is not a non-negative integer")
    if len(value.lstrip("0")) > len(str(limit)) or int(value) > limit:
        raise ValueError(f"{what} {value[:40]!r} is larger than {limit}")
    return int(value)


def parse_content_length(text: str) -> int:
    """A Content-Length value: digits only, at most 2**31-1."""
    return _parse_bounded_int(text, MAX_CONTENT_LENGTH, "Content-Length")


def parse_max_forwards(text: str) -> int:
    """A Max-Forwards value: 0-255."""
    return _parse_bounded_int(text, MAX_FORWARDS_LIMIT, "Max-Forwards")


# --- headers --------------------------------------------------------------------------------------


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact forms expanded (``v`` -> ``via``)."""
    lowered = name.strip(" \t").lower()
    return COMPACT_FORMS.get(lowered, lowered)


@dataclass(frozen=True)
class Header:
    """One header field as it appears in a message.

    `value` is unfolded and trimmed; `raw` is the original text of the line(s) (with folding, no
    final CRLF) when parsed, and is what serialization emits. A header built in code has no raw.
    """

    name: str
    value: str
    raw: str | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Case-insensitive lookup key with compact forms expanded."""
        return header_key(self.name)

    def line(self) -> str:
        """The text written on the wire (without CRLF)."""
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


class Headers:
    """Ordered multi-map of header fields: keeps names as written, order and repeats."""

    def __init__(self, items: Iterable[tuple[str, str] | Header] = ()) -> None:
        self._fields: list[Header] = []
        for item in items:
            if isinstance(item, Header):
                self._fields.append(item)
            else:
                self.add(*item)

    @staticmethod
    def _check(name: str, value: str) -> None:
        if not is_token(name):
            raise ValueError(f"header name {name!r} is not a token")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} value contains CR or LF")

    def add(self, name: str, value: str) -> None:
        """Append a header field."""
        self._check(name, value)
        self._fields.append(Header(name, value))

    def prepend(self, name: str, value: str) -> None:
        """Insert a header field before all others (e.g. a proxy's Via)."""
        self._check(name, value)
        self._fields.insert(0, Header(name, value))

    def set(self, name: str, value: str) -> None:
        """Replace the first field called `name` in place (removing the others), or append."""
        self._check(name, value)
        key = header_key(name)
        for index, existing in enumerate(self._fields):
            if existing.key == key:
                self._fields[index] = Header(name, value)
                self._fields[index + 1 :] = [f for f in self._fields[index + 1 :] if f.key != key]
                return
        self._fields.append(Header(name, value))

    def remove(self, name: str) -> int:
        """Remove every field called `name`; returns how many were removed."""
        key = header_key(name)
        before = len(self._fields)
        self._fields = [f for f in self._fields if f.key != key]
        return before - len(self._fields)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first field called `name`."""
        key = header_key(name)
        for existing in self._fields:
            if existing.key == key:
                return existing.value
        return default

    def get_all(self, name: str) -> list[str]:
        """The values of every field called `name`, one per line, in order."""
        key = header_key(name)
        return [f.value for f in self._fields if f.key == key]

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of every field called `name`, in order."""
        return [part for value in self.get_all(name) for part in split_header_values(value)]

    def replace_first(self, name: str, value: str) -> None:
        """Replace the value of the first field called `name` in place (others untouched)."""
        self._check(name, value)
        key = header_key(name)
        for index, existing in enumerate(self._fields):
            if existing.key == key:
                self._fields[index] = Header(existing.name, value)
                return
        raise KeyError(name)

    def fields(self) -> list[Header]:
        """A copy of the field list."""
        return list(self._fields)

    def copy(self) -> Headers:
        """An independent copy (raw lines kept)."""
        return Headers(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Header]:
        return iter(list(self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._fields == other._fields

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({[(f.name, f.value) for f in self._fields]!r})"


# --- messages -------------------------------------------------------------------------------------


class _MessageBase:
    """Accessors shared by requests and responses."""

    headers: Headers
    body: bytes

    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire: start line, header lines as kept, blank line, body."""
        lines = [self.start_line(), *(h.line() for h in self.headers)]
        return (CRLF.join(lines) + CRLF + CRLF).encode("utf-8") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body and set Content-Length (and Content-Type when given)."""
        self.body = body
        if content_type is not None:
            self.headers.set("Content-Type", content_type)
        self.headers.set("Content-Length", str(len(body)))

    @property
    def call_id(self) -> str | None:
        """The Call-ID value."""
        return self.headers.get("Call-ID")

    @property
    def cseq(self) -> CSeq:
        """The parsed CSeq (ValueError when missing)."""
        value = self.headers.get("CSeq")
        if value is None:
            raise ValueError("message has no CSeq header")
        return CSeq.parse(value)

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        return [Via.parse(v) for v in self.headers.get_list("Via")]

    @property
    def from_addr(self) -> NameAddr:
        """The parsed From header (ValueError when missing)."""
        return self._name_addr("From")

    @property
    def to_addr(self) -> NameAddr:
        """The parsed To header (ValueError when missing)."""
        return self._name_addr("To")

    @property
    def contacts(self) -> list[NameAddr]:
        """Every Contact value ('*' excluded; see :attr:`contact_is_star`)."""
        return [NameAddr.parse(v) for v in self.headers.get_list("Contact") if v != "*"]

    @property
    def contact_is_star(self) -> bool:
        """True for ``Contact: *`` (REGISTER remove-all)."""
        return self.headers.get_list("Contact") == ["*"]

    @property
    def content_length(self) -> int | None:
        """The Content-Length header value, or None when absent."""
        value = self.headers.get("Content-Length")
        return None if value is None else parse_content_length(value)

    @property
    def content_type(self) -> str | None:
        """The Content-Type value."""
        return self.headers.get("Content-Type")

    @property
    def max_forwards(self) -> int | None:
        """The Max-Forwards value, or None when absent."""
        value = self.headers.get("Max-Forwards")
        return None if value is None else parse_max_forwards(value)

    def _name_addr(self, name: str) -> NameAddr:
        value = self.headers.get(name)
        if value is None:
            raise ValueError(f"message has no {name} header")
        return NameAddr.parse(value)


@dataclass(eq=True)
class SipRequest(_MessageBase):
    """A SIP request."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def start_line(self) -> str:
        """``METHOD Request-URI SIP/2.0``."""
        return f"{self.method} {self.uri} {self.version}"


@dataclass(eq=True)
class SipResponse(_MessageBase):
    """A SIP response."""

    status_code: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def start_line(self) -> str:
        """``SIP/2.0 code reason``."""
        return f"{self.version} {self.status_code} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        """1xx."""
        return 100 <= self.status_code < 200

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status_code < 300


SipMessage: TypeAlias = SipRequest | SipResponse

# --- parsing --------------------------------------------------------------------------------------

_HEADER_END = b"\r\n\r\n"


def _check_version(version: str, where: str) -> None:
    if _VERSION_RE.fullmatch(version) is None:
        raise ValueError(f"{where}: {version[:20]!r} is not a SIP version (SIP/x.y)")
    if version.upper() != SIP_VERSION:
        raise UnsupportedVersionError(version, where)


def _check_request_uri(uri: str, where: str) -> None:
    """A Request-URI: absolute, and a SIP/SIPS one parses and carries no URI headers (§19.1.5)."""
    if not is_absolute_uri(uri):
        raise ValueError(f"{where}: Request-URI {uri[:80]!r} is not an absolute URI")
    if uri.split(":", 1)[0].lower() in ("sip", "sips"):
        parsed = SipUri.parse(uri)
        if parsed.headers:
            raise ValueError(f"{where}: Request-URI {uri[:80]!r} must not carry URI headers")


def _parse_start_line(line: str) -> SipRequest | SipResponse:
    where = "start line"
    if line[:4].upper() == "SIP/":
        version, space, rest = line.partition(" ")
        _check_version(version, where)
        code_text, space2, reason = rest.partition(" ")
        if not space or not space2:
            raise ValueError(f"{where}: status line {line[:60]!r} needs 'SIP/2.0 code reason'")
        if len(code_text) != 3 or _DIGITS_RE.fullmatch(code_text) is None:
            raise ValueError(f"{where}: status code {code_text[:20]!r} is not three digits")
        code = int(code_text)
        if not 100 <= code <= 699:
            raise ValueError(f"{where}: status code {code} is outside 100-699")
        for char in reason:
            if char != "\t" and (ord(char) < 0x20 or ord(char) == 0x7F):
                raise ValueError(f"{where}: reason phrase contains control character {char!r}")
        return SipResponse(code, reason, Headers(), b"", version)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"{where}: request line {line[:80]!r} must be 'METHOD SP Request-URI SP SIP/2.0' "
            f"(found {len(parts)} SP-separated parts)"
        )
    method, uri, version = parts
    if not is_token(method):
        raise ValueError(f"{where}: method {method!r} is not a token")
    if not is_absolute_uri(uri):
        raise ValueError(f"{where}: Request-URI {uri[:80]!r} is not an absolute URI")
    _check_version(version, where)
    _check_request_uri(uri, where)
    return SipRequest(method, uri, Headers(), b"", version)


def _unfold(first: str, continuations: list[str]) -> str:
    parts = [p.strip(" \t") for p in [first, *continuations]]
    return " ".join(p for p in parts if p)


_ADDRESS_LIST_HEADERS = frozenset({"contact", "route", "record-route"})


def _validate_header(header: Header, where: str) -> None:
    """Check the syntax of the headers the transaction layer depends on."""
    key = header.key
    value = header.value
    try:
        if key == "via":
            for part in split_header_values(value) or [""]:
                Via.parse(part)
        elif key in ("from", "to"):
            NameAddr.parse(value)
        elif key in _ADDRESS_LIST_HEADERS:
            parts = split_header_values(value)
            if key == "contact" and parts == ["*"]:
                return
            if not parts:
                raise ValueError("empty value")
            for part in parts:
                NameAddr.parse(part)
        elif key == "cseq":
            CSeq.parse(value)
        elif key == "content-length":
            parse_content_length(value)
        elif key == "max-forwards":
            parse_max_forwards(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {header.name} header: {exc}") from None


def _parse_head(head: bytes) -> SipRequest | SipResponse:
    """Parse the start line and headers (`head` excludes the final CRLF CRLF)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"header section is not UTF-8 (byte offset {exc.start})") from None
    lines = text.split(CRLF)
    for number, line in enumerate(lines, 1):
        for char in ("\r", "\n"):
            if char in line:
                raise ValueError(f"line {number}: bare {char!r} inside a line (lines end in CRLF)")
    message = _parse_start_line(lines[0])
    groups: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines[1:], 2):
        if line[:1] in (" ", "\t"):
            if not groups:
                raise ValueError(f"line {number}: continuation line with no header to continue")
            groups[-1][1].append(line)
        else:
            groups.append((number, [line]))
    for number, physical in groups:
        first = physical[0]
        colon = first.find(":")
        if colon < 0:
            raise ValueError(f"line {number}: header line has no ':': {first[:60]!r}")
        name = first[:colon].rstrip(" \t")
        if not is_token(name):
            raise ValueError(f"line {number}: header name {name[:40]!r} is not a token")
        header = Header(name, _unfold(first[colon + 1 :], physical[1:]), CRLF.join(physical))
        _validate_header(header, f"line {number}")
        message.headers._fields.append(header)
    lengths = message.headers.get_all("Content-Length")
    if len(lengths) > 1:
        raise ValueError(f"Content-Length appears {len(lengths)} times ({', '.join(lengths)})")
    return message


class ShortBodyError(ValueError):
    """A datagram whose body is shorter than its Content-Length (RFC 3261 §18.3). `message` is
    what was parsed, its body the octets that came, so a UAS can answer a request 400."""

    def __init__(self, message: SipRequest | SipResponse, length: int) -> None:
        super().__init__(f"body is {len(message.body)} bytes, shorter than Content-Length {length}")
        self.message = message


def parse(data: bytes) -> SipRequest | SipResponse:
    """Parse one message from a datagram.

    The body is the first Content-Length bytes after the blank line (octets beyond it are ignored,
    RFC 3261 §18.3); without Content-Length it is the rest of the datagram. A body shorter than
    Content-Length is a ShortBodyError (a ValueError, like any syntax error).
    """
    end = data.find(_HEADER_END)
    if end < 0:
        raise ValueError("no blank line (CRLF CRLF) ends the header section")
    message = _parse_head(data[:end])
    rest = data[end + len(_HEADER_END) :]
    length = message.content_length
    if length is None:
        message.body = bytes(rest)
    elif len(rest) < length:
        message.body = bytes(rest)
        raise ShortBodyError(message, length)
    else:
        message.body = bytes(rest[:length])
    return message


def parse_stream(
    buffer: bytes | bytearray, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> tuple[SipRequest | SipResponse, int] | None:
    """Parse the first message of a stream (TCP/TLS) buffer.

    Returns ``(message, consumed_bytes)``, or None when the buffer does not yet hold a whole
    message. CRLFs before the start line (keep-alives, RFC 3261 §7.5 / RFC 5626) are skipped and
    counted as consumed. Content-Length is mandatory on streams (RFC 3261 §18.3). A header section
    longer than `max_header_bytes` without its blank line is a ValueError.
    """
    data = bytes(buffer)
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(_HEADER_END, start)
    if end < 0:
        if len(data) - start > max_header_bytes:
            raise ValueError(f"no end of header section within {max_header_bytes} bytes")
        return None
    message = _parse_head(data[start:end])
    length = message.content_length
    if length is None:
        raise ValueError("Content-Length is required on stream transports (RFC 3261 §18.3)")
    body_start = end + len(_HEADER_END)
    if len(data) - body_start < length:
        return None
    message.body = data[body_start : body_start + length]
    return message, body_start + length


# --- building -------------------------------------------------------------------------------------


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie ``z9hG4bK`` plus 64 random bits."""
    return BRANCH_MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (64 random bits, RFC 3261 §19.3 asks for at least 32)."""
    return secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """A fresh Call-ID: 128 random bits, ``@host`` appended when given."""
    value = secrets.token_hex(16)
    return value if host is None else f"{value}@{host}"


def stamp_received(request: SipRequest, source: tuple[str, int]) -> None:
    """What a server's transport does to a request's top Via on receipt (in place).

    RFC 3261 §18.2.1: add ``received`` with the source address when it differs from the
    sent-by host; RFC 3581 §4: a bare ``rport`` gets the source port, and then ``received`` is
    added even when it equals sent-by. A request without a parsable Via is left as it is.
    """
    try:
        first = request.headers.get("Via")
        if first is None:
            return
        elements = split_header_values(first)
        top = Via.parse(elements[0])
    except ValueError:
        return
    host, port = source
    rport = has_param(top.params, "rport") and get_param(top.params, "rport") is None
    if not rport and top.host == host:
        return
    params = {k: v for k, v in top.params.items() if k.lower() not in ("received", "rport")}
    if rport:
        params["rport"] = str(port)
    elif has_param(top.params, "rport"):
        params["rport"] = get_param(top.params, "rport")
    params["received"] = host
    top.params = params
    request.headers.replace_first("Via", ", ".join([top.to_string(), *elements[1:]]))


def make_response(
    request: SipRequest,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
) -> SipResponse:
    """A response to `request` per RFC 3261 §8.2.6.

    Copies every Via (in order), From, To, Call-ID and CSeq, and for 101-299 the Record-Route
    headers (§12.1.1); adds ``;tag=to_tag`` to To when given and To has no tag yet; ends with
    ``Content-Length: 0``. `reason` defaults to the standard phrase.
    """
    if not 100 <= status_code <= 699:
        raise ValueError(f"status code {status_code} is outside 100-699")
    if reason is None:
        reason = REASON_PHRASES.get(status_code, "")
    headers = Headers()
    copied = {"via", "from", "to", "call-id", "cseq"}
    if 100 < status_code < 300:
        copied.add("record-route")
    for header in request.headers:
        if header.key not in copied:
            continue
        value = header.value
        if header.key == "to" and to_tag is not None and NameAddr.parse(value).tag is None:
            value = f"{value};tag={to_tag}"
        headers.add(header.name, value)
    headers.add("Content-Length", "0")
    return SipResponse(status_code, reason, headers)


DEFAULT_MAX_FORWARDS = 70  # RFC 3261 §8.1.1.6: a UAC SHOULD start at 70
CONTENT_TYPE_SDP = "application/sdp"

# Headers make_request writes from its own parameters; an extra header with one of these names
# would duplicate or contradict them, so `headers=` refuses them (edit request.headers afterwards).
_BUILT_HEADERS = frozenset(
    {
        "via",
        "max-forwards",
        "route",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "content-type",
        "content-length",
    }
)
_CALL_ID_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(f"{_CALL_ID_WORD}(?:@{_CALL_ID_WORD})?")  # RFC 3261 §25.1 callid


def _address_value(text: str, what: str, tag: str | None = None) -> str:
    """`text` as a name-addr header value (a bare URI is put in ``<>``), ``;tag=`` appended.

    The caller's spelling is kept (no re-quoting of display names); it is only parsed to check it.
    """
    value = text.strip(" \t")
    if "<" not in value:
        value = f"<{value}>"  # a bare URI: its ';' parameters stay URI parameters
    try:
        parsed = NameAddr.parse(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if tag is None:
        return value
    if not is_token(tag):
        raise ValueError(f"{what}: tag {tag!r} is not a token")
    if has_param(parsed.params, "tag"):
        raise ValueError(f"{what}: {text!r} already has a tag; pass it without one")
    return f"{value};tag={tag}"


def _via_value(sent_by: str | tuple[str, int], transport: str, branch: str, rport: bool) -> str:
    if isinstance(sent_by, str):
        host, port = _split_hostport(sent_by, "sent-by")
    else:
        host_text, port_number = sent_by
        bare_ipv6 = ":" in host_text and not host_text.startswith("[")
        host = _parse_host(f"[{host_text}]" if bare_ipv6 else host_text, "sent-by")
        port = _parse_port(str(port_number), "sent-by")
    if not is_token(transport):
        raise ValueError(f"Via transport {transport!r} is not a token")
    if not is_token(branch):  # a ';' or '=' would smuggle in extra Via parameters
        raise ValueError(f"Via branch {branch!r} is not a token")
    params: Params = {"branch": branch}
    if rport:
        params["rport"] = None  # RFC 3581 §3: an empty rport asks for the source port
    return Via(transport.upper(), host, port, params).to_string()


def make_request(
    method: str,
    uri: str,
    *,
    sent_by: str | tuple[str, int],
    transport: str = "UDP",
    from_uri: str,
    from_tag: str,
    to_uri: str,
    to_tag: str | None = None,
    call_id: str,
    cseq: int,
    branch: str | None = None,
    rport: bool = True,
    contact: str | None = None,
    max_forwards: int = DEFAULT_MAX_FORWARDS,
    routes: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipRequest:
    """A UAC request per RFC 3261 §8.1.1 (out of dialog), or §12.2.1.1 when `to_tag` is given.

    Header order: Via (``SIP/2.0/<transport> <sent_by>;branch=...;rport``, a fresh branch when
    `branch` is None, §8.1.1.7), Max-Forwards, one Route per `routes` entry in order, From with
    `from_tag`, To (with `to_tag` when given), Call-ID, CSeq ``<cseq> <method>``, Contact when
    given, the extra `headers` in order, Content-Type when there is a body (`content_type`,
    default ``application/sdp``) or when `content_type` is given, Content-Length always.

    `sent_by` is ``"host[:port]"`` or ``(host, port)``. `from_uri`, `to_uri`, `contact` and
    each route are a bare URI (put inside ``<>``) or a full name-addr kept as written; `contact`
    may be ``*``. ValueError names the first bad argument: a method or tag that is not a token,
    a Request-URI that is not absolute, an address that does not parse or already has a tag, a
    CSeq outside 0..2**31-1 (§8.1.1.5), Max-Forwards outside 0-255, a Call-ID that is not
    ``word[@word]``, or an extra header that one of the parameters writes.
    """
    if not is_token(method):
        raise ValueError(f"method {method!r} is not a token")
    _check_request_uri(uri, "make_request")
    if not 0 <= cseq <= MAX_CSEQ:
        raise ValueError(f"CSeq number {cseq} is outside 0..2**31-1 (RFC 3261 §8.1.1.5)")
    if not 0 <= max_forwards <= MAX_FORWARDS_LIMIT:
        raise ValueError(f"Max-Forwards {max_forwards} is outside 0-{MAX_FORWARDS_LIMIT}")
    if _CALL_ID_RE.fullmatch(call_id) is None:
        raise ValueError(f"Call-ID {call_id!r} is not word[@word] (RFC 3261 §25.1)")
    fields = Headers()
    fields.add(
        "Via", _via_value(sent_by, transport, new_branch() if branch is None else branch, rport)
    )
    fields.add("Max-Forwards", str(max_forwards))
    for route in routes:
        fields.add("Route", _address_value(route, "Route"))
    fields.add("From", _address_value(from_uri, "From", from_tag))
    fields.add("To", _address_value(to_uri, "To", to_tag))
    fields.add("Call-ID", call_id)
    fields.add("CSeq", CSeq(cseq, method).to_string())
    if contact is not None:
        fields.add("Contact", "*" if contact.strip() == "*" else _address_value(contact, "Contact"))
    for name, value in headers:
        if header_key(name) in _BUILT_HEADERS:
            raise ValueError(f"extra header {name!r} is written by a make_request parameter")
        fields.add(name, value)
    if body or content_type is not None:
        fields.add("Content-Type", content_type or CONTENT_TYPE_SDP)  # §7.4.1
    fields.add("Content-Length", str(len(body)))
    return SipRequest(method, uri, fields, bytes(body))


def _required(message: SipMessage, name: str, what: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise ValueError(f"{what} has no {name} header")
    return value


def _top_via(request: SipRequest, what: str) -> str:
    vias = request.headers.get_list("Via")
    if not vias:
        raise ValueError(f"{what} has no Via header")
    return vias[0]


def _invite_cseq(request: SipRequest, what: str) -> CSeq:
    cseq = request.cseq
    if cseq.method != request.method:
        raise ValueError(f"{what}: CSeq method {cseq.method} differs from {request.method}")
    return cseq


def make_ack_for_non_2xx(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK a client transaction sends for a 3xx-6xx to `invite` (RFC 3261 §17.1.1.3).

    Same Request-URI; a single Via, the INVITE's top one (same branch: the ACK belongs to the
    INVITE transaction); Max-Forwards 70; the INVITE's Route headers in order ("MUST appear in
    the ACK"); the INVITE's From and Call-ID; the response's To (with the UAS tag); CSeq with the
    INVITE's number and method ACK; ``Content-Length: 0``. A 2xx is ACKed by the dialog instead
    (§13.2.2.4), so a 1xx/2xx `response`, a non-INVITE `invite` or a response to another
    request (Call-ID or CSeq differ) is a ValueError.
    """
    what = "make_ack_for_non_2xx"
    if invite.method != METHOD_INVITE:
        raise ValueError(f"{what}: {invite.method} is not an INVITE")
    if not 300 <= response.status_code <= 699:
        raise ValueError(
            f"{what}: {response.status_code} is not a 3xx-6xx final (a 2xx is ACKed in the dialog)"
        )
    cseq = _invite_cseq(invite, what)
    if response.call_id != invite.call_id or response.cseq != cseq:
        raise ValueError(
            f"{what}: the response ({response.call_id}, CSeq {response.cseq}) does not answer "
            f"this INVITE ({invite.call_id}, CSeq {cseq})"
        )
    headers = Headers()
    headers.add("Via", _top_via(invite, what))
    headers.add("Max-Forwards", str(DEFAULT_MAX_FORWARDS))
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", _required(invite, "From", what))
    headers.add("To", _required(response, "To", f"{what} response"))
    headers.add("Call-ID", _required(invite, "Call-ID", what))
    headers.add("CSeq", CSeq(cseq.number, METHOD_ACK).to_string())
    headers.add("Content-Length", "0")
    return SipRequest(METHOD_ACK, invite.uri, headers)


def make_cancel(invite: SipRequest) -> SipRequest:
    """A CANCEL of the pending `invite` (RFC 3261 §9.1).

    Request-URI, Call-ID, From and To (tags included, so no To tag for an initial INVITE) equal
    the INVITE's; a single Via, the INVITE's top one (same branch, which is how the server
    matches the CANCEL to the INVITE transaction); CSeq with the INVITE's number and method
    CANCEL; the INVITE's Route headers in order; Max-Forwards 70; ``Content-Length: 0``. §9.1
    says CANCEL SHOULD NOT be sent for other methods and cannot cancel ACK or CANCEL, so
    anything but an INVITE is a ValueError.
    """
    what = "make_cancel"
    if invite.method != METHOD_INVITE:
        raise ValueError(f"{what}: only an INVITE is cancelled, not {invite.method}")
    cseq = _invite_cseq(invite, what)
    headers = Headers()
    headers.add("Via", _top_via(invite, what))
    headers.add("Max-Forwards", str(DEFAULT_MAX_FORWARDS))
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", _required(invite, "From", what))
    headers.add("To", _required(invite, "To", what))
    headers.add("Call-ID", _required(invite, "Call-ID", what))
    headers.add("CSeq", CSeq(cseq.number, METHOD_CANCEL).to_string())
    headers.add("Content-Length", "0")
    return SipRequest(METHOD_CANCEL, invite.uri, headers)
