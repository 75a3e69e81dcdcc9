"""GB/T 28181 20-digit IDs (2016 Annex D.1, 2022 Annex E.1): parse, validate and build, no I/O.

Every GB28181 party (device, channel, platform, user) is named by twenty decimal digits::

    34020000 00  114  0  000001
    centre   ind type net serial

* digits 1-8, the centre code: province, city, district and grassroots unit (GB/T 2260), two digits
  each, zero-padded;
* digits 9-10, the industry code;
* digits 11-13, the type code (114 decoder, 200 central signalling server, ...);
* digit 14, the network flag (2016: 0-4 private monitoring network, 5 police information network,
  6 government, 7 Internet, 8 social resources; 2022 redefines the values);
* digits 15-20, the serial.

The SIP domain of an ID is its first ten digits (2016 §6.1.2; also allowed: that value plus
``.spvmn.cn``, or ``IP:port``). :func:`realm_of` returns it; :func:`domain_matches` accepts the
first two forms.

Errors are :class:`GbIdError` (a ValueError) and name the digit or field that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

ID_LENGTH = 20
DOMAIN_LENGTH = 10
SPVMN_SUFFIX = ".spvmn.cn"

#: Type codes named in the standard (2016 Annex D.1); 2022 adds 120-125 and 140-143 without
#: changing these.
TYPE_DVR = 111
TYPE_VIDEO_SERVER = 112
TYPE_ENCODER = 113
TYPE_DECODER = 114
TYPE_VIDEO_MATRIX = 115
TYPE_AUDIO_MATRIX = 116
TYPE_ALARM_CONTROLLER = 117
TYPE_NVR = 118
TYPE_HVR = 130
TYPE_CAMERA = 131
TYPE_IPC = 132
TYPE_DISPLAY = 133
TYPE_ALARM_INPUT = 134
TYPE_ALARM_OUTPUT = 135
TYPE_AUDIO_INPUT = 136
TYPE_AUDIO_OUTPUT = 137
TYPE_MOBILE = 138
TYPE_OTHER_PERIPHERAL = 139
TYPE_SIP_SERVER = 200  # the central signalling server: the platform a device registers with
TYPE_WEB_SERVER = 201
TYPE_MEDIA_DISTRIBUTION = 202
TYPE_PROXY = 203
TYPE_SECURITY_SERVER = 204
TYPE_ALARM_SERVER = 205
TYPE_DATABASE_SERVER = 206
TYPE_GIS_SERVER = 207
TYPE_MANAGEMENT_SERVER = 208
TYPE_ACCESS_GATEWAY = 209
TYPE_MEDIA_STORAGE = 210
TYPE_SIGNALLING_SECURITY_GATEWAY = 211
TYPE_BUSINESS_GROUP = 215
TYPE_VIRTUAL_ORGANISATION = 216
TYPE_CENTRE_USER = 300
TYPE_TERMINAL_USER = 400

TYPE_NAMES: dict[int, str] = {
    TYPE_DVR: "DVR",
    TYPE_VIDEO_SERVER: "video server",
    TYPE_ENCODER: "encoder",
    TYPE_DECODER: "decoder",
    TYPE_VIDEO_MATRIX: "video matrix",
    TYPE_AUDIO_MATRIX: "audio matrix",
    TYPE_ALARM_CONTROLLER: "alarm controller",
    TYPE_NVR: "NVR",
    TYPE_HVR: "HVR",
    TYPE_CAMERA: "camera",
    TYPE_IPC: "IP camera",
    TYPE_DISPLAY: "display",
    TYPE_ALARM_INPUT: "alarm input",
    TYPE_ALARM_OUTPUT: "alarm output",
    TYPE_AUDIO_INPUT: "audio input",
    TYPE_AUDIO_OUTPUT: "audio output",
    TYPE_MOBILE: "mobile transmission device",
    TYPE_OTHER_PERIPHERAL: "other peripheral",
    TYPE_SIP_SERVER: "central signalling server",
    TYPE_WEB_SERVER: "web application server",
    TYPE_MEDIA_DISTRIBUTION: "media distribution server",
    TYPE_PROXY: "proxy server",
    TYPE_SECURITY_SERVER: "security server",
    TYPE_ALARM_SERVER: "alarm server",
    TYPE_DATABASE_SERVER: "database server",
    TYPE_GIS_SERVER: "GIS server",
    TYPE_MANAGEMENT_SERVER: "management server",
    TYPE_ACCESS_GATEWAY: "access gateway",
    TYPE_MEDIA_STORAGE: "media storage server",
    TYPE_SIGNALLING_SECURITY_GATEWAY: "signalling security gateway",
    TYPE_BUSINESS_GROUP: "business group",
    TYPE_VIRTUAL_ORGANISATION: "virtual organisation",
    TYPE_CENTRE_USER: "centre user",
    TYPE_TERMINAL_USER: "terminal user",
}

#: 2016 meaning of the network flag (digit 14); 2022 redefines the values, so this is 2016 only.
NETWORK_NAMES_2016: dict[int, str] = {
    **dict.fromkeys(range(5), "private monitoring network"),
    5: "police information network",
    6: "government network",
    7: "Internet",
    8: "social resources network",
}


class TypeCategory(Enum):
    """The range a type code falls in (2016 Annex D.1)."""

    FRONT_END_DEVICE = "front-end main device"  # 111-130
    PERIPHERAL = "front-end peripheral"  # 131-199
    PLATFORM = "platform device"  # 200-299
    CENTRE_USER = "centre user"  # 300-399
    TERMINAL_USER = "terminal user"  # 400-499


_CATEGORY_RANGES: tuple[tuple[range, TypeCategory], ...] = (
    (range(111, 131), TypeCategory.FRONT_END_DEVICE),
    (range(131, 200), TypeCategory.PERIPHERAL),
    (range(200, 300), TypeCategory.PLATFORM),
    (range(300, 400), TypeCategory.CENTRE_USER),
    (range(400, 500), TypeCategory.TERMINAL_USER),
)

_NON_DIGIT_RE = re.compile(r"[^0-9]")


class GbIdError(ValueError):
    """A GB28181 ID (or a part given to :func:`make_id`) is malformed; the message says where."""


def type_category(type_code: int) -> TypeCategory | None:
    """The category of a type code, or None outside the ranges the standard assigns."""
    for codes, category in _CATEGORY_RANGES:
        if type_code in codes:
            return category
    return None


@dataclass(frozen=True)
class GbId:
    """A parsed 20-digit ID. Fields are digit strings so leading zeros survive."""

    province: str  # digits 1-2
    city: str  # digits 3-4
    district: str  # digits 5-6
    grassroots: str  # digits 7-8
    industry: str  # digits 9-10
    type_digits: str  # digits 11-13
    network_digit: str  # digit 14
    serial: str  # digits 15-20

    @classmethod
    def parse(cls, text: str, *, known_type_only: bool = True) -> GbId:
        """Parse and validate `text` (surrounding whitespace is an error, not trimmed).

        With `known_type_only` (the default) a type code outside the ranges of Annex D.1
        (111-499) is refused; pass False to split any 20 digits.
        """
        if not isinstance(text, str):
            raise GbIdError(f"GB28181 ID must be a str, got {type(text).__name__}")
        if text == "":
            raise GbIdError("GB28181 ID is empty")
        bad = _NON_DIGIT_RE.search(text)
        if bad is not None:
            raise GbIdError(
                f"GB28181 ID {text!r}: character {bad.start() + 1} is {bad.group(0)!r}, "
                "only decimal digits are allowed"
            )
        if len(text) != ID_LENGTH:
            raise GbIdError(
                f"GB28181 ID {text!r} has {len(text)} digits, not {ID_LENGTH} "
                f"({'short' if len(text) < ID_LENGTH else 'long'} by {abs(len(text) - ID_LENGTH)})"
            )
        gb = cls(
            province=text[0:2],
            city=text[2:4],
            district=text[4:6],
            grassroots=text[6:8],
            industry=text[8:10],
            type_digits=text[10:13],
            network_digit=text[13],
            serial=text[14:20],
        )
        if known_type_only and gb.category is None:
            raise GbIdError(
                f"GB28181 ID {text!r}: type code {gb.type_digits} (digits 11-13) is outside "
                "the assigned ranges 111-130, 131-199, 200-299, 300-399, 400-499"
            )
        return gb

    def __str__(self) -> str:
        return (
            self.province
            + self.city
            + self.district
            + self.grassroots
            + self.industry
            + self.type_digits
            + self.network_digit
            + self.serial
        )

    @property
    def center_code(self) -> str:
        """Digits 1-8: province, city, district, grassroots unit."""
        return self.province + self.city + self.district + self.grassroots

    @property
    def type_code(self) -> int:
        """Digits 11-13 as a number (114 for a decoder)."""
        return int(self.type_digits)

    @property
    def network(self) -> int:
        """Digit 14 as a number."""
        return int(self.network_digit)

    @property
    def category(self) -> TypeCategory | None:
        """The type-code range this ID falls in, or None for an unassigned code."""
        return type_category(self.type_code)

    @property
    def type_name(self) -> str | None:
        """The standard's name for the type code ("decoder"), or None for a range-only code."""
        return TYPE_NAMES.get(self.type_code)

    @property
    def network_name_2016(self) -> str | None:
        """The 2016 meaning of the network flag, or None for 9 (2022 reassigns the digit)."""
        return NETWORK_NAMES_2016.get(self.network)

    @property
    def realm(self) -> str:
        """The SIP domain the standard derives from the ID: its first ten digits (§6.1.2)."""
        return str(self)[:DOMAIN_LENGTH]


