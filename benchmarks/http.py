"""HTTP benchmark of the reference decoder: read throughput, and reads and writes under writers.

    .venv/bin/python benchmarks/http.py              # prints its figures; exit 1 on a missed target
    .venv/bin/python benchmarks/http.py --seconds 5  # longer measuring windows (default 2 s)

1. Reads: list.json and status.json, each from 50 keep-alive clients (closed loop: a client
   sends its next request when the answer to the last one is in). The same load on a trivial
   aiohttp server (a separate process, one event loop like the device, taking the very same
   requests and answering the very same JSON body with `web.json_response`, nothing else) is
   measured in the same run, in rounds of alternating order, so the ratio holds whatever else
   loads the machine. Target: the device at >= 0.9x the trivial server's requests/s. Each
   server's CPU time per answer is printed too (the steadier figure on a busy machine).
2. Writes: 20 writers send modify_call_cfg.json (each on its own account, alternating values)
   while one list.json reader and one status.json reader run. Targets: read p99 under 20 ms and
   at least 500 acknowledged writes/s. Every answer must be `{"result": "ok"...}`.

The load generator is written here on asyncio protocols (a request is a pre-built byte string,
an answer is framed by its Content-Length), because wrk is not part of this project's toolchain
and an aiohttp client costs more CPU per request than the server under test: the same generator
drives both servers. Everything runs on 127.0.0.1; the device is started here on ephemeral ports
and stopped at the end. The machine's load average is printed: read the figures as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# As a script, benchmarks/ is sys.path[0] and its http.py would shadow the standard library's.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

from aiohttp import web  # noqa: E402

from decoder_conformance.device.target import ReferenceProcess, start_reference  # noqa: E402
from decoder_conformance.waiting import stop_process  # noqa: E402

HOST = "127.0.0.1"
READ_CLIENTS = 50
WRITERS = 20
READ_RATIO_TARGET = 0.9
READ_P99_TARGET_MS = 20.0
WRITES_TARGET = 500.0
ROUNDS = 4  # rounds per server and endpoint, in alternating order
WARMUP = 0.5  # seconds of load before a round's window opens
ANSWER_TIMEOUT = 10.0


# -- the load generator ---------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request outstanding."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def _complete(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        if at < 0:
            self.waiter.set_exception(ValueError(f"answer without Content-Length: {head[:200]!r}"))
            return
        line_end = head.find(b"\r\n", at)
        length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        answer = bytes(self.buffer[:total])
        del self.buffer[:total]
        self.waiter.set_result(answer)

    async def exchange(self, request: bytes) -> bytes:
        """Send `request`; the whole answer (status line, headers, body)."""
        if self.lost is not None or self.transport is None:
            raise ConnectionError(f"connection gone: {self.lost}")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self.waiter, ANSWER_TIMEOUT)


def get_request(port: int, path: str) -> bytes:
    """A GET for `path` as the bytes sent."""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


@dataclass
class Series:
    """Latencies (seconds) of the answers that arrived inside the measuring window."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    window: float = 0.0

    @property
    def rate(self) -> float:
        """Answers per second in the window."""
        return len(self.latencies) / self.window if self.window else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def describe(self) -> str:
        """Rate and p50/p99 in one line."""
        errors = f", {len(self.errors)} bad answers" if self.errors else ""
        return (
            f"{self.rate:8.0f}/s  p50 {self.percentile(50):6.2f} ms  "
            f"p99 {self.percentile(99):6.2f} ms{errors}"
        )


async def _client(
    port: int, requests: Sequence[bytes], series: Series, start: float, end: float
) -> None:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Connection, HOST, port)
    try:
        index = 0
        while (now := time.perf_counter()) < end:
            answer = await conn.exchange(requests[index % len(requests)])
            index += 1
            done = time.perf_counter()
            if now >= start:
                series.latencies.append(done - now)
                if b" 200 " not in answer[:16] or b'"result": "ok"' not in answer:
                    series.errors.append(answer[-300:].decode(errors="replace"))
    finally:
        if conn.transport is not None:
            conn.transport.close()


