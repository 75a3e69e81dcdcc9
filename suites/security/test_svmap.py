"""What a SIP scanner learns of the device: svmap (sipvicious) at its SIP bind.

svmap sends OPTIONS and prints the user agent it found; with -d it prints every raw answer, from
which the case reads User-Agent, Server and Allow. A software version in User-Agent or Server is
the finding (RFC 3261 §20.35, §20.41); everything revealed is recorded either way.
"""

from __future__ import annotations

import re

import pytest

from decoder_conformance.device.client import ConformanceFailure
from decoder_conformance.failures import NotExercised
from decoder_conformance.peers.sipvicious import svmap

#: A software version inside a product token or comment: "1.2", "v2", "/3", "build 42".
VERSION = re.compile(r"\d+\.\d+|\bv\d+|/\s*\d|\bbuild\s*\d", re.IGNORECASE)
SVMAP_TIMEOUT = 10.0  # svmap waits out its own 3 s socket timeout after the last answer


def versions_in(values: list[str]) -> list[str]:
    """The values that name a software version."""
    return [v for v in values if VERSION.search(v)]


@pytest.mark.req("SIP-SEC-MAP-001")
@pytest.mark.read_only
def test_svmap_reveals_no_software_version(
    api, device_sip, *, suite_host, device_hosts, scans, record_property
):
    found = svmap(
        device_sip.host,
        device_sip.port,
        suite_host=suite_host,
        allowed_hosts=device_hosts,
        timeout=SVMAP_TIMEOUT,
    )
    scans.keep(found.run)
    # The event first: svmap found the device and printed its answer.
    if device_sip.address not in found.devices or not found.responses:
        raise NotExercised(
            f"svmap did not report the device at {device_sip.address} (table {found.devices}, "
            f"{len(found.responses)} answers printed):\n{found.run.text()}"
        )
    revealed = {
        name: sorted(set(found.headers(name))) for name in ("User-Agent", "Server", "Allow")
    }
    record_property("svmap user agent", found.devices[device_sip.address])
    for name, values in revealed.items():
        record_property(f"revealed {name}", "; ".join(values) or "(none)")
    versions = versions_in(revealed["User-Agent"] + revealed["Server"])
    if versions:
        raise ConformanceFailure(
            api.req,
            "no software version in the User-Agent or Server header of the answers svmap got "
            "(RFC 3261 §20.35/§20.41: revealing it SHOULD be configurable)",
            f"{versions} (everything revealed: {revealed})",
        )
