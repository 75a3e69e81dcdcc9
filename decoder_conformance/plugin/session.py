"""The session's device: the lab device or the started reference decoder, snapshot and restore.

The target plan was decided at configure time (`options`); this module only carries it out:
start the bundled decoder or probe the lab device, log in, snapshot the device's state, hand out
clients, and restore the snapshot at the end, also after a failure or on Ctrl-C. A discovery run
(`--discover`) first measures the device's limits and `policy_write` (`device/probe.py`), once,
after the last case and before the restore, and records them for the draft. A case that needs a
restart (capability restart) asks `restart_device`; a device a restart did not bring back ends
the run, as an unreachable device at the start does.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from decoder_conformance.contract.observations import CapabilityProbe, LimitProbe, Observations
from decoder_conformance.contract.profile import Timers
from decoder_conformance.device.accounts import AccountFactory
from decoder_conformance.device.client import DeviceClient
from decoder_conformance.device.probe import (
    CAPABILITY_PROBES,
    LIMIT_PROBES,
    ProbeLeftover,
    run_probes,
)
from decoder_conformance.device.snapshot import Snapshot
from decoder_conformance.device.target import (
    ReferenceProcess,
    Target,
    TargetUnavailable,
    probe,
    start_reference,
)
from decoder_conformance.failures import NotExercised
from decoder_conformance.plugin.http_duties import http_duties
from decoder_conformance.plugin.parallel import (
    WORKER_TARGET,
    distributing,
    lab_shared,
    worker_id,
)
from decoder_conformance.plugin.read_only import read_only_mode, unchanged_report
from decoder_conformance.plugin.stash import (
    OBSERVATIONS,
    SUITE_CONFIG,
    SuiteConfig,
    add_duty,
    case_evidence,
    item_req,
)
from decoder_conformance.report.allure import write_run_metadata

#: xdist controller of a lab run: the shared device and its snapshot, restored at the end.
_SHARED_LAB = pytest.StashKey[tuple[Target, Snapshot]]()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Capability restart only where the suite has a way to restart: the bundled decoder, or a
    lab device with [device].restart_command (after options' configure, before collection, so
    the gate skips the restart cases of a lab profile that declares restart but says not how)."""
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None:
        return
    profile = suite.profile
    if suite.plan.lab and profile.has("restart") and not profile.device.restart_command:
        config.stash[SUITE_CONFIG] = replace(
            suite, profile=replace(profile, capabilities=profile.capabilities - {"restart"})
        )


