"""Differential mode: the same cases against the bundled reference decoder and the device.

Two parts, one option group:

- **Recorder** (`--record-observations PATH`): per case, a normalised observation record (the
  HTTP exchanges, the SIP responses and requests the peers received from the decoder, a few
  timings, the case's verdict), and per session the readings the decoder was seen to follow,
  written to PATH as JSON at the end of the run (report/differential.py normalises and compares).
  Under pytest-xdist each worker writes a part file and the controller merges them.
- **Orchestration** (`--differential`): instead of running the cases itself, the session runs
  the same selection twice, concurrently, as two pytest subprocesses, each recording: one against
  the bundled reference decoder with its own profile (profiles/reference.toml), one against the
  target the other options name (`--device URL`, `--profile`, `--suite-host`..., or a bundled
  decoder with `--reference-reading` / `--reference-fault`, which is how the project tests it
  without a lab). Then it compares the two records per requirement and writes
  `differential.json` and `differential.md`. Without a path or a `-k`/`-m` selection, it runs
  the read and call cases: suites/api, suites/sip and suites/calls, less the property-based
  explorers (test_fuzz.py, test_stateful.py) whose generated sequences cannot be aligned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from decoder_conformance import PROJECT_ROOT
from decoder_conformance.device.client import REDACTED
from decoder_conformance.device.target import TargetUnavailable, probe
from decoder_conformance.peers.capture import WireRecord
from decoder_conformance.plugin.options import pytest_configure as check_options
from decoder_conformance.plugin.parallel import clean_nodeid, worker_id
from decoder_conformance.plugin.stash import (
    DUTY_OUTCOMES,
    OBSERVATIONS,
    SUITE_CONFIG,
    case_evidence,
    is_suite_case,
    item_req,
)
from decoder_conformance.plugin.verdicts import DutyFailure
from decoder_conformance.report import differential as compare
from decoder_conformance.report.summary import ORDER, verdict
from decoder_conformance.waiting import stop_process

#: The read and call cases a differential run selects when the command line names no path.
DEFAULT_SELECTION = ("suites/api", "suites/sip", "suites/calls")
#: Requests the decoder sends on its own schedule: their presence in a case is not compared.
UNTIMED_REQUESTS = ("REGISTER",)
#: Property-based explorers left out of the default selection (their sequences do not align).
DEFAULT_IGNORED = ("suites/api/test_fuzz.py", "suites/api/test_stateful.py")
#: Options that name the device side's target: the reference side is run without them.
TARGET_OPTIONS = (
    "--device",
    "--profile",
    "--device-user",
    "--device-password",
    "--suite-host",
    "--reference-fault",
    "--reference-reading",
    "--discover",
)
#: Output options each side gets its own value of.
OUTPUT_OPTIONS = (
    "--alluredir",
    "--junitxml",
    "--junit-xml",
    "--conformance-summary",
    "--record-observations",
)
#: The differential options themselves (the sides run without them); value-less ones first.
OWN_FLAGS = ("--differential",)
OWN_VALUED = ("--differential-report",)
#: Environment fallbacks of the target options: the reference side must not inherit them.
TARGET_ENVIRONMENT = (
    "DECODER_DEVICE",
    "DECODER_PROFILE",
    "DECODER_USER",
    "DECODER_PASSWORD",
    "DECODER_SUITE_HOST",
)
#: How long a side gets to restore its device after Ctrl-C before it is terminated (seconds).
INTERRUPT_GRACE = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """The differential options, in the decoder group."""
    group = parser.getgroup("decoder")
    group.addoption(
        "--record-observations",
        default="",
        metavar="PATH",
        help="write per case a normalised observation record (HTTP answers, SIP responses, "
        "timings, verdict) to PATH as JSON, for a differential comparison",
    )
    group.addoption(
        "--differential",
        action="store_true",
        default=False,
        help="run the selection (default: the read and call cases) against the bundled "
        "reference decoder and the target the other options name, side by side, and report "
        "per requirement where their observations differ",
    )
    group.addoption(
        "--differential-report",
        default="",
        metavar="PATH",
        help="where --differential writes its JSON report (Markdown beside it); default "
        "differential.json beside --conformance-summary, else reports/differential.json",
    )


# --- recorder ----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """The observation records of one pytest process, written at the end of its session."""

    path: Path
    cases: list[dict[str, Any]] = field(default_factory=list)


RECORDER = pytest.StashKey[Recorder]()
#: When the case's call phase started (monotonic), and the worst verdict of its phases so far.
CALL_STARTED = pytest.StashKey[float]()
CASE_VERDICT = pytest.StashKey[str]()


def part_path(path: Path, worker: str) -> Path:
    """Where an xdist worker writes its part of the record file."""
    return path.with_name(f"{path.name}.{worker}.part")


def pytest_configure(config: pytest.Config) -> None:
    """Start recording when --record-observations is given."""
    raw = str(config.getoption("record_observations") or "").strip()
    if not raw:
        return
    path = Path(raw)
    if path.is_dir():
        raise pytest.UsageError(
            f"decoder conformance: --record-observations {raw}: a directory, give a file path"
        )
    config.stash[RECORDER] = Recorder(path)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Note when the case's call phase starts (the zero of its SIP timings)."""
    if RECORDER in item.config.stash:
        item.stash[CALL_STARTED] = time.monotonic()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the case's worst verdict; after its teardown, record what it observed."""
    report = yield
    recorder = item.config.stash.get(RECORDER, None)
    if recorder is None or not is_suite_case(item):
        return report
    seen = verdict(report, call)
    if call.excinfo is not None and call.excinfo.errisinstance(DutyFailure):
        seen = None  # a broken duty is compared under the duty's own requirement
    if seen is not None:
        before = item.stash.get(CASE_VERDICT, seen)
        item.stash[CASE_VERDICT] = min(before, seen, key=ORDER.index)
    if report.when == "teardown":
        recorder.cases.append(case_record(item))
    return report


