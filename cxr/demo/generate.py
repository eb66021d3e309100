"""Write the demo data set as an NIH-layout folder.

The folder holds exactly what an NIH download holds, in the same formats:
``Data_Entry_2017_v2020.csv`` (same header quirks), ``images/NNNNNNNN_NNN.png``
(8-bit grayscale), ``BBox_List_2017.csv`` (here with the true box of every
rendered finding, all 14 classes) and official-style ``train_val_list.txt`` /
``test_list.txt`` split by patient. The same seed gives the same bytes.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cxr.atomic import atomic_path
from cxr.config import DemoConfig
from cxr.demo.cohort import sample_cohort
from cxr.demo.render import ImageSpec, render
from cxr.findings import FINDINGS, format_finding_labels
from cxr.nih.boxes import BOX_FILE_NAMES
from cxr.nih.label_file import NIH_HEADER
from cxr.nih.split_lists import TEST_LIST, TRAIN_VAL_LIST
from cxr.parallel import map_unordered

LABEL_FILE = "Data_Entry_2017_v2020.csv"
BOX_FILE = BOX_FILE_NAMES[0]
FIELD_OF_VIEW_MM = 357.0  # NIH films: about 2,500 px at 0.143 mm
TEST_PATIENT_SHARE = 0.2
_CHUNK = 16


def generate_demo(out_dir: str | Path, config: DemoConfig) -> dict:
    """Render ``config.images`` phantoms into ``out_dir``; return the stage metrics."""
    images, size, seed = config.images, config.size, config.seed
    if images < 1 or size < 64:
        raise ValueError(
            f"demo needs at least 1 image of at least 64 px (got {images} images of {size} px)"
        )
    if config.render_size and not 64 <= config.render_size <= size:
        raise ValueError(
            f"demo render_size must be 0 or 64..size ({size}), got {config.render_size}"
        )
    t0 = time.perf_counter()
    cohort = sample_cohort(images, seed)
    labels = cohort[list(FINDINGS)].to_numpy()
    specs = [
        ImageSpec(
            r.image_id, int(r.patient_id), int(r.follow_up), r.sex, r.view, tuple(map(int, y))
        )
        for r, y in zip(cohort.itertuples(index=False), labels, strict=True)
    ]
    with atomic_path(out_dir) as tmp:
        (tmp / "images").mkdir(parents=True)
        tasks = [specs[i : i + _CHUNK] for i in range(0, len(specs), _CHUNK)]
        box_rows = []
        with tqdm(total=len(specs), desc="demo", unit="img") as bar:
            init = (str(tmp / "images"), size, seed, config.render_size)
            for done, rows in map_unordered(_render_chunk, tasks, config.workers, _init, init):
                box_rows += rows
                bar.update(done)
        boxes = pd.DataFrame(box_rows, columns=["image_id", "finding", "x", "y", "w", "h"])
        boxes = boxes.sort_values(["image_id", "finding"], kind="stable")
        _write_label_file(tmp / LABEL_FILE, cohort, size)
        _write_box_file(tmp / BOX_FILE, boxes)
        _write_split_lists(tmp, cohort, seed)
        (tmp / "README.md").write_text(_README.format(images=images, size=size, seed=seed))
    positives = cohort[list(FINDINGS)].sum()
    return {
        "images": images,
        "patients": int(cohort.patient_id.nunique()),
        "size": size,
        "render_size": config.render_size or size,
        "seed": seed,
        "no_finding": int((cohort[list(FINDINGS)].sum(axis=1) == 0).sum()),
        "ap_views": int((cohort.view == "AP").sum()),
        "positives": {k: int(v) for k, v in positives.items()},
        "boxes": len(boxes),
        "seconds": round(time.perf_counter() - t0, 2),
    }


_state: dict = {}


def _init(images_dir: str, size: int, seed: int, render_size: int) -> None:
    cv2.setNumThreads(1)
    _state.update(images_dir=Path(images_dir), size=size, seed=seed, render_size=render_size)


def _render_chunk(specs: list[ImageSpec]) -> tuple[int, list[tuple]]:
    rows = []
    for spec in specs:
        pixels, boxes, _ = render(spec, _state["size"], _state["seed"], _state["render_size"])
        ok, png = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise RuntimeError(f"could not encode {spec.image_id}")
        (_state["images_dir"] / spec.image_id).write_bytes(png.tobytes())
        rows += [(spec.image_id, b.finding, b.x, b.y, b.w, b.h) for b in boxes]
    return len(specs), rows


def _write_label_file(path: Path, cohort: pd.DataFrame, size: int) -> None:
    spacing = f"{FIELD_OF_VIEW_MM / size:.6g}"
    labels = format_finding_labels(cohort[list(FINDINGS)].to_numpy())
    lines = [",".join(NIH_HEADER)]
    for r, text in zip(cohort.itertuples(index=False), labels, strict=True):
        lines.append(
            f"{r.image_id},{text},{r.follow_up},{r.patient_id},{r.age},{r.sex},{r.view},"
            f"{size},{size},{spacing},{spacing}"
        )
    path.write_text("\n".join(lines) + "\n")


def _write_box_file(path: Path, boxes: pd.DataFrame) -> None:
    lines = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    for r in boxes.itertuples(index=False):
        name = "Infiltrate" if r.finding == "Infiltration" else r.finding  # NIH's spelling
        lines.append(f"{r.image_id},{name},{r.x:.4f},{r.y:.4f},{r.w:.4f},{r.h:.4f}")
    path.write_text("\n".join(lines) + "\n")


def _write_split_lists(folder: Path, cohort: pd.DataFrame, seed: int) -> None:
    patients = np.sort(cohort.patient_id.unique())
    rng = np.random.default_rng([seed, 0x5EED])
    test_patients = set(
        rng.choice(patients, max(1, round(TEST_PATIENT_SHARE * len(patients))), replace=False)
    )
    is_test = cohort.patient_id.isin(test_patients)
    # NIH's lists end without a newline.
    (folder / TRAIN_VAL_LIST).write_text("\n".join(cohort.image_id[~is_test]))
    (folder / TEST_LIST).write_text("\n".join(cohort.image_id[is_test]))


_README = """# cxr demo data set (synthetic)

{images} synthetic frontal chest radiograph phantoms of {size} x {size} px, seed {seed},
made by `cxr demo` in the NIH ChestX-ray14 layout. Not real patients, not for
any clinical use. `BBox_List_2017.csv` holds the true box of every rendered
finding. See docs/demo-data.md in the cxr repository.
"""
