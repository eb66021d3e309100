"""Command ``cxr score``: a published model on cxr's own validation and test images, beside
cxr's model (``cxr.peers.run.score_model``, which the ``peer@N`` stage also calls).

``cxr score --model xrv:densenet121-res224-nih`` (or ``chexnet:<file>``) writes
``data/peers/<name>/`` (``--out``): prediction tables ``cxr compare`` takes,
``metrics.json`` with every figure, the peer's training data and whether NIH test
images may have been in it, and the paired comparison with cxr's model on the test
split; ``report.md`` puts both models' AUROC per finding side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.config import EvaluateConfig, ExternalConfig
from cxr.numbers import with_interval
from cxr.peers.registry import folder_name
from cxr.peers.run import PeerSpec, score_model
from stages import paths
from stages.params import PARAMS_FILE, load_params, named, section, value
from stages.peer import workspace


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
    peer = PeerSpec(model, xrv_cache, random_init, device, batch_size)
    metrics = score_model(peer, config, sets, chosen, workspace(raw_dir), target)
    _summary(metrics, target)


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
