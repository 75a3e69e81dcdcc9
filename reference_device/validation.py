"""Parameter validators: each turns a raw string into a typed value or raises ApiError(code)."""

import ipaddress
import re
from typing import Final

from reference_device.errors import ApiError, ErrorCode
from reference_device.model import AccountType

NAME_MAX: Final = 64
TEXT_MAX: Final = 128
BINDS_MAX: Final = 8
BUFFER_NUMBER_MAX: Final = 100_000
ALLOW_IN_NUM_MAX: Final = 16
# A decimal id longer than this is beyond any id the device will issue; it is answered as
# unknown without converting it (int() refuses strings over 4300 digits).
ID_DIGITS_MAX: Final = 18
UNISSUED_ID: Final = -1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DECIMAL = re.compile(r"[0-9]+")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]+")
_BUFFER = re.compile(r"[a-z]+((?::[0-9]{1,6}){5})")
_SIP_URL = re.compile(r"(?:sips?:)?[^\s@:;]+@[A-Za-z0-9.-]+(?::([0-9]{1,5}))?")


def has_control(value: str) -> bool:
    """Whether `value` holds a control character (< 0x20 or 0x7f)."""
    return _CONTROL.search(value) is not None


def is_decimal(value: str) -> bool:
    """ASCII digits only (str.isdigit() would also take '²' and other Unicode digits)."""
    return _DECIMAL.fullmatch(value) is not None


def parse_id(raw: str | None) -> int:
    """An account id: absent/empty 1201, not plain decimal 1203."""
    if not raw:
        raise ApiError(ErrorCode.MISSING_PARAMETER, "id")
    if not is_decimal(raw):
        raise ApiError(ErrorCode.BAD_VALUE, "id")
    if len(raw.lstrip("0")) > ID_DIGITS_MAX:
        return UNISSUED_ID
    return int(raw)


def parse_name(raw: str, empty_code: ErrorCode) -> str:
    """An account name, 1..64 characters; what an empty one means differs by endpoint."""
    if not raw:
        raise ApiError(empty_code, "name")
    if len(raw) > NAME_MAX:
        raise ApiError(ErrorCode.TOO_LONG, "name")
    return raw


def parse_type(raw: str) -> AccountType:
    """Exactly "sip" or "gb28181" (the page's "Ssip" is refused)."""
    try:
        return AccountType(raw)
    except ValueError:
        raise ApiError(ErrorCode.UNKNOWN_TYPE, "type") from None


def parse_text(raw: str, max_len: int = TEXT_MAX) -> str:
    """A free string of at most `max_len` characters."""
    if len(raw) > max_len:
        raise ApiError(ErrorCode.TOO_LONG)
    return raw


def split_host_port(raw: str) -> tuple[str, int] | None:
    """HOST:PORT with HOST `*` or dotted IPv4 (octets 0..255), PORT 0..65535; else None."""
    host, sep, port = raw.rpartition(":")
    if not sep or not is_decimal(port) or len(port) > 5 or int(port) > 65535:
        return None
    if host != "*":
        octets = _IPV4.fullmatch(host)
        if octets is None or any(int(o) > 255 for o in octets.groups()):
            return None
    return host, int(port)


def is_listening_host(host: str) -> bool:
    """Whether a well-formed bind HOST is one a SIP UA can listen on: `*`, 0.0.0.0 (the same
    wildcard) or a unicast IPv4. Multicast (224/4) and 240/4 (reserved; 255.255.255.255, the
    limited broadcast, is in it) are not: a TCP SYN to them is discarded and they are never a
    source address (RFC 1122 3.2.1.3, 4.2.3.10), so replies from such a bind cannot leave."""
    if host == "*":
        return True
    address = ipaddress.IPv4Address(host)
    return not (address.is_multicast or address.is_reserved)


def parse_local_address(raw: str) -> str:
    """localAddress: empty or HOST:PORT on a host a UA can listen on; else 1203."""
    parse_text(raw)
    if not raw:
        return raw
    parsed = split_host_port(raw)
    if parsed is None or not is_listening_host(parsed[0]):
        raise ApiError(ErrorCode.BAD_VALUE, "localAddress")
    return raw


def parse_register_server(raw: str) -> str:
    """registerServer: empty or a host name / IPv4 of [A-Za-z0-9.-]; else 1203."""
    parse_text(raw)
    if raw and _HOSTNAME.fullmatch(raw) is None:
        raise ApiError(ErrorCode.BAD_VALUE, "registerServer")
    return raw


