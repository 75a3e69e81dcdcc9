"""One captured-message type for every peer: what crossed the wire, from the peer's side.

Every peer (registrar, raw caller and callee, pjsua2, SIPp, the media sender) exposes what it sent
and received as `WireRecord`s through `records()`. A record keeps the raw bytes and parses them
lazily with `wire.sip`, so a record of bytes the device sent that are not SIP still exists (and
its `message` raises `DeviceFailure`, since malformed SIP from the device is the device's defect).
Ladders (report/ladder.py) and pcaps (report/pcap.py) are drawn from records and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from decoder_conformance.failures import DeviceFailure
from wire import sip
from wire.rtp_tcp import frame as rfc4571_frame

if TYPE_CHECKING:
    from decoder_conformance.media.sender import RtpSender

Direction = Literal["TX", "RX"]
Transport = Literal["udp", "tcp"]
Protocol = Literal["sip", "rtp"]
Address = tuple[str, int]


def address_text(address: Address) -> str:
    """ "host:port" of an address tuple."""
    return f"{address[0]}:{address[1]}"


@dataclass(frozen=True)
class WireRecord:
    """One message a peer sent (TX) or received (RX), with monotonic time and both addresses.

    `local` is the peer's own socket address, `remote` the other end. `protocol` is "sip" for SIP
    messages and "rtp" for media packets (which have no parsed message).
    """

    t: float
    direction: Direction
    transport: Transport
    local: Address
    remote: Address
    raw: bytes = field(repr=False)
    protocol: Protocol = "sip"

    @property
    def src(self) -> Address:
        """The sender's address."""
        return self.local if self.direction == "TX" else self.remote

    @property
    def dst(self) -> Address:
        """The receiver's address."""
        return self.remote if self.direction == "TX" else self.local

    @cached_property
    def message(self) -> sip.SipMessage:
        """The SIP message, parsed on first use.

        Bytes that are not SIP raise DeviceFailure when the device sent them (RX), and ValueError
        when the peer itself sent them (TX: a suite bug or a deliberately malformed message).
        """
        if self.protocol != "sip":
            raise ValueError(f"a {self.protocol} record has no SIP message")
        try:
            return sip.parse(self.raw)
        except ValueError as exc:
            if self.direction == "RX":
                raise DeviceFailure(
                    f"the device sent {len(self.raw)} bytes over {self.transport} from "
                    f"{address_text(self.remote)} that are not a SIP message ({exc}): "
                    f"{self.raw[:200]!r}"
                ) from None
            raise

    @property
    def first_line(self) -> str:
        """The start line as sent (without parsing), for reports; '' for RTP."""
        if self.protocol != "sip":
            return ""
        return self.raw.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")

    @property
    def is_request(self) -> bool:
        """True for a SIP request (by its start line)."""
        return self.protocol == "sip" and not self.first_line.startswith("SIP/2.0")

    def status_of(self, method: str) -> int | None:
        """The status code when this is a SIP response to `method` (by CSeq), else None."""
        if self.protocol != "sip" or self.is_request:
            return None
        message = self.message
        if isinstance(message, sip.SipResponse) and message.cseq.method == method:
            return message.status_code
        return None

    def is_request_of(self, method: str) -> bool:
        """True for a SIP `method` request."""
        if not self.is_request:
            return False
        message = self.message
        return isinstance(message, sip.SipRequest) and message.method == method

    @property
    def text(self) -> str:
        """The raw bytes as text (invalid UTF-8 replaced), for reports."""
        return self.raw.decode("utf-8", "replace")

    # The ladder row (report/ladder.py draws any object with these five attributes).

    @property
    def label(self) -> str:
        """Arrow label: "INVITE sip:x" or "200 OK (INVITE)"; for RTP "RTP <n> bytes"."""
        if self.protocol != "sip":
            return f"RTP {len(self.raw)} bytes"
        line = self.first_line
        if not self.is_request:
            label = line.removeprefix("SIP/2.0 ")
            try:
                return f"{label} ({self.message.cseq.method})"
            except (ValueError, DeviceFailure):
                return label
        return line.removesuffix(" SIP/2.0")

    @property
    def detail(self) -> str:
        """The whole message, for the text ladder and tooltips."""
        return self.text if self.protocol == "sip" else ""

    @property
    def src_text(self) -> str:
        """Sender as "host:port"."""
        return address_text(self.src)

    @property
    def dst_text(self) -> str:
        """Receiver as "host:port"."""
        return address_text(self.dst)


def sip_only(records: Iterable[WireRecord]) -> list[WireRecord]:
    """The SIP records of `records`, in order."""
    return [r for r in records if r.protocol == "sip"]


def merged(*streams: Iterable[WireRecord]) -> list[WireRecord]:
    """Records of several peers in time order (one monotonic clock: the suite process's).

    A message between two of the suite's own peers appears once from each side; both are kept,
    since each side's record is its own evidence.
    """
    return sorted((r for stream in streams for r in stream), key=lambda r: r.t)


def rtp_records(sender: RtpSender) -> list[WireRecord]:
    """The RTP packets `sender` sent (not dropped) as TX records (protocol "rtp"), in order.

    The media sender sits below peers/ and cannot make records itself; it keeps a reference to
    every packet's bytes in its ground truth, and the records are built here, on demand, so the
    paced send path pays nothing. Over TCP a record's bytes are the RFC 4571 frame (length
    prefix and packet), as they went on the stream. None before the sender has a socket.
    """
    local = sender.local_address
    if local is None:
        return []
    transport: Transport = "tcp" if sender.tcp else "udp"
    remote = (sender.host, sender.port)
    return [
        WireRecord(
            p.t,
            "TX",
            transport,
            local,
            remote,
            rfc4571_frame(p.data) if sender.tcp else p.data,
            protocol="rtp",
        )
        for p in sender.sent_packets()
    ]
