"""sipvicious (svmap, svwar, svcrack) as the scanner the suite plays, run as subprocesses.

sipvicious 0.3.8 installs console scripts `sipvicious_svmap`, `sipvicious_svwar` and
`sipvicious_svcrack`; they are looked up next to the running interpreter (the venv's bin/) first,
then on PATH. A missing script raises `SipviciousMissing` (NotExercised: the case is broken, not
failed). Each run is bounded: it is stopped (terminate, wait, kill) once its outcome is printed or
its time is up, and what it printed is kept as the case's evidence.

Network rule: every run gets `-b HOST -x HOST` (the defaults bind every interface and write an
address found by a host-name lookup). Ports: `-P <a random port in 10000-29999>`, from which each
tool tries the next port until a bind succeeds and keeps that socket for the whole run (every try
is a real bind, so there is no probe-then-bind race). A fixed start would let one run receive the
answers the device still retransmits to the previous run's port (svwar never ACKs a 488), and
`-P 0` writes port 0 in Via, which only a device honouring rport can answer. The target must be
an IP literal that is 127.0.0.1 or a host in `allowed_hosts` (the lab device, given explicitly);
anything else is refused before a tool starts. `-A` (autogetip: it connects out) and `--srv`
are never passed.

The output parsers are written here because sipvicious has no machine-readable output: its
tables (libs/pptable.py) and log lines are the interface.
"""

from __future__ import annotations

import ast
import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from decoder_conformance import LOOPBACK
from decoder_conformance.failures import NotExercised
from decoder_conformance.waiting import stop_process
from wire import sip

#: The console scripts sipvicious 0.3.8 installs, by tool name.
SCRIPTS = {
    "svmap": "sipvicious_svmap",
    "svwar": "sipvicious_svwar",
    "svcrack": "sipvicious_svcrack",
}
#: The local ports a run starts from (below Linux's ephemeral range; it moves up until a bind
#: succeeds).
START_PORTS = range(10000, 30000)
#: Seconds a tool gets to exit after terminate() before it is killed.
STOP_GRACE = 2.0
MASK = "***"


class SipviciousMissing(NotExercised):
    """A sipvicious console script is not installed: the case is broken, not failed."""


class ScanError(NotExercised):
    """A sipvicious run that did not do its part (hung, crashed, bad arguments)."""


def find_script(tool: str) -> str:
    """Path of `tool`'s console script (next to this interpreter, else on PATH)."""
    script = SCRIPTS[tool]
    beside = Path(sys.executable).parent / script
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(script)
    if found is None:
        raise SipviciousMissing(
            f"{script} not found next to {sys.executable} or on PATH; install sipvicious "
            "(`pip install sipvicious==0.3.8`, a dependency of this project)"
        )
    return found


def check_target(host: str, allowed_hosts: Sequence[str] = ()) -> str:
    """`host` if it is an IP literal the network rule allows (127.0.0.1 or an allowed host)."""
    if isinstance(allowed_hosts, str):
        raise TypeError("allowed_hosts is a sequence of hosts, not one string")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise NotExercised(f"harness: scan target {host!r} is not an IP literal") from None
    if host not in (LOOPBACK, *allowed_hosts):
        raise NotExercised(
            f"harness: scan target {host} is neither 127.0.0.1 nor the device given explicitly "
            f"({list(allowed_hosts)}): network rule"
        )
    return host


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every one of `secrets` (non-empty, longest first) replaced by ***."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class ToolRun:
    """One finished (or stopped) sipvicious run."""

    tool: str
    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    #: "" when the tool exited by itself, "outcome" when stopped once its outcome was printed,
    #: "timeout" when its time ran out
    stopped: str = ""

    def text(self, secrets: Iterable[str] = ()) -> str:
        """The run as text for a report, `secrets` masked."""
        how = {"": f"exit {self.returncode}", "outcome": "stopped once its outcome was printed"}
        body = (
            f"$ {' '.join(self.argv)}\n"
            f"({how.get(self.stopped, 'stopped: time out')}, {self.seconds:.2f} s)\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n"
        )
        return mask(body, secrets)