def parse_port(raw: str) -> int:
    """A decimal port 1..65535 (registerPort); else 1203."""
    if not is_decimal(raw) or len(raw) > 5 or not 1 <= int(raw) <= 65535:
        raise ApiError(ErrorCode.BAD_VALUE, "port")
    return int(raw)


def parse_one_two(raw: str) -> bool:
    """The page's 1 = yes / 2 = no switches (allow_in, source_enable)."""
    if raw == "1":
        return True
    if raw == "2":
        return False
    raise ApiError(ErrorCode.BAD_VALUE)


def parse_flag(raw: str) -> bool:
    """auto_aws / auto_call: "1"/"true" yes; "0"/"2"/"false" no."""
    if raw in ("1", "true"):
        return True
    if raw in ("0", "2", "false"):
        return False
    raise ApiError(ErrorCode.BAD_VALUE)


def parse_policy(raw: str) -> int:
    """Call-in policy 1, 2 or 3."""
    if raw not in ("1", "2", "3"):
        raise ApiError(ErrorCode.BAD_VALUE, "policy")
    return int(raw)


def parse_allow_in_num(raw: str) -> int:
    """Maximum simultaneous incoming calls, 1..16."""
    if not is_decimal(raw) or len(raw) > 2 or not 1 <= int(raw) <= ALLOW_IN_NUM_MAX:
        raise ApiError(ErrorCode.BAD_VALUE, "allow_in_num")
    return int(raw)


def parse_buffer(raw: str, *, last_max: int = BUFFER_NUMBER_MAX) -> str:
    """MODE:N:N:N:N:N, MODE lower-case letters, each N 0..100000; else 1205. `last_max` is
    the last number's bound (only the buffer_upper_bound_off_by_one fault moves it)."""
    parse_text(raw)
    match = _BUFFER.fullmatch(raw)
    if match is None:
        raise ApiError(ErrorCode.BAD_BUFFER)
    *numbers, last = (int(n) for n in match.group(1)[1:].split(":"))
    if any(n > BUFFER_NUMBER_MAX for n in numbers) or last > last_max:
        raise ApiError(ErrorCode.BAD_BUFFER)
    return raw


def parse_sip_url(raw: str) -> str:
    """sip_out_url: empty, or [sip(s):]user@host[:port] with port 1..65535; else 1203."""
    parse_text(raw)
    if not raw:
        return raw
    match = _SIP_URL.fullmatch(raw)
    if match is None or (match.group(1) is not None and not 1 <= int(match.group(1)) <= 65535):
        raise ApiError(ErrorCode.BAD_VALUE, "sip_out_url")
    return raw


def bind_address(entry: str) -> str:
    """The HOST:PORT a bind entry opens: HOST.PORT (the page's `*.2222`, a dot for the colon)
    reads as HOST:PORT; any other entry is itself."""
    if ":" in entry:
        return entry
    host, _, port = entry.rpartition(".")
    return f"{host}:{port}"


def as_written(address: str) -> str:
    """HOST:PORT written the page's way, HOST.PORT (`*:2222` -> `*.2222`)."""
    host, _, port = address.rpartition(":")
    return f"{host}.{port}"


def parse_binds(raw: str | None, *, dotted: bool = False, listening_only: bool = True) -> list[str]:
    """Comma-separated HOST:PORT entries, no duplicates, at most 8, each HOST one a UA can
    listen on (is_listening_host; `listening_only=False` is the binds_accept_multicast fault);
    else 1206. With `dotted`, a HOST.PORT entry (see bind_address) is accepted too and
    returned as written."""
    if not raw:
        raise ApiError(ErrorCode.MISSING_PARAMETER, "binds")
    entries = [entry.strip() for entry in raw.split(",")]
    if len(entries) > BINDS_MAX:
        raise ApiError(ErrorCode.BAD_BINDS, "too many binds")
    seen: set[tuple[str, int]] = set()
    for entry in entries:
        parsed = split_host_port(bind_address(entry) if dotted else entry)
        if parsed is None:
            raise ApiError(ErrorCode.BAD_BINDS, f"malformed bind {entry!r}")
        if listening_only and not is_listening_host(parsed[0]):
            raise ApiError(ErrorCode.BAD_BINDS, f"bind {entry!r} is not a unicast address")
        # Compare parsed forms so "*:5060" and "*:05060" count as the same bind.
        if parsed in seen:
            raise ApiError(ErrorCode.BAD_BINDS, f"duplicate bind {entry!r}")
        seen.add(parsed)
    return entries