@pytest.fixture(scope="session")
def device_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The device under test: probed lab device or started reference decoder, snapshot/restore."""
    config = request.config
    suite = config.stash[SUITE_CONFIG]
    profile, plan = suite.profile, suite.plan
    user = str(config.getoption("device_user")) or profile.device.user
    password = str(config.getoption("device_password")) or profile.device.password
    reference: ReferenceProcess | None = None
    api_url = plan.api_url
    started = time.monotonic()
    try:
        if not plan.lab:
            state = tmp_path_factory.mktemp("reference-device") / "state"
            # The reference decoder is configured to be the device its profile describes
            # (timers, GB28181 edition and keepalive settings).
            timers = profile.timers
            reference = start_reference(
                state,
                faults=plan.faults,
                readings=plan.readings,
                user=user,
                password=password,
                timeout=timers.ready_timeout,
                extra_args=(
                    "--sip-t1-ms",
                    str(round(timers.sip_t1 * 1000)),
                    "--retry-base-ms",
                    str(round(timers.retry_base * 1000)),
                    "--gb-edition",
                    profile.gb28181.edition,
                    "--gb-keepalive-interval",
                    str(profile.gb28181.keepalive_interval),
                    "--gb-keepalive-count",
                    str(profile.gb28181.keepalive_count),
                ),
            )
            api_url = reference.api_url
        probe(api_url, timeout=min(profile.timers.http_timeout, 8.0))
    except TargetUnavailable as exc:
        if reference is not None:
            reference.stop()
        waited = time.monotonic() - started
        pytest.exit(
            f"decoder conformance: target unavailable (gave up after {waited:.1f} s): {exc}",
            returncode=3,
        )
    target = Target(
        plan,
        api_url,
        profile,
        suite.error_codes,
        user=user,
        password=password,
        reference=reference,
    )
    if user:
        target.token = target.client().login(user, password)
    # Under xdist a shared lab device is snapshotted and restored by the controller, once.
    snapshot = None if lab_shared(config) else Snapshot.take(target.client())
    config.stash[WORKER_TARGET] = target  # a restart on another worker: log in again
    if worker_id(config) in (None, "gw0") and not lab_shared(config):
        _write_environment(config, target, suite)  # once per run: by the first worker
    try:
        yield target
    finally:
        try:
            if suite.discover_path is not None:
                _discovery_probes(request.session, target, config.stash[OBSERVATIONS])
        finally:
            # A second Ctrl-C must not cut the restore short and leave the lab device
            # half-restored.
            with _sigint_ignored():
                try:
                    if snapshot is None:
                        pass  # the xdist controller restores the shared lab device
                    elif target.lost:
                        target.restore_report = [f"not restored: {target.lost}"]
                    else:
                        target.restore_report = _put_back(config, target, snapshot)
                finally:
                    # The target's process: a restart replaced the one started above.
                    if target.reference is not None:
                        target.reference.stop()
        _print_restore(config, target)


def _put_back(config: pytest.Config, target: Target, snapshot: Snapshot) -> list[str]:
    """Restore the snapshot; in read-only mode nothing was written: check, do not write back."""
    if read_only_mode(config):
        return unchanged_report(snapshot, target.client())
    return snapshot.restore(target.client())


def _print_restore(config: pytest.Config, target: Target) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and target.restore_report:
        reporter.write_line("decoder conformance: device state restored:")
        for line in target.restore_report:
            reporter.write_line(f"  {line}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """xdist controller of a lab run: snapshot the shared device once, before any worker runs
    a case (the workers skip it), so that no worker's crash can leave it unrestored."""
    config = session.config
    suite = config.stash.get(SUITE_CONFIG, None)
    if suite is None or not suite.plan.lab or not distributing(config):
        return
    target = _lab_target(config)
    config.stash[_SHARED_LAB] = (target, Snapshot.take(target.client()))
    _write_environment(config, target, suite)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """xdist controller of a lab run: restore the shared device once every worker has ended
    (trylast: after xdist has shut its workers down)."""
    config = session.config
    shared = config.stash.get(_SHARED_LAB, None)
    if shared is None:
        return
    target, snapshot = shared
    with _sigint_ignored():
        try:
            if target.user:  # a worker's restart case, or the run's length, ended the token
                target.token = target.client().login(target.user, target.password)
            target.restore_report = _put_back(config, target, snapshot)
        except Exception as exc:  # a device lost mid-run: say so, the run's verdicts stand
            target.restore_report = [f"not restored: {type(exc).__name__}: {exc}"]
    _print_restore(config, target)


def _lab_target(config: pytest.Config) -> Target:
    """The lab device of the run, probed and logged in (the run ends if it does not answer)."""
    suite = config.stash[SUITE_CONFIG]
    profile = suite.profile
    user = str(config.getoption("device_user")) or profile.device.user
    password = str(config.getoption("device_password")) or profile.device.password
    started = time.monotonic()
    try:
        probe(suite.plan.api_url, timeout=min(profile.timers.http_timeout, 8.0))
    except TargetUnavailable as exc:
        waited = time.monotonic() - started
        pytest.exit(
            f"decoder conformance: target unavailable (gave up after {waited:.1f} s): {exc}",
            returncode=3,
        )
    target = Target(
        suite.plan, suite.plan.api_url, profile, suite.error_codes, user=user, password=password
    )
    if user:
        target.token = target.client().login(user, password)
    return target


