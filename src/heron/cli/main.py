"""The ``heron`` command: global options, error reporting and the map of sub-commands.

To add a sub-command, write it in its own module and add one line to :data:`COMMANDS`.
"""

from __future__ import annotations

import ast
import errno
import logging
import re
import shlex
import sys
import traceback
from typing import Any, NoReturn

import click

from heron._version import __version__
from heron.cli.lazy import LazyGroup
from heron.core.errors import HeronError, os_fault

#: name -> ("module:attribute" of the click command, one-line help shown by ``heron --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "artifacts": (
        "heron.cli.artifacts:artifacts",
        "List, show and trace the lineage of artifacts.",
    ),
    "audit": (
        "heron.cli.audit:audit",
        "The audit trail: who changed what and when, what was denied.",
    ),
    "backfill": (
        "heron.cli.schedules:backfill",
        "Run a range of a schedule's intervals (reprocess missing, failed or all).",
    ),
    "backfills": ("heron.cli.schedules:backfills", "List, show and cancel backfills."),
    "db": ("heron.cli.db:db", "Show or upgrade the schema of the metadata database."),
    "drift": ("heron.cli.drift:drift", "Compare two data sets (artifacts or files) for drift."),
    "experiments": ("heron.cli.experiments:experiments", "List and manage experiments."),
    "gc": ("heron.cli.gc:gc", "Delete stored artifact bytes that nothing live refers to."),
    "import": (
        "heron.cli.importing:import_",
        "Import an MLflow store (mlruns/, a database or a server): runs, models, registry.",
    ),
    "init": ("heron.cli.init:init", "Create a .heron/ workspace in a folder (default: here)."),
    "models": ("heron.cli.models:models", "Register models, move aliases, roll them back."),
    "monitor": (
        "heron.cli.monitor:monitor",
        "Watch a served model for drift from its training data; retrain on drift.",
    ),
    "pipelines": ("heron.cli.pipelines:pipelines", "List pipelines, their versions and DAGs."),
    "projects": (
        "heron.cli.projects:projects",
        "Create and list projects; grant and revoke their roles.",
    ),
    "quickstart": (
        "heron.cli.quickstart:quickstart",
        "Run the end-to-end example: train, register and batch-score a model.",
    ),
    "run": ("heron.cli.run:run", "Run a pipeline (file.py:name or module:name) step by step."),
    "runs": ("heron.cli.runs:runs", "Search, show, delete and restore runs."),
    "schedules": (
        "heron.cli.schedules:schedules",
        "Create, list, pause and resume schedules (cron or artifact triggers).",
    ),
    "scheduler": (
        "heron.cli.schedules:scheduler",
        "Run the schedules: each due interval becomes a pipeline run.",
    ),
    "serve": ("heron.cli.serve:serve", "Serve a model over HTTP (MLflow's scoring formats)."),
    "server": ("heron.cli.server:server", "Serve the tracking store to a team over HTTP."),
    "ui": ("heron.cli.server:ui", "Open the dashboard on the local store in a browser."),
    "stack": (
        "heron.cli.stack:stack",
        "Create, choose and list stacks: where pipelines run and data is kept.",
    ),
    "sync": ("heron.cli.sync:sync", "Send the data kept on disk while the server was away."),
    "tokens": ("heron.cli.tokens:tokens", "Create, list and revoke API tokens (shown once)."),
    "users": ("heron.cli.users:users", "Create, list, disable and enable the server's users."),
}


