"""MESSAGEs the device sends to its platform: keepalives and query Responses (§9.5, §9.6).

Each is an out-of-dialog MESSAGE over UDP from the account's transport to
`registerServer:registerPort`::

    MESSAGE sip:<serverId>@<domain> SIP/2.0
    Via: SIP/2.0/UDP <ip>:<port>;branch=z9hG4bK...;rport
    Max-Forwards: 70
    From: <sip:<deviceID>@<domain>>;tag=...
    To: <sip:<serverId>@<domain>>
    Call-ID: ...@<ip>
    CSeq: <n> MESSAGE
    User-Agent: reference-decoder
    Content-Type: Application/MANSCDP+xml
    Content-Length: ...

Bodies are in the edition's charset (GB2312 under 2016, GB18030 under 2022) with a matching XML
declaration (`encode`); the `gb_utf8_under_gb2312` fault
writes UTF-8 bytes under the same GB2312 declaration.
"""

from __future__ import annotations

import logging
import socket
from typing import Final

from reference_device.gb.identity import GbIdentity
from reference_device.sip import names
from reference_device.sip.dialog import MAX_FORWARDS, USER_AGENT, LocalContact
from reference_device.sip.transaction import TransactionLayer
from reference_device.sip.transport import Transport
from wire import manscdp, sip

log = logging.getLogger(__name__)

#: RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1500) or above 1300 bytes
#: when the MTU is unknown must go over a congestion-controlled transport; over UDP the device
#: keeps every MESSAGE at or under this size (a Catalog is split to fit, Annex N).
UDP_MESSAGE_LIMIT: Final = 1300


def encode(message: manscdp.Message, charset: str, *, utf8_under_gb2312: bool = False) -> bytes:
    """The body in `charset` (the edition's) with a matching declaration; with the fault, UTF-8
    bytes under a GB2312 declaration."""
    if not utf8_under_gb2312:
        return manscdp.build(message, charset)
    text = manscdp.build(message, manscdp.ENCODING_UTF8)
    return text.replace(
        f'encoding="{manscdp.ENCODING_UTF8}"'.encode(),
        f'encoding="{manscdp.ENCODING_GB2312}"'.encode(),
        1,
    )


class Outbox:
    """Builds and sends the device's MESSAGEs to one platform on one transport."""

    def __init__(
        self,
        identity: GbIdentity,
        transport: Transport,
        layer: TransactionLayer,
        server: str,
        port: int,
    ) -> None:
        self.identity = identity
        self.transport = transport
        self._layer = layer
        self._server = server
        self._port = port
        self._contact = LocalContact(identity.device_id, transport.host, transport.port)
        self._call_id = sip.new_call_id(transport.host)
        self._from_tag = sip.new_tag()
        self._cseq = 0

    async def destination(self) -> tuple[str, int] | None:
        """The platform's address (registerServer resolved), None when it does not resolve."""
        try:
            # A name is looked up only under --resolve-names (names.py).
            return await names.address(self._server, self._port, family=socket.AF_INET)
        except OSError as exc:
            log.warning("GB platform %s: cannot resolve: %s", self._server, exc)
            return None

    def request(self, body: bytes) -> sip.SipRequest:
        """A MANSCDP MESSAGE to the platform (one Call-ID and From tag per outbox, CSeq increasing,
        as RFC 3428 §7 allows for a series of MESSAGEs)."""
        self._cseq += 1
        headers = sip.Headers()
        headers.add("Via", self._contact.via())
        headers.add("Max-Forwards", MAX_FORWARDS)
        headers.add("From", f"<{self.identity.device_uri}>;tag={self._from_tag}")
        headers.add("To", f"<{self.identity.platform_uri}>")
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} {sip.METHOD_MESSAGE}")
        headers.add("User-Agent", USER_AGENT)
        headers.add("Content-Type", manscdp.CONTENT_TYPE)
        headers.add("Content-Length", str(len(body)))
        return sip.SipRequest(sip.METHOD_MESSAGE, self.identity.platform_uri, headers, body)

    def body_budget(self) -> int:
        """How many body bytes keep a MESSAGE within UDP_MESSAGE_LIMIT (its head measured)."""
        head = len(self.request(b"").to_bytes())
        self._cseq -= 1  # the measuring request is never sent
        return UDP_MESSAGE_LIMIT - head - len(str(UDP_MESSAGE_LIMIT))

    async def send(self, body: bytes) -> sip.SipResponse | None:
        """Send one MESSAGE; its final response, None on timeout (timer F) or no route."""
        destination = await self.destination()
        if destination is None or self.transport.closed:
            return None
        tx = self._layer.send_request(self.request(body), self.transport.udp_flow(destination))
        return await tx.final
