"""A pjsua2 SIP peer for tests, run in a worker subprocess and driven from the test process.

pjsua2 aborts its process on some misuse, so it runs only in the worker (``worker.py``); this
controller sends it JSON-line commands and collects the events it pushes (call states, incoming
calls, registration states, SDPs and every SIP message sent or received). A dead worker is
reported as :class:`PeerDied` (exit code and log tail), never as a hang; every wait has a deadline
and a :class:`PeerTimeout` that lists what was expected and what was seen.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from decoder_conformance import LOOPBACK
from decoder_conformance.waiting import Deadline, DeviceTimeout

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
CALL_STATES = ("NULL", "CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED", "DISCONNECTED")
DEFAULT_H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"


class PeerError(RuntimeError):
    """The worker ran a command and pjsua2 (or the worker) refused it; the message says why."""


class PeerDied(RuntimeError):
    """The worker process is gone (crashed, killed or never started properly)."""


class PeerTimeout(DeviceTimeout):
    """A deadline passed before the awaited event (an AssertionError, like WaitTimeout)."""


@dataclass(frozen=True)
class PeerEvent:
    """One event pushed by the worker: its kind, monotonic time and fields."""

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
class SipMessage:
    """One SIP message the peer sent (TX) or received (RX), as on the wire."""

    t: float
    direction: str
    transport: str
    host: str
    port: int
    text: str
    handle: int | None = None
    #: This peer's listening address for the transport ("HOST:PORT"), for ladder lifelines.
    local: str = ""

    @property
    def remote(self) -> str:
        """The other end, "host:port"."""
        return f"{self.host}:{self.port}"

    @property
    def src(self) -> str:
        """Sender address (ladder order: src -> dst)."""
        return self.local if self.direction == "TX" else self.remote

    @property
    def dst(self) -> str:
        """Receiver address."""
        return self.remote if self.direction == "TX" else self.local

    @property
    def first_line(self) -> str:
        """Request line or status line."""
        return self.text.split("\r\n", 1)[0].split("\n", 1)[0]

    @property
    def is_request(self) -> bool:
        """True for a request."""
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        """The request method, or the CSeq method of a response."""
        if self.is_request:
            return self.first_line.split(" ", 1)[0]
        return self.cseq_method

    @property
    def status(self) -> int | None:
        """The status code of a response, None for a request."""
        return None if self.is_request else int(self.first_line.split()[1])

    @property
    def cseq_method(self) -> str:
        """The method named in CSeq."""
        value = self.header("CSeq")
        return value.split()[-1] if value else ""

    @property
    def call_id(self) -> str:
        """The Call-ID header."""
        return self.header("Call-ID") or self.header("i")

    @property
    def body(self) -> str:
        """The body (empty if none)."""
        for separator in ("\r\n\r\n", "\n\n"):
            _head, found, body = self.text.partition(separator)
            if found:
                return body
        return ""

    def header(self, name: str) -> str:
        """The first header called `name` (case-insensitive), or ''."""
        head = self.text.partition("\r\n\r\n")[0]
        for line in head.splitlines()[1:]:
            key, colon, value = line.partition(":")
            if colon and key.strip().lower() == name.lower():
                return value.strip()
        return ""

    @property
    def label(self) -> str:
        """Short name for ladders: ``INVITE`` or ``200 INVITE``."""
        return self.method if self.is_request else f"{self.status} {self.cseq_method}"

    def brief(self) -> str:
        """One line: time, direction, label and remote address."""
        arrow = "->" if self.direction == "TX" else "<-"
        return f"{self.t:.3f} {self.direction} {self.label} {arrow} {self.host}:{self.port}"


@dataclass(frozen=True)
class CallState:
    """What the worker knows about one call."""

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
    replies: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[PeerEvent] = field(default_factory=list)
    messages: list[SipMessage] = field(default_factory=list)
    eof: bool = False
    bad_lines: list[str] = field(default_factory=list)


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
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), name=f"pjsua-{self.name}", daemon=True
        )
        self._reader.start()
        result = self._command(
            "start",
            timeout=timeout,
            user=user,
            tcp=tcp,
            user_agent=user_agent,
            log_path=str(self.pjsua_log_path),
            host=self.host,
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
            try:
                self._command("stop", timeout=deadline.remaining)
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
            process.terminate()
            try:
                process.wait(2.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(2.0)
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
            "register",
            registrar_uri=registrar_uri,
            username=username,
            password=password,
            realm=realm,
            expires=expires,
            id_uri=id_uri,
        )

    def unregister(self) -> None:
        """Send REGISTER with Expires: 0; follow with :meth:`wait_registration`."""
        self._reg_mark = self._event_count()
        self._command("unregister")

    def call(
        self,
        uri: str,
        *,
        video: bool = True,
        video_port: int | None = None,
        h264_pt: int = 96,
        h264_fmtp: str = DEFAULT_H264_FMTP,
        direction: str = "sendonly",
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
            "call",
            uri=uri,
            video=video,
            video_port=video_port,
            h264_pt=h264_pt,
            h264_fmtp=h264_fmtp,
            direction=direction,
            offer=offer,
        )
        return int(result)

    def answer(self, handle: int, code: int = 200, reason: str = "") -> None:
        """Respond to incoming call `handle` with `code`."""
        self._command("answer", handle=handle, code=code, reason=reason)

    def hangup(self, handle: int, code: int = 0, reason: str = "") -> bool:
        """BYE, CANCEL or reject call `handle`; False (nothing sent) if it already ended.

        `code` is the final response for an unanswered incoming call (0: pjsua's choice, 603).
        """
        return bool(self._command("hangup", handle=handle, code=code, reason=reason)["sent"])

    def set_auto_answer(self, code: int | None, *, ring: bool = True) -> None:
        """Answer later incoming calls with 180 (if `ring`) then `code`.

        `code` None leaves them ringing (or, without `ring`, at 100 Trying) until :meth:`answer`.
        """
        self._command("set_auto_answer", code=code, ring=ring)

    def reinvite(self, handle: int, direction: str = "sendonly") -> None:
        """Send a re-INVITE offering every media section with `direction`."""
        self._command("reinvite", handle=handle, direction=direction)

    def calls(self) -> list[CallState]:
        """The state of every call the peer has made or received."""
        return [CallState(**row) for row in self._command("calls")]

    def call_state(self, handle: int) -> CallState:
        """The state of call `handle`."""
        for state in self.calls():
            if state.handle == handle:
                return state
        raise PeerError(f"peer {self.name!r} has no call {handle}")

    def messages(self) -> list[SipMessage]:
        """Every SIP message sent or received so far (synchronised with the worker)."""
        self._command("ping")
        with self._shared.cond:
            handles = {
                str(e.data["call_id"]): int(e.data["handle"])
                for e in self._shared.events
                if e.kind in ("call_state", "incoming") and e.data.get("call_id")
            }
            # A request sent before pjsua assigned the Call-ID to a handle (the first INVITE)
            # is matched to its call here.
            return [
                m if m.handle is not None else replace(m, handle=handles.get(m.call_id))
                for m in self._shared.messages
            ]

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

    # --- waits -----------------------------------------------------------------------------------

    def wait_event(
        self,
        predicate: Callable[[PeerEvent], bool],
        timeout: float = 5.0,
        *,
        expected: str,
        since: int = 0,
    ) -> PeerEvent:
        """The first event (from index `since`) matching `predicate`; PeerTimeout on deadline."""

        def find() -> PeerEvent | None:
            events = self._shared.events
            return next((e for e in events[since:] if predicate(e)), None)

        return self._wait(find, timeout, expected, self._seen_events)

    def wait_call_state(self, handle: int, state: str, timeout: float = 5.0) -> PeerEvent:
        """The call_state event taking call `handle` to `state`."""
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
        self, predicate: Callable[[SipMessage], bool], timeout: float = 5.0, *, expected: str
    ) -> SipMessage:
        """The first captured SIP message matching `predicate`."""

        def find() -> SipMessage | None:
            return next((m for m in self._shared.messages if predicate(m)), None)

        return self._wait(find, timeout, expected, self._seen_messages)

    # --- internals -------------------------------------------------------------------------------

    def _wait(
        self, find: Callable[[], T | None], timeout: float, expected: str, seen: Callable[[], str]
    ) -> T:
        deadline = Deadline(timeout)
        with self._shared.cond:
            while True:
                found = find()
                if found is not None:
                    return found
                if self._shared.eof:
                    self._raise_died(f"while waiting for {expected}")
                if deadline.expired:
                    raise PeerTimeout(
                        f"peer {self.name!r}: after {timeout:.1f} s expected {expected}; "
                        f"seen:\n{seen()}\nworker log: {self.worker_log_path}"
                    )
                self._shared.cond.wait(deadline.remaining)

    def _seen_events(self, last: int = 30) -> str:
        events = self._shared.events
        lines = [e.brief() for e in events[-last:]]
        skipped = len(events) - len(lines)
        head = [f"({skipped} earlier events)"] if skipped > 0 else []
        return "\n".join(head + lines) or "(no events)"

    def _seen_messages(self, last: int = 30) -> str:
        lines = [m.brief() for m in self._shared.messages[-last:]]
        return "\n".join(lines) or "(no SIP messages)"

    def _event_count(self) -> int:
        with self._shared.cond:
            return len(self._shared.events)

    def _command(self, cmd: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Send one command and wait for its reply; PeerDied / PeerTimeout / PeerError."""
        process = self._process
        if process is None or process.stdin is None:
            raise PeerError(f"peer {self.name!r} is not started; call start() first")
        timeout = self.command_timeout if timeout is None else timeout
        with self._write_lock:
            request_id = self._next_id
            self._next_id += 1
            line = json.dumps({"id": request_id, "cmd": cmd, "args": args}) + "\n"
            try:
                process.stdin.write(line.encode("utf-8"))
                process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                with self._shared.cond:
                    self._raise_died(f"sending {cmd!r}")
        reply = self._wait(
            lambda: self._shared.replies.pop(request_id, None),
            timeout,
            f"the reply to {cmd!r}",
            self._seen_events,
        )
        if not reply.get("ok"):
            raise PeerError(f"peer {self.name!r}: {cmd} {args} failed: {reply.get('error')}")
        return reply.get("result")

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
            f"pjsua peer {self.name!r} (pid {pid}) {how}, noticed {when}.\n"
            f"--- last lines of {self.worker_log_path} ---\n{_tail(self.worker_log_path)}\n"
            f"--- last lines of {self.pjsua_log_path} ---\n{_tail(self.pjsua_log_path, 10)}"
        )

    def _log_note(self, text: str) -> None:
        if self._log is not None and not self._log.closed:
            self._log.write(f"[controller] {text}\n".encode())
            self._log.flush()

    def _read(self, stream: IO[bytes]) -> None:
        """Reader thread: route replies and events; mark EOF when the worker's stdout closes."""
        shared = self._shared
        try:
            for raw in stream:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    with shared.cond:
                        shared.bad_lines.append(raw.decode("utf-8", "replace"))
                    continue
                with shared.cond:
                    if "id" in obj and "event" not in obj:
                        shared.replies[int(obj["id"])] = obj
                    elif obj.get("event") == "sip":
                        shared.messages.append(
                            SipMessage(
                                t=float(obj["t"]),
                                direction=str(obj["direction"]),
                                transport=str(obj["transport"]),
                                host=str(obj["host"]),
                                port=int(obj["port"]),
                                text=str(obj["text"]),
                                handle=obj.get("handle"),
                                local=str(obj.get("local", "")),
                            )
                        )
                    else:
                        kind = str(obj.pop("event", "?"))
                        t = float(obj.pop("t", 0.0))
                        shared.events.append(PeerEvent(kind, t, obj))
                    shared.cond.notify_all()
        except (OSError, ValueError):
            pass  # the stream was closed by stop(); EOF is recorded below either way
        finally:
            with shared.cond:
                shared.eof = True
                shared.cond.notify_all()


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


def ladder(messages: list[SipMessage], local: str = "peer") -> str:
    """A text ladder of `messages`, one line each, times relative to the first."""
    if not messages:
        return "(no messages)"
    start = messages[0].t
    rows = []
    for m in messages:
        arrow = f"{local} --{m.label}--> " if m.direction == "TX" else f"{local} <--{m.label}-- "
        rows.append(f"{(m.t - start) * 1000:8.1f} ms  {arrow}{m.transport} {m.host}:{m.port}")
    return "\n".join(rows)
