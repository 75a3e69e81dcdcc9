"""The process-wide SIP layer: transports by address, binds, agents, request routing.

Binds: each `set_binds` entry HOST:PORT opens UDP and TCP on HOST:PORT (`*` and `0.0.0.0` mean
`--sip-any-host`, 127.0.0.1 by default, so the reference decoder never listens beyond loopback
unless told to). The effective bind shows the bound port (`*:0` -> `*:41234`). New binds are
opened before anything is closed; a bind that cannot be opened refuses the whole change (1207)
after closing what was just opened. A bind whose address is already open (in the bind list or
for an account's localAddress) reuses that transport, so writing back what get_binds showed
changes nothing. A transport nobody uses (binds, accounts, pending unregisters) is closed.

Routing of an out-of-dialog request on a transport: the account whose localAccount is the
Request-URI user; else the only account on that transport; else 404 (488 to an offer no account
could take, calls.unknown_user_refusal, so a scanner cannot tell extensions apart). OPTIONS is
answered on any transport; methods other than INVITE, ACK, BYE, CANCEL, OPTIONS get 405 with Allow.

Refusals before routing (RFC 3261 §8.2): a request missing Call-ID, CSeq, From or To, with one
of them repeated, or whose CSeq method is not the request's method gets 400 and goes no further
(no dialog); a `Require:` option the device lacks (it supports none) gets 420 with `Unsupported:`
(§8.2.2.3; never for ACK or CANCEL); a body of a type other than application/sdp, or with a
Content-Encoding other than identity, gets 415 with Accept and Accept-Encoding (§8.2.3). An ACK
that would be refused is dropped (an ACK gets no answer). Also 400 for a Call-ID breaking the
§25.1 grammar, for a non-empty body without Content-Type (§20.15) and for a UDP request whose
body is shorter than its Content-Length (§18.3; the transport delivers it only to be refused),
416 for a Request-URI
scheme other than sip/sips (§8.2.2.1), and 500 for a request in one of our dialogs whose CSeq
is below the dialog's remote CSeq (§12.2.2), an OPTIONS included. MESSAGE bodies are judged by
the GB responder (MANSCDP), and methods the device does not know still get 405 first (§8.2.1).

MESSAGE (GB28181, §9.5): a MESSAGE whose Request-URI user is the localAccount (device ID) of a
created gb28181 account (the one on the receiving transport first) is answered by that account's
reference_device.gb.queries.Responder: 200 at once, then the Response(s) in the background. Any
other MESSAGE gets 405 as before, so SIP accounts see no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final

from reference_device.faults import Fault, Faults
from reference_device.gb.queries import responder_for
from reference_device.media.decoder import DecoderPool
from reference_device.media.session import MediaView, empty_view
from reference_device.model import Account, AccountType
from reference_device.sip.agent import ALLOW, Agent, SipSettings
from reference_device.sip.calls import unknown_user_refusal
from reference_device.sip.transaction import ServerTransaction, TransactionLayer
from reference_device.sip.transport import Flow, Transport, reply_flow
from reference_device.status import AccountRuntime
from reference_device.validation import split_host_port
from wire import sip

log = logging.getLogger(__name__)

ANY_HOSTS: Final = frozenset({"*", "0.0.0.0"})
SHUTDOWN_GRACE: Final = 2.0
KNOWN_METHODS: Final = frozenset(
    {sip.METHOD_INVITE, sip.METHOD_ACK, sip.METHOD_BYE, sip.METHOD_CANCEL, sip.METHOD_OPTIONS}
)
#: RFC 3261 §8.1.1 / §20: every request carries exactly one of each (Via is checked by the
#: transaction layer: without it there is nowhere to answer).
SINGLE_MANDATORY: Final = ("Call-ID", "CSeq", "From", "To")
#: Option tags this device supports (Supported/Require): none.
SUPPORTED_OPTIONS: Final = frozenset[str]()
#: Body types the device understands outside MESSAGE (GB MESSAGE bodies are judged there).
ACCEPTED_TYPES: Final = frozenset({"application/sdp"})
ACCEPT: Final = "application/sdp"
ACCEPT_ENCODING: Final = "identity"


class SipStack:
    """Every transport, bind and account agent of the process."""

    def __init__(self, settings: SipSettings, faults: Faults) -> None:
        self.settings = settings
        self.faults = faults
        self.layer = TransactionLayer(settings.timers, self._on_request, self._on_stray_response)
        self.transports: dict[tuple[str, int], Transport] = {}
        self.binds: list[tuple[str, Transport]] = []
        self.agents: dict[int, Agent] = {}
        self.decoders = DecoderPool()
        self._leaving: set[Agent] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Told the method of every request received (the API's write counter listens).
        self.on_request: Callable[[str], None] | None = None

    # -- tasks -----------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background; errors are logged; cancelled at close()."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background SIP task failed", exc_info=task.exception())

    # -- transports and binds --------------------------------------------------------------------

    def host_ip(self, host: str) -> str:
        """The IP a bind/localAddress host means here (`*`/0.0.0.0 -> --sip-any-host)."""
        return self.settings.any_host if host in ANY_HOSTS else host

    def _open(self, host: str, port: int) -> tuple[Transport, bool]:
        """An open transport for host:port, reused when the address is open; (it, new?)."""
        ip = self.host_ip(host)
        if port != 0:
            existing = self.transports.get((ip, port))
            if existing is not None and not existing.closed:
                return existing, False
        transport = Transport.open(ip, port, self._on_message)
        self.transports[transport.address] = transport
        return transport, True

    def _close_transport(self, transport: Transport) -> None:
        transport.close()
        if self.transports.get(transport.address) is transport:
            del self.transports[transport.address]

    def start(self, binds: Iterable[str], accounts: Iterable[Account]) -> None:
        """Open the stored binds and every account's transport; failures are logged."""
        for entry in binds:
            parsed = split_host_port(entry)
            if parsed is None:
                log.error("stored bind %r is malformed; not opened", entry)
                continue
            try:
                opened, _ = self._open(*parsed)
            except OSError as exc:
                log.error("bind %s cannot be opened: %s", entry, exc)
                continue
            self.binds.append((entry, opened))
        for account in accounts:
            transport: Transport | None = None
            if account.local_address:
                try:
                    transport = self.transport_for(account.local_address)
                except OSError as exc:
                    log.error(
                        "account %d: localAddress %s cannot be opened: %s",
                        account.id,
                        account.local_address,
                        exc,
                    )
            self.configure(account, transport)

    def effective_binds(self) -> list[str]:
        """The binds as open: requested host, bound port."""
        return [f"{entry.rpartition(':')[0]}:{t.port}" for entry, t in self.binds]

    def set_binds(self, entries: list[str]) -> None:
        """Replace the bind list; OSError (nothing changed) when one cannot be opened."""
        opened: list[Transport] = []
        chosen: list[tuple[str, Transport]] = []
        unused = list(self.binds)
        try:
            for entry in entries:
                parsed = split_host_port(entry)
                assert parsed is not None  # validated by the API
                host, port = parsed
                same = None
                if port == 0:  # "host:0" written again keeps its ephemeral transport
                    same = next((t for e, t in unused if e == entry), None)
                if same is not None:
                    unused.remove((entry, same))
                    transport = same
                else:
                    transport, new = self._open(host, port)
                    if new:
                        opened.append(transport)
                chosen.append((entry, transport))
        except OSError:
            for transport in opened:
                self._close_transport(transport)
            raise
        self.binds = chosen
        self.collect()

    def transport_for(self, local_address: str) -> Transport:
        """The transport an account's localAddress selects (opened if needed); OSError."""
        parsed = split_host_port(local_address)
        if parsed is None:
            raise OSError(f"malformed localAddress {local_address!r}")
        return self._open(*parsed)[0]

    def collect(self) -> None:
        """Close every transport no bind, agent or pending unregister uses."""
        used = {t for _, t in self.binds}
        for agent in [*self.agents.values(), *self._leaving]:
            used |= agent.transports_in_use()
        for transport in list(self.transports.values()):
            if transport not in used:
                self._close_transport(transport)

    # -- accounts --------------------------------------------------------------------------------

    def configure(
        self, account: Account, transport: Transport | None, *, call_settings_changed: bool = False
    ) -> None:
        """Apply an account's (new) configuration and transport."""
        agent = self.agents.get(account.id)
        if agent is None:
            agent = Agent(account, self.layer, self.settings, self.faults, self)
            self.agents[account.id] = agent
        agent.configure(account, transport, call_settings_changed=call_settings_changed)
        self.collect()

    def current_transport(self, account_id: int) -> Transport | None:
        """The account's open transport, if any."""
        agent = self.agents.get(account_id)
        return None if agent is None else agent.transport

    def remove(self, account_id: int) -> None:
        """The account was removed: its agent ends calls and unregisters in the background."""
        agent = self.agents.pop(account_id, None)
        if agent is None:
            return
        self._leaving.add(agent)
        self.spawn(self._retire(agent))

    async def _retire(self, agent: Agent) -> None:
        try:
            await agent.retire()
        finally:
            self._leaving.discard(agent)
            self.collect()

    def runtime(self, account_id: int) -> AccountRuntime:
        """The live status of an account."""
        agent = self.agents.get(account_id)
        return AccountRuntime() if agent is None else agent.runtime

    def media_view(self, account_id: int) -> MediaView:
        """reference/media.json for an account (no agent: no call)."""
        agent = self.agents.get(account_id)
        return empty_view() if agent is None else agent.media_view()

    def created(self, account_id: int) -> bool:
        """Whether the account's transport is open and it has localAccount/localAddress."""
        agent = self.agents.get(account_id)
        return agent is not None and agent.created

    def answer(self, account_id: int) -> bool:
        """answer.json; False when there is no ringing call."""
        agent = self.agents.get(account_id)
        return agent is not None and agent.answer()

    def hangup(self, account_id: int) -> bool:
        """hangup.json; False when there is no call."""
        agent = self.agents.get(account_id)
        return agent is not None and agent.hangup()

    # -- routing ---------------------------------------------------------------------------------

    def _on_message(
        self, transport: Transport, message: sip.SipMessage, flow: Flow, via: sip.Via | None
    ) -> None:
        # `via`: a request's top Via, parsed once by the transport for the answer's flow and the
        # transaction (None when absent or malformed: the transaction layer looks again, and
        # drops the request, logged).
        if isinstance(message, sip.SipRequest) and not self.faults.on(Fault.REPLY_TO_SOURCE_PORT):
            flow = reply_flow(message, flow, via)
        self.layer.receive(message, flow, via)

    def _all_agents(self) -> list[Agent]:
        return [*self.agents.values(), *self._leaving]

    def _dialog_call(self, request: sip.SipRequest) -> tuple[Agent, Any] | None:
        for agent in self._all_agents():
            call = agent.find_call(request)
            if call is not None:
                return agent, call
        return None

    def _on_stray_response(self, response: sip.SipResponse, flow: Flow) -> None:
        with contextlib.suppress(ValueError):
            if response.is_success and response.cseq.method == sip.METHOD_INVITE:
                for agent in self._all_agents():
                    call = agent.call_by_call_id(response.call_id)
                    if call is not None:
                        call.on_stray_2xx(response)
                        return
        log.debug("stray response %d dropped", response.status_code)

    def _on_request(
        self, request: sip.SipRequest, flow: Flow, tx: ServerTransaction | None
    ) -> None:
        if self.on_request is not None:
            self.on_request(request.method)
        try:
            refusal = self._refusal(request)
            if refusal is not None:
                log.warning(
                    "%s from %s:%d refused with %d", request.method, *flow.addr, refusal.status_code
                )
                if tx is not None:  # an ACK is never answered: dropped
                    tx.respond(refusal)
                return
            self._route(request, flow, tx)
        except ValueError as exc:
            log.warning("%s from %s:%d refused: %s", request.method, *flow.addr, exc)
            if tx is not None:
                tx.respond(_plain(request, 400))

    def _refusal(self, request: sip.SipRequest) -> sip.SipResponse | None:
        """The 400, 420 or 415 RFC 3261 §8.2 asks for `request`, or None to route it."""
        method = request.method
        if _malformed(
            request,
            check_cseq=not self.faults.on(Fault.CSEQ_METHOD_MISMATCH_ACCEPTED),
            allow_missing=self.faults.on(Fault.MISSING_HEADER_ACCEPTED),
            allow_repeated=self.faults.on(Fault.DUPLICATE_HEADER_ACCEPTED),
        ):
            return _plain(request, 400)
        if method not in KNOWN_METHODS:
            return None  # 405 (or the GB MESSAGE responder) first: §8.2.1 before §8.2.2
        if request.uri.split(":", 1)[0].lower() not in ("sip", "sips"):
            return _plain(request, 416)  # §8.2.2.1: a Request-URI scheme the UAS does not serve
        if method not in (sip.METHOD_ACK, sip.METHOD_CANCEL) and not self.faults.on(
            Fault.REQUIRE_IGNORED
        ):
            unsupported = [
                tag
                for tag in request.headers.get_list("Require")
                if tag.strip().lower() not in SUPPORTED_OPTIONS
            ]
            if unsupported:
                if self.faults.on(Fault.UNSUPPORTED_LISTS_FIRST_ONLY):
                    unsupported = unsupported[:1]
                bad = _plain(request, 420)
                bad.headers.add("Unsupported", ", ".join(t.strip() for t in unsupported))
                return bad
        if (
            request.body
            and not request.headers.get_all("Content-Type")
            and not self.faults.on(Fault.UNTYPED_BODY_ACCEPTED)
        ):
            return _plain(request, 400)  # §20.15: a non-empty body MUST have a Content-Type
        if request.body and not self.faults.on(Fault.UNKNOWN_CONTENT_TYPE_ACCEPTED):
            media_type = (request.content_type or "").split(";", 1)[0].strip().lower()
            encodings = [
                e.strip().lower() for e in request.headers.get_list("Content-Encoding") if e.strip()
            ]
            if (media_type and media_type not in ACCEPTED_TYPES) or any(
                e != ACCEPT_ENCODING for e in encodings
            ):
                unsupported_media = _plain(request, 415)
                unsupported_media.headers.add("Accept", ACCEPT)
                unsupported_media.headers.add("Accept-Encoding", ACCEPT_ENCODING)
                return unsupported_media
        return self._out_of_order(request)

    def _out_of_order(self, request: sip.SipRequest) -> sip.SipResponse | None:
        """500 for a request in one of our dialogs whose CSeq is below the dialog's remote one
        (RFC 3261 §12.2.2), whatever its method: an OPTIONS too, which is otherwise answered
        without looking at the dialog."""
        if request.method in (sip.METHOD_ACK, sip.METHOD_CANCEL) or request.to_addr.tag is None:
            return None
        found = self._dialog_call(request)
        if found is None:
            return None
        call = found[1]
        dialog = call.dialog
        if (
            dialog is None
            or dialog.remote_cseq is None
            or request.cseq.number >= dialog.remote_cseq
        ):
            return None
        response: sip.SipResponse = call.response(request, 500)
        return response

    def _route(self, request: sip.SipRequest, flow: Flow, tx: ServerTransaction | None) -> None:
        method = request.method
        if tx is None:  # an ACK matching no transaction: the ACK of a 2xx
            found = self._dialog_call(request)
            if found is not None:
                found[0].in_dialog(found[1], request, None)
            return
        if method == sip.METHOD_MESSAGE:
            gb_agent = self._gb_agent(flow.transport, request)
            if gb_agent is not None:
                responder = responder_for(
                    gb_agent.account,
                    flow,
                    layer=self.layer,
                    settings=self.settings.gb,
                    faults=self.faults,
                    readings=gb_agent.readings,
                    expiration=self.settings.register.expires,
                )
                follow_up = responder.on_message(request, tx)
                if follow_up is not None:
                    self.spawn(follow_up)
                return
        if method not in KNOWN_METHODS:
            tx.respond(_plain(request, 405))
            return
        if method == sip.METHOD_OPTIONS:
            ok = _plain(request, 200)
            ok.headers.add("Accept", "application/sdp")
            tx.respond(ok)
            return
        if method == sip.METHOD_CANCEL:
            self._cancel(request, tx)
            return
        if request.to_addr.tag is not None:
            found = self._dialog_call(request)
            if found is None:
                tx.respond(_plain(request, 481))
            elif method == sip.METHOD_BYE and self._bye_leaks(*found):
                tx.respond(found[1].response(request, 200))  # the fault: the call is kept
            else:
                found[0].in_dialog(found[1], request, tx)
            return
        if method != sip.METHOD_INVITE:
            tx.respond(_plain(request, 481))
            return
        agent = self._route_to_agent(flow.transport, request)
        if agent is None:  # 404, or 488 to an offer no account could take (SIP-SEC-ENUM-001)
            tx.respond(unknown_user_refusal(request, self.settings.readings, self.faults))
            return
        agent.on_invite(request, flow, tx)

    def _bye_leaks(self, agent: Agent, call: Any) -> bool:
        """The bye_leaks_older_call fault: a BYE is matched only to the newest live call."""
        if not self.faults.on(Fault.BYE_LEAKS_OLDER_CALL):
            return False
        live = [c for c in agent.calls if c.live]
        return bool(live) and call is not live[-1]

    def _cancel(self, request: sip.SipRequest, tx: ServerTransaction) -> None:
        invite_tx = self.layer.find_invite_server(request)
        if invite_tx is None:
            tx.respond(_plain(request, 481))
            return
        tx.respond(_plain(request, 200))
        for agent in self._all_agents():
            call = agent.call_by_invite(invite_tx)
            if call is not None:
                call.on_cancel()
                return

    def _route_to_agent(self, transport: Transport, request: sip.SipRequest) -> Agent | None:
        user = sip.SipUri.parse(request.uri).user
        on_transport = [a for a in self.agents.values() if a.transport is transport and a.created]
        named = [a for a in on_transport if a.account.local_account == user]
        if named:
            return named[0]
        return on_transport[0] if len(on_transport) == 1 else None

    def _gb_agent(self, transport: Transport, request: sip.SipRequest) -> Agent | None:
        """The created gb28181 account whose device ID is the Request-URI user (on `transport`
        first), if any."""
        user = sip.SipUri.parse(request.uri).user
        named = [
            a
            for a in self.agents.values()
            if a.created
            and a.account.type is AccountType.GB28181
            and a.account.local_account == user
        ]
        here = [a for a in named if a.transport is transport]
        found = here or named
        return found[0] if found else None

    # -- shutdown --------------------------------------------------------------------------------

    async def close(self) -> None:
        """Hang up, unregister (bounded by SHUTDOWN_GRACE), then close every socket."""
        agents = self._all_agents()
        if agents:
            done = asyncio.gather(*(a.shutdown() for a in agents), return_exceptions=True)
            try:
                await asyncio.wait_for(done, SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning(
                    "shutdown: unregister/hangup not finished within %.0f s", SHUTDOWN_GRACE
                )
        for agent in agents:
            for call in list(agent.calls):
                call.drop()  # closes its media sockets and stops its decoder thread
        await self.decoders.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.layer.close()
        for transport in list(self.transports.values()):
            self._close_transport(transport)
        self.binds = []


#: RFC 3261 §25.1: callid = word [ "@" word ]; word = 1*(alphanum / these).
_WORD_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}"
)