def run_tool(
    tool: str,
    args: Sequence[str],
    *,
    timeout: float,
    done: Callable[[str], bool] | None = None,
) -> ToolRun:
    """Run `tool` with `args` until it exits, `done(stdout + stderr so far)` holds, or `timeout`
    seconds pass; then stop it (terminate, wait, kill) and return what it printed."""
    argv = (find_script(tool), *args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        errors="replace",
    )
    out: list[str] = []
    err: list[str] = []
    changed = threading.Condition()

    def pump(stream: object, into: list[str]) -> None:
        for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
            with changed:
                into.append(line)
                changed.notify_all()
        with changed:
            changed.notify_all()

    readers = [
        threading.Thread(target=pump, args=(process.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    stopped = ""
    try:
        with changed:
            while process.poll() is None:
                if done is not None and done("".join(out) + "".join(err)):
                    stopped = "outcome"
                    break
                left = started + timeout - time.monotonic()
                if left <= 0:
                    stopped = "timeout"
                    break
                changed.wait(min(left, 0.05))
    finally:
        stop_process(process, STOP_GRACE)
        for reader in readers:
            reader.join(STOP_GRACE)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    return ToolRun(
        tool,
        tuple(str(a) for a in argv),
        None if stopped else process.returncode,
        "".join(out),
        "".join(err),
        time.monotonic() - started,
        stopped,
    )


def _common(host: str, port: int) -> list[str]:
    """The options every run gets: bind and write the suite host, the first local port to try."""
    start = START_PORTS[secrets.randbelow(len(START_PORTS))]
    return ["-b", host, "-x", host, "-P", str(start), "-p", str(port)]


def table_rows(text: str) -> list[list[str]]:
    """The data rows of a sipvicious table (pptable: `| a | b |` lines under a `+===+` rule)."""
    rows: list[list[str]] = []
    header_done = False
    for line in text.splitlines():
        if line.startswith("+="):
            header_done = True
        elif header_done and line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


# --- svmap -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SvmapResult:
    """What svmap saw: its table (address -> user agent) and every raw response (`-d`)."""

    run: ToolRun
    devices: dict[str, str]
    responses: list[bytes]

    def headers(self, name: str) -> list[str]:
        """The values of header `name` across the responses (unparsable ones skipped)."""
        values: list[str] = []
        for raw in self.responses:
            try:
                message = sip.parse(raw)
            except ValueError:
                continue
            values += message.headers.get_all(name)
        return values


def _debug_responses(stdout: str) -> list[bytes]:
    """The raw messages svmap -d printed (each as a Python bytes literal on its own line)."""
    found: list[bytes] = []
    for raw in stdout.splitlines():
        line = raw.strip()
        if line.startswith(("b'", 'b"')):
            try:
                value = ast.literal_eval(line)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, bytes):
                found.append(value)
    return found


def svmap(
    host: str,
    port: int,
    *,
    suite_host: str = LOOPBACK,
    allowed_hosts: Sequence[str] = (),
    method: str = "OPTIONS",
    timeout: float = 10.0,
) -> SvmapResult:
    """svmap one SIP address with `method` (OPTIONS by default), raw responses printed (-d)."""
    target = check_target(host, allowed_hosts)
    run = run_tool(
        "svmap", [*_common(suite_host, port), "-m", method, "-d", target], timeout=timeout
    )
    if run.stopped == "timeout":
        raise ScanError(f"svmap did not finish within {timeout} s:\n{run.text()}")
    devices = {row[0]: row[1] for row in table_rows(run.stdout) if len(row) >= 2}
    return SvmapResult(run, devices, _debug_responses(run.stdout))


# --- svwar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SvwarResult:
    """The extensions svwar reported (extension -> its Authentication column)."""

    run: ToolRun
    found: dict[str, str]


def svwar(
    host: str,
    port: int,
    extensions: Sequence[str],
    workdir: Path,
    *,
    suite_host: str = LOOPBACK,
    allowed_hosts: Sequence[str] = (),
    method: str = "INVITE",
    timeout: float = 15.0,
) -> SvwarResult:
    """svwar the `extensions` (a dictionary file in `workdir`) at one SIP address."""
    target = check_target(host, allowed_hosts)
    workdir.mkdir(parents=True, exist_ok=True)
    dictionary = workdir / "svwar-extensions.txt"
    dictionary.write_text("".join(f"{e}\n" for e in extensions), "utf-8")
    run = run_tool(
        "svwar",
        [*_common(suite_host, port), "-m", method, "-d", str(dictionary), target],
        timeout=timeout,
    )
    if run.stopped == "timeout":
        raise ScanError(f"svwar did not finish within {timeout} s:\n{run.text()}")
    if "Traceback" in run.stderr:
        raise ScanError(f"svwar crashed:\n{run.text()}")
    found = {row[0]: row[1] for row in table_rows(run.stdout) if len(row) >= 2}
    return SvwarResult(run, found)


# --- svcrack -----------------------------------------------------------------------------------

#: svcrack's log lines that end its run (0.3.8 svcrack.py), and what each means.
SVCRACK_OUTCOMES = {
    "The password for": "cracked",
    "Does not seem to require authentication": "no_auth",
    "User not found": "user_not_found",
    "We got an unknown response": "unknown_response",
    "found nothing": "found_nothing",
    "no server response": "no_response",
}
CHALLENGES = (401, 407)


@dataclass(frozen=True)
class SvcrackResult:
    """What svcrack saw and concluded against one user name."""

    run: ToolRun
    #: the status codes of every response svcrack logged receiving (-vvv), in order
    codes: list[int]
    #: the outcomes its log states (keys of SVCRACK_OUTCOMES' values)
    outcomes: list[str]
    #: passwords svcrack claims to have found, by user (masked in any text of the run)
    cracked: dict[str, str] = field(default_factory=dict)

    @property
    def challenged(self) -> bool:
        """Whether the device answered any of svcrack's requests with a digest challenge."""
        return any(code in CHALLENGES for code in self.codes)


def _svcrack_outcome(text: str) -> bool:
    return any(marker in text for marker in SVCRACK_OUTCOMES)


def svcrack(
    host: str,
    port: int,
    username: str,
    passwords: Sequence[str],
    workdir: Path,
    *,
    suite_host: str = LOOPBACK,
    allowed_hosts: Sequence[str] = (),
    method: str = "REGISTER",
    timeout: float = 20.0,
) -> SvcrackResult:
    """svcrack `username` at one SIP address with the `passwords` dictionary, sending `method`.

    The run is stopped as soon as svcrack logs an outcome (it would otherwise wait out its 10 s
    socket timeout after the last answer)."""
    target = check_target(host, allowed_hosts)
    workdir.mkdir(parents=True, exist_ok=True)
    dictionary = workdir / f"svcrack-{method.lower()}.txt"
    dictionary.write_text("".join(f"{p}\n" for p in passwords), "utf-8")
    args = [*_common(suite_host, port), "-u", username, "-d", str(dictionary), "-m", method]
    run = run_tool("svcrack", [*args, "-vvv", target], timeout=timeout, done=_svcrack_outcome)
    if "Traceback" in run.stderr:
        raise ScanError(f"svcrack crashed:\n{run.text(passwords)}")
    text = run.stdout + run.stderr
    codes: list[int] = []
    cracked: dict[str, str] = {}
    for line in text.splitlines():
        _, marker, rest = line.partition("Received response: SIP/2.0 ")
        if marker and rest[:3].isdigit():
            codes.append(int(rest[:3]))
        _, marker, rest = line.partition("The password for ")
        if marker:
            user, _, password = rest.partition(" is ")
            cracked[user.strip()] = password.strip()
    outcomes = [v for k, v in SVCRACK_OUTCOMES.items() if k in text]
    if not outcomes and run.stopped == "timeout" and not codes:
        raise ScanError(f"svcrack did not get going within {timeout} s:\n{run.text(passwords)}")
    return SvcrackResult(run, codes, outcomes, cracked)
