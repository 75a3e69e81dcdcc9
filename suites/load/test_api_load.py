"""Load: [load].api_clients concurrent API clients mixing reads and writes.

One run, shared by the three cases of this module (each judges its own requirement on it):

1. Reads alone: a tenth of the clients read list.json a few times each (the baseline figures).
2. The mix, all clients released together, [load].api_requests requests each. As many clients
   as limits.max_accounts leaves room for are owners: each adds an account with a unique name,
   finds its id in list.json (the page's add answers none), then writes modify_call_cfg.json
   (buffer) and modify.json (realm) on it, reads it (status.json, call_cfg.json, list.json),
   and now and then removes it and adds the next. The other clients read list.json, status.json
   and call_cfg.json of the accounts the owners have. Every request is valid on its own: unique
   names, the client's own ids, never more accounts than the limit.
3. Afterwards list.json, and call_cfg.json and account.json of every account that must be there.

Each request's answer and latency is recorded by the client that sent it, so what was
acknowledged is known exactly. p50/p99 of reads (alone and under writers) and of writes are
recorded (record_property) and attached: figures, never judged (a speed target is a benchmark's,
benchmarks/http.py). Whatever the run added is removed at its end; the session's snapshot
restore is the backstop.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import allure
import pytest
import requests

from decoder_conformance.device.client import ConformanceFailure, DeviceClient
from decoder_conformance.device.target import Target
from decoder_conformance.failures import NotExercised
from decoder_conformance.plugin.stash import SUITE_CONFIG

READ = frozenset({"list", "status", "call_cfg", "account"})
BASELINE_READS = 5  # per baseline client
REMOVE_EVERY = 9  # an owner removes its account (and adds the next) every this many requests
START_TIMEOUT = 30.0  # for the clients to be ready to start together


@dataclass(frozen=True)
class Record:
    """One request of the run as its client saw it."""

    client: int
    endpoint: str
    params: dict[str, str]
    started: float  # monotonic seconds
    elapsed: float  # seconds until the answer (or the failure)
    body: Any = None  # the decoded JSON answer; None if there was none
    text: str = ""  # the raw answer, or what went wrong
    answered: bool = True  # False: no HTTP answer (timeout, connection dropped)
    phase: str = "mix"  # "alone" (the baseline reads), "mix", or "after" (the final reads)

    @property
    def ok(self) -> bool:
        """Answered with the ok envelope."""
        return isinstance(self.body, dict) and self.body.get("result") == "ok"

    def describe(self) -> str:
        """The request and its answer in one line."""
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"client {self.client}: {self.endpoint}.json?{query} -> {self.text[:200]!r}"


@dataclass
class Account:
    """What the run knows of one account it added: acknowledged values and undecided ones."""

    name: str
    owner: int
    added: bool = False  # add.json answered ok
    removed: bool = False  # remove.json answered ok
    remove_undecided: bool = False  # a remove.json got no answer or a refusal: gone or not
    id: int | None = None
    buffer: set[str] = field(default_factory=set)  # the value it must show (and undecided ones)
    realm: set[str] = field(default_factory=set)

    def wrote(self, setting: set[str], value: str, acked: bool) -> None:
        """Record a write of `value`: acknowledged, it is the only value allowed from now on;
        unanswered or refused, it is allowed beside the earlier ones."""
        if acked:
            setting.clear()
        setting.add(value)


@dataclass
class LoadRun:
    """The recorded run: requests, accounts, what list.json showed, and the final reads."""

    clients: int
    owners: int
    requests_per_client: int
    prefix: str
    records: list[Record] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    listings: list[tuple[Record, list[Any]]] = field(default_factory=list)
    final: list[Any] = field(default_factory=list)
    final_views: dict[str, tuple[Record, Record]] = field(default_factory=dict)
    duration: float = 0.0
    cleanup: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mix(self) -> list[Record]:
        """The records of the mix (not the baseline)."""
        return [r for r in self.records if r.phase == "mix"]

    def most_in_flight(self) -> int:
        """The most mix requests that were outstanding at one moment."""
        edges = sorted(
            [(r.started, 1) for r in self.mix()] + [(r.started + r.elapsed, -1) for r in self.mix()]
        )
        most = now = 0
        for _, step in edges:
            now += step
            most = max(most, now)
        return most

    def refusals(self) -> str:
        """The mix's error answers by endpoint and code ("status.json 1202: 40, ...")."""
        seen = Counter(
            f"{r.endpoint}.json {r.body.get('msg') if isinstance(r.body, dict) else '?'}"
            for r in self.mix()
            if r.answered and not r.ok
        )
        return ", ".join(f"{what}: {count}" for what, count in seen.most_common()) or "none"

    def figures(self) -> dict[str, float]:
        """p50/p99 (ms) of reads alone, reads under writers and writes; counts and rates."""
        alone = [r.elapsed for r in self.records if r.phase == "alone"]
        reads = [r.elapsed for r in self.mix() if r.endpoint in READ]
        writes = [r.elapsed for r in self.mix() if r.endpoint not in READ]
        result: dict[str, float] = {
            "clients": self.clients,
            "owners": self.owners,
            "requests": len(self.mix()),
            "most_in_flight": self.most_in_flight(),
            "requests_per_s": len(self.mix()) / self.duration if self.duration else 0.0,
            "refused": sum(1 for r in self.mix() if r.answered and not r.ok),
            "unanswered": sum(1 for r in self.mix() if not r.answered),
        }
        for name, values in (("reads_alone", alone), ("reads", reads), ("writes", writes)):
            result[f"{name}_count"] = len(values)
            for p in (50, 99):
                result[f"{name}_p{p}_ms"] = round(percentile(values, p) * 1000, 2)
        return result


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Client:
    """One concurrent API client: its own connection, recording every request into the run."""

    def __init__(self, index: int, run: LoadRun, api: DeviceClient, seed: int) -> None:
        self.index, self.run, self.api = index, run, api
        self.rng = random.Random(seed)
        self.account: Account | None = None
        self.serial = 0

    def send(self, endpoint: str, phase: str = "mix", **params: str) -> Record:
        """One GET; the record (also kept in the run)."""
        started = time.monotonic()
        try:
            reply = self.api.call(endpoint, params)
        except requests.RequestException as exc:
            record = Record(
                self.index,
                endpoint,
                params,
                started,
                time.monotonic() - started,
                text=f"no answer: {exc!r}",
                answered=False,
                phase=phase,
            )
        else:
            record = Record(
                self.index,
                endpoint,
                params,
                started,
                time.monotonic() - started,
                reply.body,
                reply.exchange.body,
                phase=phase,
            )
        with self.run.lock:
            self.run.records.append(record)
            if endpoint == "list" and record.ok and isinstance(record.body.get("data"), list):
                self.run.listings.append((record, record.body["data"]))
        return record

    def baseline(self) -> None:
        """Reads alone, before any writer runs."""
        for _ in range(BASELINE_READS):
            self.send("list", phase="alone")

    def mix(self, owner: bool, start: threading.Barrier) -> None:
        """The client's share of the mix: an owner's cycle, or reads of others' accounts."""
        start.wait(START_TIMEOUT)
        for _ in range(self.run.requests_per_client):
            self.serial += 1
            if owner:
                self._owner_step()
            else:
                self._reader_step()

    def _owner_step(self) -> None:
        account = self.account
        if account is None or account.removed:
            self._add()
            return
        if account.id is None:
            self._find_id(account)
            return
        step = self.serial % REMOVE_EVERY
        ident = str(account.id)
        if step == 0:
            record = self.send("remove", id=ident)
            account.removed = record.ok
            if not record.ok:
                account.remove_undecided = True
                self.account = None  # leave it (the run's cleanup removes it), add the next
        elif step in (1, 4, 7):
            value = f"live:200:200:{300 + self.serial % 600}:0:0"
            record = self.send("modify_call_cfg", id=ident, buffer=value)
            account.wrote(account.buffer, value, record.ok)
        elif step == 5:
            value = f"load-{self.index}-{self.serial}"
            record = self.send("modify", id=ident, realm=value)
            account.wrote(account.realm, value, record.ok)
        else:
            self.send(("status", "call_cfg", "list")[step % 3], id=ident)

    def _add(self) -> None:
        name = f"{self.run.prefix}-{self.index}-{self.serial}"
        account = Account(name, self.index, buffer={"?"}, realm={"?"})
        with self.run.lock:
            self.run.accounts[name] = account
        record = self.send("add", name=name, type="sip")
        account.added = record.ok
        # Until this client writes them, the settings are the device's defaults: not judged.
        self.account = account if record.ok else None

    def _find_id(self, account: Account) -> None:
        record = self.send("list")
        entries = record.body.get("data") if record.ok else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("name") == account.name:
                try:
                    account.id = int(entry["id"])
                except (KeyError, TypeError, ValueError):
                    return
                return

    def _reader_step(self) -> None:
        with self.run.lock:
            ids = [a.id for a in self.run.accounts.values() if a.id is not None and not a.removed]
        if not ids or self.serial % 3 == 0:
            self.send("list")
            return
        ident = str(self.rng.choice(ids))
        self.send("status" if self.serial % 3 == 1 else "call_cfg", id=ident)