def _call_id_ok(value: str) -> bool:
    """Whether `value` is a Call-ID by the RFC 3261 grammar (no space, comma or semicolon)."""
    parts = value.split("@")
    return len(parts) <= 2 and all(part and set(part) <= _WORD_CHARS for part in parts)


def _malformed(
    request: sip.SipRequest,
    *,
    check_cseq: bool = True,
    allow_missing: bool = False,
    allow_repeated: bool = False,
) -> bool:
    """A mandatory header missing or repeated, a Call-ID breaking its grammar, a body shorter
    than its Content-Length, or (`check_cseq`) a CSeq naming another method.

    `allow_missing` / `allow_repeated` are the faults that let such requests through.
    """
    for name in SINGLE_MANDATORY:
        count = len(request.headers.get_all(name))
        if (count == 0 and not allow_missing) or (count > 1 and not allow_repeated):
            return True
    call_id = request.call_id
    if call_id is not None and not _call_id_ok(call_id):
        return True
    length = request.content_length
    if length is not None and len(request.body) < length:
        return True  # a datagram cut short (RFC 3261 §18.3), delivered only to be refused
    if check_cseq:
        try:
            return request.cseq.method != request.method
        except ValueError:
            return True
    return False


def _plain(request: sip.SipRequest, code: int) -> sip.SipResponse:
    tag = None if code < 200 else sip.new_tag()
    response = sip.make_response(request, code, to_tag=tag)
    if code == 405 or (code == 200 and request.method == sip.METHOD_OPTIONS):
        response.headers.add("Allow", ALLOW)
    return response
