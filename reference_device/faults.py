"""The one table of injectable faults: each a small, realistic defect the suite must catch."""

from collections.abc import Iterable, Mapping
from typing import Final

FAULTS: Final[Mapping[str, str]] = {
    "remove_keeps_listed": "remove.json answers ok but the account stays listed and readable",
    "modify_ignores_realm": "modify.json answers ok but silently leaves `realm` unchanged",
    "unknown_id_wrong_code": "a well-formed unknown id answers 1203 instead of 1202",
    "register_port_string": 'account.json returns registerPort as a JSON string ("5060")',
    "call_views_disagree": (
        "modify_call_cfg changes auto_aws in call_cfg.json but account.json "
        "call_in_options.auto_answer keeps its old value"
    ),
    "status_unknown_ok": "status.json of an unknown id answers ok with idle states",
    "id_reused": "add.json gives the lowest free id, so a removed account's id is reused",
    "partial_modify": "modify.json with one bad field applies the valid fields before refusing",
    "post_body_ignored": "on POST, form-body parameters are ignored; only the query string is read",
    "refresh_requested_expiry": (
        "registration is refreshed on the requested expiry, not the one the registrar granted"
    ),
    "no_unregister_on_remove": "remove.json never sends the REGISTER with Expires: 0",
    "policy1_accepts_second": "with policy 1 a call beyond allow_in_num is accepted instead of 486",
    "bodyless_invite_488": "a bodyless INVITE is refused with 488 instead of an offer in the 2xx",
    "hangup_sends_nothing": (
        "hangup.json answers ok and call_status goes idle, but no BYE, CANCEL or 603 is sent"
    ),
    "pt_renumbered": "the SDP answer always uses payload type 96, whatever the offer's H.264 type",
    "bitrate_bytes": "status.json reports the bitrate in kbyte/s instead of kbit/s (8x too low)",
    "bitrate_stuck_after_bye": (
        "after the call ends status.json keeps reporting the call's last bitrate instead of 0"
    ),
    "fua_broken": (
        "FU-A reassembly misses the end bit, so fragmented NAL units never complete: frames "
        "carried in FU-A are lost while small (single-packet, STAP-A) NAL units still pass"
    ),
}


class UnknownFaultError(ValueError):
    """A fault name that is not in FAULTS."""


def describe_known() -> str:
    """One line per known fault, for error messages and --help."""
    return "\n".join(f"  {name}: {text}" for name, text in FAULTS.items())


class Faults:
    """The set of faults switched on for this process."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        enabled: list[str] = []
        for name in names:
            if name not in FAULTS:
                raise UnknownFaultError(name)
            if name not in enabled:
                enabled.append(name)
        self._enabled: tuple[str, ...] = tuple(enabled)

    @property
    def enabled(self) -> list[str]:
        """Enabled fault names, in the order first given."""
        return list(self._enabled)

    def on(self, name: str) -> bool:
        """Whether fault `name` is on; a name missing from FAULTS is a programming error."""
        if name not in FAULTS:
            raise KeyError(f"fault {name!r} is not in the FAULTS table")
        return name in self._enabled
