"""``heron schedules``, ``heron scheduler``, ``heron backfill`` and ``heron backfills``."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.options import json_option
from heron.cli.output import echo, format_time, print_fields, print_json, print_table

CATCHUP = click.Choice(["none", "latest", "all"])


def _store(create: bool = False) -> Any:
    """The schedules' store; it must exist unless ``create`` (a first write)."""
    from heron.core import config
    from heron.scheduling.definitions import schedule_store

    if not create:
        config.require_existing_store(config.get_tracking_uri())
    return schedule_store()


def _when(ms: int | None, zone: str) -> str | None:
    from heron.scheduling.context import iso

    return None if ms is None else iso(ms, zone)


def _params(reference: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    from heron.cli.run import load_target, typed_params

    if not pairs:
        return {}
    return typed_params(load_target(reference), pairs)


def _definition_options(func: Any) -> Any:
    options = [
        click.option("--cron", metavar="EXPR", help="Five-field cron, e.g. '0 3 * * *'."),
        click.option(
            "--timezone",
            metavar="IANA",
            help="The timezone of the cron's wall-clock times (default UTC).",
        ),
        click.option(
            "--on-artifact",
            "on_artifacts",
            multiple=True,
            metavar="NAME",
            help="Run when every listed artifact has a new version (repeatable).",
        ),
        click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="KEY=VALUE",
            help="A pipeline parameter (repeatable), as `heron run` takes it.",
        ),
        click.option("--catchup", type=CATCHUP, help="Missed intervals: none, latest or all."),
        click.option("--max-active-runs", type=click.IntRange(min=1), help="Runs at once."),
        click.option(
            "--max-lateness",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Skip a run that would start later than this after its logical time.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _print_schedule(sch: Any, as_json: bool) -> None:
    if as_json:
        print_json(sch.to_dict())
        return
    print_fields(
        [
            ("id", sch.id),
            ("pipeline", sch.pipeline),
            ("trigger", sch.trigger),
            ("params", sch.params or None),
            ("catchup", sch.catchup),
            ("max active runs", sch.max_active_runs),
            ("max lateness", f"{sch.max_lateness:g} s" if sch.max_lateness else None),
            ("state", "paused" if sch.paused else "active"),
            ("next due", _when(sch.next_due_at, sch.timezone) if not sch.paused else None),
            ("created", format_time(sch.created_at)),
        ],
        title=sch.name,
    )


@click.group()
def schedules() -> None:
    """Create, list and change schedules; `heron scheduler` runs them."""


@schedules.command()
@click.argument("name")
@click.argument("pipeline", metavar="PIPELINE")
@_definition_options
@click.option("--paused", is_flag=True, help="Create it paused.")
@json_option
def create(
    name: str,
    pipeline: str,
    cron: str | None,
    timezone: str | None,
    on_artifacts: tuple[str, ...],
    params: tuple[str, ...],
    catchup: str | None,
    max_active_runs: int | None,
    max_lateness: float | None,
    paused: bool,
    as_json: bool,
) -> None:
    """Create schedule NAME running PIPELINE (file.py:name or module:name)."""
    from heron.scheduling import definitions

    store = _store(create=True)
    values = definitions.check_definition(
        name=name,
        pipeline=pipeline,
        params=_params(pipeline, params),
        cron=cron,
        timezone=timezone or "UTC",
        on_artifacts=list(on_artifacts) or None,
        catchup=catchup or "latest",
        max_active_runs=max_active_runs or 1,
        max_lateness=max_lateness,
    )
    sch = definitions.create(store, values, paused=paused)
    if as_json:
        print_json(sch.to_dict())
    else:
        nxt = _when(sch.next_due_at, sch.timezone)
        echo(f"Created schedule {sch.name!r}: {sch.trigger}" + (f", next {nxt}." if nxt else "."))


@schedules.command()
@click.argument("name")
@click.option("--pipeline", metavar="PIPELINE", help="Run another pipeline.")
@_definition_options
@json_option
def update(
    name: str,
    pipeline: str | None,
    cron: str | None,
    timezone: str | None,
    on_artifacts: tuple[str, ...],
    params: tuple[str, ...],
    catchup: str | None,
    max_active_runs: int | None,
    max_lateness: float | None,
    as_json: bool,
) -> None:
    """Change schedule NAME; what is not given stays. A new trigger starts from now."""
    from heron.scheduling import definitions

    store = _store()
    current = store.get_schedule(name)
    reference = pipeline or current.pipeline
    trigger = {"cron": current.cron, "on_artifacts": current.on_artifacts}
    if cron:
        trigger = {"cron": cron, "on_artifacts": None}
    elif on_artifacts:
        trigger = {"cron": None, "on_artifacts": list(on_artifacts)}
    values = definitions.check_definition(
        name=current.name,
        pipeline=reference,
        params=_params(reference, params) if params else current.params,
        timezone=timezone or current.timezone,
        catchup=catchup or current.catchup,
        max_active_runs=max_active_runs or current.max_active_runs,
        max_lateness=max_lateness if max_lateness is not None else current.max_lateness,
        **trigger,
    )
    _print_schedule(definitions.change(store, current, values), as_json)


@schedules.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the schedules with their triggers and next due times."""
    store = _store()
    found = store.list_schedules()
    if as_json:
        print_json([x.to_dict() for x in found])
        return
    _print_schedulers(store)
    if not found:
        echo("No schedules. Create one with `heron schedules create NAME PIPELINE --cron ...`.")
        return
    print_table(
        ["name", "pipeline", "trigger", "catchup", "state", "next due"],
        (
            [
                x.name,
                x.pipeline.rpartition("/")[2],
                x.trigger,
                x.catchup,
                "paused" if x.paused else "active",
                None if x.paused else _when(x.next_due_at, x.timezone),
            ]
            for x in found
        ),
    )


def _print_schedulers(store: Any) -> None:
    """One line on the schedulers: who is alive (a heartbeat in the last minute)."""
    import time

    now = int(time.time() * 1000)
    alive = [x for x in store.list_schedulers() if x.stopped_at is None]
    fresh = [x for x in alive if now - x.heartbeat_at < 60_000]
    if fresh:
        names = ", ".join(f"{x.name} ({x.running} running)" for x in fresh)
        echo(f"Schedulers alive: {names}.")
    else:
        echo("No scheduler is running: start one with `heron scheduler`.")


@schedules.command()
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show schedule NAME."""
    _print_schedule(_store().get_schedule(name), as_json)


@schedules.command()
@click.argument("name")
def pause(name: str) -> None:
    """Pause schedule NAME: no new ticks until it is resumed."""
    from heron.scheduling.definitions import set_paused

    sch = set_paused(name, True, _store())
    echo(f"Paused schedule {sch.name!r}.")


@schedules.command()
@click.argument("name")
def resume(name: str) -> None:
    """Resume schedule NAME; intervals missed while paused follow its catchup."""
    from heron.scheduling.definitions import set_paused

    sch = set_paused(name, False, _store())
    echo(f"Resumed schedule {sch.name!r} (catchup {sch.catchup}).")


@schedules.command()
@click.argument("name")
def delete(name: str) -> None:
    """Delete schedule NAME with its ticks and backfills (its runs stay)."""
    store = _store()
    sch = store.get_schedule(name)
    store.delete_schedule(sch.id)
    echo(f"Deleted schedule {sch.name!r}; its runs are kept.")


def _tick_rows(found: list[Any], zone: str) -> Any:
    for t in found:
        yield [
            _when(t.logical_time, zone),
            t.status,
            t.run_id[:8] if t.run_id else None,
            t.attempt,
            t.backfill_id[:8] if t.backfill_id else None,
            t.reason,
        ]


@schedules.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--status", "statuses", multiple=True, help="Only ticks with this status.")
@json_option
def ticks(name: str, limit: int, statuses: tuple[str, ...], as_json: bool) -> None:
    """The newest ticks of schedule NAME: the run each started, or why none."""
    store = _store()
    sch = store.get_schedule(name)
    found = store.list_ticks(sch.id, statuses=list(statuses) or None, limit=limit)
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    if not found:
        echo(f"Schedule {sch.name!r} has no ticks yet.")
        return
    print_table(
        ["logical time", "status", "run", "attempt", "backfill", "reason"],
        _tick_rows(found, sch.timezone),
    )


def _run_loop(scheduler: Any, until_done: bool = False) -> None:
    import signal
    import threading

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        scheduler.wake.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.run(stop, until_done=until_done)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.command()
@click.option("--max-runs", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=0.25,
    show_default=True,
    metavar="SECONDS",
    help="The longest wait between passes (due ticks wake it at their time).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def scheduler(max_runs: int, poll: float, log_level: str) -> None:
    """Run the schedules: each due interval becomes a pipeline run in a child process.

    Several schedulers may run at once (on one or more machines): the store makes sure no
    interval runs twice. Ctrl-C or SIGTERM stops it after the pass in progress; runs in
    flight go on and the next scheduler records how they ended.
    """
    from heron.scheduling.scheduler import Scheduler

    _logging(log_level)
    store = _store()
    _run_loop(Scheduler(store, max_runs=max_runs, poll_seconds=poll))


def _backfill_schedule(store: Any, target: str, cron: str | None, timezone: str | None) -> str:
    """The schedule a backfill runs on: ``target`` itself, or for a pipeline reference with
    ``--cron``, a paused schedule of its own (``<pipeline>.backfill``)."""
    from heron.core.errors import NotFound
    from heron.scheduling import definitions

    if cron is None:
        return target
    name = target.rpartition(":")[2] or target.rpartition("/")[2].removesuffix(".py")
    name = f"{name}.backfill"
    try:
        current = store.get_schedule(name)
    except NotFound:
        values = definitions.check_definition(
            name=name,
            pipeline=target,
            params={},
            cron=cron,
            timezone=timezone or "UTC",
            on_artifacts=None,
            catchup="none",
            max_active_runs=1,
            max_lateness=None,
        )
        definitions.create(store, values, paused=True)
        return name
    if current.cron != cron or current.timezone != (timezone or "UTC"):
        definitions.change(store, current, {"cron": cron, "timezone": timezone or "UTC"})
    return name


@click.command()
@click.argument("target", metavar="SCHEDULE_OR_PIPELINE")
@click.option("--start", required=True, help="First day (2026-01-01) or date and time.")
@click.option("--end", required=True, help="Last day (included) or date and time.")
@click.option(
    "--reprocess",
    type=click.Choice(["missing", "failed", "all"]),
    default="missing",
    show_default=True,
    help="Which intervals run: never ran / also failed / every one.",
)
@click.option("--max-active-runs", type=click.IntRange(min=1), help="Runs at once.")
@click.option("--backwards", is_flag=True, help="Newest interval first.")
@click.option("--dry-run", is_flag=True, help="List the intervals it would run; run nothing.")
@click.option("--yes", is_flag=True, help="Allow more than 100,000 intervals.")
@click.option("--cron", help="For a pipeline reference: the intervals of this cron.")
@click.option("--timezone", metavar="IANA", help="With --cron: its timezone (default UTC).")
@click.option("--no-wait", is_flag=True, help="Queue it for the running schedulers and return.")
@click.option("--max-runs", type=click.IntRange(min=1), default=16, show_default=True)
@json_option
def backfill(
    target: str,
    start: str,
    end: str,
    reprocess: str,
    max_active_runs: int | None,
    backwards: bool,
    dry_run: bool,
    yes: bool,
    cron: str | None,
    timezone: str | None,
    no_wait: bool,
    max_runs: int,
    as_json: bool,
) -> None:
    """Run a range of a schedule's intervals (or of a pipeline's, with --cron), then wait
    for them (a scheduler loop of its own; running schedulers help)."""
    from heron.scheduling import backfill as backfills

    store = _store(create=cron is not None)
    if dry_run:
        if cron is not None:
            raise click.UsageError("--dry-run with --cron: create the schedule first.")
        chosen = backfills.plan(target, start, end, reprocess=reprocess, yes=yes, store=store)
        if as_json:
            print_json(chosen.to_dict())
            return
        data = chosen.to_dict()
        echo(
            f"Would run {len(chosen.run)} of {len(chosen.intervals)} intervals of "
            f"{chosen.schedule.name!r} (--reprocess {reprocess}); "
            f"{len(chosen.keep)} left as they are."
        )
        for moment in data["run"][::-1] if backwards else data["run"]:
            echo(f"  {moment}")
        return
    name = _backfill_schedule(store, target, cron, timezone)
    created = backfills.backfill(
        name,
        start,
        end,
        reprocess=reprocess,
        max_active_runs=max_active_runs,
        backwards=backwards,
        yes=yes,
        store=store,
    )
    if not as_json:
        echo(f"Backfill {created.id}: {created.intervals} interval(s) of {name!r} queued.")
    if not no_wait and created.intervals:
        from heron.scheduling.scheduler import Scheduler

        _logging("warning")
        _run_loop(Scheduler(store, max_runs=max_runs, backfill_id=created.id), until_done=True)
    done = store.get_backfill(created.id)
    if as_json:
        print_json(done.to_dict())
    else:
        echo(f"Backfill {done.id}: {done.status}; {_progress(done)}.")
    if done.progress.get("failed"):
        raise SystemExit(1)


def _progress(b: Any) -> str:
    p = b.progress
    done = p.get("succeeded", 0)
    return (
        f"{done} done, {p.get('failed', 0)} failed, {p.get('running', 0)} running, "
        f"{p.get('queued', 0)} pending, {p.get('cancelled', 0)} cancelled"
    )


@click.group()
def backfills() -> None:
    """List, show and cancel backfills."""


@backfills.command("list")
@click.option("--schedule", "schedule_name", help="Only the backfills of this schedule.")
@json_option
def backfills_list(schedule_name: str | None, as_json: bool) -> None:
    """List backfills, newest first, with their progress."""
    store = _store()
    schedule_id = store.get_schedule(schedule_name).id if schedule_name else None
    found = store.list_backfills(schedule_id)
    if as_json:
        print_json([b.to_dict() for b in found])
        return
    if not found:
        echo("No backfills.")
        return
    names = {x.id: x for x in store.list_schedules()}
    rows = []
    for b in found:
        sch = names.get(b.schedule_id)
        zone = sch.timezone if sch else "UTC"
        rows.append(
            [
                b.id,
                sch.name if sch else b.schedule_id,
                f"{_when(b.start, zone)} .. {_when(b.end, zone)}",
                b.status,
                _progress(b),
            ]
        )
    print_table(["id", "schedule", "range", "status", "progress"], rows)


@backfills.command("show")
@click.argument("backfill_id", metavar="ID")
@json_option
def backfills_show(backfill_id: str, as_json: bool) -> None:
    """Show backfill ID: its range, options and progress."""
    store = _store()
    b = store.get_backfill(backfill_id)
    if as_json:
        print_json(b.to_dict())
        return
    sch = store.get_schedule(b.schedule_id)
    print_fields(
        [
            ("schedule", sch.name),
            ("range", f"{_when(b.start, sch.timezone)} .. {_when(b.end, sch.timezone)}"),
            ("reprocess", b.reprocess),
            ("max active runs", b.max_active_runs),
            ("order", "newest first" if b.backwards else "oldest first"),
            ("status", b.status),
            ("intervals", b.intervals),
            ("progress", _progress(b)),
            ("created", format_time(b.created_at)),
        ],
        title=f"backfill {b.id}",
    )


@backfills.command("cancel")
@click.argument("backfill_id", metavar="ID")
def backfills_cancel(backfill_id: str) -> None:
    """Cancel backfill ID: nothing more is launched and its running runs are stopped."""
    from heron.scheduling import backfill as backfill_module

    b = backfill_module.cancel(backfill_id, _store())
    echo(f"Cancelled backfill {b.id}; {_progress(b)}.")
