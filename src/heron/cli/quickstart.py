"""``heron quickstart``: the end-to-end example, in a workspace of its own.

It trains four variants on scikit-learn's wine data, registers the best as
``models:/quickstart@champion`` and batch-scores a hold-out set with it (the pipeline is
:mod:`heron.quickstart.pipeline`), then prints what happened and what to try next.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from heron.cli.output import echo, format_duration, print_table

if TYPE_CHECKING:
    from heron.pipelines.result import PipelineRun
    from heron.tracking.client import Client

DEFAULT_DIR = "heron-quickstart"


@click.command()
@click.option(
    "--dir",
    "directory",
    default=DEFAULT_DIR,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace to run in (made with a .heron/ inside if new). Your own default "
    "store is never touched.",
)
@click.option("--no-cache", is_flag=True, help="Run every step, even unchanged ones.")
@click.option(
    "--tracking-uri",
    "store_uri",
    metavar="URI",
    help="Run against this store instead of the workspace's own: a heron server "
    "(http://host:5151) or a database. Only then is a store of yours written to.",
)
def quickstart(directory: Path, no_cache: bool, store_uri: str | None) -> None:
    """Run the quickstart pipeline: train, compare, register and batch-score wine models.

    Run it twice to see the unchanged steps reused from the cache.
    """
    _check_requirements()
    from heron.core import config, uris

    root = directory.expanduser().resolve()
    if store_uri is not None:
        _run(config.normalize_tracking_uri(store_uri), root, no_cache, own_workspace=False)
        return
    workspace = root / config.WORKSPACE_DIR
    try:
        (workspace / config.ARTIFACTS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from heron.cli.main import CliError

        raise CliError(
            f"Cannot make the workspace {workspace}: {e.strerror or e}. Give --dir a folder "
            "you can write to (new or existing)."
        ) from None
    ignore = workspace / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Heron's local data: not for version control.\n*\n")
    config.set_artifact_uri(str(workspace / config.ARTIFACTS_DIR))
    _run(uris.sqlite_uri(workspace / config.DB_FILE), root, no_cache, own_workspace=True)


def _run(tracking_uri: str, root: Path, no_cache: bool, own_workspace: bool) -> None:
    from heron.core import config, uris
    from heron.tracking.client import Client

    config.set_tracking_uri(tracking_uri)
    where = root if own_workspace else uris.redact(tracking_uri)
    echo(f"Heron quickstart in {where}", bold=True)
    echo("Wine data -> validate -> split -> 4 variants -> register the best -> batch-score\n")

    from heron.cli.run import StepProgress, progress_console
    from heron.quickstart.pipeline import quickstart as pipeline

    runnable = pipeline.with_options(cache=False) if no_cache else pipeline
    console, show = progress_console(False)
    steps = [n.id for n in runnable.build().order()] if console.is_terminal else []
    with StepProgress(console, steps, enabled=show) as progress:
        result = runnable.run({}, on_event=progress)
    client = Client(tracking_uri)
    if result.status != "completed":
        from heron.cli.run import report_pipeline_run

        report_pipeline_run(client, result, as_json=False)  # the table, then exit code 1
        return
    _summary(client, result, root if own_workspace else None)


def _check_requirements() -> None:
    from importlib.util import find_spec

    needed = {"sklearn": "scikit-learn", "pandas": "pandas", "pyarrow": "pyarrow"}
    missing = [package for module, package in needed.items() if find_spec(module) is None]
    if missing:
        from heron.cli.main import CliError

        raise CliError(
            f"The quickstart needs {', '.join(missing)}: pip install 'heron-ml[sklearn,pandas]'."
        )


def _summary(client: Client, result: PipelineRun, root: Path | None) -> None:
    from heron.quickstart.pipeline import ALIAS, MODEL_NAME, VARIANTS

    run = client.get_run(result.id)
    champion = result.steps["register"].outputs["output"].load()
    echo()
    rows = []
    for i, variant in enumerate(VARIANTS):
        train_step = "train" if i == 0 else f"train_{i + 1}"
        eval_step = "evaluate" if i == 0 else f"evaluate_{i + 1}"
        scores = result.steps[eval_step].outputs["output"].load()
        params = ", ".join(f"{k}={v}" for k, v in variant.items() if k != "kind")
        rows.append(
            [
                variant["kind"] + (" ★" if i == champion["variant"] else ""),
                params,
                f"{scores['accuracy']:.3f}",
                f"{scores['f1_macro']:.3f}",
                "yes" if result.steps[train_step].cached else "no",
            ]
        )
    # 80 columns wide: the champion is starred in the variant column, not in one of its own
    print_table(["variant", "params", "accuracy", "macro F1", "cached"], rows)
    scored = result.steps["batch_score"].outputs["output"].load()
    holdout_accuracy = float((scored.prediction == scored.target).mean())
    cached = sum(1 for s in result.steps.values() if s.cached)
    echo()
    echo(
        f"Pipeline run {result.id}: {result.status} in {format_duration(run.duration_ms)},\n"
        f"{cached} of {len(result.steps)} steps reused from the cache.",
        fg="green",
    )
    echo(
        f"Registered models:/{MODEL_NAME}/{champion['version']} as "
        f"models:/{MODEL_NAME}@{ALIAS};\n"
        f"it scored {len(scored)} hold-out wines with accuracy {holdout_accuracy:.3f}."
    )
    if not cached:
        echo(
            "Run `heron quickstart` again: the unchanged steps then come from the cache.", dim=True
        )
    echo("\nNext:", bold=True)
    if root is not None:
        where = os.path.relpath(root) if not os.path.relpath(root).startswith("..") else str(root)
        first = f"cd {where}"
    else:
        first = f"export HERON_TRACKING_URI={client.store.uri}"
    for command in (
        first,
        "heron runs list -e quickstart",
        f"heron models show {MODEL_NAME}@{ALIAS}",
        "heron artifacts lineage batch_score.output",
        f"heron serve models:/{MODEL_NAME}@{ALIAS}",
    ):
        echo(f"  {command}")
