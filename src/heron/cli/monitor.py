"""``heron monitor``: create, list, run and read the monitors of served models.

A monitor compares each window of a model's logged inferences (``heron serve
--log-inferences``) with the data the model was trained on, found through lineage. Its
evaluations are runs of kind ``monitor``; ``heron scheduler`` runs them on their cron.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from heron.cli.drift import DRIFT_EXIT, show_report
from heron.cli.options import json_option
from heron.cli.output import echo, format_time, print_fields, print_json, print_table
from heron.cli.schedules import _store


def _pairs(values: tuple[str, ...], option: str, number: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{text!r}: write COLUMN=VALUE.", param_hint=option)
        if number:
            try:
                out[key.strip()] = float(value)
            except ValueError:
                raise click.BadParameter(
                    f"{text!r}: the threshold is a number.", param_hint=option
                ) from None
        else:
            out[key.strip()] = value.strip()
    return out


def _on_drift(values: tuple[str, ...]) -> str | None:
    retrain = None
    for text in values:
        action, _, target = text.partition("=")
        if action == "record" and not target:
            continue
        if action == "retrain" and target.strip():
            retrain = target.strip()
            continue
        raise click.BadParameter(
            f"{text!r}: use retrain=PIPELINE (file.py:name or module:name) or record.",
            param_hint="--on-drift",
        )
    return retrain


@click.group()
def monitor() -> None:
    """Watch a served model's inputs and predictions for drift from its training data."""


@monitor.command()
@click.argument("name")
@click.argument("model_uri")
@click.option("--cron", default="@hourly", show_default=True, help="When it evaluates.")
@click.option("--timezone", default="UTC", show_default=True, metavar="IANA")
@click.option(
    "--window",
    default="1h",
    show_default=True,
    help="How much of the inference log each evaluation reads (30m, 1h, 2d, ...).",
)
@click.option(
    "--reference",
    metavar="ARTIFACT",
    help="Compare with this artifact (NAME[:VERSION]) instead of the training data lineage finds.",
)
@click.option("--columns", metavar="A,B", help="Compare only these columns.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="COLUMN=X",
    help="A column's drift threshold (repeatable).",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="COLUMN=METHOD",
    help="A column's method: ks, wasserstein, chisquare, z, jensenshannon, psi (repeatable).",
)
@click.option("--drift-share", type=float, default=0.5, show_default=True)
@click.option("--min-rows", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--on-drift",
    "on_drift",
    multiple=True,
    metavar="ACTION",
    help="retrain=PIPELINE: start that pipeline on drift (through `heron scheduler`); "
    "record (the default): only record it.",
)
@click.option(
    "-p",
    "--retrain-param",
    "retrain_params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the retraining pipeline (repeatable).",
)
@click.option("--webhook", metavar="URL", help="POST a JSON message here on drift.")
@click.option(
    "--inference-log-uri",
    metavar="URI",
    help="Where the model's inferences are logged, when not under the artifact root.",
)
@click.option(
    "--paused", is_flag=True, help="Create it paused (a changed monitor keeps its state)."
)
@json_option
def create(
    name: str,
    model_uri: str,
    cron: str,
    timezone: str,
    window: str,
    reference: str | None,
    columns: str | None,
    thresholds: tuple[str, ...],
    methods: tuple[str, ...],
    drift_share: float,
    min_rows: int,
    on_drift: tuple[str, ...],
    retrain_params: tuple[str, ...],
    webhook: str | None,
    inference_log_uri: str | None,
    paused: bool,
    as_json: bool,
) -> None:
    """Create (or change) monitor NAME of MODEL_URI, e.g. models:/wine@champion.

    \b
    heron monitor create wine-drift models:/wine@champion --cron "0 * * * *" --window 1h \\
          --on-drift retrain=examples/wine_pipeline.py:training --webhook https://hooks/...
    """
    from heron.monitoring.monitors import create_monitor

    retrain = _on_drift(on_drift)
    params: dict[str, Any] = {}
    if retrain_params:
        if retrain is None:
            raise click.BadParameter(
                "retraining parameters need --on-drift retrain=PIPELINE.",
                param_hint="--retrain-param",
            )
        from heron.cli.run import load_target, typed_params

        params = typed_params(load_target(retrain), retrain_params)
    found = create_monitor(
        name,
        model_uri,
        window=window,
        cron=cron,
        timezone=timezone,
        reference=reference,
        columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
        thresholds=_pairs(thresholds, "--threshold", number=True),
        methods=_pairs(methods, "--method", number=False),
        drift_share=drift_share,
        min_rows=min_rows,
        retrain=retrain,
        retrain_params=params,
        webhook=webhook,
        inference_log_uri=inference_log_uri,
        paused=True if paused else None,
        store=_store(create=True),
    )
    if as_json:
        print_json(found.to_dict())
        return
    echo(
        f"Monitor {found.name!r} watches {found.spec.model}: every {found.schedule.trigger}, "
        f"the last {_window(found.spec.window)} of logged inferences."
    )
    if found.spec.retrain:
        echo(f"On drift it starts {found.spec.retrain} (schedule {found.spec.retrain_schedule}).")
    echo("`heron scheduler` runs it; `heron monitor run " + found.name + "` evaluates it now.")


