"""Lineage: one graph of runs and artifact versions, walked upstream or downstream.

Edges are ``produced`` (run → artifact version it output) and ``consumed`` (artifact version →
run that read it). "Which data and code made this model?" walks upstream from the model's
artifact; "what did this dataset feed?" walks downstream from the dataset's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from heron.core.entities import INPUT, OUTPUT, ArtifactVersion, Run
from heron.core.errors import InvalidArgument, NotFound
from heron.store.base import Store

RUN = "run"
ARTIFACT = "artifact"


@dataclass
class LineageGraph:
    """Nodes (runs and artifact versions, by id) and edges ``(source, target, kind)``."""

    root: str
    direction: str
    runs: dict[str, Run] = field(default_factory=dict)
    artifacts: dict[str, ArtifactVersion] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        return [*self.runs, *self.artifacts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "runs": {k: v.to_dict() for k, v in self.runs.items()},
            "artifacts": {k: v.to_dict() for k, v in self.artifacts.items()},
            "edges": [{"source": s, "target": t, "kind": k} for s, t, k in self.edges],
        }


def walk(
    store: Store, node_id: str, direction: str = "upstream", depth: int | None = None
) -> LineageGraph:
    """The lineage of a run or artifact version id, ``depth`` hops at most (None: all)."""
    if direction not in ("upstream", "downstream"):
        raise InvalidArgument(f"direction must be 'upstream' or 'downstream', got {direction!r}.")
    if depth is not None and depth < 0:
        raise InvalidArgument("depth must be ≥ 0 (or None for the whole graph).")
    graph = LineageGraph(root=node_id, direction=direction)
    kind = _kind_of(store, node_id, graph)
    queue: deque[tuple[str, str, int]] = deque([(kind, node_id, 0)])
    seen = {node_id}
    edges: set[tuple[str, str, str]] = set()
    while queue:
        kind, current, hops = queue.popleft()
        if depth is not None and hops >= depth:
            continue
        for next_kind, next_id, edge in _neighbours(store, kind, current, direction, graph):
            edges.add(edge)
            if next_id not in seen:
                seen.add(next_id)
                queue.append((next_kind, next_id, hops + 1))
    graph.edges = sorted(edges)
    return graph


def _kind_of(store: Store, node_id: str, graph: LineageGraph) -> str:
    try:
        graph.artifacts[node_id] = store.get_artifact_version(node_id)
        return ARTIFACT
    except NotFound:
        pass
    try:
        graph.runs[node_id] = store.get_run(node_id)
        return RUN
    except NotFound:
        raise NotFound(f"No run or artifact version with id {node_id!r}.") from None


def _neighbours(
    store: Store, kind: str, node_id: str, direction: str, graph: LineageGraph
) -> list[tuple[str, str, tuple[str, str, str]]]:
    found = []
    if kind == RUN:
        # upstream of a run: what it consumed; downstream: what it produced
        wanted = INPUT if direction == "upstream" else OUTPUT
        for link in store.list_artifact_links(run_id=node_id):
            if link.direction != wanted:
                continue
            if link.artifact_id not in graph.artifacts:
                graph.artifacts[link.artifact_id] = store.get_artifact_version(link.artifact_id)
            edge = (
                (link.artifact_id, node_id, "consumed")
                if wanted == INPUT
                else (node_id, link.artifact_id, "produced")
            )
            found.append((ARTIFACT, link.artifact_id, edge))
    else:
        wanted = OUTPUT if direction == "upstream" else INPUT
        producer = graph.artifacts[node_id].producer_run_id
        for link in store.list_artifact_links(artifact_id=node_id):
            if link.direction != wanted:
                continue
            if wanted == OUTPUT and producer is not None and link.run_id != producer:
                continue  # a cached step that reused the value did not make it
            if link.run_id not in graph.runs:
                graph.runs[link.run_id] = store.get_run(link.run_id)
            edge = (
                (link.run_id, node_id, "produced")
                if wanted == OUTPUT
                else (node_id, link.run_id, "consumed")
            )
            found.append((RUN, link.run_id, edge))
    return found
