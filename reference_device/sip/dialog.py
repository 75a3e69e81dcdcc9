"""Dialogs (RFC 3261 §12): identity, route set, remote target, CSeq, and in-dialog requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from reference_device.sip.transport import Flow
from wire import sip

MAX_FORWARDS = "70"
USER_AGENT = "reference-decoder"


@dataclass
class LocalContact:
    """How this UA names itself on one transport: user, IP, port, transport name."""

    user: str
    host: str
    port: int
    protocol: str = "UDP"

    @property
    def uri(self) -> str:
        """``sip:user@host:port``."""
        return (
            f"sip:{self.user}@{self.host}:{self.port}"
            if self.user
            else (f"sip:{self.host}:{self.port}")
        )

    def via(self) -> str:
        """A Via value with a fresh branch and rport."""
        return f"SIP/2.0/{self.protocol} {self.host}:{self.port};branch={sip.new_branch()};rport"


def uri_address(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """(host, port) a SIP URI points at (maddr ignored)."""
    parsed = sip.SipUri.parse(uri)
    return parsed.host, parsed.port or default_port


@dataclass
class Dialog:
    """One dialog as seen from this UA."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None
    flow: Flow | None = None

    @classmethod
    def as_uas(cls, request: sip.SipRequest, local_tag: str, flow: Flow) -> Dialog:
        """The dialog an INVITE creates on the answering side (§12.1.1)."""
        contacts = request.contacts
        target = contacts[0].uri if contacts else request.from_addr.uri
        return cls(
            call_id=request.call_id or "",
            local_tag=local_tag,
            remote_tag=request.from_addr.tag or "",
            local_uri=request.to_addr.uri,
            remote_uri=request.from_addr.uri,
            remote_target=target,
            route_set=list(request.headers.get_list("Record-Route")),
            local_cseq=0,
            remote_cseq=request.cseq.number,
            flow=flow,
        )

    @classmethod
    def as_uac(cls, request: sip.SipRequest, response: sip.SipResponse, flow: Flow) -> Dialog:
        """The dialog a 2xx to our INVITE creates (§12.1.2): route set reversed."""
        contacts = response.contacts
        target = contacts[0].uri if contacts else request.uri
        return cls(
            call_id=request.call_id or "",
            local_tag=request.from_addr.tag or "",
            remote_tag=response.to_addr.tag or "",
            local_uri=request.from_addr.uri,
            remote_uri=request.to_addr.uri,
            remote_target=target,
            route_set=list(reversed(response.headers.get_list("Record-Route"))),
            local_cseq=request.cseq.number,
            flow=flow,
        )

    def matches(self, message: sip.SipMessage, *, incoming: bool = True) -> bool:
        """Whether `message` belongs here (Call-ID and both tags)."""
        if message.call_id != self.call_id:
            return False
        try:
            from_tag, to_tag = message.from_addr.tag, message.to_addr.tag
        except ValueError:
            return False
        if incoming:
            return from_tag == self.remote_tag and to_tag == self.local_tag
        return from_tag == self.local_tag and to_tag == self.remote_tag

    def accept_remote_cseq(self, number: int) -> bool:
        """§12.2.2: a lower CSeq than the last one is out of order (answer 500)."""
        if self.remote_cseq is not None and number < self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def next_hop(self) -> tuple[str, int]:
        """Where in-dialog requests go: the first route, else the remote target."""
        if self.route_set:
            return uri_address(sip.NameAddr.parse(self.route_set[0]).uri)
        return uri_address(self.remote_target)

    def request(
        self, method: str, contact: LocalContact, *, cseq: int | None = None, via: str | None = None
    ) -> sip.SipRequest:
        """A new in-dialog request (§12.2.1.1); a new CSeq unless given (ACK, CANCEL)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and "lr" not in sip.NameAddr.parse(routes[0]).sip_uri().params:
            uri = sip.NameAddr.parse(routes[0]).uri  # strict routing (§12.2.1.1)
            routes = [*routes[1:], f"<{self.remote_target}>"]
        headers = sip.Headers()
        headers.add("Via", via or contact.via())
        headers.add("Max-Forwards", MAX_FORWARDS)
        for route in routes:
            headers.add("Route", route)
        headers.add("From", f"<{self.local_uri}>;tag={self.local_tag}")
        headers.add("To", f"<{self.remote_uri}>;tag={self.remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        headers.add("Contact", f"<{contact.uri}>")
        headers.add("User-Agent", USER_AGENT)
        headers.add("Content-Length", "0")
        return sip.SipRequest(method, uri, headers)
