"""A GB28181 platform peer (the SIP server a GB device registers with), written from the standard.

Written from GB/T 28181-2016/2022 as summarised in the project's notes (notes/gb28181.md §1-3, §6),
not from any device's code, so that what it sees of a decoder is what an independent platform
would see. UDP and TCP on the suite host, port 0, kept bound until stopped (gb/transport.py).

- Registrar (§9.1, gb/registrar.py; replies as WVP's, notes "How WVP acts as registrar"): 400
  without ``Expires``, 401 Digest challenge (realm = the platform's domain, ``qop="auth"`` unless
  `qop=False`), 403 to a wrong password without a new challenge, 200 with ``Contact``,
  ``Expires`` and the §9.10 time-sync ``Date: yyyy-MM-ddTHH:mm:ss.SSS``; a refresh on the same
  Call-ID is accepted without a new challenge.
- Keepalive (§9.6): a MESSAGE ``Application/MANSCDP+xml`` (any case) with Notify/Keepalive gets 200
  (or the code of `reject_keepalives`); each is kept with its time, SN, DeviceID, Status and
  wire.manscdp's problems. A device is OFFLINE once `keepalive_count` intervals pass without one
  (the binding's lapse makes it UNREGISTERED); `presence()` is the view.
- Any MESSAGE from a device without a live binding gets 404 (WVP's "device not found"), so after
  `restart()` the device's next keepalive tells it to register again (WVP #814, notes §6.10).
- Queries (§9.5.2): `query()` sends a MESSAGE Query to the device; the device's 200 and its later
  MESSAGE Response(s) (each answered 200, so a split Catalog can go on, Annex N) are joined per SN;
  `wait_response()` returns them once whole. A Response whose SN, CmdType or DeviceID does not
  match is kept apart with what is wrong (wire.manscdp.response_mismatches).
- Real-time video (§9.2.2, notes §4; gb/invite.py): `play()` INVITEs the device, third-party
  call control (a bodyless INVITE, the device offers recvonly PS in its 200, the ACK answers
  sendonly with ``y=``) or with a sendonly PS offer, media over UDP or TCP in either setup role,
  and returns a `GbPlay` whose `send()` streams PS over RTP at the SSRC in force and whose
  `bye()` (or context exit) ends the call. A BYE from the device is answered 200.
- Fault modes: `silence()`, `reject_keepalives(code)`, `restart()`.

Every duty of the device the platform can see is checked on every exchange and kept as a
`Violation` (gb/checks.py names the codes): a case asserts on the ones its requirement is about.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Sequence

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb.checks import Finding
from decoder_conformance.peers.gb.invite import (
    DEFAULT_FORMAT,
    CallState,
    GbPlay,
    MediaTransport,
    Style,
)
from decoder_conformance.peers.gb.model import (
    KeepaliveSeen,
    ManscdpIn,
    Presence,
    Query,
    Registration,
)
from decoder_conformance.peers.gb.registrar import GbRegistrar
from decoder_conformance.peers.gb.transport import ClientTransaction, Route, route_to_contact
from wire import gb_id, gb_sdp, manscdp
from wire.sdp import RtpMap
from wire.sip import (
    SipRequest,
    SipResponse,
    make_request,
    make_response,
    new_call_id,
    new_tag,
)

__all__ = [
    "DEFAULT_PLATFORM_ID",
    "GbPlatform",
    "GbPlay",
    "KeepaliveSeen",
    "ManscdpIn",
    "Presence",
    "Query",
]

#: The standard's example platform: centre 34020000, type 200 (central signalling server).
DEFAULT_PLATFORM_ID = gb_id.make_id(gb_id.TYPE_SIP_SERVER)


class GbPlatform(GbRegistrar):
    """The GB28181 platform peer. Use as a context manager, or start()/stop()."""

    name = "gb-platform"

    def __init__(
        self,
        platform_id: str = DEFAULT_PLATFORM_ID,
        *,
        password: str = "12345678",
        users: dict[str, str] | None = None,
        qop: bool = True,
        grant: int | None = None,
        keepalive_interval: float = 60.0,
        keepalive_count: int = 3,
        date: str | None = None,
        gb_version: str | None = None,
        strict_ids: bool = True,
        refresh_challenge: bool = False,
        grant_headers: Sequence[tuple[str, str]] = (),
        unknown_device_code: int = 404,
        host: str = LOOPBACK,
    ) -> None:
        """`password` is every device's (WVP keeps one); `users` maps other digest usernames to
        theirs. `grant` caps the expiry granted; `date` fixes the Date value (None: now).
        `keepalive_interval` and `keepalive_count` are the device's (§9.6: 60 s, 3).
        `grant_headers` go into every 200 to a REGISTER (headers a device must get past)."""
        super().__init__(
            platform_id,
            password=password,
            users=users,
            qop=qop,
            grant=grant,
            date=date,
            gb_version=gb_version,
            strict_ids=strict_ids,
            refresh_challenge=refresh_challenge,
            grant_headers=grant_headers,
            host=host,
        )
        self.keepalive_interval = keepalive_interval
        self.keepalive_count = keepalive_count
        self.unknown_device_code = unknown_device_code
        self._silent = False
        self._keepalive_code: int | None = None
        self._keepalives: list[KeepaliveSeen] = []
        self._incoming: list[ManscdpIn] = []
        self._queries: dict[int, Query] = {}
        self._query_of_branch: dict[str, int] = {}
        self._sn = itertools.count(secrets.randbelow(90_000) + 10_000)
        self._cseq = itertools.count(1)
        self.restarts = 0
        self._calls: dict[str, GbPlay] = {}  # Call-ID -> call
        self._ssrc_sequence = itertools.count(secrets.randbelow(9000) + 1)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> GbPlatform:
        """Serve in a background thread."""
        self._start()
        return self

    def __enter__(self) -> GbPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server_uri(self) -> str:
        """``sip:<platform ID>@<host:port>``, the Request-URI of a device's REGISTER."""
        return f"sip:{self.platform_id}@{self.address}"

    # -- fault modes -----------------------------------------------------------------------

    def silence(self, on: bool = True) -> None:
        """Answer nothing (REGISTER, keepalive, Response) until silence(False)."""
        with self._lock:
            self._silent = on

    def reject_keepalives(self, code: int | None) -> None:
        """Answer keepalives of registered devices with `code` (a 4xx); None: 200 again."""
        if code is not None and not 400 <= code <= 699:
            raise NotExercised(f"harness invariant: keepalive refusal {code} is not a failure code")
        with self._lock:
            self._keepalive_code = code

    def restart(self) -> None:
        """Forget every registration, as a restarted platform does: the next MESSAGE of a
        forgotten device gets `unknown_device_code` (404) and the device must register again."""
        with self._lock:
            self._bindings.clear()
            self.restarts += 1
            self._lock.notify_all()

    # -- the device view -------------------------------------------------------------------

    def presence(self, device_id: str) -> Presence:
        """UNREGISTERED, ONLINE, or OFFLINE after `keepalive_count` silent keepalive intervals."""
        with self._lock:
            return self._presence(device_id)

    def _presence(self, device_id: str) -> Presence:
        binding = self._live(device_id)
        if binding is None:
            return Presence.UNREGISTERED
        silent_for = time.monotonic() - binding.last_seen
        if silent_for > self.keepalive_interval * self.keepalive_count:
            return Presence.OFFLINE
        return Presence.ONLINE

    def online(self, device_id: str) -> bool:
        """True while the device is registered and keeps its keepalives up."""
        return self.presence(device_id) is Presence.ONLINE

    def wait_presence(self, device_id: str, presence: Presence, *, timeout: float) -> None:
        """Wait until the platform sees `device_id` as `presence`; DeviceTimeout naming the last."""

        def ready() -> str | None:
            now = self._presence(device_id)
            if now is presence:
                return None
            return (
                f"expected device {device_id} {presence.value}, it is {now.value}; "
                f"{len(self._keepalives_of(device_id))} keepalives, "
                f"{len(self._registers_of(device_id))} REGISTERs seen"
            )

        self._wait_state(ready, timeout=timeout)

    # -- observation -----------------------------------------------------------------------

    def keepalives(self, device_id: str | None = None) -> list[KeepaliveSeen]:
        """Every keepalive received (of `device_id`, when given), in order."""
        with self._lock:
            return self._keepalives_of(device_id)

    def _keepalives_of(self, device_id: str | None) -> list[KeepaliveSeen]:
        return [k for k in self._keepalives if device_id is None or k.from_user == device_id]

    def wait_keepalive(self, device_id: str, *, timeout: float, since: int = 0) -> KeepaliveSeen:
        """The device's keepalive number `since` (0-based, counting its keepalives only)."""
        found: list[KeepaliveSeen] = []

        def ready() -> str | None:
            mine = self._keepalives_of(device_id)
            if len(mine) > since:
                found.append(mine[since])
                return None
            return (
                f"expected keepalive #{since + 1} (Notify/Keepalive MESSAGE) from {device_id}; "
                f"seen {len(mine)}: " + ", ".join(f"SN={k.sn} at {k.t:.3f}" for k in mine)
            )

        self._wait_state(ready, timeout=timeout)
        return found[0]

    def messages(self) -> list[ManscdpIn]:
        """Every MANSCDP MESSAGE from devices, in order."""
        with self._lock:
            return list(self._incoming)

    # -- queries ---------------------------------------------------------------------------

    def query(
        self,
        device_id: str,
        cmd_type: str,
        *,
        fields: Sequence[tuple[str, str | int]] = (),
        config_types: Sequence[str] = (),
        encoding: str = manscdp.ENCODING_GB2312,
        sn: int | None = None,
    ) -> int:
        """Send a MESSAGE Query (Catalog, DeviceInfo, DeviceStatus, ConfigDownload, ...); its SN.

        ConfigDownload asks for `config_types` (BasicParam by default). The MESSAGE goes to the
        device's registered Contact when it names the host the REGISTER came from, else to that
        source address (as WVP does with Via received/rport, notes §6.9).
        """

        def build(number: int) -> manscdp.Message:
            if cmd_type == manscdp.CMD_CONFIG_DOWNLOAD:
                return manscdp.config_download_query(number, device_id, *config_types)
            return manscdp.make_query(cmd_type, number, device_id, fields)

        return self._send_manscdp(device_id, build, encoding=encoding, sn=sn)

    def control(
        self,
        device_id: str,
        *,
        command: Sequence[tuple[str, str | int]] = (("GuardCmd", "ResetGuard"),),
        encoding: str = manscdp.ENCODING_GB2312,
    ) -> int:
        """Send a MESSAGE Control/DeviceControl (§9.3; by default the harmless GuardCmd
        ResetGuard, never TeleBoot); its SN. `query_state(sn).answer` gets the device's final
        status; no Response is expected."""

        def build(number: int) -> manscdp.Message:
            body = [manscdp.leaf(tag, value) for tag, value in command]
            return manscdp.Message(
                manscdp.ROOT_CONTROL, manscdp.CMD_DEVICE_CONTROL, number, device_id, body
            )

        return self._send_manscdp(device_id, build, encoding=encoding, sn=None)

    def wait_answer(self, sn: int, *, timeout: float) -> int:
        """The device's final status to the MESSAGE with `sn` (DeviceTimeout when none comes)."""

        def ready() -> str | None:
            query = self._queries.get(sn)
            if query is not None and query.answer is not None:
                return None
            return f"expected a final answer to the MESSAGE SN={sn}, none came"

        self._wait_state(ready, timeout=timeout)
        answer = self.query_state(sn).answer
        if answer is None:  # filed by the serving thread under the lock before notify
            raise NotExercised(f"harness invariant: the answer to SN={sn} vanished")
        return answer

    def _send_manscdp(
        self,
        device_id: str,
        build: Callable[[int], manscdp.Message],
        *,
        encoding: str,
        sn: int | None,
    ) -> int:
        """Send the MANSCDP MESSAGE `build(sn)` to a registered device, filed by its SN."""
        with self._lock:
            binding = self._live(device_id)
            registered = sorted(self._bindings)
            number = next(self._sn) if sn is None else sn
        if binding is None:
            raise NotExercised(
                f"cannot send a MESSAGE to {device_id}: it is not registered with the platform "
                f"(registered: {registered or 'none'})"
            )
        message = build(number)
        route = self._route_to(binding)
        local = self.port if route.transport == "udp" else self.tcp_port
        host, port = route.remote
        request = make_request(
            "MESSAGE",
            f"sip:{device_id}@{host}:{port}",
            sent_by=(self.host, local),
            transport=route.transport.upper(),
            from_uri=f"sip:{self.platform_id}@{self.domain}",
            from_tag=new_tag(),
            to_uri=f"sip:{device_id}@{gb_id.realm_of(device_id)}",
            call_id=new_call_id(self.host),
            cseq=next(self._cseq),
            body=manscdp.build(message, encoding),
            content_type=manscdp.CONTENT_TYPE,
        )
        with self._lock:
            # Registered before the send: the device may answer before send_request returns.
            tx_branch = request.vias[0].branch or ""
            self._query_of_branch[tx_branch] = number
            self._queries[number] = Query(number, device_id, message)
        tx = self.send_request(route, request)
        with self._lock:
            self._queries[number].sent = tx.record
        return number

    def _route_to(self, binding: Registration) -> Route:
        return route_to_contact(binding.route, binding.contact)

    def query_state(self, sn: int) -> Query:
        """The query with this SN (NotExercised when the platform sent none)."""
        with self._lock:
            found = self._queries.get(sn)
        if found is None:
            raise NotExercised(f"harness invariant: the platform sent no query with SN {sn}")
        return found

    def wait_response(self, sn: int, *, timeout: float) -> list[ManscdpIn]:
        """The Response(s) to query `sn` once whole (a Catalog: all SumNum items).

        DeviceTimeout (the device's doing) naming what was expected and what came: the device's
        answer to the MESSAGE, the matching parts so far, and the mismatched Responses with what
        is wrong in each. DeviceFailure at once when Catalog parts contradict each other.
        """
        query = self.query_state(sn)

        def ready() -> str | None:
            try:
                if query.complete():
                    return None
            except manscdp.ManscdpError as exc:
                raise DeviceFailure(f"the Catalog parts of SN {sn} do not add up: {exc}") from None
            parts = "\n".join(f"    {r.describe()}" for r in query.responses) or "    (none)"
            wrong = (
                "\n".join(f"    {r.describe()}: {'; '.join(why)}" for r, why in query.mismatched)
                or "    (none)"
            )
            since = query.sent.t if query.sent is not None else 0.0
            others = [m for m in self._incoming if m.record.t >= since]
            rest = "\n".join(f"    {m.describe()}" for m in others) or "    (none)"
            answer = "no final answer" if query.answer is None else str(query.answer)
            return (
                f"expected {query.expected()}; the device's answer to the MESSAGE Query: "
                f"{answer}\n  matching Responses:\n{parts}\n  mismatched Responses:\n{wrong}\n"
                f"  MANSCDP messages since the query:\n{rest}"
            )

        self._wait_state(ready, timeout=timeout)
        with self._lock:
            return list(query.responses)

    def catalog(self, sn: int, *, timeout: float) -> manscdp.Catalog:
        """The whole Catalog answering query `sn`, its parts joined (collect_catalog)."""
        parts = self.wait_response(sn, timeout=timeout)
        return manscdp.collect_catalog([m for p in parts if (m := p.message) is not None])

    # -- real-time video -------------------------------------------------------------------

    def play(
        self,
        device_id: str,
        *,
        style: Style = "third_party",
        transport: MediaTransport | None = "udp",
        ssrc: str | None = None,
        with_y: bool = True,
        media_format: str | None = DEFAULT_FORMAT,
        payloads: Sequence[int | RtpMap] = (gb_sdp.PS_PAYLOAD_TYPE,),
        listen_after: float | None = None,
        timeout: float = 8.0,
    ) -> GbPlay:
        """INVITE `device_id` for real-time video and return the call once the INVITE is final.

        `style` ``"third_party"`` sends a bodyless INVITE and answers the device's offer in the
        ACK; ``"offer"`` sends a sendonly PS offer. `transport` names the device's media role:
        ``"udp"``, ``"tcp_passive"`` (the device listens, the platform connects) or
        ``"tcp_active"`` (the platform listens on the suite host, the device connects); in the
        third-party style the device's offer picks it, so it is what the case expects (None:
        whatever the device offers; another one: the call is ended and NotExercised raised).
        `ssrc` is the platform's ``y=`` (ten digits; default: live, this domain, a fresh
        sequence); `with_y` False leaves ``y=`` out (the device must choose, notes §6.2).
        `media_format` is the ``f=`` value (None: no ``f=``); `payloads` the formats of the
        offer style's m= line (default 96 PS/90000; an RtpMap offers another codec);
        `listen_after` (tcp_active) has the platform's media port listen only that many seconds
        after the INVITE, so only a device that retries its connection gets through.

        A non-2xx final is returned (``code``); no final answer within `timeout` raises
        DeviceTimeout. The INVITE goes where `query()` sends (the registered Contact on the
        host the device registered from, or the TCP connection it registered over).
        """
        with self._lock:
            binding = self._live(device_id)
            registered = sorted(self._bindings)
            sequence = next(self._ssrc_sequence) % (gb_sdp.SEQUENCE_MAX + 1)
        if binding is None:
            raise NotExercised(
                f"cannot INVITE {device_id}: it is not registered with the platform "
                f"(registered: {registered or 'none'})"
            )
        chosen = ssrc or gb_sdp.make_ssrc(self.platform_id, sequence=sequence)
        call = GbPlay(
            self,
            device_id,
            self._route_to(binding),
            style=style,
            transport=transport,
            ssrc=chosen,
            with_y=with_y,
            media_format=media_format,
            payloads=payloads,
            listen_after=listen_after,
        )
        with self._lock:
            # Filed before the INVITE leaves: the device may answer before start() goes on.
            self._calls[call.call_id] = call
        call.start(timeout)
        return call

    def calls(self, device_id: str | None = None) -> list[GbPlay]:
        """Every call the platform placed (to `device_id`, when given), in order."""
        with self._lock:
            return [c for c in self._calls.values() if device_id in (None, c.device_id)]

    def end_calls(self) -> None:
        """End every call still up (BYE), as a case's cleanup does; the first error is raised."""
        errors: list[Exception] = []
        for call in self.calls():
            try:
                call.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _response(
        self, received: WireRecord, response: SipResponse, key: tuple[str, str] | None
    ) -> None:
        if key is not None and key[1] == "INVITE":
            with self._lock:
                call = next((c for c in self._calls.values() if c.branch == key[0]), None)
            if call is not None:
                call.on_response(received, response)
                return
        if key is not None and key[1] == "BYE":
            with self._lock:
                call = next((c for c in self._calls.values() if c.bye_branch == key[0]), None)
            if call is not None:
                call.on_bye_response(received, response)
        super()._response(received, response, key)

    def _tick(self) -> None:
        super()._tick()
        now = time.monotonic()
        with self._lock:
            calling = [c for c in self._calls.values() if c.state is CallState.CALLING]
        for call in calling:
            call.tick(now)

    def _bye_in(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        """The device's BYE: 200 for a call of the platform, else 481 (RFC 3261 §15.1.2)."""
        with self._lock:
            call = self._calls.get(request.call_id or "")
        if call is None:
            self.reply(received, route, make_response(request, 481))
            return
        self.reply(received, route, make_response(request, 200))
        call.on_device_bye()

    # -- serving ---------------------------------------------------------------------------

    def _on_request(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        with self._lock:
            if self._silent:
                return
        if request.method == "REGISTER":
            self._register(received, request, route)
        elif request.method == "MESSAGE":
            self._message(received, request, route)
        elif request.method == "OPTIONS":
            self.reply(received, route, make_response(request, 200, to_tag=new_tag()))
        elif request.method == "BYE":
            self._bye_in(received, request, route)
        else:
            response = make_response(request, 405, to_tag=new_tag())
            response.headers.add("Allow", "REGISTER, MESSAGE, OPTIONS, BYE")
            self.reply(received, route, response)

    def _on_response(
        self, received: WireRecord, response: SipResponse, tx: ClientTransaction
    ) -> None:
        with self._lock:
            sn = self._query_of_branch.get(tx.branch)
            if sn is not None:
                self._queries[sn].answer = response.status_code
            self._lock.notify_all()

    # -- MESSAGE ---------------------------------------------------------------------------

    def _message(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        try:
            from_user = checks.user_of(request.from_addr)
            findings = checks.address_findings("From", request.from_addr, None)
            findings += checks.address_findings("To", request.to_addr, None)
        except ValueError as exc:
            self._violate(received, "", [(checks.URI_USER, f"MESSAGE unreadable: {exc}")])
            self.reply(received, route, self._answer(request, 400))
            return
        findings += checks.request_uri_findings(request, self.platform_id)
        findings += checks.content_type_findings(request)
        if any(code == checks.CONTENT_TYPE for code, _ in findings):
            self._violate(received, from_user, findings)
            self.reply(received, route, self._answer(request, 415))
            return
        try:
            parsed: manscdp.ParseResult | None = manscdp.parse(request.body)
            error = None
        except manscdp.ManscdpError as exc:
            parsed, error = None, str(exc)
            findings.append((checks.BODY_UNREADABLE, f"MANSCDP body unreadable: {exc}"))
        incoming = ManscdpIn(received, request, from_user, parsed, error)
        if parsed is not None:
            findings += checks.body_findings(parsed, from_user)
        message = incoming.message
        with self._lock:
            known = self._live(from_user) is not None
            keepalive_code = self._keepalive_code
        if not known:
            code = self.unknown_device_code
        elif message is None:
            code = 400
        elif message.root == manscdp.ROOT_NOTIFY and message.cmd_type == manscdp.CMD_KEEPALIVE:
            code = keepalive_code or 200
        else:
            code = 200
        incoming.answered = code
        with self._lock:
            self._incoming.append(incoming)
            if message is not None and message.cmd_type == manscdp.CMD_KEEPALIVE:
                findings += self._keepalive(incoming, message, code)
            elif message is not None and message.root == manscdp.ROOT_RESPONSE and known:
                findings += self._response_in(incoming, message)
            self._lock.notify_all()
        self._violate(received, from_user, findings)
        self.reply(received, route, self._answer(request, code))

    def _keepalive(self, incoming: ManscdpIn, message: manscdp.Message, code: int) -> list[Finding]:
        """Keep one keepalive (under the lock); a 200 refreshes the device's last-seen time."""
        status = message.get("Status")
        findings: list[Finding] = []
        if message.root != manscdp.ROOT_NOTIFY:
            findings.append(
                (checks.KEEPALIVE_STATUS, f"Keepalive in <{message.root}>, not <Notify>")
            )
        if status not in (manscdp.STATUS_OK, manscdp.STATUS_ERROR):
            findings.append(
                (checks.KEEPALIVE_STATUS, f"Keepalive Status {status!r} is not OK/ERROR")
            )
        self._keepalives.append(
            KeepaliveSeen(
                incoming.record.t,
                incoming.from_user,
                message.sn,
                message.device_id,
                status,
                incoming.problems,
                code,
                incoming,
            )
        )
        binding = self._bindings.get(incoming.from_user)
        if code == 200 and binding is not None:
            binding.last_seen = incoming.record.t
        return findings

    def _response_in(self, incoming: ManscdpIn, message: manscdp.Message) -> list[Finding]:
        """File one Response under its query (under the lock)."""
        query = self._queries.get(message.sn)
        if query is not None:
            wrong = manscdp.response_mismatches(query.message, message)
            if not wrong:
                query.responses.append(incoming)
                return []
            query.mismatched.append((incoming, wrong))
            return [(checks.RESPONSE_MISMATCH, f"SN {message.sn}: " + "; ".join(wrong))]
        # No query has this SN: file it under the open query it most likely answers.
        mine = [
            q
            for q in self._queries.values()
            if q.device_id in (incoming.from_user, message.device_id) and not q.responses
        ]
        same = [q for q in mine if q.cmd_type == message.cmd_type] or mine
        if same:
            target = same[-1]
            target.mismatched.append(
                (incoming, manscdp.response_mismatches(target.message, message))
            )
        return [
            (
                checks.RESPONSE_UNMATCHED,
                f"Response {message.cmd_type} SN {message.sn} answers no query the platform sent",
            )
        ]