async def run_load(
    port: int, groups: Sequence[tuple[int, list[list[bytes]]]], seconds: float
) -> list[Series]:
    """Run each group (client count, per-client request cycles) at once for WARMUP + `seconds`;
    one Series per group, over the window after the warm-up."""
    start = time.perf_counter() + WARMUP
    end = start + seconds
    results = [Series(window=seconds) for _ in groups]
    tasks = [
        _client(port, cycles[i % len(cycles)], results[g], start, end)
        for g, (clients, cycles) in enumerate(groups)
        for i in range(clients)
    ]
    await asyncio.gather(*tasks)
    return results


# -- the servers ----------------------------------------------------------------------------------


def serve_trivial(bodies: dict[str, Any]) -> None:
    """The trivial server: each path answers its fixed JSON document, nothing else."""

    def make(doc: Any) -> Any:
        async def handle(request: web.Request) -> web.Response:
            return web.json_response(doc)

        return handle

    async def main() -> None:
        app = web.Application()
        for path, doc in bodies.items():
            app.router.add_get(path, make(doc))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        await asyncio.Event().wait()  # until terminated

    asyncio.run(main())


def start_trivial(bodies: dict[str, Any], workdir: Path) -> tuple[subprocess.Popen[str], int]:
    """Start the trivial server as a process of its own; (process, port)."""
    spec = workdir / "trivial.json"
    spec.write_text(json.dumps(bodies))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--trivial-server", str(spec)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line, or "" if it died
    if not line:
        stop_process(proc, 5.0)
        raise RuntimeError(f"the trivial server printed no ready line (exit {proc.returncode})")
    return proc, int(json.loads(line)["port"])


def call(port: int, path: str) -> Any:
    """One GET on a fresh connection, decoded; raises unless the answer is ok."""

    async def once() -> bytes:
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, HOST, port)
        try:
            return await conn.exchange(get_request(port, path))
        finally:
            if conn.transport is not None:
                conn.transport.close()

    body = json.loads(asyncio.run(once()).partition(b"\r\n\r\n")[2])
    if body.get("result") != "ok":
        raise RuntimeError(f"{path}: {body}")
    return body


def device_port(device: ReferenceProcess) -> tuple[int, str]:
    """The device's HTTP port and API path prefix from its URL."""
    rest = device.api_url.split("://", 1)[1]
    hostport, _, prefix = rest.partition("/")
    return int(hostport.rsplit(":", 1)[1]), "/" + prefix


# -- the parts ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reads(servers: dict[str, tuple[int, int]], paths: list[str], seconds: float) -> bool:
    """Part 1: each path on the device and on the trivial server (name -> (port, pid)), the
    same request bytes to both, in rounds of alternating order."""
    print(
        f"1. reads, {READ_CLIENTS} keep-alive clients, {ROUNDS} rounds of {seconds} s per "
        "server, alternating which goes first"
    )
    met = True
    order = list(servers.items())
    for path in paths:
        name = path.rsplit("/", 1)[1].split("?")[0]
        totals = {who: Series() for who in servers}
        cpu = dict.fromkeys(servers, 0.0)
        for round_no in range(ROUNDS):
            # one order, then the other: a drift in the machine's load hits both servers
            for who, (port, pid) in order if round_no % 2 == 0 else order[::-1]:
                before = cpu_seconds(pid)
                (series,) = asyncio.run(
                    run_load(port, [(READ_CLIENTS, [[get_request(port, path)]])], seconds)
                )
                # the warm-up's answers used CPU too: count them at the window's rate
                cpu[who] += (cpu_seconds(pid) - before) * seconds / (seconds + WARMUP)
                totals[who].latencies += series.latencies
                totals[who].errors += series.errors
                totals[who].window += series.window
        ratio = totals["device"].rate / totals["trivial"].rate
        bad = totals["device"].errors + totals["trivial"].errors
        ok = ratio >= READ_RATIO_TARGET and not bad
        met &= ok
        for who in ("trivial", "device"):
            per = cpu[who] / max(1, len(totals[who].latencies)) * 1e6
            print(f"  {name:12s} {who:8s} {totals[who].describe()}  CPU {per:4.0f} us/answer")
        print(
            f"  {name:12s} ratio    {ratio:.2f}x (target >= {READ_RATIO_TARGET}x) "
            f"{'ok' if ok else 'MISSED'}"
        )
        if bad:
            print(f"    first bad answer: {bad[0]}")
    return met


