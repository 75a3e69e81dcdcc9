"""report/plot.py: a PNG line chart of sent vs reported bitrate, drawn without matplotlib."""

from __future__ import annotations

import av
import numpy as np
import pytest

from decoder_conformance.report.plot import REPORTED_COLOUR, SENT_COLOUR, bitrate_plot_png


def decode_png(data: bytes) -> np.ndarray:
    codec = av.CodecContext.create("png", "r")
    (frame,) = codec.decode(av.Packet(data))
    return frame.to_ndarray(format="rgb24")


def has_colour(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((image == np.array(colour, dtype=np.uint8)).all(axis=2).sum())


def test_two_lines_axes_and_text_chunks() -> None:
    sent = [(t, 1000.0) for t in range(1, 11)]
    reported = [(t, 0.0 if t < 3 else 990.0) for t in range(1, 11)]
    png = bitrate_plot_png(sent, reported, "bitrate 1000 kbps", width=640, height=320)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"tEXtTitle\x00bitrate 1000 kbps" in png and b"tEXtComment\x00blue: sent" in png
    image = decode_png(png)
    assert image.shape == (320, 640, 3)
    assert has_colour(image, SENT_COLOUR) > 500 and has_colour(image, REPORTED_COLOUR) > 500
    # The sent line is flat: its pixels (legend swatch excluded) sit in a 3-row band.
    rows = np.nonzero((image[30:] == np.array(SENT_COLOUR, dtype=np.uint8)).all(axis=2))[0]
    assert rows.max() - rows.min() <= 2


def test_empty_and_single_point_series_still_draw() -> None:
    assert decode_png(bitrate_plot_png([], [], "nothing")).shape == (400, 800, 3)
    image = decode_png(bitrate_plot_png([(0.5, 12.5)], [], "one point"))
    assert has_colour(image, SENT_COLOUR) > 15
    with pytest.raises(ValueError, match="below"):
        bitrate_plot_png([], [], width=100)
