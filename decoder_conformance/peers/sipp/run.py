"""SIPp driver: run a scenario as a UAC to completion, or a UAS in the background.

SIPp (Debian package `sip-tester`) is an external tool. When it is missing the driver raises
`ToolMissing`, and when it cannot be run (bad scenario, no socket, hung) `SippError`: neither is
an AssertionError, so the suite reports the case *broken*, never *failed*. Only a device that
answers wrongly shows up as failed calls in a `SippResult`, which the test then asserts on.

Network rule: every socket SIPp opens is on the suite host (`host`, 127.0.0.1 unless a lab run
gives --suite-host): SIP (`-i`), media (`-mi`) and its UDP remote-control socket (`-ci`; it
binds 0.0.0.0 otherwise). A UAC's target must be 127.0.0.1 or a host in `allowed_hosts` (the lab
device, given explicitly); anything else is refused before SIPp starts.

Ports: SIPp binds its SIP port itself. Without `-p` (the same as `-p 0`) SIPp 3.6.1 tries
HOST:5060, 5061, ... 5119 and then lets the kernel choose; every try is a real bind, so
there is no probe-then-bind race. The driver never passes `-p` (handing SIPp a port found by
binding port 0 and closing it again would be that race) and reads the bound port back from
/proc/<pid>/fd and /proc/net/{udp,tcp}. SIPp's media sockets (6000 up) and control socket
(8888 up) follow the same try-the-next-port rule.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
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
    stat_counts,
)
from decoder_conformance.waiting import stop_process

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

#: Environment variable naming the sipp binary (else `sipp` on PATH).
SIPP_ENV = "SIPP_BIN"
#: Debian packages that provide SIPp (sip-tester pulls in the libraries).
DEBIAN_PACKAGES = ("sip-tester",)

#: Values the built-in scenarios need unless the caller overrides them.
DEFAULT_VARIABLES: dict[str, dict[str, str]] = {
    "uac_invite_h264": {"pause_ms": "500"},
    "uac_invite_no_sdp": {"pause_ms": "500"},
    "uac_invite_load": {"pause_ms": "50"},
}

Transport = Literal["u1", "t1"]
#: Exit codes documented by `sipp -h`.
EXIT_ALL_OK = 0
EXIT_SOME_FAILED = 1
EXIT_NO_CALLS = 99  # normal exit without any call processed


class ToolMissing(RuntimeError):
    """An external tool the case needs is not installed: the case is broken, not failed."""


class SippError(RuntimeError):
    """SIPp could not run the scenario (bad scenario, bind failure, hang); logs are named."""


# --------------------------------------------------------------------------------------------
# Locating SIPp and scenarios


def find_sipp(candidate: str | os.PathLike[str] | None = None) -> str | None:
    """Path of the sipp binary: `candidate`, else $SIPP_BIN, else `sipp` on PATH; None if absent."""
    name = os.fspath(candidate) if candidate is not None else os.environ.get(SIPP_ENV, "sipp")
    return shutil.which(name)


def require_sipp(candidate: str | os.PathLike[str] | None = None) -> str:
    """Like `find_sipp`, but raises ToolMissing naming what to install."""
    found = find_sipp(candidate)
    if found is None:
        wanted = os.fspath(candidate) if candidate is not None else os.environ.get(SIPP_ENV, "sipp")
        raise ToolMissing(
            f"SIPp not found ({wanted!r}); install it with "
            f"`apt-get install -y --no-install-recommends {' '.join(DEBIAN_PACKAGES)}` "
            f"or point ${SIPP_ENV} at the binary"
        )
    return found


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in decoder_conformance/peers/sipp/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.xml"))


def scenario_path(scenario: str | Path) -> Path:
    """A scenario file: a Path as given, or a built-in name ("uac_options" or "uac_options.xml")."""
    if isinstance(scenario, Path):
        path = scenario
    else:
        path = SCENARIO_DIR / (scenario if scenario.endswith(".xml") else f"{scenario}.xml")
    if not path.is_file():
        raise SippError(f"no SIPp scenario {path} (built-in: {', '.join(builtin_scenarios())})")
    return path


def scenario_globals(path: Path) -> set[str]:
    """Variables a scenario declares with <Global variables="a,b"/> (these are set with -set)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SippError(f"SIPp scenario {path} is not well-formed XML: {exc}") from exc
    names: set[str] = set()
    for element in root.iter("Global"):
        names.update(v.strip() for v in element.get("variables", "").split(",") if v.strip())
    return names


