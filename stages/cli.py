"""The ``cxr`` command: every pipeline stage plus the commands a user runs by hand."""

from __future__ import annotations

import typer

from stages import (
    check_params,
    compare,
    demo,
    evaluate,
    explain,
    ingest,
    predict,
    preprocess,
    profiles,
    serve,
    train,
)
from stages.command import guarded

app = typer.Typer(
    help="cxr: chest X-ray classification on NIH ChestX-ray14 and data in its layout.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command("check-params")(guarded(check_params.main))
app.command("demo")(guarded(demo.main))
app.command("ingest")(guarded(ingest.main))
app.command("preprocess")(guarded(preprocess.main))
app.command("train")(guarded(train.main))
app.command("evaluate")(guarded(evaluate.main))
app.command("explain")(guarded(explain.main))
app.command("compare")(guarded(compare.main))
app.command("predict")(guarded(predict.main))
app.command("serve")(guarded(serve.main))
app.add_typer(profiles.app, name="params")

if __name__ == "__main__":
    app()
