"""Stage ``explain``: GradCAM galleries; pointing game and box overlap against true boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import pandas as pd
import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import ExplainConfig
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.evaluation.fitted import read_thresholds
from cxr.explain.explain import box_cases, case_maps, gallery_rows, headline, localisation
from cxr.explain.gallery import Cell, grid, index_html
from cxr.explain.gradcam import cam_grids, gradcam_maps
from cxr.findings import FINDINGS
from cxr.imaging.geometry import boxes_to_array
from cxr.models.checkpoint import load_model
from cxr.processed import open_split
from cxr.report.localisation import localisation_markdown
from cxr.report.markdown import with_interval
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section

SPLIT = "test"


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write plots/explain/ (a gallery image per class, index.html), reports/localisation.md
    and .json (every figure with its interval) and metrics/explain.json (the headline)."""
    config = section(load_params(params), "explain", ExplainConfig)
    device = pick_device(config.device)
    model, _ = load_model(paths.MODEL)
    array, index = open_split(paths.PROCESSED, SPLIT)
    predictions_file = paths.PREDICTIONS / f"{SPLIT}.parquet"
    predictions = pd.read_parquet(predictions_file)
    if predictions.image_id.tolist() != index.image_id.tolist():
        raise InputError(
            f"{predictions_file} does not match the {SPLIT} index (made from other data): "
            "rerun evaluate (`dvc repro evaluate`)"
        )
    probs = predictions[[f"p_{n}" for n in FINDINGS]].to_numpy()
    labels = index[list(FINDINGS)].to_numpy()
    thresholds = read_thresholds(paths.THRESHOLDS, FINDINGS)

    boxes = boxes_to_array(pd.read_parquet(paths.BOXES), index)
    cases = box_cases(boxes)
    cams = case_maps(model, array, cases, config, device)
    grids = cam_grids(model, array.shape[1])
    patients = index.patient_id.to_numpy()[cases.row.to_numpy()]
    typer.echo(f"explain: scoring {len(cases)} boxed cases, {config.bootstrap} patient resamples")
    cases, summary = localisation(cams, cases, patients, config, grids)
    summary = {"split": SPLIT, **summary}

    selection = gallery_rows(probs, labels, thresholds, config.gallery_per_kind)
    with atomic_path(paths.EXPLAIN_PLOTS) as tmp:
        tmp.mkdir(parents=True)
        sections = []
        for c, name in enumerate(FINDINGS):
            rows = selection[name]
            picked = np.concatenate(list(rows.values())).astype(int)
            cams = gradcam_maps(
                model, array[picked], np.full(len(picked), c), device, config.batch_size
            )
            cam_of = dict(zip(picked.tolist(), cams, strict=True))
            blocks = []
            for kind, members in rows.items():
                cells = []
                for r in members.tolist():
                    b = boxes[(boxes.row == r) & (boxes.finding == name)][
                        ["x0", "y0", "x1", "y1"]
                    ].to_numpy()
                    cells.append(
                        Cell(
                            np.asarray(array[r]),
                            cam_of[r],
                            b,
                            f"{index.image_id[r]}  p={probs[r, c]:.2f}",
                        )
                    )
                blocks.append((f"{kind} ({len(members)} shown)", cells))
            # JPEG: colour overlays compress ten times better than as PNG.
            image = grid(blocks, config.gallery_per_kind)
            cv2.imwrite(str(tmp / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            score = summary.get("per_class", {}).get(name)
            text = (
                f"threshold {thresholds[c]:.3f} (chosen on validation); pointing game "
                f"{_with_ci(score['pointing'])} on {score['cases']} boxed cases "
                f"(random maps {score['random_pointing']['value']:.2f})"
                if score
                else f"threshold {thresholds[c]:.3f} (chosen on validation); no boxes in {SPLIT}"
            )
            sections.append((name, text, f"{name}.jpg"))
        level = f"{100 * config.confidence:g}% CI"
        header = ["finding", "boxed cases", "pointing game", level, "random maps"]
        table = [
            [n, str(v["cases"]), *_cells(v["pointing"]), f"{v['random_pointing']['value']:.3f}"]
            for n, v in summary.get("per_class", {}).items()
        ]
        if summary.get("cases"):
            mean = summary["mean"]
            table.append(
                [
                    "mean",
                    str(summary["cases"]),
                    *_cells(mean["pointing"]),
                    f"{mean['random_pointing']['value']:.3f}",
                ]
            )
        (tmp / "index.html").write_text(
            index_html(f"GradCAM on the {SPLIT} split", table, header, sections), encoding="utf-8"
        )
        cases.drop(columns=["boxes"]).to_csv(tmp / "localisation_cases.csv", index=False)
    write_text(paths.REPORTS / "localisation.md", localisation_markdown(summary))
    write_json(paths.REPORTS / "localisation.json", summary)
    write_json(paths.metrics_file("explain"), {"split": SPLIT, **headline(summary)})
    if summary.get("cases"):
        mean = summary["mean"]
        typer.echo(
            f"explain: pointing game {_with_ci(mean['pointing'])} over {summary['classes']} "
            f"classes (random maps {mean['random_pointing']['value']:.3f}); "
            f"gallery in {paths.EXPLAIN_PLOTS / 'index.html'}"
        )
    else:
        typer.echo(
            f"explain: no boxes in the {SPLIT} split, no pointing game; "
            f"gallery in {paths.EXPLAIN_PLOTS}"
        )


def _cells(figure: dict) -> list[str]:
    ci = "n/a" if figure.get("low") is None else f"{figure['low']:.3f}-{figure['high']:.3f}"
    return [f"{figure['value']:.3f}", ci]


def _with_ci(figure: dict) -> str:
    return with_interval(figure["value"], figure)


if __name__ == "__main__":
    run(main)
