"""Stage ``peer@N``: one published model of ``peers.models`` scored beside cxr's model on the
validation and test images and, with ``peers.external``, on every external set
(``cxr.peers.run.score_model``, which ``cxr score`` calls by hand). Writes
``data/peers/<name>/``, the headline ``metrics/peers/<name>.json``, and
``reports/peers/<name>.{md,json}`` (every figure, which ``peers_report`` puts in the same
tables as cxr's)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.atomic import write_json, write_text
from cxr.config import EvaluateConfig, ExternalConfig, PeersConfig
from cxr.peers.report import peer_markdown
from cxr.peers.run import PeerSpec, Workspace, score_model
from cxr.peers.scoring import peer_headline
from stages import paths
from stages.command import run
from stages.params import PARAMS_FILE, load_params, named, section, value


def main(
    name: Annotated[str, typer.Argument(help="the peer's name in peers.models")],
    params: Annotated[Path, typer.Option(help="params file")] = PARAMS_FILE,
) -> None:
    """Score the peer ``name``; write its tables, figures and report."""
    all_params = load_params(params)
    config = section(all_params, "peers", PeersConfig)
    evaluate = section(all_params, "evaluate", EvaluateConfig)
    raw_dir = Path(value(all_params, "ingest.raw_dir", str))
    external = section(all_params, "external", ExternalConfig)
    item = named(config.models, name, "peers.models")
    peer = PeerSpec(item.model, Path(config.xrv_cache) if config.xrv_cache else None,
                    item.random_init, config.device, config.batch_size)  # fmt: skip
    sets = list(external.sets) if config.external else []
    metrics = score_model(peer, evaluate, external, sets, workspace(raw_dir),
                          paths.PEERS / item.name)  # fmt: skip
    tracked = item.random_init or _in(Path(metrics["weights"]), paths.WEIGHTS)
    if not tracked:
        typer.echo(
            f"warning: {metrics['weights']} lies outside {paths.WEIGHTS}/, so DVC does not "
            f"track it: replacing it will not rerun this stage. Move it there (see "
            f"{paths.WEIGHTS / 'README.md'}) and `dvc add` it",
            err=True,
        )
    headline = {**peer_headline(metrics), "weights_tracked_by_dvc": tracked}
    write_json(paths.METRICS / "peers" / f"{item.name}.json", headline)
    write_json(paths.REPORTS / "peers" / f"{item.name}.json", metrics)  # for peers_report
    write_text(paths.REPORTS / "peers" / f"{item.name}.md", peer_markdown(metrics))
    typer.echo(
        f"peer {item.name} ({item.model}): test mean AUROC {metrics['test']['mean_auroc']}; "
        f"{paths.REPORTS / 'peers' / (item.name + '.md')}"
    )


def workspace(raw_dir: Path) -> Workspace:
    """The pipeline's folders a peer is scored on and compared in (``stages.paths``)."""
    return Workspace(raw_dir, paths.PROCESSED, paths.PREDICTIONS, paths.EXTERNAL,
                     paths.DEMO_EXTERNAL_DIR)  # fmt: skip


def _in(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


if __name__ == "__main__":
    run(main)
