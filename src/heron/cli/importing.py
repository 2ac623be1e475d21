"""``heron import``: bring an MLflow store (file store, database or server) into Heron."""

from __future__ import annotations

import sys
from typing import Any

import click

from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, print_json


class _Bar:
    """A rich progress bar with one line per kind of thing being imported."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def start(self, kind: str, total: int) -> None:
        if kind in self.tasks:  # model versions: one start per registered model
            task = self.tasks[kind]
            self.progress.update(task, total=self.progress.tasks[task].total + total)
            return
        self.tasks[kind] = self.progress.add_task(kind, total=total)

    def advance(self, kind: str, count: int = 1) -> None:
        if kind in self.tasks:
            self.progress.advance(self.tasks[kind], count)


@click.command(name="import")
@click.argument("source")
@click.option(
    "--artifacts",
    metavar="FOLDER",
    help="Where a database's artifact files are: the artifact root (mlflow server's "
    "--artifacts-destination, ./mlartifacts by default, or the mlruns/ folder). Default: each "
    "run's artifact_uri when it is a local path.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary.")
@tracking_uri_option
@json_option
def import_(source: str, artifacts: str | None, quiet: bool, as_json: bool) -> None:
    """Import an MLflow store into the current tracking store.

    SOURCE is an MLflow file store (mlruns/ or file:///…/mlruns), an MLflow database
    (sqlite:///mlflow.db, postgresql://…) or a running MLflow server (http://host:5000).

    Experiments, runs (params, every metric point, tags, status, times, parents; MLflow's
    run ids are kept, so runs:/<id> URIs keep working), their files, logged models and the
    registry (versions keep their numbers; aliases, tags, descriptions; stages become the
    heron.stage tag) come over. Running it again imports nothing twice, and an interrupted
    import continues where it stopped.
    """
    from heron.cli.main import CliError
    from heron.importers.mlflow import SourceError, import_mlflow, open_source
    from heron.importers.mlflow.summary import NoProgress

    try:
        mlflow_source = open_source(source, artifacts)
        mlflow_source.check()
    except SourceError as e:
        raise CliError(f"{e} Nothing was imported.") from None
    show_bar = not quiet and not as_json and sys.stderr.isatty()
    bar = _Bar() if show_bar else None
    summary = None
    try:
        if bar is not None:
            with bar.progress:
                summary = import_mlflow(mlflow_source, progress=bar)
        else:
            summary = import_mlflow(mlflow_source, progress=NoProgress())
    except SourceError as e:
        raise CliError(f"{e} What was imported so far stays; run the import again.") from None
    except KeyboardInterrupt:
        echo("Interrupted: run the same `heron import` again to continue where it stopped.")
        sys.exit(130)
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.failures:
        raise CliError(
            f"{len(summary.failures)} thing(s) could not be imported (listed above); the rest "
            "was. Fix the cause and run the import again: it only imports what is missing."
        )


def _print_summary(summary: Any) -> None:
    from heron.cli.output import print_table
    from heron.importers.mlflow.summary import KINDS

    echo(f"Imported {summary.source} into {summary.target}.")
    rows = [
        (kind, summary.imported[kind], summary.skipped[kind], summary.failed[kind])
        for kind in KINDS
    ]
    print_table(["", "imported", "skipped", "failed"], rows)
    for (kind, reason), count in sorted(summary.skip_reasons.items()):
        echo(f"skipped {count} {kind}: {reason}", dim=True)
    for note in summary.notes:
        echo(note)
    for failure in summary.failures:
        echo(f"failed: {failure.what}: {failure.reason}")
