"""``/models``, ``/models/{name}`` and ``/models/{name}/versions/{version}``: the registry.

Registered models with their latest version and aliases; one model's versions (paged by
version number, newest first) and its alias history as a table and an SVG timeline per alias;
one version with its run, pipeline run, training data (the inputs of the run that produced it)
and the flavor and signature recorded in the model artifact's metadata. Read-only: moving an
alias from the page waits for sign-in (auth).

Models are the page's project's (chosen in the header); a version's run, pipeline run and
training data may belong to another project, and are shown only to who may read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from heron.core.errors import NotFound
from heron.server.auth.permissions import viewer
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request

#: models listed at most on /models (narrow them with ?q=)
MODELS_SHOWN = 200
#: versions per page of /models/{name}
VERSIONS_PER_PAGE = 50
#: alias events listed at most in the history table (the timelines draw every one)
HISTORY_SHOWN = 200
#: the width of an alias timeline, in SVG user units
TIMELINE_WIDTH = 640.0
#: version colours of the timelines (CSS classes tl-v0 ... tl-v7)
TIMELINE_COLOURS = 8


# --- links -----------------------------------------------------------------------------------
def model_href(name: str) -> str:
    """The page of registered model ``name`` (every character but unreserved ones encoded,
    so a ``/`` or ``?`` in a name stays inside its path segment)."""
    return "/models/" + quote(name, safe="")


def model_version_href(name: str, version: Any) -> str:
    """The page of version ``version`` of model ``name``."""
    return f"{model_href(name)}/versions/{int(version)}"


# --- queries ---------------------------------------------------------------------------------
def like_pattern(text: str) -> str:
    """A LIKE pattern matching names that contain ``text`` (its ``%``, ``_`` and ``\\``
    taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def string_literal(value: str) -> str:
    """``value`` as a single-quoted string of the filter grammar (DESIGN §2)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def versions_filter(name: str, before: int | None) -> str:
    """The model-version filter of one page of ``name``'s versions below ``before``."""
    text = f"name = {string_literal(name)}"
    return text if before is None else f"{text} and version < {int(before)}"


# --- alias timelines -------------------------------------------------------------------------
@dataclass
class Span:
    """One stretch of time during which an alias pointed at ``version``; ``x``/``width`` place
    it on the timeline."""

    version: int
    start: int
    end: int | None  # None: it still points there
    action: str  # the move that started it: set or rollback
    user: str | None
    x: float = 0.0
    width: float = 0.0

    @property
    def colour(self) -> str:
        return f"tl-v{self.version % TIMELINE_COLOURS}"


@dataclass
class Mark:
    """A move drawn as a tick on the timeline: a rollback, a removal or a deleted version."""

    action: str
    timestamp: int
    user: str | None
    from_version: int | None
    to_version: int | None
    x: float = 0.0


@dataclass
class Timeline:
    """The history of one alias, ready to draw."""

    alias: str
    current: int | None
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def alias_timelines(
    events: list[Any], now: int | None = None, width: float = TIMELINE_WIDTH
) -> tuple[list[Timeline], int, int]:
    """Timelines per alias (by name) from alias events (oldest first), all on one time axis
    from the first event to ``now``; returns ``(timelines, axis start, axis end)``."""
    now = int(time.time() * 1000) if now is None else now
    by_alias: dict[str, list[Any]] = {}
    for event in sorted(events, key=lambda e: e.timestamp):
        by_alias.setdefault(event.alias, []).append(event)
    if not by_alias:
        return [], now, now
    start = min(e.timestamp for e in events)
    end = max(now, max(e.timestamp for e in events))
    extent = max(end - start, 1)

    def place(moment: int) -> float:
        return round((moment - start) / extent * width, 2)

    timelines = []
    for alias in sorted(by_alias):
        timeline = Timeline(alias, None)
        open_span: Span | None = None
        for event in by_alias[alias]:
            if open_span is not None:
                open_span.end = event.timestamp
                open_span = None
            if event.action != "set":
                timeline.marks.append(
                    Mark(
                        event.action,
                        event.timestamp,
                        event.user,
                        event.from_version,
                        event.to_version,
                        place(event.timestamp),
                    )
                )
            if event.to_version is not None:
                open_span = Span(event.to_version, event.timestamp, None, event.action, event.user)
                timeline.spans.append(open_span)
        timeline.current = open_span.version if open_span is not None else None
        for span in timeline.spans:
            span.x = place(span.start)
            right = place(span.end if span.end is not None else end)
            span.width = max(round(right - span.x, 2), 2.0)
        timelines.append(timeline)
    return timelines, start, end


# --- model metadata --------------------------------------------------------------------------
def model_facts(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """What the model artifact's metadata says about the model: its flavor, class, library
    versions and signature (input columns or tensor, output), each empty when not recorded."""
    model = (metadata or {}).get("model")
    if not isinstance(model, dict):
        return {"flavor": None, "cls": None, "libraries": {}, "inputs": None, "outputs": None}
    signature = model.get("signature") if isinstance(model.get("signature"), dict) else {}
    libraries = model.get("libraries") if isinstance(model.get("libraries"), dict) else {}
    return {
        "flavor": model.get("flavor"),
        "cls": model.get("class"),
        "libraries": {str(k): str(v) for k, v in libraries.items()},
        "inputs": _schema(signature.get("inputs")),
        "outputs": _schema(signature.get("outputs")),
    }


def _schema(part: Any) -> dict[str, Any] | None:
    """A signature's inputs or outputs: ``{"type", "columns": [(name, dtype)], "dtype",
    "shape"}``."""
    if not isinstance(part, dict):
        return None
    columns = []
    for column in part.get("columns") or []:
        if isinstance(column, dict):
            columns.append((str(column.get("name", "")), str(column.get("dtype", ""))))
    shape = part.get("shape")
    return {
        "type": str(part.get("type", "")),
        "columns": columns,
        "dtype": part.get("dtype"),
        "shape": "(" + ", ".join(str(s) for s in shape) + ")" if isinstance(shape, list) else None,
    }


# --- pages -----------------------------------------------------------------------------------
def models_page(request: Request) -> Page:
    """Every registered model (up to :data:`MODELS_SHOWN`), by name, optionally filtered."""
    q = (request.arg("q") or "").strip()
    found = request.store.list_registered_models(
        name_like=like_pattern(q) if q else None, max_results=MODELS_SHOWN + 1
    )
    return Page(
        template="models.html",
        context={"models": found[:MODELS_SHOWN], "more": len(found) > MODELS_SHOWN, "q": q},
    )


def model_page(request: Request) -> Page:
    """One model: description, tags, a page of versions, the alias history."""
    name = request.values["name"]
    model = request.store.get_registered_model(name)
    before = request.int_arg("before", 0, low=0)
    page = request.store.search_model_versions(
        versions_filter(name, before or None),
        order_by=["version DESC"],
        max_results=VERSIONS_PER_PAGE + 1,
    )
    versions = page[:VERSIONS_PER_PAGE]
    older = versions[-1].version if len(page) > VERSIONS_PER_PAGE else None
    events = request.store.get_alias_history(name)
    timelines, axis_start, axis_end = alias_timelines(events)
    history = list(reversed(events))
    # a version may come from another project's run: its ids are shown to who may read it
    run_ids = [i for v in versions for i in (v.run_id, v.pipeline_run_id) if i]
    shown = request.readable("run", run_ids)
    shown |= request.readable("artifact", [v.artifact_id for v in versions])
    return Page(
        template="model.html",
        context={
            "model": model,
            "shown": shown,
            "versions": versions,
            "older": older,
            "before": before or None,
            "history": history[:HISTORY_SHOWN],
            "history_total": len(history),
            "timelines": timelines,
            "axis_start": axis_start,
            "axis_end": axis_end,
            "width": TIMELINE_WIDTH,
        },
    )


def model_version_page(request: Request) -> Page:
    """One version: facts, run, pipeline run, training data, flavor and signature."""
    name = request.values["name"]
    raw = request.values["version"]
    if not raw.isdigit() or int(raw) < 1:
        raise PageError(400, f"A model version is a whole number from 1, not {raw!r}.")
    version = request.store.get_model_version(name, int(raw))
    store = request.store
    runs = request.readable("run", [version.run_id or "", version.pipeline_run_id or ""])
    artifacts = request.readable("artifact", [version.artifact_id])
    artifact = _maybe(store.get_artifact_version, version.artifact_id, artifacts)
    run = _maybe(store.get_run, version.run_id, runs) if version.run_id else None
    pipeline_run = (
        _maybe(store.get_run, version.pipeline_run_id, runs) if version.pipeline_run_id else None
    )
    inputs = []
    if run is not None:
        links = [
            link for link in store.list_artifact_links(run_id=run.id) if link.direction == "input"
        ]
        shown = request.readable("artifact", [link.artifact_id for link in links])
        for link in links:
            if link.artifact_id in shown:
                inputs.append((link, _maybe(store.get_artifact_version, link.artifact_id)))
    moves = [
        e
        for e in reversed(store.get_alias_history(name))
        if version.version in (e.from_version, e.to_version)
    ]
    hidden = {
        name
        for name, ident, allowed in (
            ("run", version.run_id, runs),
            ("pipeline_run", version.pipeline_run_id, runs),
            ("artifact", version.artifact_id, artifacts),
        )
        if ident and ident not in allowed
    }
    return Page(
        template="model_version.html",
        context={
            "mv": version,
            "hidden": hidden,
            "artifact": artifact,
            "facts": model_facts(artifact.metadata if artifact else None),
            "run": run,
            "pipeline_run": pipeline_run,
            "inputs": inputs,
            "moves": moves[:HISTORY_SHOWN],
        },
    )


def _maybe(read: Any, ident: str, readable: set[str] | None = None) -> Any:
    """``read(ident)``, or ``None`` when it is gone (a deleted run or artifact) or not in
    ``readable``."""
    if readable is not None and ident not in readable:
        return None
    try:
        return read(ident)
    except NotFound:
        return None


def register(face: DashboardFace) -> None:
    """The model pages and the link helpers their templates use."""
    face.template_global("model_href", model_href)
    face.template_global("model_version_href", model_version_href)
    face.page("GET", "/models", models_page, permission=viewer())
    face.page("GET", "/models/{name}", model_page, permission=viewer())
    face.page("GET", "/models/{name}/versions/{version}", model_version_page, permission=viewer())
