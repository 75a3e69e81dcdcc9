"""A loopback-only network namespace to run the suite (or a benchmark) in.

`namespace_prefix()` gives the command prefix that runs a program in a new network namespace
whose only interface is `lo`, brought up by ENTER, which first proves that an address outside
loopback is unreachable from inside. There a connect/sendto to any other address fails at once
(ENETUNREACH) and a name lookup has no DNS server to reach. Written by hand: `unshare` (util-linux)
makes the namespace; bringing `lo` up with one ioctl avoids needing iproute2 inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

OUTSIDE = "192.0.2.1"  # network-hygiene: TEST-NET-1, only ever tried where it must be unreachable

#: Run inside the new namespace: bring lo up, prove that OUTSIDE is unreachable from here, then
#: exec the command given.
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


def namespace_prefix() -> tuple[list[str] | None, str]:
    """(the command prefix entering a loopback-only namespace, or None; why not, when None)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None, "unshare (util-linux) is not installed: no network namespace to run in"
    tried = []
    for prefix in ([unshare, "-n"], [unshare, "-rn"]) if os.geteuid() == 0 else ([unshare, "-rn"],):
        probe = [*prefix, sys.executable, "-c", ENTER, "true"]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0:
            return [*prefix, sys.executable, "-c", ENTER], ""
        tried.append(f"{' '.join(prefix[1:])}: {done.stderr.strip()[-300:]}")
    return None, (
        "cannot make a network namespace (needs root, or unprivileged user namespaces): "
        + "; ".join(tried)
    )
