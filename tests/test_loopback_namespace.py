"""A slice of the suite, run against the bundled reference decoder inside a network namespace that
has only `lo`: it must pass, and nothing in it may try to reach beyond loopback.

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

SLICE = (
    "suites/api/test_modify.py::test_modify_field_reads_back",
    "suites/api/test_modify.py::test_modify_page_example",
    "suites/sip/test_registration.py::test_registers_with_digest_and_reports_registered",
    "suites/sip/test_registration.py::test_forbidden_gives_error_403",
    "suites/calls/test_outgoing.py::test_auto_call_invites_sip_out_url",
)
#: What a refused lookup or an unreachable destination leaves in the reference decoder's log.
DEVICE_LOG_SIGNS = re.compile(r"cannot resolve|cannot dial|unreachable|errno 101", re.IGNORECASE)
NETWORK_CALLS = "connect,sendto,sendmsg,sendmmsg"
OUTSIDE = "192.0.2.1"  # TEST-NET-1: outside loopback, so unreachable in the namespace

#: Run inside the new namespace: bring lo up (ioctl, so iproute2 is not needed), prove that
#: OUTSIDE is unreachable from here, then exec the command given.
ENTER = f"""
import errno, fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    asked = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0))
    flags = struct.unpack("16sH", asked[:18])[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    try:
        s.sendto(b"x", ("{OUTSIDE}", 9))
    except OSError as exc:
        if exc.errno != errno.ENETUNREACH:
            raise
    else:
        sys.exit("namespace is not isolated: a datagram to {OUTSIDE} was sent")
os.execvp(sys.argv[1], sys.argv[1:])
"""

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
    """The unshare command line that gives a loopback-only namespace here, or skip."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: no network namespace to run in")
    tried = []
    for prefix in ([unshare, "-n"], [unshare, "-rn"]) if os.geteuid() == 0 else ([unshare, "-rn"],):
        probe = [*prefix, sys.executable, "-c", ENTER, "true"]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0:
            return prefix
        tried.append(f"{' '.join(prefix[1:])}: {done.stderr.strip()[-300:]}")
    pytest.skip(
        "cannot make a network namespace (needs root, or unprivileged user namespaces): "
        + "; ".join(tried)
    )


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
            [*prefix, sys.executable, "-c", ENTER, *strace, *control],
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
        [*prefix, sys.executable, "-c", ENTER, *strace, *run],
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
    logs = sorted(basetemp.rglob("*.device.log"))
    assert logs, f"no reference decoder log under {basetemp}: did the slice start one?"
    signs = [
        f"{log.name}: {line}"
        for log in logs
        for line in log.read_text("utf-8", errors="replace").splitlines()
        if DEVICE_LOG_SIGNS.search(line)
    ]
    assert not signs, "the reference decoder tried to resolve or reach outside:\n" + "\n".join(
        signs
    )
    if strace:
        trace = trace_path.read_text()
        assert 'inet_addr("127.0.0.1")' in trace, "strace saw none of the run's loopback traffic"
        attempts = outside_attempts(trace)
        assert not attempts, "network calls beyond loopback:\n" + "\n".join(attempts[:20])
