"""A pjsua2 SIP user agent in its own process, driven by JSON lines: the pjsua peer's worker.

pjsua2 aborts the whole process on some misuse (C asserts, uncaught C++ errors), so it never runs
in the test process: `controller.PjsuaPeer` starts this module as a subprocess
(``python -m decoder_conformance.peers.pjsua.worker``) and talks to it over stdin/stdout.

Protocol: one JSON object per line, shaped as `protocol.py` defines (commands on stdin; replies
and events on stdout). Event times are ``time.monotonic()``: CLOCK_MONOTONIC, the one system-wide
clock the controller reads too (it checks so at start), so they need no conversion.

Nothing else reaches stdout: the protocol writes to a duplicate of fd 1 and fd 1 itself is pointed
at stderr before pjsua is created (pjsua prints a few lines at ``libCreate``). stderr is the
worker's own log (tracebacks, C asserts, pjsua warnings); the level-5 pjsua log goes to the file
named in ``start``.

The endpoint runs with ``threadCnt=0`` and ``mainThreadOnly=True``: every pjsua callback runs on
this module's single thread, inside ``libHandleEvents``. Actions that callbacks want to take
(answering an incoming call) are queued and run after ``libHandleEvents`` returns.

Traps handled here (measured, see the toolchain notes):

* pjsua2 was built without video. A video offer uses two audio slots (``opt.audioCount = 2``) and
  ``onCallSdpCreated`` rewrites the second ``m=audio`` section into ``m=video ... H264/90000``.
* ``SdpSession.wholeSdp`` is printed into a 1024-byte buffer: the codec list is cut to PCMU so a
  two-slot SDP fits; an empty ``wholeSdp`` is reported as an error, never rewritten.
* ``hangup`` on a disconnected call raises and then the Call destructor aborts: hangup is sent at
  most once per call and never after DISCONNECTED.
* Python exceptions must not cross a SWIG director (that aborts): every callback is guarded and
  reports a ``worker_error`` event instead.
* Exit is ``libDestroy(PJSUA_DESTROY_NO_NETWORK)`` then ``os._exit``, so no Call/Account destructor
  runs against a destroyed library.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, cast

import pjsua2 as pj

from decoder_conformance import LOOPBACK
from decoder_conformance.peers.pjsua import protocol

HANDLE_EVENTS_MS = 10
STOP_HANGUP_SECONDS = 1.0
DIRECTIONS = protocol.MEDIA_DIRECTIONS
DEFAULT_H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"

STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
ROLE_NAMES = {pj.PJSIP_ROLE_UAC: "UAC", pj.PJSIP_ROLE_UAS: "UAS"}

# pjsua_core.c logs each message at level 4 as
# "RX 512 bytes Request msg INVITE/cseq=1 (rdata0x..) from UDP 127.0.0.1:5060:\n<msg>\n--end msg--"
_MSG_LOG = re.compile(
    r"(?P<dir>RX|TX) (?P<len>\d+) bytes (?P<info>.*?) (?:from|to) (?P<tp>\S+) "
    r"(?P<host>\[[^\]]+\]|[^\s:]+):(?P<port>\d+):\r?\n(?P<text>.*)\n--end msg--",
    re.DOTALL,
)
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_DIRECTION_LINE = re.compile(r"^a=(?:sendrecv|sendonly|recvonly|inactive)\r?\n", re.MULTILINE)


def sip_body(text: str) -> str:
    """The body of a SIP message's text (empty when there is none)."""
    for separator in ("\r\n\r\n", "\n\n"):
        _head, found, body = text.partition(separator)
        if found:
            return body
    return ""


def call_id_of(text: str) -> str | None:
    """The Call-ID of a SIP message's text, or None."""
    match = _CALL_ID.search(text.partition("\r\n\r\n")[0])
    return match.group(1) if match else None


def set_direction(sdp: str, direction: str) -> str:
    """`sdp` with every media section's direction attribute replaced by `direction`."""
    head, *sections = re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)
    out = [head]
    for section in sections:
        kept = _DIRECTION_LINE.sub("", section)
        if not kept.endswith("\n"):
            kept += "\r\n"
        out.append(f"{kept}a={direction}\r\n")
    return "".join(out)


