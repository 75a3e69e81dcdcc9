"""IP-level malformed cases built and sent with scapy: a SIP OPTIONS in IP fragments, one with a
wrong UDP checksum, and datagrams whose UDP or IP length is shorter than the SIP message.

scapy builds the packets (`fragment`, explicit `chksum` and `len` fields) and sends them at layer
3 with its default Linux socket (an AF_PACKET socket on the route's interface, so the IP total
length goes out as written; a raw IP socket would have the kernel rewrite it). Sending needs
root or CAP_NET_RAW: without it `NotPermitted` is raised and the case is not exercised. A sniffer
started before the send (its start awaited on an event) proves the packet went out, so a case
judging that nothing answered has seen its packet on the wire first.

Every packet goes to the device's SIP address from the suite's own UDP socket address, so the
device's answers reach that socket through the kernel as for any datagram. The `judge_*`
functions are pure: the negative controls feed them recorded bad observations.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.waiting import PeerTimeout, poll_until
from wire import sip

#: How long a sniffer may take to start, and to see a packet after it was sent.
SNIFF_START = 3.0
SNIFF_SEE = 2.0
#: The fragmented OPTIONS is padded to this many bytes, so 256-byte fragments make several.
FRAGMENTED_SIZE = 1200


class NotPermitted(Exception):
    """scapy could not open a raw socket (not root, no CAP_NET_RAW)."""


@dataclass
class Sent:
    """What an IP-level case sent: the SIP request inside, how many packets, and whether the
    sniffer saw the (first) packet leave."""

    request: sip.SipRequest
    packets: int
    seen_on_wire: bool
    note: str = ""


@dataclass
class Probe:
    """A UDP socket of the suite and the device's SIP address (the account `user` there)."""

    sock: socket.socket
    host: str
    port: int
    user: str
    log: list[WireRecord] = field(default_factory=list)
    #: Every response the socket received, whatever it answered.
    received: list[sip.SipResponse] = field(default_factory=list)

    @property
    def local(self) -> tuple[str, int]:
        """The socket's address (the packets' source)."""
        name = self.sock.getsockname()
        return str(name[0]), int(name[1])

    def options(self, pad: int = 0) -> sip.SipRequest:
        """A plain OPTIONS from the socket to the account (Subject-padded to `pad` bytes)."""
        uri = f"sip:{self.user}@{self.host}:{self.port}"
        request = sip.make_request(
            sip.METHOD_OPTIONS,
            uri,
            sent_by=self.local,
            from_uri=f"sip:conformance@{self.local[0]}",
            from_tag=sip.new_tag(),
            to_uri=uri,
            call_id=sip.new_call_id(self.local[0]),
            cseq=1,
        )
        short = pad - len(request.to_bytes()) - len(b"Subject: \r\n")
        if short > 0:
            request.headers.add("Subject", "x" * short)
        return request

    def _record(self, direction: str, data: bytes) -> None:
        remote = (self.host, self.port)
        self.log.append(
            WireRecord(
                time.monotonic(),
                "TX" if direction == "TX" else "RX",
                "udp",
                self.local,
                remote,
                data,
            )
        )

    def answer_to(self, request: sip.SipRequest, timeout: float) -> sip.SipResponse | None:
        """The final answer to `request`: one received already (while waiting for another), or
        one arriving within `timeout` (0: only what is there)."""
        deadline = time.monotonic() + timeout
        while True:
            for answer in self.received:
                if answer.status_code >= 200 and answer.call_id == request.call_id:
                    return answer
            self.sock.settimeout(max(deadline - time.monotonic(), 0.0) or 0.001)
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, BlockingIOError):
                return None
            self._record("RX", data)
            try:
                message = sip.parse(data)
            except ValueError:
                continue
            if isinstance(message, sip.SipResponse):
                self.received.append(message)

    def options_alive(self, timeout: float) -> bool:
        """An OPTIONS sent from the socket is answered within `timeout`."""
        request = self.options()
        self._record("TX", request.to_bytes())
        self.sock.sendto(request.to_bytes(), (self.host, self.port))
        return self.answer_to(request, timeout) is not None

    # -- the cases ---------------------------------------------------------------------------------

    def send_fragmented(self, fragment_size: int) -> Sent:
        """An OPTIONS of FRAGMENTED_SIZE bytes in IP fragments of `fragment_size` bytes."""
        from scapy.layers.inet import IP, UDP, fragment  # imported here: scapy loads slowly
        from scapy.packet import Raw

        request = self.options(FRAGMENTED_SIZE)
        data = request.to_bytes()
        packet = (
            IP(src=self.local[0], dst=self.host, id=secrets.randbelow(0xFFFF) + 1)
            / UDP(sport=self.local[1], dport=self.port)
            / Raw(data)
        )
        pieces: list[Any] = fragment(packet, fragsize=fragment_size)  # type: ignore[no-untyped-call]
        self._record("TX", data)
        seen = _send(pieces, self._first_fragment(), (self.local[1], self.port))
        return Sent(request, len(pieces), seen, f"{len(pieces)} fragments of {fragment_size} bytes")

    def send_bad_checksum(self, timeout: float) -> Sent:
        """An OPTIONS whose UDP checksum is wrong (not zero, not the right one)."""
        from scapy.layers.inet import IP, UDP
        from scapy.packet import Raw

        request = self.options()
        data = request.to_bytes()
        built = (
            IP(src=self.local[0], dst=self.host)
            / UDP(sport=self.local[1], dport=self.port)
            / Raw(data)
        )
        good = int(IP(bytes(built))[UDP].chksum)
        bad = good ^ 0x5A5A or 0x1234
        packet = (
            IP(src=self.local[0], dst=self.host)
            / UDP(sport=self.local[1], dport=self.port, chksum=bad)
            / Raw(data)
        )
        self._record("TX", data)
        before = udp_checksum_errors()
        seen = _send(
            [packet], self._matcher(lambda p: int(p.chksum) == bad), (self.local[1], self.port)
        )
        note = f"checksum {bad:#06x} instead of {good:#06x}"
        if before is not None and self.host == self.local[0]:
            # Sent to this host: its kernel counts the drop, a second proof (or the only one
            # when the sniffer was too slow to see the packet).
            try:
                after = poll_until(
                    udp_checksum_errors,
                    lambda count: count is not None and count > before,
                    timeout=SNIFF_SEE,
                    expected="Udp InCsumErrors of this host to grow",
                    timeout_error=PeerTimeout,
                )
            except PeerTimeout:
                after = udp_checksum_errors()
            note += f"; this host's Udp InCsumErrors {before} -> {after}"
            seen = seen or (after is not None and after > before)
        return Sent(request, 1, seen, note)

    def send_truncated(self, short: str) -> Sent:
        """An OPTIONS whose UDP length (`udp-length`) or IP total length (`ip-length`) covers
        only half of it; UDP checksum 0 (none), so only the length decides.

        `ip-length` is exercised only where the packet leaves as written: Linux rewrites the
        total length of what a raw IP socket sends (raw_send_hdrinc), which is how scapy sends
        to a loopback address, so the suite uses `udp-length` against a device on this host."""
        from scapy.layers.inet import IP, UDP
        from scapy.packet import Raw

        request = self.options()
        data = request.to_bytes()
        half = len(data) // 2
        if short == "udp-length":
            packet = (
                IP(src=self.local[0], dst=self.host)
                / UDP(sport=self.local[1], dport=self.port, len=8 + half, chksum=0)
                / Raw(data)
            )
        elif short == "ip-length":
            packet = (
                IP(src=self.local[0], dst=self.host, len=20 + 8 + half)
                / UDP(sport=self.local[1], dport=self.port, len=8 + len(data), chksum=0)
                / Raw(data)
            )
        else:
            raise ValueError(f"unknown truncation {short!r}")
        self._record("TX", data)
        seen = _send([packet], self._matcher(lambda p: True), (self.local[1], self.port))
        return Sent(request, 1, seen, f"{short} covers {half} of {len(data)} bytes")

    def _first_fragment(self) -> Any:
        """Matches the first IP fragment of a datagram to the device (it carries no parsed
        UDP layer: scapy leaves a fragment's payload raw)."""
        host = self.host

        def match(packet: Any) -> bool:
            from scapy.layers.inet import IP

            return IP in packet and packet[IP].dst == host and int(packet[IP].frag) == 0

        return match

    def _matcher(self, more: Any) -> Any:
        sport, dport = self.local[1], self.port

        def match(packet: Any) -> bool:
            from scapy.layers.inet import UDP

            if UDP not in packet:
                return False
            udp = packet[UDP]
            return int(udp.sport) == sport and int(udp.dport) == dport and bool(more(udp))

        return match


