"""One handler per endpoint. Each validates everything first, then applies to a snapshot,
then commits it, then hands the SIP layer its part; a refused request changes nothing. The
HTTP layer answers a write once its commit is on disk (store.py); should that write fail, each
commit's undo takes the SIP layer back and the state returns to what the disk holds."""

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Final

from reference_device import IMPLEMENTATION, __version__
from reference_device import validation as v
from reference_device.auth import Authenticator
from reference_device.errors import ApiError, ErrorCode
from reference_device.faults import Fault, Faults
from reference_device.media.session import empty_view
from reference_device.model import (
    Account,
    AccountType,
    CallSettings,
    JsonObject,
    State,
    account_status,
    account_view,
    call_cfg_view,
    list_entry,
    status_view,
)
from reference_device.params import Params
from reference_device.readings import Point, Readings
from reference_device.sip.stack import SipStack
from reference_device.sip.transport import Transport
from reference_device.status import AccountRuntime, AccountStatus, RegisterStatus
from reference_device.store import Store
from reference_device.write_counter import WriteCounter

# What a handler returns: the members of the ok envelope besides "result".
Payload = JsonObject
Endpoint = Callable[[Params], Payload]
# A field validator: raw string -> value for the model attribute.
Check = Callable[[str], object]

DEFAULT_MAX_ACCOUNTS: Final = 32

log = logging.getLogger(__name__)
# The list table's spelling of the sip type (ssip_type: refused unless read as an alias).
SSIP: Final = "Ssip"

# modify_call_cfg.json parameter -> (CallSettings attribute, validator).
CALL_FIELDS: Final[Mapping[str, tuple[str, Check]]] = {
    "allow_in": ("allow_in", v.parse_one_two),
    "auto_aws": ("auto_answer", v.parse_flag),
    "auto_call": ("auto_call", v.parse_flag),
    "source_enable": ("create_stream", v.parse_one_two),
    "policy": ("policy", v.parse_policy),
    "allow_in_num": ("allow_in_num", v.parse_allow_in_num),
    "buffer": ("buffer", v.parse_buffer),
    "sip_out_url": ("target", v.parse_sip_url),
    "source_id": ("source_id", v.parse_text),
    "default_name": ("default_name", v.parse_text),
}

# modify.json parameters other than name/type -> (Account attribute, validator).
ACCOUNT_FIELDS: Final[Mapping[str, tuple[str, Check]]] = {
    "localAccount": ("local_account", v.parse_text),
    "localAddress": ("local_address", v.parse_local_address),
    "realm": ("realm", v.parse_text),
    "serverId": ("server_id", v.parse_text),
    "registerServer": ("register_server", v.parse_register_server),
    "registerPort": ("register_port", v.parse_port),
    "username": ("username", v.parse_text),
    "password": ("password", v.parse_text),
}


def collect_changes(
    params: Params, fields: Mapping[str, tuple[str, Check]]
) -> tuple[dict[str, object], ApiError | None]:
    """Validate every given field; return the valid changes and the first refusal (if any)."""
    changes: dict[str, object] = {}
    first_error: ApiError | None = None
    for param, (attr, check) in fields.items():
        try:
            raw = params.get(param)
            if raw is not None:
                changes[attr] = check(raw)
        except ApiError as exc:
            first_error = first_error or exc
    return changes, first_error


def _apply(target: object, changes: Mapping[str, object]) -> None:
    for attr, value in changes.items():
        setattr(target, attr, value)


