"""``/artifacts`` (artifact names with their versions) and ``/artifacts/{artifact_id}`` (one
artifact version: metadata, preview, producer, consumers, other versions, lineage graph)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from heron.core.entities import INPUT
from heron.core.errors import NotFound
from heron.server.auth.permissions import on, viewer
from heron.server.dashboard import dag_layout, lineage
from heron.server.dashboard.face import HERE, DashboardFace, Page, PageError, Request
from heron.server.dashboard.pages.pipelines import clip, run_href

#: how many of the newest artifact versions /artifacts groups into names
SCAN_VERSIONS = 5000
NAMES_PER_PAGE = 50
#: consumers and other versions listed on an artifact page
MAX_CONSUMERS = 50
MAX_VERSIONS = 50
DEFAULT_DEPTH = 3
MAX_DEPTH = 8
#: metadata values longer than this are cut on the page
MAX_VALUE_CHARS = 2000


# --- /artifacts ---------------------------------------------------------------------------
@dataclass
class NameRow:
    """One artifact name: its newest version and how many versions it has had."""

    latest: Any
    seen: int

    @property
    def name(self) -> str:
        return self.latest.name

    @property
    def versions(self) -> int:
        # versions are numbered 1, 2, … per name and never reused: the newest number counts them
        return max(self.latest.version, self.seen)


def group_names(versions: list[Any]) -> dict[str, NameRow]:
    """Versions (newest first) grouped by name, each name with its newest version."""
    rows: dict[str, NameRow] = {}
    for av in versions:
        row = rows.get(av.name)
        if row is None:
            rows[av.name] = NameRow(av, 1)
        else:
            row.seen += 1
    return rows


def artifacts_page(request: Request) -> Page:
    """Artifact names, newest first, filtered by ``?q=`` (part of the name), paged."""
    store = request.store
    query = (request.arg("q") or "").strip()
    page = request.int_arg("page", 1, 1)
    newest = store.list_artifact_versions(max_results=SCAN_VERSIONS)
    rows = group_names(newest)
    if query:
        try:  # an exact name is found even when it is older than the scanned versions
            exact = store.list_artifact_versions(name=query, max_results=1)
        except NotFound:
            exact = []
        if exact and query not in rows:
            rows[query] = NameRow(exact[0], 1)
    needle = query.lower()
    matching = [r for r in rows.values() if needle in r.name.lower()]
    matching.sort(key=lambda r: (-r.latest.created_at, r.name))
    pages = max(1, -(-len(matching) // NAMES_PER_PAGE))
    if page > pages:
        raise PageError(400, f"page must be at most {pages}.", "There are not that many names.")
    context = {
        "rows": matching[(page - 1) * NAMES_PER_PAGE : page * NAMES_PER_PAGE],
        "query": query,
        "page": page,
        "pages": pages,
        "total": len(matching),
        "any_artifacts": bool(newest),
        "scanned": len(newest),
        "window_full": len(newest) >= SCAN_VERSIONS,
    }
    return Page(template="artifacts.html", context=context)


# --- /artifacts/{artifact_id} -------------------------------------------------------------
def metadata_rows(metadata: Any) -> list[tuple[str, str]]:
    """An artifact's metadata as ``(key, text)`` rows: nested values as JSON, long ones cut."""
    if not isinstance(metadata, dict):
        return []
    rows = []
    for key in sorted(metadata, key=str):
        value = metadata[key]
        if isinstance(value, str):
            text = value
        else:
            try:
                text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                text = repr(value)
        if len(text) > MAX_VALUE_CHARS:
            text = text[:MAX_VALUE_CHARS] + f"… ({len(text):,} characters)"
        rows.append((str(key), text))
    return rows


def load_preview(blobs: Any, artifact: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The preview of the run page's module (``previews.preview``) when it is installed, and
    the stylesheet that goes with it (when it exists)."""
    try:
        previews = importlib.import_module("heron.server.dashboard.previews")
    except ImportError:
        return None, None
    make = getattr(previews, "preview", None)
    if make is None:
        return None, None
    css = "run.css" if (HERE / "static" / "run.css").is_file() else None
    return make(blobs, artifact), css


def lineage_view(graph: lineage.LineageGraph) -> dict[str, Any]:
    """The lineage graph laid out for the SVG drawing."""
    order = sorted(graph.nodes.values(), key=lambda n: (n.distance, n.kind, n.label))
    drawing = dag_layout.layout(
        [n.id for n in order], graph.edges, node_width=184, node_height=46, layer_gap=52
    )
    nodes = []
    for node in order:
        box = drawing.nodes[node.id]
        nodes.append(
            {
                "node": node,
                "box": box,
                "label": clip(node.label, 24),
                "root": node.id == graph.root,
                "frontier": node.id in graph.frontier,
            }
        )
    edges = [{"path": e.path, "source": e.source, "target": e.target} for e in drawing.edges]
    return {"nodes": nodes, "edges": edges, "drawing": drawing}


def artifact_page(request: Request) -> Page:
    """One artifact version with its uses and its lineage (``?depth=`` hops each way); runs
    and artifact versions of projects the caller may not read are left out."""
    store = request.store
    artifact = store.get_artifact_version(request.values["artifact_id"])
    depth = request.int_arg("depth", DEFAULT_DEPTH, 1, MAX_DEPTH)
    producer = None
    producer_hidden = bool(
        artifact.producer_run_id and not request.readable("run", [artifact.producer_run_id])
    )
    if artifact.producer_run_id and not producer_hidden:
        try:
            producer = store.get_run(artifact.producer_run_id)
        except NotFound:
            producer = None
    links = store.list_artifact_links(artifact_id=artifact.id)
    consumer_ids: list[str] = []
    for link in links:
        if link.direction == INPUT and link.run_id not in consumer_ids:
            consumer_ids.append(link.run_id)
    readable = request.readable("run", consumer_ids)
    consumer_ids = [run_id for run_id in consumer_ids if run_id in readable]
    consumers = []
    for run_id in consumer_ids[:MAX_CONSUMERS]:
        try:
            run = store.get_run(run_id)
        except NotFound:
            continue
        names = [lk.name for lk in links if lk.run_id == run_id and lk.direction == INPUT]
        consumers.append({"run": run, "href": run_href(run), "as": ", ".join(names)})
    others = store.list_artifact_versions(name=artifact.name, max_results=MAX_VERSIONS + 1)
    graph = lineage.artifact_lineage(store, artifact.id, depth, readable=request.readable)
    preview, preview_css = load_preview(request.blobs, artifact)
    context = {
        "artifact": artifact,
        "metadata": metadata_rows(artifact.metadata),
        "producer": producer,
        "producer_href": run_href(producer) if producer is not None else None,
        "producer_hidden": producer_hidden,
        "consumers": consumers,
        "more_consumers": max(0, len(consumer_ids) - MAX_CONSUMERS),
        "versions": others[:MAX_VERSIONS],
        "more_versions": len(others) > MAX_VERSIONS,
        "graph": graph,
        "lineage": lineage_view(graph),
        "depth": depth,
        "depths": list(range(1, MAX_DEPTH + 1)),
        "preview": preview,
        "preview_css": preview_css,
        "raw": f"/artifacts/{artifact.id}/raw",
    }
    return Page(template="artifact.html", context=context)


def register(face: DashboardFace) -> None:
    """Add the artifacts pages."""
    face.page("GET", "/artifacts", artifacts_page, permission=viewer())
    face.page(
        "GET",
        "/artifacts/{artifact_id}",
        artifact_page,
        permission=viewer(on("artifact", "artifact_id")),
    )