def parse_id(text: str, *, known_type_only: bool = True) -> GbId:
    """Parse and validate a 20-digit ID; see :meth:`GbId.parse`."""
    return GbId.parse(text, known_type_only=known_type_only)


def is_valid_id(text: str, *, type_code: int | None = None) -> bool:
    """True when `text` is a valid ID (of `type_code`, when given)."""
    try:
        gb = GbId.parse(text)
    except GbIdError:
        return False
    return type_code is None or gb.type_code == type_code


def _digits(value: str | int, width: int, what: str) -> str:
    if isinstance(value, bool):  # bool is an int; True would silently become "1"
        raise GbIdError(f"{what} must be {width} digits, got a bool")
    if isinstance(value, int):
        if not 0 <= value < 10**width:
            raise GbIdError(f"{what} {value} does not fit in {width} digits")
        return str(value).zfill(width)
    if len(value) != width or _NON_DIGIT_RE.search(value):
        raise GbIdError(f"{what} {value!r} must be exactly {width} decimal digits")
    return value


def make_id(
    type_code: int,
    serial: str | int = 1,
    *,
    center: str = "34020000",
    industry: str | int = "00",
    network: int = 0,
    known_type_only: bool = True,
) -> str:
    """Build a 20-digit ID; ``make_id(114)`` is ``"34020000001140000001"``.

    `center` is the 8-digit centre code (the standard's examples use 34020000); `serial` is
    zero-padded to 6 digits. Each part is checked and a wrong one is named.
    """
    text = (
        _digits(center, 8, "centre code")
        + _digits(industry, 2, "industry code")
        + _digits(type_code, 3, "type code")
        + _digits(network, 1, "network flag")
        + _digits(serial, 6, "serial")
    )
    return str(GbId.parse(text, known_type_only=known_type_only))


def realm_of(gb_id: str) -> str:
    """The SIP domain of an ID: its first ten digits (``3402000000`` for a 3402000000... ID)."""
    return GbId.parse(gb_id, known_type_only=False).realm


def domain_matches(gb_id: str, domain: str) -> bool:
    """True when `domain` is one of the ID-derived forms §6.1.2 allows for `gb_id`.

    The forms are the first ten digits and that value plus ``.spvmn.cn`` (case-insensitive).
    The third allowed form, ``IP:port``, is not derived from the ID and is not checked here.
    """
    realm = realm_of(gb_id)
    lowered = domain.lower()
    return lowered in (realm, realm + SPVMN_SUFFIX)
