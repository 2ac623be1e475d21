"""``/compare?runs=ID&runs=ID…``: 2 to 50 runs side by side.

Params and latest metrics side by side (differing values marked; ``diff=1`` keeps only those),
the curves of one metric overlaid (``metric=``, fetched by ``static/compare.js`` from the REST
API), a scatter of a param against that metric (``param=``), parallel coordinates over the
differing params and the metric (an SVG built here), and the runs' images side by side.
The runs are read with one search per project holding them (each run is checked on its own
project before the page runs); their artifacts with one query per run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from heron.core.errors import HeronError
from heron.server.auth.permissions import on, viewer
from heron.server.dashboard import previews
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request

MIN_RUNS, MAX_RUNS = 2, 50
MAX_AXES = 12
MAX_IMAGE_NAMES = 20
PALETTE = 10
#: the parallel-coordinates drawing, in SVG user units
PC_WIDTH, PC_HEIGHT, PC_TOP, PC_BOTTOM, PC_SIDE = 1000, 340, 34, 24, 120


@dataclass
class Row:
    """One param or metric: its value in each run (``None``: not logged) and whether they differ."""

    key: str
    values: list[Any]
    differs: bool


def side_by_side(runs: list[Any], attribute: str) -> list[Row]:
    """The rows of ``params`` or ``metrics`` of ``runs``, by key."""
    keys = sorted({key for run in runs for key in getattr(run, attribute)})
    rows = []
    for key in keys:
        values = [getattr(run, attribute).get(key) for run in runs]
        distinct = {_same(v) for v in values}
        rows.append(Row(key, values, len(distinct) > 1))
    return rows


def _same(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def as_number(value: Any) -> float | None:
    """A param or metric value as a finite number, or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def axis(label: str, values: list[Any], kind: str) -> dict[str, Any]:
    """One vertical axis of parallel coordinates: numeric when every value given is a number
    (linear from min to max), else categorical (sorted distinct values, evenly spaced).
    ``position(value)`` is in [0, 1] (1 at the top), ``None`` for a missing value."""
    given = [v for v in values if v is not None]
    numbers = [as_number(v) for v in given]
    if given and all(n is not None for n in numbers):
        low, high = min(numbers), max(numbers)  # type: ignore[type-var]
        span = high - low
        positions = [
            None if v is None else (0.5 if span == 0 else (as_number(v) - low) / span)  # type: ignore[operator]
            for v in values
        ]
        ticks = [(1.0, high), (0.0, low)] if span else [(0.5, low)]
        return {"label": label, "kind": kind, "positions": positions, "ticks": ticks}
    categories = sorted({str(v) for v in given})
    place = {c: (i + 0.5) / len(categories) for i, c in enumerate(categories)}
    positions = [None if v is None else 1 - place[str(v)] for v in values]
    ticks = [(1 - place[c], c if len(c) <= 18 else c[:17] + "…") for c in categories[:12]]
    return {"label": label, "kind": kind, "positions": positions, "ticks": ticks}


def parallel_coordinates(
    runs: list[Any], param_keys: list[str], metric: str | None
) -> dict[str, Any] | None:
    """The SVG geometry of parallel coordinates: ``axes`` (x, label, ticks at y) and one
    ``line`` per run (its polyline ``points``, skipping axes where the run has no value).
    ``None`` with fewer than two axes."""
    axes = [axis(key, [run.params.get(key) for run in runs], "param") for key in param_keys]
    if metric is not None:
        axes.append(axis(metric, [run.metrics.get(metric) for run in runs], "metric"))
    if len(axes) < 2:
        return None
    inner = PC_HEIGHT - PC_TOP - PC_BOTTOM
    step = (PC_WIDTH - 2 * PC_SIDE) / (len(axes) - 1)
    drawn = []
    for i, a in enumerate(axes):
        x = round(PC_SIDE + i * step, 1)
        ticks = [(round(PC_TOP + (1 - p) * inner, 1), _tick_label(v)) for p, v in a["ticks"]]
        drawn.append({"x": x, "label": a["label"], "kind": a["kind"], "ticks": ticks})
    lines = []
    for r, run in enumerate(runs):
        points = []
        for i, a in enumerate(axes):
            position = a["positions"][r]
            if position is not None:
                points.append(f"{drawn[i]['x']},{round(PC_TOP + (1 - position) * inner, 1)}")
        if len(points) >= 2:
            lines.append(
                {
                    "run_id": run.id,
                    "name": run.name or run.id,
                    "index": r,
                    "points": " ".join(points),
                }
            )
    return {
        "axes": drawn,
        "lines": lines,
        "width": PC_WIDTH,
        "height": PC_HEIGHT,
        "top": PC_TOP,
        "bottom": PC_HEIGHT - PC_BOTTOM,
    }


