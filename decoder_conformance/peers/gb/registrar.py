"""The registrar half of the GB28181 platform (§9.1; notes §1 "How WVP acts as registrar").

- 400 to a REGISTER without ``Expires``; 403 to an ID that is not 20 digits (WVP strict mode);
- 401 Digest challenge, realm = the platform's domain (first ten digits of its ID), ``qop="auth"``
  unless `qop=False`, algorithm MD5; a stale nonce is challenged again (``stale=TRUE``);
- 403 to a wrong password, without a new challenge (WVP, noroadzh; notes §6.12);
- 200 with ``Contact``, ``Expires`` and the §9.10 ``Date: yyyy-MM-ddTHH:mm:ss.SSS``;
- a REGISTER on the Call-ID of a live binding is a refresh, accepted without a new challenge
  (as WVP does; `refresh_challenge=True` challenges it); ``Expires: 0`` removes the binding;
- ``X-GB-ver`` (2022 Annex I) on every REGISTER answer when `gb_version` is set.

The device's duties on each REGISTER (gb/checks.py) are kept as `Violation`s.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import DeviceFailure, NotExercised
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.gb import checks
from decoder_conformance.peers.gb.checks import Finding, Violation
from decoder_conformance.peers.gb.model import Registration, gb_date
from decoder_conformance.peers.gb.transport import Route, SipServer
from decoder_conformance.peers.register_duties import CSeqTracker
from wire import digest, gb_id
from wire.sip import SipRequest, SipResponse, make_response, new_tag


class GbRegistrar(SipServer):
    """Registrar with GB rules and the registration view; GbPlatform adds the rest."""

    def __init__(
        self,
        platform_id: str,
        *,
        password: str,
        users: dict[str, str] | None,
        qop: bool,
        grant: int | None,
        date: str | None,
        gb_version: str | None,
        strict_ids: bool,
        refresh_challenge: bool,
        grant_headers: Sequence[tuple[str, str]] = (),
        host: str = LOOPBACK,
    ) -> None:
        gb_id.parse_id(platform_id)
        super().__init__(host)
        self.platform_id = platform_id
        self.domain = gb_id.realm_of(platform_id)
        self.password = password
        self.users = dict(users or {})
        self.qop = qop
        self.grant = grant
        self.date = date
        self.gb_version = gb_version
        self.strict_ids = strict_ids
        self.refresh_challenge = refresh_challenge
        #: headers added to every 200 to a REGISTER (unknown ones a device must get past)
        self.grant_headers = tuple(grant_headers)
        self._bindings: dict[str, Registration] = {}
        self._nonces: set[str] = set()
        self._cseqs = CSeqTracker()  # the highest CSeq per Call-ID of the device's REGISTERs
        self._violations: list[Violation] = []

    # -- the registration view -------------------------------------------------------------

    def _live(self, device_id: str) -> Registration | None:
        binding = self._bindings.get(device_id)
        if binding is not None and time.monotonic() >= binding.expires_at:
            del self._bindings[device_id]
            return None
        return binding

    def binding(self, device_id: str) -> Registration | None:
        """The live binding of `device_id` (None when not registered)."""
        with self._lock:
            return self._live(device_id)

    def registered(self, device_id: str) -> bool:
        """True while `device_id` has a live binding."""
        return self.binding(device_id) is not None

    def wait_registered(self, device_id: str, *, timeout: float) -> Registration:
        """The binding once `device_id` is registered; DeviceTimeout listing its REGISTERs."""

        def ready() -> str | None:
            if self._live(device_id) is not None:
                return None
            registers = self._registers_of(device_id)
            lines = "\n".join(f"  {r.t:.3f} {r.first_line}" for r in registers) or "  (none)"
            return f"expected {device_id} registered; its REGISTERs:\n{lines}"

        self._wait_state(ready, timeout=timeout)
        binding = self.binding(device_id)
        if binding is None:  # lapsed in between: a zero-length grant
            raise NotExercised(f"harness invariant: the binding of {device_id} lapsed at once")
        return binding

    def _registers_of(self, device_id: str) -> list[WireRecord]:
        found = []
        for record in self._records:
            if record.direction == "RX" and record.is_request_of("REGISTER"):
                message = record.message
                if checks.user_of(message.from_addr) == device_id:
                    found.append(record)
        return found

    # -- violations ------------------------------------------------------------------------

    def violations(self, code: str | None = None, device_id: str | None = None) -> list[Violation]:
        """The device duties broken so far (of `code`, by `device_id`, when given), in order."""
        with self._lock:
            return [
                v
                for v in self._violations
                if (code is None or v.code == code)
                and (device_id is None or v.device_id == device_id)
            ]

    def raise_violations(self, codes: Iterable[str] | None = None) -> None:
        """DeviceFailure listing the violations (of `codes`) seen so far; nothing when none."""
        wanted = None if codes is None else set(codes)
        found = [v for v in self.violations() if wanted is None or v.code in wanted]
        if found:
            raise DeviceFailure(
                f"the device broke {len(found)} GB28181 duties seen by the platform:\n"
                + "\n".join(f"  {v}" for v in found)
            )

    def _violate(self, record: WireRecord, device_id: str, findings: Iterable[Finding]) -> None:
        with self._lock:
            for code, detail in findings:
                self._violations.append(Violation(record.t, device_id, code, detail, record))

    def _answer(self, request: SipRequest, code: int) -> SipResponse:
        response = make_response(request, code, to_tag=new_tag())
        if request.method == "REGISTER" and self.gb_version is not None:
            response.headers.add("X-GB-ver", self.gb_version)
        return response

    # -- REGISTER --------------------------------------------------------------------------

    def _register(self, received: WireRecord, request: SipRequest, route: Route) -> None:
        try:
            from_addr, _to, _cseq = request.from_addr, request.to_addr, request.cseq.number
        except ValueError as exc:
            self._violate(received, "", [(checks.URI_USER, f"REGISTER unreadable: {exc}")])
            self.reply(received, route, self._answer(request, 400))
            return
        device = checks.user_of(from_addr)
        expires_text = request.headers.get("Expires")
        if expires_text is None or not expires_text.strip().isdigit():
            detail = f"REGISTER Expires {expires_text!r}: a GB platform answers 400 (WVP)"
            self._violate(received, device, [(checks.NO_EXPIRES, detail)])
            self.reply(received, route, self._answer(request, 400))
            return
        expires = int(expires_text)
        if self.strict_ids and not gb_id.is_valid_id(device):
            detail = f"From user {device!r} is not a 20-digit GB28181 ID: 403 (WVP strict mode)"
            self._violate(received, device, [(checks.BAD_ID, detail)])
            self.reply(received, route, self._answer(request, 403))
            return
        call_id = request.call_id or ""
        findings = self._register_findings(request, device, expires, call_id)
        with self._lock:
            binding = self._live(device)
        header = request.headers.get("Authorization")
        refresh = binding is not None and binding.call_id == call_id and not self.refresh_challenge
        if header is None:
            self._violate(received, device, findings)
            if refresh:
                self._grant(received, route, request, device, expires)
            else:
                self._challenge(received, route, request, stale=False)
            return
        try:
            credentials = digest.Credentials.parse(header)
        except ValueError as exc:
            findings.append((checks.AUTH_MALFORMED, f"Authorization {header!r}: {exc}"))
            self._violate(received, device, findings)
            self.reply(received, route, self._answer(request, 400))
            return
        findings += checks.credential_findings(
            credentials, request, device_id=device, realm=self.domain, usernames=set(self.users)
        )
        with self._lock:
            known_nonce = credentials.nonce in self._nonces
        if not known_nonce:
            self._violate(received, device, findings)
            self._challenge(received, route, request, stale=True)
            return
        password = self.users.get(credentials.username, self.password)
        try:
            good = digest.verify(credentials, password, "REGISTER")
        except ValueError as exc:
            findings.append((checks.AUTH_MALFORMED, f"Authorization cannot be verified: {exc}"))
            good = False
        if not good:
            findings.append(
                (checks.AUTH_RESPONSE, f"digest response of {credentials.username!r} is wrong")
            )
        self._violate(received, device, findings)
        if not good or credentials.realm != self.domain:
            # A wrong password is refused outright: no new challenge (WVP; notes §6.12).
            self.reply(received, route, self._answer(request, 403))
            return
        self._grant(received, route, request, device, expires)

    def _register_findings(
        self,
        request: SipRequest,
        device: str,
        expires: int,
        call_id: str,
    ) -> list[Finding]:
        findings = checks.address_findings("From", request.from_addr, None)
        to_user = checks.user_of(request.to_addr)
        if to_user != device:
            findings.append((checks.FROM_TO_DIFFER, f"REGISTER To user {to_user} is not {device}"))
        else:
            findings += checks.address_findings("To", request.to_addr, device)
        findings += checks.request_uri_findings(request, self.platform_id)
        if expires > 0 and not request.contacts:
            findings.append((checks.NO_CONTACT, "REGISTER without Contact"))
        with self._lock:
            binding = self._live(device)
        findings += self._cseqs.findings(request)
        if binding is not None and binding.call_id != call_id:
            code = checks.UNREGISTER_CALL_ID if expires == 0 else checks.CALL_ID_CHANGED
            findings.append(
                (code, f"Call-ID {call_id} while registered on Call-ID {binding.call_id}")
            )
        return findings

    def _challenge(
        self, received: WireRecord, route: Route, request: SipRequest, *, stale: bool
    ) -> None:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        challenge = digest.Challenge(
            realm=self.domain,
            nonce=nonce,
            algorithm=digest.ALGORITHM_MD5,
            qop=[digest.QOP_AUTH] if self.qop else None,
            stale=stale,
        )
        response = self._answer(request, 401)
        response.headers.add("WWW-Authenticate", challenge.to_header())
        self.reply(received, route, response)

    def _grant(
        self, received: WireRecord, route: Route, request: SipRequest, device: str, expires: int
    ) -> None:
        response = self._answer(request, 200)
        now = time.monotonic()
        if expires == 0:
            with self._lock:
                self._bindings.pop(device, None)
                self._lock.notify_all()
            response.headers.add("Expires", "0")
        else:
            granted = expires if self.grant is None else min(expires, self.grant)
            contacts = request.contacts
            contact = str(contacts[0].uri) if contacts else ""
            binding = Registration(
                device,
                contact,
                request.call_id or "",
                request.cseq.number,
                granted,
                now,
                route,
                now,
            )
            with self._lock:
                self._bindings[device] = binding
                self._lock.notify_all()
            if contact:
                response.headers.add("Contact", f"<{contact}>;expires={granted}")
            response.headers.add("Expires", str(granted))
        response.headers.add("Date", self.date or gb_date())
        for name, value in self.grant_headers:
            response.headers.add(name, value)
        self.reply(received, route, response)
