"""An external set's images as the trained model takes them: decoded and enhanced with the
preprocessing stored in its checkpoint, into ``external.npy`` (and every further view
the model reads, ``cxr.views``) with an index that keeps each image's labels, patient and geometry.

The arrays are the NIH splits' kind (``cxr.preprocess.preprocess_split``), so
``cxr.batches.SplitArrays(folder, "external")`` reads them and every forward
pass, calibration and GradCAM runs as on the NIH test split. A file that does
not decode becomes an exclusion with its row in the label file and the reason.

Example::

    found, missing = locate(labels.images, folder)
    index, rejected = prepare_set(found, folder, Path("scratch"), record.preprocess)
    SplitArrays("scratch", SPLIT)   # the model's input, row by row of index
    array_boxes(labels.boxes, index)  # VinDr's, RSNA's, SIIM's boxes on those arrays
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxr.config import PreprocessConfig
from cxr.imaging.geometry import boxes_to_array
from cxr.preprocess import preprocess_split

#: The split name of an external set's arrays and prediction table.
SPLIT = "external"


def prepare_set(
    found: pd.DataFrame, folder: Path, out_dir: Path, config: PreprocessConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``out_dir/external.npy`` from ``found`` (``cxr.external.sets.locate``'s images
    with a file); return the index of the rows written and the images that did not decode
    (``source_row``, ``image``, ``reason``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = found.assign(image_id=found.image, split=SPLIT)
    result = preprocess_split(meta, folder, out_dir / f"{SPLIT}.npy", config, desc=SPLIT)
    result.index.to_parquet(out_dir / f"{SPLIT}.parquet", index=False)
    rows = meta.set_index("image_id").source_row
    rejected = pd.DataFrame(
        {
            "source_row": rows.loc[result.rejected.image_id].to_numpy(),
            "image": result.rejected.image_id.to_numpy(),
            "reason": "image does not decode (" + result.rejected.reason.astype(str) + ")",
        }
    )
    return result.index, rejected


def array_boxes(boxes: pd.DataFrame, index: pd.DataFrame, frame: int = 0) -> pd.DataFrame:
    """A set's boxes (``cxr.external.labels.BOX_COLUMNS``) in the pixels of its arrays, for
    the images ``index`` holds (``boxes_to_array``'s columns). ``frame``: the boxes' grid
    (RSNA's and SIIM's are on the 1,024-px grid of their DICOMs, so a resized copy of a
    file still gets its boxes right); 0: each file's own pixels (VinDr's)."""
    corners = boxes.astype({c: float for c in ("x0", "y0", "x1", "y1")})
    listed = pd.DataFrame(
        {
            "image_id": corners.image,
            "finding": corners.finding,
            "x": corners.x0,
            "y": corners.y0,
            "w": corners.x1 - corners.x0,
            "h": corners.y1 - corners.y0,
            "frame": frame,
        }
    )
    return boxes_to_array(listed, index)
