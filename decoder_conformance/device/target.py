"""Target selection: a lab decoder by URL, or the bundled reference decoder as a subprocess.

The target is decided once (`plan_target`, at configure time) into a `TargetPlan` that the report
header, the Allure environment and the session's `Target` all read. This is the one place the
suite starts `reference_device`, and only as a process: the suite must keep working with
`reference_device/` deleted when a lab URL is given. It is also where the device is restarted
(`Target.restart`): the bundled decoder's process on its state directory and HTTP port, a lab
decoder by its profile's [device].restart_command.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests

from decoder_conformance import PROJECT_ROOT
from decoder_conformance.contract.profile import Profile
from decoder_conformance.device.client import DeviceClient, Exchange
from decoder_conformance.failures import NotExercised
from decoder_conformance.waiting import (
    Deadline,
    PeerTimeout,
    WaitTimeout,
    poll_until,
    stop_process,
)

BUNDLED = "bundled reference decoder on 127.0.0.1"


class TargetPlanError(ValueError):
    """The options and the profile name contradictory targets; the message says which."""


@dataclass(frozen=True)
class TargetPlan:
    """Which device the run is against, decided once from the options and the profile.

    `api_url` is empty for the bundled reference decoder (started by the session, which learns
    its URL from the ready line); `origin` says where a lab URL came from.
    """

    api_url: str
    origin: str
    faults: tuple[str, ...] = ()
    #: POINT=READING choices the bundled decoder is started with (its --reading options).
    readings: tuple[str, ...] = ()

    @property
    def lab(self) -> bool:
        """True for a lab device (a URL was given), False for the bundled reference decoder."""
        return bool(self.api_url)

    @property
    def kind(self) -> str:
        """'lab device' or 'reference decoder (bundled)'."""
        return "lab device" if self.lab else "reference decoder (bundled)"

    def describe(self) -> str:
        """One line for the report header."""
        if not self.lab:
            faults = f" with fault {', '.join(self.faults)}" if self.faults else ""
            readings = f" reading {', '.join(self.readings)}" if self.readings else ""
            return f"{BUNDLED}{faults}{readings}"
        return f"{self.api_url} (from {self.origin})"


def plan_target(
    device_option: str,
    profile_url: str,
    faults: tuple[str, ...],
    readings: tuple[str, ...] = (),
) -> TargetPlan:
    """The run's target: --device, else the profile's [device].url, else the bundled decoder.

    A reference fault or reading with a lab target is a contradiction, not something to ignore.
    """
    if device_option:
        plan = TargetPlan(device_option, "--device", faults, readings)
    elif profile_url:
        plan = TargetPlan(profile_url, "the profile's [device].url", faults, readings)
    else:
        return TargetPlan("", BUNDLED, faults, readings)
    for option, values in (("--reference-fault", faults), ("--reference-reading", readings)):
        if values:
            raise TargetPlanError(
                f"{option} {', '.join(values)} applies to the bundled reference decoder, "
                f"but the target is the lab device {plan.api_url} ({plan.origin})"
            )
    return plan


class TargetUnavailable(NotExercised):
    """The device under test could not be started or does not answer; the message says why."""


class RestartNotSeen(NotExercised):
    """A restart was asked for but never seen happen (the device kept answering); the device is
    still usable, only the case that wanted the restart could not be exercised."""


@dataclass
class ReferenceProcess:
    """A running reference decoder: its API URL, ready line, process and stderr log.

    `args` and `env` are how it was started, so `restart()` can start it again on the same state
    directory and the same HTTP port.
    """

    api_url: str
    ready: dict[str, Any]
    process: subprocess.Popen[str]
    log_path: Path
    _log: IO[str] = field(repr=False)
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0

    @property
    def pid(self) -> int:
        """The process id of the running decoder."""
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> int:
        """Terminate, wait, kill if needed; returns the exit code."""
        stop_process(self.process, timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        return self.process.returncode

    def restart(self) -> str:
        """Stop the decoder and start it again on the same state dir and HTTP port; one line
        saying what happened. The SIP binds are the stored ones (a port-0 bind gets a new port,
        as it would on a real device). If the HTTP port was taken while the decoder was down it
        takes any port, and `api_url` says which; TargetUnavailable if it does not come back."""
        old_pid, old_url = self.pid, self.api_url
        code = self.stop()
        args = list(self.args)
        at = args.index("--http") + 1
        # The same HTTP port, so every client and fixture holding the URL keeps working.
        args[at] = urlsplit(old_url).netloc
        try:
            again = _launch(tuple(args), self.env, self.log_path, self.timeout, append=True)
        except TargetUnavailable:
            args[at] = "127.0.0.1:0"
            again = _launch(tuple(args), self.env, self.log_path, self.timeout, append=True)
        self.api_url, self.ready = again.api_url, again.ready
        self.process, self._log = again.process, again._log
        where = "the same HTTP port" if self.api_url == old_url else "a new HTTP port"
        return (
            f"reference decoder pid {old_pid} stopped (exit code {code}) and started again as "
            f"pid {self.pid} on the same state dir {self.ready.get('state')}, {where} "
            f"({self.api_url})"
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the device's stderr log."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _read_lines(stream: IO[str], sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def start_reference(
    state_dir: Path,
    *,
    faults: tuple[str, ...] = (),
    readings: tuple[str, ...] = (),
    user: str = "",
    password: str = "",
    timeout: float = 10.0,
    extra_args: tuple[str, ...] = (),
) -> ReferenceProcess:
    """Start `python -m reference_device` on ephemeral loopback ports; wait for its ready line."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir.parent / f"{state_dir.name}.device.log"
    args = [
        sys.executable,
        "-m",
        "reference_device",
        "--http",
        "127.0.0.1:0",
        "--state",
        str(state_dir),
    ]
    for fault in faults:
        args += ["--fault", fault]
    for reading in readings:
        args += ["--reading", reading]
    if user:
        # The password goes through the environment, not argv, so `ps` does not show it.
        args += ["--user", user, "--password-env", "REFERENCE_DEVICE_PASSWORD"]
    args += list(extra_args)
    env = dict(os.environ, PYTHONUNBUFFERED="1", REFERENCE_DEVICE_PASSWORD=password)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
    )
    return _launch(tuple(args), env, log_path, timeout)