def sip_observations(records: Sequence[WireRecord]) -> dict[str, dict[str, Any]]:
    """What the peers received from the decoder: the status codes per method (by CSeq) of its
    responses, and the methods of its requests (presence: refreshes and retransmissions vary)."""
    responses: dict[str, set[int]] = {}
    requests: dict[str, bool] = {}
    for record in records:
        if record.protocol != "sip" or record.direction != "RX":
            continue
        try:
            message = record.message
        except Exception:  # bytes that are not SIP: counted, their case judged them
            requests["<not SIP>"] = True
            continue
        if record.is_request:
            method = str(getattr(message, "method", "?"))
            # REGISTER comes on the decoder's own schedule (refreshes, retries): whether one
            # lands inside a case depends on when the case ends, so only its answers compare.
            if method not in UNTIMED_REQUESTS:
                requests[method] = True
        else:
            method = str(getattr(getattr(message, "cseq", None), "method", "?"))
            code = int(getattr(message, "status_code", 0))
            # Final answers only: a 100 is due only when the final answer takes longer than
            # 200 ms (RFC 3261 §17.2.1), other provisional answers are optional.
            if code >= 200:
                responses.setdefault(method, set()).add(code)
    return {
        "responses": {m: sorted(codes) for m, codes in sorted(responses.items())},
        "requests": dict(sorted(requests.items())),
    }


def sip_timings(records: Sequence[WireRecord], started: float | None) -> dict[str, float]:
    """Seconds to the decoder's first REGISTER and first INVITE (from the case's call start),
    and from the peers' first INVITE to the decoder's final answer to it."""
    timings: dict[str, float] = {}
    sip = [r for r in records if r.protocol == "sip"]
    if started is not None:
        for method, name in (("REGISTER", "first_register_s"), ("INVITE", "device_invite_s")):
            first = next(
                (r.t for r in sip if r.direction == "RX" and _is_request_of(r, method)), None
            )
            if first is not None:
                timings[name] = round(first - started, 3)
    sent = next((r.t for r in sip if r.direction == "TX" and _is_request_of(r, "INVITE")), None)
    if sent is not None:
        answered = next(
            (
                r.t
                for r in sip
                if r.direction == "RX" and r.t >= sent and (_final_status(r, "INVITE") or 0) >= 200
            ),
            None,
        )
        if answered is not None:
            timings["invite_answer_s"] = round(answered - sent, 3)
    return timings


