"""``heron runs``: search, show, delete and restore runs."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import json_option, open_client, view_option
from heron.cli.output import (
    NAME_COLUMN,
    SHORT_ID,
    Column,
    cell,
    console,
    echo,
    format_duration,
    format_number,
    format_size,
    format_time,
    print_fields,
    print_json,
    print_table,
    short_id,
    status_text,
)

if TYPE_CHECKING:
    from heron.core.entities import Run
    from heron.tracking.client import Client

#: metric columns shown in `runs list` besides those the filter and order-by name
EXTRA_METRIC_COLUMNS = 4
_DEFAULT_ATTRIBUTES = {"run_id", "name", "status", "kind", "start_time"}
#: the fewest characters of a run id that name a run by prefix
MIN_ID_PREFIX = 4
_ID_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_ID_PREFIX},31}}")
_PREFIXES = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}
_HEADER_STYLES = {"metric": "magenta", "param": "cyan", "tag": "yellow", "attribute": "bold"}


def resolve_run(client: Client, run_id: str, param_hint: str = "RUN_ID") -> Run:
    """The run with id ``run_id``, or the one run whose id starts with it (as `runs list` shows);
    a prefix shorter than 4 characters is refused as a bad ``param_hint`` (exit code 2)."""
    from heron.core.errors import InvalidArgument, NotFound

    try:
        return client.get_run(run_id)
    except NotFound:
        prefix = run_id.lower()
        if len(prefix) < MIN_ID_PREFIX:
            raise click.BadParameter(
                f"{run_id!r} is too short for a run id: type at least {MIN_ID_PREFIX} "
                f"characters of it (`heron runs list` shows the first {SHORT_ID}).",
                param_hint=param_hint,
            ) from None
        if not _ID_PREFIX.fullmatch(prefix):
            raise
        found = client.search_runs(
            filter=f"attributes.run_id LIKE '{prefix}%'", max_results=2, view="all"
        )
        if not found:
            raise NotFound(
                f"No run with id {run_id!r} or an id starting with it. "
                "List runs with `heron runs list`."
            ) from None
        if len(found) > 1:
            raise InvalidArgument(
                f"Several runs have ids starting with {run_id!r}; type more of the id."
            ) from None
        return found[0]


@click.group()
def runs() -> None:
    """Search, show, delete and restore runs."""


@runs.command("list")
@click.option(
    "--experiment",
    "-e",
    "experiments",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Only runs of this experiment (repeatable). Default: every experiment.",
)
@click.option(
    "--filter",
    "-f",
    "filter_",
    metavar="TEXT",
    help="""A search filter, e.g. "metrics.loss < 0.1 and params.lr = '0.01'".""",
)
@click.option(
    "--order-by",
    "-o",
    "order_by",
    multiple=True,
    metavar="TEXT",
    help="Sort key, e.g. 'metrics.acc DESC' (repeatable). Default: newest first.",
)
@click.option(
    "--limit", "-n", default=50, show_default=True, type=click.IntRange(min=1), help="At most N."
)
@view_option("runs")
@json_option
def list_(
    experiments: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    limit: int,
    view: str,
    as_json: bool,
) -> None:
    """Search runs and print them as a table (or JSON).

    The table shows the params, metrics and tags that --filter and --order-by name, then a
    few more metrics. Filters use the MLflow syntax: metrics.X, params.X, tags.X and run
    attributes (status, name, kind, start_time, ...) with = != < <= > >= LIKE ILIKE IN and
    IS [NOT] NULL, joined by AND; params and tags compare to quoted strings; status values
    may use MLflow's names (FINISHED, FAILED, RUNNING, KILLED, SCHEDULED).
    """
    columns = _referenced(filter_, order_by)  # checks the syntax before opening the store
    client = open_client()
    found = client.search_runs(
        experiment=list(experiments) or None,
        filter=filter_,
        order_by=list(order_by) or None,
        max_results=limit,
        view=view,
    )
    if as_json:
        print_json([run.to_dict() for run in found])
        return
    if not found:
        echo("No runs match." if filter_ else "No runs.")
        return
    _print_runs(client, found, columns, with_experiment=len(experiments) != 1)
    if found.token:
        echo(f"Showing the first {len(found)} runs; more match (raise --limit).", dim=True)


def _referenced(filter_: str | None, order_by: Sequence[str]) -> list[tuple[str, str]]:
    """(entity, key) pairs that the filter and the order-by name, in order, without repeats."""
    from heron.core.errors import FilterError
    from heron.store.filters import parse_filter, parse_order_by

    pairs = [(c.entity, c.key) for c in parse_filter(filter_)]
    given: dict[tuple[str, str], str] = {}
    for clause in order_by:
        o = parse_order_by(clause)
        if (o.entity, o.key) in given:
            raise FilterError(
                f"--order-by names the same key twice ({given[(o.entity, o.key)]!r} and "
                f"{clause!r}): give each key once, e.g. -o {clause!r}."
            )
        given[(o.entity, o.key)] = clause
    pairs += list(given)
    return list(dict.fromkeys(p for p in pairs if p[1] not in _DEFAULT_ATTRIBUTES))


def _print_runs(
    client: Client, found: Sequence[Run], columns: list[tuple[str, str]], with_experiment: bool
) -> None:
    experiment_names: dict[str, str] = {}
    if with_experiment and len({run.experiment_id for run in found}) > 1:
        experiment_names = {e.id: e.name for e in client.list_experiments("all")}

    headers: list[Column] = [
        ("run id", {"min_width": SHORT_ID}),
        ("name", NAME_COLUMN),
        ("status", {"min_width": 9}),
        "kind",
        "started",
        ("duration", {"justify": "right"}),
    ]
    rows: list[list[Any]] = []
    for run in found:
        row: list[Any] = [
            short_id(run.id),
            run.name,
            status_text(run.status),
            run.kind,
            format_time(run.start_time, seconds=False),
            format_duration(run.duration_ms),
        ]
        if experiment_names:
            row.insert(2, experiment_names.get(run.experiment_id, run.experiment_id))
        rows.append(row + [_value(run, entity, key) for entity, key in columns])
    if experiment_names:
        headers.insert(2, ("experiment", NAME_COLUMN))

    keys = Counter(key for _, key in columns)
    for entity, key in columns:
        header = key if keys[key] == 1 else f"{_PREFIXES[entity]}.{key}"
        headers.append(_value_column(entity, header))
    used = sum(_width(header, [row[i] for row in rows]) for i, header in enumerate(headers)) - 2
    for key in _extra_metrics(found, columns, used):
        headers.append(_value_column("metric", key))
        for row, run in zip(rows, found):
            row.append(run.metrics.get(key))
    print_table(headers, rows)


def _value_column(entity: str, header: str) -> Column:
    style = {"header_style": _HEADER_STYLES[entity]}
    return (header, {**style, "justify": "right"} if entity == "metric" else style)


def _width(header: Column, values: Sequence[Any]) -> int:
    """The characters a column takes on screen, with the space between columns."""
    name = header if isinstance(header, str) else header[0]
    longest = max([len(name), *(len(cell(v).plain) for v in values)])
    return min(longest, NAME_COLUMN["max_width"]) + 2


def _extra_metrics(found: Sequence[Run], columns: list[tuple[str, str]], used: int) -> list[str]:
    """Up to EXTRA_METRIC_COLUMNS more metric keys, the most common first, that fit the screen."""
    shown = {key for entity, key in columns if entity == "metric"}
    counts = Counter(key for run in found for key in run.metrics if key not in shown)
    extra = []
    for key in sorted(counts, key=lambda k: (-counts[k], k))[:EXTRA_METRIC_COLUMNS]:
        used += _width(key, [run.metrics.get(key) for run in found])
        if used > console().width:
            break
        extra.append(key)
    return sorted(extra)


def _value(run: Run, entity: str, key: str) -> Any:
    if entity == "metric":
        return run.metrics.get(key)
    if entity == "param":
        return run.params.get(key)
    if entity == "tag":
        return run.tags.get(key)
    value = getattr(run, "id" if key == "run_id" else key, None)
    return format_time(value) if key in ("start_time", "end_time") else value


@runs.command()
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show one run in full.

    Its fields, params, latest metrics, tags, artifacts, child runs and, for a failed run,
    the error. RUN_ID may be the full id or its first characters, as `heron runs list` shows them.
    """
    client = open_client()
    run = resolve_run(client, run_id)
    links = client.list_run_artifacts(run.id)
    children = client.search_runs(
        filter=f"attributes.parent_id = '{run.id}'", order_by=["start_time"], view="all"
    )
    if as_json:
        data = run.to_dict()
        data["artifacts"] = [asdict(link) for link in links]
        data["child_run_ids"] = [child.id for child in children]
        print_json(data)
        return
    _print_run(client, run, links, children)


