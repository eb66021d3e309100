"""Stage ``export`` (and ``cxr export --out DIR``): the trained model as one self-contained
folder (``cxr.export``): safetensors weights, config, calibration, thresholds, input guard,
ONNX graph, model card and reference inputs with their outputs (docs/export.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json
from cxr.export.card import export_card
from cxr.export.check import check_export
from cxr.export.folder import write_export
from cxr.inference import Predictor
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, value

#: Test-split images bundled as reference inputs (the first rows of the split).
REFERENCES = 8
OUT = Path("data/export")


def main(
    out: Annotated[Path, typer.Option(help="the export folder (replaced)")] = OUT,
    onnx: Annotated[bool, typer.Option(help="also write model.onnx")] = True,
    params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE,
) -> None:
    """Export data/model/best.pt with what evaluate fitted and reported beside it."""
    raw_dir = Path(value(load_params(params), "ingest.raw_dir", str))
    predictor = Predictor.load(paths.MODEL)
    test = pd.read_parquet(paths.PROCESSED / "test.parquet")
    references = [raw_dir / p for p in test.path[:REFERENCES]]
    externals = {p.stem: _json(p) for p in sorted((paths.REPORTS / "external").glob("*.json"))}
    demo = raw_dir == paths.DEMO_DIR
    card = export_card(
        predictor.record, _json(paths.REPORTS / "evaluation.json"),
        _json(paths.metrics_file("ingest")), externals,
        (paths.REPORTS / "model_card.md").read_text(encoding="utf-8"),
        "cxr synthetic demo phantoms" if demo else "NIH ChestX-ray14 (layout)",
    )  # fmt: skip
    with atomic_path(out) as tmp:
        config = write_export(predictor, paths.MODEL_DIR, references, tmp, card, onnx)
        check = check_export(tmp)  # before the folder replaces the last one
        if not check["passed"]:
            raise RuntimeError(f"the export disagrees with itself: {check}")
    files = [f for f in sorted(out.iterdir()) if f.is_file()]
    sizes = {f.name: round(f.stat().st_size / 2**20, 1) for f in files}
    write_json(paths.metrics_file("export"), {**check, "megabytes": sizes})
    typer.echo(
        f"export: {config['record']['model_config']['arch']} into {out} ({len(references)} "
        f"reference images{', ONNX graph' if onnx else ''}); largest logit difference, ONNX "
        f"Runtime vs PyTorch: {check['onnx_vs_torch']}; `cxr check-export {out}` checks it"
    )


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    run(main)
