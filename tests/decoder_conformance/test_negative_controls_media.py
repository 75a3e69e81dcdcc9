"""Negative controls of media cases (suites/media): each feeds the function a case judges with
(decoder_conformance/media/checks.py) a recorded bad observation, reference/media.json's
counters after a stream or status.json's bitrate samples, and sees it report the failure; a
good one passes. The SDP answer of SIP-MED-H264-001 is controlled with the other SDP checks
(tests/decoder_conformance/peers/test_sdp_checks.py).

Counted by tests/test_negative_controls.py through the `negative_control` marks.
"""

from __future__ import annotations

from typing import Any

import pytest

from decoder_conformance.contract.catalogue import Catalogue
from decoder_conformance.contract.observations import Observations
from decoder_conformance.contract.profile import load_profile
from decoder_conformance.failures import DeviceFailure
from decoder_conformance.media.checks import decoded_all_problem, early_media_reading
from tests.conftest import ROOT

CATALOGUE = Catalogue()

#: 3 s of 640x360 30 fps at 1000 kbit/s in single NAL unit packets (slices of at most 1100
#: bytes), as test_packetization_mode_0_stream_is_decoded sends it.
FRAMES, PACKETS = 90, 412


def _media_json(frames_decoded: int, packets: int, **more: Any) -> dict[str, Any]:
    """reference/media.json's data after the stream (the counters the case reads)."""
    return {
        "call": "in",
        "packets": packets,
        "frames_decoded": frames_decoded,
        "width": 640,
        "height": 360,
        "decode_errors": 0,
        "lost": 0,
        "late": 0,
        **more,
    }


@pytest.mark.negative_control("SIP-MED-H264-001")
def test_single_nal_unit_packets_not_decoded() -> None:
    assert decoded_all_problem(_media_json(FRAMES, PACKETS), FRAMES, PACKETS) is None
    # Recorded: a depacketizer that takes only FU-A and STAP-A (every single NAL unit packet
    # dropped as malformed); one that drops the slices after a frame's first and conceals.
    for stats in (
        _media_json(0, PACKETS, malformed=PACKETS),
        _media_json(FRAMES, 90, malformed=PACKETS - 90),
    ):
        problem = decoded_all_problem(stats, FRAMES, PACKETS)
        assert problem == f"frames_decoded {stats['frames_decoded']}, packets {stats['packets']}"


@pytest.mark.negative_control("SIP-MED-EARLY-001")
def test_early_media_of_the_other_reading_fails_a_pin() -> None:
    """Every bitrate series before the ACK is one of the two readings (RFC 3264 §6 lets the
    answerer count media once it answered, and nothing makes it), so nothing fails it on a
    profile that pins no reading (generic.toml). What can fail is a device following the
    other reading than its profile pins: the reference profile pins not_counted, so a
    recorded series that counted the RTP before the ACK fails there, as the case judges it
    (Observations.follow, through the `readings` fixture)."""
    counted, not_counted = [0.0, 312.0, 845.0, 990.0], [0.0, 0.0, 0.0, 0.0]
    assert early_media_reading(counted) == "counted"
    assert early_media_reading(not_counted) == "not_counted"
    reference = load_profile(ROOT / "profiles" / "reference.toml", CATALOGUE)
    assert reference.readings.get("early_media_counted") == "not_counted"
    Observations(CATALOGUE, reference).follow(
        "SIP-MED-EARLY-001", "early_media_counted", early_media_reading(not_counted), "nc", "nc"
    )
    with pytest.raises(DeviceFailure, match="early_media_counted = not_counted"):
        Observations(CATALOGUE, reference).follow(
            "SIP-MED-EARLY-001", "early_media_counted", early_media_reading(counted), "nc", "nc"
        )
    generic = load_profile(ROOT / "profiles" / "generic.toml", CATALOGUE)
    assert generic.readings.get("early_media_counted") is None
    for series in (counted, not_counted):
        Observations(CATALOGUE, generic).follow(
            "SIP-MED-EARLY-001", "early_media_counted", early_media_reading(series), "nc", "nc"
        )