def _launch(
    args: tuple[str, ...], env: dict[str, str], log_path: Path, timeout: float, append: bool = False
) -> ReferenceProcess:
    """Start the decoder process and wait for its ready line (the log is appended to on a
    restart, so it keeps both runs)."""
    log = log_path.open("a" if append else "w", encoding="utf-8")
    if append:
        log.write("--- restarted by the suite on the same state dir ---\n")
        log.flush()
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()
    if process.stdout is None:
        raise NotExercised("harness invariant: the reference decoder's stdout is not piped")
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    running = ReferenceProcess("", {}, process, log_path, log, args, env, timeout)
    deadline = Deadline(timeout)
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline.remaining))
        except queue.Empty:
            line = ""
        if line is None or (not line and deadline.expired):
            running.stop()
            why = "exited" if line is None else f"printed no ready line within {timeout:.0f} s"
            raise TargetUnavailable(
                f"reference decoder {why} (exit code {process.returncode}); "
                f"log {log_path}:\n{running.log_tail()}"
            )
        if line.strip():
            ready = json.loads(line)
            if ready.get("event") == "ready":
                running.api_url, running.ready = str(ready["api"]), ready
                return running


#: How often a lab decoder is polled while it restarts (seconds): a reboot shorter than this may
#: go unseen (RestartNotSeen, the case broken), never mistaken for one.
LAB_RESTART_POLL = 0.2


@dataclass
class _LabRestart:
    """What polling the lab device saw while its restart command ran."""

    command: subprocess.Popen[bytes]
    started: float
    down_at: float | None = None
    up_at: float | None = None
    answered: bool = True

    @property
    def done(self) -> bool:
        return self.up_at is not None

    def observe(self, answers: bool) -> _LabRestart:
        now = time.monotonic()
        self.answered = answers
        if not answers and self.down_at is None:
            self.down_at = now
        elif answers and self.down_at is not None and self.up_at is None:
            self.up_at = now
        code = self.command.poll()
        if code not in (None, 0) and self.down_at is None:
            raise RestartNotSeen(
                f"[device].restart_command exited with code {code} and the device never "
                "stopped answering: no restart happened"
            )
        return self

    def __repr__(self) -> str:
        state = "answering" if self.answered else "not answering"
        down = "never went down" if self.down_at is None else "went down"
        command = "running" if self.command.poll() is None else "done"
        return f"<device {state}; {down}; command {command}>"


def _answers(api_url: str, timeout: float) -> bool:
    """Whether the device's HTTP API answers list.json at all (any HTTP status)."""
    try:
        requests.get(f"{api_url.rstrip('/')}/sip/list.json", timeout=timeout)
    except requests.RequestException:
        return False
    return True


