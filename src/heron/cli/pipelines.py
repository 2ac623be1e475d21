"""``heron pipelines``: the pipelines that have run, their versions (distinct DAGs) and steps."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from heron.cli.options import json_option, open_client
from heron.cli.output import (
    NAME_COLUMN,
    SHORT_ID,
    echo,
    format_time,
    print_fields,
    print_json,
    print_table,
    short_id,
    status_text,
)

if TYPE_CHECKING:
    from heron.core.entities import PipelineVersion, Run
    from heron.tracking.client import Client

#: how many characters of a pipeline version id the tables show
VERSION_ID = 12
_HEX = re.compile(r"[0-9a-f]{4,32}")
_PAGE = 5000
_PIPELINE_RUNS = "attributes.kind = 'pipeline'"


def _quoted(text: str) -> str:
    """``text`` as a quoted string of the search filter grammar."""
    return "'" + text.replace("'", "''") + "'"


def pipeline_runs(client: Client, name: str) -> list[Run]:
    """Every (active) run of the pipeline ``name``, newest first."""
    return _all_runs(client, f"{_PIPELINE_RUNS} and tags.`heron.pipeline` = {_quoted(name)}")


def _all_runs(client: Client, query: str) -> list[Run]:
    """Every (active) run matching ``query``, newest first, fetched page by page."""
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(filter=query, max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


@click.group()
def pipelines() -> None:
    """List pipelines and show their versions and DAGs."""


@pipelines.command("list")
@json_option
def list_(as_json: bool) -> None:
    """One row per pipeline: its versions, its runs and how the last one went."""
    client = open_client()
    by_name: dict[str, list[PipelineVersion]] = {}
    for version in client.list_pipeline_versions():  # newest first
        by_name.setdefault(version.name, []).append(version)
    runs_by_name: dict[str, list[Run]] = {}
    for run in _all_runs(client, _PIPELINE_RUNS):  # one query, not one per pipeline
        runs_by_name.setdefault(run.tags.get("heron.pipeline", ""), []).append(run)
    rows = []
    for name in sorted(by_name):
        versions = by_name[name]
        runs = runs_by_name.get(name, [])
        last = runs[0] if runs else None
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest_version_id": versions[0].id,
                "latest_version_created_at": versions[0].created_at,
                "runs": len(runs),
                "last_run": None
                if last is None
                else {"id": last.id, "status": last.status, "start_time": last.start_time},
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("No pipelines yet. Run one with `heron run path/to/file.py:pipeline_name`.")
        return
    print_table(
        [
            ("pipeline", NAME_COLUMN),
            ("versions", {"justify": "right"}),
            "latest version",
            ("runs", {"justify": "right"}),
            ("last run", {"min_width": SHORT_ID}),
            ("status", {"min_width": 9}),
            "started",
        ],
        (
            [
                row["name"],
                row["versions"],
                row["latest_version_id"][:VERSION_ID],
                row["runs"],
                short_id(row["last_run"]["id"]) if row["last_run"] else None,
                status_text(row["last_run"]["status"]) if row["last_run"] else None,
                format_time(row["last_run"]["start_time"], seconds=False)
                if row["last_run"]
                else None,
            ]
            for row in rows
        ),
    )


def resolve_pipeline(
    client: Client, reference: str
) -> tuple[str, list[PipelineVersion], PipelineVersion]:
    """(name, its versions newest first, the version to show) for a pipeline name, a version
    id, or the first characters of a version id."""
    from heron.core.errors import InvalidArgument, NotFound

    versions = client.list_pipeline_versions(reference)
    if versions:
        return reference, versions, versions[0]
    try:
        chosen = client.get_pipeline_version(reference)
    except NotFound:
        matches = []
        if _HEX.fullmatch(reference.lower()):
            every = client.list_pipeline_versions()
            matches = [v for v in every if v.id.startswith(reference.lower())]
        if not matches:
            raise NotFound(
                f"No pipeline named {reference!r} and no pipeline version with that id. "
                "List pipelines with `heron pipelines list`."
            ) from None
        if len(matches) > 1:
            raise InvalidArgument(
                f"Several pipeline versions have ids starting with {reference!r}; "
                "type more of the id."
            ) from None
        chosen = matches[0]
    return chosen.name, client.list_pipeline_versions(chosen.name), chosen


@pipelines.command()
@click.argument("reference", metavar="NAME_OR_VERSION_ID")
@json_option
def show(reference: str, as_json: bool) -> None:
    """Show a pipeline's versions and the steps of one of them.

    Given a name, the DAG shown is the latest version's; given a version id (or its first
    characters), that version's. Steps are listed in the order they run, each with the
    outputs of earlier steps it reads.
    """
    client = open_client()
    name, versions, chosen = resolve_pipeline(client, reference)
    runs = pipeline_runs(client, name)
    per_version: dict[str, list[Run]] = {}
    for run in runs:
        per_version.setdefault(run.pipeline_version_id or "", []).append(run)
    if as_json:
        print_json(
            {
                "name": name,
                "version_id": chosen.id,
                "runs": len(runs),
                "versions": [
                    {**v.to_dict(), "runs": len(per_version.get(v.id, []))} for v in versions
                ],
            }
        )
        return
    last = runs[0] if runs else None
    print_fields(
        [
            ("versions", len(versions)),
            ("runs", len(runs)),
            (
                "last run",
                f"{last.id} ({last.status}, {format_time(last.start_time)})" if last else None,
            ),
        ],
        title=f"Pipeline {name}",
    )
    echo()
    echo("Versions", bold=True)
    print_table(
        ["version id", "created", ("steps", {"justify": "right"}), ("runs", {"justify": "right"})],
        (
            [
                ("* " if v.id == chosen.id else "  ") + v.id,
                format_time(v.created_at),
                len(v.structure.get("nodes", [])),
                len(per_version.get(v.id, [])),
            ]
            for v in versions
        ),
    )
    echo()
    echo(f"Steps of version {chosen.id[:VERSION_ID]}", bold=True)
    print_steps(chosen.structure.get("nodes", []))


def print_steps(nodes: Sequence[dict[str, Any]]) -> None:
    """The DAG as a table: each step (in run order), what it reads, its parameters, outputs."""
    rows = []
    for index, node in enumerate(nodes, 1):
        reads = [_input_text(arg, ref) for arg, ref in node.get("inputs", {}).items()]
        after = [f"after {n}" for n in node.get("after", [])]
        step = node.get("step", node["id"])
        rows.append(
            [
                index,
                node["id"] if step == node["id"] else f"{node['id']} ({step})",
                "\n".join(reads + after) or None,
                ", ".join(node.get("params", [])) or None,
                ", ".join(node.get("outputs", [])) or None,
                str(node.get("code_hash", ""))[:SHORT_ID] or None,
            ]
        )
    print_table(
        [
            ("#", {"justify": "right"}),
            "step",
            ("inputs", {"no_wrap": False}),
            "params",
            "outputs",
            "code",
        ],
        rows,
    )


def _input_text(arg: str, ref: Any) -> str:
    """``arg ← step.output`` (a list input names each element)."""
    if not ref or isinstance(ref[0], list):
        sources = ", ".join(f"{node}.{output}" for node, output in ref)
        return f"{arg} ← [{sources}]"
    node, output = ref
    return f"{arg} ← {node}.{output}"
