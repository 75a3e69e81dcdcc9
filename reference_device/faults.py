"""The one table of injectable faults: each a small, realistic defect the suite must catch.

`FAULTS` holds, per fault, what the defect is, where it lives, the requirements whose cases must
fail when it is on, and the suites to run to see it. The project's tests (the detection
self-test and the fault coverage checks) are derived from this table; nothing else lists faults.
The reference decoder's code asks `Faults.on(Fault.X)`, so a misspelt fault is an
AttributeError, never a silently inactive fault.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Fault(StrEnum):
    """A built-in fault; the value is the name given to `--fault` (and `--reference-fault`)."""

    REMOVE_KEEPS_LISTED = "remove_keeps_listed"
    MODIFY_IGNORES_REALM = "modify_ignores_realm"
    UNKNOWN_ID_WRONG_CODE = "unknown_id_wrong_code"
    REGISTER_PORT_STRING = "register_port_string"
    CALL_VIEWS_DISAGREE = "call_views_disagree"
    STATUS_UNKNOWN_OK = "status_unknown_ok"
    ID_REUSED = "id_reused"
    PARTIAL_MODIFY = "partial_modify"
    POST_BODY_IGNORED = "post_body_ignored"
    CALL_CFG_NOT_PERSISTED = "call_cfg_not_persisted"
    RENAME_NOT_PERSISTED = "rename_not_persisted"
    BINDS_NOT_PERSISTED = "binds_not_persisted"
    ID_COUNTER_NOT_PERSISTED = "id_counter_not_persisted"
    NO_REGISTER_AFTER_RESTART = "no_register_after_restart"
    REFRESH_REQUESTED_EXPIRY = "refresh_requested_expiry"
    NO_UNREGISTER_ON_REMOVE = "no_unregister_on_remove"
    POLICY1_ACCEPTS_SECOND = "policy1_accepts_second"
    BODYLESS_INVITE_488 = "bodyless_invite_488"
    HANGUP_SENDS_NOTHING = "hangup_sends_nothing"
    DIALER_STOPS_AFTER_REMOTE_BYE = "dialer_stops_after_remote_bye"
    ANSWER_IGNORES_DIR = "answer_ignores_dir"
    ALLOW_IN_NUM_CAPPED_AT_ONE = "allow_in_num_capped_at_one"
    PT_RENUMBERED = "pt_renumbered"
    BITRATE_BYTES = "bitrate_bytes"
    BITRATE_STUCK_AFTER_BYE = "bitrate_stuck_after_bye"
    FUA_BROKEN = "fua_broken"
    REGISTERED_BEFORE_OK = "registered_before_ok"
    LOSS_FRAMES_DOUBLE_COUNTED = "loss_frames_double_counted"
    REORDER_DROPPED = "reorder_dropped"
    FOREIGN_SSRC_METERED = "foreign_ssrc_metered"
    SPROP_IGNORED = "sprop_ignored"
    LOSS_STALLS_DECODER = "loss_stalls_decoder"
    H265_OFFER_ACCEPTED = "h265_offer_accepted"
    NO_KEYFRAME_REQUEST = "no_keyframe_request"
    BINDS_SHOW_REQUESTED_PORT = "binds_show_requested_port"
    DIGEST_URI_WITHOUT_PORT = "digest_uri_without_port"
    REGISTER_CSEQ_RESTARTS = "register_cseq_restarts"
    REGISTERED_WHILE_REGISTRAR_SILENT = "registered_while_registrar_silent"
    REGISTER_STATUS_IDLE_WHILE_PENDING = "register_status_idle_while_pending"
    CLEAR_SERVER_KEEPS_BINDING = "clear_server_keeps_binding"
    CLEARED_SERVER_SHOWS_REGISTERING = "cleared_server_shows_registering"
    INVITE_IGNORES_RECORD_ROUTE = "invite_ignores_record_route"
    INVITE_CHALLENGE_UNANSWERED = "invite_challenge_unanswered"
    INVITE_AUTH_CSEQ_KEPT = "invite_auth_cseq_kept"
    REINVITE_VERSION_NOT_RAISED = "reinvite_version_not_raised"
    ACK_CSEQ_INCREMENTED = "ack_cseq_incremented"
    JSON_AS_TEXT_HTML = "json_as_text_html"
    GB_NO_KEEPALIVE = "gb_no_keepalive"
    GB_RESPONSE_WRONG_SN = "gb_response_wrong_sn"
    GB_UTF8_UNDER_GB2312 = "gb_utf8_under_gb2312"
    GB_SSRC_NOT_ECHOED = "gb_ssrc_not_echoed"
    BUFFER_UPPER_BOUND_OFF_BY_ONE = "buffer_upper_bound_off_by_one"
    BITRATE_HELD_WHEN_MEDIA_STOPS = "bitrate_held_when_media_stops"
    CALL_STATUS_IDLE_FLICKER = "call_status_idle_flicker"
    PACKETIZATION_MODE_DROPPED = "packetization_mode_dropped"
    HANGUP_STATUS_STUCK_CALLING = "hangup_status_stuck_calling"
    GB_NO_REGISTER_AFTER_RESTART = "gb_no_register_after_restart"
    REQUIRE_IGNORED = "require_ignored"
    UNKNOWN_CONTENT_TYPE_ACCEPTED = "unknown_content_type_accepted"
    CSEQ_METHOD_MISMATCH_ACCEPTED = "cseq_method_mismatch_accepted"
    REPLY_TO_SOURCE_PORT = "reply_to_source_port"
    MISSING_HEADER_ACCEPTED = "missing_header_accepted"
    DUPLICATE_HEADER_ACCEPTED = "duplicate_header_accepted"
    BINDS_ACCEPT_MULTICAST = "binds_accept_multicast"
    EXTENSION_ENUMERABLE = "extension_enumerable"
    UNACKED_CALL_HOLDS_SLOT = "unacked_call_holds_slot"
    CONCURRENT_WRITE_LOST = "concurrent_write_lost"
    MODIFY_FORGETS_CALLS = "modify_forgets_calls"
    BYE_LEAKS_OLDER_CALL = "bye_leaks_older_call"
    UNSUPPORTED_LISTS_FIRST_ONLY = "unsupported_lists_first_only"
    UNTYPED_BODY_ACCEPTED = "untyped_body_accepted"
    BUSY_WRITE_REFUSED = "busy_write_refused"


class Area(StrEnum):
    """Where a fault lives; the same names as the `area` of spec/requirements.yaml."""

    API = "api"  # the HTTP API (reference_device/handlers.py, app.py)
    SIP = "sip"  # registration (reference_device/sip/registration.py, agent.py)
    CALLS = "calls"  # call flows, SDP, policies (reference_device/sip/calls.py, agent.py)
    MEDIA = "media"  # the media path and the reported bitrate (reference_device/media/, agent.py)
    GB = "gb"  # GB28181 accounts (reference_device/gb/, sip/gb_call.py)


@dataclass(frozen=True)
class FaultInfo:
    """One row of the fault table."""

    #: the defect, in one line (shown by `--help` and in unknown-fault errors)
    text: str
    area: Area
    #: requirement IDs (spec/requirements.yaml) whose cases must fail with the fault on. Only
    #: cases that fail on every run are listed; a fault may fail more (e.g. remove_keeps_listed
    #: fills the device up and later adds are refused).
    requirements: tuple[str, ...]
    #: what the detection self-test runs with the fault on: paths under suites/ (a folder, a
    #: file, or a file::test node id), as narrow as the cases of `requirements` allow. Media
    #: cases stream in real time, so media faults name single cases.
    suites: tuple[str, ...]


FAULTS: Final[Mapping[Fault, FaultInfo]] = MappingProxyType(
    {
        Fault.REMOVE_KEEPS_LISTED: FaultInfo(
            "remove.json answers ok but the account stays listed and readable",
            Area.API,
            ("SIP-API-REM-001", "SIP-API-REM-002"),
            ("suites/api/test_remove.py",),
        ),
        Fault.MODIFY_IGNORES_REALM: FaultInfo(
            "modify.json answers ok but silently leaves `realm` unchanged",
            Area.API,
            ("SIP-API-MOD-001", "SIP-API-ENV-003"),
            ("suites/api/test_modify.py", "suites/api/test_envelope.py"),
        ),
        Fault.UNKNOWN_ID_WRONG_CODE: FaultInfo(
            "a well-formed unknown id answers 1203 instead of 1202",
            Area.API,
            (
                "SIP-API-ACC-002",
                "SIP-API-CFG-003",
                "SIP-API-MOD-007",
                "SIP-API-MCFG-007",
                "SIP-API-REM-002",
                "SIP-API-STAT-005",
                "SIP-API-ANS-002",
                "SIP-API-HUP-002",
            ),
            (
                "suites/api/test_account.py",
                "suites/api/test_call_cfg.py",
                "suites/api/test_modify.py",
                "suites/api/test_remove.py",
                "suites/api/test_status.py",
                "suites/api/test_answer_hangup.py",
            ),
        ),
        Fault.REGISTER_PORT_STRING: FaultInfo(
            # The page allows this reading (its table says "alphabetic string"): it is a defect only
            # against a profile that pins json_integer, as profiles/reference.toml does, and it
            # fails that one requirement, not the account.json case (no cascade).
            'account.json returns registerPort as a JSON string ("5060")',
            Area.API,
            ("SIP-API-ACC-003",),
            ("suites/api/test_account.py",),
        ),
        Fault.CALL_VIEWS_DISAGREE: FaultInfo(
            "modify_call_cfg changes auto_aws in call_cfg.json but account.json "
            "call_in_options.auto_answer keeps its old value",
            Area.API,
            ("SIP-API-VIEW-001",),
            ("suites/api/test_call_cfg.py",),
        ),
        Fault.STATUS_UNKNOWN_OK: FaultInfo(
            "status.json of an unknown id answers ok with idle states",
            Area.API,
            ("SIP-API-STAT-005",),
            ("suites/api/test_status.py",),
        ),
        Fault.ID_REUSED: FaultInfo(
            "add.json gives the lowest free id, so a removed account's id is reused",
            Area.API,
            ("SIP-API-ADD-008",),
            ("suites/api/test_add.py",),
        ),
        Fault.PARTIAL_MODIFY: FaultInfo(
            "modify.json with one bad field applies the valid fields before refusing",
            Area.API,
            ("SIP-API-MOD-003", "SIP-API-ENV-004"),
            ("suites/api/test_modify.py", "suites/api/test_refused_requests.py"),
        ),
        Fault.POST_BODY_IGNORED: FaultInfo(
            "on POST, form-body parameters are ignored; only the query string is read",
            Area.API,
            ("SIP-API-ENV-003",),
            ("suites/api/test_envelope.py",),
        ),
        Fault.CALL_CFG_NOT_PERSISTED: FaultInfo(
            "modify_call_cfg.json changes the call settings in memory only: after a restart "
            "call_cfg.json shows them as they were when the account was added",
            Area.API,
            ("SIP-API-RST-002",),
            ("suites/api/test_restart.py::test_call_settings_survive_a_restart",),
        ),
        Fault.RENAME_NOT_PERSISTED: FaultInfo(
            "modify.json renames the account in memory only: after a restart list.json and "
            "account.json show the name it was added with",
            Area.API,
            ("SIP-API-RST-001",),
            ("suites/api/test_restart.py::test_accounts_survive_a_restart",),
        ),
        Fault.BINDS_NOT_PERSISTED: FaultInfo(
            "set_binds.json opens the new binds but never stores them: after a restart "
            "get_binds.json shows the binds the device had before",
            Area.API,
            ("SIP-API-RST-003",),
            ("suites/api/test_restart.py::test_binds_survive_a_restart",),
        ),
        Fault.ID_COUNTER_NOT_PERSISTED: FaultInfo(
            "the next account id is recomputed from the highest listed id at start-up, so after "
            "a restart add.json gives a removed account's id again",
            Area.API,
            ("SIP-API-RST-004",),
            ("suites/api/test_restart.py::test_ids_keep_growing_across_a_restart",),
        ),
        Fault.NO_REGISTER_AFTER_RESTART: FaultInfo(
            "accounts loaded at start-up do not register until their settings are next saved: "
            "after a restart a configured account stays unregistered",
            Area.SIP,
            ("SIP-REG-RST-001",),
            ("suites/api/test_restart.py::test_registration_resumes_after_a_restart",),
        ),
        Fault.REFRESH_REQUESTED_EXPIRY: FaultInfo(
            "registration is refreshed on the requested expiry, not the one the registrar granted",
            Area.SIP,
            ("SIP-REG-006",),
            ("suites/sip/test_registration.py",),
        ),
        Fault.NO_UNREGISTER_ON_REMOVE: FaultInfo(
            "remove.json never sends the REGISTER with Expires: 0",
            Area.SIP,
            ("SIP-REG-007",),
            ("suites/sip/test_registration.py",),
        ),
        Fault.POLICY1_ACCEPTS_SECOND: FaultInfo(
            "with policy 1 a call beyond allow_in_num is accepted instead of 486",
            Area.CALLS,
            ("SIP-CALL-POL-001",),
            ("suites/calls/test_policy.py",),
        ),
        Fault.BODYLESS_INVITE_488: FaultInfo(
            "a bodyless INVITE is refused with 488 instead of an offer in the 2xx",
            Area.CALLS,
            ("SIP-CALL-SDP-001",),
            ("suites/calls/test_sdp.py",),
        ),
        Fault.HANGUP_SENDS_NOTHING: FaultInfo(
            "hangup.json answers ok and call_status goes idle, but no BYE, CANCEL or 603 is sent",
            Area.CALLS,
            ("SIP-CALL-HUP-001",),
            ("suites/calls/test_hangup.py",),
        ),
        Fault.DIALER_STOPS_AFTER_REMOTE_BYE: FaultInfo(
            "the auto_call dialer stops for good once the callee ends the call with BYE "
            "(call_status idle, no re-dial) instead of re-dialling after retry_base",
            Area.CALLS,
            ("SIP-CALL-LIFE-003",),
            ("suites/calls/test_call_lifecycle.py::test_auto_call_callee_hangs_up",),
        ),
        Fault.ANSWER_IGNORES_DIR: FaultInfo(
            "answer.json ignores dir: a dir it does not know (dir=sip_bogus) answers the ringing "
            "call as if it were sip_out",
            Area.CALLS,
            ("SIP-CALL-ANS-003",),
            ("suites/calls/test_call_lifecycle.py::test_answer_with_an_unknown_dir",),
        ),
        Fault.ALLOW_IN_NUM_CAPPED_AT_ONE: FaultInfo(
            "incoming calls are limited to one whatever allow_in_num says: with allow_in_num 2 "
            "the second concurrent call is refused (policy 1) with 486",
            Area.CALLS,
            ("SIP-CALL-NUM-001",),
            ("suites/calls/test_concurrent_calls.py::test_allow_in_num_2_holds_two_calls",),
        ),
        Fault.PT_RENUMBERED: FaultInfo(
            "the SDP answer always uses payload type 96, whatever the offer's H.264 type",
            Area.CALLS,
            ("SIP-CALL-SDP-003",),
            ("suites/calls/test_sdp.py",),
        ),
        Fault.BITRATE_BYTES: FaultInfo(
            "status.json reports the bitrate in kbyte/s instead of kbit/s (8x too low)",
            Area.MEDIA,
            ("SIP-MED-BR-001",),
            ("suites/media/test_bitrate.py::test_reported_bitrate_matches_sent",),
        ),
        Fault.BITRATE_STUCK_AFTER_BYE: FaultInfo(
            "after the call ends status.json keeps reporting the call's last bitrate instead of 0",
            Area.MEDIA,
            ("SIP-MED-BR-002",),
            ("suites/media/test_bitrate.py::test_bitrate_zero_after_bye",),
        ),
        Fault.FUA_BROKEN: FaultInfo(
            "FU-A reassembly misses the end bit, so fragmented NAL units never complete: frames "
            "carried in FU-A are lost while small (single-packet, STAP-A) NAL units still pass",
            Area.MEDIA,
            ("SIP-MED-FRM-001",),
            ("suites/media/test_decoding.py",),
        ),
        Fault.REGISTERED_BEFORE_OK: FaultInfo(
            "register_status shows registered as soon as the REGISTER answering the digest "
            "challenge is sent, before the registrar's 200",
            Area.SIP,
            ("SIP-REG-001",),
            ("suites/sip/test_registration.py::test_registers_with_digest_and_reports_registered",),
        ),
        Fault.LOSS_FRAMES_DOUBLE_COUNTED: FaultInfo(
            "after packet loss, each frame up to the next keyframe is counted twice in "
            "frames_decoded (the concealment picture shown and the frame decoded behind it), so "
            "under loss more frames are reported decoded than were sent",
            Area.MEDIA,
            ("SIP-MED-LOSS-001",),
            ("suites/media/test_decoding.py::test_loss_still_decodes",),
        ),
        Fault.REORDER_DROPPED: FaultInfo(
            "an RTP packet that arrives after one with a higher sequence number is dropped as "
            "late instead of being put back in order (no reorder window), so each pair of "
            "swapped neighbours loses a packet and its frame",
            Area.MEDIA,
            ("SIP-MED-REORD-001",),
            ("suites/media/test_media_depth.py::test_reordered_packets_are_decoded_in_order",),
        ),
        Fault.FOREIGN_SSRC_METERED: FaultInfo(
            "the bitrate meter counts every RTP packet arriving on the call's media port, so a "
            "second, foreign SSRC sending the same stream doubles status.json's bitrate",
            Area.MEDIA,
            ("SIP-MED-SSRC-001",),
            ("suites/media/test_media_depth.py::test_foreign_ssrc_is_not_metered",),
        ),
        Fault.SPROP_IGNORED: FaultInfo(
            "the SDP offer's sprop-parameter-sets are ignored, so a stream that sends its SPS "
            "and PPS only out of band is never decoded",
            Area.MEDIA,
            ("SIP-MED-H264-002",),
            ("suites/media/test_media_depth.py::test_parameter_sets_only_in_sprop_are_used",),
        ),
        Fault.LOSS_STALLS_DECODER: FaultInfo(
            "after a sequence gap the decoder is never fed again (its keyframe gate closes and "
            "does not reopen at the next IDR): the picture freezes for the rest of the call",
            Area.MEDIA,
            ("SIP-MED-LOSS-002",),
            ("suites/media/test_media_depth.py::test_decoding_resumes_after_a_loss_burst",),
        ),
        Fault.H265_OFFER_ACCEPTED: FaultInfo(
            "the codec name of an offered video format is never read, so an INVITE offering "
            "only H.265 is answered 200 receiving it as H.264 instead of being refused",
            Area.MEDIA,
            ("SIP-MED-CODEC-001",),
            ("suites/media/test_media_depth.py::test_h265_only_offer_is_not_accepted",),
        ),
        Fault.NO_KEYFRAME_REQUEST: FaultInfo(
            "a sequence gap never asks the sender for a keyframe (no RTCP PLI or FIR, no SIP "
            "INFO): the picture stays damaged until the sender's next periodic IDR",
            Area.MEDIA,
            ("SIP-MED-LOSS-003",),
            ("suites/media/test_media_depth.py::test_keyframe_requested_after_a_loss_burst",),
        ),
        Fault.BINDS_SHOW_REQUESTED_PORT: FaultInfo(
            "get_binds.json shows the binds as requested, so a bind written with port 0 shows "
            "HOST:0 instead of the port the device bound",
            Area.SIP,
            ("SIP-TRN-001",),
            ("suites/sip/test_transport.py::test_bind_shows_bound_port_and_answers",),
        ),
        Fault.DIGEST_URI_WITHOUT_PORT: FaultInfo(
            "the digest uri answering a registrar's challenge leaves out the registrar's port "
            "that the Request-URI carries (sip:HOST instead of sip:HOST:PORT); a registrar that "
            "verifies with the digest's own uri still grants the binding",
            Area.SIP,
            ("SIP-REG-014",),
            ("suites/sip/test_registration.py::test_digest_uri_is_the_request_uri",),
        ),
        Fault.REGISTER_CSEQ_RESTARTS: FaultInfo(
            "each REGISTER round starts again at CSeq 1 on the same Call-ID, so a refresh "
            "repeats the CSeq of the first REGISTER",
            Area.SIP,
            ("SIP-REG-015",),
            ("suites/sip/test_registration.py::test_cseq_grows_on_one_call_id",),
        ),
        Fault.REGISTERED_WHILE_REGISTRAR_SILENT: FaultInfo(
            "a refresh REGISTER the registrar never answers (timer F) leaves register_status "
            "registered: the device claims a binding nobody has confirmed while it retries",
            Area.SIP,
            ("SIP-REG-LIFE-002",),
            ("suites/sip/test_register_states.py::test_refresh_lost_stops_claiming_registered",),
        ),
        Fault.REGISTER_STATUS_IDLE_WHILE_PENDING: FaultInfo(
            "register_status is updated only when the registrar's final answer arrives: it stays "
            "idle while an account's first REGISTER awaits its challenge and its 200",
            Area.SIP,
            ("SIP-REG-LIFE-001",),
            ("suites/sip/test_register_states.py::test_pending_registration_state",),
        ),
        Fault.CLEAR_SERVER_KEEPS_BINDING: FaultInfo(
            "modify.json clearing registerServer on a registered account stops refreshing but "
            "sends no REGISTER with Expires: 0: the registrar keeps the binding until it expires",
            Area.SIP,
            ("SIP-REG-LIFE-003",),
            ("suites/sip/test_register_states.py::test_clearing_register_server_unregisters",),
        ),
        Fault.CLEARED_SERVER_SHOWS_REGISTERING: FaultInfo(
            "once clearing registerServer has unregistered the account, register_status goes "
            "back to registering and stays there, although nothing is being registered",
            Area.SIP,
            ("SIP-REG-LIFE-004",),
            ("suites/sip/test_register_states.py::test_state_after_clearing_register_server",),
        ),
        Fault.INVITE_IGNORES_RECORD_ROUTE: FaultInfo(
            "an incoming INVITE's Record-Route is not kept as the dialog's route set: the BYE "
            "goes straight to the caller's Contact, past the proxy, with no Route header",
            Area.CALLS,
            ("SIP-CALL-PROXY-001",),
            ("suites/calls/test_via_registrar.py::test_proxy_routed_invite_honours_record_route",),
        ),
        Fault.INVITE_CHALLENGE_UNANSWERED: FaultInfo(
            "a 401 or 407 to the device's own INVITE ends the attempt: it is never sent again "
            "with credentials, so a call through an authenticating proxy never goes out",
            Area.CALLS,
            ("SIP-CALL-AUTH-001",),
            ("suites/calls/test_via_registrar.py::test_invite_answers_401_and_407",),
        ),
        Fault.INVITE_AUTH_CSEQ_KEPT: FaultInfo(
            "the INVITE sent again with credentials after a 401 or 407 keeps the challenged "
            "INVITE's CSeq (a new branch, the same number)",
            Area.CALLS,
            ("SIP-CALL-AUTH-002",),
            ("suites/calls/test_via_registrar.py::test_invite_retry_cseq_and_digest_uri",),
        ),
        Fault.REINVITE_VERSION_NOT_RAISED: FaultInfo(
            "the SDP answering a re-INVITE (hold, resume) keeps the o= session version of the "
            "previous SDP although the session changed",
            Area.CALLS,
            ("SIP-CALL-RE-002",),
            ("suites/calls/test_reinvite.py::test_reinvite_answers_raise_the_origin_version",),
        ),
        Fault.ACK_CSEQ_INCREMENTED: FaultInfo(
            "the ACK to the 2xx of the device's own INVITE carries the next CSeq number (as a "
            "new request would) instead of the INVITE's",
            Area.CALLS,
            ("SIP-CALL-ACK-001",),
            ("suites/calls/test_outgoing.py::test_ack_of_the_2xx_matches_the_invite",),
        ),
        Fault.JSON_AS_TEXT_HTML: FaultInfo(
            "every sip/*.json answer (ok or error) carries Content-Type text/html although its "
            "body is JSON",
            Area.API,
            ("SIP-API-ENV-008",),
            ("suites/api/test_envelope.py::test_every_endpoint_answers_application_json",),
        ),
        Fault.GB_NO_KEEPALIVE: FaultInfo(
            "a gb28181 account registers but never sends a keepalive, so the platform marks it "
            "offline after keepalive count x interval",
            Area.GB,
            ("GB-KA-001",),
            ("suites/gb28181/test_gb_keepalive.py::test_keepalives_at_the_configured_interval",),
        ),
        Fault.GB_RESPONSE_WRONG_SN: FaultInfo(
            "the MESSAGE Responses to a platform's queries carry the query's SN + 1",
            Area.GB,
            ("GB-QRY-001",),
            ("suites/gb28181/test_gb_queries.py::test_query_answered_with_the_same_sn",),
        ),
        Fault.GB_UTF8_UNDER_GB2312: FaultInfo(
            "query Responses declare encoding GB2312 but their bytes are UTF-8, so the Chinese "
            "DeviceName and channel names read as mojibake",
            Area.GB,
            ("GB-QRY-006",),
            ("suites/gb28181/test_gb_queries.py::test_response_charset",),
        ),
        Fault.GB_SSRC_NOT_ECHOED: FaultInfo(
            "the 200 to a GB28181 INVITE with y= carries an SSRC of its own instead of echoing "
            "the offer's, and RTP with any SSRC is accepted",
            Area.GB,
            ("GB-MED-004",),
            ("suites/gb28181/test_gb_media.py::test_ssrc_echoed",),
        ),
        Fault.BUFFER_UPPER_BOUND_OFF_BY_ONE: FaultInfo(
            "modify_call_cfg.json takes 100001 (max + 1) as the buffer's last number",
            Area.API,
            ("LOCAL-API-FUZZ-002",),
            ("suites/api/test_fuzz.py::test_modify_call_cfg_fuzz",),
        ),
        Fault.BITRATE_HELD_WHEN_MEDIA_STOPS: FaultInfo(
            "status.json keeps the last bitrate while the call stays up after its media stopped "
            "(a meter that moves only when packets arrive)",
            Area.MEDIA,
            ("SIP-MED-BR-003",),
            ("suites/media/test_bitrate.py::test_bitrate_zero_after_source_stops",),
        ),
        Fault.CALL_STATUS_IDLE_FLICKER: FaultInfo(
            "call_status drops to idle for half a second, half a second after a call is up, "
            "then shows the call again (the call itself stays up)",
            Area.CALLS,
            ("SIP-STAT-TRACE-002",),
            ("suites/calls/test_call_trace.py::test_no_idle_or_error_while_the_call_is_up",),
        ),
        Fault.PACKETIZATION_MODE_DROPPED: FaultInfo(
            "the SDP answer carries no a=fmtp, so an offer of H.264 packetization-mode=1 is "
            "answered with mode 0 (RFC 6184 §8.1: absent means 0)",
            Area.CALLS,
            ("SIP-CALL-SDP-006",),
            ("suites/calls/test_sdp.py::test_answer_keeps_the_offered_packetization_mode",),
        ),
        Fault.HANGUP_STATUS_STUCK_CALLING: FaultInfo(
            "after hangup.json call_status shows calling until the BYE is answered 2xx; a BYE "
            "answered otherwise (481) or not at all leaves the call shown in progress for good",
            Area.CALLS,
            ("SIP-CALL-CLOSE-001", "SIP-CALL-CLOSE-002"),
            (
                "suites/calls/test_close_state.py::test_state_while_the_bye_is_unanswered",
                "suites/calls/test_close_state.py::test_call_ends_when_the_bye_fails",
            ),
        ),
        Fault.GB_NO_REGISTER_AFTER_RESTART: FaultInfo(
            "at start-up only sip accounts get their stored registrar: after a restart a "
            "gb28181 account stays unregistered until it is saved again",
            Area.GB,
            ("GB-RST-002",),
            ("suites/gb28181/test_gb_restart.py::test_gb_registers_again_after_a_restart",),
        ),
        Fault.REQUIRE_IGNORED: FaultInfo(
            "a Require: naming an option the device does not support is ignored (the request is "
            "processed, an INVITE answered) instead of refused with 420 and Unsupported",
            Area.SIP,
            ("SIP-ROB-REQUIRE-001",),
            ("suites/robustness/test_rfc_refusals.py::test_unsupported_require_gets_420",),
        ),
        Fault.UNKNOWN_CONTENT_TYPE_ACCEPTED: FaultInfo(
            "a request body of a type the device does not understand (text/plain) or with "
            "Content-Encoding: gzip is processed instead of refused with 415",
            Area.SIP,
            ("SIP-ROB-CTYPE-001",),
            ("suites/robustness/test_rfc_refusals.py::test_unknown_body_gets_415",),
        ),
        Fault.CSEQ_METHOD_MISMATCH_ACCEPTED: FaultInfo(
            "a request whose CSeq names another method (INVITE with CSeq: 1 BYE) is processed "
            "(an INVITE sets up a call) instead of refused with 400",
            Area.SIP,
            ("SIP-ROB-CSEQ-001",),
            ("suites/robustness/test_rfc_refusals.py::test_cseq_method_mismatch_gets_400",),
        ),
        Fault.REPLY_TO_SOURCE_PORT: FaultInfo(
            "UDP responses go to the packet's source port even when the top Via has no rport, "
            "not to the Via sent-by port (RFC 3261 18.2.2)",
            Area.SIP,
            ("SIP-ROB-VIA-001",),
            ("suites/robustness/test_rfc_refusals.py::test_udp_response_goes_to_the_via_port",),
        ),
        Fault.MISSING_HEADER_ACCEPTED: FaultInfo(
            "a request without Call-ID is processed (an INVITE without one sets up a call) "
            "instead of refused with 400",
            Area.SIP,
            ("SIP-ROB-MANDATORY-001",),
            ("suites/robustness/test_rfc_refusals.py::test_missing_mandatory_header_gets_400",),
        ),
        Fault.DUPLICATE_HEADER_ACCEPTED: FaultInfo(
            "a request with two Call-ID, CSeq, From or To header fields is processed (the first "
            "one used) instead of refused with 400",
            Area.SIP,
            ("SIP-ROB-DUP-001",),
            ("suites/robustness/test_rfc_refusals.py::test_duplicated_header_gets_400",),
        ),
        Fault.BINDS_ACCEPT_MULTICAST: FaultInfo(
            "set_binds.json takes (and opens) a multicast or broadcast host such as 224.0.0.1 or "
            "255.255.255.255 as a bind",
            Area.API,
            ("SIP-API-SBIND-005",),
            ("suites/api/test_binds.py::test_non_unicast_binds_refused",),
        ),
        Fault.EXTENSION_ENUMERABLE: FaultInfo(
            "an INVITE to an extension no account has gets 404 while a configured one refuses "
            "the same (audio-only) offer with 488, so svwar lists every configured extension",
            Area.SIP,
            ("SIP-SEC-ENUM-001",),
            ("suites/security/test_svwar.py",),
        ),
        Fault.UNACKED_CALL_HOLDS_SLOT: FaultInfo(
            "an incoming call answered 200 and never ACKed keeps its allow_in_num slot until "
            "64*T1, so one scanner INVITE locks a legitimate caller out (486) for that long",
            Area.CALLS,
            ("SIP-SEC-LOCK-001",),
            ("suites/security/test_lockout.py",),
        ),
        Fault.CONCURRENT_WRITE_LOST: FaultInfo(
            "writes build on the state last written to disk instead of the newest accepted one, "
            "so of concurrent writes that share one group commit only the last survives: "
            "acknowledged adds vanish from list.json",
            Area.API,
            ("SIP-LOAD-API-001",),
            ("suites/load/test_api_load.py::test_no_account_is_lost_or_duplicated_under_load",),
        ),
        Fault.MODIFY_FORGETS_CALLS: FaultInfo(
            "modify.json of an account with a call (ringing or up) rebuilds its user agent's "
            "call table: the call goes on at the caller, but status.json shows no call, "
            "answer.json and hangup.json answer 1211 and the caller's BYE gets 481 (only a "
            "sequence exposes it: configure, a call, then any modify.json)",
            Area.API,
            ("LOCAL-API-STATE-001",),
            ("suites/api/test_stateful.py",),
        ),
        Fault.BYE_LEAKS_OLDER_CALL: FaultInfo(
            "the caller's BYE is matched only to the account's newest call: a BYE for an older "
            "one of several concurrent calls is answered 200 but the call is kept, so its dialog "
            "and its allow_in_num slot leak (one call at a time never shows it)",
            Area.CALLS,
            ("SIP-LOAD-STORM-001", "SIP-LOAD-STORM-003"),
            (
                "suites/load/test_call_storm.py::test_call_storm_is_handled_per_policy",
                "suites/load/test_call_storm.py::test_nothing_is_left_open_after_the_storm",
            ),
        ),
        Fault.UNSUPPORTED_LISTS_FIRST_ONLY: FaultInfo(
            "a Require naming several option tags the device lacks is refused with 420, but its "
            "Unsupported lists only the first of them (one unknown tag never shows it)",
            Area.SIP,
            ("SIP-ROB-MALF-REQUIRE-001",),
            ("suites/robustness/test_malformed.py::test_unknown_required_options_get_420",),
        ),
        Fault.UNTYPED_BODY_ACCEPTED: FaultInfo(
            "a request whose non-empty body has no Content-Type is processed (an INVITE with an "
            "untyped SDP sets up a call) instead of refused with 400 or 415",
            Area.SIP,
            ("SIP-ROB-MALF-CTYPE-001",),
            ("suites/robustness/test_malformed.py::test_unknown_bodies_get_415",),
        ),
        Fault.BUSY_WRITE_REFUSED: FaultInfo(
            "a write arriving while the state file is being written is refused with HTTP 503 "
            "and a plain-text 'busy' body instead of waiting for the next group commit (one "
            "client at a time never meets it)",
            Area.API,
            ("SIP-LOAD-API-002",),
            (
                "suites/load/test_api_load.py::"
                "test_every_request_under_load_gets_an_envelope_with_a_catalogue_code",
            ),
        ),
    }
)


class UnknownFaultError(ValueError):
    """A fault name that is not a `Fault`."""


def describe_known() -> str:
    """One line per known fault, for error messages and --help."""
    return "\n".join(f"  {fault.value}: {info.text}" for fault, info in FAULTS.items())


def parse_fault(name: str) -> Fault:
    """The fault called `name` (its `--fault` name); UnknownFaultError if there is none."""
    try:
        return Fault(name)
    except ValueError:
        raise UnknownFaultError(name) from None


class Faults:
    """The set of faults switched on for this process."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        """`names`: `Fault` members or their `--fault` names; an unknown name raises."""
        enabled: list[Fault] = []
        for name in names:
            fault = parse_fault(name)
            if fault not in enabled:
                enabled.append(fault)
        self._enabled: tuple[Fault, ...] = tuple(enabled)

    @property
    def enabled(self) -> list[str]:
        """Enabled fault names, in the order first given."""
        return [fault.value for fault in self._enabled]

    def on(self, fault: Fault) -> bool:
        """Whether `fault` is on. Anything but a `Fault` member (a bare string included) is a
        programming error, refused rather than answered with "off"."""
        if not isinstance(fault, Fault):
            raise KeyError(f"fault {fault!r} is not a Fault member")
        return fault in self._enabled
