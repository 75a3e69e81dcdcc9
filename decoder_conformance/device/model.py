"""The model the stateful fuzzing case (suites/api/test_stateful.py) checks the device against:
what list.json, account.json, call_cfg.json and status.json must show after any sequence of API
requests and SIP events, derived from the vendor page and the readings of spec/requirements.yaml.

Pure: events come in as method calls (an account added, modified, a call rung, answered, ended),
observations as the bodies the device answered (`Observation`), and `DeviceModel.check` returns
the problems, one line each, with nothing sent. The project's tests feed it recorded bad
observations (tests/decoder_conformance/device/test_model.py).

Where the page is ambiguous the model holds, per reading point, the readings still consistent
with everything seen (`Readings`): every listed reading at first, or the one the profile pins.
An observation keeps the readings it agrees with; none left is a problem. A check narrows only
a copy and commits it when the whole observation passes, so a poll that saw a state in passing
does not narrow the readings for good.

What the model claims, and why (every claim a page statement, an RFC MUST or a reading):

* list.json lists every account added and not removed, with the name and type last written,
  and none removed (SIP-API-LIST-001, ADD-001/002, REM-001); `created` and account_status
  follow one reading of created_meaning (SIP-API-STAT-002).
* account.json reads back every modify.json field written (SIP-API-MOD-001); its call options
  follow call_cfg.json (call_settings_views shared) or keep the page's defaults (independent).
* call_cfg.json shows each flag written, by its meaning in any encoding (SIP-API-MCFG-003).
* register_status: a granted state only once the registrar granted that account a binding
  since its registerServer was set (SIP-REG-013's states, register_status_granted); without a
  registerServer a reading of register_status_unconfigured (never had one) or
  register_status_after_unregister (had one; unregistering while it unregisters).
* call_status: none of in, out, calling without a call; with an incoming call ringing or up,
  the state one reading of call_status_meaning names (SIP-CALL-STAT-001).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from decoder_conformance.device.api_checks import account_read_back, created_readings
from decoder_conformance.device.client import Status, as_number, flag_meaning, setting_of

#: call_status of a call in progress, whatever the reading (calls/conftest.py's IN_PROGRESS).
IN_PROGRESS = ("in", "out", "calling")
#: register_status of a granted registration (register_status_granted's readings name them).
GRANTED = ("registered", "connected", "on")
#: The reading points the model follows. Every reading of the points whose readings name the
#: state shown (the register_status ones) is that state; the others have tables below.
POINTS = (
    "created_meaning",
    "call_settings_views",
    "register_status_granted",
    "register_status_unconfigured",
    "register_status_after_unregister",
    "call_status_meaning",
    "hangup_ringing",
)
#: account.json's call options of an account whose call settings were never written (the
#: page's example: auto_answer false, allow true).
DEFAULT_CALL_OPTIONS: Mapping[str, bool] = {"auto_aws": False, "allow_in": True}
#: account.json call_in_options key of each call_cfg.json flag the model writes.
CALL_IN_OPTION = {"auto_aws": "auto_answer", "allow_in": "allow"}
#: The modify.json fields the model compares in account.json (the page's table).
ACCOUNT_FIELDS = (
    "name",
    "localAccount",
    "localAddress",
    "realm",
    "registerServer",
    "registerPort",
    "username",
    "password",
)
SECRET_FIELDS = frozenset({"password"})


class Call(enum.Enum):
    """An account's incoming call as the wire shows it."""

    NONE = "no call"
    RINGING = "ringing"
    UP = "up"


#: call_status_meaning's reading -> the call_status of an incoming call ringing / up.
CALL_STATUS_MEANING: Mapping[str, Mapping[Call, str]] = {
    "as_named": {Call.RINGING: "in", Call.UP: "calling"},
    "direction_when_established": {Call.RINGING: "calling", Call.UP: "in"},
}


