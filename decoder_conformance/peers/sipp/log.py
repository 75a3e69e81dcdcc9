"""SIPp's log files, and the SIP messages and call counts read back from them.

SIPp writes every message it sent or received to its message log (`-trace_msg`) and cumulative
call counts to its statistics CSV (`-trace_stat`); a run keeps them in one folder per run.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

Direction = Literal["sent", "received"]


@dataclass(frozen=True)
class SippMessage:
    """One entry of a -trace_msg log: wall-clock time, direction, first line, full text."""

    timestamp: float  # seconds since the epoch (SIPp logs local wall-clock time)
    direction: Direction
    transport: str  # "UDP", "TCP"
    first_line: str
    text: str

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive; no compact forms), or None."""
        wanted = name.lower()
        for line in self.text.split("\n")[1:]:
            if not line:
                break
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == wanted:
                return value.strip()
        return None

    @property
    def call_id(self) -> str | None:
        """The Call-ID header."""
        return self.header("Call-ID") or self.header("i")


_ENTRY_SEPARATOR = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*$", re.MULTILINE
)
_ENTRY_HEADER = re.compile(r"^(\w+) message (sent|received)\b[^\n]*\n")


def parse_messages(log: str) -> list[SippMessage]:
    """Parse SIPp's -trace_msg log into messages, in log order (other entries are skipped)."""
    parts = _ENTRY_SEPARATOR.split(log.replace("\r\n", "\n"))
    messages: list[SippMessage] = []
    # split() with one group: [preamble, stamp1, body1, stamp2, body2, ...]
    for stamp, raw in zip(parts[1::2], parts[2::2], strict=True):
        body = raw.lstrip("\n")
        header = _ENTRY_HEADER.match(body)
        if header is None:
            continue
        text = body[header.end() :].strip("\n")
        first = text.split("\n", 1)[0].strip()
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        direction: Direction = "sent" if header.group(2) == "sent" else "received"
        messages.append(SippMessage(when, direction, header.group(1), first, text + "\n"))
    return messages


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