def _is_request_of(record: WireRecord, method: str) -> bool:
    try:
        return record.is_request_of(method)
    except Exception:  # not SIP: not a request of anything
        return False


def _final_status(record: WireRecord, method: str) -> int | None:
    try:
        return record.status_of(method)
    except Exception:  # not SIP: no status
        return None


def case_record(item: pytest.Item) -> dict[str, Any]:
    """The observation record of one case (after its teardown)."""
    evidence = case_evidence(item)
    records, _, problems = evidence.collect()
    names = compare.case_names(evidence.exchanges)
    http = [compare.normalise_exchange(e, names) for e in evidence.exchanges]
    timing: dict[str, float | None] = {
        "http_median_ms": compare.median([e.elapsed_ms for e in evidence.exchanges]),
    }
    timing.update(sip_timings(records, item.stash.get(CALL_STARTED, None)))
    return {
        "nodeid": clean_nodeid(item.nodeid),  # as a serial run names it, under -n too
        "requirement": item_req(item),
        "verdict": item.stash.get(CASE_VERDICT, None),
        "http": http,
        "sip": sip_observations(records),
        "timing": timing,
        "duties": {
            outcome.requirement: "broken" if outcome.problems else "held"
            for outcome in item.stash.get(DUTY_OUTCOMES, [])
            if outcome.requirement
        },
        "problems": problems,
    }


def session_record(config: pytest.Config) -> dict[str, Any]:
    """What the run was against, and the readings and error codes the decoder was seen to use."""
    suite = config.stash.get(SUITE_CONFIG, None)
    observations = config.stash.get(OBSERVATIONS, None)
    readings: dict[str, dict[str, Any]] = {}
    codes: dict[str, list[str]] = {}
    if observations is not None:
        for seen in observations.readings:
            entry = readings.setdefault(
                seen.point, {"requirement": seen.requirement, "readings": []}
            )
            if seen.reading not in entry["readings"]:
                entry["readings"].append(seen.reading)
        codes = {name: sorted(counter) for name, counter in observations.codes.items()}
    return {
        "target": suite.plan.describe() if suite else "",
        "profile": str(suite.profile.source) if suite else "",
        "readings": readings,
        "codes": codes,
    }