class Outcome(enum.Enum):
    """What the model says a request or SIP event must lead to."""

    #: an incoming INVITE: refused with a final 4xx-6xx (allow_in 2; SIP-CALL-IN-003)
    REFUSED = "refused with a final 4xx-6xx"
    #: an incoming INVITE: answered 200 at once (auto_aws; SIP-CALL-IN-001)
    ANSWERED = "answered 200"
    #: an incoming INVITE: rings (a provisional, no final; SIP-CALL-IN-002)
    RINGS = "rings"
    #: answer.json / hangup.json: ok, the caller gets 200 / the device's BYE
    ACTS = "ok"
    #: answer.json / hangup.json: 1211, the call as it was (SIP-API-ANS-001, HUP-001)
    NO_CALL = "1211 (no call)"
    #: answer.json on an established call: any envelope, the call stays up
    UNCHANGED = "any answer, the call unchanged"
    #: hangup.json on a ringing call: a reading of hangup_ringing (SIP-CALL-HUP-002)
    HANGUP_RINGING = "a reading of hangup_ringing"


@dataclass
class Readings:
    """Per reading point, the readings still consistent with what was seen."""

    open: dict[str, frozenset[str]]

    @classmethod
    def allowing(cls, listed: Mapping[str, Iterable[str]], pinned: Mapping[str, str]) -> Readings:
        """Every listed reading of each point, or only the one `pinned` names."""
        return cls(
            {
                point: frozenset([pinned[point]] if point in pinned else names)
                for point, names in listed.items()
            }
        )

    def copy(self) -> Readings:
        """An independent copy (narrowed by a trial check, committed if it passes)."""
        return Readings(dict(self.open))

    def narrow(self, point: str, agreeing: Iterable[str], seen: str) -> list[str]:
        """Keep the readings of `point` that agree with `seen`; a problem when none is left."""
        before = self.open.get(point)
        if before is None:
            return [f"harness: reading point {point!r} is not modelled"]
        after = before & frozenset(agreeing)
        if not after:
            return [
                f"{seen}: follows no reading of {point} still open ({', '.join(sorted(before))})"
            ]
        self.open[point] = after
        return []


@dataclass
class AccountModel:
    """What the model knows of one account the case added."""

    id: int
    name: str
    type: str
    #: modify.json fields written and accepted, as sent
    written: dict[str, str] = field(default_factory=dict)
    #: call_cfg.json flags written and accepted, by meaning
    flags: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_CALL_OPTIONS))
    call: Call = Call.NONE
    #: how many registrar records there were when registerServer was last set (None: not set)
    registrar_since: int | None = None
    had_registrar: bool = False

    @property
    def configured(self) -> bool:
        """localAccount and localAddress both set: the account can take a call."""
        return bool(self.written.get("localAccount") and self.written.get("localAddress"))

    @property
    def registrar(self) -> bool:
        """A registerServer is set."""
        return bool(self.written.get("registerServer"))


@dataclass(frozen=True)
class Observation:
    """The reads of one check: list.json's entries, and per account its account.json data,
    call_cfg.json data and status.json; `granted` holds the accounts the registrar granted a
    binding since their registerServer was set (read after status.json, so a granted state seen
    has its 200 recorded)."""

    listed: Sequence[Mapping[str, Any]]
    accounts: Mapping[int, Mapping[str, Any]]
    call_cfgs: Mapping[int, Mapping[str, Any]]
    statuses: Mapping[int, Status]
    granted: frozenset[int] = frozenset()


def _shown(field_name: str, value: Any) -> str:
    return "***" if field_name in SECRET_FIELDS and value else repr(value)