def video_offer(
    sdp: str, *, port: int | None, pt: int, fmtp: str, direction: str, host: str = LOOPBACK
) -> str:
    """`sdp` (two audio sections) with the last ``m=audio`` section turned into H.264 video.

    `port` None keeps the port pjsua bound for that slot (a real socket on `host`, the suite
    host the media transport is pinned to); the section's ``c=`` line names `host`.
    """
    index = sdp.rfind("m=audio")
    if index <= 0 or sdp.count("m=audio") < 2:
        raise ValueError(f"expected two m=audio sections to rewrite, got SDP:\n{sdp!r}")
    slot_port = int(sdp[index:].split()[1])
    lines = [
        f"m=video {slot_port if port is None else port} RTP/AVP {pt}",
        f"c=IN IP4 {host}",
        f"a=rtpmap:{pt} H264/90000",
    ]
    if fmtp:
        lines.append(f"a=fmtp:{pt} {fmtp}")
    lines.append(f"a={direction}")
    return sdp[:index] + "\r\n".join(lines) + "\r\n"


class MessageLog(pj.LogWriter):  # type: ignore[misc]
    """Receives pjsua's console log: SIP messages are captured, warnings go to stderr."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker

    def write(self, entry: Any) -> None:
        """pjsua2 log callback (level <= consoleLevel)."""
        with self.worker.guard("LogWriter.write"):
            text = str(entry.msg)
            match = _MSG_LOG.search(text)
            if match:
                self.worker.on_sip_message(match)
            elif int(entry.level) <= 3:
                sys.stderr.write(text if text.endswith("\n") else text + "\n")


class PeerAccount(pj.Account):  # type: ignore[misc]
    """The worker's one account; incoming calls and registration state land here."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.worker = worker

    def onRegState(self, prm: Any) -> None:
        """Registration state changed."""
        with self.worker.guard("onRegState"):
            info = self.getInfo()
            self.worker.send(
                protocol.RegStateEvent(
                    event="reg_state",
                    t=time.monotonic(),
                    code=int(prm.code),
                    reason=str(prm.reason),
                    expiration=int(prm.expiration),
                    active=bool(info.regIsActive),
                    expires=int(info.regExpiresSec),
                )
            )

    def onIncomingCall(self, prm: Any) -> None:
        """A new INVITE arrived."""
        with self.worker.guard("onIncomingCall"):
            self.worker.on_incoming(self, prm)


class PeerCall(pj.Call):  # type: ignore[misc]
    """One call and what the worker knows about it (kept alive until the process exits)."""

    def __init__(self, worker: Worker, account: PeerAccount, handle: int, call_id: int) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.handle = handle
        self.video = False
        self.video_port: int | None = None
        self.h264_pt = 96
        self.h264_fmtp = DEFAULT_H264_FMTP
        self.video_direction: protocol.MediaDirection = "sendonly"
        self.direction: protocol.MediaDirection | None = (
            None  # set by reinvite: rewrite all media directions
        )
        self.state = "NULL"
        self.role = ""
        self.last_code = 0
        self.last_reason = ""
        self.remote_uri = ""
        self.sip_call_id = ""
        self.hangup_sent = False
        self.local_sdp = ""
        self.remote_sdp = ""

    def summary(self) -> protocol.CallSummary:
        """The cached state (getInfo is not safe on a disconnected call)."""
        return protocol.CallSummary(
            handle=self.handle,
            state=self.state,
            role=self.role,
            last_code=self.last_code,
            last_reason=self.last_reason,
            remote_uri=self.remote_uri,
            call_id=self.sip_call_id,
            video=self.video,
            hangup_sent=self.hangup_sent,
            local_sdp=self.local_sdp,
            remote_sdp=self.remote_sdp,
        )

    def refresh(self) -> None:
        """Copy getInfo() into the cache."""
        info = self.getInfo()
        self.state = STATE_NAMES.get(info.state, str(info.state))
        self.role = ROLE_NAMES.get(info.role, str(info.role))
        self.last_code = int(info.lastStatusCode)
        self.last_reason = str(info.lastReason)
        self.remote_uri = str(info.remoteUri)
        if info.callIdString:
            self.sip_call_id = str(info.callIdString)
            self.worker.by_call_id[self.sip_call_id] = self.handle

    def onCallState(self, prm: Any) -> None:
        """The INVITE session changed state."""
        with self.worker.guard("onCallState"):
            self.refresh()
            self.worker.send(
                protocol.CallStateEvent(
                    event="call_state",
                    t=time.monotonic(),
                    handle=self.handle,
                    state=self.state,
                    code=self.last_code,
                    reason=self.last_reason,
                    role=self.role,
                    call_id=self.sip_call_id,
                )
            )

    def onCallSdpCreated(self, prm: Any) -> None:
        """pjsua built a local SDP (offer or answer): apply the video and direction rewrites."""
        with self.worker.guard("onCallSdpCreated"):
            sdp = str(prm.sdp.wholeSdp)
            offering = not str(prm.remSdp.wholeSdp)
            if not sdp:
                raise RuntimeError(
                    "pjsua gave an empty local SDP (the 1024-byte wholeSdp buffer overflowed?); "
                    "leaving it unchanged"
                )
            new = sdp
            if offering and self.video:
                new = video_offer(
                    new,
                    port=self.video_port,
                    pt=self.h264_pt,
                    fmtp=self.h264_fmtp,
                    direction=self.direction or self.video_direction,
                    host=self.worker.host,
                )
            if self.direction is not None:
                new = set_direction(new, self.direction)
            if new != sdp:
                prm.sdp.wholeSdp = new
            self.local_sdp = new
            self.worker.send(
                protocol.LocalSdpEvent(
                    event="local_sdp",
                    t=time.monotonic(),
                    handle=self.handle,
                    sdp=new,
                    offer=offering,
                    rewritten=new != sdp,
                )
            )


