"""RFC 3261 §17 transactions: client and server, INVITE and non-INVITE, with the real timers.

Timers (T1, T2, T4 configurable; every other timer derives from them):

* client INVITE: A (retransmit, T1 doubling), B (64*T1 timeout), D (wait for retransmitted finals,
  64*T1 on UDP, 0 on TCP);
* client non-INVITE: E (retransmit, T1 doubling capped at T2; T2 once a provisional arrived),
  F (64*T1 timeout), K (T4 on UDP, 0 on TCP);
* server INVITE: G (retransmit a 3xx-6xx, T1 doubling capped at T2), H (64*T1 wait for the ACK),
  I (T4 on UDP, 0 on TCP), and RFC 6026's L (64*T1 in Accepted, absorbing INVITE retransmissions
  after a 2xx, which the UAS core retransmits itself);
* server non-INVITE: J (64*T1 on UDP, 0 on TCP) absorbing request retransmissions.

Each transaction is an explicit state machine: one `_transition()` that refuses illegal moves and
logs every move. The `TransactionLayer` matches responses to client transactions (top Via branch
and CSeq method) and requests to server transactions (branch, sent-by, method with ACK matched to
INVITE); what matches nothing is handed to the transaction user (TU).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from reference_device.sip.transport import Flow, top_via
from wire import sip

log = logging.getLogger(__name__)

DEFAULT_T1: Final = 0.5
DEFAULT_T2: Final = 4.0
DEFAULT_T4: Final = 5.0


@dataclass(frozen=True)
class Timers:
    """T1, T2, T4 in seconds and the timers RFC 3261 derives from them."""

    t1: float = DEFAULT_T1
    t2: float = DEFAULT_T2
    t4: float = DEFAULT_T4

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H, J (UDP) and L."""
        return 64 * self.t1


class IllegalTransactionMoveError(RuntimeError):
    """A transaction was asked for a state move its table does not allow."""


class TxState(StrEnum):
    """Transaction states (RFC 3261 §17 figures 5-8, plus RFC 6026 Accepted)."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


S = TxState
_CLIENT_INVITE: Final[Mapping[TxState, frozenset[TxState]]] = {
    S.CALLING: frozenset({S.PROCEEDING, S.COMPLETED, S.TERMINATED}),
    S.PROCEEDING: frozenset({S.COMPLETED, S.TERMINATED}),
    S.COMPLETED: frozenset({S.TERMINATED}),
}
_CLIENT_NON_INVITE: Final[Mapping[TxState, frozenset[TxState]]] = {
    S.TRYING: frozenset({S.PROCEEDING, S.COMPLETED, S.TERMINATED}),
    S.PROCEEDING: frozenset({S.COMPLETED, S.TERMINATED}),
    S.COMPLETED: frozenset({S.TERMINATED}),
}
_SERVER_INVITE: Final[Mapping[TxState, frozenset[TxState]]] = {
    S.PROCEEDING: frozenset({S.ACCEPTED, S.COMPLETED, S.TERMINATED}),
    S.ACCEPTED: frozenset({S.TERMINATED}),
    S.COMPLETED: frozenset({S.CONFIRMED, S.TERMINATED}),
    S.CONFIRMED: frozenset({S.TERMINATED}),
}
_SERVER_NON_INVITE: Final[Mapping[TxState, frozenset[TxState]]] = {
    S.TRYING: frozenset({S.PROCEEDING, S.COMPLETED, S.TERMINATED}),
    S.PROCEEDING: frozenset({S.COMPLETED, S.TERMINATED}),
    S.COMPLETED: frozenset({S.TERMINATED}),
}


def top_branch(message: sip.SipMessage) -> str:
    """The top Via's branch ('' when absent)."""
    via = top_via(message)
    return (via.branch or "") if via is not None else ""


def sent_by(message: sip.SipMessage) -> str:
    """The top Via's sent-by, host:port."""
    via = top_via(message)
    return _sent_by(via) if via is not None else ""


def _sent_by(via: sip.Via) -> str:
    return f"{via.host}:{via.port or 5060}"


