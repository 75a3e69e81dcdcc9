"""Plays malformed-SIP cases against a device over UDP or TCP, one case at a time.

For each case: a fresh UDP socket or TCP connection from the suite host, the case's writes (for a
fragmented case, each gap is a window in which no answer may come: the wait ends on an answer or
on the gap's deadline), then at once an OPTIONS over the same transport (on a new connection when
the case's bytes leave a TCP stream unframed). The case is over when the OPTIONS is answered and
the case's own final answer has come, or is not required, or a deadline passes. Any 2xx to an
INVITE is ACKed and the call ended with a BYE at once, so a lenient device does not keep a call
that would make the next cases answer 486; a non-2xx final answer to an INVITE is ACKed.

The answer to a case is the first final response on its socket that is not the OPTIONS's: each
case has a socket of its own, so nothing else can arrive there.
"""

from __future__ import annotations

import contextlib
import secrets
import select
import time
from dataclasses import dataclass, field

from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.malformed.corpus import Case
from decoder_conformance.peers.malformed.expect import judge
from decoder_conformance.peers.malformed.message import OFFER, Dialog, Target, request
from decoder_conformance.peers.sockets import open_to_device
from wire import sip

#: After the OPTIONS is answered, how long a required answer to the case may still take.
ANSWER_GRACE = 1.0


@dataclass
class Result:
    """What one case did: the device's final answer, the problem (None: as expected), the
    records of every message, and whether an INVITE was accepted (2xx: the call was ended)."""

    case: Case
    transport: str
    port: int
    answer: sip.SipResponse | None
    problem: str | None
    records: list[WireRecord]
    writes: tuple[bytes, ...]
    accepted: bool = False
    alive: bool = True

    @property
    def answer_text(self) -> str:
        """The answer's status line, or 'no answer'."""
        if self.answer is None:
            return "no answer"
        return f"{self.answer.status_code} {self.answer.reason}"


class Conn:
    """A UDP socket or a TCP connection to the device, with SIP framing on TCP and records."""

    def __init__(
        self,
        transport: str,
        host: str,
        remote: tuple[str, int],
        timeout: float,
        log: list[WireRecord],
    ) -> None:
        self.transport = transport
        self.remote = remote
        self.log = log
        self.closed = False
        self._buffer = bytearray()
        self.sock, self.local = open_to_device(transport, host, remote, timeout)
        self.sock.setblocking(False)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def _record(self, direction: str, data: bytes) -> None:
        self.log.append(
            WireRecord(
                time.monotonic(),
                "TX" if direction == "TX" else "RX",
                "udp" if self.transport == "udp" else "tcp",
                self.local,
                self.remote,
                data,
            )
        )

    def send(self, data: bytes) -> None:
        """Write `data` (one datagram, or onto the stream)."""
        self._record("TX", data)
        try:
            if self.transport == "udp":
                self.sock.sendto(data, self.remote)
            else:
                self.sock.setblocking(True)
                try:
                    self.sock.sendall(data)
                finally:
                    self.sock.setblocking(False)
        except OSError:
            self.closed = True  # the device closed the connection: what follows sees it

    def drain(self) -> list[bytes]:
        """Every whole message that has arrived, without waiting."""
        out: list[bytes] = []
        while not self.closed:
            try:
                if self.transport == "udp":
                    data, _peer = self.sock.recvfrom(65535)
                    self._record("RX", data)
                    out.append(data)
                    continue
                chunk = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
        if self.transport == "tcp":
            while True:
                while self._buffer.startswith(b"\r\n"):
                    del self._buffer[:2]
                if not self._buffer:
                    break
                try:
                    parsed = sip.parse_stream(self._buffer)
                except ValueError:
                    data = bytes(self._buffer)  # not SIP: kept, judged as the device's bytes
                    self._buffer.clear()
                    self._record("RX", data)
                    out.append(data)
                    break
                if parsed is None:
                    break
                data = bytes(self._buffer[: parsed[1]])
                del self._buffer[: parsed[1]]
                self._record("RX", data)
                out.append(data)
        return out