def _tick_label(value: Any) -> str:
    if isinstance(value, float):
        from heron.server.dashboard.format import number

        return number(value)
    return str(value)


def run_ids(request: Request) -> list[str]:
    """The distinct ``runs`` of the query, in order; a 400 page unless 2 to 50."""
    ids: list[str] = []
    for value in request.args("runs"):
        for part in value.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part)
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise PageError(
            400,
            f"Pick {MIN_RUNS} to {MAX_RUNS} runs to compare ({len(ids)} given).",
            "Select runs in an experiment's runs table and press Compare, or give them as "
            "/compare?runs=ID&runs=ID.",
        )
    bad = [i for i in ids if "'" in i or "\\" in i]
    if bad:
        raise PageError(404, "No such runs", f"No run has the id {bad[0]!r}.")
    return ids


def load_runs(store: Any, ids: list[str]) -> list[Any]:
    """The runs of ``ids``, in that order, with one search per project holding them (a
    search without experiments stays in its store's project); a 404 page naming the
    missing."""
    groups: dict[str | None, list[str]] = {}
    engine = getattr(store, "engine", None)
    if engine is not None and hasattr(store, "in_project"):
        from heron.store.sql.ownership import projects_of

        owners = projects_of(engine, "run", ids)
        for i in ids:
            groups.setdefault(next(iter(owners[i])) if i in owners else None, []).append(i)
    else:
        groups[None] = ids
    found: dict[str, Any] = {}
    for project, group in groups.items():
        if project is None and engine is not None:
            continue  # no such run
        scoped = store.in_project(project) if project is not None else store
        literal = ", ".join(f"'{i}'" for i in group)
        for run in scoped.search_runs(
            None, f"attributes.run_id IN ({literal})", max_results=len(group), view="all"
        ):
            found[run.id] = run
    missing = [i for i in ids if i not in found]
    if missing:
        raise PageError(404, "No such runs", "Not found: " + ", ".join(missing))
    return [found[i] for i in ids]


def images_side_by_side(request: Request, runs: list[Any]) -> list[dict[str, Any]]:
    """Per image name (``plots/loss.png``): the image of each run that produced one."""
    by_name: dict[str, list[str | None]] = {}
    for r, run in enumerate(runs):
        try:
            versions = request.store.list_artifact_versions(run_id=run.id, max_results=200)
        except HeronError:
            continue
        readable = request.readable("artifact", [a.id for a in versions])
        for artifact in versions:
            if artifact.id not in readable:
                continue
            if artifact.producer_run_id != run.id or artifact.materializer != "file":
                continue
            if previews.suffix(artifact.name) not in previews.IMAGE_TYPES:
                continue
            cells = by_name.setdefault(artifact.name, [None] * len(runs))
            if cells[r] is None:
                cells[r] = previews.raw_url(artifact.id, inline="1")
    names = sorted(by_name)[:MAX_IMAGE_NAMES]
    return [{"name": name, "cells": by_name[name]} for name in names]


def compare(request: Request) -> Page:
    """The compare page."""
    ids = run_ids(request)
    runs = load_runs(request.store, ids)
    params = side_by_side(runs, "params")
    metrics = side_by_side(runs, "metrics")
    only_diff = request.arg("diff") == "1"
    metric_keys = [row.key for row in metrics]
    param_keys = [row.key for row in params]
    metric = request.arg("metric") or (metric_keys[0] if metric_keys else None)
    if metric is not None and metric not in metric_keys:
        raise PageError(400, f"None of these runs has the metric {metric!r}.")
    differing = [row.key for row in params if row.differs]
    param = request.arg("param") or (differing or param_keys or [None])[0]
    if param is not None and param not in param_keys:
        raise PageError(400, f"None of these runs has the param {param!r}.")
    data = {
        "runs": [
            {
                "id": run.id,
                "name": run.name or run.id,
                "index": i,
                "param": run.params.get(param) if param else None,
                "metric": run.metrics.get(metric) if metric else None,
            }
            for i, run in enumerate(runs)
        ],
        "metric": metric,
        "param": param,
    }
    axes_keys = (differing or param_keys)[:MAX_AXES]
    context = {
        "runs": runs,
        "colors": [i % PALETTE for i in range(len(runs))],
        "params": [row for row in params if row.differs or not only_diff],
        "metrics": [row for row in metrics if row.differs or not only_diff],
        "param_count": len(params),
        "metric_count": len(metrics),
        "differing": len(differing),
        "only_diff": only_diff,
        "metric": metric,
        "param": param,
        "metric_keys": metric_keys,
        "param_keys": param_keys,
        "parcoords": parallel_coordinates(runs, axes_keys, metric),
        "images": images_side_by_side(request, runs),
        "data": data,
    }
    return Page(template="compare.html", context=context)


def register(face: DashboardFace) -> None:
    face.page("GET", "/compare", compare, permission=viewer(on("runs", "runs")))