class Worker:
    """Command dispatch and pjsua2 state for one user agent."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.ep: Any = None
        self.writer: MessageLog | None = None
        self.account: PeerAccount | None = None
        self.account_config: Any = None
        self.udp_port = 0
        self.tcp_port: int | None = None
        self.user = ""
        self.host = LOOPBACK  # the suite host, set by `start`
        self.calls: dict[int, PeerCall] = {}
        self.by_call_id: dict[str, int] = {}
        self.next_handle = 1
        self.auto_answer: int | None = None
        self.ring = True
        self.pending: list[Callable[[], None]] = []
        self.done = False

    # --- output ----------------------------------------------------------------------------------

    def send(self, obj: protocol.Reply | protocol.Event) -> None:
        """Write one protocol line: a reply, or an event pushed to the controller."""
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    @contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """Keep a Python exception from crossing into pjsua (which would abort the process)."""
        try:
            yield
        except Exception as exc:
            text = traceback.format_exc()
            sys.stderr.write(f"error in {where}:\n{text}")
            try:
                self.send(
                    protocol.WorkerErrorEvent(
                        event="worker_error",
                        t=time.monotonic(),
                        where=where,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
            except Exception:
                sys.stderr.write(f"could not report the error in {where}\n")

    # --- pjsua callbacks -------------------------------------------------------------------------

    def on_sip_message(self, match: re.Match[str]) -> None:
        """A message went out or came in: push it, and the remote SDP of a known call."""
        t = time.monotonic()
        text = match.group("text")
        direction: protocol.SipDirection = "TX" if match.group("dir") == "TX" else "RX"
        transport = match.group("tp").lower()
        if transport == "udp":
            port = self.udp_port
        elif transport == "tcp" and self.tcp_port is not None:
            port = self.tcp_port
        else:
            raise ValueError(f"a SIP message over {match.group('tp')!r}, not a transport started")
        self.send(
            protocol.SipEvent(
                event="sip",
                t=t,
                direction=direction,
                transport=cast(protocol.SipTransport, transport),
                local_host=self.host,
                local_port=port,
                remote_host=match.group("host").strip("[]"),
                remote_port=int(match.group("port")),
                text=text,
            )
        )
        call_id = call_id_of(text)
        handle = self.by_call_id.get(call_id) if call_id else None
        body = sip_body(text)
        if direction == "RX" and handle is not None and body.startswith("v=0"):
            self.calls[handle].remote_sdp = body
            self.send_remote_sdp(t, handle, body, text)

    def send_remote_sdp(self, t: float, handle: int, body: str, text: str) -> None:
        """Report the SDP the other side sent on call `handle` (in `text`, a whole message)."""
        self.send(
            protocol.RemoteSdpEvent(
                event="remote_sdp",
                t=t,
                handle=handle,
                sdp=body,
                first_line=text.split("\r\n", 1)[0],
            )
        )

    def on_incoming(self, account: PeerAccount, prm: Any) -> None:
        """Track the new call, report it, and queue the automatic answer."""
        handle = self.new_handle()
        call = PeerCall(self, account, handle, prm.callId)
        self.calls[handle] = call
        call.refresh()
        text = str(prm.rdata.wholeMsg)
        body = sip_body(text)
        call.remote_sdp = body
        t = time.monotonic()
        self.send(
            protocol.IncomingEvent(
                event="incoming",
                t=t,
                handle=handle,
                remote_uri=call.remote_uri,
                call_id=call.sip_call_id,
                source=str(prm.rdata.srcAddress),
                sdp=body,
                invite=text,
            )
        )
        if body:
            self.send_remote_sdp(t, handle, body, text)
        code, ring = self.auto_answer, self.ring

        def ring_then_answer() -> None:
            if call.state == "DISCONNECTED":
                return
            if ring:
                self.answer_call(call, 180, "")
            if code is not None and code != 180:
                self.answer_call(call, code, "")

        self.pending.append(ring_then_answer)

    # --- helpers ---------------------------------------------------------------------------------

    def new_handle(self) -> int:
        """A handle that is never reused (pjsua reuses its call ids)."""
        handle = self.next_handle
        self.next_handle += 1
        return handle

    def call_for(self, handle: int) -> PeerCall:
        """The call with `handle`, or a KeyError naming the known handles."""
        try:
            return self.calls[int(handle)]
        except KeyError:
            raise KeyError(f"no call with handle {handle}; known: {sorted(self.calls)}") from None

    def answer_call(self, call: PeerCall, code: int, reason: str) -> None:
        """Send a response to an incoming INVITE."""
        if call.state == "DISCONNECTED" or call.hangup_sent:
            raise RuntimeError(f"call {call.handle} is {call.state}; cannot answer {code}")
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        if reason:
            prm.reason = reason
        call.answer(prm)

    def require_started(self) -> PeerAccount:
        """The account, or an error saying `start` has not run."""
        if self.account is None:
            raise RuntimeError("start has not been called")
        return self.account

    # --- commands --------------------------------------------------------------------------------

    def execute(self, command: protocol.Command) -> protocol.Result:
        """Run one command (its name narrows its arguments' shape) and return its result."""
        if command["cmd"] == "ping":
            return self.cmd_ping()
        if command["cmd"] == "start":
            return self.cmd_start(command["args"])
        if command["cmd"] == "register":
            self.cmd_register(command["args"])
            return None
        if command["cmd"] == "unregister":
            self.cmd_unregister()
            return None
        if command["cmd"] == "call":
            return self.cmd_call(command["args"])
        if command["cmd"] == "answer":
            self.cmd_answer(command["args"])
            return None
        if command["cmd"] == "hangup":
            return self.cmd_hangup(command["args"])
        if command["cmd"] == "set_auto_answer":
            self.cmd_set_auto_answer(command["args"])
            return None
        if command["cmd"] == "reinvite":
            self.cmd_reinvite(command["args"])
            return None
        if command["cmd"] == "calls":
            return self.cmd_calls()
        if command["cmd"] == "stop":
            return self.cmd_stop(command["args"])
        raise ValueError(f"unknown command {command!r}")

    def cmd_ping(self) -> protocol.PingResult:
        """Round trip (orders replies after every event already written), with this clock."""
        return protocol.PingResult(pid=os.getpid(), monotonic=time.monotonic())

    def cmd_start(self, args: protocol.StartArgs) -> protocol.StartResult:
        """Create the endpoint, UDP (and TCP) transports on `host`:0 and a local account.

        `host` is the suite host. Both the SIP transports and the account's media transport are
        bound to it and advertise it (boundAddress and publicAddress): the media transport does
        not follow the SIP transport's address, so each is pinned (toolchain note).
        """
        if self.ep is not None:
            raise RuntimeError("already started")
        host = args["host"]
        self.host = host
        ep = pj.Endpoint()
        ep.libCreate()  # prints a few lines to fd 1, which main() pointed at stderr
        self.ep = ep
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 16
        cfg.uaConfig.userAgent = args["user_agent"]
        self.writer = MessageLog(self)
        cfg.logConfig.writer = self.writer
        cfg.logConfig.level = args["log_level"]
        cfg.logConfig.consoleLevel = 4  # SIP messages are logged at level 4
        cfg.logConfig.msgLogging = True
        cfg.logConfig.filename = args["log_path"]
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        for codec in ep.codecEnum2():
            ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith("PCMU/") else 0)
        tc = pj.TransportConfig()
        tc.port = 0
        tc.boundAddress = tc.publicAddress = host
        udp = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.udp_port = int(ep.transportGetInfo(udp).localName.rsplit(":", 1)[1])
        if args["tcp"]:
            tcp_id = ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tc)
            self.tcp_port = int(ep.transportGetInfo(tcp_id).localName.rsplit(":", 1)[1])
        ep.libStart()
        user = args["user"]
        self.user = user
        ac = pj.AccountConfig()
        ac.idUri = f"sip:{user}@{host}:{self.udp_port}"
        media = ac.mediaConfig.transportConfig
        media.boundAddress = media.publicAddress = host
        media.port = 0
        self.account_config = ac
        self.account = PeerAccount(self)
        self.account.create(ac, True)
        return protocol.StartResult(
            udp_port=self.udp_port,
            tcp_port=self.tcp_port,
            pid=os.getpid(),
            host=host,
            monotonic=time.monotonic(),
        )

    def cmd_register(self, args: protocol.RegisterArgs) -> None:
        """Register (digest credentials) to `registrar_uri`; the result comes as reg_state."""
        account = self.require_started()
        registrar_uri = args["registrar_uri"]
        host = registrar_uri.split(":", 1)[1].split(";", 1)[0]
        ac = self.account_config
        ac.idUri = args["id_uri"] or f"sip:{args['username']}@{host}"
        ac.regConfig.registrarUri = registrar_uri
        ac.regConfig.timeoutSec = int(args["expires"])
        ac.regConfig.registerOnAdd = True
        creds = pj.AuthCredInfoVector()
        creds.append(
            pj.AuthCredInfo("digest", args["realm"], args["username"], 0, args["password"])
        )
        ac.sipConfig.authCreds = creds
        account.modify(ac)

    def cmd_unregister(self) -> None:
        """Send REGISTER with Expires: 0."""
        self.require_started().setRegistration(False)

    def cmd_call(self, args: protocol.CallArgs) -> int:
        """INVITE `uri`; returns the call handle."""
        account = self.require_started()
        direction = args["direction"]
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        offer = args["offer"]
        handle = self.new_handle()
        call = PeerCall(self, account, handle, pj.PJSUA_INVALID_ID)
        call.video = args["video"] and offer
        call.video_port = args["video_port"]
        call.h264_pt = args["h264_pt"]
        call.h264_fmtp = args["h264_fmtp"]
        call.video_direction = direction
        self.calls[handle] = call
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 2 if call.video else 1
        prm.opt.videoCount = 0  # never 1: this pjsua build asserts on video
        if not offer:
            prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
        call.makeCall(args["uri"], prm)
        call.refresh()
        return handle

    def cmd_answer(self, args: protocol.AnswerArgs) -> None:
        """Respond to an incoming call."""
        self.answer_call(self.call_for(args["handle"]), int(args["code"]), args["reason"])

    def cmd_hangup(self, args: protocol.HangupArgs) -> protocol.HangupResult:
        """End a call (BYE, CANCEL or a final response); a no-op once it is disconnected."""
        call = self.call_for(args["handle"])
        if call.state == "DISCONNECTED" or call.hangup_sent or not call.isActive():
            return protocol.HangupResult(sent=False, state=call.state)
        prm = pj.CallOpParam(True)
        prm.statusCode = int(args["code"])
        if args["reason"]:
            prm.reason = args["reason"]
        call.hangup_sent = True
        call.hangup(prm)
        return protocol.HangupResult(sent=True, state=call.state)

    def cmd_set_auto_answer(self, args: protocol.SetAutoAnswerArgs) -> None:
        """Answer for later incoming calls (None: wait for `answer`), after a 180 if `ring`."""
        code = args["code"]
        self.auto_answer = None if code is None else int(code)
        self.ring = bool(args["ring"])

    def cmd_reinvite(self, args: protocol.ReinviteArgs) -> None:
        """Send a re-INVITE whose offer puts every media section in `direction`."""
        direction = args["direction"]
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        handle = args["handle"]
        call = self.call_for(handle)
        if call.state != "CONFIRMED":
            raise RuntimeError(f"call {handle} is {call.state}; re-INVITE needs CONFIRMED")
        call.direction = direction
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 2 if call.video else 1
        prm.opt.videoCount = 0
        prm.opt.flag |= pj.PJSUA_CALL_UNHOLD
        call.reinvite(prm)

    def cmd_calls(self) -> list[protocol.CallSummary]:
        """The cached state of every call."""
        return [call.summary() for call in self.calls.values()]

    def cmd_stop(self, args: protocol.StopArgs) -> protocol.StopResult:
        """Hang up active calls (BYE/CANCEL, up to 1 s), then destroy pjsua without network."""
        hung = 0
        if self.ep is not None and args["hangup"]:
            for handle in list(self.calls):
                if self.cmd_hangup(protocol.HangupArgs(handle=handle, code=0, reason=""))["sent"]:
                    hung += 1
            deadline = time.monotonic() + STOP_HANGUP_SECONDS
            while time.monotonic() < deadline and any(
                c.state != "DISCONNECTED" for c in self.calls.values()
            ):
                self.ep.libHandleEvents(HANDLE_EVENTS_MS)
        if self.ep is not None:
            self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        self.done = True
        return protocol.StopResult(hung_up=hung)

    # --- loop ------------------------------------------------------------------------------------

    def dispatch(self, line: str) -> None:
        """Run one command line (a protocol.Request) and write its reply."""
        request_id: int | None = None
        try:
            request = cast(protocol.Request, json.loads(line))
            request_id = request.get("id")
            if request.get("cmd") not in protocol.COMMAND_NAMES:
                raise ValueError(f"unknown command {request.get('cmd')!r}")
            command = cast(protocol.Command, {"cmd": request["cmd"], "args": request["args"]})
            result = self.execute(command)
            self.send(protocol.OkReply(id=request["id"], ok=True, result=result))
        except Exception as exc:
            sys.stderr.write(f"command failed: {line.strip()}\n{traceback.format_exc()}")
            error = f"{type(exc).__name__}: {exc}"
            self.send(protocol.ErrorReply(id=request_id, ok=False, error=error))

    def run_pending(self) -> None:
        """Run actions that callbacks queued."""
        while self.pending:
            action = self.pending.pop(0)
            with self.guard("queued action"):
                action()

    def run(self) -> None:
        """Alternate pjsua event handling with non-blocking reads of stdin until stop or EOF."""
        selector = selectors.DefaultSelector()
        selector.register(0, selectors.EVENT_READ)
        buffer = b""
        while not self.done:
            if self.ep is not None:
                self.ep.libHandleEvents(HANDLE_EVENTS_MS)
                self.run_pending()
            for _key, _mask in selector.select(0 if self.ep is not None else 0.1):
                chunk = os.read(0, 65536)
                if not chunk:  # the controller went away: stop as if told to
                    sys.stderr.write("stdin closed; stopping\n")
                    self.cmd_stop(protocol.StopArgs(hangup=False))
                    break
                buffer += chunk
                while b"\n" in buffer and not self.done:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self.dispatch(line.decode("utf-8"))
                        self.run_pending()


def main() -> None:
    """Entry point: protocol on a private copy of stdout, fd 1 pointed at stderr."""
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker(proto)
    code = 0
    try:
        worker.run()
    except BaseException:
        sys.stderr.write(f"worker loop failed:\n{traceback.format_exc()}")
        code = 1
    proto.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: Call/Account destructors after libDestroy can assert.
    os._exit(code)


if __name__ == "__main__":
    main()
