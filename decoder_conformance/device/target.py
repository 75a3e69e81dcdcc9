"""Target selection: a lab decoder by URL, or the bundled reference decoder as a subprocess.

The target is decided once (`plan_target`, at configure time) into a `TargetPlan` that the report
header, the Allure environment and the session's `Target` all read. This is the one place the
suite starts `reference_device`, and only as a process: the suite must keep working with
`reference_device/` deleted when a lab URL is given.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
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
from decoder_conformance.waiting import Deadline

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


@dataclass
class ReferenceProcess:
    """A running reference decoder: its API URL, ready line, process and stderr log."""

    api_url: str
    ready: dict[str, Any]
    process: subprocess.Popen[str]
    log_path: Path
    _log: IO[str] = field(repr=False)

    def stop(self, timeout: float = 5.0) -> int:
        """Terminate, wait, kill if needed; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        return self.process.returncode

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the device's stderr log."""
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
    log = log_path.open("w", encoding="utf-8")
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
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()
    if process.stdout is None:
        raise NotExercised("harness invariant: the reference decoder's stdout is not piped")
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    running = ReferenceProcess("", {}, process, log_path, log)
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
        )
