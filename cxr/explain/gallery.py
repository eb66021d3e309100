"""Galleries of GradCAM overlays with the true boxes, and their HTML index.

For each class: rows of the most confident true positives, false positives
and false negatives (at the validation threshold); each cell shows the image
and its CAM overlay with the true boxes (green) and the map's maximum (red).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

CELL = 192  # display size of one image, whatever the array size
_GREEN, _RED = (60, 200, 60), (40, 40, 230)


@dataclass
class Cell:
    image: np.ndarray  # uint8 [H, W]
    cam: np.ndarray | None  # [H, W] in [0, 1]
    boxes: np.ndarray  # [K, 4] x0, y0, x1, y1 in array pixels
    caption: str


def overlay(cell: Cell) -> np.ndarray:
    """Image and CAM overlay side by side, BGR, ``CELL`` px high."""
    h, w = cell.image.shape
    s = CELL / h
    gray = cv2.resize(cell.image, (round(w * s), CELL), interpolation=cv2.INTER_CUBIC)
    left = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    right = left.copy()
    if cell.cam is not None:
        heat = cv2.applyColorMap(
            np.uint8(255 * cv2.resize(cell.cam, (left.shape[1], CELL))), cv2.COLORMAP_JET
        )
        right = cv2.addWeighted(left, 0.55, heat, 0.45, 0)
        y, x = np.unravel_index(int(np.argmax(cell.cam)), cell.cam.shape)
        cv2.drawMarker(
            right, (int((x + 0.5) * s), int((y + 0.5) * s)), _RED, cv2.MARKER_CROSS, 14, 2
        )
    for x0, y0, x1, y1 in cell.boxes:
        for img in (left, right):
            cv2.rectangle(img, (int(x0 * s), int(y0 * s)), (int(x1 * s), int(y1 * s)), _GREEN, 2)
    tile = np.hstack([left, np.full((CELL, 4, 3), 255, np.uint8), right])
    band = np.full((22, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(
        band, cell.caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA
    )
    return np.vstack([band, tile])


def grid(rows: Sequence[tuple[str, Sequence[Cell]]], columns: int) -> np.ndarray:
    """Labelled rows of cells; empty slots stay white."""
    tile_w = 2 * CELL + 4
    blocks = []
    for label, cells in rows:
        head = np.full((26, columns * (tile_w + 8), 3), 255, np.uint8)
        cv2.putText(head, label, (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        tiles = [overlay(c) for c in cells[:columns]]
        blank = np.full((CELL + 22, tile_w, 3), 255, np.uint8)
        tiles += [blank] * (columns - len(tiles))
        body = np.hstack([np.pad(t, ((0, 0), (0, 8), (0, 0)), constant_values=255) for t in tiles])
        blocks += [head, body]
    return np.vstack(blocks)


def index_html(
    title: str,
    summary_rows: Sequence[Sequence[str]],
    header: Sequence[str],
    sections: Sequence[tuple[str, str, str]],
) -> str:
    """A self-contained page: a summary table, then one section (title, text, image) per class."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in summary_rows
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}"
        "td:first-child{text-align:left}img{max-width:100%}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<table><tr>{head}</tr>{body}</table>",
    ]
    for name, text, image in sections:
        parts += [
            f"<h2 id='{esc(name)}'>{esc(name)}</h2>",
            f"<p>{esc(text)}</p>",
            f"<img src='{esc(image)}' alt='{esc(name)}'>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
