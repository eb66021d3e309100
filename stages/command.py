"""Run stage functions as commands: bad input exits 2 with a message, running out of GPU
memory exits 3 with the knobs to turn; bugs keep a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from cxr.errors import InputError

#: What lowers a stage's GPU memory, most effective first (docs/performance.md, "GPU memory").
MEMORY_KNOBS = {
    "train": (
        "lower train.batch_size; set model.memory_efficient: true (about half the "
        "activations, same results, slower); for the dual path lower model.local_size (the "
        "crop's side)"
    ),
    "evaluate": "lower evaluate.batch_size",
    "explain": "lower explain.batch_size (GradCAM keeps a batch's graph for its backward)",
    "predict": "lower --batch-size",
    "score": "lower --batch-size",
    "peer": "lower peers.batch_size",
    "external": "lower external.batch_size (GradCAM's batch too, on a set with boxes)",
}


def stage_name(command: Callable[..., None]) -> str:
    """``train`` for ``stages.train.main``, also when run as ``python -m stages.train`` (where
    its module is ``__main__``, whose spec still names it)."""
    module = sys.modules.get(command.__module__)
    spec = getattr(module, "__spec__", None)
    return (spec.name if spec is not None else command.__module__).rsplit(".", 1)[-1]


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Wrap a Typer command so an :class:`InputError` prints ``error: ...`` and exits 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except Exception as err:
            if not _out_of_memory(err):
                raise
            stage = stage_name(command)
            advice = MEMORY_KNOBS.get(stage, "use a smaller batch")
            first = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
            typer.echo(
                f"error: {stage} ran out of GPU memory ({first}). To fit: {advice}. "
                "docs/performance.md lists what each setting needs.",
                err=True,
            )
            raise typer.Exit(3) from None

    return wrapper


def _out_of_memory(err: Exception) -> bool:
    # torch is not imported here: a stage that never loads it (params, demo, ingest) starts
    # without its 2 s, and cannot run out of GPU memory.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(err, torch.OutOfMemoryError)


def run(command: Callable[..., None]) -> None:
    """Entry point of ``python -m stages.<name>``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(guarded(command))
    app()
