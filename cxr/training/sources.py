"""The sources stage's work: does training on a further hospital's films help on a hospital no
model saw?

:func:`train_with_sources` trains the model a second time, on ingest's data plus
the ``added`` sets (each split by its own patients, ``cxr.external.sources``;
findings a set does not label masked out of the loss) with every other setting
the main model's, early-stopped on its own validation split.
:func:`held_out_tables` scores both models on the held-out set's films, read,
located and preprocessed as the external stage reads them (every row left out
listed); :func:`compare_on_held_out` gives the paired difference (multi-source
minus single-source) of their AUROC on the same patients' resamples. Neither
model's training or validation data holds a film of the held-out set, and
nothing here is chosen on it.

Example::

    run = train_with_sources(ingest, (DEMO_HOSPITAL,), configs, Path("data/sources"), device)
    tables, excluded = held_out_tables({"single": best, "multi": run_best}, third, work, device)
    compare_on_held_out(tables, resamples=1000, seed=0, level=0.95)["mean_auroc"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from cxr.batches import SplitArrays
from cxr.config import ExternalSet, IngestConfig, SourcesConfig
from cxr.device import compute_dtype, place
from cxr.errors import InputError
from cxr.evaluation.calibration import Calibration
from cxr.evaluation.compare import compare_tables
from cxr.evaluation.evaluate import prediction_table
from cxr.evaluation.predict import ForwardPass
from cxr.external.formats import FORMATS
from cxr.external.prepare import SPLIT, prepare_set
from cxr.external.sets import locate, read_set
from cxr.external.sources import ingest_sources
from cxr.models.checkpoint import load_model
from cxr.preprocess import preprocess
from cxr.training.run import TrainConfigs, TrainRun, train_model


def compare_sources(
    ingest: IngestConfig,
    sets: tuple[tuple[ExternalSet, ...], ExternalSet],
    configs: TrainConfigs,
    single: Path,
    work: Path,
    device: torch.device,
    config: SourcesConfig,
    warn: Callable[[str], None] = print,
) -> dict:
    """The sources stage's report: train the multi-source model (``sets``: the added sets and
    the held-out one) into ``work``, score it and the single-source model ``single`` on the
    held-out films (their tables and every row left out, into ``work``) and compare them."""
    added, held = sets
    trained, ingested = train_with_sources(ingest, added, configs, work, device, warn)
    models = {"single": single, "multi": work / "model" / "best.pt"}
    tables, excluded = held_out_tables(models, held, work / "held_out", device, config.batch_size)
    for name, table in tables.items():
        table.to_parquet(work / f"{name}.parquet", index=False)
    excluded.to_csv(work / "excluded.csv", index=False)
    return {
        "added": [a.name for a in added],
        "held_out": held.name,
        "training": trained.metrics,
        "sources": ingested["sources"],
        "held_out_excluded": {str(k): int(v) for k, v in excluded.reason.value_counts().items()},
        "comparison": compare_on_held_out(tables, config.bootstrap, config.seed, config.confidence),
    }


def train_with_sources(
    ingest: IngestConfig,
    added: tuple[ExternalSet, ...],
    configs: TrainConfigs,
    work: Path,
    device: torch.device,
    warn: Callable[[str], None] = print,
) -> tuple[TrainRun, dict]:
    """Ingest ``ingest``'s data (its folder and any ``ingest.sources``) with ``added`` as
    further sources, preprocess it into ``work/processed`` and train into ``work/model``;
    the run and the ingest metrics."""
    config = dataclasses.replace(ingest, sources=(*ingest.sources, *added))
    ingested = ingest_sources(config)
    processed = work / "processed"
    preprocess(ingested.metadata, config.raw_dir, processed, configs.preprocess)
    return train_model(configs, processed, work / "model", device, warn=warn), ingested.metrics


def held_out_tables(
    models: dict[str, Path], item: ExternalSet, work: Path, device: torch.device, batch: int
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each model's prediction table (uncalibrated probabilities: only ranks are compared) on
    ``item``'s frontal films, and every row of its label file left out, with the reason."""
    folder = Path(item.folder)
    labels = read_set(item.format, folder, item.labels, "ignore", True, item.name)
    found, missing = locate(labels.images, folder, FORMATS[item.format].unique_names)
    loaded = {name: load_model(path) for name, path in models.items()}
    preprocessing = {str(record.preprocess) for _, record in loaded.values()}
    if len(preprocessing) > 1:
        raise InputError(f"the models {list(models)} preprocess differently: not one comparison")
    record = next(iter(loaded.values()))[1]
    index, undecoded = prepare_set(found, folder, work, record.preprocess)
    tables = {}
    unit = FORMATS[item.format].resampling_unit
    for name, (model, record) in loaded.items():
        place(model, device)
        dtype = compute_dtype(device, record.model_config.precision)
        data = SplitArrays(work, SPLIT, model.input_views)
        logits = ForwardPass(model, device, dtype, batch).split_logits(data)
        probs = Calibration.identity(logits.shape[1]).apply(logits)
        tables[name] = prediction_table(index, probs, SPLIT, logits, unit=unit)
    excluded = pd.concat([labels.excluded, missing, undecoded], ignore_index=True)
    return tables, excluded


def compare_on_held_out(
    tables: dict[str, pd.DataFrame], resamples: int, seed: int, level: float
) -> dict:
    """Multi-source minus single-source AUROC on the held-out films (``compare_tables``): the
    mean over the findings the set labels, and each of them with both models' AUROC, paired
    bootstrap intervals and Holm-adjusted p-values (``auroc_a``: single, ``auroc_b``: multi)."""
    out = compare_tables(tables["single"], tables["multi"], resamples, seed, level)
    out["auroc"] = {n: d for n, d in out["auroc"].items() if n in out["classes_in_mean"]}
    return out


def headline(report: dict) -> dict:
    """``metrics/sources.json``: what ``dvc exp show`` compares (the rest: the report)."""
    if "comparison" not in report:
        return {"off": report["off"]}
    compared, mean = report["comparison"], report["comparison"]["mean_auroc"]
    kept = ("low", "high", "unit", "usable_resamples", "resamples", "withheld", "p_value")
    return {
        "added": report["added"],
        "held_out": report["held_out"],
        "held_out_images": compared["images"],
        "findings": len(compared["classes_in_mean"]),
        "single_source_mean_auroc": compared["mean_auroc_a"],
        "multi_source_mean_auroc": compared["mean_auroc_b"],
        "difference": {"value": mean["difference"], **{k: mean[k] for k in kept if k in mean}},
        "multi_source_best_val_mean_auroc": report["training"]["best_val_mean_auroc"],
        "seconds": report["seconds"],
    }
