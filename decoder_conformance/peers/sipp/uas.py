"""A SIPp UAS in the background: the callee of the device's outgoing calls.

It runs until stopped; its SIP port is read back from /proc (SIPp binds it itself, so there is
no probe-then-bind race; see run.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from decoder_conformance import LOOPBACK
from decoder_conformance.peers.capture import Address, WireRecord
from decoder_conformance.peers.sipp.log import (
    SippClock,
    SippFiles,
    read_log,
    read_log_bytes,
    records_from_log,
)
from decoder_conformance.peers.sipp.run import (
    SippError,
    SippResult,
    Transport,
    base_command,
    collect,
    new_run_dir,
    require_sipp,
    scenario_path,
)
from decoder_conformance.waiting import (
    Deadline,
    DeviceTimeout,
    WaitTimeout,
    poll_until,
    stop_process,
)


@dataclass(frozen=True)
class BoundSocket:
    """One socket of a process: protocol, address, port, file descriptor."""

    proto: Literal["udp", "tcp"]
    ip: str
    port: int
    fd: int


def _proc_net(proto: str) -> dict[int, tuple[str, int, str]]:
    """inode -> (ip, port, state) for IPv4 sockets in /proc/net/<proto>."""
    table: dict[int, tuple[str, int, str]] = {}
    lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
    for line in lines:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        ip = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
        table[int(fields[9])] = (ip, int(port_hex, 16), fields[3])
    return table


def process_sockets(pid: int) -> list[BoundSocket]:
    """The bound IPv4 UDP sockets and listening TCP sockets of process `pid`, by fd order."""
    inodes: dict[int, int] = {}
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    for entry in entries:
        try:
            link = os.readlink(entry)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes[int(link[8:-1])] = int(entry.name)
    found: list[BoundSocket] = []
    tcp_listen = "0A"
    for proto in ("udp", "tcp"):
        for inode, (ip, port, state) in _proc_net(proto).items():
            if inode in inodes and (proto == "udp" or state == tcp_listen):
                found.append(BoundSocket(proto, ip, port, inodes[inode]))
    return sorted(found, key=lambda s: s.fd)


@dataclass
class SippUas:
    """A SIPp scenario running in the background (a UAS the device calls), bound to `port`."""

    scenario: str
    command: list[str]
    process: subprocess.Popen[bytes]
    files: SippFiles
    port: int
    transport: Transport
    clock: SippClock = field(default_factory=SippClock.now)
    _result: SippResult | None = None
    host: str = LOOPBACK
    #: The device's SIP address when the caller knows it; else read from each call's Via.
    remote: Address | None = None

    @property
    def started(self) -> float:
        """Monotonic time SIPp was started."""
        return self.clock.monotonic

    @property
    def address(self) -> str:
        """ "HOST:PORT" (the suite host) to give the device as the call target."""
        return f"{self.host}:{self.port}"

    def sockets(self) -> list[BoundSocket]:
        """Every socket SIPp holds now (to check they are all on the suite host)."""
        return process_sockets(self.process.pid)

    @property
    def local(self) -> Address:
        """(host, port) of SIPp's SIP socket."""
        return (self.host, self.port)

    def records(self) -> list[WireRecord]:
        """What SIPp sent (TX) and received (RX) so far, on the suite's monotonic clock."""
        log = read_log_bytes(self.files.messages)
        return records_from_log(log, self.clock, local=self.local, remote=self.remote)

    def wait(self, timeout: float) -> SippResult:
        """Wait for SIPp to finish its `calls` calls and exit on its own.

        Raises WaitTimeout (the device never completed the calls: a device failure) naming the
        messages seen and the log directory; the process is left running for `stop()`.
        """
        try:
            returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            seen = [f"{r.direction} {r.label}" for r in self.records()]
            raise DeviceTimeout(
                f"after {timeout:.1f} s: SIPp UAS {self.scenario} on {self.address} had not "
                f"finished its calls; messages seen: {seen or 'none'}; logs in {self.files.run_dir}"
            ) from None
        return self._finish(returncode)

    def stop(self, grace: float = 3.0) -> SippResult:
        """End SIPp: SIGUSR1 (soft exit, calls in progress finish), then terminate, then kill."""
        if self._result is not None:
            return self._result
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                stop_process(self.process, grace)
        return self._finish(self.process.wait())

    def _finish(self, returncode: int) -> SippResult:
        if self._result is None:
            self._result = collect(
                self.scenario,
                self.command,
                returncode,
                self.files,
                time.monotonic() - self.started,
                clock=self.clock,
                local=self.local,
                remote=self.remote,
            )
        return self._result

    def __enter__(self) -> SippUas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_uas(
    scenario: str | Path = "uas_answer",
    *,
    log_dir: Path,
    calls: int | None = 1,
    variables: Mapping[str, str] | None = None,
    transport: Transport = "u1",
    ready_timeout: float = 5.0,
    timeout: float | None = None,
    extra_args: Sequence[str] = (),
    sipp: str | None = None,
    host: str = LOOPBACK,
    remote: Address | None = None,
) -> SippUas:
    """Start a SIPp server scenario in the background; returns once its SIP port is bound.

    Every socket SIPp opens is on `host` (the suite host); `address` is what the device calls.
    `remote` (the device's SIP address, when known) is the other end of its records; without it
    each call's is read from the Via of the INVITE.

    With `calls`, SIPp exits by itself after that many calls (`wait()`); `timeout` is SIPp's
    global timeout. Raises ToolMissing without SIPp, SippError if it exits or binds nothing
    within `ready_timeout`. Use as a context manager, or call `stop()`.
    """
    binary = require_sipp(sipp)
    path = scenario_path(scenario)
    files = new_run_dir(log_dir, path.stem)
    command = [
        *base_command(
            binary,
            path,
            transport=transport,
            variables=variables or {},
            files=files,
            timeout=timeout,
            host=host,
        ),
        *(["-m", str(calls)] if calls is not None else []),
        *extra_args,
    ]
    proto = "udp" if transport == "u1" else "tcp"
    clock = SippClock.now()
    with files.stdout.open("wb") as out, files.stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=files.run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
    deadline = Deadline(ready_timeout)

    def bound() -> int | None:
        if process.poll() is not None:
            return -1
        # SIPp opens its SIP socket before its media and control sockets: the lowest fd.
        sip = [s for s in process_sockets(process.pid) if s.proto == proto and s.ip == host]
        return sip[0].port if sip else None

    try:
        port = poll_until(
            bound,
            lambda p: p is not None,
            timeout=deadline.remaining,
            expected=f"SIPp to bind a {proto} SIP socket on {host}",
            interval=0.01,
        )
    except WaitTimeout as exc:
        stop_process(process, 2.0)
        raise SippError(f"{exc}; logs in {files.run_dir}") from exc
    if port is None or port < 0:
        stop_process(process, 2.0)
        raise SippError(
            f"SIPp {path.stem} exited (rc {process.returncode}) before binding: "
            f"{read_log(files.stderr).strip()[-800:]!r}; logs in {files.run_dir}"
        )
    return SippUas(
        path.stem, command, process, files, port, transport, clock, host=host, remote=remote
    )
