"""Read-only mode for a decoder in production (--read-only): only cases that change nothing run.

A case runs in this mode only if it carries `@pytest.mark.read_only` (it sends no write endpoint
and no SIP request but OPTIONS); `@pytest.mark.read_only(param="endpoint")` marks a case
parametrized over endpoints, read-only where its `endpoint` parameter is not a write endpoint.
Every other case is skipped, naming the mode and why it writes. Belt and braces: every client
of the session refuses to send a write endpoint (`DeviceClient.read_only`: the case is broken
and nothing is sent), and the session restores nothing; it reads the device's state again at
the end and reports whether it is as found. users/login.json still runs: a token is a session of
the HTTP API, not a state of the SIP module.

A marked case whose own fixtures write (a scratch account, a call, the binds) is a usage error in
every run, so a mark cannot drift onto a case that writes. A case that reads one account takes
`existing_account`: in this mode an account the device already has, never a new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

from decoder_conformance.device.client import (
    WRITE_ENDPOINTS,
    AccountSummary,
    ConformanceFailure,
    DeviceClient,
)
from decoder_conformance.device.snapshot import Snapshot
from decoder_conformance.device.target import Target
from decoder_conformance.plugin.options import usage
from decoder_conformance.plugin.stash import is_suite_case

READ_ONLY = pytest.StashKey[bool]()
ENV = "DECODER_READ_ONLY"
MARKER = "read_only"
MODE = "read-only mode"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

#: The harness fixtures that write, in the order a skip reason names them: a case that uses one
#: (directly or through its own fixtures) writes, whatever it reads afterwards.
WRITING_FIXTURES: dict[str, str] = {
    "restart_device": "it restarts the device (restart_device)",
    "raw_caller": "it calls the device (raw_caller)",
    "pjsua": "it calls the device (pjsua)",
    "sipp": "it sends SIP call scenarios to the device (sipp)",
    "sipp_uas": "the device calls it (sipp_uas)",
    "sip_account": "it adds and configures a SIP account (sip_account)",
    "gb_account": "it adds a GB28181 account (gb_account)",
    "new_account": "it adds scratch accounts (new_account)",
    "saved_binds": "it writes the binds and puts them back (saved_binds)",
    "spare_binds": "it writes the profile's spare binds (spare_binds)",
    "trial_binds": "it writes the binds it tries (trial_binds)",
}
UNMARKED = f"it is not marked {MARKER}, so it is not known to change nothing"


def pytest_addoption(parser: pytest.Parser) -> None:
    """--read-only, with the environment fallback DECODER_READ_ONLY (1/true/yes/on)."""
    group = parser.getgroup("decoder", "decoder SIP-module conformance")
    group.addoption(
        "--read-only",
        action="store_true",
        default=None,
        help="run only the cases that change nothing on the device (a decoder in production): "
        f"every other case is skipped naming the mode, no write endpoint is sent, nothing is "
        f"restored (env {ENV}=1)",
    )


def env_flag(value: str) -> bool:
    """DECODER_READ_ONLY's value as a flag; UsageError naming the variable for anything else."""
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise usage(
        f"environment variable {ENV}={value!r}: expected one of "
        f"{', '.join(sorted(_TRUE | _FALSE - {''}))}"
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Decide the mode once; refuse --discover with it (discovery's probes add accounts)."""
    option = config.getoption("read_only", default=None)
    enabled = bool(option) if option is not None else env_flag(os.environ.get(ENV, ""))
    config.stash[READ_ONLY] = enabled
    if enabled and str(config.getoption("discover", default="")).strip():
        raise usage(
            "--read-only with --discover: discovery's probes add, modify and remove accounts "
            "after the last case; draft the profile on a device that may be written"
        )


def read_only_mode(config: pytest.Config) -> bool:
    """True when this run is in read-only mode."""
    return config.stash.get(READ_ONLY, False)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say so at the top when the run is read-only."""
    if not read_only_mode(config):
        return []
    return [
        f"{MODE}: only cases marked {MARKER} run; no write endpoint is sent; "
        "the device is not restored (it is checked unchanged at the end)"
    ]


def _own_fixtures(item: pytest.Item) -> set[str]:
    """The fixtures the case asks for and the ones those ask for (not autouse ones: a folder's
    autouse clean-up that writes only what a case made is not the case writing)."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's per-function fixture closure
    if info is None:
        return set()
    seen: set[str] = set()
    pending = list(info.argnames)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        definitions = info.name2fixturedefs.get(name)
        if definitions:
            pending.extend(definitions[-1].argnames)
    return seen


def _writing_fixture(fixtures: Iterable[str]) -> str | None:
    used = set(fixtures)
    return next((why for name, why in WRITING_FIXTURES.items() if name in used), None)


def writes_why(item: pytest.Item) -> str | None:
    """Why the case writes to the device (None: it changes nothing); UsageError for a bad mark."""
    marks = list(item.iter_markers(MARKER))
    fixtures_why = _writing_fixture(_own_fixtures(item))
    if not marks:
        return fixtures_why or UNMARKED
    if fixtures_why is not None:
        raise usage(f"{item.nodeid}: marked {MARKER}, but {fixtures_why}")
    params = getattr(getattr(item, "callspec", None), "params", {})
    for mark in marks:
        param = mark.kwargs.get("param")
        if mark.args or set(mark.kwargs) - {"param"}:
            raise usage(f"{item.nodeid}: @{MARKER} takes only param=NAME, got {mark}")
        if param is None:
            continue
        if param not in params:
            raise usage(f"{item.nodeid}: @{MARKER}(param={param!r}): no such parameter")
        if params[param] in WRITE_ENDPOINTS:
            return f"it calls {params[param]}.json, an endpoint that writes"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check every mark (in every run); in read-only mode, skip each case that writes."""
    enabled = read_only_mode(config)
    for item in items:
        if not is_suite_case(item):
            continue
        why = writes_why(item)
        if enabled and why is not None:
            item.add_marker(
                pytest.mark.skip(reason=f"{MODE}: the case writes to the device ({why})")
            )


@pytest.fixture(scope="session", autouse=True)
def _read_only_clients(request: pytest.FixtureRequest) -> None:
    """In read-only mode, every client the session's device hands out refuses write endpoints
    (a run without --read-only does not start the device for this)."""
    if read_only_mode(request.config):
        target: Target = request.getfixturevalue("device_target")
        target.read_only = True


@pytest.fixture
def existing_account(request: pytest.FixtureRequest, api: DeviceClient) -> AccountSummary:
    """An account for a case that only reads one. In read-only mode one the device already has
    (list.json's first sip account, else its first), skipped naming the mode when it has none;
    otherwise a scratch sip account (new_account, asked for only then), so the case runs on any
    device and its mark stays valid."""
    if read_only_mode(request.config):
        accounts = api.accounts()
        if not accounts:
            pytest.skip(f"{MODE}: the device has no account to read, and the case may not add one")
        return next((a for a in accounts if a.type == "sip"), accounts[0])
    account_id = request.getfixturevalue("new_account")()
    found = next((a for a in api.accounts() if a.id == account_id), None)
    if found is None:
        raise ConformanceFailure(api.req, f"id {account_id} listed after add.json", "not listed")
    return found


def unchanged_report(found: Snapshot, client: DeviceClient) -> list[str]:
    """The session's end in read-only mode: nothing is restored (nothing was written); the state
    is read again and compared with the snapshot taken at the start, so a change another client
    made during the run is reported rather than undone."""
    now = Snapshot.take(client)
    changes = [
        *(f"account {n!r} appeared" for n in sorted(now.accounts.keys() - found.accounts.keys())),
        *(f"account {n!r} went" for n in sorted(found.accounts.keys() - now.accounts.keys())),
        *(
            f"account {n!r} has other settings"
            for n in sorted(found.accounts.keys() & now.accounts.keys())
            if found.accounts[n] != now.accounts[n]
        ),
    ]
    if now.binds != found.binds:
        changes.append(f"binds {found.binds!r} -> {now.binds!r}")
    if not changes:
        return [
            f"{MODE}: nothing restored, nothing to restore: the accounts, call settings and "
            "binds are as the session found them"
        ]
    return [
        f"{MODE}: nothing restored; the suite sent no write, yet the device's state changed "
        f"during the run (another client?): {'; '.join(changes)}"
    ]
