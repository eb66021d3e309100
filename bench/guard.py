"""Which feature distance should the input guard use? Measured without reading test.

Fits each candidate on 80% of the training split's rows and sets its cut at the
99th percentile of validation distances (as evaluate does), then reports the
share it flags of the held-out 20% of training rows (radiographs like the
training data: every flag is false) and of images that are not (the real NIH
sample, natural images shipped with scikit-image, inverted and rotated
validation films, lateral phantoms). Candidates: Mahalanobis with a Ledoit-Wolf
covariance over all features, Mahalanobis in the top principal components, and
the k-th nearest training neighbour's cosine distance (Sun et al., ICML 2022).

    python bench/guard.py [--model data/model/best.pt] [--processed data/processed]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.decomposition import PCA

from cxr.evaluation.predict import ForwardPass
from cxr.guard.distance import fit_distance, pooled_features
from cxr.guard.view import lateral_references
from cxr.models.checkpoint import load_model
from cxr.preprocess import prepare_arrays
from cxr.views import Views


def features(model, images: np.ndarray) -> np.ndarray:
    with pooled_features(model) as captured:
        ForwardPass(model, torch.device("cpu"), batch_size=128).logits(Views(images))
    return np.concatenate(captured)


def natural_images(prepare, folder: str | None) -> np.ndarray:
    """Every PNG and JPEG in ``folder`` (default: the natural images scikit-image ships,
    where it is installed), as the model's input."""
    if folder is None:
        spec = importlib.util.find_spec("skimage")
        if spec is None or spec.origin is None:
            return np.zeros((0, 0, 0), np.uint8)
        folder = str(Path(spec.origin).parent / "data")
    paths = sorted(glob.glob(f"{folder}/*.png") + glob.glob(f"{folder}/*.jpg"))
    return np.stack([prepare(p) for p in paths])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="data/model/best.pt")
    parser.add_argument("--processed", default="data/processed")
    parser.add_argument("--nih", default=os.environ.get("CXR_SHARED_NIH", "../shared/nih"))
    parser.add_argument("--natural", default=None, help="a folder of non-radiograph images")
    args = parser.parse_args()
    model, record = load_model(args.model)
    model.eval()

    def prepare(item):  # a path, or a decoded array (a phantom) written to one first
        if isinstance(item, np.ndarray):
            cv2.imwrite("/tmp/cxr-bench-guard.png", item)
            item = "/tmp/cxr-bench-guard.png"
        return prepare_arrays(item, record.preprocess)[0][0]

    train = np.load(Path(args.processed) / "train.npy")
    val = np.load(Path(args.processed) / "val.npy")
    rng = np.random.default_rng(0)
    held = rng.random(len(train)) < 0.2
    f_fit, f_held, f_val = (
        features(model, train[~held]),
        features(model, train[held]),
        features(model, val),
    )
    others = {
        "inverted val": 255 - val,
        "rotated val": np.rot90(val, 1, axes=(1, 2)).copy(),
        "lateral phantoms": lateral_references(100, 128, prepare, seed=1),
        "natural images": natural_images(prepare, args.natural),
    }
    nih = sorted(glob.glob(f"{args.nih}/sample/images/*.png"))
    if nih:
        others["real NIH sample"] = np.stack([prepare(p) for p in nih])
    f_others = {k: features(model, v) for k, v in others.items()}

    maha = fit_distance(f_fit)
    candidates = {"mahalanobis, all features": maha.distances}
    for k in (16, 64):
        pca = PCA(k, random_state=0).fit(f_fit)
        sub = fit_distance(pca.transform(f_fit))
        candidates[f"mahalanobis, top {k} components"] = lambda f, p=pca, s=sub: s.distances(
            p.transform(f)
        )
    unit = f_fit / np.linalg.norm(f_fit, axis=1, keepdims=True)

    def knn(f, k=10):
        u = f / np.linalg.norm(f, axis=1, keepdims=True)
        return -np.sort(u @ unit.T, axis=1)[:, -k]

    candidates["k-NN cosine, k = 10"] = knn
    print(f"fit on {len(f_fit)} training rows; cut: 99th percentile of {len(val)} validation rows")
    header = ["method", f"held-out train ({held.sum()})"] + [
        f"{k} ({len(v)})" for k, v in others.items()
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, score in candidates.items():
        cut = np.quantile(score(f_val), 0.99)
        cells = [f"{(score(f_held) > cut).mean():.3f}"]
        cells += [f"{(score(f) > cut).mean():.3f}" for f in f_others.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
