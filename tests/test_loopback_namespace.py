"""A slice of the suite, run against the bundled reference decoder inside a network namespace that
has only `lo` and traced with strace: it must pass, and nothing in it may try to reach beyond
loopback. (The whole suite runs in such a namespace too: the clean run of tests/test_detection.py;
this slice adds the system-call trace, too slow for the whole suite.)

In such a namespace a connect/sendto to any other address fails at once (ENETUNREACH), and a name
lookup has no DNS server to reach. Attempts are caught two ways: the reference decoder's log must
hold none of the lines such a failure leaves ("cannot resolve", "cannot dial", "unreachable",
errno 101); and where strace is installed (and allowed), every connect/sendto/sendmsg of the run is
traced and any address outside loopback, or port 53, fails the test. The slice covers API writes
(registerServer included), registration and one outgoing call.

Skipped only where no namespace can be made (not root and no unprivileged user namespaces).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CI_ARGS, ROOT
from tests.namespace import OUTSIDE, namespace_prefix, outside_signs

SLICE = (
    "suites/api/test_modify.py::test_modify_field_reads_back",
    "suites/api/test_modify.py::test_modify_page_example",
    "suites/sip/test_registration.py::test_registers_with_digest_and_reports_registered",
    "suites/sip/test_registration.py::test_forbidden_gives_error_403",
    "suites/calls/test_outgoing.py::test_auto_call_invites_sip_out_url",
)
NETWORK_CALLS = "connect,sendto,sendmsg,sendmmsg"

SOCKADDR_IN = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([\d.]+)"\)')
SOCKADDR_IN6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')


def outside_attempts(trace: str) -> list[str]:
    """strace lines whose address is not loopback, or whose port is DNS's."""
    found = []
    for line in trace.splitlines():
        for port, host in SOCKADDR_IN.findall(line) + SOCKADDR_IN6.findall(line):
            loopback = host.startswith(("127.", "::ffff:127.")) or host == "::1"
            if not loopback or port == "53":
                found.append(line)
    return found


def _namespace_prefix() -> list[str]:
    """The command prefix that enters a loopback-only namespace here, or skip."""
    prefix, why = namespace_prefix()
    if prefix is None:
        pytest.skip(why)
    return prefix


def _strace(out: Path) -> list[str]:
    """The strace prefix tracing the run's network calls, or [] where strace cannot run."""
    strace = shutil.which("strace")
    if strace is None:
        return []
    prefix = [strace, "-f", "-qq", "-e", f"trace={NETWORK_CALLS}", "-e", "signal=none"]
    probe = subprocess.run(
        [*prefix, "-o", os.devnull, "true"], capture_output=True, timeout=30, check=False
    )
    return [*prefix, "-o", str(out)] if probe.returncode == 0 else []


def test_trace_reader_sees_outside_and_dns() -> None:
    lines = [
        'connect(3, {sa_family=AF_INET, sin_port=htons(5060), sin_addr=inet_addr("127.0.0.1")}, '
        "16) = 0",
        'sendto(4, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(5060), '
        'sin_addr=inet_addr("192.0.2.1")}, 16) = -1 ENETUNREACH (Network is unreachable)',
        'connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, '
        "16) = 0",
        "connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1',
        'connect(7, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0',
    ]
    assert outside_attempts("\n".join(lines)) == lines[1:4]


@pytest.mark.selftest
def test_suite_slice_stays_on_loopback_in_a_loopback_only_namespace(tmp_path: Path) -> None:
    prefix = _namespace_prefix()
    trace_path = tmp_path / "network.strace"
    strace = _strace(trace_path)
    if strace:
        # The tracer is proved to see an outside attempt before its silence is trusted.
        control = [
            sys.executable,
            "-c",
            f"import socket; socket.socket(2, 2).sendto(b'x', ('{OUTSIDE}', 9))",
        ]
        subprocess.run(
            [*prefix, *strace, *control],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if trace_path.exists():
            assert outside_attempts(trace_path.read_text()), "strace missed the control's sendto"
        else:
            strace = []  # strace cannot run in the namespace: the log check alone judges
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
    }
    basetemp = tmp_path / "base"
    run = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *CI_ARGS,
        "-q",
        "--basetemp",
        str(basetemp),
        *SLICE,
    ]
    done = subprocess.run(
        [*prefix, *strace, *run],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"the slice failed inside the namespace:\n{output[-4000:]}"
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= len(SLICE), (
        f"expected >= {len(SLICE)} passed:\n{output[-2000:]}"
    )
    assert any(basetemp.rglob("*.device.log")), f"no reference decoder log under {basetemp}"
    signs = outside_signs(basetemp)
    assert not signs, "the reference decoder tried to resolve or reach outside:\n" + "\n".join(
        signs
    )
    if strace:
        trace = trace_path.read_text()
        assert 'inet_addr("127.0.0.1")' in trace, "strace saw none of the run's loopback traffic"
        attempts = outside_attempts(trace)
        assert not attempts, "network calls beyond loopback:\n" + "\n".join(attempts[:20])