def restart_lab(api_url: str, command: str, *, timeout: float, poll_timeout: float) -> str:
    """Run a lab decoder's restart command (no shell) and poll list.json until the device has
    been seen down and answering again, on one monotonic deadline; one line saying what
    happened. The command may return at once or only once the device is back."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:  # no such program, not executable
        raise RestartNotSeen(f"[device].restart_command {command!r} cannot run: {exc}") from None
    seen = _LabRestart(process, started)
    try:
        poll_until(
            lambda: seen.observe(_answers(api_url, poll_timeout)),
            lambda state: state.done,
            timeout=timeout,
            expected=f"{api_url} to stop answering and answer list.json again after "
            f"[device].restart_command",
            interval=LAB_RESTART_POLL,
            timeout_error=PeerTimeout,
        )
    except WaitTimeout as exc:
        if seen.down_at is None:
            raise RestartNotSeen(
                f"the device never stopped answering within {timeout:.0f} s of "
                f"[device].restart_command {command!r}: no restart happened ({exc})"
            ) from None
        raise TargetUnavailable(
            f"the device did not answer again within {timeout:.0f} s of "
            f"[device].restart_command {command!r} ([timers].restart_timeout)"
        ) from None
    finally:
        stop_process(process, 5.0)
    down = (seen.down_at or seen.started) - seen.started
    up = (seen.up_at or seen.started) - seen.started
    return (
        f"[device].restart_command {command!r}: the device stopped answering after {down:.1f} s "
        f"and answered again after {up:.1f} s"
    )


def probe(api_url: str, *, timeout: float, token: str | None = None) -> None:
    """One list.json request; TargetUnavailable with one clear message if nothing answers."""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetUnavailable(
            f"--device must be an http(s) URL like http://HOST/api, got {api_url!r}"
        )
    url = f"{api_url.rstrip('/')}/sip/list.json"
    headers = {"X-Auth-Token": token} if token else {}
    try:
        response = requests.get(url, timeout=timeout, headers=headers)
    except requests.RequestException as exc:
        raise TargetUnavailable(
            f"device {api_url} does not answer ({type(exc).__name__}: {exc}); "
            "check --device and that the decoder is on the lab network"
        ) from None
    if response.status_code != 200:
        raise TargetUnavailable(
            f"device {api_url}: GET {url} answered HTTP {response.status_code}; "
            "is the base URL the "
            "device's /api?"
        )


@dataclass
class Target:
    """The device under test for this session, as the session reached it."""

    plan: TargetPlan
    api_url: str
    profile: Profile
    error_codes: dict[str, str]
    token: str | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    reference: ReferenceProcess | None = None
    restore_report: list[str] = field(default_factory=list)
    #: Why the device is gone, once a restart did not bring it back ("" while it answers).
    lost: str = ""
    #: One line per restart the session made, saying what happened.
    restarts: list[str] = field(default_factory=list)
    #: Read-only mode (--read-only): every client refuses to send a write endpoint.
    read_only: bool = False

    @property
    def can_restart(self) -> bool:
        """Whether `restart()` has a way to restart this device."""
        return self.reference is not None or bool(self.profile.device.restart_command)

    def restart(self) -> str:
        """Restart the device and wait until it answers again; one line saying what happened.

        The bundled decoder's process is stopped and started again on the same state directory
        and HTTP port; a lab decoder is restarted by its profile's [device].restart_command and
        must be seen going down and answering again within [timers].restart_timeout. The session
        logs in again when it uses login (a restart ends every token). RestartNotSeen when no
        restart was seen (the device is still usable); TargetUnavailable when the device did not
        come back (`lost` then says why).
        """
        try:
            if self.reference is not None:
                what = self.reference.restart()
                self.api_url = self.reference.api_url
            elif self.profile.device.restart_command:
                what = restart_lab(
                    self.api_url,
                    self.profile.device.restart_command,
                    timeout=self.profile.timers.restart_timeout,
                    poll_timeout=min(self.profile.timers.http_timeout, 1.0),
                )
            else:
                raise NotExercised(
                    f"harness: no way to restart {self.api_url}: profile {self.profile.source} "
                    "gives no [device].restart_command"
                )
        except TargetUnavailable as exc:
            self.lost = str(exc)
            raise
        if self.user:
            self.token = self.client().login(self.user, self.password)
        self.restarts.append(what)
        return what

    def client(
        self,
        *,
        req: str = "LOCAL-UNSPECIFIED-000",
        on_exchange: Callable[[Exchange], None] | None = None,
        on_code: Callable[[str, str], None] | None = None,
    ) -> DeviceClient:
        """A new client for this device (`error_codes`: the pinned codes only)."""
        return DeviceClient(
            self.api_url,
            self.error_codes,
            timeout=self.profile.timers.http_timeout,
            token=self.token,
            req=req,
            on_exchange=on_exchange,
            on_code=on_code,
            read_only=self.read_only,
        )
