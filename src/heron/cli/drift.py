"""``heron drift``: compare two data sets, artifacts or files, column by column.

A data set is a file (``.parquet``, ``.csv``, ``.json`` or ``.jsonl``, ``.npy``) or an artifact
(``NAME``, ``NAME:VERSION`` or an id) whose value is a table, or a file of those kinds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import console, echo, print_json, print_table

if TYPE_CHECKING:
    from heron.monitoring.comparison import ColumnDrift, DriftReport

#: exit status of ``--fail-on-drift`` when the data set drifted
DRIFT_EXIT = 3


@click.command("drift")
@click.option("--reference", "-r", required=True, metavar="DATA", help="The data the model knows.")
@click.option("--current", "-c", required=True, metavar="DATA", help="The data to compare.")
@click.option(
    "--columns", metavar="A,B", help="Compare only these columns (default: the reference's)."
)
@click.option("--prediction", metavar="COLUMN", help="The model output's column, told apart.")
@click.option(
    "--drift-share",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of drifted columns from which the data set counts as drifted.",
)
@click.option(
    "--min-rows",
    type=int,
    default=30,
    show_default=True,
    help="Fewer current rows than this: nothing is evaluated.",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit with status {DRIFT_EXIT} when the data set drifted (for CI and scripts).",
)
@json_option
@tracking_uri_option
def drift(
    reference: str,
    current: str,
    columns: str | None,
    prediction: str | None,
    drift_share: float,
    min_rows: int,
    fail_on_drift: bool,
    as_json: bool,
) -> None:
    """Compare the CURRENT data with the REFERENCE column by column.

    Each DATA is a file (.parquet, .csv, .json, .jsonl, .npy) or an artifact: NAME (its
    latest version), NAME:VERSION or an id. Numeric columns get the Kolmogorov-Smirnov test
    (up to 1,000 reference rows) or the normalized Wasserstein distance; categorical ones the
    chi-squared test or the Jensen-Shannon distance, as Evidently's data-drift preset does.

    \b
    heron drift --reference wine_train --current new_batch.parquet
    heron drift -r train.csv -c today.csv --columns alcohol,ash --fail-on-drift
    """
    from heron.monitoring import drift as compare

    chosen = [name.strip() for name in columns.split(",") if name.strip()] if columns else None
    report = compare(
        read_data(reference, "--reference"),
        read_data(current, "--current"),
        chosen,
        prediction=prediction,
        drift_share=drift_share,
        min_rows=min_rows,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        show_report(report)
    if fail_on_drift and report.drifted:
        raise click.exceptions.Exit(DRIFT_EXIT)


def read_data(reference: str, option: str) -> Any:
    """The table a ``DATA`` argument names: a file by its extension, else an artifact."""
    from heron.core.errors import HeronError, InvalidArgument
    from heron.monitoring.reference import FILE_SUFFIXES, artifact_named, load_table

    path = Path(reference).expanduser()
    if path.is_file():
        return read_file(path, option)
    from heron.cli.options import open_client

    try:
        artifact = artifact_named(open_client().store, reference)
    except HeronError:
        if path.suffix.lower() in FILE_SUFFIXES or os.sep in reference:  # meant as a file
            raise click.BadParameter(
                f"no file at {path}, and no artifact of that name.", param_hint=option
            ) from None
        raise
    try:
        return load_table(artifact)
    except InvalidArgument as e:
        raise click.BadParameter(e.message, param_hint=option) from None


def read_file(path: Path, option: str) -> Any:
    from heron.core.errors import InvalidArgument
    from heron.monitoring.reference import read_table_file

    try:
        return read_table_file(path)
    except InvalidArgument as e:
        raise click.BadParameter(e.message, param_hint=option) from None


def show_report(report: DriftReport) -> None:
    from rich.text import Text

    title = f"{report.n_current:,} current rows against {report.n_reference:,} reference rows"
    print_table(
        ["column", "kind", "method", "statistic", "threshold", "drift", "psi", "missing", "note"],
        [_row(column, Text) for column in report.columns.values()]
        + ([_row(report.prediction, Text, prediction=True)] if report.prediction else []),
        title=title,
    )
    if not report.evaluated:
        echo(f"Not evaluated: {report.reason}.", fg="yellow")
        return
    verdict = "drifted" if report.drifted else "did not drift"
    share = f"{len(report.drifted_columns)} of {report._evaluated_count()} columns drifted"
    style = "red" if report.drifted else "green"
    console().print(
        Text(
            f"The data set {verdict}: {share} ({report.share_drifted:.0%}; the threshold is "
            f"{report.drift_share:.0%}).",
            style=style,
        )
    )
    if report.ignored_columns:
        echo(f"Not in the reference, not compared: {', '.join(report.ignored_columns)}.")


def _row(column: ColumnDrift, text: Any, prediction: bool = False) -> list[Any]:
    if not column.evaluated:
        drift_cell = text("-", style="dim")
        note = column.reason
    else:
        drift_cell = text("yes", style="red") if column.drifted else text("no", style="green")
        notes = []
        if column.out_of_range_share:
            notes.append(f"{column.out_of_range_share:.1%} out of range")
        if column.unseen_share:
            notes.append(f"{column.unseen_share:.1%} unseen")
        note = ", ".join(notes) or None
    return [
        column.name + (" (prediction)" if prediction and column.name != "prediction" else ""),
        column.kind,
        column.method,
        column.statistic,
        column.threshold,
        drift_cell,
        column.psi,
        f"{column.missing_share_current:.1%}" if column.missing_share_current else None,
        note,
    ]
