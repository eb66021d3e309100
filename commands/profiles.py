"""Switch params.yaml between the demo data and a real NIH ChestX-ray14 download.

``cxr params nih --raw-dir /data/nih`` rewrites the keys below in place
(comments kept), so ``dvc repro`` then runs the same pipeline on NIH with the
official split and cxr's NIH settings; ``cxr params chexnet`` sets CheXNet's
own recipe instead, as far as cxr's knobs express it; ``cxr params demo``
switches back. Nothing else in params.yaml is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML

from cxr.config import SECTIONS
from stages.command import guarded
from stages.params import PARAMS_FILE, ParamsError

#: cxr's settings on NIH: the official split with validation carved by patient,
#: boxes in the 1024-px frame, an ImageNet-initialised DenseNet121 at 224 px with
#: torchvision's output stride, and cxr's own loss and optimiser (not CheXNet's):
#: focal loss (gamma 1) with pos_weight, AdamW at lr 1e-3 for the new head and
#: lr/20 for the pretrained backbone, batch 64, cxr's light augmentation,
#: reduce-on-plateau when the validation mean AUROC stalls, early stopping.
NIH: dict[str, Any] = {
    "ingest.split": "official",
    "ingest.val_fraction": 0.1,
    "ingest.box_frame": 1024,
    "preprocess.size": 224,
    # No detail array (22.5 GB at 448 px): the default model does not read one. On the
    # demo, validation preferred DenseNet121 to the dual path's close look (docs/model.md).
    "preprocess.detail_size": 0,
    "model.weights": "imagenet",
    "model.output_stride": 32,
    "model.local_size": 0,
    "train.epochs": 20,
    "train.batch_size": 64,
    "train.lr": 0.001,
    "train.schedule": "plateau",
    "train.workers": 4,
}
#: CheXNet's recipe (Rajpurkar et al. 2017, section 3.1) on top of :data:`NIH`, as far as
#: cxr's knobs express it: the whole network at one rate (Adam, lr 1e-3, no weight decay),
#: batch 16, weighted binary cross-entropy (positives weighted by negatives / positives),
#: random horizontal flips as its only augmentation, no dropout, no warm-up, and the
#: image resized without CLAHE. What still differs: cxr's plateau step divides the rate
#: by 1/0.3, not 10, and watches the validation mean AUROC, not the loss; cxr stops early
#: (train.patience); cxr pads a non-square image to keep its aspect (NIH's are square).
CHEXNET: dict[str, Any] = {
    **NIH,
    "preprocess.clahe": False,
    "model.dropout": 0.0,
    "train.batch_size": 16,
    "train.backbone_lr_mult": 1.0,
    "train.weight_decay": 0.0,
    "train.warmup_epochs": 0.0,
    "train.focal_gamma": 0.0,
    "train.class_weight": "pos_weight",
    "train.augment.crop_scale_min": 1.0,
    "train.augment.crop_ratio": 1.0,
    "train.augment.rotation_deg": 0.0,
    "train.augment.brightness": 0.0,
    "train.augment.contrast": 0.0,
    "train.augment.hflip": 0.5,
}
#: external.sets is left as it is (a list keeps its comments only if untouched); this says so.
EXTERNAL_NOTE = (
    "note: external.sets still lists the demo's second and third hospitals (phantoms), "
    "which the sources stage trains on and holds out; put your CheXpert, MIMIC or other "
    "downloads there and name them in sources.added / sources.held_out (or set "
    "sources.added: [] to skip that stage; README: External validation, docs/sources.md)"
)


def default(dotted: str) -> Any:
    """The shipped (dataclass default) value of ``section.key`` (``train.augment.hflip``)."""
    name, *keys = dotted.split(".")
    value = SECTIONS[name]()
    for key in keys:
        value = getattr(value, key)
    return value


#: Back to the embedded demo data set: the defaults of every key either NIH profile sets.
DEMO: dict[str, Any] = {k: default(k) for k in ("ingest.raw_dir", *NIH, *CHEXNET)}
#: cxr's NIH settings also undo CheXNet's where only that profile sets a key, so
#: ``cxr params nih`` after ``cxr params chexnet`` gives cxr's settings, not a mix.
NIH_FULL: dict[str, Any] = {**{k: DEMO[k] for k in CHEXNET if k not in NIH}, **NIH}


def apply_profile(params_path: Path, values: dict[str, Any]) -> list[str]:
    """Set dotted keys in params.yaml, keeping comments; return ``key: old -> new`` lines."""
    yaml = YAML()  # round-trip: keeps comments and order
    yaml.preserve_quotes = True
    data = yaml.load(params_path.read_text(encoding="utf-8"))
    changes = []
    for dotted, value in values.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            if key not in node:
                raise ParamsError(f"{params_path}: no section '{key}' (needed for {dotted})")
            node = node[key]
        if leaf not in node:
            raise ParamsError(f"{params_path}: no key '{dotted}'")
        if node[leaf] != value:
            changes.append(f"{dotted}: {node[leaf]!r} -> {value!r}")
            node[leaf] = value
    with open(params_path, "w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return changes


app = typer.Typer(help="Switch params.yaml between the demo data and a real NIH download.")
RawDir = Annotated[Path, typer.Option(help="the NIH download: label CSV, images*/, lists")]
ParamsFile = Annotated[Path, typer.Option(help="params file to edit")]


@app.command("nih")
@guarded
def nih(
    raw_dir: RawDir,
    params: ParamsFile = PARAMS_FILE,
) -> None:
    """Point the pipeline at an NIH ChestX-ray14 download with cxr's NIH settings."""
    _nih_profile(raw_dir, params, NIH_FULL)


@app.command("chexnet")
@guarded
def chexnet(
    raw_dir: RawDir,
    params: ParamsFile = PARAMS_FILE,
) -> None:
    """Point the pipeline at an NIH download with CheXNet's recipe (as far as cxr's knobs
    express it: commands/profiles.py says what still differs)."""
    _nih_profile(raw_dir, params, CHEXNET)


def _nih_profile(raw_dir: Path, params: Path, values: dict[str, Any]) -> None:
    if not raw_dir.is_dir():
        raise typer.BadParameter(f"{raw_dir} is not a folder", param_hint="--raw-dir")
    _report(apply_profile(params, {"ingest.raw_dir": str(raw_dir), **values}))
    typer.echo(EXTERNAL_NOTE)


@app.command("demo")
@guarded
def demo(params: ParamsFile = PARAMS_FILE) -> None:
    """Point the pipeline back at the embedded demo data set."""
    _report(apply_profile(params, DEMO))


def _report(changes: list[str]) -> None:
    typer.echo("\n".join(changes) if changes else "params.yaml already has these values")
    typer.echo("now run: dvc repro")
