"""Galleries of GradCAM overlays with the true boxes, and their HTML index.

For each class: rows of the most confident true positives, false positives
and false negatives (at the validation threshold); each cell shows the image
and its CAM overlay with the true boxes (green) and the map's maximum (red).
:func:`write_gallery` writes one JPEG per class and ``index.html`` with the
localisation summary.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxr.config import ExplainConfig
from cxr.findings import FINDINGS
from cxr.numbers import with_interval

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


@dataclass(frozen=True)
class GallerySplit:
    """The split a gallery shows, row-aligned with its array."""

    name: str  # "test"
    array: np.ndarray  # uint8 (N, S, S)
    index: pd.DataFrame  # image_id of each row
    boxes: pd.DataFrame  # row, finding, x0, y0, x1, y1 in array pixels
    probs: np.ndarray  # (N, C) calibrated probabilities
    labels: np.ndarray  # (N, C) 0/1
    thresholds: np.ndarray  # (C,) chosen on validation


#: GradCAM maps ``(K, S, S)`` in [0, 1] of the given rows for one class index.
CamsOf = Callable[[np.ndarray, int], np.ndarray]


def gallery_rows(
    probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, k: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per class, the rows of the k most confident TP, FP and FN at the given thresholds."""
    out = {}
    for c, name in enumerate(FINDINGS):
        p, y, negative = probs[:, c], labels[:, c] == 1, labels[:, c] == 0  # NaN: neither
        above = p >= thresholds[c]
        tp = np.flatnonzero(above & y)
        fp = np.flatnonzero(above & negative)
        fn = np.flatnonzero(~above & y)
        out[name] = {
            "true positives": tp[np.argsort(-p[tp], kind="stable")][:k],
            "false positives": fp[np.argsort(-p[fp], kind="stable")][:k],
            "false negatives": fn[np.argsort(p[fn], kind="stable")][:k],
        }
    return out


def write_gallery(
    folder: Path, split: GallerySplit, summary: dict, cams_of: CamsOf, config: ExplainConfig
) -> None:
    """``<finding>.jpg`` for every class and ``index.html`` into ``folder``; ``summary`` is the
    localisation summary (``cxr.explain.explain.localisation``)."""
    selection = gallery_rows(split.probs, split.labels, split.thresholds, config.gallery_per_kind)
    sections = []
    for c, name in enumerate(FINDINGS):
        rows = selection[name]
        picked = np.concatenate(list(rows.values())).astype(int)
        cam_of = dict(zip(picked.tolist(), cams_of(picked, c), strict=True))
        blocks = []
        for kind, members in rows.items():
            cells = [_cell(split, r, name, c, cam_of[r]) for r in members.tolist()]
            blocks.append((f"{kind} ({len(members)} shown)", cells))
        # JPEG: colour overlays compress ten times better than as PNG.
        image = grid(blocks, config.gallery_per_kind)
        cv2.imwrite(str(folder / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        score = summary.get("per_class", {}).get(name)
        text = f"threshold {split.thresholds[c]:.3f} (chosen on validation); " + (
            f"pointing game {_with_ci(score['pointing'])} on {score['cases']} boxed cases "
            f"(random maps {score['random_pointing']['value']:.2f})"
            if score
            else f"no boxes in {split.name}"
        )
        sections.append((name, text, f"{name}.jpg"))
    header, table = _summary_table(summary, config.confidence)
    page = index_html(f"GradCAM on the {split.name} split", table, header, sections)
    (folder / "index.html").write_text(page, encoding="utf-8")


def _cell(split: GallerySplit, row: int, name: str, c: int, cam: np.ndarray) -> Cell:
    mine = split.boxes[(split.boxes.row == row) & (split.boxes.finding == name)]
    caption = f"{split.index.image_id[row]}  p={split.probs[row, c]:.2f}"
    boxes = mine[["x0", "y0", "x1", "y1"]].to_numpy()
    return Cell(np.asarray(split.array[row]), cam, boxes, caption)


def _summary_table(summary: dict, confidence: float) -> tuple[list[str], list[list[str]]]:
    """The pointing game per class and its mean, beside the random-map control."""
    header = ["finding", "boxed cases", "pointing game", f"{100 * confidence:g}% CI", "random maps"]
    named = list(summary.get("per_class", {}).items())
    if summary.get("cases"):
        named.append(("mean", {"cases": summary["cases"], **summary["mean"]}))
    table = [
        [n, str(v["cases"]), *_cells(v["pointing"]), f"{v['random_pointing']['value']:.3f}"]
        for n, v in named
    ]
    return header, table


def _cells(figure: dict) -> list[str]:
    if figure.get("low") is None:
        ci = "withheld: too few usable resamples" if figure.get("withheld") else "n/a"
    else:
        ci = f"{figure['low']:.3f}-{figure['high']:.3f}"
    return [f"{figure['value']:.3f}", ci]


def _with_ci(figure: dict) -> str:
    return with_interval(figure["value"], figure)