class Api:
    """The SIP-module endpoints over one Store."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        auth: Authenticator,
        *,
        max_accounts: int = DEFAULT_MAX_ACCOUNTS,
        sip: SipStack | None = None,
        readings: Readings | None = None,
    ) -> None:
        self.store = store
        # The SIP user agent; None serves the API alone (binds stored, never opened; no calls).
        self.sip = sip
        self.faults = faults
        # Where the page is ambiguous, the reading this device follows (the defaults if None).
        self.readings = readings if readings is not None else Readings()
        if sip is not None:  # the SIP layer follows the same readings
            sip.settings = replace(sip.settings, readings=self.readings)
        self.auth = auth
        self.max_accounts = max_accounts
        # What the device was asked to change (reference/stats.json; the HTTP layer counts).
        self.writes = WriteCounter()
        if sip is not None:
            sip.on_request = self.writes.sip_request
        self._runtime: dict[int, AccountRuntime] = {}
        # Only filled under the call_views_disagree fault: the auto_answer account.json keeps.
        self._stale_auto_answer: dict[int, bool] = {}
        # call_settings_views=independent: account.json's own call options, per account
        self._own_call_options: dict[int, CallSettings] = {}
        # Readings status.json and list.json ask on every request, looked up once.
        self._reading_created_on_add = self.readings.follows(Point.CREATED_MEANING, "on_add")
        self._reading_register_off = self.readings.follows(
            Point.REGISTER_STATUS_UNCONFIGURED, "off"
        )
        # status.json's last answer per account, with what it was made of
        self._statuses: dict[int, tuple[tuple[object, ...], Payload]] = {}
        # list.json's last answer: (state, transports open per account, payload)
        self._listed: tuple[State, tuple[bool, ...], Payload] | None = None

    def endpoints(self) -> dict[str, Endpoint]:
        """Route path (below /api) -> handler."""
        sip: dict[str, Endpoint] = {
            "list": self.list_accounts,
            "add": self.add,
            "modify": self.modify,
            "remove": self.remove,
            "status": self.status,
            "account": self.account,
            "call_cfg": self.call_cfg,
            "modify_call_cfg": self.modify_call_cfg,
            "server_port": self.server_port,
            "get_source": self.get_source,
            "get_binds": self.get_binds,
            "set_binds": self.set_binds,
            "answer": self.answer,
            "hangup": self.hangup,
        }
        routes = {f"/sip/{name}.json": fn for name, fn in sip.items()}
        routes["/users/login.json"] = self.login
        routes["/reference/info.json"] = self.info
        routes["/reference/media.json"] = self.media
        routes["/reference/stats.json"] = self.stats
        return routes

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _find(state: State, params: Params) -> Account | None:
        """The account named by `id`, None if unknown: 1201 absent, 1203 malformed."""
        return state.accounts.get(v.parse_id(params.get("id")))

    def _known(self, account: Account | None) -> Account:
        """`account`, or 1202 when the id named none."""
        if account is None:
            wrong = self.faults.on(Fault.UNKNOWN_ID_WRONG_CODE)
            raise ApiError(ErrorCode.BAD_VALUE if wrong else ErrorCode.UNKNOWN_ID, "id")
        return account

    def _lookup(self, state: State, params: Params) -> Account:
        """The account named by `id`: 1201 absent, 1203 malformed, 1202 unknown."""
        return self._known(self._find(state, params))

    def _runtime_of(self, account_id: int) -> AccountRuntime:
        if self.sip is not None:
            return self.sip.runtime(account_id)
        return self._runtime.setdefault(account_id, AccountRuntime())

    def _transport_open(self, account_id: int) -> bool:
        """Without a SIP layer there is no transport to wait for."""
        return self.sip is None or self.sip.current_transport(account_id) is not None

    def _transport_for(self, old: Account, new_address: str) -> Transport | None:
        """The transport the (new) localAddress selects: 1207 when it cannot be opened."""
        if self.sip is None or not new_address:
            return None
        current = self.sip.current_transport(old.id)
        if current is not None and new_address == old.local_address:
            return current
        try:
            return self.sip.transport_for(new_address)
        except OSError as exc:
            raise ApiError(ErrorCode.BIND_FAILED, f"localAddress {new_address}: {exc}") from exc

    @staticmethod
    def _check_unique(state: State, name: str, account_id: int | None) -> None:
        if any(a.name == name and a.id != account_id for a in state.accounts.values()):
            raise ApiError(ErrorCode.DUPLICATE_NAME, name)

    def _type_parser(self, point: Point) -> Callable[[str], AccountType]:
        """v.parse_type; "Ssip" is sip when the process follows `point`=alias_of_sip (ssip_type
        for add.json, ssip_type_on_modify for modify.json)."""

        def parse(raw: str) -> AccountType:
            if raw == SSIP and self.readings.follows(point, "alias_of_sip"):
                return AccountType.SIP
            return v.parse_type(raw)

        return parse

    @property
    def _created_on_add(self) -> bool:
        return self._reading_created_on_add

    def _new_id(self, state: State) -> int:
        if self.faults.on(Fault.ID_REUSED):
            return next(i for i in range(1, len(state.accounts) + 2) if i not in state.accounts)
        return state.next_id

    # -- account life cycle --------------------------------------------------------------------

    def list_accounts(self, params: Params) -> Payload:
        """list.json: every account, sorted by id. The same payload object is answered again
        while the state and the open transports are the same (so it is encoded once)."""
        state = self.store.state
        accounts = state.accounts
        opened = tuple(self._transport_open(i) for i in accounts)
        cached = self._listed
        if cached is not None and cached[0] is state and cached[1] == opened:
            return cached[2]
        id_as_string = self.readings.follows(Point.ID_TYPE, "decimal_string")
        created_on_add = self._created_on_add
        entries = [
            list_entry(
                accounts[i],
                self._transport_open(i),
                created_on_add=created_on_add,
                id_as_string=id_as_string,
            )
            for i in sorted(accounts)
        ]
        payload: Payload = {"data": entries}
        self._listed = (state, opened, payload)
        return payload

    def add(self, params: Params) -> Payload:
        """add.json: a new account with a never-reused id; the answer carries no id."""
        state = self.store.snapshot()
        name = v.parse_name(params.get("name") or "", ErrorCode.MISSING_PARAMETER)
        raw_type = params.get("type")
        if not raw_type:
            raise ApiError(ErrorCode.MISSING_PARAMETER, "type")
        account_type = self._type_parser(Point.SSIP_TYPE)(raw_type)
        self._check_unique(state, name, None)
        if len(state.accounts) >= self.max_accounts:
            raise ApiError(ErrorCode.LIMIT_REACHED)
        new_id = self._new_id(state)
        account = state.accounts[new_id] = Account(id=new_id, name=name, type=account_type)
        state.next_id = max(state.next_id, new_id + 1)
        self.store.commit(state, undo=lambda: self._forget(new_id))
        if self.sip is not None:
            self.sip.configure(account, None)
        return {}

    def modify(self, params: Params) -> Payload:
        """modify.json: change only the given fields; any bad field refuses the whole request."""
        state = self.store.snapshot()
        previous = self._lookup(state, params)
        account = self.store.editable(state, previous.id)

        def check_name(raw: str) -> str:
            name = v.parse_name(raw, ErrorCode.BAD_VALUE)
            self._check_unique(state, name, account.id)
            return name

        fields: dict[str, tuple[str, Check]] = {
            "name": ("name", check_name),
            "type": ("type", self._type_parser(Point.SSIP_TYPE_ON_MODIFY)),
            **ACCOUNT_FIELDS,
        }
        changes, error = collect_changes(params, fields)
        if error is not None and not self.faults.on(Fault.PARTIAL_MODIFY):
            raise error
        if self.faults.on(Fault.MODIFY_IGNORES_REALM):
            changes.pop("realm", None)
        new_address = changes.get("local_address", account.local_address)
        assert isinstance(new_address, str)
        transport = self._transport_for(account, new_address)
        _apply(account, changes)
        self.store.commit(state, undo=self._restore(previous))
        if self.sip is not None:
            self.sip.configure(account, transport)
        if error is not None:  # only reached under partial_modify
            raise error
        return {}

    def remove(self, params: Params) -> Payload:
        """remove.json: the account and its call settings go; the id is never given again."""
        state = self.store.snapshot()
        account = self._lookup(state, params)
        if self.faults.on(Fault.REMOVE_KEEPS_LISTED):
            return {}
        del state.accounts[account.id]
        self.store.commit(state, undo=self._restore(account))
        self._forget(account.id)
        return {}

    def _forget(self, account_id: int) -> None:
        """Drop an account's user agent (unregister and hang up in the background) and what
        the API keeps of it."""
        if self.sip is not None:
            self.sip.remove(account_id)
        self._runtime.pop(account_id, None)
        self._stale_auto_answer.pop(account_id, None)
        self._own_call_options.pop(account_id, None)
        self._statuses.pop(account_id, None)

    def _restore(
        self, previous: Account, *, call_settings_changed: bool = False
    ) -> Callable[[], None]:
        """The undo of a write of `previous`'s account that did not reach the disk: its user
        agent configured as `previous` again, on the transport it had (reopened if closed)."""
        sip = self.sip
        if sip is None:
            return lambda: None
        had = sip.current_transport(previous.id)

        def undo() -> None:
            transport = had if had in sip.transports.values() else None
            if transport is None and previous.local_address:
                try:
                    transport = sip.transport_for(previous.local_address)
                except OSError:
                    log.warning(
                        "account %d: %s cannot be reopened", previous.id, previous.local_address
                    )
            sip.configure(previous, transport, call_settings_changed=call_settings_changed)

        return undo

    # -- reads ---------------------------------------------------------------------------------

    def status(self, params: Params) -> Payload:
        """status.json: account/register/call status and bitrate."""
        found = self._find(self.store.state, params)
        if found is None and self.faults.on(Fault.STATUS_UNKNOWN_OK):
            return {"data": status_view(AccountStatus.IDLE, AccountRuntime())}
        account = self._known(found)
        status = account_status(
            account, self._transport_open(account.id), created_on_add=self._created_on_add
        )
        runtime = self._runtime_of(account.id)
        # Everything the view below is made of (the readings are fixed per process): while it
        # is unchanged the same payload object is answered, and the HTTP layer does not encode
        # it again.
        key = (
            account,
            status,
            runtime.register.state,
            runtime.register_extra_info,
            runtime.call.state,
            runtime.bitrate_kbps,
        )
        last = self._statuses.get(account.id)
        if last is not None and last[0] == key:
            return last[1]
        view = status_view(status, runtime)
        register = view[1]
        if (
            not account.register_server
            and self._reading_register_off
            and register["state"] == RegisterStatus.IDLE
        ):
            register["state"] = RegisterStatus.OFF.value
        payload: Payload = {"data": view}
        self._statuses[account.id] = (key, payload)
        return payload

    def account(self, params: Params) -> Payload:
        """account.json: the account's configuration and its view of the call settings."""
        account = self._lookup(self.store.state, params)
        view = account_view(account)
        own = self._own_call_options.get(account.id)
        if own is not None:  # call_settings_views=independent
            options = account_view(replace(account, call=own))
            for key in ("call_in_options", "call_out_options"):
                view[key] = options[key]
        if account.id in self._stale_auto_answer:  # fault call_views_disagree
            view["call_in_options"]["auto_answer"] = self._stale_auto_answer[account.id]
        if self.faults.on(Fault.REGISTER_PORT_STRING) or self.readings.follows(
            Point.REGISTER_PORT_TYPE, "decimal_string"
        ):
            view["registerPort"] = str(account.register_port)
        return {"data": view}

    def call_cfg(self, params: Params) -> Payload:
        """call_cfg.json: the call settings in the page's numeric encoding."""
        account = self._lookup(self.store.state, params)
        view = call_cfg_view(account.call)
        call = account.call
        if self.readings.follows(Point.CALL_CFG_BUFFER_KEY, "buffer_option"):
            view = {("buffer_option" if k == "buffer" else k): v for k, v in view.items()}
        if self.readings.follows(Point.AUTO_AWS_ENCODING, "boolean"):
            view["auto_aws"] = call.auto_answer
        if self.readings.follows(Point.AUTO_CALL_ENCODING, "one_two"):
            view["auto_call"] = 1 if call.auto_call else 2
        if self.readings.follows(Point.SOURCE_ENABLE_ENCODING, "boolean"):
            view["source_enable"] = call.create_stream
        return {"data": view}

    def modify_call_cfg(self, params: Params) -> Payload:
        """modify_call_cfg.json: change the given call settings; `type` is accepted and ignored
        (applied to the account under mcfg_type_param=applied)."""
        state = self.store.snapshot()
        previous = self._lookup(state, params)
        account = self.store.editable(state, previous.id)
        fields = CALL_FIELDS
        if self.faults.on(Fault.BUFFER_UPPER_BOUND_OFF_BY_ONE):
            # The fault: the buffer's last number is checked against max + 1.
            off_by_one = partial(v.parse_buffer, last_max=v.BUFFER_NUMBER_MAX + 1)
            fields = {**CALL_FIELDS, "buffer": ("buffer", off_by_one)}
        changes, error = collect_changes(params, fields)
        if error is not None:
            raise error
        raw_type = params.get("type")
        if raw_type and self.readings.follows(Point.MCFG_TYPE_PARAM, "applied"):
            account.type = self._type_parser(Point.SSIP_TYPE_ON_MODIFY)(raw_type)
        if self.faults.on(Fault.CALL_VIEWS_DISAGREE) and "auto_answer" in changes:
            self._stale_auto_answer.setdefault(account.id, account.call.auto_answer)
        if self.readings.follows(Point.CALL_SETTINGS_VIEWS, "independent"):
            # account.json's options keep what they showed before the first call_cfg write
            self._own_call_options.setdefault(account.id, replace(account.call))
        _apply(account.call, changes)
        self.store.commit(state, undo=self._restore(previous, call_settings_changed=True))
        if self.sip is not None:
            transport = self.sip.current_transport(account.id)
            self.sip.configure(account, transport, call_settings_changed=True)
        return {}

    # -- binds, sources, calls -----------------------------------------------------------------

    def _binds(self) -> list[str]:
        """The effective binds (bound ports) with a SIP layer, else the stored ones; a bind
        stored as HOST.PORT (page_example_binds=accepted_as_written) is shown so."""
        if self.sip is None:
            return list(self.store.state.binds)
        dotted = {v.bind_address(b) for b in self.store.state.binds if v.bind_address(b) != b}
        return [
            v.as_written(shown) if requested in dotted else shown
            for (requested, _), shown in zip(
                self.sip.binds, self.sip.effective_binds(), strict=True
            )
        ]

    def server_port(self, params: Params) -> Payload:
        """server_port.json: each bind as {name, value}; id/type are ignored. Under
        server_port_entries=accounts one entry per account (name its id, value the first
        bind); under server_port_params=filter an `id` keeps only that account's entry (1202
        when no account has it)."""
        binds = self._binds()
        state = self.store.state
        if self.readings.follows(Point.SERVER_PORT_ENTRIES, "accounts"):
            first = binds[0] if binds else ""
            entries = [{"name": str(i), "value": first} for i in sorted(state.accounts)]
        else:
            entries = [{"name": b, "value": b} for b in binds]
        if self.readings.follows(Point.SERVER_PORT_PARAMS, "filter") and params.get("id"):
            account = self._known(self._find(state, params))
            entries = [e for e in entries if e["name"] == str(account.id)] or entries[:1]
        return {"data": entries}

    def get_source(self, params: Params) -> Payload:
        """get_source.json: not implemented on the page either."""
        raise ApiError(ErrorCode.NOT_IMPLEMENTED)

    def get_binds(self, params: Params) -> Payload:
        """get_binds.json: the binds, comma-separated."""
        binds = self._binds()
        if self.faults.on(Fault.BINDS_SHOW_REQUESTED_PORT):
            # The fault: the binds as configured, so a port-0 bind shows 0, not the port bound.
            binds = list(self.store.state.binds)
        return {"data": {"binds": ",".join(binds)}}

    def set_binds(self, params: Params) -> Payload:
        """set_binds.json: open the new binds first (1207 and nothing changed if one fails),
        store the requested list, close the binds no longer listed. HOST.PORT is refused, or
        read as HOST:PORT and stored as written or as HOST:PORT (page_example_binds)."""
        as_written = self.readings.follows(Point.PAGE_EXAMPLE_BINDS, "accepted_as_written")
        normalised = self.readings.follows(Point.PAGE_EXAMPLE_BINDS, "accepted_normalised")
        binds = v.parse_binds(
            params.get("binds"),
            dotted=as_written or normalised,
            # The fault: multicast and broadcast hosts are taken (and opened) like unicast ones.
            listening_only=not self.faults.on(Fault.BINDS_ACCEPT_MULTICAST),
        )
        if normalised:
            binds = [v.bind_address(b) for b in binds]
        if self.sip is not None:
            try:
                self.sip.set_binds([v.bind_address(b) for b in binds])
            except OSError as exc:
                raise ApiError(ErrorCode.BIND_FAILED, str(exc)) from exc
        state = self.store.snapshot()
        before = [v.bind_address(b) for b in state.binds]
        state.binds = binds
        self.store.commit(state, undo=lambda: self._rebind(before))
        return {}

    def _rebind(self, binds: list[str]) -> None:
        """The undo of a set_binds.json that did not reach the disk: the binds before it."""
        if self.sip is not None:
            try:
                self.sip.set_binds(binds)
            except OSError as exc:
                log.warning("the binds before a failed write cannot be reopened: %s", exc)

    def answer(self, params: Params) -> Payload:
        """answer.json: 200 to the ringing incoming call; 1211 when none rings. `dir` may be
        absent or sip_out (required under answer_dir=required_sip_out); any other value is
        refused with 1203: the page lists only sip_out, and a guess could answer a call."""
        account = self._lookup(self.store.state, params)
        direction = params.get("dir")
        if not direction and self.readings.follows(Point.ANSWER_DIR, "required_sip_out"):
            raise ApiError(ErrorCode.MISSING_PARAMETER, "dir")
        if direction and direction != "sip_out" and not self.faults.on(Fault.ANSWER_IGNORES_DIR):
            raise ApiError(ErrorCode.BAD_VALUE, "dir")
        if self.sip is None or not self.sip.answer(account.id):
            # answer_outgoing_call=ok_unchanged: dir=sip_out on our own established call is ok
            agent = None if self.sip is None else self.sip.agents.get(account.id)
            outgoing_ok = self.readings.follows(Point.ANSWER_OUTGOING_CALL, "ok_unchanged")
            if direction == "sip_out" and outgoing_ok and agent and agent.outgoing_call_up():
                return {}
            raise ApiError(ErrorCode.NO_CALL)
        return {}

    def hangup(self, params: Params) -> Payload:
        """hangup.json: BYE (confirmed), 603 (ringing) or CANCEL (dialling); 1211 if no call."""
        account = self._lookup(self.store.state, params)
        if self.sip is None or not self.sip.hangup(account.id):
            raise ApiError(ErrorCode.NO_CALL)
        return {}

    # -- login and the reference extension ----------------------------------------------------

    def login(self, params: Params) -> Payload:
        """users/login.json: a token for the configured user (any caller when none is set)."""
        token = self.auth.login(params.get("username"), params.get("password"))
        return {"data": {"token": token}}

    def info(self, params: Params) -> Payload:
        """reference/info.json: which implementation this is, which faults and readings are on."""
        return {
            "data": {
                "faults": self.faults.enabled,
                "readings": self.readings.enabled,
                "implementation": IMPLEMENTATION,
                "version": __version__,
            }
        }

    def media(self, params: Params) -> Payload:
        """reference/media.json: the account's current (or last ended) call's media statistics."""
        account = self._lookup(self.store.state, params)
        view = empty_view() if self.sip is None else self.sip.media_view(account.id)
        return {"data": view}

    def stats(self, params: Params) -> Payload:
        """reference/stats.json: the write requests, commits and SIP requests received so far
        (write_counter.py); a diagnostic of the reference decoder, not a vendor endpoint."""
        return {"data": self.writes.view()}
