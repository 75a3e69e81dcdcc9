"""A status.json series as a PNG: one lane per state object, a colour per state, over time.

Lanes from the top: account_status, register_status, call_status. Each sample colours its lane
from its time until the next sample's; a sample whose request failed is grey, a state outside
the page's sets black. The digit font cannot write state names, so the legend (colour -> state)
and the lane order go into the PNG's ``Comment`` chunk, and the attachment's text beside it
names every change with its time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from decoder_conformance.device.status_series import Sample
from decoder_conformance.media.pattern import text_mask
from decoder_conformance.report.plot import encode_png

#: One colour per state name of the page's three value sets (shared names share a colour).
PALETTE: dict[str, tuple[int, int, int]] = {
    "idle": (200, 200, 200),
    "error": (214, 39, 40),
    "not_created": (188, 189, 34),
    "created": (44, 160, 44),
    "registered": (44, 160, 44),
    "connected": (23, 190, 207),
    "on": (152, 223, 138),
    "registering": (255, 187, 120),
    "connecting": (255, 152, 150),
    "reconnecting": (255, 127, 14),
    "unregistering": (197, 176, 213),
    "closed": (148, 103, 189),
    "off": (140, 86, 75),
    "disconnected": (227, 119, 194),
    "in": (31, 119, 180),
    "out": (174, 199, 232),
    "calling": (44, 160, 44),
    "close": (148, 103, 189),
}
NO_ANSWER = (127, 127, 127)
UNKNOWN = (0, 0, 0)
LANES = ("account_status", "register_status", "call_status")

_LEFT, _RIGHT, _TOP, _LANE, _GAP, _BOTTOM = 12, 12, 8, 36, 8, 28


def _states(sample: Sample) -> tuple[str, str, str] | None:
    status = sample.status
    return None if status is None else (status.account, status.register, status.call)


def status_plot_png(
    series: Sequence[Sample], origin: float, title: str = "", *, width: int = 800
) -> bytes:
    """The lanes of `series` (times in seconds from `origin`) as PNG bytes."""
    height = _TOP + len(LANES) * (_LANE + _GAP) + _BOTTOM
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    if not series:
        return encode_png(image, {"Title": title, "Comment": "no sample"})
    t0 = min(0.0, series[0].t - origin)
    t1 = max(series[-1].t - origin, t0 + 0.1)
    plot_w = width - _LEFT - _RIGHT

    def x_of(t: float) -> int:
        return _LEFT + round((t - t0) / (t1 - t0) * plot_w)

    for index, sample in enumerate(series):
        start = x_of(sample.t - origin)
        end = x_of(series[index + 1].t - origin) if index + 1 < len(series) else start + 2
        states = _states(sample)
        for lane in range(len(LANES)):
            top = _TOP + lane * (_LANE + _GAP)
            colour = NO_ANSWER if states is None else PALETTE.get(states[lane], UNKNOWN)
            image[top : top + _LANE, start : max(end, start + 1)] = colour
    axis = height - _BOTTOM
    image[axis, _LEFT : _LEFT + plot_w] = 0
    step = _step(t1 - t0)
    tick = math.ceil(t0 / step) * step
    while tick <= t1 + 1e-9:
        x = x_of(tick)
        image[axis : axis + 4, x] = 0
        mask = text_mask(f"{tick:.1f}" if step < 1 else f"{tick:.0f}", 2)
        ys, xs = np.nonzero(mask)
        ys, xs = ys + axis + 8, xs + x - mask.shape[1] // 2
        keep = (xs >= 0) & (xs < width) & (ys < height)
        image[ys[keep], xs[keep]] = 0
        tick += step
    seen = sorted({s for sample in series if (st := _states(sample)) for s in st})
    legend = "lanes top to bottom: " + ", ".join(LANES) + "; x: seconds; colours: "
    legend += ", ".join(f"{name} rgb{PALETTE.get(name, UNKNOWN)}" for name in seen)
    legend += f"; no answer rgb{NO_ANSWER}"
    return encode_png(image, {"Title": title, "Comment": legend})


def _step(span: float) -> float:
    """A 1/2/5 x 10^n tick step for about 8 ticks over `span` seconds."""
    raw = max(span, 0.1) / 8
    power = 10 ** math.floor(math.log10(raw))
    return float(next((f * power for f in (1, 2, 5) if raw <= f * power), 10 * power))