def _run_load(target: Target, seed: int) -> LoadRun:
    profile = target.profile
    clients, per_client = profile.load.api_clients, profile.load.api_requests
    lead = target.client(req="SIP-LOAD-API-001")
    existing = lead.accounts()
    room = profile.limits.max_accounts - len(existing)
    run = LoadRun(clients, max(0, min(clients, room)), per_client, f"ld{secrets.token_hex(3)}")
    workers = [
        Client(i, run, target.client(req="SIP-LOAD-API-001"), seed + i) for i in range(clients)
    ]
    try:
        with ThreadPoolExecutor(clients, thread_name_prefix="api-load") as pool:
            baseline = workers[: max(1, clients // 10)]
            for done in [pool.submit(w.baseline) for w in baseline]:
                done.result()
            start = threading.Barrier(clients)
            began = time.monotonic()
            futures = [pool.submit(w.mix, w.index < run.owners, start) for w in workers]
            for done in futures:
                done.result()
            run.duration = time.monotonic() - began
        run.final = lead.expect_ok(lead.call("list")) or []
        for name, account in run.accounts.items():
            if account.added and not account.removed and account.id is not None:
                ident = {"id": str(account.id)}
                cfg = Client(-1, run, lead, seed)
                run.final_views[name] = (
                    cfg.send("call_cfg", phase="after", **ident),
                    cfg.send("account", phase="after", **ident),
                )
    finally:
        run.cleanup = _remove_added(lead, run.prefix)
        for worker in workers:
            worker.api.session.close()
    return run


def _remove_added(api: DeviceClient, prefix: str) -> list[str]:
    """Remove every listed account the run added (by its name prefix); what was left, if any."""
    left = []
    for account in api.accounts():
        if account.name.startswith(prefix + "-"):
            reply = api.call("remove", {"id": str(account.id)})
            if not reply.ok:
                left.append(f"{account.name} (id {account.id}): {reply.exchange.body[:100]}")
    return left


@pytest.fixture(scope="module")
def load_run(device_target: Target) -> LoadRun:
    """The one concurrent run the cases of this module judge (its cleanup is part of it)."""
    return _run_load(device_target, seed=11)


@pytest.fixture
def report(load_run: LoadRun, record_property: Callable[[str, object], None]) -> LoadRun:
    """The run, with its figures recorded on the case and attached to it."""
    figures = load_run.figures()
    for key, value in figures.items():
        record_property(f"load_{key}", value)
    record_property("load_refusals", load_run.refusals())
    lines = [f"{key}: {value}" for key, value in figures.items()]
    lines.append(f"refusals (a request valid when sent, refused under load): {load_run.refusals()}")
    lines.append(
        f"reads not blocked by writes: p99 {figures['reads_p99_ms']} ms under writers, "
        f"{figures['reads_alone_p99_ms']} ms alone (recorded, not judged)"
    )
    if load_run.cleanup:
        lines.append("left on the device after cleanup: " + "; ".join(load_run.cleanup))
    allure.attach(
        "\n".join(lines), name="load figures", attachment_type=allure.attachment_type.TEXT
    )
    return load_run


def _exercised(run: LoadRun, needs_adds: bool) -> None:
    """The run happened as a load: requests overlapped, and (if needed) adds were acknowledged."""
    if not run.mix():
        raise NotExercised("the concurrent run sent no request")
    if run.most_in_flight() < 2:
        raise NotExercised(
            f"the {len(run.mix())} requests of the run never overlapped: not a concurrent load"
        )
    if needs_adds and not any(a.added for a in run.accounts.values()):
        why = "no add.json was answered ok" if run.owners else "limits.max_accounts leaves no room"
        raise NotExercised(f"no account was added under load ({why})")


@pytest.mark.req("SIP-LOAD-API-001")
def test_no_account_is_lost_or_duplicated_under_load(report):
    run = report
    _exercised(run, needs_adds=True)
    req = "SIP-LOAD-API-001"
    for _, entries in run.listings:
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        twice = sorted({n for n in names if names.count(n) > 1 and str(n).startswith(run.prefix)})
        if twice:
            raise ConformanceFailure(
                req,
                "each account listed once in list.json during the run",
                f"{twice} twice",
            )
    listed = [e.get("name") for e in run.final if isinstance(e, dict)]
    lost, doubled, kept = [], [], []
    for name, account in sorted(run.accounts.items()):
        count = listed.count(name)
        must_be_listed = account.added and not account.removed and not account.remove_undecided
        if count > 1 or (must_be_listed and count == 0):
            (lost if count == 0 else doubled).append(name)
        if account.removed and count:
            kept.append(name)
    if lost or doubled or kept:
        acked = sum(a.added for a in run.accounts.values())
        raise ConformanceFailure(
            req,
            f"list.json after the run to list each of the {acked} accounts added (answered ok) "
            "exactly once, none removed (answered ok)",
            f"lost {lost[:10]} ({len(lost)}), listed twice {doubled[:10]}, "
            f"listed after remove {kept[:10]}",
        )
    wrong = []
    for name, (cfg, acc) in sorted(run.final_views.items()):
        account = run.accounts[name]
        shown_buffer = _setting(cfg, "buffer", "buffer_option")
        shown_realm = _setting(acc, "realm")
        if "?" not in account.buffer and shown_buffer not in account.buffer:
            wrong.append(f"{name} buffer {shown_buffer!r}, acknowledged {sorted(account.buffer)}")
        if "?" not in account.realm and shown_realm not in account.realm:
            wrong.append(f"{name} realm {shown_realm!r}, acknowledged {sorted(account.realm)}")
    if wrong:
        raise ConformanceFailure(
            req, "each setting written (answered ok) under load shown afterwards", "; ".join(wrong)
        )


def _setting(record: Record, *keys: str) -> Any:
    data = record.body.get("data") if record.ok else None
    if not isinstance(data, dict):
        return f"<no data: {record.text[:100]}>"
    return next((data[k] for k in keys if k in data), f"<none of {keys}>")


@pytest.mark.req("SIP-LOAD-API-002")
def test_every_request_under_load_gets_an_envelope_with_a_catalogue_code(
    report, request, device_target
):
    run = report
    _exercised(run, needs_adds=False)
    catalogue = request.config.stash[SUITE_CONFIG].catalogue
    codes = {e.code for e in catalogue.errors.values()} | set(device_target.error_codes.values())
    bad = []
    for record in run.mix():
        body = record.body
        envelope = record.answered and isinstance(body, dict)
        if not envelope or body.get("result") not in ("ok", "error"):
            bad.append(record.describe())  # unanswered, not JSON, or not the envelope
        elif body["result"] == "error" and body.get("msg") not in codes:
            bad.append(record.describe())
    if bad:
        raise ConformanceFailure(
            "SIP-LOAD-API-002",
            f"each of the {len(run.mix())} requests answered with the ok or error envelope, "
            f"an error with a catalogue code ({', '.join(sorted(codes))})",
            f"{len(bad)} not: " + " | ".join(bad[:5]),
        )


@pytest.mark.req("SIP-LOAD-API-003")
def test_no_id_is_given_to_two_accounts_under_load(report):
    run = report
    _exercised(run, needs_adds=True)
    for record, entries in [*run.listings, (None, run.final)]:
        by_id: dict[Any, set[Any]] = {}
        for entry in entries:
            if isinstance(entry, dict):
                by_id.setdefault(str(entry.get("id")), set()).add(entry.get("name"))
        shared = {i: sorted(map(str, n)) for i, n in by_id.items() if len(n) > 1}
        if shared:
            when = "after the run" if record is None else "during the run"
            raise ConformanceFailure(
                "SIP-LOAD-API-003", f"distinct ids in list.json {when}", f"shared ids {shared}"
            )
