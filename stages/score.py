"""Command ``cxr score``: a published model on cxr's own validation and test images, beside
cxr's model.

``cxr score --model xrv:densenet121-res224-nih`` (or ``chexnet:<file>``) feeds the
peer each original file as its own code would (``cxr.peers``), fits its
calibration and thresholds on validation as evaluate does for cxr's model, and
writes ``data/peers/<name>/`` (``--out``): ``val.parquet`` and ``test.parquet``
(prediction tables, so ``cxr compare`` takes them), and ``metrics.json`` with every
figure, the peer's training data and whether NIH test images may have been in
it, and the paired comparison with cxr's model on the test split; ``report.md`` puts
both models' AUROC per finding side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import torch
import typer

from cxr.atomic import atomic_path, write_json
from cxr.config import EvaluateConfig, ExternalConfig, ExternalSet
from cxr.device import pick_device
from cxr.errors import InputError
from cxr.evaluation.compare import EXTERNAL, compare_tables
from cxr.evaluation.fitted import write_fitted
from cxr.external.formats import FORMATS
from cxr.numbers import with_interval
from cxr.peers.base import Peer
from cxr.peers.registry import folder_name, load_peer
from cxr.peers.report import peer_markdown
from cxr.peers.scoring import PeerScores, score_peer, score_peer_external
from cxr.processed import open_split
from stages import paths
from stages.params import PARAMS_FILE, load_params, named, section, value

SPLITS = ("val", "test")


def main(
    model: Annotated[str, typer.Option("--model", help="xrv:<weights> or chexnet:<file>")],
    xrv_cache: Annotated[
        Path | None,
        typer.Option(help="torchxrayvision's weights folder (default ~/.torchxrayvision/...)"),
    ] = None,
    random_init: Annotated[
        bool,
        typer.Option(
            "--random-init", help="an xrv model at seeded random weights: a smoke test only"
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="output folder (data/peers/<name>)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 16,
    external: Annotated[
        list[str] | None,
        typer.Option("--external", help="also an external set of external.sets (repeatable)"),
    ] = None,
    params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE,
) -> None:
    """Score a published model on the validation and test splits; compare it with cxr's."""
    all_params = load_params(params)
    config = section(all_params, "evaluate", EvaluateConfig)
    raw_dir = Path(value(all_params, "ingest.raw_dir", str))
    sets = section(all_params, "external", ExternalConfig)
    target = out or paths.PEERS / folder_name(model)
    chosen = [named(sets.sets, name, "external.sets") for name in external or []]
    metrics = score_model(
        model, config, raw_dir, sets, chosen, target, xrv_cache, random_init, device, batch_size
    )
    _summary(metrics, target)


def score_model(
    spec: str,
    config: EvaluateConfig,
    raw_dir: Path,
    external_config: ExternalConfig,
    sets: list[ExternalSet],
    target: Path,
    xrv_cache: Path | None = None,
    random_init: bool = False,
    device: str = "auto",
    batch_size: int = 16,
) -> dict:
    """Score the peer ``spec`` on val and test (and ``sets``, with ``external_config``'s
    intervals), beside cxr's model; write ``target`` atomically and return its metrics."""
    external = {s.name: (s, _external_index(s.name)) for s in sets}  # before any work
    peer = load_peer(spec, xrv_cache, random_init)
    indexes = {split: open_split(paths.PROCESSED, split)[1] for split in SPLITS}
    where = pick_device(device)
    scores = score_peer(peer, indexes, raw_dir, config, where, batch_size)
    metrics = {
        **scores.metrics, "model": spec, "random_init": random_init, "weights": peer.weights,
        "weights_sha256": peer.fingerprint(), "thresholds": scores.thresholds,
    }  # fmt: skip
    ours = paths.PREDICTIONS / "test.parquet"
    if ours.is_file():  # B - A: the peer minus cxr's model, on the same patients' resamples
        metrics["vs_cxr_test"] = {
            "a": str(ours), "b": f"{peer.name} (test.parquet)", "purpose": "final report",
            **compare_tables(pd.read_parquet(ours), scores.tables["test"], config.bootstrap,
                             config.seed, config.confidence),
        }  # fmt: skip
    tables = dict(scores.tables)
    for name, (item, index) in external.items():
        tables[f"external/{name}"], metrics.setdefault("external", {})[name] = _external(
            peer, scores, item, index, external_config, config.calibration_bins, where, batch_size
        )
    with atomic_path(target) as tmp:
        (tmp / "external").mkdir(parents=True)
        for split, table in tables.items():
            table.to_parquet(tmp / f"{split}.parquet", index=False)
        write_json(tmp / "metrics.json", metrics)
        write_fitted(tmp / "thresholds.json", tmp / "calibration.json",
                     config.threshold_policy, scores.thresholds, scores.calibration)  # fmt: skip
        (tmp / "report.md").write_text(peer_markdown(metrics), encoding="utf-8")
    return metrics


def _external(
    peer: Peer, scores: PeerScores, item: ExternalSet, index: pd.DataFrame,
    config: ExternalConfig, bins: int, device: torch.device, batch_size: int,
) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    """The peer on the external set ``item`` (its prepared ``index``), beside cxr's model."""
    synthetic = Path(item.folder) == paths.DEMO_EXTERNAL_DIR  # the demo's phantoms
    table, metrics = score_peer_external(
        peer,
        scores,
        index,
        Path(item.folder),
        FORMATS[item.format],
        config,
        bins,
        device,
        batch_size,
        synthetic,
    )
    ours = pd.read_parquet(paths.EXTERNAL / item.name / "predictions.parquet")
    versus = compare_tables(ours, table, config.bootstrap, config.seed, config.confidence)
    return table, {**metrics, "vs_cxr": {"purpose": "final report", **versus}}


def _external_index(name: str) -> pd.DataFrame:
    index_file = paths.EXTERNAL / name / f"{EXTERNAL}.parquet"
    if not index_file.is_file():
        raise InputError(f"external set {name}: {index_file} missing; run dvc repro first")
    return pd.read_parquet(index_file)


def _summary(metrics: dict, target: Path) -> None:
    test = metrics["test"]
    ci = test.get("ci", {}).get("mean_auroc")
    lines = [
        f"{metrics['peer']}{' (RANDOM WEIGHTS)' if metrics['random_init'] else ''}: test mean "
        f"AUROC {with_interval(test['mean_auroc'], ci)} over its {test['classes_in_mean']} "
        f"findings; trained on {metrics['trained_on']}",
        f"NIH test images in its training data: {metrics['nih_test_overlap']}",
    ]
    versus = metrics.get("vs_cxr_test")
    if versus:
        d = versus["mean_auroc"]
        lines.append(
            f"minus cxr's model on the {len(versus['classes_in_mean'])} findings both score: "
            f"{with_interval(d['difference'], d)} (paired over {versus['resamples']} patient "
            "resamples; a final report, not a basis for choosing)"
        )
    lines.append(f"written to {target}; `cxr compare data/predictions {target} --test`")
    typer.echo("\n".join(lines))
