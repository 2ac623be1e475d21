"""``/experiments`` (every experiment with its run count and newest run),
``/experiments/{experiment_id}`` (its runs table: server-side paging, sorting on any column,
the search grammar in a filter box, chosen columns, nested runs) and
``/experiments/{experiment_id}/columns`` (the column chooser over every key of the
experiment).

Every state of a table is in its URL: ``filter``, ``sort`` and ``dir``, ``col`` (repeated),
``page``, ``per_page``, ``flat`` (children as rows of their own) and ``deleted``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from heron.core.entities import Experiment
from heron.core.errors import FilterError
from heron.server.auth.permissions import on, viewer
from heron.server.dashboard.face import DashboardFace, Page, PageError, Request
from heron.server.dashboard.pages import runs_table as rt
from heron.store import filters

#: child runs shown under each parent (the rest: on the parent's page)
CHILDREN_SHOWN = 20
#: keys per entity the column chooser lists at once
CHOOSER_KEYS = 500


def experiments(request: Request) -> Page:
    """Every experiment: name, tags, run count, newest run; deleted ones with ``deleted=1``."""
    show_deleted = request.arg("deleted") == "1"
    needle = (request.arg("q") or "").strip()
    listed = request.store.list_experiments("all" if show_deleted else "active")
    stats = request.store.experiment_run_stats([e.id for e in listed]) if listed else {}
    total = len(listed)
    if needle:
        listed = [e for e in listed if needle.casefold() in e.name.casefold()]
    rows = [(e, *stats.get(e.id, (0, None))) for e in listed]
    return Page(
        template="experiments.html",
        context={
            "rows": rows,
            "total": total,
            "q": needle,
            "show_deleted": show_deleted,
            "any_runs": bool(stats),
            "snippet": start_snippet(),
        },
    )


def start_snippet(experiment: str | None = None) -> str:
    """Three lines of Python that track a run (into ``experiment``, if named)."""
    where = f"heron.set_experiment({experiment!r})\n" if experiment else ""
    return (
        f'import heron\n{where}with heron.start_run(name="first"):\n'
        '    heron.log_params({"lr": 0.1}); heron.log_metric("acc", 0.9)'
    )


def _experiment(request: Request) -> Experiment:
    return request.store.get_experiment(request.values["experiment_id"])


class TableState:
    """What a runs table URL asks for, checked (a bad value is a 400 page)."""

    def __init__(self, request: Request) -> None:
        self.filter = (request.arg("filter") or "").strip()
        self.per_page = request.int_arg("per_page", rt.PAGE_SIZES[0], 1, 1000)
        if self.per_page not in rt.PAGE_SIZES:
            sizes = ", ".join(map(str, rt.PAGE_SIZES))
            raise PageError(400, f"per_page must be one of {sizes}, not {self.per_page}.")
        self.page = request.int_arg("page", 1, 1, 10**7)
        sort = request.arg("sort")
        self.sort = rt.parse_column(sort) if sort else rt.DEFAULT_SORT
        if self.sort is None or not self.sort.sortable:
            raise PageError(
                400,
                f"Cannot sort on {sort!r}.",
                "Sort on name, status, start_time, user, metrics.<key>, params.<key> or "
                "tags.<key>.",
            )
        direction = request.arg("dir") or ("desc" if self.sort.default_descending() else "asc")
        if direction not in ("asc", "desc"):
            raise PageError(400, f"dir must be asc or desc, not {direction!r}.")
        self.descending = direction == "desc"
        self.chosen = "col" in request.query
        self.columns = rt.parse_columns(request.args("col"))
        self.flat = request.arg("flat") == "1"
        self.deleted = request.arg("deleted") == "1"

    def hidden(self, request: Request, *skip: str) -> list[tuple[str, str]]:
        """The query as hidden form fields, but for ``skip`` (and the page: a new query
        starts at page 1)."""
        skip_set = {*skip, "page"}
        return [(k, v) for k, vs in sorted(request.query.items()) if k not in skip_set for v in vs]


def runs(request: Request) -> Page:
    """One page of an experiment's runs, filtered and sorted as the URL says."""
    experiment = _experiment(request)
    state = TableState(request)
    store = request.store
    # a deleted experiment's runs count as deleted in searches: show them all
    view = "all" if experiment.deleted else "deleted" if state.deleted else "active"
    order_by = [state.sort.order_by(state.descending)]
    offset = (state.page - 1) * state.per_page
    filter_error = None
    try:
        filters.parse_filter(state.filter or None)
        page_runs, more = store.search_runs_page(
            [experiment.id],
            state.filter or None,
            order_by,
            limit=state.per_page,
            offset=offset,
            top_level=not state.flat,
            view=view,
        )
    except FilterError as e:  # shown inline; the table shows the runs without the filter
        filter_error = str(e)
        page_runs, more = store.search_runs_page(
            [experiment.id],
            None,
            order_by,
            limit=state.per_page,
            offset=offset,
            top_level=not state.flat,
            view=view,
        )
    children = {}
    if not state.flat:
        children = store.child_runs([r.id for r in page_runs], CHILDREN_SHOWN, view)
    shown_runs = [*page_runs, *(c for kids, _ in children.values() for c in kids)]
    if state.chosen:
        columns = state.columns
    else:
        wanted = [state.sort, *rt.filter_columns(state.filter)]
        columns = rt.default_columns(shown_runs, wanted)
    run_count, _newest = store.experiment_run_stats([experiment.id]).get(experiment.id, (0, None))
    shown = [("col", c.id) for c in columns] or [("col", "")]
    chooser = f"/experiments/{experiment.id}/columns?" + urlencode(
        [*state.hidden(request, "col"), *shown]
    )
    return Page(
        template="runs_table.html",
        context={
            "experiment": experiment,
            "state": state,
            "runs": page_runs,
            "children": children,
            "more": more,
            "first": offset + 1,
            "columns": columns,
            "attributes": rt.ATTRIBUTE_COLUMNS,
            "candidates": rt.candidate_columns(shown_runs, columns),
            "filter_error": filter_error,
            "error_at": rt.error_position(filter_error) if filter_error else None,
            "run_count": run_count,
            "any_running": any(r.status in ("running", "pending") for r in shown_runs),
            "rt": rt,
            "page_sizes": rt.PAGE_SIZES,
            "children_shown": CHILDREN_SHOWN,
            "chooser_href": chooser,
            "snippet": start_snippet(experiment.name),
        },
    )


