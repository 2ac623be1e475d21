"""The dashboard figures of ``benchmarks/dashboard.py`` against MLflow's UI (``mlflow server``,
MLflow 3.17.2) on the same shape of store: 100,000 runs with 20 params and 20 metrics each.

Runs in its own virtualenv (MLflow is no dependency of Heron; Playwright is installed beside
it); see ``benchmarks/run_peers.sh --dashboard``:

    .venv-peers/mlflow/bin/python benchmarks/peers/mlflow_ui.py [--quick] [--only NAME]
        [--runs 100000] [--workers 2]

Prints one JSON line per figure (``"tool": "mlflow"``) with the names of Heron's script, for
the figures MLflow's UI has: the runs table (figure 1) and compare runs (figure 4); it has no
pipeline DAG, and its run page draws no metric chart (a metric's chart is a page of its own).
The store is seeded with 1,000 runs through ``SqlAlchemyStore`` (create_run, log_batch of the
20 params and 20 metrics, update_run_info to FINISHED) and grown to size by copying those runs
in SQL with fresh ids and fresh metric values (``mlflow_tracking.grow_with_sql``). The server
is started as a user starts it, ``mlflow server --backend-store-uri sqlite:////…/mlflow.db
--host 127.0.0.1 --port P --workers N --serve-artifacts --artifacts-destination …``.

*Server time* is, as for Heron, the request time of the page's HTML: for MLflow's single-page
app that is the static ``index.html``, so ``detail.search_api_median_ms`` adds the time of the
``runs/search`` request the runs table depends on (the UI's own request, timed the same way),
and ``detail.api_calls`` lists the UI's requests as the browser timed them. *Browser time*
runs until the runs table's rows (figure 1) or the compare page's parameter table (figure 4)
are drawn; a page not drawn within 120 s is reported as "did not load". The UI's URL holds
the filter and the order as it writes them itself (``searchFilter``, ``orderByKey``,
``orderByAsc``; ``#/compare-runs?runs=[…]&experiments=[…]``). MLflow's usage telemetry is
switched off (``MLFLOW_DISABLE_TELEMETRY``), which can only help it.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h
import dashboard as d  # benchmarks/dashboard.py: the shared half
import mlflow_server as ms  # the `mlflow server` command line and environment
import mlflow_tracking as mt  # grow_with_sql
import server as s

TOOL = "mlflow"
GROUPS = ("runs_table", "compare")
SEED_THROUGH_STORE = 1_000  # runs written by SqlAlchemyStore; the rest are SQL copies
#: the runs/search body the UI's runs table depends on (its filter, order and page size)
SEARCH_PATH = "/ajax-api/2.0/mlflow/runs/search"
#: a runs/search slower than this is timed once (its first call)
SLOW_SEARCH_MS = 5_000


def seed(db: str, artifacts: str, sizes: d.DashboardSizes) -> tuple[str, float]:
    """The experiment of ``sizes.runs`` finished runs; its id and the seconds it took."""
    from mlflow.entities import Metric, Param, RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    t0 = time.perf_counter()
    store = SqlAlchemyStore("sqlite:///" + db, artifacts)
    experiment_id = store.create_experiment(d.EXPERIMENT)
    rng = random.Random(0)
    base = min(SEED_THROUGH_STORE, sizes.runs)
    for i in range(base):
        v = d.run_values(i, rng, sizes)
        ts = d.now_ms()
        run = store.create_run(experiment_id, "bench", ts, [RunTag("team", v["team"])], f"run-{i}")
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            [Metric(k, x, ts, 0) for k, x in v["metrics"].items()],
            [Param(k, x) for k, x in v["params"].items()],
            [],
        )
        store.update_run_info(run_id, RunStatus.FINISHED, d.now_ms(), None)
    h.progress(f"  {base:,} runs through SqlAlchemyStore in {time.perf_counter() - t0:.1f} s")
    store.engine.dispose()
    if sizes.runs > base:
        mt.grow_with_sql(db, experiment_id, sizes.runs)
    return experiment_id, time.perf_counter() - t0


def best_run_ids(url: str, experiment_id: str, n: int) -> list[str]:
    """The first ``n`` runs of the runs table's filter and order, from the server."""
    body = search_body(experiment_id, n)
    got = post_json(url + SEARCH_PATH, body)
    return [r["info"]["run_id"] for r in got.get("runs", [])]


def search_body(experiment_id: str, max_results: int) -> dict[str, Any]:
    return {
        "experiment_ids": [experiment_id],
        "filter": d.TABLE_FILTER,
        "order_by": [f"metrics.`{d.SORT_METRIC}` DESC"],
        "max_results": max_results,
        "run_view_type": "ACTIVE_ONLY",
    }


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        connection.request(
            "POST", parts.path, json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"POST {parts.path}: HTTP {response.status}: {data[:500]!r}")
        return json.loads(data)
    finally:
        connection.close()


