"""The dashboard's figures: `heron server`'s pages over a store of 100,000 runs (20 params and
20 metrics each), timed on the server and in headless chromium.

    python benchmarks/dashboard.py                  # every figure, full size (about 3 minutes)
    python benchmarks/dashboard.py --quick          # small sizes, a smoke test
    python benchmarks/dashboard.py --only runs_table --only compare
    benchmarks/run_peers.sh --dashboard             # the MLflow UI (peers/mlflow_ui.py)

Figures (``<figure>_server_ms`` and ``<figure>_browser_ms`` each):

1. ``runs_table``: an experiment's runs table, first page (100 rows), filtered
   (``metrics.m0 > 0.5 and params.p0 = '3'``: about 1 run in 10) and sorted by ``metrics.m1``
   descending;
2. ``run_page_1m_points``: the page of a run whose one metric has 1,000,000 points, to the
   chart drawn (Heron only);
3. ``pipeline_dag_200``: the page of a 200-step pipeline run, to the DAG drawn (Heron only);
4. ``compare_50_runs``: the best 50 runs of figure 1 side by side, to the curves and scatter
   drawn.

*Server time* is the HTTP request time of the page's HTML (stdlib ``http.client``, one
keep-alive connection, the body read): the median of 20 after 2 untimed. *Browser time* is,
in Debian's chromium driven by Playwright (as ``tests/support/browser.py`` launches it:
``executable_path=shutil.which("chromium")``, ``--headless --no-sandbox --disable-gpu
--disable-background-networking``), the time from navigation start (the page's
``performance.timeOrigin``) to the first animation frame at which the page's content is drawn:
a script added to every document before the page's own checks a condition each frame (table
rows present, a chart's canvas drawn, the DAG's nodes present) and records
``performance.now()``. Each browser figure is the median of 5 loads in fresh tabs of one
browser context (static files cached, as for a user coming back) after one untimed cold load
(``detail.cold_ms``; 2 loads only when that one took over 10 s); a page not drawn within
120 s is reported as "did not load" (``detail.loaded = false``, the value then being the
timeout).

The first half of this file (up to "Heron's figures") is shared with ``peers/mlflow_ui.py``:
standard library plus Playwright (and ``server.py``'s server handling), no Heron. Everything
runs in a fresh worker process in a temporary workspace; servers are stopped on exit.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import _harness as h
import server as s  # benchmarks/server.py: Server, running_server, kill_recorded_servers

h.BENCHMARK = "dashboard"
TOOL = "heron"

#: figure groups; the peer measures the ones it has (the MLflow UI has no figures 2 and 3)
GROUPS = ("runs_table", "run_chart", "dag", "compare")
EXPERIMENT = "bench"
CHART_EXPERIMENT = "chart"
#: the runs table's filter and sort, the same for both tools
TABLE_FILTER = "metrics.m0 > 0.5 and params.p0 = '3'"
SORT_METRIC = "m1"
#: targets: (server ms, browser ms) per figure group
TARGETS = {
    "runs_table": (150, 1_000),
    "run_chart": (200, 1_500),
    "dag": (200, 1_500),
    "compare": (300, 2_000),
}
BROWSER_TIMEOUT_S = 120
#: a page whose cold load takes longer than this is timed this many times only
SLOW_PAGE_MS, SLOW_PAGE_REPEATS = 10_000, 2
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}


@dataclass
class DashboardSizes:
    """Workload sizes of the dashboard figures (the same for both tools)."""

    runs: int = 100_000
    params: int = 20
    metrics: int = 20
    chart_points: int = 1_000_000
    dag_chains: int = 11  # 1 source + chains x length + 1 gather steps
    dag_length: int = 18
    compare_runs: int = 50
    per_page: int = 100  # rows of the runs table's first page (MLflow's UI loads 100)
    server_repeats: int = 20
    browser_repeats: int = 5

    @property
    def dag_steps(self) -> int:
        return self.dag_chains * self.dag_length + 2


FULL = DashboardSizes()
QUICK = DashboardSizes(
    runs=5_000,
    chart_points=100_000,
    dag_chains=6,
    dag_length=8,
    server_repeats=5,
    browser_repeats=2,
)


def sizes_for(args: argparse.Namespace) -> DashboardSizes:
    sizes = QUICK if args.quick else FULL
    if args.runs:
        sizes = replace(sizes, runs=args.runs)
    return sizes


def count_label(n: int) -> str:
    """``1000000`` -> ``1m``, ``100000`` -> ``100k``, ``200`` -> ``200``."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def figure_names(sizes: DashboardSizes) -> dict[str, str]:
    """The figure name (without ``_server_ms`` / ``_browser_ms``) of each group."""
    return {
        "runs_table": "runs_table",
        "run_chart": f"run_page_{count_label(sizes.chart_points)}_points",
        "dag": f"pipeline_dag_{sizes.dag_steps}",
        "compare": f"compare_{sizes.compare_runs}_runs",
    }