class DeviceModel:
    """The accounts the case made, their calls, and the readings still open."""

    def __init__(self, readings: Readings) -> None:
        self.readings = readings
        self.accounts: dict[int, AccountModel] = {}
        self.removed: set[int] = set()

    # -- events ---------------------------------------------------------------------------------

    def added(self, account_id: int, name: str, type_: str) -> AccountModel:
        """add.json answered ok and list.json showed the account as `account_id`."""
        account = AccountModel(account_id, name, type_)
        self.accounts[account_id] = account
        return account

    def modified(self, account_id: int, fields: Mapping[str, str], *, since: int = 0) -> None:
        """modify.json answered ok to `fields`; `since`: the registrar's record count then."""
        account = self.accounts[account_id]
        had = account.registrar
        account.written.update(fields)
        if "name" in fields:
            account.name = fields["name"]
        if "registerServer" in fields:
            account.registrar_since = since if account.registrar else None
            account.had_registrar = account.had_registrar or had or account.registrar

    def call_cfg_modified(self, account_id: int, flags: Mapping[str, bool]) -> None:
        """modify_call_cfg.json answered ok to the flags (by meaning)."""
        self.accounts[account_id].flags.update(flags)

    def removed_account(self, account_id: int) -> None:
        """remove.json answered ok: the account and its call are gone."""
        self.accounts.pop(account_id, None)
        self.removed.add(account_id)

    def call_is(self, account_id: int, call: Call) -> None:
        """The wire shows the account's incoming call `call` (rung, answered, ended)."""
        self.accounts[account_id].call = call

    # -- what a request or event must lead to ---------------------------------------------------

    def incoming(self, account_id: int) -> Outcome:
        """An INVITE offering H.264 video to a configured account without a call."""
        flags = self.accounts[account_id].flags
        if not flags["allow_in"]:
            return Outcome.REFUSED
        return Outcome.ANSWERED if flags["auto_aws"] else Outcome.RINGS

    def answer(self, account_id: int) -> Outcome:
        """answer.json of the account."""
        call = self.accounts[account_id].call
        return {
            Call.RINGING: Outcome.ACTS,
            Call.UP: Outcome.UNCHANGED,
            Call.NONE: Outcome.NO_CALL,
        }[call]

    def hangup(self, account_id: int) -> Outcome:
        """hangup.json of the account."""
        call = self.accounts[account_id].call
        return {
            Call.RINGING: Outcome.HANGUP_RINGING,
            Call.UP: Outcome.ACTS,
            Call.NONE: Outcome.NO_CALL,
        }[call]

    def hangup_ringing_seen(
        self, account_id: int, *, ok: bool, msg: str | None, final: int | None
    ) -> list[str]:
        """hangup.json on a ringing call answered `ok` / error `msg`, and the caller's final
        answer `final` (None: none came): decline (ok, 4xx-6xx, the call over) or
        no_call_1211 (1211, no final, the call still rings). Moves the call and narrows."""
        seen = f"hangup.json on a ringing call: {'ok' if ok else f'error {msg}'}, " + (
            f"the caller got {final}" if final is not None else "no final answer to the caller"
        )
        agreeing = []
        if ok and final is not None and 400 <= final < 700:
            agreeing.append("decline")
        if not ok and msg == "1211" and final is None:
            agreeing.append("no_call_1211")
        problems = self.readings.narrow("hangup_ringing", agreeing, seen)
        if not problems and agreeing == ["decline"]:
            self.call_is(account_id, Call.NONE)
        return problems

    # -- the check ------------------------------------------------------------------------------

    def check(self, seen: Observation) -> list[str]:
        """The problems of `seen` against the model (none: the readings narrowed are kept)."""
        trial = self.readings.copy()
        problems = self._check_list(seen.listed)
        for account in self.accounts.values():
            problems += self._check_account(trial, account, seen)
        if not problems:
            self.readings = trial
        return problems

    def _check_list(self, listed: Sequence[Mapping[str, Any]]) -> list[str]:
        problems = []
        by_id: dict[int, list[Mapping[str, Any]]] = {}
        for entry in listed:
            number = as_number(entry.get("id"))
            if number is not None:
                by_id.setdefault(number, []).append(entry)
        for gone in sorted(self.removed & by_id.keys()):
            problems.append(f"list.json: id {gone} listed after remove.json answered ok")
        for account in self.accounts.values():
            entries = by_id.get(account.id, [])
            if len(entries) != 1:
                problems.append(f"list.json: id {account.id} listed {len(entries)} times, not once")
                continue
            entry = entries[0]
            shown = (entry.get("name"), entry.get("type"))
            if shown != (account.name, account.type):
                problems.append(
                    f"list.json: id {account.id} as (name, type) {shown}, written "
                    f"{(account.name, account.type)}"
                )
        return problems

    def _check_account(
        self, trial: Readings, account: AccountModel, seen: Observation
    ) -> list[str]:
        aid = account.id
        data, cfg, status = seen.accounts.get(aid), seen.call_cfgs.get(aid), seen.statuses.get(aid)
        entry = next((e for e in seen.listed if as_number(e.get("id")) == aid), None)
        if data is None or cfg is None or status is None or entry is None:
            return [f"id {aid}: a read is missing (harness)"]
        problems = _account_json(aid, account, data)
        problems += _call_cfg_json(aid, account, cfg)
        problems += _call_views(trial, aid, account, data)
        # created_meaning: list.json's created and status.json's account_status together.
        fields = [k for k in ("localAccount", "localAddress") if account.written.get(k)]
        problems += trial.narrow(
            "created_meaning",
            created_readings(fields, status.account, entry.get("created")),
            f"id {aid} with {fields or 'neither localAccount nor localAddress'} set: list.json "
            f"created {entry.get('created')!r}, account_status {status.account!r}",
        )
        problems += _register_status(trial, account, status.register, aid in seen.granted)
        problems += _call_status(trial, account, status.call)
        return problems