def _window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@monitor.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the monitors."""
    from heron.monitoring.monitors import list_monitors

    found = list_monitors(_store())
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    if not found:
        echo("No monitors. Create one with `heron monitor create NAME MODEL_URI`.")
        return
    print_table(
        ["name", "model", "window", "schedule", "on drift", "state"],
        [
            [
                m.name,
                m.spec.model,
                _window(m.spec.window),
                m.schedule.trigger,
                ", ".join(_actions(m.spec)),
                "paused" if m.schedule.paused else "active",
            ]
            for m in found
        ],
    )


def _actions(spec: Any) -> list[str]:
    actions = ["record"]
    if spec.retrain:
        actions.append(f"retrain {spec.retrain}")
    if spec.webhook:
        actions.append("webhook")
    return actions


@monitor.command()
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show monitor NAME and its last evaluation."""
    from heron.monitoring.evaluation import evaluation_runs
    from heron.monitoring.monitors import get_monitor
    from heron.scheduling.context import iso

    store = _store()
    found = get_monitor(name, store)
    last = evaluation_runs(name, store, max_results=1)
    if as_json:
        print_json({**found.to_dict(), "last_evaluation": _summary(last[0]) if last else None})
        return
    spec, sch = found.spec, found.schedule
    print_fields(
        [
            ("model", spec.model),
            ("window", _window(spec.window)),
            ("schedule", sch.trigger),
            ("reference", spec.reference or "the training data, through lineage"),
            ("columns", ", ".join(spec.columns) if spec.columns else "the model's inputs"),
            ("thresholds", spec.thresholds or None),
            ("methods", spec.methods or None),
            ("drift share", f"{spec.drift_share:.0%}"),
            ("min rows", spec.min_rows),
            ("on drift", ", ".join(_actions(spec))),
            ("webhook", spec.webhook),
            ("state", "paused" if sch.paused else "active"),
            ("next due", iso(sch.next_due_at, sch.timezone) if sch.next_due_at else None),
            ("last evaluation", _last(last[0]) if last else "none yet"),
        ],
        title=name,
    )


def _last(run: Any) -> str:
    status = run.tags.get("heron.monitor.status") or run.status
    return f"{format_time(run.start_time)}: {status} (run {run.id[:8]})"


@monitor.command()
@click.argument("name")
@click.confirmation_option(prompt="Delete the monitor (its evaluations stay)?")
def delete(name: str) -> None:
    """Delete monitor NAME and its retraining schedule; its evaluation runs stay."""
    from heron.monitoring.monitors import delete_monitor

    delete_monitor(name, _store())
    echo(f"Deleted monitor {name!r}.")


@monitor.command()
@click.argument("name")
def pause(name: str) -> None:
    """Stop evaluating monitor NAME on its schedule."""
    from heron.monitoring.monitors import set_monitor_paused

    set_monitor_paused(name, True, _store())
    echo(f"Paused monitor {name!r}.")


@monitor.command()
@click.argument("name")
def resume(name: str) -> None:
    """Evaluate monitor NAME on its schedule again."""
    from heron.monitoring.monitors import set_monitor_paused

    set_monitor_paused(name, False, _store())
    echo(f"Resumed monitor {name!r}.")