def _print_run(client: Client, run: Run, links: Sequence[Any], children: Sequence[Run]) -> None:
    from heron.core.errors import NotFound

    try:
        experiment = f"{client.get_experiment(run.experiment_id).name} ({run.experiment_id})"
    except NotFound:
        experiment = run.experiment_id
    ended = format_time(run.end_time)
    print_fields(
        [
            ("name", run.name),
            ("experiment", experiment),
            ("status", status_text(run.status)),
            ("kind", run.kind),
            ("lifecycle", run.lifecycle),
            ("started", format_time(run.start_time)),
            ("ended", f"{ended} ({format_duration(run.duration_ms)})" if ended else None),
            ("parent", run.parent_id),
            ("user", run.user),
            ("source", run.source),
            ("git commit", run.git_commit),
            ("python", run.python_version),
        ],
        title=f"Run {run.id}",
    )
    _section("Params", ["param", "value"], sorted(run.params.items()))
    metrics = [(k, format_number(v)) for k, v in sorted(run.metrics.items())]
    _section("Metrics (latest values)", ["metric", "value"], metrics)
    _section("Tags", ["tag", "value"], sorted(run.tags.items()))
    _section(
        "Artifacts",
        ["direction", "name", "version", "type", "size", "id"],
        [_artifact_row(client, link) for link in links],
    )
    _section(
        "Child runs",
        ["run id", "name", "status", "kind", "duration"],
        [
            (short_id(c.id), c.name, status_text(c.status), c.kind, format_duration(c.duration_ms))
            for c in children
        ],
    )
    if run.status_reason:
        echo()
        echo("Error" if run.status == "failed" else "Status reason", bold=True)
        echo(run.status_reason.rstrip(), fg="red" if run.status == "failed" else None)


