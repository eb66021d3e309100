"""Stage ``explain``: GradCAM galleries; pointing game and box overlap against true boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import ExplainConfig
from cxr.device import pick_device
from cxr.explain.explain import headline
from cxr.explain.run import explain_model
from cxr.models.checkpoint import load_model
from cxr.numbers import with_interval
from cxr.report.localisation import localisation_markdown
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, section


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Write plots/explain/ (a gallery image per class, index.html), reports/localisation.md
    and .json (every figure with its interval) and metrics/explain.json (the headline)."""
    config = section(load_params(params), "explain", ExplainConfig)
    model, record = load_model(paths.MODEL)
    files = {"processed": paths.PROCESSED, "predictions": paths.PREDICTIONS,
             "thresholds": paths.THRESHOLDS, "boxes": paths.BOXES}  # fmt: skip
    typer.echo(f"explain: scoring the boxed cases, {config.bootstrap} patient resamples")
    done = explain_model(model, record, files, config, pick_device(config.device))
    summary = done.summary
    with atomic_path(paths.EXPLAIN_PLOTS) as tmp:
        tmp.mkdir(parents=True)
        done.write_plots(tmp)
    write_text(paths.REPORTS / "localisation.md", localisation_markdown(summary))
    write_json(paths.REPORTS / "localisation.json", summary)
    computed = {"split": summary["split"], "precision": done.precision}
    write_json(paths.metrics_file("explain"), {**computed, **headline(summary)})
    if summary.get("cases"):
        mean = summary["mean"]
        pointing = with_interval(mean["pointing"]["value"], mean["pointing"])
        typer.echo(
            f"explain: pointing game {pointing} over {summary['classes']} classes (random maps "
            f"{mean['random_pointing']['value']:.3f}); gallery in "
            f"{paths.EXPLAIN_PLOTS / 'index.html'}"
        )
    else:
        typer.echo(f"explain: no boxes in the test split, no pointing game; gallery in "
                   f"{paths.EXPLAIN_PLOTS}")  # fmt: skip


if __name__ == "__main__":
    run(main)
