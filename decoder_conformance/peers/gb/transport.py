"""The SIP core of the GB28181 platform: UDP and TCP on the suite host, records, transactions.

One background thread serves a UDP socket and a TCP listener bound to port 0 (the same number when
free, like the registrar). Every message in and out is a `WireRecord`. On top of the bytes it does
only what RFC 3261 makes automatic, so the platform logic above sees each request once:

- server transactions (§17.2.2): a retransmitted request (same top Via branch, CSeq method) gets
  the answer already sent, again, and is not handed up; a request left unanswered (silence) is
  handed up again when it is retransmitted;
- client transactions over UDP (§17.1.2): a request the platform sends is retransmitted on Timer E
  (T1 doubling up to T2) until a final answer or Timer F (64*T1); the final answer is kept.

The sockets, the framing and the records are `peers.sip_server.SipSocketServer`'s.
`SipServer` knows no GB rule: subclasses implement `_on_request` and `_on_response`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import Address, WireRecord
from decoder_conformance.peers.sip_server import Route, SipSocketServer
from decoder_conformance.waiting import DeviceTimeout
from wire.sip import SipRequest, SipResponse, SipUri

# Route moved to peers.sip_server; the GB modules still import it from here.
__all__ = ["T1", "T2", "TIMER_F", "ClientTransaction", "Route", "SipServer"]

T1 = 0.5  # RFC 3261 §17.1.1.1: RTT estimate
T2 = 4.0  # the longest retransmit interval of non-INVITE requests
TIMER_F = 64 * T1  # non-INVITE transaction timeout


@dataclass
class ClientTransaction:
    """A request the platform sent, its retransmission timer and its final answer."""

    branch: str
    request: SipRequest
    route: Route
    record: WireRecord
    interval: float = T1
    next_at: float = 0.0
    give_up_at: float = 0.0
    final: SipResponse | None = None
    final_record: WireRecord | None = None
    timed_out: bool = False


def _tx_key(message: SipRequest | SipResponse) -> tuple[str, str] | None:
    vias = message.vias
    if not vias or vias[0].branch is None:
        return None
    return vias[0].branch, message.cseq.method


def route_to_contact(route: Route, contact: str | None) -> Route:
    """Where requests to a device go: its `contact` (a registered Contact or a dialog's remote
    target) when that names the host `route` came from over UDP, else back the way `route` came
    (a TCP connection, a Contact elsewhere: the suite sends only to the device's own host, as WVP
    sends to the Via received/rport address, notes §6.9)."""
    if route.transport == "tcp" or contact is None:
        return route
    try:
        target = SipUri.parse(contact)
    except ValueError:
        return route
    if target.host != route.remote[0]:
        return route
    return Route("udp", (target.host, target.port or 5060))


class SipServer(SipSocketServer):
    """UDP + TCP SIP endpoint on `host` (loopback unless a lab says otherwise), port 0."""

    name = "sip-server"

    def __init__(self, host: str = LOOPBACK) -> None:
        super().__init__(host)
        #: (branch, method) -> the answer sent, for retransmitted requests.
        self._answered: dict[tuple[str, str], bytes] = {}
        self._client: dict[str, ClientTransaction] = {}

    # -- observation -----------------------------------------------------------------------

    def seen_text(self, records: list[WireRecord] | None = None) -> str:
        """One line per record, for timeout messages."""
        return self._seen_text(self.records() if records is None else records)

    def _wait_state(self, ready: Callable[[], str | None], *, timeout: float) -> None:
        """Wait on the server's condition until `ready()` returns None; its last text on timeout.

        `ready` runs under the lock and returns None when done, else what is still missing.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.check()
                missing = ready()
                if missing is None:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(
                        f"{self.name} {self.address}: after {timeout:.1f} s, {missing}"
                    )
                # States also change with time alone (a binding lapses): wake up to re-check.
                self._lock.wait(min(left, 0.05))

    # -- sending ---------------------------------------------------------------------------

    def reply(self, received: WireRecord, route: Route, response: SipResponse) -> WireRecord:
        """Answer `received` the way it came; a retransmission of it gets the same bytes."""
        data = response.to_bytes()
        message = received.message
        if isinstance(message, SipRequest):
            key = _tx_key(message)
            if key is not None:
                with self._lock:
                    self._answered[key] = data
        return self._send_bytes(route, data)

    def send_request(self, route: Route, request: SipRequest) -> ClientTransaction:
        """Send `request` (a client transaction: retransmitted over UDP until a final answer)."""
        key = _tx_key(request)
        if key is None:
            raise NotExercised(f"harness invariant: {request.method} has no Via branch")
        # Sent and filed under the lock: the device's answer can arrive before sendto returns,
        # and the serving thread must then find its transaction (the lock is reentrant).
        with self._lock:
            record = self._send_bytes(route, request.to_bytes())
            now = time.monotonic()
            tx = ClientTransaction(
                key[0], request, route, record, next_at=now + T1, give_up_at=now + TIMER_F
            )
            self._client[key[0]] = tx
        return tx

    def _send_bytes(self, route: Route, data: bytes) -> WireRecord:
        if route.transport == "udp":
            local: Address = (self.host, self.port)
        else:
            if route.sock is None or route.sock not in self._tcp_ends:
                raise NotExercised(
                    f"{self.name}: the TCP connection from {route.remote} is closed; cannot send"
                )
            local = self._tcp_ends[route.sock][0]
        # Recorded before it is sent: a UA that acts on it at once must find it in records().
        record = self._record("TX", route.transport, local, route.remote, data)
        if route.transport == "udp":
            self.udp.sendto(data, route.remote)
        elif route.sock is not None:
            route.sock.sendall(data)
        return record

    # -- serving ---------------------------------------------------------------------------

    def _timer_wait(self) -> float:
        with self._lock:
            due = [tx.next_at for tx in self._client.values() if tx.final is None]
        if not due:
            return 0.05
        return max(0.0, min(0.05, min(due) - time.monotonic()))

    def _tick(self) -> None:
        self._retransmit()

    def _retransmit(self) -> None:
        now = time.monotonic()
        with self._lock:
            pending = [
                tx
                for tx in self._client.values()
                if tx.final is None and not tx.timed_out and tx.next_at <= now
            ]
        for tx in pending:
            if now >= tx.give_up_at:
                tx.timed_out = True
                continue
            if tx.route.transport == "udp":
                self._send_bytes(tx.route, tx.request.to_bytes())
            tx.interval = min(tx.interval * 2, T2)
            tx.next_at = now + tx.interval

    def _on_message(self, received: WireRecord, route: Route) -> None:
        self._dispatch(received, route)

    def _dispatch(self, received: WireRecord, route: Route) -> None:
        try:
            message = received.message
        except DeviceFailure:
            return  # recorded; the case that reads it fails the device
        try:
            key = _tx_key(message)
        except ValueError:
            key = None  # no CSeq: the platform logic refuses it
        if isinstance(message, SipResponse):
            self._response(received, message, key)
            return
        if message.method == "ACK":
            return
        if key is not None:
            with self._lock:
                sent = self._answered.get(key)
            if sent is not None:  # a retransmission: the same answer again (§17.2.2)
                self._send_bytes(route, sent)
                return
        self._on_request(received, message, route)

    def _response(
        self, received: WireRecord, response: SipResponse, key: tuple[str, str] | None
    ) -> None:
        with self._lock:
            tx = None if key is None else self._client.get(key[0])
            first_final = tx is not None and not response.is_provisional and tx.final is None
            if tx is not None and first_final:
                tx.final, tx.final_record = response, received
            self._lock.notify_all()
        if tx is not None and first_final:
            self._on_response(received, response, tx)

    # -- the platform's part ---------------------------------------------------------------

    def _on_request(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        raise NotImplementedError

    def _on_response(
        self, received: WireRecord, response: SipResponse, tx: ClientTransaction
    ) -> None:
        raise NotImplementedError
