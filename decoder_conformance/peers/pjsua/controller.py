"""A pjsua2 SIP peer for tests, run in a worker subprocess and driven from the test process.

pjsua2 aborts its process on some misuse, so it runs only in the worker (``worker.py``); this
controller sends it JSON-line commands and collects what it pushes (``protocol.py`` defines both):
call states, incoming calls, registration states and SDPs as :class:`PeerEvent`s, and every SIP
message sent or received as a `WireRecord` (peers/capture.py), on the suite's monotonic clock.

Who failed (decoder_conformance/failures.py):

* the worker refuses a command: :class:`PeerError`; the worker is gone: :class:`PeerDied`; a
  command's reply does not come in time: `waiting.PeerTimeout` naming the worker's state. All
  are NotExercised: the case ends broken.
* a wait for what the device must cause (a call state, an incoming call, a message) that times
  out first checks the worker: stopped (``/proc/<pid>/stat`` state T), not answering a ping, or
  dead is NotExercised (broken) naming its state, pid and log tail; only a healthy worker makes it
  a `waiting.DeviceTimeout` (failed), listing what was expected and what was seen.

Usage::

    with PjsuaPeer("a", log_dir=tmp_path) as a, PjsuaPeer("b", log_dir=tmp_path) as b:
        a.start(user="a")
        b.start(user="b")
        b.set_auto_answer(200)
        handle = a.call(b.uri(), video=True, h264_pt=96)
        a.wait_call_state(handle, "CONFIRMED")

All sockets (SIP and media) are bound on the peer's `host`: 127.0.0.1 unless the suite host
(--suite-host) of a lab run says otherwise; it is also the address pjsua writes in Via, Contact
and SDP. A call or registration goes only to the peer's own host, 127.0.0.1, or a host in
`allowed_hosts` (the lab device): anything else is a ValueError (network rule).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from decoder_conformance import LOOPBACK, PROJECT_ROOT
from decoder_conformance.failures import NotExercised, harness_check
from decoder_conformance.peers.capture import WireRecord, address_text
from decoder_conformance.peers.pjsua import protocol
from decoder_conformance.waiting import Deadline, DeviceTimeout, PeerTimeout, stop_process

T = TypeVar("T")

ROOT = PROJECT_ROOT
CALL_STATES = protocol.CALL_STATES
DEFAULT_H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"
#: How long a worker whose wait timed out gets to answer a ping before it counts as hung.
HEALTH_PING_SECONDS = 1.0
#: /proc/<pid>/stat process states, for messages.
PROC_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "in uninterruptible sleep",
    "T": "stopped",
    "t": "stopped by a tracer",
    "Z": "a zombie",
    "X": "dead",
    "I": "idle",
}
STOPPED_STATES = ("T", "t")


class PeerError(NotExercised):
    """The worker ran a command and pjsua2 (or the worker) refused it; the message says why."""


class PeerDied(NotExercised):
    """The worker process is gone (crashed, killed or never started properly)."""


@dataclass(frozen=True)
class PeerEvent:
    """One event pushed by the worker (any `protocol.Event` but "sip"): kind, time and fields."""

    kind: str
    t: float
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A field, or `default`."""
        return self.data.get(key, default)

    def brief(self) -> str:
        """One line for timeout messages."""
        shown = {k: v for k, v in self.data.items() if k not in ("sdp", "invite", "text")}
        if "sdp" in self.data:
            shown["sdp_lines"] = len(str(self.data["sdp"]).splitlines())
        return f"{self.t:.3f} {self.kind} {shown}"


@dataclass(frozen=True)
class CallState:
    """What the worker knows about one call (a `protocol.CallSummary`)."""

    handle: int
    state: str
    role: str
    last_code: int
    last_reason: str
    remote_uri: str
    call_id: str
    video: bool
    hangup_sent: bool
    local_sdp: str
    remote_sdp: str