class CliError(click.ClickException):
    """An error shown as one red ``Error: ...`` line on stderr; exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.secho(f"Error: {self.format_message()}", fg="red", err=True)


class HeronGroup(LazyGroup):
    """The top-level group: turns exceptions into one error line (a traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as e:
            if e.errno == errno.EPIPE:  # `heron runs list | head`: click handles it
                raise
            fault = os_fault(e, e.filename or "the path given", "files")
            _fail(ctx, e, fault.message if fault else f"{type(e).__name__}: {e}")
        except HeronError as e:
            _fail(ctx, e, cli_wording(e.message))
        except Exception as e:
            hint = "" if _debug(ctx) else " (run with --debug for the traceback)"
            _fail(ctx, e, f"unexpected {type(e).__name__}: {e}{hint}")


#: Python calls that library messages suggest -> the command a CLI user types instead; the
#: call's arguments fill the command's slots (a literal as itself, a name such as ``source``
#: as SOURCE, a missing one as the slot's name)
CLI_COMMANDS: dict[str, tuple[str, ...]] = {
    "register_model": ("heron models register", "NAME", "SOURCE"),
    "set_model_alias": ("heron models set-alias", "NAME", "ALIAS", "VERSION"),
}
_STRING = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
_PYTHON_CALL = re.compile(
    r"`?(?:heron\.Client\(\)\.|(?:client|store)\.)?\b(?P<func>"
    + "|".join(CLI_COMMANDS)
    + rf")\b(?:\((?P<args>(?:{_STRING}|[^()'\"\n])*)\))?`?"
)


def cli_wording(message: str) -> str:
    """``message`` with the Python calls it suggests (``set_model_alias('iris', 'champion',
    version)``) replaced by the commands that do the same (```heron models set-alias iris
    champion VERSION```): what the CLI shows of a library error."""
    return _PYTHON_CALL.sub(_command_for, message)


def _command_for(match: re.Match[str]) -> str:
    command, *slots = CLI_COMMANDS[match["func"]]
    values = list(slots)
    if match["args"] is not None:
        try:
            call = ast.parse(f"f({match['args']})", mode="eval").body
        except SyntaxError:
            return match[0]
        assert isinstance(call, ast.Call)
        given = [*call.args, *(k.value for k in call.keywords)]
        names = [None] * len(call.args) + [k.arg for k in call.keywords]
        for i, (node, name) in enumerate(zip(given, names, strict=True)):
            if i < len(values):
                values[i] = _cli_argument(node, name or slots[i])
    return f"`{' '.join([command, *values])}`"


def _cli_argument(node: ast.expr, slot: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
        return shlex.quote(str(node.value))
    if isinstance(node, ast.Name):
        return node.id.upper()
    return slot.upper()


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


def _fail(ctx: click.Context, error: BaseException, message: str) -> NoReturn:
    if _debug(ctx):
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        click.echo(text.rstrip("\n"), err=True)
    raise CliError(" ".join(message.split("\n")).strip()) from error


def set_project_option(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--project NAME``: work in that project for this command, as ``HERON_PROJECT=NAME``
    would (the processes the command starts, such as pipeline workers, inherit it)."""
    if value is None:
        return
    import os

    from heron.core import config
    from heron.core.errors import InvalidArgument

    try:
        name = config.check_project_name(value)
    except InvalidArgument as e:
        raise click.BadParameter(e.message, ctx=ctx, param=param) from None
    os.environ[config.PROJECT_ENV] = name
    config.set_project(name)


@click.group(
    cls=HeronGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", message="heron %(version)s")
@click.option(
    "--tracking-uri",
    metavar="URI",
    help="Where to read and write tracking data: sqlite:///path/heron.db, postgresql://…, "
    "http(s)://host:5151 (a heron server) or a folder. Default: $HERON_TRACKING_URI, else the "
    "nearest .heron/ upward, else ~/.heron.",
)
@click.option(
    "--stack",
    metavar="NAME",
    help="The stack to use (default: $HERON_STACK, else the workspace's active stack).",
)
@click.option(
    "--project",
    metavar="NAME",
    callback=set_project_option,
    expose_value=False,
    is_eager=True,
    help="The project to work in: the experiments, registered models and artifacts the "
    "command names or lists are that project's (default: $HERON_PROJECT, else 'default').",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors, and debug logs.")
def cli(tracking_uri: str | None, stack: str | None, debug: bool) -> None:
    """Heron: pipelines, experiment tracking, artifacts and lineage, models and serving, on
    one store.

    Data lives in the nearest .heron/ folder (make one with `heron init`), in ~/.heron, or
    wherever --tracking-uri / HERON_TRACKING_URI points. Names of experiments, models and
    artifacts are those of one project: --project / HERON_PROJECT, else 'default'.
    """
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("heron")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    if tracking_uri or stack:
        from heron.core import config

        if tracking_uri:
            config.set_tracking_uri(tracking_uri)
        if stack:
            config.select_stack(stack)


def main(argv: list[str] | None = None) -> None:
    """Run the ``heron`` command (the console script and ``python -m heron``)."""
    cli.main(args=argv)
