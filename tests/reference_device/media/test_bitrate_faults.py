"""The bitrate faults added with SIP-MED-BR-003's negative control, against the clean decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from decoder_conformance.waiting import poll_until
from tests.reference_device.media.stream import (
    RtpStream,
    SentLog,
    bitrate,
    media_data,
    pace,
    place_call,
)
from tests.reference_device.sip.peer import device


@pytest.mark.parametrize("fault", ["", "bitrate_held_when_media_stops"])
def test_bitrate_once_media_stops_on_a_call_that_stays_up(
    tmp_path: Path, units: list[bytes], fault: str
) -> None:
    with device(tmp_path, faults=(fault,) if fault else ()) as dev:
        dev.account()
        call = place_call(dev)
        pace(units[:60], RtpStream(), call.send, SentLog())
        streaming = bitrate(dev)
        assert streaming > 0
        # The event: the meter itself (reference/media.json) has emptied its window.
        poll_until(
            lambda: media_data(dev),
            lambda data: data["bitrate_kbps"] == 0,
            timeout=5.0,
            expected="reference/media.json bitrate_kbps 0 once the media stopped",
        )
        assert media_data(dev)["call"] != "ended", "the call stays up"
        held = bitrate(dev)
        if fault:
            assert held == streaming  # the last reading kept
        else:
            assert held == 0
        call.bye()
        assert bitrate(dev) == 0  # ended: 0 under the fault too (SIP-MED-BR-002 still passes)