def _artifact_row(client: Client, link: Any) -> tuple[Any, ...]:
    from heron.core.errors import NotFound

    try:
        art = client.store.get_artifact_version(link.artifact_id)
    except NotFound:
        return (link.direction, link.name, None, None, None, link.artifact_id)
    version = f"{art.name}:{art.version}"
    return (link.direction, link.name, version, art.type, format_size(art.size), art.id)


def _section(title: str, headers: list[str], rows: list[Any]) -> None:
    if rows:
        echo()
        echo(title, bold=True)
        print_table(headers, rows)


@runs.command()
@click.argument("run_id")
def delete(run_id: str) -> None:
    """Delete a run and its child runs.

    Deleted runs are hidden from searches (see them with --view deleted) until
    `heron runs restore` brings them back.
    """
    client = open_client()
    run = resolve_run(client, run_id)
    client.delete_run(run.id)
    echo(f"Deleted run {run.id} ({run.name}). Undo with: heron runs restore {run.id}")


@runs.command()
@click.argument("run_id")
def restore(run_id: str) -> None:
    """Restore a deleted run and its child runs."""
    client = open_client()
    run = resolve_run(client, run_id)
    client.restore_run(run.id)
    echo(f"Restored run {run.id} ({run.name}).")


@runs.command()
@click.argument("run_id")
def logs(run_id: str) -> None:
    """Print what a step run printed (its captured stdout and stderr) and, when it failed,
    its error and traceback.

    For a pipeline run, the output of each of its steps, in the pipeline's order, each under
    a header naming the step.
    """

    def unshown_error(step: Run, text: str) -> str | None:
        # steps that failed with this Heron already have the traceback at the end of their logs
        reason = (step.status_reason or "").strip()
        if step.status not in ("failed", "cancelled", "skipped") or not reason:
            return None
        return None if reason.splitlines()[0] in text else reason

    client = open_client()
    run = resolve_run(client, run_id)
    if run.kind != "pipeline":
        text = client.get_logs(run.id)
        if text:
            click.echo(text, nl=not text.endswith("\n"))
        else:
            echo(f"Run {run.id} ({run.name}) captured no output.", dim=True, err=True)
        error = unshown_error(run, text)
        if error:
            echo(f"Run {run.id} ({run.name}) {run.status}:", bold=True)
            echo(error, fg="red")
        return
    for step in _steps_in_order(client, run):
        text = client.get_logs(step.id)
        lines = len(text.splitlines())
        state = "no output" if not text else f"{lines} line{'' if lines == 1 else 's'}"
        echo(f"── {step.name}  ({short_id(step.id)}, {step.status}, {state}) ──", bold=True)
        if text:
            click.echo(text, nl=not text.endswith("\n"))
        error = unshown_error(step, text) if step.status == "failed" else None
        if error:
            echo(error.splitlines()[0], fg="red")


