"""``/pipelines`` (pipelines by name, their versions and recent runs) and
``/pipelines/runs/{run_id}`` (one pipeline run: its DAG and timeline as server-drawn SVG, and
its steps' captured output)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from heron.core.errors import HeronError, NotFound
from heron.server.auth.permissions import on, viewer
from heron.server.dashboard import dag_layout
from heron.server.dashboard import format as fmt
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request

PIPELINE_TAG = "heron.pipeline"  # heron.pipelines.runner.PIPELINE_TAG (not imported: heavy)
ATTEMPTS_TAG = "heron.attempts"  # heron.execution.executor.ATTEMPTS_TAG
CACHED_FROM_TAG = "heron.cached_from"
LOGS_TAG = "heron.logs"  # heron.store.base.LOGS_TAG
#: pipelines per page of /pipelines, and recent runs shown for each
PIPELINES_PER_PAGE = 20
RECENT_RUNS = 6
#: the most captured output shown inline (its end: where errors are); the CLI has all of it
MAX_LOG_BYTES = 256 * 1024
#: the most step runs a pipeline run page reads
MAX_STEPS = 5000
LABEL_CHARS = 22
PIPELINE_RUNS = "attributes.kind = 'pipeline'"


def quoted(text: str) -> str:
    """``text`` as a quoted string of the search filter grammar."""
    return "'" + text.replace("'", "''") + "'"


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def span_text(ms: float) -> str:
    """A duration in ms, readable at step scale: ``12 ms`` below a second, else as
    :func:`heron.server.dashboard.format.duration` writes it."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return fmt.duration(1, 1 + ms)


def run_href(run: Any) -> str:
    """Where a run is shown: pipeline runs here, other runs on the run page."""
    if run.kind == "pipeline":
        return f"/pipelines/runs/{run.id}"
    return f"/runs/{run.id}"


# --- /pipelines ------------------------------------------------------------------------------
@dataclass
class PipelineRow:
    """One pipeline on /pipelines."""

    name: str
    versions: list[Any]
    runs: list[Any]

    @property
    def latest(self) -> Any:
        return self.versions[0]

    @property
    def steps(self) -> int:
        return len(self.latest.structure.get("nodes", []))


def project_versions(request: Request, versions: list[Any]) -> list[Any]:
    """The pipeline versions of the page's project: those its runs ran (a version no run ran
    yet is shown in ``default``). Pipeline versions are content-addressed and shared by every
    project, so the versions other projects ran are not named here."""
    from heron.store.sql.ownership import projects_of

    engine = getattr(request.face.store, "engine", None)
    if engine is None or not versions:
        return versions
    owners = projects_of(engine, "pipeline_version", [v.id for v in versions])
    project = request.project
    return [
        v
        for v in versions
        if project in owners.get(v.id, ()) or (v.id not in owners and project == "default")
    ]


