"""Every media fault of the reference decoder is exercised by a test in this folder."""

from __future__ import annotations

from pathlib import Path

from reference_device.faults import FAULTS

#: The faults that live in the media path (reference_device/media/, the agent's bitrate).
MEDIA_FAULTS = frozenset({"bitrate_bytes", "bitrate_stuck_after_bye", "fua_broken"})


def test_every_media_fault_is_exercised_here() -> None:
    assert set(FAULTS) >= MEDIA_FAULTS
    here = Path(__file__).parent
    text = "".join(
        p.read_text("utf-8") for p in here.glob("test_*.py") if p.name != Path(__file__).name
    )
    missing = {name for name in MEDIA_FAULTS if f'"{name}"' not in text}
    assert not missing, f"media faults no test switches on: {missing}"