def _discovery_probes(session: pytest.Session, target: Target, seen: Observations) -> None:
    """Measure the limits and capabilities discovery pins, into `seen` (once per run).

    Not after Ctrl-C or pytest.exit: then every probe is recorded as not run, and why. A probe
    account the device would not remove is named in `seen.probe_note` (the draft and the end of
    the session show it); the session's restore, which runs next, tries again.
    """
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        why = f"the run stopped early (exit status {int(session.exitstatus)})"
    else:
        try:
            results = run_probes(target.client())
        except ProbeLeftover as exc:
            why = str(exc)
        else:
            seen.limits_probed.update(results.limits)
            seen.capabilities_probed.update(results.capabilities)
            return
    seen.probe_note = why
    for key in LIMIT_PROBES:
        seen.limits_probed[key] = LimitProbe(None, why)
    for key in CAPABILITY_PROBES:
        seen.capabilities_probed[key] = CapabilityProbe(None, why)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_environment(config: pytest.Config, target: Target, suite: SuiteConfig) -> None:
    alluredir = config.getoption("allure_report_dir", default=None)
    if not alluredir:
        return
    environment = {
        "device.url": target.api_url,
        "device.kind": target.plan.kind,
        "device.model": suite.profile.device.model,
        "device.firmware": suite.profile.device.firmware,
        "profile": suite.profile.source,
        "capabilities": ",".join(sorted(suite.profile.capabilities)) or "none",
        "reference.faults": ",".join(target.plan.faults) or "none",
        "reference.readings": ",".join(target.plan.readings) or "none",
        "suite.host": suite.suite_host,
    }
    write_run_metadata(Path(str(alluredir)), environment)


@pytest.fixture(scope="session")
def suite_host(request: pytest.FixtureRequest) -> str:
    """This machine's address that every SIP peer binds and advertises (--suite-host)."""
    return request.config.stash[SUITE_CONFIG].suite_host


@pytest.fixture
def api(request: pytest.FixtureRequest, device_target: Target) -> DeviceClient:
    """A client for the device, naming the case's requirement in its failures."""
    recorded = case_evidence(request.node).exchanges
    add_duty(request.node, "HTTP answers", http_duties(recorded))
    observations = request.config.stash[OBSERVATIONS]
    return device_target.client(
        req=item_req(request.node), on_exchange=recorded.append, on_code=observations.code
    )


@pytest.fixture
def restart_device(
    request: pytest.FixtureRequest, api: DeviceClient, device_target: Target
) -> Callable[[], str]:
    """`restart_device()`: restart the device (capability restart) and wait until it answers;
    returns one line saying what happened, also attached to the case. The case's `api` client
    follows (a new login token; a new URL if the device came back on another port). A device
    that did not come back ends the run; a restart that was never seen (RestartNotSeen) makes
    the case broken."""
    done: list[str] = []
    case_evidence(request.node).add_attacher(lambda: _attach_restarts(done))

    def restart() -> str:
        if api.api_url != device_target.api_url.rstrip("/"):
            raise NotExercised("harness: the case's client is not the session's device")
        try:
            what = device_target.restart()
        except TargetUnavailable as exc:
            pytest.exit(
                f"decoder conformance: the device did not come back after a restart: {exc}",
                returncode=3,
            )
        if api.api_url != device_target.api_url.rstrip("/"):
            # The device came back on another port: the case's client follows it.
            api.api_url = device_target.api_url
            api.__post_init__()
        api.token = device_target.token
        # Connections to the stopped process are dead: new ones from here on.
        api.session.close()
        done.append(what)
        return what

    return restart


def _attach_restarts(done: list[str]) -> None:
    if not done:
        return
    import allure

    allure.attach(
        "\n".join(done), name="device restarts", attachment_type=allure.attachment_type.TEXT
    )


@pytest.fixture
def timers(device_target: Target) -> Timers:
    """The profile's SIP timers and state timeouts ([timers])."""
    return device_target.profile.timers


@pytest.fixture
def error_code(device_target: Target) -> dict[str, str]:
    """Catalogue error name -> the code this device uses for it."""
    return device_target.error_codes


@pytest.fixture
def spare_binds(device_target: Target) -> list[str]:
    """Binds the suite may open on the device (profile [binds].spare; port 0 = ephemeral)."""
    return list(device_target.profile.binds.spare)


@pytest.fixture
def new_account(api: DeviceClient) -> Iterator[AccountFactory]:
    """Factory for scratch accounts, removed when the case ends."""
    factory = AccountFactory(api)
    yield factory
    factory.cleanup()
