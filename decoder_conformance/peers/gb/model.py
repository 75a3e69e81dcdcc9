"""What the GB28181 platform keeps about devices: bindings, keepalives, MANSCDP in, queries."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.peers.gb.transport import Route
from wire import manscdp
from wire.sip import SipRequest


class Presence(enum.Enum):
    """The platform's view of one device."""

    UNREGISTERED = "unregistered"  # no live binding (never, expired, unregistered, restart)
    ONLINE = "online"
    OFFLINE = "offline"  # registered, but `count` keepalive intervals passed in silence


def gb_date(now: datetime.datetime | None = None) -> str:
    """The §9.10 time-sync Date value: ``yyyy-MM-ddTHH:mm:ss.SSS`` (not RFC 1123), local time."""
    moment = now or datetime.datetime.now()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@dataclass
class Registration:
    """A live binding: who, where, for how long, and the REGISTER dialog's Call-ID and CSeq."""

    device_id: str
    contact: str
    call_id: str
    cseq: int
    expires: int
    at: float  # monotonic time of the 200
    route: Route
    last_seen: float = 0.0  # the 200 or the last keepalive answered 200

    @property
    def expires_at(self) -> float:
        """Monotonic time the binding lapses."""
        return self.at + self.expires


@dataclass
class ManscdpIn:
    """One MESSAGE from the device: its record, the SIP request and the body as read."""

    record: WireRecord
    request: SipRequest
    from_user: str
    parsed: manscdp.ParseResult | None
    error: str | None  # why no tree could be read (parsed is then None)
    answered: int | None = None  # the status the platform sent (None: silence)

    @property
    def message(self) -> manscdp.Message | None:
        """The MANSCDP message, when one could be read."""
        return None if self.parsed is None else self.parsed.message

    @property
    def problems(self) -> list[manscdp.Problem]:
        """wire.manscdp's problems with the body (encoding mismatch, missing fields, ...)."""
        return [] if self.parsed is None else list(self.parsed.detected_problems)

    def describe(self) -> str:
        """One line for timeout and failure messages."""
        message = self.message
        if message is None:
            return f"{self.record.t:.3f} unreadable MANSCDP from {self.from_user}: {self.error}"
        return (
            f"{self.record.t:.3f} {message.root}/{message.cmd_type} SN={message.sn} "
            f"DeviceID={message.device_id} from {self.from_user}"
        )


@dataclass
class KeepaliveSeen:
    """One Notify/Keepalive as it arrived (retransmissions are answered, not counted again)."""

    t: float
    from_user: str
    sn: int | None
    device_id: str | None
    status: str | None
    problems: list[manscdp.Problem]
    answered: int | None
    incoming: ManscdpIn


@dataclass
class Query:
    """A Query the platform sent, the device's answer to the MESSAGE and its Response(s)."""

    sn: int
    device_id: str
    message: manscdp.Message
    sent: WireRecord | None = None  # None in the instant between filing and sending it
    answer: int | None = None  # the device's final status to the MESSAGE Query
    responses: list[ManscdpIn] = field(default_factory=list)
    #: Responses that were meant for this query but do not match it, with what is wrong.
    mismatched: list[tuple[ManscdpIn, list[str]]] = field(default_factory=list)

    @property
    def cmd_type(self) -> str:
        """The query's CmdType."""
        return self.message.cmd_type

    def messages(self) -> list[manscdp.Message]:
        """The matching Response messages, in arrival order."""
        return [m for r in self.responses if (m := r.message) is not None]

    def complete(self) -> bool:
        """True once the answer is whole: every Catalog part (SumNum items), else one Response.

        ManscdpError when Catalog parts disagree (SN, DeviceID, SumNum, too many items).
        """
        messages = self.messages()
        if not messages:
            return False
        if self.cmd_type != manscdp.CMD_CATALOG:
            return True
        return manscdp.collect_catalog(messages).complete

    def expected(self) -> str:
        """What answers this query, in words."""
        what = "every part (SumNum items) of " if self.cmd_type == manscdp.CMD_CATALOG else ""
        return (
            f"{what}a MESSAGE <Response> CmdType={self.cmd_type} SN={self.sn} "
            f"DeviceID={self.device_id}"
        )