def _response(data: bytes) -> sip.SipResponse | None:
    try:
        message = sip.parse(data)
    except ValueError:
        return None
    return message if isinstance(message, sip.SipResponse) else None


def _wait(conns: list[Conn], seconds: float) -> None:
    """Block until one of `conns` is readable or `seconds` pass (an event or a deadline)."""
    socks = [c.sock for c in conns if not c.closed]
    if socks and seconds > 0:
        select.select(socks, [], [], seconds)


@dataclass
class Sender:
    """Sends cases to one device port over one transport, as the account `user` there."""

    local_host: str
    remote: tuple[str, int]
    user: str
    transport: str
    timeout: float
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))

    def target(self, local: tuple[str, int], dialog: Dialog | None = None) -> Target:
        """The Target a case renders against from the socket at `local`."""
        return Target(self.user, *self.remote, local, self.transport, self.nonce, dialog)

    def _conn(self, log: list[WireRecord]) -> Conn:
        try:
            return Conn(self.transport, self.local_host, self.remote, self.timeout, log)
        except ConnectionError as exc:
            raise _Unreachable(str(exc)) from None

    def run(self, case: Case, dialog: Dialog | None = None) -> Result:
        """Send `case`, check the answer and liveness, end any call it set up."""
        log: list[WireRecord] = []
        expect = case.expect_for(self.transport)
        try:
            conn = self._conn(log)
        except _Unreachable as exc:
            return Result(
                case, self.transport, self.remote[1], None, str(exc), log, (), alive=False
            )
        live = conn
        try:
            target = self.target(conn.local, dialog)
            writes = case.writes(target)
            own_call_id = target.ids(case.id).call_id
            premature: str | None = None
            problem: str | None = None
            answers: list[sip.SipResponse] = []
            for index, piece in enumerate(writes):
                if index and case.gap:
                    deadline = time.monotonic() + case.gap
                    while (left := deadline - time.monotonic()) > 0 and premature is None:
                        _wait([conn], left)
                        for data in conn.drain():
                            answer = _response(data)
                            if answer is None or answer.status_code < 200:
                                continue
                            answers.append(answer)
                            if answer.call_id == own_call_id:
                                premature = (
                                    f"answered {answer.status_code} after write {index} of "
                                    f"{len(writes)}, before the message was complete"
                                )
                        if conn.closed:
                            break
                conn.send(piece)
            # A device may close a TCP connection that carried a message it could not read: the
            # OPTIONS goes on a new one then (and whenever the case's bytes leave it unframed).
            if self.transport == "tcp" and (not case.framing or expect.silent or conn.closed):
                try:
                    live = self._conn(log)
                except _Unreachable as exc:
                    return Result(
                        case,
                        self.transport,
                        self.remote[1],
                        None,
                        f"liveness: {exc}",
                        log,
                        writes,
                        alive=False,
                    )
            options = self._options(live, f"{case.id}/options")
            live.send(options.to_bytes())
            answer, alive = self._collect(conn, live, options, expect.silent, answers)
            if not alive and self.transport == "tcp" and live.closed:
                # The device closed the connection the OPTIONS went on: ask once more on a new one.
                try:
                    retry = self._conn(log)
                except _Unreachable as exc:
                    problem = f"liveness: {exc}"
                    return Result(
                        case,
                        self.transport,
                        self.remote[1],
                        answer,
                        problem,
                        log,
                        writes,
                        alive=False,
                    )
                if live is not conn:
                    live.close()
                live = retry
                options = self._options(live, f"{case.id}/options-again")
                live.send(options.to_bytes())
                again, alive = self._collect(conn, live, options, True, answers)
                answer = answer or again
            if answer is None and alive and self._may_answer_late(case, conn, live):
                # The OPTIONS went on a connection of its own and the device may have read it
                # before the case: ask again behind the case, on its connection, which a device
                # reads in order, so an unread 200 to an INVITE is not left unACKed.
                probe = self._options(conn, f"{case.id}/options-behind")
                conn.send(probe.to_bytes())
                answer, _ = self._collect(conn, conn, probe, True, answers, timeout=ANSWER_GRACE)
            problem = premature or judge(expect, answer)
            if not alive:
                problem = (
                    f"no answer to an OPTIONS sent over {self.transport.upper()} after the case "
                    f"within {self.timeout} s (liveness)"
                    + (f"; also: {problem}" if problem else "")
                )
            accepted = self._clean_up(conn, target, case, answer)
            return Result(
                case, self.transport, self.remote[1], answer, problem, log, writes, accepted, alive
            )
        finally:
            conn.close()
            if live is not conn:
                live.close()

    def _options(self, conn: Conn, key: str) -> sip.SipRequest:
        ids = self.target(conn.local).ids(key)
        return sip.make_request(
            sip.METHOD_OPTIONS,
            self.target(conn.local).uri,
            sent_by=conn.local,
            transport=self.transport.upper(),
            from_uri=f"sip:conformance@{self.local_host}",
            from_tag=ids.from_tag,
            to_uri=self.target(conn.local).uri,
            call_id=ids.call_id,
            cseq=1,
            branch=ids.branch,
        )

    def _collect(
        self,
        conn: Conn,
        live: Conn,
        options: sip.SipRequest,
        silent: bool,
        answers: list[sip.SipResponse],
        *,
        timeout: float | None = None,
    ) -> tuple[sip.SipResponse | None, bool]:
        """(the case's final answer or None, whether the OPTIONS was answered within
        `timeout`, the sender's own by default)."""
        alive = False
        # A provisional answer to the case says a final one follows: it is awaited even when
        # silence would do (an INVITE's 200 that came after the OPTIONS's would go unACKed).
        trying = False
        conns = [conn] if live is conn else [conn, live]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        grace_end: float | None = None
        while True:
            for source in conns:
                for data in source.drain():
                    answer = _response(data)
                    if answer is None:
                        continue
                    if answer.call_id == options.call_id and source is live:
                        alive = alive or answer.status_code >= 200
                    elif source is conn:
                        if answer.status_code < 200:
                            trying = True
                        else:
                            answers.append(answer)
            now = time.monotonic()
            if alive and (answers or (silent and not trying)):
                break
            if all(c.closed for c in conns):
                break  # the device closed every connection: nothing more can arrive
            if alive and grace_end is None:
                grace_end = min(deadline, now + ANSWER_GRACE)
            end = grace_end if grace_end is not None else deadline
            if now >= end:
                break
            _wait(conns, end - now)
        return (answers[0] if answers else None), alive

    def _may_answer_late(self, case: Case, conn: Conn, live: Conn) -> bool:
        """Whether an unanswered INVITE case could still have its answer on its way."""
        return (
            case.method == sip.METHOD_INVITE
            and live is not conn
            and case.framing
            and not conn.closed
        )

    def _clean_up(
        self, conn: Conn, target: Target, case: Case, answer: sip.SipResponse | None
    ) -> bool:
        """ACK an INVITE's final answer; end the call a 2xx set up. True when one was set up."""
        if answer is None:
            return False
        try:
            if answer.cseq.method != sip.METHOD_INVITE:
                return False
            seq = answer.cseq.number
        except ValueError:
            return False
        if conn.closed or (answer.is_success and self.transport == "tcp"):
            # The ACK of a 2xx and the BYE are end-to-end: over TCP they go on a connection of
            # their own, as the case's may be one the device is about to close.
            try:
                conn = self._conn(conn.log)
            except _Unreachable:
                return answer.is_success
            cleanup: Conn | None = conn
        else:
            cleanup = None
        try:
            return self._end(conn, target, answer, seq)
        finally:
            if cleanup is not None:
                cleanup.close()

    def _end(self, conn: Conn, target: Target, answer: sip.SipResponse, seq: int) -> bool:
        vias = sip.split_header_values(answer.headers.get("Via") or "")
        common = [
            ("Max-Forwards", "70"),
            ("From", answer.headers.get("From") or ""),
            ("To", answer.headers.get("To") or ""),
            ("Call-ID", answer.call_id or ""),
        ]
        if not answer.is_success:
            if vias:
                ack = _raw_request(
                    "ACK", target.uri, [("Via", vias[0]), *common, ("CSeq", f"{seq} ACK")]
                )
                conn.send(ack)
            return False
        contacts = answer.headers.get_all("Contact")
        uri = target.uri
        if contacts:
            with contextlib.suppress(ValueError, IndexError):
                uri = sip.NameAddr.parse(sip.split_header_values(contacts[0])[0]).uri
        for method, number in (("ACK", seq), ("BYE", seq + 1)):
            via = self._via(conn)
            conn.send(
                _raw_request(method, uri, [("Via", via), *common, ("CSeq", f"{number} {method}")])
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not conn.closed:
            done = False
            for data in conn.drain():
                reply = _response(data)
                if reply is not None and reply.status_code >= 200:
                    try:
                        done = reply.cseq.method == sip.METHOD_BYE
                    except ValueError:
                        continue
            if done:
                break
            _wait([conn], deadline - time.monotonic())
        return True

    def _via(self, conn: Conn) -> str:
        """A Via naming `conn` with a fresh branch (requests of the sender's own)."""
        host, port = conn.local
        return f"SIP/2.0/{self.transport.upper()} {host}:{port};branch={sip.new_branch()};rport"

    # -- a dialog for the in-dialog group ----------------------------------------------------------

    def open_dialog(self, log: list[WireRecord]) -> Dialog:
        """Set up a call (INVITE with a good offer, CSeq 100, then ACK); NotExercised if the
        device does not take it (the group needs a dialog to exist)."""
        conn = self._conn(log)
        try:
            target = self.target(conn.local)
            key = "dialog-existing/setup"
            invite = request("INVITE", target, key, cseq=100, body=OFFER)
            conn.send(invite.to_bytes())
            answer = self._final(conn, "INVITE")
            if answer is None or not answer.is_success:
                raise NotExercised(
                    f"harness: the in-dialog group needs a call, and the device answered "
                    f"{answer.status_code if answer else 'nothing'} to a plain INVITE with an offer"
                )
            ids = target.ids(key)
            to_tag = answer.to_addr.tag or ""
            contacts = answer.contacts
            remote_target = contacts[0].uri if contacts else target.uri
            via = self._via(conn)
            conn.send(
                _raw_request(
                    "ACK",
                    remote_target,
                    [
                        ("Via", via),
                        ("Max-Forwards", "70"),
                        ("From", answer.headers.get("From") or ""),
                        ("To", answer.headers.get("To") or ""),
                        ("Call-ID", ids.call_id),
                        ("CSeq", "100 ACK"),
                    ],
                )
            )
            return Dialog(ids.call_id, ids.from_tag, to_tag, 100, remote_target)
        finally:
            conn.close()

    def close_dialog(self, dialog: Dialog, log: list[WireRecord]) -> sip.SipResponse | None:
        """End the dialog with a BYE well above every CSeq the cases used; its final answer."""
        conn = self._conn(log)
        try:
            target = self.target(conn.local, dialog)
            bye = request(
                "BYE",
                target,
                "dialog-existing/teardown",
                uri=dialog.remote_target,
                cseq=dialog.cseq + 10,
                to_tag=dialog.remote_tag,
                body=b"",
            )
            bye = bye.set("Call-ID", dialog.call_id).set(
                "From", f"<sip:conformance@{conn.local[0]}>;tag={dialog.local_tag}"
            )
            conn.send(bye.to_bytes())
            return self._final(conn, "BYE")
        finally:
            conn.close()

    def _final(self, conn: Conn, method: str) -> sip.SipResponse | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not conn.closed:
            for data in conn.drain():
                reply = _response(data)
                if reply is None or reply.status_code < 200:
                    continue
                try:
                    if reply.cseq.method == method:
                        return reply
                except ValueError:
                    continue
            _wait([conn], deadline - time.monotonic())
        return None


class _Unreachable(Exception):
    """The device's port refused the connection."""


def _raw_request(method: str, uri: str, rows: list[tuple[str, str]]) -> bytes:
    head = [f"{method} {uri} SIP/2.0", *(f"{n}: {v}" for n, v in rows), "Content-Length: 0"]
    return ("\r\n".join(head) + "\r\n\r\n").encode()
