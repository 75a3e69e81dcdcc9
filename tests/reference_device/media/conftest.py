"""One encode for the whole folder: 3 s of 640x360 30 fps 1000 kbit/s CBR H.264."""

from __future__ import annotations

import pytest

from tests.reference_device.media.stream import encode


@pytest.fixture(scope="session")
def units() -> list[bytes]:
    """90 access units (Annex-B), the first an IDR."""
    return encode(3.0, 1000)
