"""``heron artifacts``: list artifact versions, show one, and walk its lineage.

An artifact is named ``NAME`` (its latest version), ``NAME:VERSION`` (``total.output:3``) or
by its id.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import json_option, open_client
from heron.cli.output import (
    NAME_COLUMN,
    SHORT_ID,
    console,
    echo,
    format_size,
    format_time,
    print_fields,
    print_json,
    print_table,
    short_id,
    status_text,
)

if TYPE_CHECKING:
    from rich.text import Text

    from heron.core.entities import ArtifactVersion, Run
    from heron.tracking.client import Client

#: characters of a metadata value shown in `artifacts show` (JSON has all of it)
METADATA_WIDTH = 120


def resolve_artifact(client: Client, reference: str) -> ArtifactVersion:
    """The artifact version ``reference`` names: an id, ``NAME`` (latest) or ``NAME:VERSION``."""
    from heron.monitoring.reference import artifact_named

    return artifact_named(client.store, reference)


def _version(av: ArtifactVersion) -> str:
    return f"{av.name}:{av.version}"


@click.group()
def artifacts() -> None:
    """List, show and trace the lineage of artifact versions."""


@artifacts.command("list")
@click.option("--name", metavar="NAME", help="Only versions of the artifact NAME.")
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="Only artifacts this run read or wrote (for a pipeline run: any of its steps).",
)
@click.option(
    "--limit", "-n", default=50, show_default=True, type=click.IntRange(min=1), help="At most N."
)
@json_option
def list_(name: str | None, run_id: str | None, limit: int, as_json: bool) -> None:
    """List artifact versions, newest first."""
    from heron.cli.runs import resolve_run

    client = open_client()
    if run_id is None:
        found = client.list_artifacts(name=name, max_results=limit + 1)
    else:
        run = resolve_run(client, run_id, param_hint="'--run'")
        found = _run_artifacts(client, run, name, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    if as_json:
        print_json([av.to_dict() for av in found])
        return
    if not found:
        echo("No artifacts match." if name or run_id else "No artifacts.")
        return
    print_table(
        [
            ("name", NAME_COLUMN),
            ("version", {"justify": "right"}),
            ("type", {"max_width": 32, "overflow": "ellipsis"}),
            ("size", {"justify": "right"}),
            "created",
            ("id", {"no_wrap": False, "overflow": "fold"}),  # whole: `artifacts show` takes it
        ],
        (
            [
                av.name,
                av.version,
                av.type,
                format_size(av.size),
                format_time(av.created_at, seconds=False),
                av.id,
            ]
            for av in found
        ),
    )
    if more:
        echo(f"Showing the first {limit} artifact versions; more match (raise --limit).", dim=True)


def _run_artifacts(client: Client, run: Run, name: str | None, limit: int) -> list[ArtifactVersion]:
    """What ``run`` used or made; for a pipeline run, what its steps did."""
    from heron.cli.runs import child_runs

    run_ids = [run.id]
    if run.kind == "pipeline":
        run_ids += [step.id for step in child_runs(client, run.id)]
    found: dict[str, ArtifactVersion] = {}
    for run_id in run_ids:
        for av in client.list_artifacts(name=name, run_id=run_id, max_results=limit):
            found.setdefault(av.id, av)
    ordered = sorted(found.values(), key=lambda av: (av.created_at, av.version), reverse=True)
    return ordered[:limit]


@artifacts.command()
@click.argument("reference", metavar="NAME[:VERSION]|ID")
@json_option
def show(reference: str, as_json: bool) -> None:
    """Show one artifact version: its fields, metadata, the run that made it and the runs
    that read it."""
    from heron.core.errors import NotFound

    client = open_client()
    av = resolve_artifact(client, reference)
    producer = None
    if av.producer_run_id:
        with contextlib.suppress(NotFound):
            producer = client.get_run(av.producer_run_id)
    graph = client.lineage(av.id, direction="downstream", depth=1)
    consumers = sorted(graph.runs.values(), key=lambda r: r.start_time)
    if as_json:
        data = av.to_dict()
        data["producer_run"] = _run_brief(producer) if producer else None
        data["consumers"] = [_run_brief(run) for run in consumers]
        print_json(data)
        return
    print_fields(
        [
            ("id", av.id),
            ("type", av.type),
            ("materializer", f"{av.materializer} (version {av.materializer_version})"),
            ("size", f"{format_size(av.size)} ({av.size} bytes)"),
            ("content hash", av.content_hash),
            ("uri", av.uri),
            ("created", format_time(av.created_at)),
            ("lifecycle", av.lifecycle),
            ("producer run", _run_label(producer) if producer else av.producer_run_id),
        ],
        title=f"Artifact {_version(av)}",
    )
    if av.metadata:
        echo()
        echo("Metadata", bold=True)
        print_table(
            ["key", ("value", {"no_wrap": False})],
            ([key, _short_json(value)] for key, value in sorted(av.metadata.items())),
        )
    echo()
    echo("Consumed by", bold=True)
    if not consumers:
        echo("No run has read it yet.", dim=True)
        return
    print_table(
        [("run id", {"min_width": SHORT_ID}), ("name", NAME_COLUMN), "kind", "status", "started"],
        (
            [
                short_id(run.id),
                run.name,
                run.kind,
                status_text(run.status),
                format_time(run.start_time),
            ]
            for run in consumers
        ),
    )


def _run_brief(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "kind": run.kind,
        "status": run.status,
        "parent_id": run.parent_id,
        "start_time": run.start_time,
    }


def _run_label(run: Run) -> str:
    return f"{run.id} ({run.name}, {run.kind}, {run.status})"


def _short_json(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= METADATA_WIDTH else text[: METADATA_WIDTH - 1] + "…"


@artifacts.command()
@click.argument("reference", metavar="NAME[:VERSION]|ID")
@click.option(
    "--direction",
    type=click.Choice(["upstream", "downstream"]),
    default="upstream",
    show_default=True,
    help="upstream: what made it; downstream: what it fed.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    metavar="N",
    help="At most N hops from it (each run and each artifact is a hop). Default: all.",
)
@json_option
def lineage(reference: str, direction: str, depth: int | None, as_json: bool) -> None:
    """Show the lineage of an artifact version (or of a run, by its id) as a tree.

    Upstream, each artifact branches to the run that produced it and each run to the
    artifacts it consumed, back to the first inputs. Downstream goes the other way.
    """
    from heron.core.errors import NotFound

    client = open_client()
    try:
        root = resolve_artifact(client, reference).id
    except NotFound:
        from heron.cli.runs import resolve_run

        try:
            root = resolve_run(client, reference).id
        except (NotFound, click.BadParameter):  # too short for a run id: no artifact either
            raise NotFound(
                f"No artifact named {reference!r} and no artifact version or run with that id. "
                "Name an artifact as NAME, NAME:VERSION or by its id."
            ) from None
    graph = client.lineage(root, direction=direction, depth=depth)
    if as_json:
        print_json(graph.to_dict())
        return
    console().print(lineage_tree(graph))
    root_run = graph.runs.get(root)
    if root_run is not None and root_run.kind == "pipeline" and not graph.edges:
        echo(
            "A pipeline run reads and writes artifacts through its steps: see them with "
            f"`heron artifacts list --run {root}`.",
            dim=True,
        )


def lineage_tree(graph: Any) -> Any:
    """A rich Tree of a lineage graph from its root; a node reached twice is expanded once."""
    from rich.tree import Tree

    upstream = graph.direction == "upstream"
    children: dict[str, list[str]] = {}
    for source, target, _kind in graph.edges:
        parent, child = (target, source) if upstream else (source, target)
        children.setdefault(parent, []).append(child)

    tree = Tree(_node_label(graph, graph.root, None, upstream))
    expanded: set[str] = set()
    stack: list[tuple[Any, str, str | None]] = [(tree, graph.root, None)]
    while stack:  # depth first, in display order: the first time a node shows, it expands
        branch, node, parent = stack.pop()
        if parent is not None:
            label = _node_label(graph, node, parent, upstream)
            if node in expanded and children.get(node):
                label.append("  (shown above)", style="dim")
                branch.add(label)
                continue
            branch = branch.add(label)
        expanded.add(node)
        below = sorted(children.get(node, []), key=lambda n: _sort_key(graph, n))
        stack.extend((branch, child, node) for child in reversed(below))
    return tree


def _sort_key(graph: Any, node: str) -> tuple[Any, ...]:
    if node in graph.artifacts:
        av = graph.artifacts[node]
        return (av.name, av.version)
    run = graph.runs[node]
    return (run.name, run.start_time)


def _node_label(graph: Any, node: str, parent: str | None, upstream: bool) -> Text:
    """``produced by  run total (step, completed) fc879594`` or
    ``consumed  artifact split.evens:1  builtins.list, 7 B  24895229``."""
    from rich.text import Text

    label = Text()
    if node in graph.artifacts:
        av = graph.artifacts[node]
        if parent is not None:
            label.append("consumed  " if upstream else "produced  ", style="dim")
        label.append("artifact ", style="dim")
        label.append(_version(av), style="bold cyan")
        label.append(f"  {av.type}, {format_size(av.size)}  ", style="dim")
        label.append(short_id(av.id), style="dim")
        return label
    run = graph.runs[node]
    if parent is not None:
        label.append("produced by  " if upstream else "consumed by  ", style="dim")
    label.append("run ", style="dim")
    label.append(run.name, style="bold")
    label.append(f" ({run.kind}, ")
    label.append(status_text(run.status))
    label.append(")  ")
    label.append(short_id(run.id), style="dim")
    return label