def child_runs(client: Client, run_id: str, order_by: list[str] | None = None) -> list[Run]:
    """Every child run of ``run_id`` (for a pipeline run: its step runs), deleted ones too."""
    return client.search_runs(
        filter=f"attributes.parent_id = '{run_id}'",
        order_by=order_by,
        max_results=50_000,
        view="all",
    )


def dag_order(client: Client, run: Run) -> list[str]:
    """The step names of a pipeline run in its pipeline version's order (empty if unknown)."""
    from heron.core.errors import NotFound

    if run.pipeline_version_id:
        try:
            structure = client.get_pipeline_version(run.pipeline_version_id).structure
            return [node["id"] for node in structure.get("nodes", [])]
        except NotFound:
            pass
    return []


def _steps_in_order(client: Client, run: Run) -> list[Run]:
    """The step runs of a pipeline run, in the order of its pipeline's DAG."""
    steps = child_runs(client, run.id, order_by=["start_time"])
    rank = {name: i for i, name in enumerate(dag_order(client, run))}
    return sorted(steps, key=lambda s: (rank.get(s.name, len(rank)), s.start_time))


@runs.command()
@click.argument("run_id")
@json_option
def resume(run_id: str, as_json: bool) -> None:
    """Run a failed (or cancelled) pipeline run again, reusing every step that succeeded.

    The steps that completed are not run again (they show as cached); the others run with
    the same parameters and the pipeline's current code. Prints the new run like `heron run`
    and exits with code 1 if it fails again.
    """
    import contextlib

    from heron.cli.run import _import_path, progress_console, report_pipeline_run, stdout_to_stderr

    client = open_client()
    run = resolve_run(client, run_id)
    _import_path()
    progress, show = progress_console(as_json)
    quiet = stdout_to_stderr() if as_json else contextlib.nullcontext()
    spinner = (
        progress.status(f"Resuming pipeline run {short_id(run.id)}…")
        if show and progress.is_terminal
        else contextlib.nullcontext()
    )
    with quiet, spinner:
        result = client.resume_run(run.id)
    report_pipeline_run(client, result, as_json)