def run_values(i: int, rng: random.Random, sizes: DashboardSizes) -> dict[str, Any]:
    """Params, metrics and tag of synthetic run ``i``: ``p0`` in 1..5 (the filter's), the other
    params in 0..99, metrics uniform in [0, 1), ``team`` one of four."""
    params = {"p0": str(rng.randint(1, 5))}
    params.update({f"p{j}": str(rng.randint(0, 99)) for j in range(1, sizes.params)})
    metrics = {f"m{j}": rng.random() for j in range(sizes.metrics)}
    return {"params": params, "metrics": metrics, "team": rng.choice("abcd")}


# --- arguments and the parent / worker split --------------------------------------------------
def parse_args(description: str, groups: Sequence[str] = GROUPS) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only this figure group (repeatable; groups: {', '.join(groups)})",
    )
    p.add_argument("--runs", type=int, help="runs in the store (100,000; --quick 5,000)")
    p.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    unknown = [g for g in args.only if g not in groups]
    if unknown:
        p.error(f"--only {unknown[0]!r}: no such group (groups: {', '.join(groups)})")
    args.groups = [g for g in groups if not args.only or g in args.only]
    return args


def run_worker(
    script: str, args: argparse.Namespace, env_for: Callable[[str], dict[str, str]]
) -> int:
    """Run the figures in one fresh worker process (they share one seeded store) in a new
    temporary workspace, relay its JSON lines, then kill what is left of its servers and
    remove the workspace. Returns the worker's exit code."""
    argv = [sys.executable, script, "--worker", "--workers", str(args.workers)]
    argv += [x for g in args.groups for x in ("--only", g)]
    if args.quick:
        argv.append("--quick")
    if args.runs:
        argv += ["--runs", str(args.runs)]
    return s.run_in_workspace(argv, "bench-dashboard-", "dashboard", env_for, args.keep)


