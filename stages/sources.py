"""Stage ``sources``: does a further hospital's data help on a hospital no model saw? Train the
model again on ingest's data plus ``sources.added``, with the main model's every other
setting, and compare the two on ``sources.held_out``'s films (docs/sources.md)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import atomic_path, write_json, write_text
from cxr.config import (
    ExternalSet,
    IngestConfig,
    ModelConfig,
    PreprocessConfig,
    SourcesConfig,
    TrainConfig,
)
from cxr.device import pick_device
from cxr.numbers import with_interval
from cxr.report.sources import comparison_markdown
from cxr.training.run import TrainConfigs
from cxr.training.sources import compare_sources, headline
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, named, section, value


def main(params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE) -> None:
    """Train the multi-source model into data/sources/, score both models on the held-out
    films, and write metrics/sources.json and reports/sources.{json,md}."""
    values = load_params(params)
    config = section(values, "sources", SourcesConfig)
    if not config.added:
        shutil.rmtree(paths.SOURCES, ignore_errors=True)
        paths.SOURCES.mkdir(parents=True)  # DVC's out: present, and empty
        return _write({"off": "sources.added is empty"})
    sets = value(values, "external.sets", tuple[ExternalSet, ...])
    added = tuple(named(sets, name, "external.sets") for name in config.added)
    held = named(sets, config.held_out, "external.sets")
    configs = TrainConfigs(section(values, "model", ModelConfig),
                           section(values, "train", TrainConfig),
                           section(values, "preprocess", PreprocessConfig))  # fmt: skip
    t0 = time.perf_counter()
    with atomic_path(paths.SOURCES) as tmp:
        report = compare_sources(
            section(values, "ingest", IngestConfig), (added, held), configs, paths.MODEL, tmp,
            pick_device(config.device), config,
            warn=lambda line: typer.echo(f"warning: {line}", err=True),
        )  # fmt: skip
    report["seconds"] = round(time.perf_counter() - t0, 1)
    _write(report)
    mean = report["comparison"]["mean_auroc"]
    typer.echo(f"sources: on {held.name}, multi- minus single-source mean AUROC "
               f"{with_interval(mean['difference'], mean)}; reports/sources.md")  # fmt: skip


def _write(report: dict) -> None:
    write_json(paths.REPORTS / "sources.json", report)
    write_text(paths.REPORTS / "sources.md", comparison_markdown(report))
    write_json(paths.metrics_file("sources"), headline(report))


if __name__ == "__main__":
    run(main)