def variable_args(path: Path, variables: Mapping[str, str]) -> list[str]:
    """Scenario globals go in with -set, everything else as a [keyword] with -key."""
    merged = {**DEFAULT_VARIABLES.get(path.stem, {}), **variables}
    declared = scenario_globals(path)
    args: list[str] = []
    for name, value in merged.items():
        args += ["-set" if name in declared else "-key", name, str(value)]
    return args


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SippResult:
    """A finished SIPp run: exit code, call counts, its logs, and what it sent and received."""

    scenario: str
    command: list[str]
    returncode: int
    successful: int
    failed: int
    seconds: float
    messages_log: bytes = field(repr=False)
    errors_text: str
    screen_text: str
    stderr_text: str
    log_dir: Path
    clock: SippClock
    local: Address | None = None  # (host, port) SIPp was bound to, when the driver knows it
    remote: Address | None = None  # the target, for a UAC

    @property
    def ok(self) -> bool:
        """Every call succeeded and SIPp exited cleanly."""
        return self.returncode == EXIT_ALL_OK and self.failed == 0

    def records(self, call_id: str | None = None) -> list[WireRecord]:
        """What SIPp sent (TX) and received (RX), on the suite's monotonic clock (of `call_id`).

        From the -trace_msg log; addresses as `records_from_log` finds them (the bound address
        and the target where the driver knows them).
        """
        records = records_from_log(
            self.messages_log, self.clock, local=self.local, remote=self.remote
        )
        if call_id is None:
            return records
        return [r for r in records if r.message.call_id == call_id]

    def first_lines(self) -> list[str]:
        """Compact "direction label" strings ("TX INVITE sip:x"), handy in assertion messages."""
        return [f"{r.direction} {r.label}" for r in self.records()]

    def describe(self) -> str:
        """A summary for assertion messages: counts, the flow seen, where the logs are."""
        flow = ", ".join(self.first_lines()[:20]) or "no messages"
        errors = self.errors_text.strip().splitlines()[-5:]
        return (
            f"SIPp {self.scenario}: rc {self.returncode}, {self.successful} successful, "
            f"{self.failed} failed calls in {self.seconds:.2f} s; flow: {flow}; "
            + (f"last errors: {' | '.join(errors)}; " if errors else "")
            + f"logs in {self.log_dir}"
        )


def collect(
    scenario: str,
    command: list[str],
    returncode: int,
    files: SippFiles,
    seconds: float,
    *,
    clock: SippClock,
    local: Address | None = None,
    remote: Address | None = None,
) -> SippResult:
    counts = stat_counts(files.stats)
    stderr_text = read_log(files.stderr)
    if counts is None:
        raise SippError(
            f"SIPp wrote no statistics (it did not run the scenario): rc {returncode}; "
            f"command: {' '.join(command)}; stderr: {stderr_text.strip()[-800:]!r}; "
            f"errors: {read_log(files.errors).strip()[-800:]!r}; logs in {files.run_dir}"
        )
    return SippResult(
        scenario=scenario,
        command=command,
        returncode=returncode,
        successful=counts[0],
        failed=counts[1],
        seconds=seconds,
        messages_log=read_log_bytes(files.messages),
        errors_text=read_log(files.errors),
        screen_text=read_log(files.screen),
        stderr_text=stderr_text,
        log_dir=files.run_dir,
        clock=clock,
        local=local,
        remote=remote,
    )


