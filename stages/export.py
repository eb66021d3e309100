"""Stage ``export`` (and ``cxr export --out DIR``): the trained model as one self-contained
folder (``cxr.export``): safetensors weights, config, calibration, thresholds, input guard,
ONNX graph, model card and phantom reference inputs with their outputs (docs/export.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import atomic_path, write_json
from cxr.config import ExternalConfig
from cxr.errors import InputError
from cxr.export.card import export_card
from cxr.export.check import check_export
from cxr.export.folder import write_export
from cxr.inference import Predictor
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section, value

OUT = Path("data/export")


def main(
    out: Annotated[Path, typer.Option(help="the export folder (replaced)")] = OUT,
    onnx: Annotated[bool, typer.Option(help="also write model.onnx")] = True,
    params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE,
) -> None:
    """Export data/model/best.pt with what evaluate fitted and reported beside it."""
    values = load_params(params)
    demo = Path(value(values, "ingest.raw_dir", str)) == paths.DEMO_DIR
    sets = [s.name for s in section(values, "external", ExternalConfig).sets]
    predictor = Predictor.load(paths.MODEL)
    card = export_card(
        predictor.record, _json(paths.REPORTS / "evaluation.json"),
        _json(paths.metrics_file("ingest")),
        {name: _json(paths.REPORTS / "external" / f"{name}.json") for name in sets},
        (paths.REPORTS / "model_card.md").read_text(encoding="utf-8"),
        "cxr synthetic demo phantoms" if demo else "NIH ChestX-ray14 (layout)",
    )  # fmt: skip
    with atomic_path(out) as tmp:
        config = write_export(predictor, paths.MODEL_DIR, tmp, card, onnx)
        check = check_export(tmp)  # before the folder replaces the last one
        if not check["passed"]:
            raise RuntimeError(f"the export disagrees with itself: {check}")
    if out == OUT:  # the pipeline's export: its check is a DVC metric
        sizes = {f.name: round(f.stat().st_size / 2**20, 1) for f in sorted(out.iterdir())
                 if f.is_file()}  # fmt: skip
        write_json(paths.metrics_file("export"), {**check, "megabytes": sizes})
    typer.echo(
        f"export: {config['record']['model_config']['arch']} into {out}"
        f"{' with its ONNX graph' if onnx else ''}; largest logit difference, ONNX Runtime "
        f"vs PyTorch: {check['onnx_vs_torch']}; `cxr check-export {out}` checks it"
    )


def _json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: missing; the model card copies it (run `dvc repro`)")
    return json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    run(main)
