"""Run stage functions as commands: bad input exits 2 with a message; bugs keep a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer

from cxr.errors import InputError


def guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Wrap a Typer command so an :class:`InputError` prints ``error: ...`` and exits 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def run(command: Callable[..., None]) -> None:
    """Entry point of ``python -m stages.<name>``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(guarded(command))
    app()