def _merge_session(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for point, entry in part.get("readings", {}).items():
        mine = into["readings"].setdefault(
            point, {"requirement": entry["requirement"], "readings": []}
        )
        mine["readings"] = sorted({*mine["readings"], *entry["readings"]})
    for name, values in part.get("codes", {}).items():
        into["codes"][name] = sorted({*into["codes"].get(name, []), *values})


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the records: an xdist worker its part file, the controller the merged file."""
    config = session.config
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:
        return
    document: dict[str, Any] = {
        "format": compare.FORMAT,
        "session": session_record(config),
        "cases": recorder.cases,
    }
    worker = worker_id(config) or ""
    recorder.path.parent.mkdir(parents=True, exist_ok=True)
    if worker:
        part_path(recorder.path, worker).write_text(json.dumps(document), "utf-8")
        return
    for part in sorted(recorder.path.parent.glob(f"{recorder.path.name}.*.part")):
        data = json.loads(part.read_text("utf-8"))
        document["cases"] += data.get("cases", [])
        _merge_session(document["session"], data.get("session", {}))
        part.unlink()
    document["cases"].sort(key=lambda case: case["nodeid"])
    recorder.path.write_text(json.dumps(document, indent=1) + "\n", "utf-8")


# --- orchestration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side of a differential run: its pytest arguments, environment and outputs."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    out_dir: Path
    observations: Path

    @property
    def log(self) -> Path:
        """The side's pytest output."""
        return self.out_dir / "pytest.log"


def strip_options(
    args: Sequence[str], valued: Sequence[str], flags: Sequence[str] = ()
) -> tuple[list[str], dict[str, list[str]]]:
    """`args` without the `valued` options (`--opt V` or `--opt=V`) and `flags`; also the values
    removed, by option."""
    kept: list[str] = []
    removed: dict[str, list[str]] = {}
    at = 0
    while at < len(args):
        arg = args[at]
        name = arg.split("=", 1)[0]
        if arg in flags:
            at += 1
            continue
        if name in valued:
            if "=" in arg:
                removed.setdefault(name, []).append(arg.split("=", 1)[1])
                at += 1
            else:
                if at + 1 < len(args):
                    removed.setdefault(name, []).append(args[at + 1])
                at += 2
            continue
        kept.append(arg)
        at += 1
    return kept, removed


def names_a_selection(config: pytest.Config) -> bool:
    """True when the command line names paths (other than the whole suites/ folder), node ids,
    or a -k/-m selection of its own."""
    if config.option.keyword or config.option.markexpr:
        return True
    root = config.invocation_params.dir
    whole = (root / "suites").resolve()
    paths = [str(p) for p in (config.option.file_or_dir or [])]
    return any((root / p.split("::", 1)[0]).resolve() != whole for p in paths)


def plan_sides(
    args: Sequence[str], env: Mapping[str, str], out_dir: Path, *, default_selection: bool
) -> tuple[Side, Side]:
    """The reference side and the device side of a differential run of `args`.

    Both get the same selection (the default read and call cases when `args` names none) and
    their own outputs under `out_dir/<side>/`; the device side keeps the output options given
    (so `bin/conformance --differential` leaves the device's report where a normal run does).
    Option values follow their option (pytest's own value-taking options are left in place).
    """
    common, _ = strip_options(args, OWN_VALUED, OWN_FLAGS)
    common, outputs = strip_options(common, OUTPUT_OPTIONS)
    if default_selection:
        common = [a for a in common if a.rstrip("/") != "suites"]
        common[:0] = [*DEFAULT_SELECTION, *(f"--ignore={p}" for p in DEFAULT_IGNORED)]
    reference_args, _ = strip_options(common, TARGET_OPTIONS)
    sides = []
    for name, side_args in (("reference", reference_args), ("device", common)):
        side_dir = out_dir / name
        observations = side_dir / "observations.json"
        extra = ["--record-observations", str(observations)]
        given = {} if name == "reference" else outputs
        defaults = {
            "--alluredir": side_dir / "allure-results",
            "--junitxml": side_dir / "junit.xml",
            "--conformance-summary": side_dir / "summary.json",
        }
        for option, default in defaults.items():
            value = given.get(option)
            if option == "--junitxml":
                value = value or given.get("--junit-xml")
            extra += [option, value[-1] if value else str(default)]
        side_env = dict(env)
        if name == "reference":
            for key in TARGET_ENVIRONMENT:
                side_env.pop(key, None)
        sides.append(Side(name, (*side_args, *extra), side_env, side_dir, observations))
    return sides[0], sides[1]


def report_path(config: pytest.Config) -> Path:
    """Where the differential report goes (see --differential-report)."""
    explicit = str(config.getoption("differential_report") or "").strip()
    if explicit:
        return Path(explicit)
    summary = str(config.getoption("conformance_summary") or "").strip()
    if summary:
        return Path(summary).with_name("differential.json")
    return PROJECT_ROOT / "reports" / "differential.json"


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip("= ") if lines else ""


def run_sides(sides: Sequence[Side], cwd: Path) -> dict[str, int]:
    """Run the sides' pytest processes concurrently; their exit codes by side.

    On Ctrl-C each side (interrupted with the parent) gets INTERRUPT_GRACE seconds to restore
    its device, then is terminated; nothing is left running.
    """
    running: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for side in sides:
            side.out_dir.mkdir(parents=True, exist_ok=True)
            log = side.log.open("wb")
            logs.append(log)
            running[side.name] = subprocess.Popen(
                [sys.executable, "-m", "pytest", *side.args],
                cwd=cwd,
                env=dict(side.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return {name: process.wait() for name, process in running.items()}
    finally:
        for process in running.values():
            if process.poll() is None:
                # Ctrl-C at a terminal reached the sides too (one process group): give each
                # time to restore its device before it is terminated.
                try:
                    process.wait(INTERRUPT_GRACE)
                except subprocess.TimeoutExpired:
                    stop_process(process, 5.0)
        for log in logs:
            log.close()


def shown_args(args: Sequence[str]) -> list[str]:
    """`args` with the --device-password value redacted (for the terminal)."""
    kept, removed = strip_options(args, ("--device-password",))
    return [*kept, "--device-password", REDACTED] if removed else kept


def say(line: str) -> None:
    """One line on the terminal (there is no terminal reporter: no session runs here)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """With --differential: run both sides, compare them, write the report, and return the exit
    code (1 when a difference is flagged or a side failed; a side's own code when it could not
    run, e.g. 3 for an unreachable device)."""
    if not config.getoption("differential"):
        return None
    if config.getoption("record_observations"):
        raise pytest.UsageError(
            "decoder conformance: --differential records each side itself; "
            "drop --record-observations"
        )
    # The device side's options, checked here as that side will check them (catalogue,
    # profile, target, suite host): a bad one stops the run before either side starts.
    check_options(config)
    suite = config.stash[SUITE_CONFIG]
    catalogue = suite.catalogue
    if suite.plan.lab:
        # An unreachable device ends the run now, not after the reference side's whole run.
        try:
            probe(suite.plan.api_url, timeout=min(suite.profile.timers.http_timeout, 8.0))
        except TargetUnavailable as exc:
            say(f"decoder conformance: target unavailable: {exc}")
            return 3
    report = report_path(config)
    out_dir = report.with_name(report.stem)
    cwd = config.invocation_params.dir
    sides = plan_sides(
        config.invocation_params.args,
        os.environ,
        out_dir,
        default_selection=not names_a_selection(config),
    )
    for side in sides:
        shown = " ".join(shown_args(side.args))
        say(f"differential: {side.name} side: pytest {shown}  (log {side.log})")
    codes = run_sides(sides, cwd)
    records: dict[str, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}
    for side in sides:
        say(f"differential: {side.name} exit code {codes[side.name]}: {_last_line(side.log)}")
        try:
            records[side.name] = compare.load_observations(side.observations)
        except ValueError as exc:
            say(f"differential: {side.name} side recorded nothing ({exc}); see {side.log}")
            return max(codes[side.name], 2)
        session = records[side.name].get("session", {})
        info[side.name] = {
            "target": session.get("target", ""),
            "profile": session.get("profile", ""),
            "exit_code": codes[side.name],
            "cases": len(records[side.name].get("cases", [])),
            "log": str(side.log),
            "observations": str(side.observations),
            "codes": session.get("codes", {}),
        }
    results = compare.compare(records["reference"], records["device"], catalogue)
    markdown = compare.write(report, results, info)
    tally = compare.counts(results)
    say(
        f"differential: {tally['flagged']} flagged, {tally['expected']} expected (reading), "
        f"{tally['listed']} listed (practice), {tally['same']} same, "
        f"{tally['not_compared']} not compared: {markdown}"
    )
    for result in results:
        if result.treatment == "flagged":
            kinds = sorted({d.kind for d in result.differences}, key=compare.KINDS.index)
            say(f"  flagged {result.requirement} ({result.basis}): {', '.join(kinds)}")
    worst = max(codes.values())
    if worst > 1:
        return worst
    return 1 if tally["flagged"] or worst else 0
