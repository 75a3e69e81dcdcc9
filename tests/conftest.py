"""Helpers for the project's own tests: a separately started reference decoder, pytest runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from decoder_conformance.device.target import ReferenceProcess, start_reference

ROOT = Path(__file__).resolve().parent.parent
#: Suites run by the project's tests use the reproducible hypothesis profile.
CI_ARGS = ("--hypothesis-profile", "ci")


@dataclass(frozen=True)
class PytestRun:
    """A finished `pytest` subprocess."""

    returncode: int
    output: str
    seconds: float


def run_pytest(
    *args: str, timeout: float = 300.0, cwd: Path = ROOT, prefix: Iterable[str] = ()
) -> PytestRun:
    """Run pytest in a subprocess (so each run gets its own plugin state and reference device);
    `prefix` wraps the command (a network namespace, a tracer)."""
    import time

    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    started = time.monotonic()
    # Its own process group: on a timeout the whole tree goes (xdist workers, the decoders and
    # peers they started), not only the pytest at its top.
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *CI_ARGS, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(
            f"pytest {' '.join(args)} did not end within {timeout} s; its output:\n{output[-4000:]}"
        ) from None
    return PytestRun(process.returncode, output, time.monotonic() - started)


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[ReferenceProcess]:
    """A reference decoder started by the test (as a lab device would be), stopped afterwards."""
    device = start_reference(tmp_path / "state")
    yield device
    assert device.stop() == 0, f"reference decoder exited badly:\n{device.log_tail()}"


def generic_profile(directory: Path, extra: str = "", capabilities: Iterable[str] = ()) -> Path:
    """profiles/generic.toml for a run against the bundled decoder, plus `extra` TOML, with the
    named `capabilities` (which generic.toml lists) turned on.

    Its spare binds are ephemeral (port 0): the bundled decoder stands in for a lab device on a
    machine other runs share, and the generic profile's fixed 5062/5064 may be taken there.
    """
    text = (ROOT / "profiles" / "generic.toml").read_text("utf-8")
    for name in capabilities:
        line = next(x for x in text.splitlines() if x.startswith(f"{name} = "))
        text = text.replace(line, f"{name} = true")
    spare = next(line for line in text.splitlines() if line.startswith("spare = "))
    profile = directory / "generic-bundled.toml"
    profile.write_text(
        text.replace(spare, 'spare = ["127.0.0.1:0", "*:0"]') + "\n" + extra, "utf-8"
    )
    return profile
