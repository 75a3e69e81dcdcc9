"""Bitrate-over-time plot (sent vs reported) as a PNG, for the media cases' Allure attachments.

Drawn with numpy into an RGB array and encoded with PyAV's PNG encoder: matplotlib is not a
dependency and a line chart does not need it. PyAV cannot draw text, so tick labels use the
3x5 digit font of :mod:`decoder_conformance.media.pattern`; the title and the legend ("blue: sent,
orange: reported") go into PNG ``tEXt`` chunks (and belong in the attachment name too).
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence

import av
import numpy as np
import numpy.typing as npt

from decoder_conformance.media.pattern import text_mask

SENT_COLOUR = (31, 119, 180)  # blue
REPORTED_COLOUR = (255, 127, 14)  # orange
AXIS_COLOUR = (0, 0, 0)
GRID_COLOUR = (225, 225, 225)
BACKGROUND = (255, 255, 255)
LEGEND = "blue: sent kbit/s, orange: reported kbit/s, x: seconds"

_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 24, 28
_LABEL_SCALE = 2

Series = Sequence[tuple[float, float]]
Image = npt.NDArray[np.uint8]


def _nice_step(span: float, ticks: int = 5) -> float:
    """A 1/2/5 x 10^n step that cuts ``span`` into about ``ticks`` parts."""
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def _label(value: float, step: float) -> str:
    return f"{value:.0f}" if step >= 1 else f"{value:.{max(0, -math.floor(math.log10(step)))}f}"


def _put_text(image: Image, text: str, x: int, y: int, *, anchor: str) -> None:
    """Draw ``text`` with its right end (anchor "right") or centre (anchor "centre") at x."""
    mask = text_mask(text, _LABEL_SCALE)
    h, w = mask.shape
    left = x - w if anchor == "right" else x - w // 2
    top = y - h // 2
    ys, xs = np.nonzero(mask)
    ys, xs = ys + top, xs + left
    keep = (ys >= 0) & (ys < image.shape[0]) & (xs >= 0) & (xs < image.shape[1])
    image[ys[keep], xs[keep]] = AXIS_COLOUR


def _draw_polyline(
    image: Image, points: Sequence[tuple[float, float]], colour: tuple[int, ...]
) -> None:
    """Connect pixel ``points`` with 2-px lines."""
    height, width = image.shape[:2]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, steps + 1)).astype(int)
        ys = np.rint(np.linspace(y0, y1, steps + 1)).astype(int)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            px, py = xs + dx, ys + dy
            keep = (px >= 0) & (px < width) & (py >= 0) & (py < height)
            image[py[keep], px[keep]] = colour
    if len(points) == 1:
        x, y = (round(v) for v in points[0])
        image[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] = colour


def _text_chunk(keyword: str, text: str) -> bytes:
    data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1", "replace")
    body = b"tEXt" + data
    return struct.pack("!I", len(data)) + body + struct.pack("!I", zlib.crc32(body))


def encode_png(image: Image, texts: dict[str, str] | None = None) -> bytes:
    """PNG bytes of an RGB ``image`` (H x W x 3 uint8), with ``tEXt`` chunks after IHDR."""
    height, width = image.shape[:2]
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    png = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    chunks = b"".join(_text_chunk(k, v) for k, v in (texts or {}).items())
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def bitrate_plot_png(
    sent: Series, reported: Series, title: str = "", *, width: int = 800, height: int = 400
) -> bytes:
    """A line chart of ``sent`` (blue) and ``reported`` (orange) ``(t seconds, kbit/s)`` points.

    Axes start at 0 kbit/s; ticks carry numbers. The title and the legend are stored in the
    PNG's ``Title`` and ``Comment`` text chunks.
    """
    if width < 200 or height < 120:
        raise ValueError(f"plot size {width}x{height} is below 200x120")
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    points = [*sent, *reported]
    t_min = min((t for t, _ in points), default=0.0)
    t_max = max((t for t, _ in points), default=1.0)
    if t_max <= t_min:
        t_max = t_min + 1.0
    y_max = max((v for _, v in points), default=1.0) * 1.1 or 1.0
    x_step, y_step = _nice_step(t_max - t_min), _nice_step(y_max)
    y_max = math.ceil(y_max / y_step) * y_step
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def to_px(t: float, v: float) -> tuple[float, float]:
        return (
            _LEFT + (t - t_min) / (t_max - t_min) * plot_w,
            _TOP + plot_h - v / y_max * plot_h,
        )

    tick = math.ceil(t_min / x_step) * x_step
    while tick <= t_max + 1e-9:
        x = round(to_px(tick, 0)[0])
        image[_TOP : _TOP + plot_h, x] = GRID_COLOUR
        _put_text(image, _label(tick, x_step), x, height - _BOTTOM // 2, anchor="centre")
        tick += x_step
    value = 0.0
    while value <= y_max + 1e-9:
        y = round(to_px(t_min, value)[1])
        image[y, _LEFT : _LEFT + plot_w] = GRID_COLOUR
        _put_text(image, _label(value, y_step), _LEFT - 6, y, anchor="right")
        value += y_step
    image[_TOP : _TOP + plot_h + 1, _LEFT] = AXIS_COLOUR
    image[_TOP + plot_h, _LEFT : _LEFT + plot_w] = AXIS_COLOUR
    _draw_polyline(image, [to_px(t, v) for t, v in sent], SENT_COLOUR)
    _draw_polyline(image, [to_px(t, v) for t, v in reported], REPORTED_COLOUR)
    # Legend swatches, top right: sent then reported.
    for row, colour in enumerate((SENT_COLOUR, REPORTED_COLOUR)):
        top = 6 + row * 8
        image[top : top + 5, width - _RIGHT - 30 : width - _RIGHT] = colour
    return encode_png(image, {"Title": title, "Comment": LEGEND})