def udp_checksum_errors() -> int | None:
    """This host's count of UDP datagrams dropped for a bad checksum (Linux /proc/net/snmp)."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as handle:
            lines = [line.split() for line in handle if line.startswith("Udp:")]
    except OSError:
        return None
    if len(lines) < 2 or "InCsumErrors" not in lines[0]:
        return None
    return int(lines[1][lines[0].index("InCsumErrors")])


def _bpf(expression: str, iface: str) -> str | None:
    """`expression` if libpcap can compile it here, else None (the Python filter alone)."""
    try:
        from scapy.arch.common import compile_filter

        compile_filter(expression, iface)
    except Exception:  # no libpcap, or a filter it refuses: the sniffer filters in Python
        return None
    return expression


def _send(packets: list[Any], match: Any, ports: tuple[int, int]) -> bool:
    """Send `packets` at layer 3; True when a sniffer saw one matching `match` leave.

    A kernel (BPF) filter on the UDP ports (`ports`: source, destination; it matches the first
    fragment of a fragmented datagram) keeps a busy loopback from drowning the sniffer."""
    from scapy.config import conf
    from scapy.sendrecv import AsyncSniffer, send

    iface = conf.route.route(packets[0].dst)[0]
    expression = _bpf(f"udp and src port {ports[0]} and dst port {ports[1]}", iface)
    started = threading.Event()
    try:
        sniffer = AsyncSniffer(
            iface=iface,
            filter=expression,
            lfilter=match,
            count=1,
            store=True,
            started_callback=started.set,
        )
        sniffer.start()
    except PermissionError as exc:
        raise NotPermitted(str(exc)) from None
    try:
        if not started.wait(SNIFF_START):
            raise NotPermitted(f"the sniffer on {iface} did not start within {SNIFF_START} s")
        try:
            send(packets, verbose=False)
        except PermissionError as exc:
            raise NotPermitted(str(exc)) from None
        sniffer.join(SNIFF_SEE)
    finally:
        if sniffer.running:
            sniffer.stop()
    return bool(sniffer.results)


# -- verdicts (pure) -------------------------------------------------------------------------------


def judge_fragmented(sent: Sent, answer: sip.SipResponse | None) -> str | None:
    """An OPTIONS sent in IP fragments must be answered (the device reassembled it)."""
    if answer is None:
        return (
            f"expected an answer to an OPTIONS sent in {sent.packets} IP fragments "
            f"({sent.note}), observed none"
        )
    return None


def judge_dropped(sent: Sent, answer: sip.SipResponse | None, alive: bool) -> str | None:
    """A datagram with a wrong UDP checksum is not answered; an OPTIONS after it is."""
    if answer is not None:
        return (
            f"expected a datagram with a wrong UDP checksum ({sent.note}) to be discarded, "
            f"observed {answer.status_code} {answer.reason} to it"
        )
    if not alive:
        return (
            "expected an answer to an OPTIONS sent after a datagram with a wrong UDP checksum, "
            "observed none"
        )
    return None


def judge_truncated(sent: Sent, answer: sip.SipResponse | None, alive: bool) -> str | None:
    """A datagram shorter than its SIP message is never answered as the whole request; an
    OPTIONS after it is answered."""
    if answer is not None and answer.is_success:
        return (
            f"expected a truncated datagram ({sent.note}) not to be taken as the whole request, "
            f"observed {answer.status_code} {answer.reason} to it"
        )
    if not alive:
        return (
            f"expected an answer to an OPTIONS sent after a truncated datagram ({sent.note}), "
            "observed none"
        )
    return None
