"""The one table of readings: where the vendor page is ambiguous, the other ways it can be read.

A reading is not a fault: a device following any reading the catalogue lists for a point
(spec/requirements.yaml, `basis: reading`) follows the page, and the suite must not fail it
unless a profile pins another reading. `READINGS` holds, per point, the reference decoder's
default reading, the page-conforming alternatives it can be started with
(`--reading POINT=READING`), the requirement whose cases observe the point, and the suites to run
to see it. The project's tests (tests/test_readings.py) are derived from this table. The
reference decoder's code asks `Readings.follows(Point.X, "reading")`, so a misspelt point or
reading is an error, never a silently inactive alternative.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Point(StrEnum):
    """An ambiguous point of the page; the value is the catalogue's `point` name."""

    ID_TYPE = "id_type"
    REGISTER_PORT_TYPE = "register_port_type"
    CREATED_MEANING = "created_meaning"
    PAGE_EXAMPLE_BINDS = "page_example_binds"
    HANGUP_RINGING = "hangup_ringing"
    UNACCEPTABLE_OFFER = "unacceptable_offer"
    UNACCEPTABLE_OFFER_SIPP = "unacceptable_offer_sipp"
    REGISTER_STATUS_ON_FAILURE = "register_status_on_failure"
    SSIP_TYPE = "ssip_type"
    SSIP_TYPE_ON_MODIFY = "ssip_type_on_modify"
    CALL_CFG_BUFFER_KEY = "call_cfg_buffer_key"
    AUTO_AWS_ENCODING = "auto_aws_encoding"
    AUTO_CALL_ENCODING = "auto_call_encoding"
    SOURCE_ENABLE_ENCODING = "source_enable_encoding"
    MCFG_TYPE_PARAM = "mcfg_type_param"
    POST_PARAMETER_CARRIER = "post_parameter_carrier"
    REGISTER_STATUS_UNCONFIGURED = "register_status_unconfigured"
    CALL_SETTINGS_VIEWS = "call_settings_views"
    SERVER_PORT_ENTRIES = "server_port_entries"
    SERVER_PORT_PARAMS = "server_port_params"
    REGISTER_AOR_USER = "register_aor_user"
    POLICY_3_MEANING = "policy_3_meaning"
    EARLY_MEDIA_COUNTED = "early_media_counted"
    CALL_STATUS_MEANING = "call_status_meaning"
    ANSWER_DIR = "answer_dir"
    REGISTER_STATUS_GRANTED = "register_status_granted"
    GB_DECODER_CHANNELS = "gb_decoder_channels"
    BITRATE_DEFINITION = "bitrate_definition"
    REGISTER_STATUS_PENDING = "register_status_pending"
    REGISTER_STATUS_REFRESH_LOST = "register_status_refresh_lost"
    REGISTER_STATUS_AFTER_UNREGISTER = "register_status_after_unregister"
    AUTO_CALL_AFTER_REFUSAL = "auto_call_after_refusal"
    AUTO_CALL_AFTER_TIMEOUT = "auto_call_after_timeout"
    AUTO_CALL_AFTER_REMOTE_BYE = "auto_call_after_remote_bye"
    ANSWER_OUTGOING_CALL = "answer_outgoing_call"
    ALLOW_IN_NUM_LIMIT = "allow_in_num_limit"
    CONCURRENT_CALL_BITRATE = "concurrent_call_bitrate"
    CALL_STATUS_CLOSING = "call_status_closing"


