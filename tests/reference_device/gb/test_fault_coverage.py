"""Every GB28181 fault of the reference decoder is switched on by one of its tests."""

from __future__ import annotations

from pathlib import Path

from reference_device.faults import FAULTS, Area

GB_FAULTS = frozenset(fault for fault, info in FAULTS.items() if info.area is Area.GB)


def test_every_gb_fault_is_exercised() -> None:
    assert GB_FAULTS, "the fault table has no gb fault"
    # GB signalling faults are tested here, the GB call faults next to the calls' tests.
    folder = Path(__file__).parent.parent
    text = "".join(
        p.read_text("utf-8")
        for p in folder.rglob("test_*.py")
        if p.resolve() != Path(__file__).resolve()
    )
    missing = {fault.value for fault in GB_FAULTS if f'"{fault.value}"' not in text}
    assert not missing, f"GB faults no test switches on: {missing}"
