"""Every SIP fault of the reference decoder is exercised by a test in this folder."""

from __future__ import annotations

from pathlib import Path

from reference_device.faults import FAULTS
from tests.reference_device.media.test_fault_coverage import MEDIA_FAULTS

#: The faults that live in the SIP user agent, exercised in this folder.
AGENT_FAULTS = frozenset(
    {
        "refresh_requested_expiry",
        "no_unregister_on_remove",
        "policy1_accepts_second",
        "bodyless_invite_488",
        "hangup_sends_nothing",
        "pt_renumbered",
    }
)
#: Every fault exercised on the wire (here and in tests/reference_media/);
#: tests/test_reference_api.py covers the others.
SIP_FAULTS = AGENT_FAULTS | MEDIA_FAULTS


def test_every_sip_fault_is_exercised_here() -> None:
    assert set(FAULTS) >= AGENT_FAULTS
    here = Path(__file__).parent
    text = "".join(
        p.read_text("utf-8") for p in here.glob("test_*.py") if p.name != Path(__file__).name
    )
    missing = {name for name in AGENT_FAULTS if f'"{name}"' not in text}
    assert not missing, f"SIP faults no test switches on: {missing}"
