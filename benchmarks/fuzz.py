"""Fuzzing benchmark: this suite's parameter fuzzing against schemathesis, side by side in one run.

    .venv/bin/python benchmarks/fuzz.py               # clean device + every API fault; exit 1 below
    .venv/bin/python benchmarks/fuzz.py --faults none # the clean device only (throughput, no alarm)
    .venv/bin/python benchmarks/fuzz.py --faults partial_modify,json_as_text_html

For the clean reference decoder (first and again last, as the machine's load drifts) and once
per fault of the fault table whose area is `api` (reference_device/faults.py), a fresh decoder
(its state in the temporary folder, as the suite's own runs have it) is started (`python -m
reference_device --fault NAME`, through the suite's own launcher) and both fuzzers are pointed
at it, one after the other:

(a) the suite's fuzz cases, `pytest suites/api/test_fuzz.py --device URL --profile
    profiles/reference.toml --hypothesis-profile lab` in a subprocess. This module is also
    loaded there as a pytest plugin (`-p benchmarks.fuzz`): it counts the examples hypothesis
    runs, the fuzzed requests they send (an example sends one to sixteen, each with generated or
    boundary values and judged on its own: the case's `fuzz.fuzzed`), every HTTP exchange the
    client makes, and the time of the cases' call phase (generation, explicit examples, checks
    and all). Found: the conformance summary gives LOCAL-API-FUZZ-001 or -002 the verdict failed.
(b) schemathesis (`st run spec/openapi.yaml --url URL`, every phase, a fixed seed, at most
    SCHEMATHESIS_EXAMPLES cases an operation), with every check that stays quiet on the clean
    decoder (negative_data_rejection fails on every operation there: this API answers a refusal
    with HTTP 200 and an error body, as the vendor's page shows). Its requests are the
    interactions of its NDJSON report, its time that from engine start to engine finish.
    Found: a (check, operation) failure that the clean decoder's run did not show.

Figures: fuzzed requests/s of each on the clean decoder (the suite's fuzzed requests/s;
schemathesis's requests/s, which counts every request it makes) and their ratio,
the target; the suite's total exchanges/s (the fuzzed requests plus the reads and write-backs
that check them) is printed beside it, not judged, as more checking reads would raise it. Then
for each API fault whether each fuzzer found it. Exit 1 when the ratio is under 3, when the
suite finds fewer faults than schemathesis, or when the suite fails on the clean decoder.
Total run time about 5 to 7 minutes on two busy cores (the suite's part bounded by the
hypothesis profile, schemathesis's by SCHEMATHESIS_EXAMPLES).

Everything runs inside a loopback-only network namespace (as tests/namespace.py makes one):
schemathesis writes arbitrary registrars and call targets into the decoder, so nothing it makes
the decoder send may leave the machine. Without a namespace the benchmark refuses to run unless
given --outside-namespace (the decoder then still binds loopback and resolves no names).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script, benchmarks/ is sys.path[0] and its http.py would shadow the standard library's.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Generator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from decoder_conformance.device.client import DeviceClient, Exchange  # noqa: E402
from decoder_conformance.device.target import start_reference  # noqa: E402
from decoder_conformance.netns import namespace_prefix  # noqa: E402

RATIO_TARGET = 3.0
SCHEMATHESIS_EXAMPLES = 15
SCHEMATHESIS_SEED = 11
#: schemathesis checks that fail on every operation of the clean decoder (see the docstring).
NOISY_CHECKS = ("negative_data_rejection",)
#: Where the plugin half writes its counts (set by the benchmark for the pytest subprocess).
COUNTS_ENV = "FUZZ_BENCH_COUNTS"
INSIDE_ENV = "FUZZ_BENCH_IN_NAMESPACE"
PYTHON = sys.executable
ST = str(Path(sys.executable).with_name("st"))


# -- the pytest plugin half (loaded in the suite's subprocess with -p benchmarks.fuzz) ------------


@dataclass
class CaseCounts:
    """One fuzz case: examples run, fuzzed requests, exchanges, call-phase seconds."""

    examples: int = 0
    fuzzed: int = 0
    exchanges: int = 0
    seconds: float = 0.0
    #: of `seconds`, the time spent in HTTP round trips (the exchanges' own elapsed_ms)
    http_seconds: float = 0.0


_COUNTS: dict[str, CaseCounts] = {}
_EXCHANGES = [0]
_HTTP_SECONDS = [0.0]


def pytest_configure(config: pytest.Config) -> None:
    """Count every exchange of every DeviceClient (the suite's only HTTP path)."""
    if not os.environ.get(COUNTS_ENV):
        return
    send = DeviceClient.send

    def counted(self: DeviceClient, *args: Any, **kwargs: Any) -> Exchange:
        _EXCHANGES[0] += 1
        exchange = send(self, *args, **kwargs)
        _HTTP_SECONDS[0] += exchange.elapsed_ms / 1000.0
        return exchange

    DeviceClient.send = counted  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Time a hypothesis case's call phase and count the examples it runs."""
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None or not os.environ.get(COUNTS_ENV):
        yield
        return
    from hypothesis.errors import UnsatisfiedAssumption

    counts = _COUNTS.setdefault(item.nodeid, CaseCounts())
    inner: Callable[..., Any] = handle.inner_test

    def example(*args: Any, **kwargs: Any) -> Any:
        try:
            result = inner(*args, **kwargs)
        except UnsatisfiedAssumption:  # rejected before anything was sent
            raise
        except BaseException:
            counts.examples += 1
            raise
        counts.examples += 1
        return result

    handle.inner_test = example
    exchanges, http, started = _EXCHANGES[0], _HTTP_SECONDS[0], time.perf_counter()
    try:
        yield
    finally:
        counts.seconds += time.perf_counter() - started
        counts.fuzzed += getattr(item.funcargs.get("fuzz"), "fuzzed", 0)  # type: ignore[attr-defined]
        counts.exchanges += _EXCHANGES[0] - exchanges
        counts.http_seconds += _HTTP_SECONDS[0] - http
        handle.inner_test = inner


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the counts for the benchmark."""
    path = os.environ.get(COUNTS_ENV)
    if path:
        Path(path).write_text(json.dumps({k: vars(v) for k, v in _COUNTS.items()}), "utf-8")


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Run:
    """One fuzzer against one decoder: requests (fuzzed), all exchanges, seconds, findings."""

    requests: int
    exchanges: int
    seconds: float
    found: set[str] = field(default_factory=set)
    note: str = ""

    @property
    def rate(self) -> float:
        """Fuzzed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def combined(runs: list[Run]) -> Run:
    """Several runs as one: their requests, exchanges, seconds and findings summed."""
    return Run(
        sum(r.requests for r in runs),
        sum(r.exchanges for r in runs),
        sum(r.seconds for r in runs),
        set().union(*(r.found for r in runs)),
        " ".join(r.note for r in runs if r.note),
    )


def run_suite(api_url: str, work: Path) -> Run:
    """The suite's fuzz cases against `api_url`; found = the requirements the run failed."""
    counts, summary = work / "counts.json", work / "summary.json"
    env = dict(os.environ, **{COUNTS_ENV: str(counts)})
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "benchmarks.fuzz",
            "suites/api/test_fuzz.py",
            "--device",
            api_url,
            "--profile",
            "profiles/reference.toml",
            "--hypothesis-profile",
            "lab",
            "--conformance-summary",
            str(summary),
            "-q",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not counts.is_file() or not summary.is_file():
        raise SystemExit(f"the suite's run left no counts or summary:\n{done.stdout[-3000:]}")
    cases = json.loads(counts.read_text("utf-8")).values()
    verdicts = json.loads(summary.read_text("utf-8"))["requirements"]
    # Any requirement the run failed: the fuzz cases' own, or a duty checked on every exchange
    # (the Content-Type of each answer, plugin/http_duties.py).
    found = {r for r, entry in verdicts.items() if entry.get("verdict") == "failed"}
    tail = done.stdout.strip().splitlines()[-1:] if done.returncode not in (0, 1) else []
    return Run(
        requests=sum(c["fuzzed"] for c in cases),
        exchanges=sum(c["exchanges"] for c in cases),
        seconds=sum(c["seconds"] for c in cases),
        found=found,
        note=f"pytest exit {done.returncode} {tail}" if tail else "",
    )


def run_schemathesis(api_url: str, work: Path) -> Run:
    """schemathesis against `api_url`; found = the (check, operation) failures it reports."""
    report = work / "schemathesis.ndjson"
    done = subprocess.run(
        [
            ST,
            "run",
            str(ROOT / "spec" / "openapi.yaml"),
            "--url",
            api_url,
            "--max-examples",
            str(SCHEMATHESIS_EXAMPLES),
            "--seed",
            str(SCHEMATHESIS_SEED),
            "--no-shrink",
            "--checks",
            "all",
            "--exclude-checks",
            ",".join(NOISY_CHECKS),
            "--request-timeout",
            "5",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if not report.is_file():
        raise SystemExit(
            f"schemathesis left no report:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    requests, started, finished = 0, 0.0, 0.0
    found: set[str] = set()
    for line in report.read_text("utf-8").splitlines():
        event: dict[str, Any] = json.loads(line)
        if "EngineStarted" in event:
            started = float(event["EngineStarted"]["timestamp"])
        elif "EngineFinished" in event:
            finished = float(event["EngineFinished"]["timestamp"])
        elif "ScenarioFinished" in event:
            recorder = event["ScenarioFinished"]["recorder"]
            requests += len(recorder.get("interactions", {}))
            for checks in recorder.get("checks", {}).values():
                found |= {
                    f"{c['name']} on {recorder['label']}"
                    for c in checks
                    if c.get("status") == "failure"
                }
    return Run(requests, requests, finished - started, found)


@dataclass
class Device:
    """Both fuzzers' runs against one decoder (`fault` "" for the clean one)."""

    fault: str
    suite: Run
    schemathesis: Run


def measure(fault: str, scratch: Path) -> Device:
    """Start a decoder with `fault` (none for ""), run both fuzzers against it, stop it."""
    work = Path(tempfile.mkdtemp(prefix=f"{fault or 'clean'}-", dir=scratch))
    device = start_reference(work / "state", faults=(fault,) if fault else ())
    try:
        suite = run_suite(device.api_url, work)
        schemathesis = run_schemathesis(device.api_url, work)
    finally:
        device.stop()
    print(
        f"  {fault or 'clean':32} suite {suite.rate:4.0f}/s  "
        f"schemathesis {schemathesis.rate:4.0f}/s",
        flush=True,
    )
    return Device(fault, suite, schemathesis)


def api_faults() -> list[str]:
    """The fault table's faults of area api, asked of the reference decoder's package in a
    subprocess (benchmarks/ imports only the harness's library layers)."""
    asked = subprocess.run(
        [PYTHON, "-c", LIST_API_FAULTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    faults: list[str] = json.loads(asked.stdout)
    return faults


LIST_API_FAULTS = """
import json
from reference_device.faults import FAULTS, Area
print(json.dumps([f.value for f, info in FAULTS.items() if info.area == Area.API]))
"""


def enter_namespace(argv: list[str]) -> None:
    """Re-run this benchmark inside a loopback-only network namespace (returns only when none
    can be made and --outside-namespace allows running without one)."""
    prefix, why_not = namespace_prefix()
    if prefix is not None:
        env = dict(os.environ, **{INSIDE_ENV: "1"})
        os.execvpe(prefix[0], [*prefix, PYTHON, str(Path(__file__).resolve()), *argv], env)
    if "--outside-namespace" in argv:
        print(f"warning: no network namespace ({why_not}); running outside one", flush=True)
        return
    raise SystemExit(f"no loopback-only network namespace: {why_not} (--outside-namespace)")


def main(argv: list[str]) -> int:
    """Run the benchmark; 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--faults", default="api", help="'api' (all), 'none', or NAME,NAME")
    parser.add_argument("--outside-namespace", action="store_true")
    args = parser.parse_args(argv)
    if not os.environ.get(INSIDE_ENV) and not args.outside_namespace:
        enter_namespace(argv)
    named = {"api": api_faults(), "none": []}
    faults = named[args.faults] if args.faults in named else args.faults.split(",")
    load = os.getloadavg()
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cpus")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-bench-") as scratch:
        # The clean decoder twice (fresh each time), first and last: the machine's load drifts.
        first = measure("", Path(scratch))
        devices = [measure(fault, Path(scratch)) for fault in faults]
        last = measure("", Path(scratch))
    clean = [first, last]
    # What schemathesis reports on the clean decoder is its noise, not a finding.
    noise = first.schemathesis.found | last.schemathesis.found
    s, t = combined([d.suite for d in clean]), combined([d.schemathesis for d in clean])
    ratio = s.rate / t.rate if t.rate else float("inf")
    print("\nclean decoder, twice (first and last; each fuzzer in turn on the same decoder):")
    print(
        f"  suite fuzz cases: {s.requests} fuzzed requests in {s.seconds:.2f} s = {s.rate:.0f}/s"
        f" ({s.exchanges} HTTP exchanges in all = {s.exchanges / s.seconds:.0f}/s)"
    )
    print(f"  schemathesis:     {t.requests} requests in {t.seconds:.2f} s = {t.rate:.0f}/s")
    print(f"  ratio suite/schemathesis: {ratio:.2f} (target >= {RATIO_TARGET})")
    print(f"  suite alarms on the clean decoder: {sorted(s.found) or 'none'} {s.note}")
    print(f"  schemathesis failures on the clean decoder (noise, not counted): {len(noise)}")
    for item in sorted(noise):
        print(f"    {item}")

    suite_found = schemathesis_found = 0
    print("\nAPI faults: found by the suite? by schemathesis?  (requests/s suite, schemathesis)")
    for d in devices:
        extra = d.schemathesis.found - noise
        suite_found += bool(d.suite.found)
        schemathesis_found += bool(extra)
        print(
            f"  {d.fault:32} suite {'FOUND' if d.suite.found else '-':5}  "
            f"schemathesis {'FOUND' if extra else '-':5}  "
            f"({d.suite.rate:.0f}/s, {d.schemathesis.rate:.0f}/s) "
            f"{', '.join(sorted(d.suite.found))} {'; '.join(sorted(extra)[:3])} {d.suite.note}"
        )
    all_s = combined([d.suite for d in [*clean, *devices]]).rate
    all_t = combined([d.schemathesis for d in [*clean, *devices]]).rate
    print(
        f"\nfaults found: suite {suite_found}, schemathesis {schemathesis_found} of "
        f"{len(devices)}; over every decoder: suite {all_s:.0f}/s, schemathesis {all_t:.0f}/s "
        f"(ratio {all_s / all_t:.2f}); total {time.monotonic() - started:.0f} s"
    )
    failures = []
    if ratio < RATIO_TARGET:
        failures.append(f"ratio {ratio:.2f} < {RATIO_TARGET}")
    if suite_found < schemathesis_found:
        failures.append(f"the suite found {suite_found} faults, schemathesis {schemathesis_found}")
    if s.found or s.note:
        failures.append(f"the suite alarmed on the clean decoder: {sorted(s.found)} {s.note}")
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
