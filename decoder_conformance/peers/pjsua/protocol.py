"""The JSON-lines protocol between `controller.PjsuaPeer` and its worker process (`worker.py`).

Both sides type-check against these definitions; this module imports neither pjsua2 nor pytest,
so the worker can import it as a plain subprocess.

* stdin, one command per line: ``{"id": 7, "cmd": "call", "args": {...}}`` (a `Request`; its
  ``cmd`` and ``args`` are one of the `Command` shapes, e.g. `CallCommand` with `CallArgs`).
* stdout, replies: ``{"id": 7, "ok": true, "result": ...}`` (`OkReply`, the result shape named
  per command below) or ``{"id": 7, "ok": false, "error": "..."}`` (`ErrorReply`).
* stdout, events pushed at any time: ``{"event": "call_state", "t": ..., ...}`` (`Event`).

Every ``t`` (and `PingResult.monotonic`) is ``time.monotonic()`` in the worker: CLOCK_MONOTONIC,
one system-wide clock that the suite process reads too, so worker times and suite times compare
directly (the controller checks this at start).
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypedDict, get_args

# --- names ----------------------------------------------------------------------------------------

CommandName = Literal[
    "ping",
    "start",
    "register",
    "unregister",
    "call",
    "answer",
    "hangup",
    "set_auto_answer",
    "reinvite",
    "calls",
    "stop",
]
COMMAND_NAMES: tuple[CommandName, ...] = get_args(CommandName)

EventKind = Literal[
    "sip", "call_state", "incoming", "remote_sdp", "local_sdp", "reg_state", "worker_error"
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

CallStateName = Literal[
    "NULL", "CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED", "DISCONNECTED"
]
CALL_STATES: tuple[CallStateName, ...] = get_args(CallStateName)

MediaDirection = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
MEDIA_DIRECTIONS: tuple[MediaDirection, ...] = get_args(MediaDirection)

SipDirection = Literal["TX", "RX"]
SipTransport = Literal["udp", "tcp"]
SIP_TRANSPORTS: tuple[SipTransport, ...] = get_args(SipTransport)

# --- command arguments ----------------------------------------------------------------------------


class NoArgs(TypedDict):
    """Arguments of a command that takes none."""


class StartArgs(TypedDict):
    """`start`: create the endpoint, transports on `host`:0 and a local account."""

    log_path: str
    user: str
    tcp: bool
    user_agent: str
    host: str
    log_level: int


class RegisterArgs(TypedDict):
    """`register`: digest-register to `registrar_uri` (the result comes as reg_state events)."""

    registrar_uri: str
    username: str
    password: str
    realm: str
    expires: int
    id_uri: str | None


class CallArgs(TypedDict):
    """`call`: INVITE `uri` (see `PjsuaPeer.call`)."""

    uri: str
    video: bool
    video_port: int | None
    h264_pt: int
    h264_fmtp: str
    direction: MediaDirection
    offer: bool


class AnswerArgs(TypedDict):
    """`answer`: respond `code` to incoming call `handle`."""

    handle: int
    code: int
    reason: str


class HangupArgs(TypedDict):
    """`hangup`: BYE, CANCEL or reject call `handle` (`code` 0: pjsua's choice)."""

    handle: int
    code: int
    reason: str


class SetAutoAnswerArgs(TypedDict):
    """`set_auto_answer`: the answer to later incoming calls (None: ring until `answer`)."""

    code: int | None
    ring: bool


class ReinviteArgs(TypedDict):
    """`reinvite`: a re-INVITE offering every media section with `direction`."""

    handle: int
    direction: MediaDirection


class StopArgs(TypedDict):
    """`stop`: hang up active calls (if `hangup`), then destroy pjsua and exit."""

    hangup: bool


# --- commands (cmd + args; the wire line adds the request id) -------------------------------------


class PingCommand(TypedDict):
    """Round trip; its reply comes after every event the worker wrote before it."""

    cmd: Literal["ping"]
    args: NoArgs


class StartCommand(TypedDict):
    cmd: Literal["start"]
    args: StartArgs


class RegisterCommand(TypedDict):
    cmd: Literal["register"]
    args: RegisterArgs


class UnregisterCommand(TypedDict):
    cmd: Literal["unregister"]
    args: NoArgs


class CallCommand(TypedDict):
    cmd: Literal["call"]
    args: CallArgs


class AnswerCommand(TypedDict):
    cmd: Literal["answer"]
    args: AnswerArgs


class HangupCommand(TypedDict):
    cmd: Literal["hangup"]
    args: HangupArgs


class SetAutoAnswerCommand(TypedDict):
    cmd: Literal["set_auto_answer"]
    args: SetAutoAnswerArgs


class ReinviteCommand(TypedDict):
    cmd: Literal["reinvite"]
    args: ReinviteArgs


class CallsCommand(TypedDict):
    cmd: Literal["calls"]
    args: NoArgs


class StopCommand(TypedDict):
    cmd: Literal["stop"]
    args: StopArgs


Command: TypeAlias = (
    PingCommand
    | StartCommand
    | RegisterCommand
    | UnregisterCommand
    | CallCommand
    | AnswerCommand
    | HangupCommand
    | SetAutoAnswerCommand
    | ReinviteCommand
    | CallsCommand
    | StopCommand
)


class Request(TypedDict):
    """One command line as sent: the id its reply carries, the command's name and arguments."""

    id: int
    cmd: CommandName
    args: dict[str, Any]


# --- results (the `result` of an OkReply, per command) --------------------------------------------


class PingResult(TypedDict):
    """`ping`: the worker's pid and its monotonic clock when it answered."""

    pid: int
    monotonic: float


class StartResult(TypedDict):
    """`start`: the bound SIP ports (`tcp_port` None without TCP)."""

    udp_port: int
    tcp_port: int | None
    pid: int
    host: str
    monotonic: float


class HangupResult(TypedDict):
    """`hangup`: whether anything was sent, and the call's state."""

    sent: bool
    state: str


class CallSummary(TypedDict):
    """One row of `calls`: what the worker knows about one call."""

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


class StopResult(TypedDict):
    """`stop`: how many calls were hung up."""

    hung_up: int


#: `call` answers the new call's handle (an int); register, unregister, answer,
#: set_auto_answer and reinvite answer None; calls answers a list of CallSummary.
Result: TypeAlias = (
    PingResult | StartResult | HangupResult | StopResult | list[CallSummary] | int | None
)


class OkReply(TypedDict):
    """The command ran."""

    id: int
    ok: Literal[True]
    result: Result


class ErrorReply(TypedDict):
    """The command failed (`id` None: the line was not a readable request)."""

    id: int | None
    ok: Literal[False]
    error: str


Reply: TypeAlias = OkReply | ErrorReply

# --- events ---------------------------------------------------------------------------------------


class SipEvent(TypedDict):
    """A SIP message pjsua sent (TX) or received (RX), exactly as on the wire.

    `local_host`:`local_port` is the peer's transport (listening) address for `transport`.
    """

    event: Literal["sip"]
    t: float
    direction: SipDirection
    transport: SipTransport
    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    text: str


class CallStateEvent(TypedDict):
    """The INVITE session of call `handle` changed state."""

    event: Literal["call_state"]
    t: float
    handle: int
    state: str
    code: int
    reason: str
    role: str
    call_id: str


class IncomingEvent(TypedDict):
    """A new incoming call (the whole INVITE in `invite`, its body in `sdp`)."""

    event: Literal["incoming"]
    t: float
    handle: int
    remote_uri: str
    call_id: str
    source: str
    sdp: str
    invite: str


class RemoteSdpEvent(TypedDict):
    """An SDP body received on call `handle`, in the message whose start line is `first_line`."""

    event: Literal["remote_sdp"]
    t: float
    handle: int
    sdp: str
    first_line: str


class LocalSdpEvent(TypedDict):
    """pjsua built a local SDP (after the worker's rewrites)."""

    event: Literal["local_sdp"]
    t: float
    handle: int
    sdp: str
    offer: bool
    rewritten: bool


class RegStateEvent(TypedDict):
    """The account's registration state changed."""

    event: Literal["reg_state"]
    t: float
    code: int
    reason: str
    expiration: int
    active: bool
    expires: int


class WorkerErrorEvent(TypedDict):
    """A pjsua callback or queued action of the worker raised (the worker went on)."""

    event: Literal["worker_error"]
    t: float
    where: str
    error: str


Event: TypeAlias = (
    SipEvent
    | CallStateEvent
    | IncomingEvent
    | RemoteSdpEvent
    | LocalSdpEvent
    | RegStateEvent
    | WorkerErrorEvent
)
