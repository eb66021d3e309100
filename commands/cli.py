"""The ``cxr`` command: every pipeline stage plus the commands a user runs by hand.

``cxr <command>`` imports only that command's module (``cxr check-params`` does not
load PyTorch, ``cxr predict`` not Gradio), so each starts in the time its own work
needs; ``cxr --help`` and :data:`app` hold every command.
"""

from __future__ import annotations

import importlib
import sys

import typer

from commands import profiles
from stages.command import guarded

#: Each command and the module whose ``main`` it runs: a DVC stage's under ``stages``,
#: a command a user runs by hand under ``commands``.
COMMANDS = {
    "check-params": "stages.check_params",
    "demo": "stages.demo",
    "ingest": "stages.ingest",
    "preprocess": "stages.preprocess",
    "train": "stages.train",
    "evaluate": "stages.evaluate",
    "explain": "stages.explain",
    "external": "stages.external",
    "external-report": "stages.external_report",
    "peer": "stages.peer",
    "peers-report": "stages.peers_report",
    "export": "stages.export",
    "sources": "stages.sources",
    "score": "commands.score",
    "compare": "commands.compare",
    "predict": "commands.predict",
    "serve": "commands.serve",
    "check-export": "commands.check_export",
}


def build(names: list[str]) -> typer.Typer:
    """The ``cxr`` app with the commands ``names`` (and ``cxr params``)."""
    cli = typer.Typer(
        help="cxr: chest X-ray classification on NIH ChestX-ray14 and data in its layout.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    cli.callback()(lambda: None)  # a group even with one command: `cxr predict ...` keeps its name
    for name in names:
        module = importlib.import_module(COMMANDS[name])
        cli.command(name)(guarded(module.main))
    cli.add_typer(profiles.app, name="params")
    return cli


def main() -> None:
    """The ``cxr`` entry point."""
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    build([first] if first in COMMANDS else [] if first == "params" else list(COMMANDS))()


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # every command, for tests and `python -m commands.cli`
        return build(list(COMMANDS))
    raise AttributeError(name)


if __name__ == "__main__":
    main()
