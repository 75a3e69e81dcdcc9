"""Every SIP fault of the reference decoder is exercised by a test in this folder."""

from __future__ import annotations

from pathlib import Path

from reference_device.faults import FAULTS, Area

#: The faults that live in the SIP user agent (registration and calls), exercised in this folder:
#: the rows of area sip and calls in the fault table.
AGENT_FAULTS = frozenset(
    fault for fault, info in FAULTS.items() if info.area in {Area.SIP, Area.CALLS}
)
#: Every fault exercised on the wire (here and in tests/reference_device/media/), that is every
#: fault outside the HTTP API; tests/reference_device/test_api.py covers the others.
SIP_FAULTS = frozenset(fault for fault, info in FAULTS.items() if info.area is not Area.API)


def test_every_sip_fault_is_exercised_here() -> None:
    assert AGENT_FAULTS, "the fault table has no sip or calls fault"
    here = Path(__file__).parent
    text = "".join(
        p.read_text("utf-8") for p in here.glob("test_*.py") if p.name != Path(__file__).name
    )
    missing = {fault.value for fault in AGENT_FAULTS if f'"{fault.value}"' not in text}
    assert not missing, f"SIP faults no test switches on: {missing}"