def writes(dev: int, prefix: str, ids: list[int], seconds: float) -> bool:
    """Part 2: 20 modify_call_cfg.json writers and a list.json and a status.json reader."""
    print(f"2. {WRITERS} modify_call_cfg.json writers with a list.json and a status.json reader")
    writer_cycles = [
        [
            get_request(
                dev, f"{prefix}/sip/modify_call_cfg.json?id={i}&buffer=live:200:200:500:0:0"
            ),
            get_request(
                dev, f"{prefix}/sip/modify_call_cfg.json?id={i}&buffer=live:200:200:500:0:1"
            ),
        ]
        for i in ids[:WRITERS]
    ]
    reader = [get_request(dev, f"{prefix}/sip/list.json")]
    status = [get_request(dev, f"{prefix}/sip/status.json?id={ids[0]}")]
    alone_list, alone_status = asyncio.run(run_load(dev, [(1, [reader]), (1, [status])], seconds))
    wrote, listed, stated = asyncio.run(
        run_load(dev, [(WRITERS, writer_cycles), (1, [reader]), (1, [status])], seconds)
    )
    print(f"  list.json   alone        {alone_list.describe()}")
    print(f"  status.json alone        {alone_status.describe()}")
    print(f"  writes                   {wrote.describe()}")
    print(f"  list.json   with writers {listed.describe()}")
    print(f"  status.json with writers {stated.describe()}")
    read_p99 = max(listed.percentile(99), stated.percentile(99))
    bad = wrote.errors + listed.errors + stated.errors
    read_ok = read_p99 < READ_P99_TARGET_MS
    write_ok = wrote.rate >= WRITES_TARGET
    print(
        f"  read p99 under writers {read_p99:.2f} ms (target < {READ_P99_TARGET_MS} ms) "
        f"{'ok' if read_ok else 'MISSED'}; writes {wrote.rate:.0f}/s (target >= "
        f"{WRITES_TARGET:.0f}/s) {'ok' if write_ok else 'MISSED'}"
    )
    if bad:
        print(f"  {len(bad)} bad answers; first: {bad[0]}")
    return read_ok and write_ok and not bad


def main(argv: list[str]) -> int:
    """Run both parts; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring window per round")
    parser.add_argument("--trivial-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trivial_server is not None:
        serve_trivial(json.loads(args.trivial_server.read_text()))
        return 0
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        device = start_reference(Path(tmp) / "state")
        trivial: subprocess.Popen[str] | None = None
        try:
            dev, prefix = device_port(device)
            for n in range(WRITERS):
                call(dev, f"{prefix}/sip/add.json?name=bench-{n}&type=sip")
            ids = [int(e["id"]) for e in call(dev, f"{prefix}/sip/list.json")["data"]]
            list_body = call(dev, f"{prefix}/sip/list.json")
            status_body = call(dev, f"{prefix}/sip/status.json?id={ids[0]}")
            trivial, triv = start_trivial(
                {f"{prefix}/sip/list.json": list_body, f"{prefix}/sip/status.json": status_body},
                Path(tmp),
            )
            servers = {"trivial": (triv, trivial.pid), "device": (dev, device.pid)}
            paths = [f"{prefix}/sip/list.json", f"{prefix}/sip/status.json?id={ids[0]}"]
            read_ok = reads(servers, paths, args.seconds)
            write_ok = writes(dev, prefix, ids, args.seconds)
        finally:
            if trivial is not None:
                stop_process(trivial, 5.0)
            device.stop()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    missed = [name for name, ok in (("reads", read_ok), ("writes", write_ok)) if not ok]
    print("targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
