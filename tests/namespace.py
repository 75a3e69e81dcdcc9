"""The project's runs of the suite in a loopback-only network namespace
(decoder_conformance/netns.py): a run that passes there and whose reference decoder logged no
failed attempt to resolve or reach a host stayed on loopback.
"""

from __future__ import annotations

import re
from pathlib import Path

from decoder_conformance.netns import OUTSIDE, namespace_prefix

__all__ = ["OUTSIDE", "namespace_prefix", "outside_signs"]

#: What a refused lookup or an unreachable destination leaves in the reference decoder's log.
DEVICE_LOG_SIGNS = re.compile(r"cannot resolve|cannot dial|unreachable|errno 101", re.IGNORECASE)


def outside_signs(basetemp: Path) -> list[str]:
    """Lines of the reference decoders' logs under `basetemp` that show an attempt beyond lo."""
    return [
        f"{log.name}: {line}"
        for log in sorted(basetemp.rglob("*.device.log"))
        for line in log.read_text("utf-8", errors="replace").splitlines()
        if DEVICE_LOG_SIGNS.search(line)
    ]