class _Transaction:
    """State, table, timers and the layer shared by all four kinds."""

    kind = "transaction"

    def __init__(
        self,
        layer: TransactionLayer,
        request: sip.SipRequest,
        flow: Flow,
        initial: TxState,
        table: Mapping[TxState, frozenset[TxState]],
        *,
        branch: str | None = None,
    ) -> None:
        self.layer = layer
        self.request = request
        self.flow = flow
        self.state = initial
        self._table = table
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.branch = top_branch(request) if branch is None else branch

    @property
    def timers(self) -> Timers:
        """The layer's timer values."""
        return self.layer.timers

    def _transition(self, to: TxState) -> None:
        if to not in self._table.get(self.state, frozenset()):
            raise IllegalTransactionMoveError(
                f"{self.kind} {self.request.method} {self.branch}: "
                f"cannot go from {self.state.value} to {to.value}"
            )
        log.debug(
            "%s %s %s: %s -> %s",
            self.kind,
            self.request.method,
            self.branch,
            self.state.value,
            to.value,
        )
        self.state = to
        if to is TxState.TERMINATED:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            self._terminated()

    def _terminated(self) -> None:
        """Remove from the layer (overridden)."""

    def _start_timer(self, name: str, delay: float, action: Callable[[], None]) -> None:
        self._stop_timer(name)
        self._timers[name] = asyncio.get_running_loop().call_later(delay, self._fire, name, action)

    def _fire(self, name: str, action: Callable[[], None]) -> None:
        self._timers.pop(name, None)
        try:
            action()
        except Exception:
            log.exception("%s timer %s failed", self.kind, name)

    def _stop_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def abort(self) -> None:
        """Terminate at once (shutdown)."""
        if self.state is not TxState.TERMINATED:
            self._transition(TxState.TERMINATED)