def pipelines_page(request: Request) -> Page:
    """The project's pipelines by name, filtered by ``?q=`` (part of the name) and paged by
    ``?page=``."""
    store = request.store
    query = (request.arg("q") or "").strip()
    page = request.int_arg("page", 1, 1)
    by_name: dict[str, list[Any]] = {}
    for version in project_versions(request, store.list_pipeline_versions()):  # newest first
        by_name.setdefault(version.name, []).append(version)
    names = sorted(n for n in by_name if query.lower() in n.lower())
    pages = max(1, -(-len(names) // PIPELINES_PER_PAGE))
    if page > pages:
        raise PageError(400, f"page must be at most {pages}.", "There are not that many pipelines.")
    shown = names[(page - 1) * PIPELINES_PER_PAGE : page * PIPELINES_PER_PAGE]
    rows = []
    for name in shown:
        runs = store.search_runs(
            filter_string=f"{PIPELINE_RUNS} and tags.`{PIPELINE_TAG}` = {quoted(name)}",
            order_by=["attributes.start_time DESC"],
            max_results=RECENT_RUNS,
        )
        rows.append(PipelineRow(name, by_name[name], list(runs)))
    context = {
        "rows": rows,
        "query": query,
        "page": page,
        "pages": pages,
        "total": len(names),
        "any_pipelines": bool(by_name),
    }
    return Page(template="pipelines.html", context=context)


# --- /pipelines/runs/{run_id} ------------------------------------------------------------------
@dataclass
class StepView:
    """One node of the DAG with the step run that executed it (if any yet)."""

    id: str
    step: str
    run: Any = None
    upstream: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.run.status if self.run is not None else "pending"

    @property
    def cached(self) -> bool:
        return self.status == "cached"

    @property
    def attempts(self) -> int:
        if self.run is None or self.status in ("skipped", "cached"):
            return 0
        try:
            return int(self.run.tags.get(ATTEMPTS_TAG, "1"))
        except ValueError:
            return 1

    @property
    def retried(self) -> bool:
        return self.attempts > 1

    @property
    def duration(self) -> str:
        if self.run is None or not self.run.start_time or self.status == "skipped":
            return ""
        end = self.run.end_time
        if end is None:
            if self.status not in ("running", "pending"):
                return ""
            end = time.time() * 1000
        return span_text(max(0, end - self.run.start_time))

    @property
    def href(self) -> str | None:
        return f"/runs/{self.run.id}" if self.run is not None else None

    @property
    def label(self) -> str:
        return clip(self.id)

    @property
    def summary(self) -> str:
        """The node's second line: status, duration, marks."""
        parts = [self.status]
        if self.duration:
            parts.append(self.duration)
        return " · ".join(parts)


def structure_steps(structure: dict[str, Any]) -> tuple[list[StepView], dict[tuple, list[str]]]:
    """The DAG of a pipeline version: its nodes in run order and its edges, each
    ``(upstream id, node id)`` with the labels of what flows along it."""
    steps = []
    edges: dict[tuple[str, str], list[str]] = {}
    for node in structure.get("nodes", []):
        view = StepView(node["id"], node.get("step", node["id"]))
        view.outputs = list(node.get("outputs", []))
        for arg, ref in node.get("inputs", {}).items():
            refs = ref if ref and isinstance(ref[0], list) else [ref]
            for upstream, output in refs:
                edges.setdefault((upstream, node["id"]), []).append(f"{upstream}.{output} → {arg}")
                if upstream not in view.upstream:
                    view.upstream.append(upstream)
        for upstream in node.get("after", []):
            edges.setdefault((upstream, node["id"]), []).append("after")
            if upstream not in view.upstream:
                view.upstream.append(upstream)
        steps.append(view)
    return steps, edges


@dataclass
class GanttBar:
    """One step's bar on the timeline."""

    step: StepView
    x: float
    y: float
    width: float


@dataclass
class Gantt:
    """The timeline drawing: bars, axis ticks and the size."""

    bars: list[GanttBar]
    ticks: list[tuple[float, str]]
    width: float
    height: float
    label_width: float
    row: float
    span_ms: float


def gantt(
    steps: list[StepView], now_ms: float, width: float = 960, label_width: float = 190
) -> Gantt:
    """Lay out the step runs that started on a timeline from the first start to the last
    end (``now_ms`` for steps still running): one row each, in start order."""
    timed = [s for s in steps if s.run is not None and s.run.start_time]
    timed.sort(key=lambda s: (s.run.start_time, s.run.end_time or now_ms))
    row, top, value_width = 22.0, 24.0, 90.0
    area = width - label_width - value_width
    if not timed:
        return Gantt([], [], width, top, label_width, row, 0)
    start = min(s.run.start_time for s in timed)
    end = max((s.run.end_time or now_ms) for s in timed)
    span = max(end - start, 1.0)
    bars = []
    for i, step in enumerate(timed):
        begin = step.run.start_time
        finish = step.run.end_time or now_ms
        x = label_width + (begin - start) / span * area
        bars.append(GanttBar(step, x, top + i * row, max(2.0, (finish - begin) / span * area)))
    ticks = []
    for k in range(5):
        offset = span * k / 4
        ticks.append((label_width + area * k / 4, "+" + span_text(offset)))
    return Gantt(bars, ticks, width, top + len(timed) * row + 4, label_width, row, span)


def read_logs(blobs: Any, run: Any) -> tuple[str | None, bool]:
    """A step run's captured output from the server's artifact store (its last
    :data:`MAX_LOG_BYTES`), and whether it was cut; ``None`` when it cannot be read."""
    uri = (run.tags or {}).get(LOGS_TAG)
    if not uri:
        return "", False
    content_hash = uri.replace("\\", "/").rpartition("/objects/")[2].replace("/", "")
    try:
        data = blobs.read_bytes(content_hash)
    except (HeronError, OSError, ValueError):
        return None, False
    cut = len(data) > MAX_LOG_BYTES
    if cut:
        data = data[-MAX_LOG_BYTES:]
    return data.decode("utf-8", "replace"), cut


def step_runs(store: Any, run_id: str) -> dict[str, Any]:
    """The step runs of a pipeline run by node id (the newest when a name repeats)."""
    found: dict[str, Any] = {}
    token = None
    read = 0
    while read < MAX_STEPS:
        page = store.search_runs(
            filter_string=f"attributes.parent_id = {quoted(run_id)}",
            order_by=["attributes.start_time ASC"],
            max_results=min(1000, MAX_STEPS - read),
            page_token=token,
        )
        for run in page:
            found[run.name] = run
        read += len(page)
        token = page.token
        if not token:
            break
    return found


def pipeline_run_page(request: Request) -> Page:
    """One pipeline run: overview, DAG, timeline, steps and the chosen step's output."""
    store = request.store
    run_id = request.values["run_id"]
    run = store.get_run(run_id)
    if run.kind != "pipeline":
        return Page(body=b"", status=307, headers=[(b"location", f"/runs/{run.id}".encode())])
    version = None
    if run.pipeline_version_id:
        try:
            version = store.get_pipeline_version(run.pipeline_version_id)
        except NotFound:
            version = None
    steps, edges = structure_steps(version.structure) if version is not None else ([], {})
    runs = step_runs(store, run.id)
    by_id = {s.id: s for s in steps}
    for name, step_run in runs.items():
        if name in by_id:
            by_id[name].run = step_run
        else:  # a step the stored structure does not know (it was lost): shown unwired
            extra = StepView(name, name, step_run)
            steps.append(extra)
            by_id[name] = extra
    drawing = dag_layout.layout(
        [s.id for s in steps], list(edges), node_width=176, node_height=48, layer_gap=48
    )
    edge_views = [
        {
            "path": e.path,
            "source": e.source,
            "target": e.target,
            "title": "; ".join(edges.get((e.source, e.target), [])),
        }
        for e in drawing.edges
    ]
    nodes = [(s, drawing.nodes[s.id]) for s in steps]
    counts: dict[str, int] = {}
    for s in steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    chosen_id = request.arg("log")
    if chosen_id is None:
        failed = [s for s in steps if s.status == "failed"]
        chosen_id = failed[0].id if failed else None
    chosen = by_id.get(chosen_id) if chosen_id else None
    if chosen_id and chosen is None:
        raise PageError(
            400, f"This pipeline run has no step {chosen_id!r}.", "Pick a step from the table."
        )
    logs, logs_cut = (None, False)
    if chosen is not None and chosen.run is not None:
        logs, logs_cut = read_logs(request.blobs, chosen.run)
    context = {
        "run": run,
        "pipeline": run.tags.get(PIPELINE_TAG, version.name if version else run.name),
        "version": version,
        "steps": steps,
        "nodes": nodes,
        "edges": edge_views,
        "drawing": drawing,
        "gantt": gantt(steps, time.time() * 1000),
        "counts": sorted(counts.items()),
        "chosen": chosen,
        "logs": logs,
        "logs_cut": logs_cut,
        "max_log_kb": MAX_LOG_BYTES // 1024,
        "live": run.status in ("running", "pending"),
    }
    return Page(template="pipeline_run.html", context=context)


def register(face: DashboardFace) -> None:
    """Add the pipelines pages."""
    face.page("GET", "/pipelines", pipelines_page, permission=viewer())
    face.page(
        "GET",
        "/pipelines/runs/{run_id}",
        pipeline_run_page,
        permission=viewer(on("run", "run_id")),
    )
