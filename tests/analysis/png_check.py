"""PNG checks by structure, not pixels: size, not blank, how many plot frames (axes) it has."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PngStructure:
    width: int
    height: int
    colours: int
    #: Frames found: runs of long horizontal dark lines (an axes' top and bottom spines) pair up.
    axes: int


def png_structure(data: bytes) -> PngStructure:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG", image.format
    pixels = np.asarray(image.convert("RGB")).astype(int)
    height, width, _ = pixels.shape
    colours = len(np.unique(pixels.reshape(-1, 3)[:: max(1, height * width // 200_000)], axis=0))
    dark = pixels.sum(axis=2) < 3 * 170
    # A spine: a row whose longest run of dark pixels covers over half the width.
    long_rows = []
    for y in range(height):
        row = dark[y]
        best = run = 0
        for value in row:
            run = run + 1 if value else 0
            best = max(best, run)
        if best > width * 0.5:
            long_rows.append(y)
    lines = [y for i, y in enumerate(long_rows) if i == 0 or y - long_rows[i - 1] > 2]
    return PngStructure(width, height, colours, len(lines) // 2)