def columns(request: Request) -> Page:
    """Every metric, param and tag key of the experiment (matching ``q``), to choose from."""
    experiment = _experiment(request)
    state = TableState(request)
    needle = (request.arg("q") or "").strip()
    groups: list[tuple[str, str, list[rt.Column], int]] = []
    for entity, title in (("metric", "Metrics"), ("param", "Params"), ("tag", "Tags")):
        names, count = request.store.experiment_keys(experiment.id, entity, needle, CHOOSER_KEYS)
        groups.append((entity, title, [rt.Column(entity, k) for k in names], count))
    listed = {c for _, _, group, _ in groups for c in group}
    return Page(
        template="runs_columns.html",
        context={
            "experiment": experiment,
            "state": state,
            "groups": groups,
            "q": needle,
            "chosen": set(state.columns),
            "kept": [c for c in state.columns if c not in listed],
            "limit": CHOOSER_KEYS,
        },
    )


def register(face: DashboardFace) -> None:
    """The experiments list, the runs table and its column chooser."""
    experiment = viewer(on("experiment", "experiment_id"))
    face.page("GET", "/experiments", experiments, permission=viewer())
    face.page("GET", "/experiments/{experiment_id}", runs, permission=experiment)
    face.page("GET", "/experiments/{experiment_id}/columns", columns, permission=experiment)