class ClientTransaction(_Transaction):
    """A client transaction; `final` resolves to the final response, or None on timeout.

    `on_provisional` is called for each 1xx. For INVITE, a 3xx-6xx is ACKed here (same branch);
    a 2xx terminates the transaction and the TU sends the ACK.
    """

    kind = "client"

    def __init__(
        self,
        layer: TransactionLayer,
        request: sip.SipRequest,
        flow: Flow,
        on_provisional: Callable[[sip.SipResponse], None] | None = None,
    ) -> None:
        self.is_invite = request.method == sip.METHOD_INVITE
        table = _CLIENT_INVITE if self.is_invite else _CLIENT_NON_INVITE
        super().__init__(layer, request, flow, S.CALLING if self.is_invite else S.TRYING, table)
        self.key = (self.branch, request.method)
        self.final: asyncio.Future[sip.SipResponse | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._on_provisional = on_provisional
        self._interval = self.timers.t1
        self._ack: sip.SipRequest | None = None

    def start(self) -> None:
        """Send the request and arm the timers."""
        self.flow.send(self.request)
        if not self.flow.reliable:
            self._start_timer("A" if self.is_invite else "E", self._interval, self._retransmit)
        self._start_timer("B" if self.is_invite else "F", self.timers.timeout, self._timeout)

    def _retransmit(self) -> None:
        if self.state not in (S.CALLING, S.TRYING, S.PROCEEDING):
            return
        if self.is_invite and self.state is S.PROCEEDING:
            return
        self.flow.send(self.request)
        if self.is_invite:
            self._interval *= 2
        elif self.state is S.PROCEEDING:
            self._interval = self.timers.t2
        else:
            self._interval = min(self._interval * 2, self.timers.t2)
        self._start_timer("A" if self.is_invite else "E", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in (S.CALLING, S.TRYING, S.PROCEEDING):
            log.info(
                "client %s %s: no final response (timer %s)",
                self.request.method,
                self.branch,
                "B" if self.is_invite else "F",
            )
            self._resolve(None)
            self._transition(S.TERMINATED)

    def _resolve(self, response: sip.SipResponse | None) -> None:
        if not self.final.done():
            self.final.set_result(response)

    def on_response(self, response: sip.SipResponse) -> None:
        """A response matched this transaction."""
        code = response.status_code
        if self.state is S.COMPLETED:
            if self.is_invite and code >= 300 and self._ack is not None:
                self.flow.send(self._ack)  # retransmitted final: ACK again
            return
        if response.is_provisional:
            if self.state in (S.CALLING, S.TRYING):
                self._transition(S.PROCEEDING)
                if self.is_invite:
                    self._stop_timer("A")
            if self._on_provisional is not None:
                self._on_provisional(response)
            return
        if self.is_invite and response.is_success:
            self._resolve(response)
            self._transition(S.TERMINATED)
            return
        if self.is_invite:
            self._ack = self._make_ack(response)
            self.flow.send(self._ack)
        self._resolve(response)
        self._transition(S.COMPLETED)
        self._stop_timer("A" if self.is_invite else "E")
        self._stop_timer("B" if self.is_invite else "F")
        if self.flow.reliable:
            self._transition(S.TERMINATED)
        else:
            wait = self.timers.timeout if self.is_invite else self.timers.t4
            self._start_timer("D" if self.is_invite else "K", wait, self.abort)

    def _make_ack(self, response: sip.SipResponse) -> sip.SipRequest:
        """The ACK for a 3xx-6xx (RFC 3261 §17.1.1.3): same branch, To from the response."""
        return sip.make_ack_for_non_2xx(self.request, response)

    def _terminated(self) -> None:
        self._resolve(None)
        self.layer.clients.pop(self.key, None)


class ServerTransaction(_Transaction):
    """A server transaction; the TU answers with `respond()`."""

    kind = "server"

    def __init__(
        self,
        layer: TransactionLayer,
        request: sip.SipRequest,
        flow: Flow,
        key: ServerKey | None = None,
    ) -> None:
        """`key`: the request's server_key() when the caller has computed it already."""
        self.is_invite = request.method == sip.METHOD_INVITE
        table = _SERVER_INVITE if self.is_invite else _SERVER_NON_INVITE
        initial = S.PROCEEDING if self.is_invite else S.TRYING
        branch = None if key is None else key[0]
        super().__init__(layer, request, flow, initial, table, branch=branch)
        self.key = server_key(request) if key is None else key
        #: The final response's status code, once one was sent.
        self.final_code: int | None = None
        # The last response sent, as sent: what a retransmitted request or Timer G resends.
        # Kept as bytes, not as the message: a transaction lives on for 64*T1 after its final
        # response, and at load thousands of them would be millions of objects to the GC.
        self._last_sent = b""
        self._interval = self.timers.t1

    @property
    def final_sent(self) -> bool:
        """Whether a final response was sent."""
        return self.final_code is not None

    @property
    def final_is_2xx(self) -> bool:
        """Whether the final response sent was a 2xx."""
        return self.final_code is not None and 200 <= self.final_code < 300

    def respond(self, response: sip.SipResponse) -> None:
        """Send `response` and move as RFC 3261 §17.2 says; ignored once a final was sent."""
        if self.final_sent or self.state is S.TERMINATED:
            log.debug(
                "server %s %s: late %d not sent",
                self.request.method,
                self.branch,
                response.status_code,
            )
            return
        self._last_sent = response.to_bytes()
        self.flow.send_bytes(self._last_sent)
        code = response.status_code
        if code < 200:
            if self.state is S.TRYING:
                self._transition(S.PROCEEDING)
            return
        self.final_code = code
        if not self.is_invite:
            # From here on only the method and Request-URI are read (logs); the parsed request
            # goes, for the reason _last_sent is bytes. (An INVITE's stays: its call reads it.)
            self.request = sip.SipRequest(self.request.method, self.request.uri)
        if self.is_invite and code < 300:
            self._transition(S.ACCEPTED)
            self._start_timer("L", self.timers.timeout, self.abort)
            return
        self._transition(S.COMPLETED)
        if self.is_invite:
            if not self.flow.reliable:
                self._start_timer("G", self._interval, self._retransmit)
            self._start_timer("H", self.timers.timeout, self._no_ack)
        elif self.flow.reliable:
            self._transition(S.TERMINATED)
        else:
            self._start_timer("J", self.timers.timeout, self.abort)

    def _retransmit(self) -> None:
        if self.state is not S.COMPLETED or not self._last_sent:
            return
        self.flow.send_bytes(self._last_sent)
        self._interval = min(self._interval * 2, self.timers.t2)
        self._start_timer("G", self._interval, self._retransmit)

    def _no_ack(self) -> None:
        if self.state is S.COMPLETED:
            log.info("server INVITE %s: no ACK for the final response (timer H)", self.branch)
            self._transition(S.TERMINATED)

    def on_retransmission(self) -> None:
        """The request arrived again: resend the last response (absorbed in Accepted)."""
        if self.state is S.ACCEPTED:
            return
        if self._last_sent:
            self.flow.send_bytes(self._last_sent)

    def on_ack(self) -> None:
        """The ACK for a 3xx-6xx arrived."""
        if self.state is not S.COMPLETED:
            return
        self._transition(S.CONFIRMED)
        self._stop_timer("G")
        self._stop_timer("H")
        if self.flow.reliable:
            self._transition(S.TERMINATED)
        else:
            self._start_timer("I", self.timers.t4, self.abort)

    def _terminated(self) -> None:
        self.layer.servers.pop(self.key, None)


ServerKey = tuple[str, str, str]


def server_key(request: sip.SipRequest, via: sip.Via | None = None) -> ServerKey:
    """(branch, sent-by, method) with ACK matched to INVITE (RFC 3261 §17.2.3).

    `via`: the request's top Via when the caller has parsed it already."""
    method = sip.METHOD_INVITE if request.method == sip.METHOD_ACK else request.method
    if via is None:
        via = top_via(request)
        if via is None:
            return "", "", method
    return via.branch or "", _sent_by(via), method


RequestHandler = Callable[[sip.SipRequest, Flow, ServerTransaction | None], None]
ResponseHandler = Callable[[sip.SipResponse, Flow], None]


class TransactionLayer:
    """Owns every live transaction; routes what arrives.

    `on_request(request, flow, transaction)` gets each new request with its new server
    transaction (None for an ACK that matched none: the ACK of a 2xx, for the dialog layer).
    `on_stray_response` gets responses that match no client transaction (2xx retransmissions).
    """

    def __init__(
        self, timers: Timers, on_request: RequestHandler, on_stray_response: ResponseHandler
    ) -> None:
        self.timers = timers
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self.servers: dict[ServerKey, ServerTransaction] = {}
        self._on_request = on_request
        self._on_stray_response = on_stray_response

    def send_request(
        self,
        request: sip.SipRequest,
        flow: Flow,
        on_provisional: Callable[[sip.SipResponse], None] | None = None,
    ) -> ClientTransaction:
        """Start a client transaction for `request` (ACK is not a transaction: use flow.send)."""
        tx = ClientTransaction(self, request, flow, on_provisional)
        self.clients[tx.key] = tx
        tx.start()
        return tx

    def find_invite_server(self, cancel: sip.SipRequest) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL targets (same branch and sent-by)."""
        return self.servers.get((top_branch(cancel), sent_by(cancel), sip.METHOD_INVITE))

    def receive(self, message: sip.SipMessage, flow: Flow, via: sip.Via | None = None) -> None:
        """Route one received message (`via`: a request's top Via, when already parsed)."""
        try:
            if isinstance(message, sip.SipResponse):
                key = (top_branch(message), message.cseq.method)
                tx = self.clients.get(key)
                if tx is None:
                    self._on_stray_response(message, flow)
                else:
                    tx.on_response(message)
                return
            if via is None:
                via = top_via(message)
            if via is None:  # RFC 3261 §18.2.2: no Via, nowhere to send an answer
                log.warning("request from %s:%d without Via dropped", *flow.addr)
                return
            key_s = server_key(message, via)
        except ValueError as exc:
            log.warning("message from %s:%d without usable Via/CSeq dropped: %s", *flow.addr, exc)
            return
        existing = self.servers.get(key_s)
        if message.method == sip.METHOD_ACK:
            if existing is not None and existing.final_sent and not existing.final_is_2xx:
                existing.on_ack()
                return
            self._on_request(message, flow, None)
            return
        if existing is not None:
            existing.on_retransmission()
            return
        server = ServerTransaction(self, message, flow, key_s)
        self.servers[key_s] = server
        self._on_request(message, flow, server)

    def close(self) -> None:
        """Terminate every transaction (shutdown)."""
        for client in list(self.clients.values()):
            client.abort()
        for server in list(self.servers.values()):
            server.abort()
