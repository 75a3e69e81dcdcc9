"""SIPp's log files, the wire records read back from its message log, and its call counts.

SIPp writes every message it sent or received to its message log (`-trace_msg`) and cumulative
call counts to its statistics CSV (`-trace_stat`); a run keeps them in one folder per run.

A message log entry is a separator line with SIPp's wall-clock time, a line saying the transport,
the direction and the byte count, a blank line, then the message exactly as on the wire:

    ----------------------------------------------- 2026-01-02 03:04:05.250000
    UDP message sent (641 bytes):

    INVITE sip:decoder@127.0.0.1:5060 SIP/2.0\r\n...

The entries become `WireRecord`s (peers/capture.py) on the suite's monotonic clock (`SippClock`).
The log names no addresses: SIPp's own comes from what the driver knows (the port it read back)
or else from the Via SIPp wrote (its `[local_ip]:[local_port]`); the other end from the driver
(the UAC's target) or else from the top Via of the first request received in that call.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from decoder_conformance.peers.capture import Address, Direction, Transport, WireRecord

#: Where an address is not known at all (no driver knowledge, no Via to read it from).
UNKNOWN: Address = ("0.0.0.0", 0)


@dataclass(frozen=True)
class SippClock:
    """The wall clock and the monotonic clock read together just before SIPp starts.

    SIPp stamps its message log with local wall-clock time (microsecond digits). A stamp maps
    onto the suite's monotonic clock as `stamp - wall + monotonic`, so SIPp's records merge with
    the other peers' in one ladder and one pcap. How accurate that is: the two clocks are read
    within a microsecond of each other; SIPp takes its stamp from the clock it reads once per
    pass of its event loop, so a stamp trails the real send or receive by up to about a
    millisecond under load; and the mapping assumes the wall clock is not stepped during the
    run (NTP slewing moves it by at most 0.5 ms per second; a step shifts every later SIPp
    record by the step). In practice SIPp's records land within about 1 ms of where they belong
    among the other peers' records.
    """

    wall: float
    monotonic: float

    @classmethod
    def now(cls) -> SippClock:
        """Both clocks, read now."""
        wall = time.time()
        return cls(wall, time.monotonic())

    def to_monotonic(self, wall: float) -> float:
        """A wall-clock time (seconds since the epoch) on the suite's monotonic clock."""
        return wall - self.wall + self.monotonic


_SEPARATOR = re.compile(
    rb"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)[ \t]*\r?\n", re.MULTILINE
)
_ENTRY_HEADER = re.compile(rb"(\w+) message (sent|received)\b[^\n\d]*(\d+)?[^\n]*\n\r?\n")
_VIA = re.compile(rb"^(?:via|v)[ \t]*:[ \t]*SIP/2\.0/\w+[ \t]+([^;,\s]+)", re.I | re.M)
_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.I | re.M)


@dataclass(frozen=True)
class _Entry:
    wall: float
    direction: Direction
    transport: Transport
    raw: bytes


def _entries(log: bytes) -> list[_Entry]:
    """The message entries of a -trace_msg log, in log order (other entries are skipped)."""
    starts = list(_SEPARATOR.finditer(log))
    entries: list[_Entry] = []
    for index, separator in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(log)
        header = _ENTRY_HEADER.match(log, separator.end(), end)
        if header is None:
            continue
        body_start = header.end()
        count = int(header.group(3)) if header.group(3) else -1
        if 0 <= count <= end - body_start:
            raw = log[body_start : body_start + count]
        else:  # no usable byte count: up to the newline SIPp writes after the message
            raw = log[body_start:end].removesuffix(b"\n")
        stamp = separator.group(1).decode()
        wall = datetime.strptime(
            stamp, "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S"
        )
        transport: Transport = "tcp" if header.group(1).upper() == b"TCP" else "udp"
        direction: Direction = "TX" if header.group(2) == b"sent" else "RX"
        # SIPp logs local time; naive datetime.timestamp() reads it as local time too.
        entries.append(_Entry(wall.timestamp(), direction, transport, raw))
    return entries


def _sent_by(raw: bytes) -> Address | None:
    """(host, port) of the top Via's sent-by (port 5060 when it names none)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    found = _VIA.search(head)
    if found is None:
        return None
    host, _, port = found.group(1).decode("ascii", "replace").rpartition(":")
    if not host:
        return found.group(1).decode("ascii", "replace"), 5060
    return (host, int(port)) if port.isdigit() else None


def _call_id(raw: bytes) -> bytes:
    found = _CALL_ID.search(raw.split(b"\r\n\r\n", 1)[0])
    return found.group(1) if found else b""


def _is_request(raw: bytes) -> bool:
    return not raw.startswith(b"SIP/")


def records_from_log(
    log: bytes,
    clock: SippClock,
    *,
    local: Address | None = None,
    remote: Address | None = None,
) -> list[WireRecord]:
    """The messages of a -trace_msg log as wire records, from SIPp's side.

    `local` is SIPp's bound address (else the sent-by of the first request it sent); `remote`
    the other end (else, per Call-ID, the sent-by of the first request SIPp received in that
    call, else that of the first one it received at all). An address found nowhere is 0.0.0.0:0.
    """
    entries = _entries(log)
    if local is None:
        local = next(
            (
                found
                for e in entries
                if e.direction == "TX" and _is_request(e.raw)
                for found in [_sent_by(e.raw)]
                if found is not None
            ),
            UNKNOWN,
        )
    callers: dict[bytes, Address] = {}
    if remote is None:
        for entry in entries:
            if entry.direction == "RX" and _is_request(entry.raw):
                found = _sent_by(entry.raw)
                if found is not None:
                    callers.setdefault(_call_id(entry.raw), found)
    fallback = remote or next(iter(callers.values()), UNKNOWN)
    return [
        WireRecord(
            clock.to_monotonic(e.wall),
            e.direction,
            e.transport,
            local,
            remote or callers.get(_call_id(e.raw), fallback),
            e.raw,
        )
        for e in entries
    ]


def read_log_bytes(path: Path) -> bytes:
    """A log file's bytes (empty when SIPp wrote none)."""
    return path.read_bytes() if path.is_file() else b""


def read_log(path: Path) -> str:
    return path.read_text("utf-8", errors="replace") if path.is_file() else ""


def stat_counts(path: Path) -> tuple[int, int] | None:
    """(successful, failed) cumulative calls from the last row of a -trace_stat CSV."""
    text = read_log(path)
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if row]
    if len(rows) < 2:
        return None
    last = dict(zip(rows[0], rows[-1], strict=False))
    try:
        return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class SippFiles:
    """Where one SIPp run writes: all under `run_dir`."""

    run_dir: Path

    @property
    def messages(self) -> Path:
        return self.run_dir / "messages.log"

    @property
    def errors(self) -> Path:
        return self.run_dir / "errors.log"

    @property
    def stats(self) -> Path:
        return self.run_dir / "stats.csv"

    @property
    def screen(self) -> Path:
        return self.run_dir / "screen.log"

    @property
    def actions(self) -> Path:
        return self.run_dir / "actions.log"

    @property
    def stdout(self) -> Path:
        return self.run_dir / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.run_dir / "stderr.log"

    def trace_args(self) -> list[str]:
        """SIPp options that send every log to a file of this run."""
        return [
            "-trace_msg",
            "-message_file",
            str(self.messages),
            "-trace_err",
            "-error_file",
            str(self.errors),
            "-trace_stat",
            "-stf",
            str(self.stats),
            "-trace_screen",
            "-screen_file",
            str(self.screen),
            "-trace_logs",
            "-log_file",
            str(self.actions),
        ]
