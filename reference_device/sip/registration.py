"""The REGISTER client of one account (RFC 3261 §10) and its `register_status` machine.

States as `status.json` shows them (every move through `RegisterMachine.transition`, logged):

* `registering`: a REGISTER is in flight for the first time, or again after an `error`;
* `registered`: the registrar granted the binding (a refresh in flight keeps this state);
  `connected` instead under `--reading register_status_granted=connected`;
* `connecting` / `reconnecting`: the last REGISTER got no answer (timer F), before / after a first
  success; retries keep the state until an answer arrives (`error` instead of `reconnecting`
  under `--reading register_status_refresh_lost=error`; `connecting` instead of `registering`
  for the first REGISTER under `--reading register_status_pending=connecting`);
* `error`: 403, 404, a realm that is not the configured one, a non-stale challenge to a REGISTER
  that carried credentials (wrong credentials), any other 4xx-6xx;
* `unregistering` (Expires: 0 in flight), then `closed`.

`extra_info` is the last final status code from the registrar (408 for a timeout, 0 before any).
A binding granted for G seconds is refreshed after `G - min(5, G/4)` seconds; each refresh keeps
the Call-ID, increments the CSeq and answers challenges again. Failures are retried after
`retry_base * 2**n` seconds (capped at 30 s), or after a 503's Retry-After.

GB28181 accounts (`RegistrarConfig.gb`; 2016/2022 §9.1, notes §1) register as the standard's J.1
example, names from reference_device/gb/identity.py::

    REGISTER sip:<serverId>@<domain> SIP/2.0
    Via: SIP/2.0/UDP <ip>:<port>;branch=z9hG4bK...;rport
    From: <sip:<deviceID>@<domain>>;tag=...
    To: <sip:<deviceID>@<domain>>
    Contact: <sip:<deviceID>@<ip>:<port>>
    Expires: <--register-expires>
    X-GB-ver: 3.0                          (under --gb-edition 2022 only)

The digest username is `username` or the device ID, the digest realm the challenge's (the
account's realm is the SIP domain, not checked against the challenge). The 200's §9.10
``Date: yyyy-MM-ddTHH:mm:ss.SSS`` is read (and logged), never an error. Once registered, the
keepalive loop (gb/keepalive.py) runs; when it judges the platform lost (count keepalives
unanswered, or a 4xx), register_status goes `error` (extra_info 408, or the keepalive's 4xx)
and the registration starts again from scratch: `registering`, a REGISTER without credentials
(same Call-ID, RFC 3261 §10.2: a platform that forgot us challenges it, one that did not takes it
as a refresh), `registered`. Keepalives stop on unregister and on remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from reference_device.faults import Fault, Faults
from reference_device.gb.identity import GbIdentity, parse_gb_date
from reference_device.gb.keepalive import KeepaliveLoop
from reference_device.gb.outbox import Outbox
from reference_device.gb.settings import X_GB_VER, GbSettings
from reference_device.model import Account, AccountType
from reference_device.readings import Point, Readings
from reference_device.sip import names
from reference_device.sip.dialog import MAX_FORWARDS, USER_AGENT, LocalContact
from reference_device.sip.transaction import TransactionLayer
from reference_device.sip.transport import Transport
from reference_device.status import AccountRuntime, RegisterStatus
from wire import digest, sip

log = logging.getLogger(__name__)

RETRY_CAP: Final = 30.0
MAX_AUTH_ROUNDS: Final = 3
ANY_REALM: Final = "*"
R = RegisterStatus


@dataclass(frozen=True)
class RegistrarConfig:
    """The account fields registration depends on; a change means unregister + register."""

    server: str
    port: int
    username: str
    password: str
    realm: str
    local_account: str
    #: GB28181 (account type gb28181): the platform's ID, and whether GB rules apply
    server_id: str = ""
    gb: bool = False


def registrar_config(account: Account) -> RegistrarConfig:
    """The registration an account asks for (GB rules for type gb28181)."""
    return RegistrarConfig(
        account.register_server,
        account.register_port,
        account.username,
        account.password,
        account.realm,
        account.local_account,
        server_id=account.server_id,
        gb=account.type is AccountType.GB28181,
    )


@dataclass(frozen=True)
class RegisterSettings:
    """Process-wide settings: requested expiry and retry backoff base (seconds)."""

    expires: int = 3600
    retry_base: float = 1.0


@dataclass
class Outcome:
    """What one REGISTER round (with its challenges) ended with."""

    code: int  # final status code; 408 for no answer; 0 when nothing was sent
    granted: int = 0
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """A 2xx."""
        return 200 <= self.code < 300

    @property
    def timed_out(self) -> bool:
        """No answer (timer F) or no route to the registrar."""
        return self.code in {408, 0}


def refresh_delay(granted: int) -> float:
    """Seconds after a success to refresh: `granted - min(5, granted / 4)`."""
    return granted - min(5.0, granted / 4)


def backoff(settings: RegisterSettings, failures: int) -> float:
    """`retry_base * 2**failures`, capped at 30 s."""
    return float(min(RETRY_CAP, settings.retry_base * (2 ** min(failures, 16))))


class Registration:
    """Registration of one account with one registrar, on one transport."""

    def __init__(  # noqa: PLR0917 - keyword use preferred; kept positional for the agent
        self,
        config: RegistrarConfig,
        transport: Transport,
        layer: TransactionLayer,
        runtime: AccountRuntime,
        settings: RegisterSettings,
        faults: Faults,
        on_change: Callable[[], None],
        readings: Callable[[], Readings] = Readings,
        *,
        gb: GbSettings | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self._layer = layer
        self._runtime = runtime
        self._settings = settings
        self._faults = faults
        self._on_change = on_change
        self._readings = readings
        self.contact = LocalContact(config.local_account, transport.host, transport.port)
        self.call_id = sip.new_call_id(transport.host)
        self._from_tag = sip.new_tag()
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None
        self.bound = False  # the registrar holds our binding (granted, not yet unregistered)
        self._ever_registered = False
        # GB28181 mode: identity, keepalives (SN counting on across re-registrations)
        self._gb = gb or GbSettings()
        self.identity: GbIdentity | None = None
        if config.gb:
            self.identity = GbIdentity.of(
                config.local_account, config.server_id, config.realm, config.username, config.server
            )
        self._keepalive: KeepaliveLoop | None = None
        self._keepalive_sn = itertools.count(1)
        self.platform_time: str | None = None  # the last §9.10 Date the platform sent

    # -- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> RegisterStatus:
        """The current register_status."""
        return self._runtime.register.state

    def _set(self, to: RegisterStatus) -> None:
        if self.state is not to:
            self._runtime.register.transition(to)
            self._on_change()

    def _record(self, code: int) -> None:
        self._runtime.register_extra_info = code

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin registering in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, *, unregister: bool) -> None:
        """Stop refreshing and keepalives; with `unregister`, send Expires: 0 if a binding is
        held."""
        if self._keepalive is not None:
            await self._keepalive.stop()
            self._keepalive = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if unregister and self.bound:
            await self._unregister()
        elif self.state is not R.IDLE and self.state is not R.CLOSED:
            self._set(R.CLOSED)

    async def _run(self) -> None:
        failures = 0
        # The fault: register_status is updated only when a round ends, so the pending state
        # never shows while the REGISTER awaits its answers (it is passed through at once).
        late = self._faults.on(Fault.REGISTER_STATUS_IDLE_WHILE_PENDING)
        if not late:
            self._set(self._pending_state())
        while True:
            outcome = await self._round(self._settings.expires)
            if late and self.state is R.IDLE:
                self._set(self._pending_state())
            if outcome.ok:
                failures = 0
                self.bound = outcome.granted > 0
                self._ever_registered = True
                self._set(self._granted_state())
                if self.bound:
                    self._start_keepalive()
                basis = outcome.granted
                if self._faults.on(Fault.REFRESH_REQUESTED_EXPIRY):
                    basis = self._settings.expires
                delay = refresh_delay(basis)
                log.info(
                    "registered %s at %s:%d for %d s; refresh in %.2f s",
                    self.contact.uri,
                    self.config.server,
                    self.config.port,
                    outcome.granted,
                    delay,
                )
            else:
                self._halt_keepalive()
                if outcome.timed_out:
                    self._set(self._no_answer_state())
                else:
                    self._set(self._failure_state(outcome.code))
                delay = outcome.retry_after or backoff(self._settings, failures)
                failures += 1
                log.info(
                    "registration of %s failed (%d); retry in %.2f s",
                    self.contact.uri,
                    outcome.code,
                    delay,
                )
            await asyncio.sleep(delay)
            # An `error` that stands for a lost binding (register_status_refresh_lost=error) stays
            # until the registrar answers again; any other error is retried as `registering`.
            lost = outcome.timed_out and self._ever_registered
            if self.state in (R.ERROR, R.CLOSED) and not lost:
                self._set(R.REGISTERING)

    # -- GB28181 keepalive -------------------------------------------------------------------

    def _start_keepalive(self) -> None:
        """Keepalives while registered (GB accounts; never under the gb_no_keepalive fault)."""
        if self.identity is None or self._faults.on(Fault.GB_NO_KEEPALIVE):
            return
        if self._keepalive is not None and self._keepalive.running:
            return
        outbox = Outbox(
            self.identity, self.transport, self._layer, self.config.server, self.config.port
        )
        self._keepalive = KeepaliveLoop(outbox, self._gb, self._keepalive_sn, self._platform_lost)
        self._keepalive.start()

    def _halt_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.halt()
            self._keepalive = None

    def _platform_lost(self, code: int) -> None:
        """The keepalives say the platform no longer has us: register again from scratch."""
        log.warning(
            "%s: keepalives %s; registering again",
            self.contact.uri,
            "unanswered" if code == 408 else f"refused with {code}",
        )
        self._keepalive = None
        self._record(code)
        self._set(R.ERROR)
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _granted_state(self) -> RegisterStatus:
        """The register_status of a granted binding: registered, or connected when the process
        follows register_status_granted=connected."""
        connected = self._readings().follows(Point.REGISTER_STATUS_GRANTED, "connected")
        return R.CONNECTED if connected else R.REGISTERED

    def _pending_state(self) -> RegisterStatus:
        """The register_status while a REGISTER awaits its answer: registering, or connecting
        for an account's first registration under register_status_pending=connecting."""
        connecting = self._readings().follows(Point.REGISTER_STATUS_PENDING, "connecting")
        first = not self._ever_registered and self.state in (R.IDLE, R.CLOSED)
        return R.CONNECTING if connecting and first else R.REGISTERING

    def _no_answer_state(self) -> RegisterStatus:
        """The register_status once a REGISTER got no answer (timer F): connecting before a
        first success; after one the binding is no longer known to be valid (RFC 3261 §10.2.4),
        so reconnecting, or error under register_status_refresh_lost=error."""
        if not self._ever_registered:
            return R.CONNECTING
        if self._faults.on(Fault.REGISTERED_WHILE_REGISTRAR_SILENT) and self.state in (
            R.REGISTERED,
            R.CONNECTED,
        ):
            return self.state  # the fault: a refresh nobody answered still counts as granted
        error = self._readings().follows(Point.REGISTER_STATUS_REFRESH_LOST, "error")
        return R.ERROR if error else R.RECONNECTING

    def _failure_state(self, code: int) -> RegisterStatus:
        """The register_status after a refusal: error, or closed after a 403 when the process
        follows register_status_on_failure=closed."""
        closed = self._readings().follows(Point.REGISTER_STATUS_ON_FAILURE, "closed")
        return R.CLOSED if closed and code == 403 else R.ERROR

    async def _unregister(self) -> None:
        self._set(R.UNREGISTERING)
        try:
            outcome = await self._round(0)
        finally:
            self.bound = False
        log.info("unregistered %s (%d)", self.contact.uri, outcome.code)
        self._set(R.CLOSED)

    # -- one REGISTER round ---------------------------------------------------------------------

    async def _destination(self) -> tuple[str, int] | None:
        try:
            # A name is looked up only under --resolve-names (names.py).
            return await names.address(self.config.server, self.config.port, family=socket.AF_INET)
        except OSError as exc:
            log.warning("registrar %s: cannot resolve: %s", self.config.server, exc)
            return None

    async def _round(self, expires: int) -> Outcome:
        """One REGISTER with its challenge answers; the final outcome."""
        destination = await self._destination()
        if destination is None:
            return Outcome(0)
        answered: set[str] = set()
        authorization: tuple[str, str] | None = None
        if self._faults.on(Fault.REGISTER_CSEQ_RESTARTS):
            self._cseq = 0  # the fault: every round (a refresh too) starts again at CSeq 1
        while True:
            request = self._build(expires, authorization)
            if self.transport.closed:
                return Outcome(0)
            tx = self._layer.send_request(request, self.transport.udp_flow(destination))
            if (
                authorization is not None
                and expires > 0
                and self._faults.on(Fault.REGISTERED_BEFORE_OK)
            ):
                # The fault: answering the challenge is taken for success; the state moves to
                # registered before the registrar has said anything.
                self._set(self._granted_state())
            response = await tx.final
            if response is None:
                self._record(408)
                return Outcome(408)
            code = response.status_code
            self._record(code)
            if 200 <= code < 300:
                if self.identity is not None:
                    self._time_sync(response)
                return Outcome(code, self._granted(response, expires))
            if code in (401, 407):
                authorization = self._answer_challenge(response, answered)
                if authorization is None:
                    return Outcome(code)
                continue
            retry_after = None
            if code == 503:
                retry_after = _retry_after(response)
            return Outcome(code, retry_after=retry_after)

    def _answer_challenge(
        self, response: sip.SipResponse, answered: set[str]
    ) -> tuple[str, str] | None:
        proxy = response.status_code == 407
        value = response.headers.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        if value is None:
            log.warning("%d without a challenge", response.status_code)
            return None
        try:
            challenge = digest.Challenge.parse(value)
        except ValueError as exc:
            log.warning("unusable challenge: %s", exc)
            return None
        if self.identity is None and self.config.realm not in (ANY_REALM, challenge.realm):
            log.warning(
                "challenge realm %r is not the configured %r", challenge.realm, self.config.realm
            )
            return None
        # Challenged again after sending credentials, without stale=true: they were refused (a
        # registrar re-challenges a wrong password with a fresh nonce). Only stale nonces are
        # answered again, and those at most MAX_AUTH_ROUNDS times.
        if (answered and not challenge.stale) or len(answered) >= MAX_AUTH_ROUNDS:
            log.warning("challenged again (nonce %r): credentials refused", challenge.nonce)
            return None
        answered.add(challenge.nonce)
        try:
            uri = self._request_uri()
            if self.identity is None and self._faults.on(Fault.DIGEST_URI_WITHOUT_PORT):
                uri = f"sip:{self.config.server}"  # the fault: the port left out of the uri
            credentials = digest.build_authorization(
                challenge,
                sip.METHOD_REGISTER,
                uri,
                self.config.username if self.identity is None else self.identity.username,
                self.config.password,
            )
        except ValueError as exc:
            log.warning("cannot answer challenge: %s", exc)
            return None
        return ("Proxy-Authorization" if proxy else "Authorization"), credentials.to_header()

    def _request_uri(self) -> str:
        if self.identity is not None:
            return self.identity.platform_uri
        port = "" if self.config.port == 5060 else f":{self.config.port}"
        return f"sip:{self.config.server}{port}"

    def _build(self, expires: int, authorization: tuple[str, str] | None) -> sip.SipRequest:
        self._cseq += 1
        by_username = self._readings().follows(Point.REGISTER_AOR_USER, "username")
        user = self.config.username if by_username and self.config.username else None
        aor = f"sip:{user or self.config.local_account}@{self.config.server}"
        if self.identity is not None:
            aor = self.identity.device_uri
        headers = sip.Headers()
        headers.add("Via", self.contact.via())
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", f"<{aor}>;tag={self._from_tag}")
        headers.add("To", f"<{aor}>")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self._cseq} {sip.METHOD_REGISTER}")
        headers.add("Contact", f"<{self.contact.uri}>")
        headers.add("Expires", str(expires))
        version = self._gb.version_header if self.identity is not None else None
        if version is not None:
            headers.add(X_GB_VER, version)
        if authorization is not None:
            headers.add(*authorization)
        headers.add("User-Agent", USER_AGENT)
        headers.add("Content-Length", "0")
        return sip.SipRequest(sip.METHOD_REGISTER, self._request_uri(), headers)

    def _time_sync(self, response: sip.SipResponse) -> None:
        """§9.10: keep (and log) the platform's ``yyyy-MM-ddTHH:mm:ss.SSS`` Date; the reference
        decoder does not set the host's clock. Any other Date form is ignored."""
        value = response.headers.get("Date")
        if value is not None and parse_gb_date(value) is not None:
            self.platform_time = value.strip()
            log.info("platform time (Date): %s", self.platform_time)

    def _granted(self, response: sip.SipResponse, requested: int) -> int:
        """Our Contact's expires param, else the Expires header, else what was requested."""
        try:
            contacts = response.contacts
        except ValueError:
            contacts = []
        for contact in contacts:
            try:
                uri = contact.sip_uri()
            except ValueError:
                continue
            mine = (uri.user, uri.host, uri.port or 5060) == (
                self.contact.user,
                self.contact.host,
                self.contact.port,
            )
            value = sip.get_param(contact.params, "expires")
            if mine and value is not None and value.isdigit():
                return int(value)
        header = (response.headers.get("Expires") or "").strip()
        if header.isdigit():
            return int(header)
        return requested


def _retry_after(response: sip.SipResponse) -> float | None:
    value = (response.headers.get("Retry-After") or "").split(";")[0].split("(")[0].strip()
    return float(value) if value.isdigit() else None