# --- server time --------------------------------------------------------------------------------
def server_time(
    url: str,
    repeats: int,
    check: Callable[[str], None] | None = None,
    warmup: int = 2,
) -> dict[str, Any]:
    """``GET url`` (HTML) on one keep-alive connection: the first (cold) request's time, then
    ``warmup`` untimed and ``repeats`` timed ones; ``check(body)`` checks the first answer."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    size = 0

    def get() -> str:
        nonlocal size
        connection.request("GET", path, headers={"Accept": "text/html"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status}: {body[:500]!r}")
        size = len(body)
        return body.decode()

    try:
        t0 = time.perf_counter()
        body = get()
        cold_ms = (time.perf_counter() - t0) * 1000
        if check is not None:
            check(body)
        stats = h.repeat_ms(get, repeats, warmup)
    finally:
        connection.close()
    return {**stats, "cold_ms": cold_ms, "html_bytes": size, "repeats": repeats}


# --- browser time -------------------------------------------------------------------------------
# Added to every document before its own scripts: each animation frame, until `ready` holds,
# then the time since navigation start is kept in window.__benchReadyMs.
_READY_SCRIPT = """
(() => {
  const ready = () => { try { return !!(%s); } catch (e) { return false; } };
  const tick = () => {
    if (ready()) { window.__benchReadyMs = performance.now(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""
_API_CALLS = """
() => performance.getEntriesByType("resource")
  .filter((e) => e.initiatorType === "fetch" || e.initiatorType === "xmlhttprequest")
  .map((e) => [new URL(e.name).pathname, Math.round(e.duration * 10) / 10])
"""


def chromium_executable() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise SystemExit(
            "Debian's chromium is not on PATH (apt-get install -y chromium): the browser "
            "figures need it."
        )
    return path


def browser_time(
    url: str,
    ready: str,
    repeats: int,
    timeout_s: float = BROWSER_TIMEOUT_S,
    label: str = "",
) -> dict[str, Any]:
    """Navigation start to the first frame at which the JS expression ``ready`` is true, in
    headless chromium: one cold load (untimed: ``cold_ms``), then ``repeats`` loads in fresh
    tabs of the same context. ``loaded`` is False when a load did not get there within
    ``timeout_s`` (then ``median_ms`` is the timeout)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    cold_ms: float | None = None
    api_calls: list[Any] = []
    page_errors: list[str] = []
    loaded = True
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_executable(),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=60_000,
        )
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(_READY_SCRIPT % ready)
            i, total = 0, repeats + 1
            while i < total:
                page = context.new_page()
                page.on("pageerror", lambda e: page_errors.append(str(e)[:300]))
                try:
                    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
                    page.wait_for_function(
                        "() => window.__benchReadyMs !== undefined",
                        timeout=timeout_s * 1000,
                        polling=50,
                    )
                    ms = float(page.evaluate("window.__benchReadyMs"))
                    api_calls = page.evaluate(_API_CALLS)
                except PlaywrightError as e:
                    h.progress(f"  {label}: not drawn within {timeout_s:.0f} s ({str(e)[:200]})")
                    loaded = False
                    break
                finally:
                    page.close()
                if i == 0:
                    cold_ms = ms
                    if ms > SLOW_PAGE_MS:  # keep the whole run in bounds: fewer loads
                        repeats = min(repeats, SLOW_PAGE_REPEATS)
                        total = repeats + 1
                else:
                    times.append(ms)
                i += 1
        finally:
            browser.close()
    if not loaded:
        return {
            "loaded": False,
            "median_ms": timeout_s * 1000,
            "timeout_s": timeout_s,
            "cold_ms": cold_ms,
            "times_ms": [round(t, 1) for t in times],
            "page_errors": page_errors[:5],
        }
    return {
        "loaded": True,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "times_ms": [round(t, 1) for t in times],
        "cold_ms": cold_ms,
        "repeats": repeats,
        "api_requests": len(api_calls),
        "api_slowest_ms": max((d for _, d in api_calls), default=0.0),
        "api_calls": api_calls[:12],
        "page_errors": page_errors[:5],
    }


def emit_pair(
    group: str,
    figure: str,
    tool: str,
    server: dict[str, Any],
    browser: dict[str, Any],
    n: int,
    detail: dict[str, Any],
) -> None:
    """The two JSON lines of a figure: ``<figure>_server_ms`` and ``<figure>_browser_ms``;
    Heron's carry the targets of issue 13."""
    server_target, browser_target = TARGETS[group] if tool == "heron" else (None, None)
    h.emit(
        f"{figure}_server_ms",
        tool,
        server["median_ms"],
        "ms",
        higher_is_better=False,
        target=server_target,
        n=n,
        detail={**detail, **server},
    )
    if not browser.get("loaded", True):
        detail = {**detail, "outcome": f"did not load within {browser['timeout_s']:.0f} s"}
    h.emit(
        f"{figure}_browser_ms",
        tool,
        browser["median_ms"],
        "ms",
        higher_is_better=False,
        target=browser_target if browser.get("loaded", True) else None,
        n=n,
        detail={**detail, **browser},
    )


def report(label: str, server: dict[str, Any], browser: dict[str, Any]) -> None:
    drawn = f"{browser['median_ms']:.0f} ms" if browser["loaded"] else "did not load"
    h.progress(f"  {label}: server {server['median_ms']:.1f} ms, drawn in the browser {drawn}")


def now_ms() -> int:
    return int(time.time() * 1000)


# --- Heron's figures ----------------------------------------------------------------------------
def seed_runs(store: Any, experiment_id: str, sizes: DashboardSizes, seed: int = 0) -> None:
    """``sizes.runs`` finished runs, each ``SqlStore.create_run`` + one ``log_batch`` of its
    params and metrics."""
    from heron.core.entities import Metric

    rng = random.Random(seed)
    t0 = time.perf_counter()
    for i in range(sizes.runs):
        v = run_values(i, rng, sizes)
        run = store.create_run(experiment_id, name=f"run-{i}", tags={"team": v["team"]})
        ts = now_ms()
        store.log_batch(
            run.id,
            [Metric(k, x, 0, ts) for k, x in v["metrics"].items()],
            v["params"],
            status="completed",
        )
        if (i + 1) % 20_000 == 0:
            rate = (i + 1) / (time.perf_counter() - t0)
            h.progress(f"  seeded {i + 1:,} / {sizes.runs:,} runs ({rate:,.0f} runs/s)")


def seed_chart_run(store: Any, sizes: DashboardSizes) -> str:
    """A run of its own experiment with one metric, ``loss``, of ``chart_points`` points (a
    noisy decay with spikes), and the usual params; its id."""
    from heron.core.entities import Metric

    experiment = store.create_experiment(CHART_EXPERIMENT)
    v = run_values(0, random.Random(1), sizes)
    run = store.create_run(experiment.id, name="long-history", tags={"team": "a"})
    store.log_batch(run.id, [], v["params"])
    rng = random.Random(2)
    n, chunk = sizes.chart_points, 50_000
    start = now_ms() - n * 10
    for lo in range(0, n, chunk):
        points = []
        for i in range(lo, min(n, lo + chunk)):
            value = 1.0 / (1 + i / 10_000) + rng.random() * 0.05
            if i % 99_991 == 0:
                value += 1.0  # a spike the downsampling must keep
            points.append(Metric("loss", value, i, start + i * 10))
        store.log_batch(run.id, points)
    store.update_run(run.id, status="completed", end_time=now_ms())
    return run.id


def dag_pipeline() -> Any:
    """A pipeline of ``1 + chains x length + 1`` steps: a source, ``chains`` chains (every
    third link also reads the neighbouring chain: edges that cross) and one step gathering
    the chains' ends."""
    from heron import pipeline, step

    @step
    def origin() -> int:
        return 1

    @step
    def link(x: int) -> int:
        return x + 1

    @step
    def mix(x: int, y: int) -> int:
        return x + y

    @step
    def gather(xs: list[int]) -> int:
        return sum(xs)

    @pipeline(name="dag-bench")
    def dag(chains: int = 11, length: int = 18):
        src = origin()
        ends = [link(src) for _ in range(chains)]
        for k in range(1, length):
            if k % 3 == 0:
                ends = [mix(ends[c], ends[(c + 1) % chains]) for c in range(chains)]
            else:
                ends = [link(e) for e in ends]
        gather(ends)

    return dag


def seed_pipeline_run(db: str, artifacts: str, sizes: DashboardSizes) -> str:
    """One run of the DAG pipeline into the store (``heron`` on ``sqlite:///db``); its id."""
    import heron
    from heron.core import config

    heron.set_tracking_uri("sqlite:///" + db)
    config.set_artifact_uri(artifacts)
    dag = dag_pipeline().with_options(cache=False)
    run = dag(chains=sizes.dag_chains, length=sizes.dag_length)
    if run.status != "completed" or len(run.steps) != sizes.dag_steps:
        raise SystemExit(f"dag: the run is {run.status} with {len(run.steps)} steps")
    heron.set_tracking_uri(None)
    return run.id


def best_run_ids(store: Any, experiment_id: str, n: int) -> list[str]:
    """The first ``n`` runs of the runs table's filter and sort."""
    got = store.search_runs(
        [experiment_id],
        TABLE_FILTER,
        [f"metrics.{SORT_METRIC} DESC"],
        max_results=n,
    )
    return [r.id for r in got]


def check_rows(expected: int) -> Callable[[str], None]:
    def check(body: str) -> None:
        rows = body.count('<tr data-run-id="')
        if rows < expected:
            raise SystemExit(f"runs table: {rows} rows in the page, {expected} expected")

    return check


def check_contains(*needles: str) -> Callable[[str], None]:
    def check(body: str) -> None:
        for needle in needles:
            if needle not in body:
                raise SystemExit(f"the page does not show {needle!r}")

    return check


def bench_heron(args: argparse.Namespace) -> None:
    from heron.core import config
    from heron.store.sql import engine as sql_engine
    from heron.store.sql.store import SqlStore

    sizes = sizes_for(args)
    workdir = args.workdir
    db = os.path.join(workdir, "server", "heron.db")
    artifacts = os.path.join(workdir, "server", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    store = SqlStore("sqlite:///" + db)
    config.set_artifact_uri(artifacts)
    names = figure_names(sizes)

    h.progress(f"seeding {sizes.runs:,} runs ({sizes.params} params, {sizes.metrics} metrics)")
    t0 = time.perf_counter()
    experiment = store.create_experiment(EXPERIMENT)
    seed_runs(store, experiment.id, sizes)
    seed_s = time.perf_counter() - t0
    h.progress(f"  {sizes.runs:,} runs in {seed_s:.1f} s")
    chart_run = pipeline_run = None
    if "run_chart" in args.groups:
        t0 = time.perf_counter()
        chart_run = seed_chart_run(store, sizes)
        h.progress(
            f"  {sizes.chart_points:,} points of one metric in {time.perf_counter() - t0:.1f} s"
        )
    compared = best_run_ids(store, experiment.id, sizes.compare_runs)
    sql_engine.dispose_engines()
    if "dag" in args.groups:
        t0 = time.perf_counter()
        pipeline_run = seed_pipeline_run(db, artifacts, sizes)
        h.progress(f"  a {sizes.dag_steps}-step pipeline run in {time.perf_counter() - t0:.1f} s")
        sql_engine.dispose_engines()
    common = {"store_runs": sizes.runs, "server_workers": args.workers, "seed_s": seed_s}

    with s.running_server(s.heron_argv(workdir), args.workers, workdir) as server:
        base = server.url
        if "runs_table" in args.groups:
            query = {
                "filter": TABLE_FILTER,
                "sort": f"metrics.{SORT_METRIC}",
                "dir": "desc",
                "per_page": sizes.per_page,
            }
            url = f"{base}/experiments/{experiment.id}?{urlencode(query)}"
            h.progress(f"runs table: {url}")
            served = server_time(url, sizes.server_repeats, check_rows(sizes.per_page))
            default_page = server_time(
                f"{base}/experiments/{experiment.id}?{urlencode({**query, 'per_page': 25})}",
                sizes.server_repeats,
                check_rows(25),
            )
            ready = (
                "document.querySelectorAll('table.runs tbody tr[data-run-id]').length >= "
                f"{sizes.per_page}"
            )
            drawn = browser_time(url, ready, sizes.browser_repeats, label="runs table")
            report("runs table", served, drawn)
            emit_pair(
                "runs_table",
                names["runs_table"],
                TOOL,
                served,
                drawn,
                sizes.runs,
                {
                    **common,
                    "url": url.removeprefix(base),
                    "rows": sizes.per_page,
                    "per_page_25_server_median_ms": default_page["median_ms"],
                    "drawn_when": "the first page's rows are in the table",
                },
            )
        if chart_run is not None:
            url = f"{base}/runs/{chart_run}"
            h.progress(f"run page: {url}")
            served = server_time(url, sizes.server_repeats, check_contains("loss"))
            ready = (
                "/: [1-9][0-9]* series, [1-9][0-9]* points/.test(document.querySelector("
                "'.chart[data-metric-key] canvas')?.getAttribute('aria-label') || '')"
            )
            drawn = browser_time(url, ready, sizes.browser_repeats, label="run page")
            report("run page", served, drawn)
            emit_pair(
                "run_chart",
                names["run_chart"],
                TOOL,
                served,
                drawn,
                sizes.chart_points,
                {
                    **common,
                    "url": url.removeprefix(base),
                    "points": sizes.chart_points,
                    "drawn_when": "the chart's canvas is drawn (its aria-label counts points)",
                },
            )
        if pipeline_run is not None:
            url = f"{base}/pipelines/runs/{pipeline_run}"
            h.progress(f"pipeline run page: {url}")
            served = server_time(
                url, sizes.server_repeats, check_contains(f"{sizes.dag_steps} steps")
            )
            ready = f"document.querySelectorAll('svg.dag g.node').length >= {sizes.dag_steps}"
            drawn = browser_time(url, ready, sizes.browser_repeats, label="pipeline run page")
            report("pipeline DAG", served, drawn)
            emit_pair(
                "dag",
                names["dag"],
                TOOL,
                served,
                drawn,
                sizes.dag_steps,
                {
                    **common,
                    "url": url.removeprefix(base),
                    "steps": sizes.dag_steps,
                    "shape": f"1 + {sizes.dag_chains} chains x {sizes.dag_length} + 1",
                    "drawn_when": "the DAG's SVG holds every step's node",
                },
            )
        if "compare" in args.groups:
            url = f"{base}/compare?{urlencode([('runs', r) for r in compared])}"
            h.progress(f"compare: {len(compared)} runs")
            served = server_time(url, sizes.server_repeats, check_contains(*compared))
            ready = (
                "/: [1-9][0-9]* series/.test(document.querySelector("
                "'[data-compare-curves] canvas')?.getAttribute('aria-label') || '') && "
                "/: [1-9][0-9]* series/.test(document.querySelector("
                "'[data-compare-scatter] canvas')?.getAttribute('aria-label') || '')"
            )
            drawn = browser_time(url, ready, sizes.browser_repeats, label="compare")
            report("compare", served, drawn)
            emit_pair(
                "compare",
                names["compare"],
                TOOL,
                served,
                drawn,
                len(compared),
                {
                    **common,
                    "url": "/compare?runs=...",
                    "runs": len(compared),
                    "drawn_when": "the metric curves and the scatter are drawn",
                },
            )


def main() -> int:
    args = parse_args("Heron's dashboard figures (heron server + headless chromium).")
    if args.worker:
        s.worker_setup()
        bench_heron(args)
        return 0

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(HERON_HOME=os.path.join(workdir, "client-home"))

    return 1 if run_worker(os.path.abspath(__file__), args, env_for) else 0


if __name__ == "__main__":
    sys.exit(main())
