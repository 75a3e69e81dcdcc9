"""Every media fault of the reference decoder is exercised by a test in this folder."""

from __future__ import annotations

from pathlib import Path

from reference_device.faults import FAULTS, Area

#: The faults that live in the media path (reference_device/media/, the agent's bitrate): the
#: rows of area media in the fault table.
MEDIA_FAULTS = frozenset(fault for fault, info in FAULTS.items() if info.area is Area.MEDIA)


def test_every_media_fault_is_exercised_here() -> None:
    assert MEDIA_FAULTS, "the fault table has no media fault"
    here = Path(__file__).parent
    text = "".join(
        p.read_text("utf-8") for p in here.glob("test_*.py") if p.name != Path(__file__).name
    )
    missing = {fault.value for fault in MEDIA_FAULTS if f'"{fault.value}"' not in text}
    assert not missing, f"media faults no test switches on: {missing}"