@dataclass
class _Shared:
    """State shared between the reader thread and the caller, guarded by `cond`."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    replies: dict[int, protocol.Reply] = field(default_factory=dict)
    #: Ids of commands whose reply came too late to be waited for: dropped on arrival.
    abandoned: set[int] = field(default_factory=set)
    events: list[PeerEvent] = field(default_factory=list)
    records: list[WireRecord] = field(default_factory=list)
    eof: bool = False
    bad_lines: list[str] = field(default_factory=list)


def record_of(event: protocol.SipEvent) -> WireRecord:
    """The wire record of a worker's SIP event (its time is already on the suite's clock)."""
    direction, transport = event["direction"], event["transport"]
    if direction not in ("TX", "RX") or transport not in protocol.SIP_TRANSPORTS:
        raise ValueError(f"direction {direction!r} / transport {transport!r} out of protocol")
    return WireRecord(
        t=float(event["t"]),
        direction=direction,
        transport=transport,
        local=(event["local_host"], int(event["local_port"])),
        remote=(event["remote_host"], int(event["remote_port"])),
        raw=event["text"].encode("utf-8"),
    )


def record_brief(record: WireRecord) -> str:
    """One line: time, direction, label and remote address."""
    arrow = "->" if record.direction == "TX" else "<-"
    return (
        f"{record.t:.3f} {record.direction} {record.label} {arrow} "
        f"{record.transport} {address_text(record.remote)}"
    )


class PjsuaPeer:
    """Controller of one pjsua2 user agent running in its worker process (``worker.py``)."""

    def __init__(
        self,
        name: str = "peer",
        *,
        log_dir: Path | None = None,
        command_timeout: float = 5.0,
        host: str = LOOPBACK,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.host = host
        self.allowed_hosts = frozenset({LOOPBACK, host, *allowed_hosts})
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="pjsua-peer-"))
        self.command_timeout = command_timeout
        self.worker_log_path = self.log_dir / f"{name}.worker.log"
        self.pjsua_log_path = self.log_dir / f"{name}.pjsua.log"
        self.udp_port = 0
        self.tcp_port: int | None = None
        self.user = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._shared = _Shared()
        self._next_id = 1
        self._write_lock = threading.Lock()
        self._death_reported = False
        self._stopping = False
        self._reg_mark = 0
        self._incoming_taken: set[int] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> PjsuaPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before start)."""
        return self._process.pid if self._process else None

    def start(
        self,
        user: str = "peer",
        *,
        tcp: bool = False,
        user_agent: str = "pjsua-peer",
        timeout: float = 10.0,
    ) -> int:
        """Start the worker and its user agent on `host`:0; returns the SIP UDP port."""
        if self._process is not None:
            raise PeerError(f"peer {self.name!r} is already started (pid {self._process.pid})")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.worker_log_path.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "decoder_conformance.peers.pjsua.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=ROOT,
        )
        stdout = self._process.stdout
        if stdout is None:
            raise NotExercised(f"peer {self.name!r}: the worker was started without a stdout pipe")
        self._reader = threading.Thread(
            target=self._read, args=(stdout,), name=f"pjsua-{self.name}", daemon=True
        )
        self._reader.start()
        before = time.monotonic()
        result = cast(
            protocol.StartResult,
            self._command(
                protocol.StartCommand(
                    cmd="start",
                    args=protocol.StartArgs(
                        user=user,
                        tcp=tcp,
                        user_agent=user_agent,
                        log_path=str(self.pjsua_log_path),
                        host=self.host,
                        log_level=5,
                    ),
                ),
                timeout=timeout,
            ),
        )
        after = time.monotonic()
        # Event times are the worker's time.monotonic(), used as they come: valid only if it
        # reads the suite process's clock (CLOCK_MONOTONIC is system-wide; a separate time
        # namespace or another clock would break every merged ladder).
        harness_check(
            before <= result["monotonic"] <= after,
            f"peer {self.name!r}: the worker's monotonic clock read {result['monotonic']:.6f} "
            f"while the suite's went from {before:.6f} to {after:.6f}; its record times would "
            "not be on the suite's clock",
        )
        self.udp_port = int(result["udp_port"])
        self.tcp_port = None if result["tcp_port"] is None else int(result["tcp_port"])
        self.user = user
        return self.udp_port

    def stop(self, timeout: float = 5.0) -> int | None:
        """Hang up, stop the worker (terminate, then kill on the deadline); returns its exit code.

        Raises PeerDied if the worker had died on its own and nothing reported it yet.
        """
        process = self._process
        if process is None:
            return None
        deadline = Deadline(timeout)
        died_unreported = False
        if process.poll() is None and not self._shared.eof:
            if _proc_state(process.pid) in STOPPED_STATES:
                self._log_note(
                    "the worker is stopped (SIGSTOP?): killing it without a stop command"
                )
            else:
                try:
                    self._command(
                        protocol.StopCommand(cmd="stop", args=protocol.StopArgs(hangup=True)),
                        timeout=deadline.remaining,
                    )
                except PeerDied:
                    died_unreported = not self._death_reported
                except (PeerError, PeerTimeout) as exc:
                    self._log_note(f"stop command failed: {exc}")
        elif not self._death_reported and not self._stopping:
            died_unreported = True
        self._stopping = True
        try:
            process.wait(max(deadline.remaining, 0.1))
        except subprocess.TimeoutExpired:
            stop_process(process, 2.0)
        if process.stdin is not None:
            # Unsent bytes of a command to a dead worker make close() raise BrokenPipeError;
            # the death itself is reported by PeerDied, so only the pipe error is dropped here.
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        if process.stdout is not None:
            process.stdout.close()
        if self._reader is not None:
            self._reader.join(2.0)
        if self._log is not None:
            self._log.close()
        code = process.returncode
        if died_unreported:
            self._death_reported = True
            raise PeerDied(self._death_message("while stopping", code))
        return code

    # --- commands --------------------------------------------------------------------------------

    def register(
        self,
        registrar_uri: str,
        username: str,
        password: str,
        *,
        realm: str = "*",
        expires: int = 3600,
        id_uri: str | None = None,
    ) -> None:
        """Start registering (digest auth); follow with :meth:`wait_registration`."""
        self._check_destination(registrar_uri)
        self._reg_mark = self._event_count()
        self._command(
            protocol.RegisterCommand(
                cmd="register",
                args=protocol.RegisterArgs(
                    registrar_uri=registrar_uri,
                    username=username,
                    password=password,
                    realm=realm,
                    expires=expires,
                    id_uri=id_uri,
                ),
            )
        )

    def unregister(self) -> None:
        """Send REGISTER with Expires: 0; follow with :meth:`wait_registration`."""
        self._reg_mark = self._event_count()
        self._command(protocol.UnregisterCommand(cmd="unregister", args=protocol.NoArgs()))

    def call(
        self,
        uri: str,
        *,
        video: bool = True,
        video_port: int | None = None,
        h264_pt: int = 96,
        h264_fmtp: str = DEFAULT_H264_FMTP,
        direction: protocol.MediaDirection = "sendonly",
        offer: bool = True,
    ) -> int:
        """INVITE `uri`; returns the call handle.

        `video` offers PCMU audio plus ``m=video <video_port> RTP/AVP <h264_pt>`` with
        ``a=rtpmap:<h264_pt> H264/90000`` and ``a=<direction>`` (`video_port` None: a port the
        worker has bound); `video` False offers PCMU audio only; `offer` False sends an INVITE
        without SDP.
        """
        self._check_destination(uri)
        result = self._command(
            protocol.CallCommand(
                cmd="call",
                args=protocol.CallArgs(
                    uri=uri,
                    video=video,
                    video_port=video_port,
                    h264_pt=h264_pt,
                    h264_fmtp=h264_fmtp,
                    direction=direction,
                    offer=offer,
                ),
            )
        )
        return int(cast(int, result))

    def answer(self, handle: int, code: int = 200, reason: str = "") -> None:
        """Respond to incoming call `handle` with `code`."""
        self._command(
            protocol.AnswerCommand(
                cmd="answer", args=protocol.AnswerArgs(handle=handle, code=code, reason=reason)
            )
        )

    def hangup(self, handle: int, code: int = 0, reason: str = "") -> bool:
        """BYE, CANCEL or reject call `handle`; False (nothing sent) if it already ended.

        `code` is the final response for an unanswered incoming call (0: pjsua's choice, 603).
        """
        result = self._command(
            protocol.HangupCommand(
                cmd="hangup", args=protocol.HangupArgs(handle=handle, code=code, reason=reason)
            )
        )
        return bool(cast(protocol.HangupResult, result)["sent"])

    def set_auto_answer(self, code: int | None, *, ring: bool = True) -> None:
        """Answer later incoming calls with 180 (if `ring`) then `code`.

        `code` None leaves them ringing (or, without `ring`, at 100 Trying) until :meth:`answer`.
        """
        self._command(
            protocol.SetAutoAnswerCommand(
                cmd="set_auto_answer", args=protocol.SetAutoAnswerArgs(code=code, ring=ring)
            )
        )

    def reinvite(self, handle: int, direction: protocol.MediaDirection = "sendonly") -> None:
        """Send a re-INVITE offering every media section with `direction`."""
        self._command(
            protocol.ReinviteCommand(
                cmd="reinvite", args=protocol.ReinviteArgs(handle=handle, direction=direction)
            )
        )

    def calls(self) -> list[CallState]:
        """The state of every call the peer has made or received."""
        rows = self._command(protocol.CallsCommand(cmd="calls", args=protocol.NoArgs()))
        return [CallState(**row) for row in cast(list[protocol.CallSummary], rows)]

    def call_state(self, handle: int) -> CallState:
        """The state of call `handle`."""
        for state in self.calls():
            if state.handle == handle:
                return state
        raise PeerError(f"peer {self.name!r} has no call {handle}")

    def ping(self, timeout: float | None = None) -> protocol.PingResult:
        """A round trip to the worker; every event it wrote before answering has been received."""
        result = self._command(
            protocol.PingCommand(cmd="ping", args=protocol.NoArgs()), timeout=timeout
        )
        return cast(protocol.PingResult, result)

    def records(self, *, sync: bool = True) -> list[WireRecord]:
        """Every SIP message sent or received so far, in capture order.

        With `sync` (and a running worker) a ping first makes sure every message the worker had
        captured is in; a worker that has exited has nothing more to give, so none is needed.
        """
        if sync and self._process is not None and not self._shared.eof:
            self.ping()
        with self._shared.cond:
            return list(self._shared.records)

    def call_records(self, handle: int) -> list[WireRecord]:
        """The records of call `handle` (by its Call-ID; none before it has one)."""
        call_id = self.call_state(handle).call_id
        if not call_id:
            return []
        return [r for r in self.records() if r.message.call_id == call_id]

    @property
    def events(self) -> list[PeerEvent]:
        """The events received so far (not synchronised; use the wait methods)."""
        with self._shared.cond:
            return list(self._shared.events)

    def uri(self, user: str | None = None, *, transport: str = "udp") -> str:
        """A SIP URI that reaches this peer directly."""
        port = self.udp_port if transport == "udp" else self.tcp_port
        suffix = "" if transport == "udp" else f";transport={transport}"
        return f"sip:{user or self.user}@{self.host}:{port}{suffix}"

    def _check_destination(self, uri: str) -> None:
        """Refuse a SIP URI whose host is not one this peer may send to (network rule)."""
        host = _uri_host(uri)
        if host not in self.allowed_hosts:
            raise ValueError(
                f"peer {self.name!r}: refusing to send to {uri!r}: host {host!r} is not one of "
                f"{sorted(self.allowed_hosts)} (127.0.0.1, the suite host, or the lab device "
                "given explicitly; network rule)"
            )

    def kill(self) -> None:
        """SIGKILL the worker (for tests of crash handling)."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)

    # --- waits for what the device (the other end) does ------------------------------------------

    def wait_event(
        self,
        predicate: Callable[[PeerEvent], bool],
        timeout: float = 5.0,
        *,
        expected: str,
        since: int = 0,
    ) -> PeerEvent:
        """The first event (from index `since`) matching `predicate`.

        On the deadline: NotExercised if the worker is stopped, hung or dead, else DeviceTimeout.
        """

        def find() -> PeerEvent | None:
            events = self._shared.events
            return next((e for e in events[since:] if predicate(e)), None)

        return self._wait_device(find, timeout, expected, self._seen_events)

    def wait_call_state(self, handle: int, state: str, timeout: float = 5.0) -> PeerEvent:
        """The call_state event taking call `handle` to `state` (one of CALL_STATES)."""
        if state not in CALL_STATES:
            raise ValueError(f"state must be one of {CALL_STATES}, got {state!r}")
        return self.wait_event(
            lambda e: e.kind == "call_state" and e["handle"] == handle and e["state"] == state,
            timeout,
            expected=f"call {handle} reaching {state}",
        )

    def wait_registration(self, code: int = 200, timeout: float = 5.0) -> PeerEvent:
        """The first reg_state with `code` since the last register()/unregister()."""
        return self.wait_event(
            lambda e: e.kind == "reg_state" and e["code"] == code,
            timeout,
            expected=f"registration state {code}",
            since=self._reg_mark,
        )

    def wait_incoming(self, timeout: float = 5.0) -> PeerEvent:
        """The next incoming call not yet returned by this method."""
        event = self.wait_event(
            lambda e: e.kind == "incoming" and e["handle"] not in self._incoming_taken,
            timeout,
            expected="an incoming call",
        )
        self._incoming_taken.add(int(event["handle"]))
        return event

    def wait_message(
        self, predicate: Callable[[WireRecord], bool], timeout: float = 5.0, *, expected: str
    ) -> WireRecord:
        """The first captured SIP record matching `predicate` (same verdicts as wait_event)."""

        def find() -> WireRecord | None:
            return next((r for r in self._shared.records if predicate(r)), None)

        return self._wait_device(find, timeout, expected, self._seen_records)

    # --- internals -------------------------------------------------------------------------------

    def _await(self, find: Callable[[], T | None], deadline: Deadline, when: str) -> T | None:
        """What `find` finds before `deadline` (None after it); PeerDied once the worker is gone."""
        with self._shared.cond:
            while True:
                found = find()
                if found is not None:
                    return found
                if self._shared.eof:
                    self._raise_died(when)
                if deadline.expired:
                    return None
                self._shared.cond.wait(deadline.remaining)

    def _wait_device(
        self, find: Callable[[], T | None], timeout: float, expected: str, seen: Callable[[], str]
    ) -> T:
        """Wait for what the other end must cause; blame it only if the worker is healthy."""
        found = self._await(find, Deadline(timeout), f"while waiting for {expected}")
        if found is not None:
            return found
        self._check_responsive(f"a {timeout:.1f} s wait for {expected} timed out")
        with self._shared.cond:
            # The ping's reply came after every event the worker had written: a last look.
            found = find()
            if found is not None:
                return found
            shown = seen()
        raise DeviceTimeout(
            f"peer {self.name!r}: after {timeout:.1f} s expected {expected}; seen:\n{shown}\n"
            f"(the worker, pid {self.pid}, answered a ping: it is healthy)\n"
            f"worker log: {self.worker_log_path}"
        )

    def _check_responsive(self, after: str) -> None:
        """NotExercised (PeerTimeout, PeerDied) unless the worker is running and answers a ping."""
        pid = self.pid
        if pid is not None and _proc_state(pid) in STOPPED_STATES:
            raise PeerTimeout(self._unresponsive_message(f"{after}, and the worker is stopped"))
        ping_timeout = min(HEALTH_PING_SECONDS, self.command_timeout)
        try:
            self.ping(timeout=ping_timeout)
        except PeerTimeout:
            raise PeerTimeout(
                self._unresponsive_message(
                    f"{after}, and the worker did not answer a ping within {ping_timeout:.1f} s"
                )
            ) from None

    def _unresponsive_message(self, what: str) -> str:
        """Why the case was not exercised: the worker's state, pid and log tails."""
        pid = self.pid
        process = self._process
        state = _proc_state(pid) if pid is not None else None
        if state is None:
            exited = process is None or process.poll() is not None
            condition = "dead" if exited else "hung"
            shown = f"no /proc/{pid}/stat" if exited else "state unknown: no /proc/<pid>/stat"
        else:
            condition = "stopped" if state in STOPPED_STATES else "hung"
            if state in ("Z", "X"):
                condition = "dead"
            shown = f"state {state} ({PROC_STATES.get(state, 'unknown')}) in /proc/{pid}/stat"
        return (
            f"pjsua peer {self.name!r} (pid {pid}) is {condition} ({shown}): {what}. The suite's "
            "peer failed, not the device: the case was not exercised.\n"
            f"--- last lines of {self.worker_log_path} ---\n{_tail(self.worker_log_path)}\n"
            f"--- last lines of {self.pjsua_log_path} ---\n{_tail(self.pjsua_log_path, 10)}"
        )

    def _seen_events(self, last: int = 30) -> str:
        events = self._shared.events
        lines = [e.brief() for e in events[-last:]]
        skipped = len(events) - len(lines)
        head = [f"({skipped} earlier events)"] if skipped > 0 else []
        return "\n".join(head + lines + self._bad_lines_note()) or "(no events)"

    def _seen_records(self, last: int = 30) -> str:
        records = self._shared.records
        lines = [record_brief(r) for r in records[-last:]]
        skipped = len(records) - len(lines)
        head = [f"({skipped} earlier SIP messages)"] if skipped > 0 else []
        return "\n".join(head + lines + self._bad_lines_note()) or "(no SIP messages)"

    def _bad_lines_note(self) -> list[str]:
        bad = self._shared.bad_lines
        if not bad:
            return []
        return [f"({len(bad)} unreadable lines from the worker; last: {bad[-1][:200]!r})"]

    def _event_count(self) -> int:
        with self._shared.cond:
            return len(self._shared.events)

    def _command(
        self, command: protocol.Command, *, timeout: float | None = None
    ) -> protocol.Result:
        """Send one command and wait for its reply; PeerDied / PeerTimeout / PeerError."""
        process = self._process
        cmd = command["cmd"]
        if process is None or process.stdin is None:
            raise PeerError(f"peer {self.name!r} is not started; call start() first")
        timeout = self.command_timeout if timeout is None else timeout
        with self._write_lock:
            request_id = self._next_id
            self._next_id += 1
            request = protocol.Request(id=request_id, cmd=cmd, args=dict(command["args"]))
            line = json.dumps(request) + "\n"
            try:
                process.stdin.write(line.encode("utf-8"))
                process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                with self._shared.cond:
                    self._raise_died(f"sending {cmd!r}")
        shared = self._shared
        reply = cast(
            "protocol.Reply | None",  # mypy would join the union's TypedDicts solving T
            self._await(
                lambda: shared.replies.pop(request_id, None),
                Deadline(timeout),
                f"while waiting for the reply to {cmd!r}",
            ),
        )
        if reply is None:
            with shared.cond:
                shared.abandoned.add(request_id)
            raise PeerTimeout(
                self._unresponsive_message(f"it did not answer {cmd!r} within {timeout:.1f} s")
            )
        if reply["ok"] is True:
            return reply["result"]
        raise PeerError(f"peer {self.name!r}: {cmd} {command['args']} failed: {reply['error']}")

    def _raise_died(self, when: str) -> None:
        """Raise PeerDied with the exit code and log tails (called with cond held)."""
        process = self._process
        code: int | None = None
        if process is not None:
            try:
                code = process.wait(2.0)
            except subprocess.TimeoutExpired:
                code = None
        self._death_reported = True
        raise PeerDied(self._death_message(when, code))

    def _death_message(self, when: str, code: int | None) -> str:
        if code is None:
            how = "closed its output but is still running"
        elif code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name} (exit code {code})"
            except ValueError:
                how = f"exited with code {code}"
        else:
            how = f"exited with code {code}"
        pid = self._process.pid if self._process else None
        return (
            f"pjsua peer {self.name!r} (pid {pid}) is dead: it {how}, noticed {when}.\n"
            f"--- last lines of {self.worker_log_path} ---\n{_tail(self.worker_log_path)}\n"
            f"--- last lines of {self.pjsua_log_path} ---\n{_tail(self.pjsua_log_path, 10)}"
        )

    def _log_note(self, text: str) -> None:
        if self._log is not None and not self._log.closed:
            self._log.write(f"[controller] {text}\n".encode())
            self._log.flush()

    def _route(self, obj: Any) -> None:
        """File one line from the worker (called with cond held); ValueError if out of protocol."""
        shared = self._shared
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        if "event" in obj:
            event = cast(protocol.Event, obj)
            if event["event"] == "sip":
                shared.records.append(record_of(event))
            else:
                data = {k: v for k, v in event.items() if k not in ("event", "t")}
                shared.events.append(PeerEvent(event["event"], float(event["t"]), data))
            return
        reply = cast(protocol.Reply, obj)
        request_id = reply["id"]
        if request_id is None:
            raise ValueError("a reply to no request")
        if request_id in shared.abandoned:
            shared.abandoned.discard(request_id)
        else:
            shared.replies[int(request_id)] = reply

    def _read(self, stream: IO[bytes]) -> None:
        """Reader thread: route replies and events; mark EOF when the worker's stdout closes."""
        shared = self._shared
        try:
            for raw in stream:
                with shared.cond:
                    try:
                        self._route(json.loads(raw))
                    except (ValueError, KeyError, TypeError) as exc:
                        shared.bad_lines.append(f"{exc}: {raw.decode('utf-8', 'replace')}")
                    shared.cond.notify_all()
        except (OSError, ValueError):
            pass  # the stream was closed by stop(); EOF is recorded below either way
        finally:
            with shared.cond:
                shared.eof = True
                shared.cond.notify_all()


def _proc_state(pid: int) -> str | None:
    """The process state letter of `pid` in /proc/<pid>/stat ("T": stopped), None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else None


def _uri_host(uri: str) -> str:
    """The host of a SIP URI: ``sip:user@HOST:port;params`` -> ``HOST`` (brackets dropped)."""
    rest = uri.strip().strip("<>")
    rest = rest.split(":", 1)[1] if rest[:4].lower() in ("sip:", "sips") else rest
    rest = rest.split(";", 1)[0].split("?", 1)[0].rpartition("@")[2]
    if rest.startswith("["):
        return rest[1:].partition("]")[0]
    return rest.partition(":")[0]


def _tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"