def search_api_time(url: str, experiment_id: str, rows: int, repeats: int) -> dict[str, Any]:
    """``runs/search`` as the runs table asks it: median of ``repeats`` (fewer when slow)."""
    t0 = time.perf_counter()
    got = post_json(url + SEARCH_PATH, search_body(experiment_id, rows))
    first = (time.perf_counter() - t0) * 1000
    if len(got.get("runs", [])) != rows:
        raise SystemExit(f"runs/search: {len(got.get('runs', []))} runs, {rows} expected")
    if first > SLOW_SEARCH_MS:  # seconds a call: the first call is the figure
        return {
            "search_api_median_ms": first,
            "search_api_first_ms": first,
            "search_api_repeats": 1,
        }
    reps = repeats if first < 1_000 else 3
    stats = h.repeat_ms(
        lambda: post_json(url + SEARCH_PATH, search_body(experiment_id, rows)), reps, warmup=1
    )
    return {
        "search_api_median_ms": stats["median_ms"],
        "search_api_first_ms": first,
        "search_api_repeats": reps,
    }


def main() -> int:
    args = d.parse_args("The dashboard figures against MLflow's UI (mlflow server).", GROUPS)
    if args.worker:
        s.worker_setup()
        bench_mlflow(args)
        return 0

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(MLFLOW_DISABLE_TELEMETRY="true")

    return 1 if d.run_worker(os.path.abspath(__file__), args, env_for) else 0


def bench_mlflow(args: Any) -> None:
    import mlflow

    sizes = d.sizes_for(args)
    workdir = args.workdir
    db = os.path.join(workdir, "server", "mlflow.db")
    artifacts = os.path.join(workdir, "server", "mlartifacts")
    os.makedirs(artifacts, exist_ok=True)
    names = d.figure_names(sizes)
    h.progress(f"seeding {sizes.runs:,} runs ({sizes.params} params, {sizes.metrics} metrics)")
    experiment_id, seed_s = seed(db, artifacts, sizes)
    h.progress(f"  {sizes.runs:,} runs in {seed_s:.1f} s")
    common = {
        "store_runs": sizes.runs,
        "server_workers": args.workers,
        "seed_s": seed_s,
        "mlflow_version": mlflow.__version__,
    }
    with s.running_server(
        ms.mlflow_argv(workdir), args.workers, workdir, ms.server_env()
    ) as server:
        base = server.url
        if "runs_table" in args.groups:
            query = urlencode(
                {
                    "searchFilter": d.TABLE_FILTER,
                    "orderByKey": f"metrics.`{d.SORT_METRIC}`",
                    "orderByAsc": "false",
                },
                quote_via=quote,
            )
            url = f"{base}/#/experiments/{experiment_id}/runs?{query}"
            h.progress(f"runs table: {url}")
            served = d.server_time(base + "/", sizes.server_repeats)
            api = search_api_time(base, experiment_id, sizes.per_page, sizes.server_repeats)
            h.progress(f"  runs/search: {api['search_api_median_ms']:.0f} ms")
            drawn = d.browser_time(url, RUNS_READY, sizes.browser_repeats, label="runs table")
            d.report("runs table", served, drawn)
            d.emit_pair(
                "runs_table",
                names["runs_table"],
                TOOL,
                served,
                drawn,
                sizes.runs,
                {
                    **common,
                    **api,
                    "url": url.removeprefix(base),
                    "server_time_is": "GET / (the single-page app's index.html)",
                    "drawn_when": f"the runs table shows {RUNS_READY_ROWS} rows with run names",
                },
            )
        if "compare" in args.groups:
            compared = best_run_ids(base, experiment_id, sizes.compare_runs)
            runs = quote(json.dumps(compared, separators=(",", ":")))
            experiments = quote(json.dumps([experiment_id]))
            url = f"{base}/#/compare-runs?runs={runs}&experiments={experiments}"
            h.progress(f"compare: {len(compared)} runs")
            served = d.server_time(base + "/", sizes.server_repeats)
            ready = compare_ready(sizes.params)
            drawn = d.browser_time(url, ready, sizes.browser_repeats, label="compare")
            d.report("compare", served, drawn)
            d.emit_pair(
                "compare",
                names["compare"],
                TOOL,
                served,
                drawn,
                len(compared),
                {
                    **common,
                    "url": "/#/compare-runs?runs=[...]&experiments=[...]",
                    "runs": len(compared),
                    "server_time_is": "GET / (the single-page app's index.html)",
                    "drawn_when": "the params table and the parallel-coordinates plot are drawn",
                },
            )


# What "drawn" means in MLflow 3.17's UI (its DOM as the installed bundle renders it): the
# runs table is an ag-grid whose rows hold the run names; the compare page has a table of the
# runs' params and a parallel-coordinates plot (plotly).
#: rows the runs table must show (about what one screen holds; ag-grid draws the visible ones)
RUNS_READY_ROWS = 10
RUNS_READY = (
    "Array.from(document.querySelectorAll('.ag-center-cols-container .ag-row'))"
    ".filter((row) => row.textContent.trim() !== '').length >= "
    f"{RUNS_READY_ROWS} && "
    "/run-[0-9]/.test(document.querySelector('.ag-root-wrapper')?.textContent || '')"
)


def compare_ready(params: int) -> str:
    """Drawn: a compare table with a row per param, and the parallel-coordinates plot."""
    return (
        "Array.from(document.querySelectorAll('table.mlflow-compare-run-table'))"
        f".some((table) => table.rows.length >= {params}) && "
        "!!document.querySelector('.js-plotly-plot .parcoords')"
    )


if __name__ == "__main__":
    sys.exit(main())
