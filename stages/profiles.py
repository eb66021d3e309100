"""Switch params.yaml between the demo data and a real NIH ChestX-ray14 download.

``cxr params nih --raw-dir /data/nih`` rewrites the keys below in place
(comments kept), so ``dvc repro`` then runs the same pipeline on NIH with the
official split and the literature's settings; ``cxr params demo`` switches
back. Nothing else in params.yaml is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML

from cxr.config import SECTIONS
from stages.command import guarded
from stages.params import PARAMS_FILE, ParamsError

#: The literature's setting on NIH: official split with validation carved by
#: patient, boxes in the 1024-px frame, and CheXNet's recipe (Rajpurkar et al.
#: 2017): ImageNet-initialised DenseNet121 at 224 px, lr 1e-3 (here with the
#: pretrained backbone at lr/20), reduce-on-plateau by a factor when the
#: validation score stalls, early stopping.
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
#: external.sets is left as it is (a list keeps its comments only if untouched); this says so.
EXTERNAL_NOTE = (
    "note: external.sets still lists the demo's second hospital (phantoms); put your "
    "CheXpert, MIMIC or other downloads there (README: External validation)"
)


def default(dotted: str) -> Any:
    """The shipped (dataclass default) value of ``section.key``."""
    name, key = dotted.split(".", 1)
    return getattr(SECTIONS[name](), key)


#: Back to the embedded demo data set: the defaults of every key the NIH profile sets.
DEMO: dict[str, Any] = {k: default(k) for k in ("ingest.raw_dir", *NIH)}


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


@app.command("nih")
@guarded
def nih(
    raw_dir: Annotated[Path, typer.Option(help="the NIH download: label CSV, images*/, lists")],
    params: Annotated[Path, typer.Option(help="params file to edit")] = PARAMS_FILE,
) -> None:
    """Point the pipeline at an NIH ChestX-ray14 download with the literature's settings."""
    if not raw_dir.is_dir():
        raise typer.BadParameter(f"{raw_dir} is not a folder", param_hint="--raw-dir")
    _report(apply_profile(params, {"ingest.raw_dir": str(raw_dir), **NIH}))
    typer.echo(EXTERNAL_NOTE)


@app.command("demo")
@guarded
def demo(params: Annotated[Path, typer.Option(help="params file to edit")] = PARAMS_FILE) -> None:
    """Point the pipeline back at the embedded demo data set."""
    _report(apply_profile(params, DEMO))


def _report(changes: list[str]) -> None:
    typer.echo("\n".join(changes) if changes else "params.yaml already has these values")
    typer.echo("now run: dvc repro")
