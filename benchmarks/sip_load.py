"""SIP load benchmark of the reference decoder: SIPp call attempts/s and OPTIONS/s.

    .venv/bin/python benchmarks/sip_load.py              # prints its figures; exit 1 below target
    .venv/bin/python benchmarks/sip_load.py --rate 1000  # offer 1000 calls/s (default 600)
    .venv/bin/python benchmarks/sip_load.py --seconds 10 # offer each load for 10 s (default 5)

1. Calls: SIPp (Debian `sip-tester`, /usr/bin/sipp) runs decoder_conformance/peers/sipp/
   scenarios/uac_invite_load.xml (INVITE with an H.264 offer, 200, ACK, BYE, 200; `pause_ms` 0:
   no hold) at the offered rate against one auto-answer account whose `allow_in_num` is the
   largest spec/openapi.yaml allows (16). Achieved rate = calls SIPp counted successful / seconds
   from SIPp's start to its exit. Target: >= 500 call attempts/s, 0 failed (a timeout or an
   unexpected message), at least one call answered. A call refused (486: 16 calls were up) is an
   attempt handled as the page's policy says; the answered ones are printed apart. On a loaded
   machine refusals come from scheduling delay alone: a call lasts three round trips, and 16 of
   them overlap at 600 calls/s once a call takes more than 27 ms.
2. OPTIONS: SIPp's uac_options.xml at the offered rate (default 4000/s). Target: >= 3,000
   answered OPTIONS/s, 0 failed.

Printed besides: the device's CPU per call / per OPTIONS (user + system time of the decoder
process, all its threads, from /proc/<pid>/stat before and after each run), SIPp's own CPU,
SIPp's retransmissions and the datagrams the kernel dropped on the device's SIP socket (the
`drops` column of /proc/net/udp; a retransmission costs the caller 500 ms). SIPp's open-call
limit (-l) is raised so that only the device sets the pace. Everything runs on 127.0.0.1 and
SIPp shares the machine's cores with the decoder, as in CI: on a loaded machine read the
figures as the share of two cores both got.

To compare with another version of the decoder in the same hour, run this script from a
directory holding that version's `reference_device/` and `wire/` (the decoder is started with
`python -m reference_device`, which imports from the working directory first).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script, benchmarks/ is sys.path[0] and its http.py would shadow the standard library's.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

from decoder_conformance.contract.catalogue import Catalogue  # noqa: E402
from decoder_conformance.device.accounts import device_sip_address  # noqa: E402
from decoder_conformance.device.client import DeviceClient  # noqa: E402
from decoder_conformance.device.target import start_reference  # noqa: E402
from decoder_conformance.peers.sipp.run import (  # noqa: E402
    require_sipp,
    scenario_path,
    variable_args,
)
from decoder_conformance.waiting import stop_process  # noqa: E402

REQ = "LOCAL-BENCH-000"
CALLS_TARGET = 500.0
OPTIONS_TARGET = 3000.0
#: The largest allow_in_num spec/openapi.yaml allows (1..16).
ALLOW_IN_NUM_MAX = 16
SIPP = "/usr/bin/sipp"
#: SIPp's limit of open calls (its default derives from the scenario's length and would throttle
#: a scenario as short as OPTIONS): high enough that only the device sets the pace.
OPEN_CALLS = 2000
SERVICE = "9000"


@dataclass(frozen=True)
class Run:
    """One SIPp run: counts, seconds, and the CPU spent meanwhile."""

    scenario: str
    offered: float
    successful: int
    failed: int
    answered: int  # 200s to the scenario's first request
    retransmissions: int  # requests SIPp had to send again
    seconds: float
    cpu: float  # the device's
    sipp_cpu: float
    drops: int  # datagrams the kernel dropped on the device's SIP socket
    returncode: int
    log_dir: Path

    @property
    def achieved(self) -> float:
        """Successful calls per second of the run."""
        return self.successful / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_each(self) -> float:
        """Device CPU milliseconds per successful call."""
        return 1000 * self.cpu / self.successful if self.successful else float("inf")

    def met(self, target: float) -> bool:
        """At or above `target`/s, nothing failed, some call answered."""
        clean = self.failed == 0 and self.returncode == 0 and self.answered > 0
        return clean and self.achieved >= target

    def line(self, target: float) -> str:
        """The run's figures on one line."""
        return (
            f"{self.scenario}: offered {self.offered:g}/s; {self.successful} successful "
            f"({self.answered} answered 200, {self.successful - self.answered} refused), "
            f"{self.failed} failed, rc {self.returncode}; "
            f"{self.seconds:.2f} s = {self.achieved:.0f}/s (target >= {target:g}); device CPU "
            f"{self.cpu:.2f} s = {self.cpu_ms_each:.3f} ms each; SIPp CPU {self.sipp_cpu:.2f} s; "
            f"{self.retransmissions} retransmissions, {self.drops} datagrams dropped at the "
            f"device's socket: {'OK' if self.met(target) else 'BELOW TARGET'}"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for want of room on the 127.0.0.1 UDP socket bound to `port`
    (the `drops` column of /proc/net/udp): what a device too slow to read its socket loses."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted:
            return int(fields[-1])
    return 0


def last_row(path: Path) -> dict[str, str]:
    """The last row of a SIPp CSV (-trace_stat, -trace_counts), by column name."""
    text = path.read_text(errors="replace")
    rows = [r for r in csv.reader(text.splitlines(), delimiter=";") if r]
    if len(rows) < 2:
        raise RuntimeError(f"SIPp wrote no statistics to {path}")
    return dict(zip(rows[0], rows[-1], strict=False))


def message_counts(run_dir: Path) -> tuple[int, int]:
    """(200s received to the first request, requests retransmitted) from -trace_counts."""
    found = sorted(run_dir.glob("*_counts.csv"))
    if not found:
        raise RuntimeError(f"SIPp wrote no message counts in {run_dir}")
    row = last_row(found[0])
    # Columns are "<index>_<message>_<counter>"; the first 200 received answers the first request.
    oks = [k for k in row if k.endswith("_200_Recv")]
    answered = int(row[min(oks, key=lambda k: int(k.split("_", 1)[0]))]) if oks else 0
    retrans = sum(int(v) for k, v in row.items() if k.endswith("_Retrans") and "_Sent" not in k)
    return answered, retrans


def run_sipp(
    scenario: str,
    *,
    target: str,
    rate: float,
    calls: int,
    pid: int,
    log_root: Path,
    variables: dict[str, str] | None = None,
) -> Run:
    """Run `scenario` for `calls` calls offered at `rate`/s against the device (pid `pid`); no
    message trace (writing it would cost SIPp more than the device spends)."""
    path = scenario_path(scenario)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=log_root))
    stats = run_dir / "stats.csv"
    timeout = max(10, int(3 * calls / rate) + 10)
    command = [
        require_sipp(SIPP),
        "-sf",
        str(path),
        "-t",
        "u1",
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-ci",
        "127.0.0.1",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(stats),
        "-trace_counts",
        "-trace_err",
        "-error_file",
        str(run_dir / "errors.log"),
        *variable_args(path, variables or {}),
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        target,
        "-s",
        SERVICE,
        "-m",
        str(calls),
        "-r",
        f"{rate:g}",
        "-l",
        str(OPEN_CALLS),
    ]
    port = int(target.rpartition(":")[2])
    dropped, before = udp_drops(port), cpu_seconds(pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with (run_dir / "stdout").open("wb") as out, (run_dir / "stderr").open("wb") as err:
        process = subprocess.Popen(
            command, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            code = process.wait(timeout + 5)
        finally:
            stop_process(process, 2.0)
    seconds = time.monotonic() - started
    cpu = cpu_seconds(pid) - before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sipp_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    row = last_row(stats)
    answered, retransmissions = message_counts(run_dir)
    return Run(
        scenario,
        rate,
        int(row["SuccessfulCall(C)"]),
        int(row["FailedCall(C)"]),
        answered,
        retransmissions,
        seconds,
        cpu,
        sipp_cpu,
        udp_drops(port) - dropped,
        code,
        run_dir,
    )


def main(argv: list[str]) -> int:
    """Run both parts; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=600.0, help="calls/s offered")
    parser.add_argument("--options-rate", type=float, default=4000.0, help="OPTIONS/s offered")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load per part")
    args = parser.parse_args(argv)
    codes = {name: e.code for name, e in Catalogue().errors.items()}
    with tempfile.TemporaryDirectory(prefix="sip-load-") as tmp:
        device = start_reference(Path(tmp) / "state")
        try:
            client = DeviceClient(device.api_url, codes, req=REQ)
            sip = device_sip_address(client, device.api_url)
            account_id = client.add_account("bench-load")
            client.modify_call_cfg(account_id, auto_aws="1", allow_in_num=str(ALLOW_IN_NUM_MAX))
            client.modify(account_id, localAccount=SERVICE, localAddress=sip.bind)
            print(
                f"decoder from {Path.cwd() if Path('reference_device').is_dir() else ROOT}; "
                f"load average before: {os.getloadavg()[0]:.2f}"
            )
            calls = run_sipp(
                "uac_invite_load",
                target=sip.address,
                rate=args.rate,
                calls=int(args.rate * args.seconds),
                pid=device.pid,
                log_root=Path(tmp),
                variables={"pause_ms": "0"},
            )
            options = run_sipp(
                "uac_options",
                target=sip.address,
                rate=args.options_rate,
                calls=int(args.options_rate * args.seconds),
                pid=device.pid,
                log_root=Path(tmp),
            )
            ok = True
            for run, target in ((calls, CALLS_TARGET), (options, OPTIONS_TARGET)):
                print(run.line(target))
                ok = ok and run.met(target)
                if run.failed or run.returncode:
                    errors = (run.log_dir / "errors.log").read_text(errors="replace")
                    print("  SIPp errors:", errors[-600:])
            print(f"call_status after the runs: {client.status(account_id).call}")
        finally:
            device.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