# --------------------------------------------------------------------------------------------
# Running


def check_target(target: str, allowed_hosts: Sequence[str] = ()) -> tuple[str, int]:
    """(host, port) of a UAC target "HOST:PORT"; ValueError unless HOST is 127.0.0.1 or allowed.

    `allowed_hosts` names the lab device given explicitly (the --device host); the network rule
    allows nothing else.
    """
    if isinstance(allowed_hosts, str):
        raise TypeError("allowed_hosts is a sequence of hosts, not one string")
    allowed = [LOOPBACK, *allowed_hosts]
    host, _, port = target.rpartition(":")
    if host not in allowed or not port.isdigit():
        raise ValueError(
            f"target must be HOST:PORT with HOST one of {sorted(set(allowed))} (127.0.0.1, or "
            f"the lab device given explicitly; network rule), not {target!r}"
        )
    return host, int(port)


def base_command(
    sipp: str,
    path: Path,
    *,
    transport: Transport,
    variables: Mapping[str, str],
    files: SippFiles,
    timeout: float | None,
    host: str = LOOPBACK,
) -> list[str]:
    if transport not in ("u1", "t1"):
        raise ValueError(f"transport must be 'u1' or 't1', not {transport!r}")
    command = [
        sipp,
        "-sf",
        str(path),
        "-t",
        transport,
        "-i",
        host,
        "-mi",
        host,
        "-ci",
        host,
        "-nostdin",
        *files.trace_args(),
        *variable_args(path, variables),
    ]
    if timeout is not None:
        command += ["-timeout", f"{max(1, math.ceil(timeout))}s", "-timeout_error"]
    return command


def new_run_dir(log_dir: Path, stem: str) -> SippFiles:
    log_dir.mkdir(parents=True, exist_ok=True)
    return SippFiles(Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=log_dir)))


def run_scenario(
    scenario: str | Path,
    target: str,
    *,
    log_dir: Path,
    calls: int = 1,
    rate: float | None = None,
    timeout: float = 30.0,
    variables: Mapping[str, str] | None = None,
    transport: Transport = "u1",
    service: str = "decoder",
    extra_args: Sequence[str] = (),
    sipp: str | None = None,
    host: str = LOOPBACK,
    allowed_hosts: Sequence[str] = (),
) -> SippResult:
    """Run a UAC scenario against `target` ("HOST:PORT") until `calls` calls are done.

    SIPp binds and advertises `host` (the suite host). `target`'s host must be 127.0.0.1 or one
    of `allowed_hosts` (the lab device, given explicitly): anything else is a ValueError naming
    the network rule, raised before SIPp is looked for.

    `variables` are passed with -set when the scenario declares them <Global>, else with -key;
    built-in scenarios get DEFAULT_VARIABLES under them. `timeout` (whole seconds, rounded up)
    is SIPp's own global timeout (-timeout -timeout_error: SIPp exits with rc 255, so `ok` is
    False; calls still open are in neither count); the driver gives it 5 s more before it stops
    the process and raises SippError. Raises ToolMissing without SIPp.
    """
    remote = check_target(target, allowed_hosts)
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
        target,
        "-s",
        service,
        "-m",
        str(calls),
        *(["-r", f"{rate:g}"] if rate is not None else []),
        *extra_args,
    ]
    clock = SippClock.now()
    started = clock.monotonic
    with files.stdout.open("wb") as out, files.stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=files.run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            returncode = process.wait(timeout + 5.0)
        except subprocess.TimeoutExpired:
            stop_process(process, 2.0)
            raise SippError(
                f"SIPp {path.stem} still running {timeout + 5.0:.0f} s after start despite "
                f"-timeout; stopped it; logs in {files.run_dir}"
            ) from None
        finally:
            stop_process(process, 2.0)
    return collect(
        path.stem,
        command,
        returncode,
        files,
        time.monotonic() - started,
        clock=clock,
        remote=remote,
    )
