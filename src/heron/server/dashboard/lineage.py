"""The lineage graph around one artifact version: what made it (upstream) and what it fed
(downstream), ``depth`` hops each way, for the artifact page's drawing.

Nodes are artifact versions and runs; edges follow the data: run → artifact it produced,
artifact → run that consumed it. A cached step run that reused a value is not its producer
(as in :mod:`heron.tracking.lineage`). The walk stops at ``max_nodes`` so that an artifact
read by thousands of runs still draws quickly; the graph then says it was cut.

With ``readable`` (the dashboard's ``request.readable``), runs and artifact versions the caller
may not read are neither drawn nor walked through: the graph never names another project's
objects, nor hints at them (a box is marked as having more only for neighbours it may show).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from heron.core.entities import INPUT, OUTPUT
from heron.core.errors import NotFound

ARTIFACT = "artifact"
RUN = "run"
#: the most nodes a lineage drawing holds
MAX_NODES = 150

#: ``readable(kind, ids)``: which of ``ids`` (of kind ``run`` or ``artifact``) may be shown
Readable = Callable[[str, Iterable[str]], set[str]]


@dataclass(slots=True)
class LineageNode:
    """A run or artifact version in the graph, with what its box shows."""

    id: str
    kind: str  # "artifact" or "run"
    label: str
    detail: str
    status: str | None
    href: str
    #: hops from the root: negative upstream, positive downstream, 0 the root
    distance: int


@dataclass
class LineageGraph:
    """Nodes by id, edges ``(source, target)`` in the direction data flows."""

    root: str
    depth: int
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    #: whether the walk stopped at ``max_nodes`` before reaching ``depth``
    truncated: bool = False
    #: node ids with neighbours left out because of the depth limit
    frontier: set[str] = field(default_factory=set)


def artifact_lineage(
    store: Any,
    artifact_id: str,
    depth: int = 3,
    max_nodes: int = MAX_NODES,
    readable: Readable | None = None,
) -> LineageGraph:
    """Upstream and downstream of ``artifact_id``, ``depth`` hops each way at most, through
    the nodes ``readable`` allows (all without it)."""
    graph = LineageGraph(artifact_id, depth)
    cache = _Lookup(store, readable)
    root = cache.artifact(artifact_id)
    if root is None:
        raise NotFound(f"No artifact version with id {artifact_id!r}.")
    graph.nodes[artifact_id] = _artifact_node(root, 0)
    edges: set[tuple[str, str]] = set()
    for upstream in (True, False):
        queue: deque[tuple[str, str, int]] = deque([(ARTIFACT, artifact_id, 0)])
        seen = {artifact_id}
        while queue:
            kind, current, hops = queue.popleft()
            neighbours = cache.neighbours(kind, current, upstream)
            if hops >= depth:
                if neighbours:
                    graph.frontier.add(current)
                continue
            for next_kind, next_id in neighbours:
                if next_id not in graph.nodes:
                    if len(graph.nodes) >= max_nodes:
                        graph.truncated = True
                        graph.frontier.add(current)
                        continue
                    node = _node(cache, next_kind, next_id, -(hops + 1) if upstream else hops + 1)
                    if node is None:
                        continue
                    graph.nodes[next_id] = node
                edges.add((next_id, current) if upstream else (current, next_id))
                if next_id not in seen:
                    seen.add(next_id)
                    queue.append((next_kind, next_id, hops + 1))
    graph.edges = sorted(e for e in edges if e[0] in graph.nodes and e[1] in graph.nodes)
    return graph


class _Lookup:
    """Store reads of one walk, each made once."""

    def __init__(self, store: Any, readable: Readable | None = None) -> None:
        self.store = store
        self.readable = readable
        self.allowed: dict[tuple[str, str], bool] = {}
        self.runs: dict[str, Any] = {}
        self.artifacts: dict[str, Any] = {}
        self.links: dict[tuple[str, str], list[Any]] = {}

    def artifact(self, artifact_id: str) -> Any:
        if artifact_id not in self.artifacts:
            try:
                self.artifacts[artifact_id] = self.store.get_artifact_version(artifact_id)
            except NotFound:
                self.artifacts[artifact_id] = None
        return self.artifacts[artifact_id]

    def run(self, run_id: str) -> Any:
        if run_id not in self.runs:
            try:
                self.runs[run_id] = self.store.get_run(run_id)
            except NotFound:
                self.runs[run_id] = None
        return self.runs[run_id]

    def _links(self, kind: str, node_id: str) -> list[Any]:
        key = (kind, node_id)
        if key not in self.links:
            if kind == RUN:
                self.links[key] = self.store.list_artifact_links(run_id=node_id)
            else:
                self.links[key] = self.store.list_artifact_links(artifact_id=node_id)
        return self.links[key]

    def neighbours(self, kind: str, node_id: str, upstream: bool) -> list[tuple[str, str]]:
        """``(kind, id)`` one hop away that may be shown: a run's inputs (upstream) or
        outputs (downstream), an artifact's producer (upstream) or consumers (downstream)."""
        found = self._neighbours(kind, node_id, upstream)
        if self.readable is None or not found:
            return found
        for next_kind in {k for k, _ in found}:
            unknown = [i for k, i in found if k == next_kind and (k, i) not in self.allowed]
            if unknown:
                allowed = self.readable(next_kind, unknown)
                for i in unknown:
                    self.allowed[(next_kind, i)] = i in allowed
        return [n for n in found if self.allowed[n]]

    def _neighbours(self, kind: str, node_id: str, upstream: bool) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if kind == RUN:
            wanted = INPUT if upstream else OUTPUT
            for link in self._links(RUN, node_id):
                if link.direction == wanted and (ARTIFACT, link.artifact_id) not in found:
                    found.append((ARTIFACT, link.artifact_id))
            return found
        wanted = OUTPUT if upstream else INPUT
        artifact = self.artifact(node_id)
        producer = artifact.producer_run_id if artifact is not None else None
        for link in self._links(ARTIFACT, node_id):
            if link.direction != wanted:
                continue
            if wanted == OUTPUT and producer is not None and link.run_id != producer:
                continue  # a cached step that reused the value did not make it
            if (RUN, link.run_id) not in found:
                found.append((RUN, link.run_id))
        return found


def _node(cache: _Lookup, kind: str, node_id: str, distance: int) -> LineageNode | None:
    if kind == ARTIFACT:
        artifact = cache.artifact(node_id)
        return None if artifact is None else _artifact_node(artifact, distance)
    run = cache.run(node_id)
    if run is None:
        return None
    href = f"/pipelines/runs/{run.id}" if run.kind == "pipeline" else f"/runs/{run.id}"
    detail = run.kind if run.kind != "run" else "run"
    return LineageNode(run.id, RUN, run.name or run.id[:8], detail, run.status, href, distance)


def _artifact_node(artifact: Any, distance: int) -> LineageNode:
    return LineageNode(
        artifact.id,
        ARTIFACT,
        artifact.name,
        f"v{artifact.version} · {artifact.type}",
        None,
        f"/artifacts/{artifact.id}",
        distance,
    )