def _account_json(aid: int, account: AccountModel, data: Mapping[str, Any]) -> list[str]:
    written = {k: v for k, v in account.written.items() if k in ACCOUNT_FIELDS}
    written["name"] = account.name
    written["type"] = account.type
    want, shown = account_read_back(written, data)
    return [
        f"account.json id {aid}: {k} {_shown(k, shown[k])}, written {_shown(k, want[k])}"
        for k in want
        if shown[k] != want[k]
    ]


def _call_cfg_json(aid: int, account: AccountModel, cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"call_cfg.json id {aid}: {k} {cfg.get(k)!r}, written {'yes' if want else 'no'}"
        for k, want in account.flags.items()
        if setting_of(cfg, k) != want
    ]


def _call_views(
    trial: Readings, aid: int, account: AccountModel, data: Mapping[str, Any]
) -> list[str]:
    """account.json's call_in_options: call_cfg.json's flags (shared) or the defaults
    (independent: account.json keeps what it showed before the first call_cfg.json write)."""
    options = data.get("call_in_options")
    if not isinstance(options, Mapping):
        return [f"account.json id {aid}: call_in_options {options!r} is not an object"]
    shown = {k: flag_meaning(options.get(key)) for k, key in CALL_IN_OPTION.items()}
    agreeing = [
        name
        for name, want in (("shared", account.flags), ("independent", DEFAULT_CALL_OPTIONS))
        if all(shown[k] == want[k] for k in CALL_IN_OPTION)
    ]
    return trial.narrow(
        "call_settings_views",
        agreeing,
        f"account.json id {aid} call_in_options {dict(options)!r} with call_cfg.json flags "
        f"written {account.flags}",
    )


def _register_status(
    trial: Readings, account: AccountModel, state: str, granted_on_wire: bool
) -> list[str]:
    aid = account.id
    if state in GRANTED:
        if not (account.registrar and granted_on_wire):
            why = "no registerServer set" if not account.registrar else "no 200 from the registrar"
            return [f"status.json id {aid}: register_status {state!r} with {why}"]
        return trial.narrow(
            "register_status_granted", [state], f"id {aid}: register_status {state!r} once granted"
        )
    if account.registrar:
        return []  # pending, refused or lost: the page's set (schema-checked) has them all
    if account.had_registrar:
        if state == "unregistering":
            return []  # SIP-REG-LIFE-004: may show while the device unregisters
        point = "register_status_after_unregister"
    else:
        point = "register_status_unconfigured"
    return trial.narrow(point, [state], f"id {aid}: register_status {state!r} without registrar")


def _call_status(trial: Readings, account: AccountModel, state: str) -> list[str]:
    aid = account.id
    if account.call is Call.NONE:
        if state in IN_PROGRESS:
            return [f"status.json id {aid}: call_status {state!r} with no call on the wire"]
        return []
    agreeing = [r for r, table in CALL_STATUS_MEANING.items() if table[account.call] == state]
    return trial.narrow(
        "call_status_meaning",
        agreeing,
        f"status.json id {aid}: call_status {state!r} with an incoming call {account.call.value}",
    )
