"""The test pattern: a deterministic moving picture with the frame index drawn in it.

A diagonal luma gradient and vertical bars that move every frame (so every frame differs and a
frozen decoder shows), and a six-digit frame counter in a 3x5 bitmap font that the bitrate plot
also uses for its axis labels. Pure numpy; PyAV only to wrap the planes in a frame.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

#: A 3x5 bitmap font for the digits 0-9 (rows top to bottom, bit 2 = left column). Also used by
#: report/plot.py for axis labels.
DIGIT_FONT: dict[str, tuple[int, ...]] = {
    "0": (0b111, 0b101, 0b101, 0b101, 0b111),
    "1": (0b010, 0b110, 0b010, 0b010, 0b111),
    "2": (0b111, 0b001, 0b111, 0b100, 0b111),
    "3": (0b111, 0b001, 0b111, 0b001, 0b111),
    "4": (0b101, 0b101, 0b111, 0b001, 0b001),
    "5": (0b111, 0b100, 0b111, 0b001, 0b111),
    "6": (0b111, 0b100, 0b111, 0b101, 0b111),
    "7": (0b111, 0b001, 0b010, 0b010, 0b010),
    "8": (0b111, 0b101, 0b111, 0b101, 0b111),
    "9": (0b111, 0b101, 0b111, 0b001, 0b111),
    ".": (0b000, 0b000, 0b000, 0b000, 0b010),
    "-": (0b000, 0b000, 0b111, 0b000, 0b000),
    " ": (0b000, 0b000, 0b000, 0b000, 0b000),
}


def text_mask(text: str, scale: int) -> npt.NDArray[np.bool_]:
    """A boolean bitmap of ``text`` (characters of :data:`DIGIT_FONT`), each cell ``scale`` px.

    Glyphs are 3x5 cells with one blank column between them. ``ValueError`` for another
    character.
    """
    if scale < 1:
        raise ValueError(f"text scale {scale} must be at least 1")
    columns: list[list[int]] = [[] for _ in range(5)]
    for position, char in enumerate(text):
        glyph = DIGIT_FONT.get(char)
        if glyph is None:
            raise ValueError(f"no glyph for {char!r}; the font has {''.join(DIGIT_FONT)}")
        for row, bits in enumerate(glyph):
            if position:
                columns[row].append(0)
            columns[row].extend((bits >> shift) & 1 for shift in (2, 1, 0))
    cells = np.array(columns, dtype=bool)
    return np.kron(cells, np.ones((scale, scale), dtype=bool)).astype(bool)


def pattern_planes(
    width: int, height: int, index: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The Y, U and V planes (4:2:0) of frame ``index`` of the test pattern; a pure function.

    A diagonal luma gradient moving 2 px per frame, vertical bars moving 3 px per frame, slowly
    scrolling chroma gradients, and the frame index as six digits in a white box at the top left.
    """
    xs = np.arange(width, dtype=np.int32)
    ys = np.arange(height, dtype=np.int32)
    bars = ((xs // max(8, width // 16)) % 2) * 60
    luma = (xs[None, :] + ys[:, None] + 2 * index) % 192 + np.roll(bars, 3 * index)[None, :]
    y = luma.astype(np.uint8)
    scale = max(2, height // 60)
    mask = text_mask(f"{index % 1_000_000:06d}", scale)
    pad = scale
    box_h, box_w = mask.shape[0] + 2 * pad, mask.shape[1] + 2 * pad
    if box_h <= height and box_w <= width:
        y[:box_h, :box_w] = 235
        y[pad : pad + mask.shape[0], pad : pad + mask.shape[1]][mask] = 16
    cw, ch = width // 2, height // 2
    u_row = (np.arange(cw) * 255 // max(1, cw - 1) + index) % 256
    v_col = (np.arange(ch) * 255 // max(1, ch - 1) + 2 * index) % 256
    u = np.broadcast_to(u_row.astype(np.uint8)[None, :], (ch, cw))
    v = np.broadcast_to(v_col.astype(np.uint8)[:, None], (ch, cw))
    return y, u, v


def pattern_frame(width: int, height: int, index: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, pattern_planes(width, height, index), strict=True):
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
        rows[: data.shape[0], : data.shape[1]] = data
    frame.pts = index
    return frame