@monitor.command()
@click.argument("name")
@click.option(
    "--at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
    help="The end of the window, in UTC (default: now).",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit with status {DRIFT_EXIT} when the data drifted.",
)
@json_option
def run(name: str, at: Any, fail_on_drift: bool, as_json: bool) -> None:
    """Evaluate monitor NAME now, as a run of kind monitor (its actions included)."""
    from heron.monitoring.evaluation import evaluate

    evaluation = evaluate(name, at=at, store=_store())
    if as_json:
        print_json(evaluation.to_dict())
    else:
        _show_evaluation(evaluation.to_dict(), evaluation.report)
    if fail_on_drift and evaluation.status == "drifted":
        raise click.exceptions.Exit(DRIFT_EXIT)


def _show_evaluation(data: dict[str, Any], report: Any) -> None:
    reference = data["reference"]
    echo(
        f"Monitor {data['monitor']}: {data['model_uri']} version {data['model_version']}, "
        f"window {data['window_start']} to {data['window_end']}"
    )
    echo(f"Reference: {reference['name']}:{reference['version']} ({reference['how']})")
    show_report(report)
    for issue in data["quality"]:
        style = "red" if issue["severity"] == "error" else "yellow"
        echo(f"{issue['severity']}: {issue['column']}: {issue['message']}", fg=style)
    for note in data["notes"]:
        echo(note, fg="yellow")
    for action, outcome in data["actions"].items():
        echo(f"{action}: {outcome}")
    echo(f"Run {data['run_id']}.")


@monitor.command()
@click.argument("name")
@click.option("--last", is_flag=True, help="The drift table of the last evaluation.")
@click.option("--run", "run_id", metavar="RUN_ID", help="The drift table of this evaluation.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write that evaluation's HTML report (distributions as charts) to this file.",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@json_option
def report(
    name: str,
    last: bool,
    run_id: str | None,
    html_path: Path | None,
    limit: int,
    as_json: bool,
) -> None:
    """The evaluations of monitor NAME; with --last or --run, one evaluation's drift table.

    \b
    heron monitor report wine-drift               # the history
    heron monitor report wine-drift --last        # the last drift table
    heron monitor report wine-drift --last --html report.html
    """
    from heron.monitoring.comparison import report_from_dict
    from heron.monitoring.evaluation import evaluation_runs, stored_report
    from heron.monitoring.monitors import get_monitor

    store = _store()
    get_monitor(name, store)
    if not (last or run_id or html_path):
        runs = evaluation_runs(name, store, max_results=limit)
        if as_json:
            print_json([_summary(r) for r in runs])
            return
        if not runs:
            echo(f"Monitor {name!r} has no evaluations yet: `heron monitor run {name}`.")
            return
        print_table(
            ["started", "run", "version", "rows", "drifted", "status"],
            [
                [
                    format_time(r.start_time),
                    r.id[:8],
                    r.tags.get("heron.monitor.model_version"),
                    _int(r.metrics.get("drift.n_current")),
                    _share(r.metrics.get("drift.share_drifted")),
                    r.tags.get("heron.monitor.status") or r.status,
                ]
                for r in runs
            ],
            title=f"Evaluations of {name}",
        )
        return
    if run_id:
        chosen = store.get_run(run_id)
        if chosen.tags.get("heron.monitor") != name:
            raise click.BadParameter(
                f"run {run_id} is not an evaluation of monitor {name!r}.", param_hint="--run"
            )
    else:
        runs = evaluation_runs(name, store, max_results=1)
        if not runs:
            raise click.ClickException(
                f"Monitor {name!r} has no evaluations yet: `heron monitor run {name}`."
            )
        chosen = runs[0]
    if html_path:
        html_path.write_text(stored_report(chosen, "html", store), encoding="utf-8")
        echo(f"Wrote the HTML report of run {chosen.id} to {html_path}.")
        if not (last or run_id):
            return
    data = stored_report(chosen, "json", store)
    if as_json:
        print_json(data)
        return
    _show_evaluation(data, report_from_dict(data["report"]))


def _summary(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "start_time": run.start_time,
        "status": run.tags.get("heron.monitor.status") or run.status,
        "model_version": run.tags.get("heron.monitor.model_version"),
        "rows": run.metrics.get("drift.n_current"),
        "share_drifted": run.metrics.get("drift.share_drifted"),
    }


def _int(value: float | None) -> str | None:
    return None if value is None else f"{int(value):,}"


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"
