"""The user agent of one account: its registration, its calls, its policies, its status.

`call_status` is the account-level view of the account's calls, recomputed after every call or
dialer change and moved through `CallMachine.transition` only when it differs:
`calling` (a call is answered/confirmed) > `in` (an incoming call rings) > `out` (our INVITE is
unanswered) > `close` (our BYE/CANCEL is in flight) > `reconnecting` (auto_call waits to re-dial)
> `error` (the last outgoing attempt failed) > `idle`. Under `--reading
call_status_meaning=direction_when_established` an established call shows `in` / `out` (its
direction) and a call being set up `calling`.

Auto-call: while `auto_call` is on, `sip_out_url` is set, the account is created (and registered
when it has a registrar) the dialer keeps one outgoing call up: a failed attempt sets `error` then
`reconnecting` and is retried after `retry_base * 2**n` (capped at 30 s); a call the peer ends is
re-dialled after `retry_base`, `reconnecting` from the peer's BYE on (the page leaves both open:
the readings auto_call_after_refusal / _timeout / _remote_bye, SIP-CALL-LIFE-001..003).
Decision: after `hangup.json` ends an auto-call, the dialer does NOT re-dial until the call
settings change (any modify_call_cfg.json) - hanging up means "stop calling", otherwise the
operator could never end an auto-call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from reference_device.faults import Fault, Faults
from reference_device.gb.settings import GbSettings
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import MediaSession, MediaView, empty_view
from reference_device.model import Account, AccountType
from reference_device.readings import Point, Readings
from reference_device.sip import names
from reference_device.sip.calls import (
    UNACKED_SLOT_HOLD_T1,
    Call,
    CallState,
    InviteCredentials,
)
from reference_device.sip.dialog import LocalContact
from reference_device.sip.registration import (
    RegisterSettings,
    RegistrarConfig,
    Registration,
    backoff,
    registrar_config,
)
from reference_device.sip.transaction import ServerTransaction, Timers, TransactionLayer
from reference_device.sip.transport import Flow, Transport
from reference_device.status import AccountRuntime, CallStatus, RegisterStatus
from wire import sip

log = logging.getLogger(__name__)

DEFAULT_SIP_PORT: Final = 5060
ALLOW: Final = "INVITE, ACK, BYE, CANCEL, OPTIONS"


@dataclass(frozen=True)
class SipSettings:
    """Process-wide SIP settings from the command line."""

    timers: Timers = field(default_factory=Timers)
    register: RegisterSettings = field(default_factory=RegisterSettings)
    gb: GbSettings = field(default_factory=GbSettings)  # the --gb-* flags (gb28181 accounts)
    any_host: str = "127.0.0.1"
    #: where the page is ambiguous, the reading the process follows (the API sets it)
    readings: Readings = field(default_factory=Readings)


class AgentHost(Protocol):
    """What an agent needs from the process-wide stack."""

    decoders: DecoderPool

    @property
    def settings(self) -> SipSettings: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def collect(self) -> None: ...


def parse_target(url: str) -> tuple[str, str, int | None]:
    """`[sip(s):]user@host[:port]` -> (user, host, port or None)."""
    text = url.split(":", 1)[1] if url.lower().startswith(("sip:", "sips:")) else url
    user, _, hostport = text.partition("@")
    host, _, port = hostport.partition(":")
    return user, host, int(port) if port else None


class Agent:
    """One account's SIP user agent."""

    def __init__(
        self,
        account: Account,
        layer: TransactionLayer,
        settings: SipSettings,
        faults: Faults,
        host: AgentHost,
    ) -> None:
        self.account_id = account.id
        self.account = account
        self.layer = layer
        self.settings = settings
        self.timers = settings.timers
        self.faults = faults
        self._host = host
        self.decoders = host.decoders
        self.runtime = AccountRuntime()
        self.runtime.bitrate = self.bitrate_kbps
        # The media of the most recent call that ended (media.json, until the next call starts).
        self._ended_media: tuple[float, MediaSession] | None = None
        self.runtime.register.label = f" [account {account.id}]"
        self.runtime.call.label = f" [account {account.id}]"
        self._transport: Transport | None = None
        self.registration: Registration | None = None
        self._retiring: set[Registration] = set()
        self._retire_tasks: set[asyncio.Task[None]] = set()
        self.calls: list[Call] = []
        self._dialer: asyncio.Task[None] | None = None
        self._dial_call: Call | None = None  # the dialer's current call
        self._dial_suppressed = False
        self._dial_failed = False
        self._dial_waiting = False
        self.removed = False

    # -- configuration ---------------------------------------------------------------------------

    @property
    def transport(self) -> Transport | None:
        """The open transport the account uses, if any."""
        if self._transport is not None and self._transport.closed:
            return None
        return self._transport

    @property
    def gb28181(self) -> bool:
        """Whether the account is of type gb28181 (its calls use GB28181 SDP and PS video)."""
        return self.account.type is AccountType.GB28181

    @property
    def readings(self) -> Readings:
        """The readings of the process (looked up each time: the API sets them after start)."""
        return self._host.settings.readings

    @property
    def created(self) -> bool:
        """localAccount and localAddress set and the transport open."""
        return bool(self.account.local_account and self.account.local_address and self.transport)

    @property
    def contact(self) -> LocalContact:
        """Our contact on the account's transport."""
        transport = self.transport
        host, port = (transport.host, transport.port) if transport else ("127.0.0.1", 0)
        return LocalContact(self.account.local_account, host, port)

    def transports_in_use(self) -> set[Transport]:
        """Transports this agent still needs (its own and those of pending unregisters)."""
        used = {r.transport for r in self._retiring}
        if self._transport is not None and not self.removed:
            used.add(self._transport)
        return used

    def configure(
        self, account: Account, transport: Transport | None, *, call_settings_changed: bool = False
    ) -> None:
        """Apply a new configuration (after add, modify or modify_call_cfg)."""
        self.account = replace(account, call=replace(account.call))
        self._transport = transport
        if call_settings_changed:
            self._dial_suppressed = False
        elif self.faults.on(Fault.MODIFY_FORGETS_CALLS):
            # The fault: a reconfiguration rebuilds the call table; the calls go on, unseen.
            self.calls = []
        self._sync_registration()
        self._update_dialer()
        self._project()

    def _desired_registrar(self) -> RegistrarConfig | None:
        account = self.account
        if self.removed or not self.created or not account.register_server:
            return None
        return registrar_config(account)

    def _sync_registration(self) -> None:
        desired = self._desired_registrar()
        current = self.registration
        if current is not None:
            if current.config == desired and current.transport is self.transport:
                return
            self.registration = None
            self._retiring.add(current)
            unregister = not (self.removed and self.faults.on(Fault.NO_UNREGISTER_ON_REMOVE))
            if not self.account.register_server and self.faults.on(
                Fault.CLEAR_SERVER_KEEPS_BINDING
            ):
                unregister = False  # the fault: a cleared registerServer is dropped silently
            task = asyncio.get_running_loop().create_task(
                self._retire(current, unregister=unregister)
            )
            self._retire_tasks.add(task)
            task.add_done_callback(self._retire_tasks.discard)
            return
        if self._retiring:
            return  # the new registration starts once the old one is unregistered
        transport = self.transport
        if desired is None or transport is None:
            closed = self.runtime.register.state is RegisterStatus.CLOSED
            if closed and self.faults.on(Fault.CLEARED_SERVER_SHOWS_REGISTERING):
                # The fault: the finished registration's retry path shows registering again.
                self.runtime.register.transition(RegisterStatus.REGISTERING)
                return
            # register_status_after_unregister=closed: an unregistered account stays closed.
            stays_closed = closed and (
                self.readings.follows(Point.REGISTER_STATUS_AFTER_UNREGISTER, "closed")
            )
            if self.runtime.register.state is not RegisterStatus.IDLE and not stays_closed:
                self.runtime.register.transition(RegisterStatus.IDLE)
            return
        registration = Registration(
            desired,
            transport,
            self.layer,
            self.runtime,
            self.settings.register,
            self.faults,
            self._registration_changed,
            lambda: self.readings,
            gb=self.settings.gb,
        )
        self.registration = registration
        registration.start()

    async def _retire(self, registration: Registration, *, unregister: bool) -> None:
        try:
            await registration.stop(unregister=unregister)
        finally:
            self._retiring.discard(registration)
            if not self.removed:
                self._sync_registration()
            self._host.collect()

    def _registration_changed(self) -> None:
        self._update_dialer()

    async def retire(self) -> None:
        """The account was removed: end calls, unregister (unless the fault), stop dialling."""
        self.removed = True
        self._stop_dialer()
        for call in list(self.calls):
            if call.live:
                call.hangup()
        self._sync_registration()
        if self._retire_tasks:
            await asyncio.gather(*self._retire_tasks, return_exceptions=True)

    async def shutdown(self) -> None:
        """Process exit: BYE/CANCEL live calls and unregister; the stack bounds the wait."""
        self.removed = True
        self._stop_dialer()
        for call in list(self.calls):
            if call.live:
                call.hangup()
        if self.registration is not None:
            registration, self.registration = self.registration, None
            unregister = not self.faults.on(Fault.NO_UNREGISTER_ON_REMOVE)
            await registration.stop(unregister=unregister)
        if self._retire_tasks:
            await asyncio.gather(*self._retire_tasks, return_exceptions=True)
        # BYE/CANCEL/603 went out above; their answers are not awaited on the way out.

    # -- calls -----------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a tracked background task."""
        self._host.spawn(coro)

    def call_changed(self, call: Call) -> None:
        """A call moved: drop ended calls, recompute call_status."""
        if (
            not call.live
            and call.media is not None
            and (self._ended_media is None or call.created >= self._ended_media[0])
        ):
            self._ended_media = (call.created, call.media.session)
        if not call.live and call in self.calls:
            self.calls.remove(call)
            if call.state is CallState.FAILED:
                self._dial_failed = True  # the last outgoing attempt failed
            elif call is self._dial_call and self._redials(call):
                # The callee ended the dialer's call: reconnecting from this step on (status.json
                # never shows idle between the call and its re-dial).
                self._dial_waiting = True
        self._project()

    def _project(self) -> None:
        live = [c for c in self.calls if c.live]
        states = {c.state for c in live}
        up = [c for c in live if c.state in (CallState.ANSWERED, CallState.CONFIRMED)]
        # call_status_meaning=direction_when_established: calling while a call is set up, in /
        # out for the established call's direction (the newest one's).
        by_direction = self.readings.follows(
            Point.CALL_STATUS_MEANING, "direction_when_established"
        )
        setting_up = states & {CallState.RINGING, CallState.INVITING, CallState.EARLY}
        if up and by_direction:
            newest = max(up, key=lambda c: c.created)
            status = CallStatus.IN if newest.incoming else CallStatus.OUT
        elif up or (setting_up and by_direction):
            status = CallStatus.CALLING
        elif CallState.RINGING in states:
            status = CallStatus.IN
        elif states & {CallState.INVITING, CallState.EARLY}:
            status = CallStatus.OUT
        elif states & {CallState.TERMINATING, CallState.CANCELLING} and self.faults.on(
            Fault.HANGUP_STATUS_STUCK_CALLING
        ):
            status = CallStatus.CALLING  # the fault: a call hung up shows in progress until 200
        elif states & {
            CallState.TERMINATING,
            CallState.CANCELLING,
        } and not self.readings.follows(Point.CALL_STATUS_CLOSING, "idle"):
            status = CallStatus.CLOSE
        elif self._dial_waiting:
            status = CallStatus.RECONNECTING
        elif self._dial_failed:
            status = CallStatus.ERROR
        else:
            status = CallStatus.IDLE
        if up and self.faults.on(Fault.CALL_STATUS_IDLE_FLICKER):
            # The fault: from 0.5 s to 1 s after a call is up, call_status shows idle.
            loop = asyncio.get_running_loop()
            first_up: dict[int, float] = vars(self).setdefault("_fault_up_at", {})
            key = id(min(up, key=lambda c: c.created))
            if key not in first_up:
                first_up[key] = loop.time()
                for delay in (0.5, 1.0):
                    loop.call_later(delay, self._project)
            if 0.5 <= loop.time() - first_up[key] < 1.0:
                status = CallStatus.IDLE
        machine = self.runtime.call
        if machine.state is CallStatus.IDLE and status is CallStatus.CALLING:
            # The move table (reference_device/status.py) has no idle -> calling: under
            # direction_when_established a call being set up is reached through the state the
            # default reading names it by, in the same step (status.json never shows the hop).
            machine.transition(CallStatus.IN if CallState.RINGING in states else CallStatus.OUT)
        if machine.state is not status:
            machine.transition(status)

    # -- media ---------------------------------------------------------------------------------

    def _established(self) -> Call | None:
        """The newest confirmed (else answered) call: the one whose bitrate status.json shows."""
        for state in (CallState.CONFIRMED, CallState.ANSWERED):
            found = [c for c in self.calls if c.state is state and c.media is not None]
            if found:
                return max(found, key=lambda c: c.created)
        return None

    def bitrate_kbps(self) -> int:
        """status.json `bitrate`: the established call's meter in kbit/s; 0 without one."""
        if not self.calls and not self.faults.on(Fault.BITRATE_STUCK_AFTER_BYE):
            return 0  # no call to meter: the common status.json read stays cheap
        call = self._established()
        if call is not None and call.media is not None:
            kbps = call.media.session.bitrate_kbps()
            if self.readings.follows(Point.CONCURRENT_CALL_BITRATE, "sum"):
                up = (CallState.CONFIRMED, CallState.ANSWERED)
                kbps = sum(
                    c.media.session.bitrate_kbps()
                    for c in self.calls
                    if c.state in up and c.media is not None
                )
        elif self.faults.on(Fault.BITRATE_STUCK_AFTER_BYE) and self._ended_media is not None:
            kbps = self._ended_media[1].final_kbps  # the fault: the last reading is kept
        else:
            kbps = 0.0
        if self.readings.follows(Point.BITRATE_DEFINITION, "payload_1024"):
            kbps *= 1000 / 1024  # a kbit of 1024 bits
        if self.faults.on(Fault.BITRATE_BYTES):
            kbps /= 8  # the fault: kbyte/s reported as if it were kbit/s
        return round(kbps)

    def media_view(self) -> MediaView:
        """media.json: the newest live call's media, else the last ended call's (frozen)."""
        live = [c for c in self.calls if c.live and c.media is not None]
        if live:
            call = max(live, key=lambda c: c.created)
            assert call.media is not None
            return call.media.session.view()
        if self._ended_media is not None:
            return self._ended_media[1].view()
        return empty_view()

    def find_call(self, message: sip.SipMessage) -> Call | None:
        """The call whose dialog `message` (a request from the peer) belongs to."""
        for call in self.calls:
            if call.dialog is not None and call.dialog.matches(message):
                return call
        return None

    def call_by_invite(self, tx: ServerTransaction) -> Call | None:
        """The incoming call created by server transaction `tx`."""
        return next((c for c in self.calls if c.invite_tx is tx), None)

    def call_by_call_id(self, call_id: str | None) -> Call | None:
        """Our outgoing call with this Call-ID."""
        return next((c for c in self.calls if not c.incoming and c.call_id == call_id), None)

    def on_invite(self, request: sip.SipRequest, flow: Flow, tx: ServerTransaction) -> None:
        """A new incoming INVITE: allow_in, allow_in_num and policy, then SDP, then ring/answer."""
        settings = self.account.call
        if not settings.allow_in:
            tx.respond(_response(request, 403))
            return
        active = [c for c in self.calls if c.counts]
        # allow_in_num_limit=single_per_policy (and the allow_in_num_capped_at_one fault): one
        # call at a time whatever allow_in_num says.
        single = self.readings.follows(Point.ALLOW_IN_NUM_LIMIT, "single_per_policy")
        capped = single or self.faults.on(Fault.ALLOW_IN_NUM_CAPPED_AT_ONE)
        limit = 1 if capped else settings.allow_in_num
        if len(active) >= limit and not self.faults.on(Fault.UNACKED_CALL_HOLDS_SLOT):
            # A call whose 2xx waited too long for its ACK yields its slot (give_up_slot); the
            # unacked_call_holds_slot fault keeps it for 64*T1.
            now, hold = time.monotonic(), UNACKED_SLOT_HOLD_T1 * self.timers.t1
            for stale in [c for c in active if c.unacked_for(now) > hold]:
                stale.give_up_slot()
            active = [c for c in active if c.counts]
        if len(active) >= limit:
            # policy_3_meaning=undocumented: policy 3 keeps the current call, as 1 does
            keeps = settings.policy == 3 and self.readings.follows(
                Point.POLICY_3_MEANING, "undocumented"
            )
            busy = keeps or (
                settings.policy == 1 and not self.faults.on(Fault.POLICY1_ACCEPTS_SECOND)
            )
            if busy:
                log.info("account %d: busy (policy %d): 486", self.account_id, settings.policy)
                tx.respond(_response(request, 486))
                return
            if settings.policy != 1:
                oldest = active[0]
                log.info(
                    "account %d: policy %d replaces %r", self.account_id, settings.policy, oldest
                )
                self._end(oldest)
        call = Call(self, incoming=True, flow=flow)
        refusal = call.accept_invite(request, tx)
        if refusal is not None:
            if call.media is not None:
                call.media.close()
            tx.respond(call.response(request, refusal))
            return
        tx.respond(_response(request, 100))
        self.calls.append(call)
        self._dial_failed = False
        self._project()
        if settings.auto_answer:
            call.answer()
        else:
            call.ring()

    @staticmethod
    def _end(call: Call) -> None:
        if call.state is CallState.RINGING:
            call.decline(487)
        elif call.state in (CallState.ANSWERED, CallState.CONFIRMED):
            call.bye()
        elif call.state in (CallState.INVITING, CallState.EARLY):
            call.cancel()

    def in_dialog(self, call: Call, request: sip.SipRequest, tx: ServerTransaction | None) -> None:
        """A request inside one of our dialogs."""
        if request.method == sip.METHOD_ACK:
            call.on_ack(request)
            return
        assert tx is not None
        dialog = call.dialog
        if dialog is not None and not dialog.accept_remote_cseq(request.cseq.number):
            tx.respond(call.response(request, 500))
            return
        if request.method == sip.METHOD_BYE:
            call.on_bye(request, tx)
        elif request.method == sip.METHOD_INVITE:
            call.on_reinvite(request, tx)
        else:
            tx.respond(call.response(request, 405))

    def answer(self) -> bool:
        """answer.json: answer the ringing incoming call; False when there is none."""
        ringing = next((c for c in self.calls if c.state is CallState.RINGING), None)
        if ringing is None:
            return False
        ringing.answer()
        return True

    def hangup(self) -> bool:
        """hangup.json: end the current call; False when there is none to end."""
        order = (
            CallState.CONFIRMED,
            CallState.ANSWERED,
            CallState.RINGING,
            CallState.EARLY,
            CallState.INVITING,
        )
        ringing_is_no_call = self.readings.follows(Point.HANGUP_RINGING, "no_call_1211")
        for state in order:
            if state is CallState.RINGING and ringing_is_no_call:
                continue  # hangup_ringing=no_call_1211: a ringing call is no connection yet
            call = next((c for c in self.calls if c.state is state), None)
            if call is not None:
                return call.hangup()
        return False

    # -- auto-call -------------------------------------------------------------------------------

    def _dial_ready(self) -> bool:
        settings = self.account.call
        if self.removed or not settings.auto_call or not settings.target or not self.created:
            return False
        if self._dial_suppressed:
            return False
        if self.account.register_server:
            # registered, or connected under register_status_granted=connected
            return self.runtime.register.state in (
                RegisterStatus.REGISTERED,
                RegisterStatus.CONNECTED,
            )
        return True

    def _update_dialer(self) -> None:
        settings = self.account.call
        if self._dialer is not None and (not settings.auto_call or not settings.target):
            self._stop_dialer()
            self._project()
        if self._dialer is None and self._dial_ready():
            self._dialer = asyncio.get_running_loop().create_task(self._dial_loop())
            self._dialer.add_done_callback(_log_failure)

    def _redials(self, call: Call) -> bool:
        """Whether the dialer dials again once its established `call` ended: not after
        hangup.json, nor (the dialer_stops_after_remote_bye fault) after the callee's BYE."""
        if call.local_hangup or self.faults.on(Fault.DIALER_STOPS_AFTER_REMOTE_BYE):
            return False
        if self.readings.follows(Point.AUTO_CALL_AFTER_REMOTE_BYE, "no_redial_idle"):
            return False
        return self._dial_ready()

    def outgoing_call_up(self) -> bool:
        """Whether one of our own (auto_call) calls is established."""
        return any(not c.incoming and c.state is CallState.CONFIRMED for c in self.calls)

    def _stop_dialer(self) -> None:
        if self._dialer is not None:
            self._dialer.cancel()
            self._dialer = None
        self._dial_waiting = False

    def _destination(self) -> tuple[str, tuple[str, int]]:
        user, host, port = parse_target(self.account.call.target)
        if port is None:
            port = (
                self.account.register_port
                if host == self.account.register_server
                else DEFAULT_SIP_PORT
            )
        uri_port = "" if port == DEFAULT_SIP_PORT else f":{port}"
        return f"sip:{user}@{host}{uri_port}", (host, port)

    async def _dial_loop(self) -> None:
        failures = 0
        me = asyncio.current_task()
        try:
            while self._dial_ready():
                transport = self.transport
                assert transport is not None
                uri, destination = self._destination()
                # A name is looked up only under --resolve-names (names.py); refused, it fails
                # the dial as an unresolvable target does.
                address = await names.address(*destination)
                call = Call(self, incoming=False, flow=transport.udp_flow(address))
                self._dial_waiting = False
                self._dial_failed = False
                self._dial_call = call
                self.calls.append(call)
                account = self.account
                credentials = InviteCredentials(account.username, account.password, account.realm)
                call.dial(uri, destination, credentials if account.username else None)
                self._project()
                if await call.established:
                    failures = 0
                    await call.ended
                else:
                    failures += 1
                if call.local_hangup:
                    log.info(
                        "account %d: auto-call hung up; no re-dial until the call settings change",
                        self.account_id,
                    )
                    self._dial_suppressed = True
                    return
                if call.established.result() and not self._redials(call):
                    log.info("account %d: callee ended the auto-call; no re-dial", self.account_id)
                    # auto_call_after_remote_bye=no_redial_idle: until the settings change
                    self._dial_suppressed = self.readings.follows(
                        Point.AUTO_CALL_AFTER_REMOTE_BYE, "no_redial_idle"
                    )
                    return
                if not call.established.result():
                    self._dial_failed = True
                    self._project()
                    # auto_call_after_refusal / _timeout = no_redial_error: a failed attempt
                    # stops the dialer until the call settings change.
                    point = (
                        Point.AUTO_CALL_AFTER_TIMEOUT
                        if call.timed_out
                        else Point.AUTO_CALL_AFTER_REFUSAL
                    )
                    if self.readings.follows(point, "no_redial_error"):
                        self._dial_suppressed = True
                        return
                if not self._dial_ready():
                    return
                self._dial_waiting = True
                self._project()
                await asyncio.sleep(backoff(self.settings.register, max(0, failures - 1)))
        except OSError as exc:
            log.warning(
                "account %d: cannot dial %s: %s", self.account_id, self.account.call.target, exc
            )
            self._dial_failed = True
        finally:
            if self._dialer is me:
                self._dialer = None
                self._dial_waiting = False
                with contextlib.suppress(Exception):
                    self._project()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("auto-call dialer failed", exc_info=task.exception())


def _response(request: sip.SipRequest, code: int) -> sip.SipResponse:
    """A response outside any call (with a To tag on finals)."""
    tag = None if code < 200 else sip.new_tag()
    response = sip.make_response(request, code, to_tag=tag)
    if code == 405:
        response.headers.add("Allow", ALLOW)
    return response