@dataclass(frozen=True)
class PointInfo:
    """One row of the reading table."""

    #: the requirement (spec/requirements.yaml, basis reading) whose `point` this is
    requirement: str
    #: the reading the reference decoder follows unless told otherwise (its profile pins it)
    default: str
    #: reading name (as the catalogue names it) -> what the device then does, in one line
    alternatives: Mapping[str, str]
    #: paths under suites/ whose cases observe the point (those of `requirement`)
    suites: tuple[str, ...]
    #: profile capabilities those cases need (the bundled decoder has them all; a profile that
    #: observes the point must declare them)
    capabilities: tuple[str, ...] = ()
    #: profile TOML a profile pinning the point also gives (a tolerance that goes with the pin)
    pinned_profile: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every reading the reference decoder can follow on this point, the default first."""
        return (self.default, *self.alternatives)


READINGS: Final[Mapping[Point, PointInfo]] = MappingProxyType(
    {
        Point.ID_TYPE: PointInfo(
            "SIP-API-LIST-002",
            "json_integer",
            {
                "decimal_string": "every account id emitted in JSON (list.json) is a decimal "
                'string ("3"); the id parameter is accepted as before',
            },
            ("suites/api/test_list.py",),
        ),
        Point.REGISTER_PORT_TYPE: PointInfo(
            "SIP-API-ACC-003",
            "json_integer",
            {"decimal_string": 'account.json registerPort is a decimal string ("5060")'},
            ("suites/api/test_account.py",),
        ),
        Point.CREATED_MEANING: PointInfo(
            "SIP-API-STAT-002",
            "configured",
            {
                "on_add": "list.json created is true from add.json on; account_status is error "
                "(never not_created) until localAccount and localAddress let the account serve",
            },
            ("suites/api/test_status.py",),
        ),
        Point.PAGE_EXAMPLE_BINDS: PointInfo(
            "SIP-API-SBIND-002",
            "refused",
            {
                "accepted_as_written": "set_binds.json accepts HOST.PORT (the page's *.2222) as "
                "HOST:PORT and get_binds.json shows it as written (*.2222)",
                "accepted_normalised": "set_binds.json accepts HOST.PORT (the page's *.2222) as "
                "HOST:PORT and get_binds.json shows HOST:PORT (*:2222)",
            },
            ("suites/api/test_binds.py",),
        ),
        Point.HANGUP_RINGING: PointInfo(
            "SIP-CALL-HUP-002",
            "decline",
            {
                "no_call_1211": "hangup.json on a ringing incoming call answers error 1211 and "
                "the call keeps ringing (the caller may CANCEL it)",
            },
            ("suites/calls/test_hangup.py",),
        ),
        Point.UNACCEPTABLE_OFFER: PointInfo(
            "SIP-CALL-SDP-002",
            "reject_488",
            {
                "reject_other_final": "an INVITE whose offer the device cannot take (no H.264 "
                "video) is refused with 415 Unsupported Media Type instead of 488",
            },
            ("suites/calls/test_sdp.py",),
        ),
        Point.UNACCEPTABLE_OFFER_SIPP: PointInfo(
            "SIP-CALL-IND-003",
            "reject_488",
            {
                "reject_other_final": "an INVITE whose offer the device cannot take (no H.264 "
                "video) is refused with 415 Unsupported Media Type instead of 488",
            },
            ("suites/calls/test_independent.py",),
        ),
        Point.REGISTER_STATUS_ON_FAILURE: PointInfo(
            "SIP-REG-004",
            "error",
            {
                "closed": "after a 403 to REGISTER register_status is closed instead of error "
                "(never registered); retries go on as after error",
            },
            ("suites/sip/test_registration.py",),
        ),
        Point.SSIP_TYPE: PointInfo(
            "SIP-API-ADD-003",
            "refused",
            {
                "alias_of_sip": 'add.json accepts type "Ssip" and stores (and lists) the account '
                "as type sip",
            },
            ("suites/api/test_add.py",),
        ),
        Point.SSIP_TYPE_ON_MODIFY: PointInfo(
            "SIP-API-MOD-010",
            "refused",
            {
                "alias_of_sip": 'modify.json accepts type "Ssip" and stores (and lists) the '
                "account as type sip",
            },
            ("suites/api/test_modify.py::test_modify_type_ssip",),
        ),
        Point.CALL_CFG_BUFFER_KEY: PointInfo(
            "SIP-API-CFG-004",
            "buffer",
            {"buffer_option": "call_cfg.json shows the buffer as buffer_option (the table's key)"},
            ("suites/api/test_call_cfg.py",),
        ),
        Point.AUTO_AWS_ENCODING: PointInfo(
            "SIP-API-CFG-005",
            "zero_one",
            {"boolean": "call_cfg.json shows auto_aws as JSON true/false"},
            ("suites/api/test_call_cfg.py",),
        ),
        Point.AUTO_CALL_ENCODING: PointInfo(
            "SIP-API-CFG-006",
            "zero_one",
            {"one_two": "call_cfg.json shows auto_call 1 for yes, 2 for no"},
            ("suites/api/test_call_cfg.py",),
        ),
        Point.SOURCE_ENABLE_ENCODING: PointInfo(
            "SIP-API-CFG-007",
            "one_two",
            {"boolean": "call_cfg.json shows source_enable as JSON true/false"},
            ("suites/api/test_call_cfg.py",),
        ),
        Point.MCFG_TYPE_PARAM: PointInfo(
            "SIP-API-MCFG-011",
            "ignored",
            {"applied": "modify_call_cfg.json's type changes the account's type, as modify.json's"},
            ("suites/api/test_call_cfg.py",),
        ),
        Point.POST_PARAMETER_CARRIER: PointInfo(
            "SIP-API-ENV-003",
            "form_body_or_query_string",
            {
                "form_body": "a POST reads its parameters from the form body only (its query "
                "string is ignored)",
                "query_string": "a POST reads its parameters from the query string only (its "
                "body is ignored), as the page's examples pass them",
            },
            ("suites/api/test_envelope.py",),
        ),
        Point.REGISTER_STATUS_UNCONFIGURED: PointInfo(
            "SIP-API-STAT-003",
            "idle",
            {"off": "register_status is off (instead of idle) while no registerServer is set"},
            ("suites/api/test_status.py::test_no_registrar_register_status",),
        ),
        Point.CALL_SETTINGS_VIEWS: PointInfo(
            "SIP-API-VIEW-001",
            "shared",
            {
                "independent": "account.json call_in_options/call_out_options are a store of "
                "their own: modify_call_cfg.json writes only what call_cfg.json shows",
            },
            ("suites/api/test_call_cfg.py",),
        ),
        Point.SERVER_PORT_ENTRIES: PointInfo(
            "SIP-API-PORT-001",
            "binds",
            {
                "accounts": "server_port.json lists one entry per account: name the account id, "
                "value the device's first bind",
            },
            ("suites/api/test_binds.py",),
        ),
        Point.SERVER_PORT_PARAMS: PointInfo(
            "SIP-API-PORT-002",
            "ignored",
            {
                "filter": "server_port.json given an id lists only the entry of the bind that "
                "account uses (the first); an id no account has is refused with 1202",
            },
            ("suites/api/test_binds.py::test_server_port_example_parameters",),
        ),
        Point.REGISTER_AOR_USER: PointInfo(
            "SIP-REG-002",
            "local_account",
            {
                "username": "the REGISTER's To and From carry sip:<username>@<registerServer>; "
                "localAccount stays the Contact user",
            },
            ("suites/sip/test_registration.py",),
        ),
        Point.POLICY_3_MEANING: PointInfo(
            "SIP-CALL-POL-003",
            "replace_like_2",
            {
                "undocumented": "policy 3 keeps the current call and refuses the new one with "
                "486 (as policy 1 does)",
            },
            ("suites/calls/test_policy.py::test_policy_3_replaces_the_current_call",),
            ("policy_write",),
        ),
        Point.EARLY_MEDIA_COUNTED: PointInfo(
            "SIP-MED-EARLY-001",
            "not_counted",
            {
                "counted": "RTP that arrives after the device's 200 and before the ACK is "
                "counted in the bitrate (RFC 3264 section 6)",
            },
            ("suites/media/test_bitrate.py",),
        ),
        Point.CALL_STATUS_MEANING: PointInfo(
            "SIP-CALL-STAT-001",
            "as_named",
            {
                "direction_when_established": "call_status is calling while an incoming call "
                "rings or the device's own INVITE is unanswered, and in / out once the call is "
                "established (incoming / outgoing)",
            },
            (
                "suites/calls/test_call_status.py::test_call_status_through_an_incoming_call",
                "suites/calls/test_call_status.py::test_call_status_through_an_outgoing_call",
            ),
        ),
        Point.ANSWER_DIR: PointInfo(
            "SIP-CALL-ANS-001",
            "optional",
            {
                "required_sip_out": "answer.json answers the ringing call only with dir=sip_out; "
                "without dir it is refused with 1201 (another dir with 1203) and the call rings on",
            },
            ("suites/calls/test_incoming.py::test_answer_json_with_and_without_dir",),
        ),
        Point.REGISTER_STATUS_GRANTED: PointInfo(
            "SIP-REG-013",
            "registered",
            {
                "connected": "register_status is connected (instead of registered) once the "
                "registrar granted the binding (its 200), and stays so through refreshes",
            },
            ("suites/sip/test_registration.py::test_granted_registration_state",),
        ),
        Point.GB_DECODER_CHANNELS: PointInfo(
            "GB-QRY-012",
            "outputs",
            {
                "none": "a gb28181 account's Catalog Response is empty (SumNum 0) and DeviceInfo "
                "reports Channel 0: the decoder offers no channels",
            },
            ("suites/gb28181/test_gb_queries.py::test_catalog_channels",),
            ("gb28181",),
        ),
        # Only the readings profiles/reference.toml's tolerance tells apart from payload_1000 at
        # every rate (docs/validation.md): rtp_* lie within it, so pinning one would not fail.
        Point.BITRATE_DEFINITION: PointInfo(
            "SIP-MED-BR-001",
            "payload_1000",
            {
                "payload_1024": "status.json bitrate counts the RTP payload per 1024 bits",
                "ip_1000": "status.json bitrate counts whole IP datagrams (RTP payload plus the "
                "RTP, UDP and IPv4 headers, 40 octets a packet) per 1000 bits",
            },
            ("suites/media/test_bitrate.py::test_reported_bitrate_matches_sent",),
            # the tolerance profiles/reference.toml pins with payload_1000 (the measured one)
            pinned_profile="[media]\nbitrate_tolerance = 0.015\n",
        ),
        Point.REGISTER_STATUS_PENDING: PointInfo(
            "SIP-REG-LIFE-001",
            "registering",
            {
                "connecting": "register_status is connecting (instead of registering) while an "
                "account's first REGISTER awaits its answers, the challenge and the 200",
            },
            ("suites/sip/test_register_states.py::test_pending_registration_state",),
        ),
        Point.REGISTER_STATUS_REFRESH_LOST: PointInfo(
            "SIP-REG-LIFE-002",
            "reconnecting",
            {
                "error": "register_status is error (instead of reconnecting) once a refresh "
                "REGISTER got no answer, and stays so through the retries until the registrar "
                "answers again",
            },
            ("suites/sip/test_register_states.py::test_refresh_lost_stops_claiming_registered",),
        ),
        Point.REGISTER_STATUS_AFTER_UNREGISTER: PointInfo(
            "SIP-REG-LIFE-004",
            "idle",
            {
                "closed": "register_status stays closed (instead of idle) once clearing "
                "registerServer has unregistered the account",
            },
            ("suites/sip/test_register_states.py::test_state_after_clearing_register_server",),
        ),
        Point.AUTO_CALL_AFTER_REFUSAL: PointInfo(
            "SIP-CALL-LIFE-001",
            "redial_reconnecting",
            {
                "no_redial_error": "after the auto_call callee refuses the INVITE (4xx-6xx) the "
                "dialer stops: call_status error, no new INVITE until the call settings change",
            },
            ("suites/calls/test_call_lifecycle.py::test_auto_call_callee_refuses",),
        ),
        Point.AUTO_CALL_AFTER_TIMEOUT: PointInfo(
            "SIP-CALL-LIFE-002",
            "redial_reconnecting",
            {
                "no_redial_error": "after the auto_call INVITE got no answer (Timer B) the dialer "
                "stops: call_status error, no new INVITE until the call settings change",
            },
            ("suites/calls/test_call_lifecycle.py::test_auto_call_callee_never_answers",),
        ),
        Point.AUTO_CALL_AFTER_REMOTE_BYE: PointInfo(
            "SIP-CALL-LIFE-003",
            "redial_reconnecting",
            {
                "no_redial_idle": "after the auto_call callee ends the call with BYE the dialer "
                "stops: call_status idle, no new INVITE until the call settings change",
            },
            ("suites/calls/test_call_lifecycle.py::test_auto_call_callee_hangs_up",),
        ),
        Point.ANSWER_OUTGOING_CALL: PointInfo(
            "SIP-CALL-ANS-002",
            "refused",
            {
                "ok_unchanged": "answer.json with dir=sip_out answers ok while an established "
                "outgoing call is up (and no call rings), and leaves the call as it is",
            },
            ("suites/calls/test_call_lifecycle.py::test_answer_on_an_outgoing_call",),
        ),
        Point.ALLOW_IN_NUM_LIMIT: PointInfo(
            "SIP-CALL-NUM-001",
            "limit",
            {
                "single_per_policy": "incoming calls are held one at a time whatever allow_in_num "
                "says: the policy decides the second one (policy 1 refuses it with 486)",
            },
            ("suites/calls/test_concurrent_calls.py::test_allow_in_num_2_holds_two_calls",),
        ),
        Point.CONCURRENT_CALL_BITRATE: PointInfo(
            "SIP-CALL-NUM-002",
            "newest_call",
            {
                "sum": "status.json bitrate is the sum of the rates of every established call "
                "of the account",
            },
            ("suites/calls/test_concurrent_calls.py::test_each_call_metered_on_its_own",),
        ),
        Point.CALL_STATUS_CLOSING: PointInfo(
            "SIP-CALL-CLOSE-001",
            "close",
            {
                "idle": "call_status is idle (instead of close) as soon as hangup.json sent its "
                "BYE or CANCEL, while that request is still unanswered",
            },
            (
                "suites/calls/test_close_state.py::test_state_while_the_bye_is_unanswered",
                "suites/calls/test_close_state.py::test_state_while_the_cancel_is_unanswered",
            ),
        ),
    }
)


class ReadingError(ValueError):
    """A `--reading` that names no known point or reading, or contradicts another one."""


def describe_known() -> str:
    """The known points and readings, for error messages and --help."""
    lines: list[str] = []
    for point, info in READINGS.items():
        lines.append(f"  {point.value} ({info.requirement}; default {info.default}):")
        lines += [f"    {point.value}={name}: {text}" for name, text in info.alternatives.items()]
    return "\n".join(lines)


def parse_reading(text: str) -> tuple[Point, str]:
    """`POINT=READING` as a (point, reading) pair; ReadingError if either is unknown."""
    name, sep, reading = text.partition("=")
    try:
        point = Point(name.strip())
    except ValueError:
        raise ReadingError(f"unknown reading point in {text!r}") from None
    reading = reading.strip()
    if not sep or reading not in READINGS[point].names:
        known = ", ".join(READINGS[point].names)
        raise ReadingError(f"unknown reading in {text!r} (readings of {point.value}: {known})")
    return point, reading


class Readings:
    """The reading this process follows on each point: the default unless switched."""

    def __init__(self, choices: Iterable[str] = ()) -> None:
        """`choices`: `POINT=READING` texts; an unknown one, or two readings of one point,
        raise ReadingError. Naming the default reading is accepted and changes nothing."""
        chosen: dict[Point, str] = {}
        for text in choices:
            point, reading = parse_reading(text)
            if chosen.setdefault(point, reading) != reading:
                raise ReadingError(
                    f"{point.value}: two readings given ({chosen[point]} and {reading})"
                )
        self._chosen: Mapping[Point, str] = MappingProxyType(
            {p: r for p, r in chosen.items() if r != READINGS[p].default}
        )

    @property
    def enabled(self) -> dict[str, str]:
        """Point -> reading, for the alternatives switched on (in table order)."""
        return {p.value: self._chosen[p] for p in READINGS if p in self._chosen}

    def follows(self, point: Point, reading: str) -> bool:
        """Whether this process follows `reading` on `point`. Anything but a `Point` member, or a
        reading the table does not list for it, is a programming error, never answered False."""
        if not isinstance(point, Point):
            raise KeyError(f"reading point {point!r} is not a Point member")
        info = READINGS[point]
        if reading not in info.names:
            raise KeyError(f"{point.value} has no reading {reading!r} (readings: {info.names})")
        return self._chosen.get(point, info.default) == reading
