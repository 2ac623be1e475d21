"""``/runs/{run_id}``: one run: overview, params, metrics (with charts), tags, artifacts with
previews, captured logs, and the step's inputs and outputs.

The page reads only the run, its parent, its first children and its artifact links; the metric
charts fetch their histories from the REST API (``/api/v1/runs/{id}/metrics/history``,
downsampled on the server) once they scroll into view, so a run with a 1,000,000-point metric
opens as fast as any other.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from heron.core.entities import ArtifactVersion, Run
from heron.core.errors import HeronError
from heron.server.auth.permissions import on, viewer
from heron.server.dashboard import previews
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request
from heron.store.base import LOGS_TAG

log = logging.getLogger("heron.server.dashboard.run")

MAX_CHILDREN = 200
MAX_ARTIFACTS = 200
MAX_PREVIEWS = 12
LOG_BYTES = 256 * 1024
#: tag prefixes of the tags Heron (and MLflow clients) set themselves
SYSTEM_TAG_PREFIXES = ("heron.", "mlflow.")
X_AXES = ("step", "time")


@dataclass
class ArtifactUse:
    """One artifact link of the run, with its version and (for the first outputs) a preview."""

    direction: str
    name: str
    artifact: ArtifactVersion | None
    preview: dict[str, Any] | None = None


@dataclass
class ChartState:
    """The charts' settings, read from and kept in the URL (``x``, ``smooth``, ``log``)."""

    x: str = "step"
    smooth: float = 0.0
    log: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def split_tags(tags: dict[str, str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(user tags, system tags)``, each sorted by key; system tags start with ``heron.`` or
    ``mlflow.``."""
    user, system = [], []
    for key, value in sorted(tags.items()):
        (system if key.startswith(SYSTEM_TAG_PREFIXES) else user).append((key, value))
    return user, system


def chart_state(request: Request) -> ChartState:
    """The chart settings of the URL; a 400 page for values that are not settings."""
    x = request.arg("x") or "step"
    if x not in X_AXES:
        raise PageError(400, f"x must be one of {', '.join(X_AXES)}, not {x!r}.")
    raw = request.arg("smooth") or "0"
    try:
        smooth = float(raw)
    except ValueError:
        raise PageError(400, f"smooth must be a number from 0 to 0.99, not {raw!r}.") from None
    if not 0 <= smooth <= 0.99:
        raise PageError(400, f"smooth must be a number from 0 to 0.99, not {raw!r}.")
    return ChartState(x=x, smooth=smooth, log=request.arg("log") == "1")


def logs_hash(uri: str) -> str | None:
    """The content hash in a logs URI (``…/objects/ab/cdef…``), or ``None``."""
    marker = "/objects/"
    path = uri.replace("\\", "/")
    if marker not in path:
        return None
    content_hash = path.rpartition(marker)[2].replace("/", "")
    return content_hash if len(content_hash) == 64 else None


def read_logs(blobs: Any, run: Run) -> dict[str, Any] | None:
    """The run's captured stdout/stderr (the end of it when long), or ``None``."""
    uri = run.tags.get(LOGS_TAG)
    if not uri:
        return None
    content_hash = logs_hash(uri)
    if content_hash is None:
        return {"text": "", "missing": f"The logs are stored at {uri}, which is unreadable here."}
    try:
        with blobs.open(content_hash) as f:
            f.seek(0, 2)
            size = f.tell()
            start = max(0, size - LOG_BYTES)
            f.seek(start)
            data = f.read()
    except (HeronError, OSError) as e:
        return {"text": "", "missing": f"The stored logs could not be read: {e}"}
    text = data.decode("utf-8", "replace")
    if start:
        text = text[text.find("\n") + 1 :]  # start at a whole line
    return {"text": text, "size": size, "truncated": start > 0, "missing": None}


def quoted(value: str) -> str | None:
    """``value`` as a filter string literal, or ``None`` when it cannot be one."""
    return None if "'" in value or "\\" in value else f"'{value}'"


def children_of(store: Any, run: Run) -> list[Run]:
    """The run's first :data:`MAX_CHILDREN` child runs, oldest first."""
    literal = quoted(run.id)
    if literal is None:
        return []
    return list(
        store.search_runs(
            None,
            f"attributes.parent_id = {literal}",
            ["attributes.start_time ASC"],
            max_results=MAX_CHILDREN,
        )
    )


def artifact_uses(request: Request, run: Run) -> list[ArtifactUse]:
    """The run's inputs and outputs, outputs first; the first outputs with previews. Those
    of projects the caller may not read are left out (not even their names are shown)."""
    links = request.store.list_artifact_links(run_id=run.id)
    readable = request.readable("artifact", {link.artifact_id for link in links})
    links = [link for link in links if link.artifact_id in readable][:MAX_ARTIFACTS]
    links.sort(key=lambda link: (link.direction != "output", link.name))
    uses = []
    previewed = 0
    for link in links:
        try:
            artifact = request.store.get_artifact_version(link.artifact_id)
        except HeronError:
            uses.append(ArtifactUse(link.direction, link.name, None))
            continue
        use = ArtifactUse(link.direction, link.name, artifact)
        if link.direction == "output" and previewed < MAX_PREVIEWS:
            use.preview = previews.preview(request.blobs, artifact)
            previewed += 1
        uses.append(use)
    return uses


def run_page(request: Request) -> Page:
    """The run page."""
    state = chart_state(request)
    store = request.store
    run = store.get_run(request.values["run_id"])
    experiment = None
    with contextlib.suppress(HeronError):
        experiment = store.get_experiment(run.experiment_id)
    parent = None
    parent_hidden = bool(run.parent_id and not request.readable("run", [run.parent_id]))
    if run.parent_id and not parent_hidden:
        try:
            parent = store.get_run(run.parent_id)
        except HeronError:
            parent = None
    children = children_of(store, run)
    readable_children = request.readable("run", [c.id for c in children])
    children = [c for c in children if c.id in readable_children]
    user_tags, system_tags = split_tags(run.tags)
    uses = artifact_uses(request, run)
    context = {
        "run": run,
        "experiment": experiment,
        "parent": parent,
        "parent_hidden": parent_hidden,
        "children": children,
        "children_truncated": len(children) >= MAX_CHILDREN,
        "params": sorted(run.params.items()),
        "metrics": sorted(run.metrics.items()),
        "user_tags": user_tags,
        "system_tags": system_tags,
        "outputs": [u for u in uses if u.direction == "output"],
        # the runs that made the inputs, where the caller may read them
        "producers": request.readable(
            "run", {u.artifact.producer_run_id for u in uses if u.artifact is not None}
        ),
        "inputs": [u for u in uses if u.direction != "output"],
        "logs": read_logs(request.blobs, run),
        "chart": state,
    }
    return Page(template="run.html", context=context)


def register(face: DashboardFace) -> None:
    face.page("GET", "/runs/{run_id}", run_page, permission=viewer(on("run", "run_id")))
