"""``heron run``: run a pipeline from a file or a module, with live progress per step.

The progress display (:class:`StepProgress`) and the final report (:func:`report_pipeline_run`)
are shared with ``heron runs resume``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import json_option
from heron.cli.output import (
    SHORT_ID,
    echo,
    format_duration,
    print_json,
    print_table,
    short_id,
    status_text,
)
from heron.cli.runs import child_runs, dag_order

if TYPE_CHECKING:
    from rich.console import Console

    from heron.core.entities import Run
    from heron.pipelines.result import PipelineRun
    from heron.tracking.client import Client

#: statuses a step ends with, as the progress display marks them
_MARKS = {"completed": "✓", "cached": "✓", "failed": "✗", "skipped": "-", "cancelled": "!"}


def parse_params(pairs: tuple[str, ...], param_hint: str = "-p/--param") -> dict[str, Any]:
    """``-p key=value`` pairs as a dict; a value is read as JSON when it parses, else kept as
    text (``n=5`` -> 5, ``flag=true`` -> True, ``names=["a"]`` -> ["a"], ``name=iris`` -> "iris").
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint=param_hint)
        if key in params:
            raise click.BadParameter(f"{key!r} is given twice.", param_hint=param_hint)
        params[key] = _value(text)
    return params


def typed_params(pipeline: Any, pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-p key=value`` pairs as the parameters of ``pipeline``, each checked against (and
    where the text says more, converted to) its annotation before anything runs: ``n=abc``
    for ``n: int`` is a usage error naming the parameter, the type and the value; ``v=1.10``
    for ``v: str`` stays the text ``"1.10"``; ``flag=yes`` for ``flag: bool`` is ``True``.
    Parameters without annotation (or of types other than JSON's) are taken as parsed."""
    values = parse_params(pairs)
    texts = {key.strip(): text for key, _, text in (pair.partition("=") for pair in pairs)}
    hints = _annotations(pipeline)
    for key, value in values.items():
        hint = hints.get(key, Any)
        ok, converted = _coerce(texts[key], value, hint)
        if not ok:
            raise click.BadParameter(
                f"parameter {key!r} of pipeline {pipeline.name!r} expects {_type_name(hint)}, "
                f"got {texts[key]!r}.",
                param_hint="-p/--param",
            )
        values[key] = converted
    return values


def _annotations(pipeline: Any) -> dict[str, Any]:
    """The pipeline function's parameter annotations, resolved; those that cannot be (a
    forward reference to nothing) are left out, and not checked."""
    import inspect
    import typing

    try:
        return typing.get_type_hints(pipeline.fn)
    except Exception:
        hints = {}
        for name, parameter in pipeline.signature.parameters.items():
            annotation = parameter.annotation
            if annotation is not inspect.Parameter.empty and not isinstance(annotation, str):
                hints[name] = annotation
        return hints


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(text: str | None, value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether ``value`` (parsed from ``text``, when it came from the command line) fits the
    annotation ``hint``, and the value the parameter gets. Types other than JSON's pass."""
    import types
    import typing
    from collections import abc

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return True, value
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        for option in sorted(args, key=lambda a: a is not type(None) if value is None else 0):
            ok, converted = _coerce(text, value, option)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        for option in args:
            if value == option and type(value) is type(option):
                return True, value
            if text is not None and isinstance(option, str) and text == option:
                return True, text
        return False, value
    if origin is typing.Annotated:
        return _coerce(text, value, args[0])
    if hint is type(None) or hint is None:
        if value is None or (text is not None and text.strip().lower() in ("none", "null")):
            return True, None
        return False, value
    if hint is bool:
        if isinstance(value, bool):
            return True, value
        word = (text if text is not None else str(value)).strip().lower()
        if word in _TRUE or word in _FALSE:
            return True, word in _TRUE
        return False, value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, value  # an int where a float is expected, as Python itself allows
        return False, value
    if hint is str:
        if text is not None:
            return True, text  # as typed: `-p version=1.10` is "1.10", not 1.1
        return isinstance(value, str), value
    container = origin or hint
    if container in (list, tuple, set, frozenset, abc.Sequence):
        if not isinstance(value, list):
            return False, value
        if not args or (container is tuple and len(args) == 2 and args[1] is Ellipsis):
            element = args[0] if args else Any
            checked = [_coerce(None, item, element) for item in value]
        elif container is tuple:
            if len(args) != len(value):
                return False, value
            checked = [_coerce(None, item, a) for item, a in zip(value, args)]
        else:
            checked = [_coerce(None, item, args[0]) for item in value]
        return all(ok for ok, _ in checked), [item for _, item in checked]
    if container in (dict, abc.Mapping):
        if not isinstance(value, dict):
            return False, value
        element = args[1] if len(args) == 2 else Any
        checked = {k: _coerce(None, v, element) for k, v in value.items()}
        return all(ok for ok, _ in checked.values()), {k: v for k, (_, v) in checked.items()}
    return True, value  # not a JSON type: the pipeline gets the value as parsed


def _type_name(hint: Any) -> str:
    import types
    import typing

    if typing.get_origin(hint) is typing.Union or type(hint) is getattr(types, "UnionType", ()):
        return " | ".join(_type_name(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not hasattr(hint, "__origin__"):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def _value(text: str) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(name)  # NaN, Infinity: keep the text

    try:
        return json.loads(text, parse_constant=no_constants)
    except ValueError:
        return text


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout in the block (by steps, in this process or in worker
    processes) to stderr, so that ``--json`` output stays alone on stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class StepProgress:
    """The ``on_event`` callback of a pipeline run that shows each step as it runs.

    On a terminal it is a live table (every step, a spinner while it runs, its time); otherwise
    one line per event (``load: running``, ``load: completed in 12ms``), for logs and CI.
    ``enabled=False`` shows nothing.
    """

    def __init__(self, console: Console, steps: list[str] | None = None, enabled: bool = True):
        self.console = console
        self.enabled = enabled
        self.live_mode = enabled and console.is_terminal
        self.order = list(steps or [])
        self.status: dict[str, str] = dict.fromkeys(self.order, "pending")
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self._live: Any = None

    def __enter__(self) -> StepProgress:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, kind: str, node_id: str, outcome: Any) -> None:
        if node_id not in self.status:
            self.order.append(node_id)
        if kind == "start":
            self.status[node_id] = "running"
            self.started[node_id] = time.monotonic()
        else:
            self.status[node_id] = outcome.status if outcome is not None else "skipped"
            if node_id in self.started:
                self.elapsed[node_id] = time.monotonic() - self.started[node_id]
        if self.enabled and not self.live_mode:
            self._line(kind, node_id)

    def _line(self, kind: str, node_id: str) -> None:
        from rich.text import Text

        status = self.status[node_id]
        line = Text(f"{node_id}: ")
        line.append(status_text(status))
        if kind == "end" and node_id in self.elapsed and status in ("completed", "failed"):
            line.append(f" in {format_duration(int(self.elapsed[node_id] * 1000))}", style="dim")
        self.console.print(line)

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        for _ in range(4):
            table.add_column(no_wrap=True)
        now = time.monotonic()
        for node_id in self.order:
            status = self.status[node_id]
            if status == "running":
                mark: Any = Spinner("dots", style="cyan")
                seconds = now - self.started[node_id]
            else:
                mark = Text(_MARKS.get(status, "·"), style="dim" if status == "pending" else "")
                seconds = self.elapsed.get(node_id)
            took = "" if seconds is None else format_duration(int(seconds * 1000))
            table.add_row(mark, node_id, status_text(status), Text(took or "", style="dim"))
        done = sum(1 for s in self.status.values() if s not in ("pending", "running"))
        title = Text(f"Running {len(self.order)} steps: {done} done", style="bold")
        outer = Table.grid()
        outer.add_row(title)
        outer.add_row(table)
        return outer


def progress_console(as_json: bool) -> tuple[Console, bool]:
    """The console progress goes to, and whether to show it: stdout for humans; with
    ``--json``, stderr and only on a terminal (scripts get JSON and nothing else).

    On a terminal the console is bound to the stream itself: a live display replaces
    ``sys.stdout`` while steps (which tee ``sys.stdout``) print, and a console that looked the
    stream up on each write would write into itself.
    """
    from heron.cli.output import console

    stream = sys.stderr if as_json else sys.stdout
    if not stream.isatty():
        return console(), not as_json
    from rich.console import Console

    return Console(file=stream, highlight=False), True


def step_runs(client: Client, result: PipelineRun) -> dict[str, Run]:
    """The stored step runs of a pipeline run, by step name (for their start and end times)."""
    return {run.id: run for run in child_runs(client, result.id)}


def step_order(client: Client, run: Run, result: PipelineRun) -> list[str]:
    """Step names in the DAG's order (the pipeline version's), then any others."""
    names = dag_order(client, run)
    return [n for n in names if n in result.steps] + [n for n in result.steps if n not in names]


def pipeline_run_dict(result: PipelineRun, run: Run, stored: dict[str, Run]) -> dict[str, Any]:
    """The JSON form of a finished pipeline run: its id, status and each step's outcome."""
    from heron.pipelines.runner import RESUMED_FROM_TAG

    steps = {}
    for name, step in result.steps.items():
        step_run = stored.get(step.id or "")
        steps[name] = {
            "run_id": step.id,
            "status": step.status,
            "cached": step.cached,
            "duration_ms": step_run.duration_ms if step_run else None,
            "error": step.error,
            "outputs": {
                output: {"id": av.id, "name": av.name, "version": av.version, "type": av.type}
                for output, av in step.outputs.items()
            },
        }
    return {
        "id": result.id,
        "name": run.name,
        "pipeline": result.name,
        "status": result.status,
        "duration_ms": run.duration_ms,
        "error": result.error,
        "failed_steps": result.failed_steps,
        "resumed_from": run.tags.get(RESUMED_FROM_TAG),
        "steps": steps,
    }


def report_pipeline_run(client: Client, result: PipelineRun, as_json: bool) -> None:
    """Print a finished pipeline run (table or JSON); exit with code 1 when it failed."""
    from heron.cli.main import CliError

    run = client.get_run(result.id)
    stored = step_runs(client, result)
    if as_json:
        print_json(pipeline_run_dict(result, run, stored))
    else:
        _print_steps(client, result, run, stored)
    if result.status != "completed":
        failed = result.failed_steps
        if not failed:
            raise CliError(f"pipeline run {result.id} ended {result.status}.")
        first = (result.steps[failed[0]].error or "").strip().splitlines()
        detail = f": {first[0]}" if first else ""
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise CliError(f"step {failed[0]!r}{more} failed{detail}")


def _print_steps(client: Client, result: PipelineRun, run: Run, stored: dict[str, Run]) -> None:
    from heron.pipelines.runner import RESUMED_FROM_TAG

    rows = []
    for name in step_order(client, run, result):
        step = result.steps[name]
        step_run = stored.get(step.id or "")
        rows.append(
            (
                name,
                status_text(step.status),
                "yes" if step.cached else "no",
                format_duration(step_run.duration_ms) if step_run else None,
                short_id(step.id) if step.id else None,
            )
        )
    print_table(
        [
            "step",
            ("status", {"min_width": 9}),
            "cached",
            ("duration", {"justify": "right"}),
            ("run id", {"min_width": SHORT_ID}),
        ],
        rows,
    )
    echo()
    took = format_duration(run.duration_ms)
    echo(f"Pipeline run {result.id} ({result.name}, {run.name}): ", nl=False)
    echo(f"{result.status}" + (f" in {took}" if took else ""), fg=_colour(result.status))
    resumed = run.tags.get(RESUMED_FROM_TAG)
    if resumed:
        reused = sum(1 for step in result.steps.values() if step.cached)
        echo(f"Resumed from {resumed}: {reused} of {len(result.steps)} steps reused.")
    echo("Next:", dim=True)
    echo(f"  heron runs show {result.id}")
    echo(f"  heron artifacts list --run {result.id}")
    for name in result.failed_steps[:1]:
        echo(f"  heron runs logs {result.steps[name].id}")
    if result.status != "completed":
        echo(f"  heron runs resume {result.id}   (after fixing the failure)")


def _colour(status: str) -> str | None:
    return {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(status)


def _import_path() -> None:
    from heron.pipelines.loader import import_from_working_directory

    import_from_working_directory()


def source_reference(target: str) -> str:
    """How the run records where its pipeline lives, for `heron runs resume`: the target as
    given, with a file made absolute (resume may run from another folder)."""
    from heron.pipelines.loader import absolute_reference

    return absolute_reference(target)


def load_target(target: str) -> Any:
    """The pipeline ``target`` names; an error in the user's code becomes one clear line."""
    from heron.pipelines.loader import load_pipeline

    with _loading(target):
        return load_pipeline(target)


def complete_target(target: str) -> str:
    """``target`` with its ``:pipeline_name``: a file (or module) given alone names the one
    pipeline it defines; when it defines several (or none) they are listed, a usage error."""
    from heron.pipelines.loader import AmbiguousReference, complete_reference

    try:
        with _loading(target):
            return complete_reference(target)
    except AmbiguousReference as e:
        raise click.UsageError(e.message) from None


@contextlib.contextmanager
def _loading(target: str) -> Iterator[None]:
    from heron.core.errors import HeronError, InvalidArgument

    _import_path()
    try:
        yield
    except HeronError:
        raise
    except Exception as e:
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        hint = "" if debug else " (run with --debug for the traceback)"
        raise InvalidArgument(f"Could not load {target}: {type(e).__name__}: {e}{hint}.") from e


@click.command("run")
@click.argument("target", metavar="TARGET")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A pipeline parameter (repeatable). VALUE is read as JSON when it parses (5, 0.1, "
    'true, \'["a","b"]\'), else as text, and must fit the parameter\'s annotation.',
)
@click.option("--no-cache", is_flag=True, help="Run every step, even unchanged ones.")
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    metavar="N",
    help="Run up to N independent steps at once, in worker processes (default: the stack's, "
    "else 1, in this one).",
)
@click.option(
    "--stack",
    metavar="NAME",
    help="Run on this stack (default: $HERON_STACK, else the workspace's active stack).",
)
@click.option(
    "--orchestrator",
    type=click.Choice(["local", "dask", "ray"]),
    help="Where the steps run (default: the stack's orchestrator).",
)
@click.option(
    "-o",
    "--orchestrator-option",
    "orchestrator_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An orchestrator option, e.g. address=tcp://scheduler:8786 (repeatable).",
)
@click.option(
    "--experiment", metavar="NAME", help="Experiment of the run (default: the pipeline's name)."
)
@click.option("--run-name", metavar="NAME", help="Name of the pipeline run.")
@json_option
def run(
    target: str,
    params: tuple[str, ...],
    no_cache: bool,
    parallelism: int | None,
    stack: str | None,
    orchestrator: str | None,
    orchestrator_options: tuple[str, ...],
    experiment: str | None,
    run_name: str | None,
    as_json: bool,
) -> None:
    """Run the pipeline TARGET and show each step as it runs.

    TARGET is path/to/file.py:pipeline_name or package.module:pipeline_name; the file (or
    module) alone runs the one pipeline it defines (if it defines several, they are listed).
    Parameters are checked against the pipeline's annotations before anything runs. Unchanged
    steps are reused from earlier runs (cached) unless --no-cache is given. Exits with
    code 1 when a step fails, after the table of steps; resume the run with
    `heron runs resume RUN_ID` once the failure is fixed.
    """
    from heron.pipelines.runner import SOURCE_TAG
    from heron.tracking.client import Client

    parse_params(params)  # malformed pairs are refused before any user code is imported
    engine_options = parse_params(orchestrator_options, "-o/--orchestrator-option")
    if stack:
        from heron.core import config

        config.select_stack(stack)
    target = complete_target(target)
    pipeline = load_target(target)
    values = typed_params(pipeline, params)
    options: dict[str, Any] = {}
    if no_cache:
        options["cache"] = False
    if parallelism is not None:
        options["parallelism"] = parallelism
    if orchestrator:
        options["orchestrator"] = orchestrator
    if engine_options:
        options["orchestrator_options"] = engine_options
    if experiment:
        options["experiment"] = experiment
    if run_name:
        options["run_name"] = run_name
    if options:
        pipeline = pipeline.with_options(**options)
    bound = pipeline.bind(**values)
    client = Client()
    console, show = progress_console(as_json)
    steps = [n.id for n in pipeline.build(**bound).order()] if show and console.is_terminal else []
    quiet = stdout_to_stderr() if as_json else contextlib.nullcontext()
    with quiet, StepProgress(console, steps, enabled=show) as progress:
        result = pipeline.run(
            bound, on_event=progress, extra_tags={SOURCE_TAG: source_reference(target)}
        )
    if show and not as_json and not console.is_terminal:
        echo()
    report_pipeline_run(client, result, as_json)
