"""Parallel runs with pytest-xdist (`pytest suites -n 2`).

Against the bundled reference decoder every worker starts its own decoder (the session fixture
`device_target` runs in each worker) and every peer binds port 0, so the workers share nothing.
Against a lab decoder the workers share one device:

* **Scheduling.** xdist's `loadgroup` distribution is forced (its default `load` ignores
  groups; another `--dist` is a usage error). At collection each worker puts the cases that
  need the lab device to themselves in one `xdist_group`, so they run one after another on one
  worker, while the cases that only read spread: a case is a read when `--read-only` would
  run it (plugin/read_only.py: marked `read_only`, no fixture that writes) and it sends the
  device no SIP either (no fixture of plugin/peers.py or plugin/gb.py: a scanner lock-out case
  on the other worker could shut out its OPTIONS). A device-group case also has the device
  alone while it runs (`DeviceTurns`: reads wait for it, it waits for the running reads), as a
  read checks that its refused requests leave list.json unchanged. The cases that change the
  binds may open fixed ports (the page's example, a lab profile's spare binds), so against the
  reference decoders too they share one worker.
* **Snapshot and restore** happen once, in the controller: it snapshots the lab device before
  any worker runs a case and restores it after every worker has ended, so a crashed worker
  cannot leave the device unrestored; the workers skip both (plugin/session.py).
* **Results.** Each worker judges its cases as a serial run does; every report a worker sends
  carries the case's entry of the per-requirement summary and the observations (readings,
  error codes) made since its previous report, and the controller merges them, so the summary
  it writes holds every case a worker reported; xdist's report of a case whose worker crashed
  is recorded broken (xdist 3.8's loadgroup itself hangs after a crash: Ctrl-C still restores
  the lab device). The JUnit file names the worker that ran each case (`xdist_worker`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest

from decoder_conformance.contract.observations import ObservationsMark
from decoder_conformance.device.target import Target
from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.read_only import writes_why
from decoder_conformance.plugin.stash import (
    OBSERVATIONS,
    SUITE_CONFIG,
    SUMMARY,
    is_suite_case,
    item_req,
)
from decoder_conformance.waiting import PeerTimeout, poll_until

#: The xdist group of the cases that need the lab device to themselves.
DEVICE_GROUP = "device"
#: The xdist group of the cases that change the device's binds (fixed ports may be opened).
BINDS_GROUP = "binds"
#: Fixtures of the cases that change the binds.
BIND_FIXTURES = frozenset({"saved_binds", "spare_binds", "trial_binds"})
#: Plugin modules whose fixtures drive the device: SIP and GB28181 peers and accounts.
DRIVING_MODULES = ("decoder_conformance.plugin.peers", "decoder_conformance.plugin.gb")
#: Other fixtures that change the device: scratch accounts, a restart, the binds.
DRIVING_FIXTURES = frozenset({"new_account", "restart_device"}) | BIND_FIXTURES
#: The report attribute that carries a case's results from a worker to the controller.
PAYLOAD = "decoder_conformance_results"
#: The JUnit property naming the worker that ran a case.
WORKER_PROPERTY = "xdist_worker"
#: workerinput key: the controller forces loadgroup (the workers' own options do not say it).
LOADGROUP_INPUT = "decoder_conformance_loadgroup"

_SENT = pytest.StashKey[ObservationsMark]()
#: Controller: nodeid -> requirement, learned from the reports (names a crashed case's).
_REQS = pytest.StashKey[dict[str, str]]()
#: Lab worker: the session's device (plugin/session.py), to log in again after a restart.
WORKER_TARGET = pytest.StashKey[Target]()
#: Lab worker: the restarts of the shared device this worker has logged in again after.
_RESTARTS_SEEN = pytest.StashKey[int]()


def worker_id(config: pytest.Config) -> str | None:
    """The xdist worker id ("gw0") of this process, None in the controller or a serial run."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def distributing(config: pytest.Config) -> bool:
    """True in an xdist controller that hands cases to workers (`-n N`, N > 0)."""
    if worker_id(config) is not None or config.getoption("collectonly"):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def lab_shared(config: pytest.Config) -> bool:
    """True in an xdist worker of a lab run: the controller snapshots and restores the device."""
    suite = config.stash.get(SUITE_CONFIG, None)
    return worker_id(config) is not None and suite is not None and suite.plan.lab


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Controller: force loadgroup, refuse what cannot run in parallel. Worker: follow it."""
    if worker_id(config) is not None:
        if config.workerinput.get(LOADGROUP_INPUT):  # type: ignore[attr-defined]
            config.option.loadgroup = True
        return
    if not distributing(config):
        return
    dist = str(config.getoption("dist"))
    if dist not in ("load", "loadgroup"):
        raise usage(
            f"--dist {dist}: the suite needs --dist loadgroup with -n (the cases that share the "
            "device or a fixed port are grouped by xdist_group, which only loadgroup honours)"
        )
    config.option.dist = "loadgroup"
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is not None and suite.discover_path is not None:
        raise usage(
            f"--discover {suite.discover_path} with -n: discovery probes the device once, "
            "after every case; run it without -n"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say how a parallel run shares the device."""
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None or not distributing(config):
        return []
    if suite.plan.lab:
        return [
            f"parallel: the cases that need the device to themselves run on one worker "
            f"(xdist_group {DEVICE_GROUP}), reads spread; the xdist controller snapshots and "
            "restores the device once"
        ]
    return [
        f"parallel: one reference decoder per worker; the cases that change the binds run on "
        f"one worker (xdist_group {BINDS_GROUP})"
    ]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker that the run is loadgroup (it tags grouped cases' node ids so)."""
    node.workerinput[LOADGROUP_INPUT] = True


def exclusive_reason(item: pytest.Item) -> str | None:
    """Why a case needs the lab device to itself, or None for a read that may spread."""
    why = writes_why(item)
    if why is not None:
        return why
    fixturedefs = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    driving = sorted(
        name
        for name, defs in fixturedefs.items()
        if name in DRIVING_FIXTURES
        or any(getattr(d.func, "__module__", "") in DRIVING_MODULES for d in defs)
    )
    return f"drives the device through {', '.join(driving)}" if driving else None


def group_of(item: pytest.Item, *, lab: bool) -> str | None:
    """The xdist group a case joins: one worker runs every case of a group."""
    if lab:
        return DEVICE_GROUP if exclusive_reason(item) is not None else None
    return BINDS_GROUP if BIND_FIXTURES & set(getattr(item, "fixturenames", ())) else None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    """Worker: group the cases and name the worker in JUnit before xdist reads the groups (a
    wrapper runs before every plain hook), then make sure the groups took (`_tag_groups`)."""
    worker = worker_id(config)
    suite = config.stash.get(SUITE_CONFIG, None)
    if worker is not None and suite is not None:
        for item in items:
            item.user_properties.append((WORKER_PROPERTY, worker))
            group = group_of(item, lab=suite.plan.lab) if is_suite_case(item) else None
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
    result = yield
    if worker is not None and config.getvalue("loadgroup"):
        _tag_groups(items)
    return result


def _tag_groups(items: list[pytest.Item]) -> None:
    """Make sure every grouped case's node id carries its "@group", as xdist means it to.

    xdist 3.8 tells the controller a case's group by appending "@group" to `item._nodeid`, which
    pytest 9.2 no longer reads (node ids are structured, `item._id`): every group would be
    silently ignored (pytest-xdist issue #1386, fix pending in PR #1388). This runs after
    xdist's own hook and does what it meant, only where its suffix did not take.
    """
    for item in items:
        names = sorted(
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        )
        suffix = f"@{'_'.join(dict.fromkeys(names))}"
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            from _pytest.nodeid import NodeId  # pytest >= 9.2, where this is needed

            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Worker: the case's summary entry and the new observations ride on its report (outside
    plugin/verdicts.py's wrapper, so the verdict this report decides is already recorded)."""
    report = yield
    config = item.config
    if worker_id(config) is None or not is_suite_case(item) or SUITE_CONFIG not in config.stash:
        return report
    observations = config.stash[OBSERVATIONS]
    since = config.stash.get(_SENT, None)
    payload = {
        "nodeid": clean_nodeid(item.nodeid),
        "req": item_req(item),
        "summary": config.stash[SUMMARY].export(item.nodeid),
        "observations": observations.export(since),
    }
    config.stash[_SENT] = observations.mark()
    setattr(report, PAYLOAD, json.dumps(payload))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Controller: merge what a worker judged; a case whose worker crashed is broken."""
    node = getattr(report, "node", None)
    config: pytest.Config | None = getattr(node, "config", None)
    if config is None or worker_id(config) is not None or SUITE_CONFIG not in config.stash:
        return
    reqs = config.stash.setdefault(_REQS, {})
    summary = config.stash[SUMMARY]
    raw = getattr(report, PAYLOAD, None)
    if raw is None:
        nodeid = clean_nodeid(report.nodeid)
        if report.failed and nodeid.startswith("suites/"):
            # xdist's report of a case its worker died running: nothing judged it.
            case = [reqs.get(nodeid, "unknown"), "broken"]
            summary.merge({"case": case, "duties": {}}, nodeid=nodeid)
        return
    payload = json.loads(str(raw))
    reqs[payload["nodeid"]] = payload["req"]
    summary.merge(payload["summary"], nodeid=payload["nodeid"])
    config.stash[OBSERVATIONS].merge(payload["observations"])


@dataclass(frozen=True)
class DeviceTurns:
    """Turns on a lab device shared by xdist workers: a case of the device group has the
    device alone; reads share it with each other only.

    Reads check more than their answer: a refused request must leave list.json unchanged, which
    a scratch account added by the other worker at that moment would break. Two flock(2)ed
    files beside the workers' temporary folders: `gate` (a case that wants the device alone
    holds it from the moment it waits, so reads queue behind it rather than starving it) and
    `device` (shared by reads, exclusive otherwise). `restarts` counts the restarts, so a worker
    knows when its login token died with one.
    """

    folder: Path
    timeout: float

    @contextmanager
    def turn(self, *, alone: bool, restart: bool = False) -> Iterator[None]:
        """Hold the device for one case: alone, or shared with other reads; `restart`: the
        case may restart the device (counted, so other workers log in again)."""
        want = self.folder / f"want-{os.getpid()}"
        if alone:
            self._let_readers_in()
        else:
            want.touch()  # a read waiting: the next case that wants the device alone lets it in
        gate = self._open("gate")
        try:
            self._acquire(gate, fcntl.LOCK_EX)
        finally:
            want.unlink(missing_ok=True)
        try:
            device = self._open("device")
            self._acquire(device, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        except BaseException:
            gate.close()
            raise
        if not alone:
            gate.close()  # closing a file drops its lock
        try:
            yield
        finally:
            if restart:  # counted while still alone: no reader sees a half-written count
                (self.folder / "restarts").write_text(str(self.restarts() + 1), "utf-8")
            if alone:
                gate.close()
            device.close()

    def _let_readers_in(self) -> None:
        """Wait until no read is waiting for its turn (flock is not fair: a worker that
        drops the gate and takes it again at once would starve the other worker's reads). A
        read's mark whose worker is gone is passed over; `timeout` bounds the wait."""
        with contextlib.suppress(PeerTimeout):
            poll_until(
                lambda: next((w for w in self.folder.glob("want-*") if _alive(w)), None),
                lambda waiting: waiting is None,
                timeout=self.timeout,
                expected="no read waiting for its turn on the shared device",
                interval=0.005,
                timeout_error=PeerTimeout,
            )

    def restarts(self) -> int:
        """How many restart cases have run so far (on any worker)."""
        path = self.folder / "restarts"
        return int(path.read_text("utf-8")) if path.is_file() else 0

    def _open(self, name: str) -> TextIO:
        return (self.folder / f"{name}.lock").open("a", encoding="utf-8")

    def _acquire(self, handle: TextIO, operation: int) -> None:
        def take() -> bool:
            try:
                fcntl.flock(handle, operation | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            poll_until(
                take,
                bool,
                timeout=self.timeout,
                expected=f"a turn on the shared device ({Path(handle.name).stem})",
                timeout_error=PeerTimeout,
            )
        except BaseException:
            handle.close()
            raise


def _alive(mark: Path) -> bool:
    """Whether the worker that left `mark` (want-<pid>) still runs."""
    try:
        os.kill(int(mark.name.removeprefix("want-")), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Lab run under xdist: a case of the device group has the device alone, from the setup of
    its first fixture (a module's fixture may write: the load cases add accounts there) to the
    end of its teardown, so no read of the other worker sees its writes or a device that is
    restarting; after a restart the other worker logs in again (a restart ends every token)."""
    config = item.config
    if not lab_shared(config) or not is_suite_case(item):
        return (yield)
    suite = config.stash[SUITE_CONFIG]
    # xdist gives each worker basetemp/popen-gwN: the parent is the run's, shared by all.
    basetemp = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    turns = DeviceTurns(basetemp.parent, suite.profile.timers.restart_timeout * 3)
    alone = item.get_closest_marker("xdist_group") is not None
    restart = "restart_device" in getattr(item, "fixturenames", ())
    with turns.turn(alone=alone, restart=restart):
        target = config.stash.get(WORKER_TARGET, None)
        if (
            not alone
            and target is not None
            and config.stash.get(_RESTARTS_SEEN, 0) != (seen := turns.restarts())
        ):
            if target.user:
                target.token = target.client().login(target.user, target.password)
            config.stash[_RESTARTS_SEEN] = seen
        return (yield)


def clean_nodeid(nodeid: str) -> str:
    """`nodeid` without the "@group" xdist's loadgroup appends (the summary keeps the case's
    own id, so serial and parallel runs compare); xdist's own rule: an "@" after the last "]"."""
    at = nodeid.rfind("@")
    return nodeid[:at] if at > max(nodeid.rfind("]"), nodeid.rfind("::")) else nodeid
