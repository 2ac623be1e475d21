"""Heron's experiment-tracking figures (DESIGN §8) on the embedded SQLite store.

    python benchmarks/tracking.py            # every figure, full size (a few minutes)
    python benchmarks/tracking.py --quick    # small sizes, a smoke test
    python benchmarks/tracking.py --only search --only import

Prints one JSON line per figure on stdout; progress goes to stderr. Each group of figures runs
in a fresh process with its own temporary workspace (``HERON_HOME`` and a SQLite tracking URI
in a new temp folder). Throughputs include making the data durable: the clock stops after
``end_run`` (which flushes the log buffer), not when the last logging call returns.
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

import _harness as h

TOOL = "heron"
GROUPS = ("import", "log_metric", "log_batch", "create_run", "search", "all_runs")
FIGURES_OF = {
    "import": ["import_s"],
    "log_metric": ["log_metric_single_points_per_s"],
    "log_batch": ["log_metrics_batch_points_per_s", "client_log_batch_points_per_s"],
    "create_run": ["create_run_3p3m_runs_per_s"],
    "search": [f"search_{shape}_100k_ms" for shape in h.SEARCH_SHAPES],
    "all_runs": ["all_runs_as_rows_5k_s", "search_filtered_ordered_5k_ms"],
}
REF = h.MLFLOW_REFERENCE


# --- figures --------------------------------------------------------------------------------
def bench_import(sizes: h.Sizes, workdir: str) -> None:
    h.progress(f"import: {sizes.import_repeats} x 'import heron' vs 'pass'")
    r = h.import_figure(sys.executable, "heron", sizes.import_repeats, workdir, dict(os.environ))
    h.emit(
        "import_s",
        TOOL,
        r["median_s"],
        "s",
        higher_is_better=False,
        target=0.06,
        peer={"mlflow": REF["import_s"]},
        n=sizes.import_repeats,
        detail=r,
    )


def bench_log_metric(sizes: h.Sizes, workdir: str) -> None:
    import heron

    heron.set_experiment(h.EXPERIMENT)
    n = sizes.log_metric_points
    log_metric = heron.log_metric
    h.progress(f"log_metric: {n:,} calls in one run, then end_run")
    with h.timed_section("log_metric"):
        t0 = time.perf_counter()
        run = heron.start_run()
        for i in range(n):
            log_metric("loss", 1.0 / (i + 1), step=i)
        t1 = time.perf_counter()
        heron.end_run()
        t2 = time.perf_counter()
    stored = len(heron.Client().get_metric_history(run.id, "loss"))
    if stored != n:
        raise SystemExit(f"log_metric: {stored} points stored, {n} logged")
    h.emit(
        "log_metric_single_points_per_s",
        TOOL,
        n / (t2 - t0),
        "points/s",
        higher_is_better=True,
        target=100_000,
        peer={"mlflow": REF["log_metric_single_points_per_s"]},
        n=n,
        detail={
            "total_s": t2 - t0,
            "calls_s": t1 - t0,
            "end_run_flush_s": t2 - t1,
            "us_per_call_excluding_flush": (t1 - t0) / n * 1e6,
        },
    )


def bench_log_batch(sizes: h.Sizes, workdir: str) -> None:
    import heron
    from heron.core.entities import Metric

    heron.set_experiment(h.EXPERIMENT)
    width = sizes.batch_width
    keys = [f"m{j}" for j in range(width)]

    calls = sizes.batch_calls
    h.progress(f"log_batch: heron.log_metrics, {calls} calls x {width} keys, then end_run")
    with h.timed_section("log_metrics"):
        t0 = time.perf_counter()
        run = heron.start_run()
        for i in range(calls):
            heron.log_metrics(dict.fromkeys(keys, i * 0.5), step=i)
        t1 = time.perf_counter()
        heron.end_run()
        t2 = time.perf_counter()
    client = heron.Client()
    _check_points(client, run.id, keys, calls)
    h.emit(
        "log_metrics_batch_points_per_s",
        TOOL,
        calls * width / (t2 - t0),
        "points/s",
        higher_is_better=True,
        target=500_000,
        peer={"mlflow": REF["log_metrics_batch_points_per_s"]},
        n=calls * width,
        detail={"total_s": t2 - t0, "calls_s": t1 - t0, "end_run_flush_s": t2 - t1},
    )

    calls = sizes.client_batch_calls
    h.progress(f"log_batch: Client.log_batch, {calls} calls x {width} Metric points")
    with h.timed_section("Client.log_batch"):
        t0 = time.perf_counter()
        run = client.create_run(h.EXPERIMENT)
        for i in range(calls):
            ts = int(time.time() * 1000)
            client.log_batch(run.id, [Metric(k, i * 0.5, i, ts) for k in keys])
        client.set_terminated(run.id)
        t1 = time.perf_counter()
    _check_points(client, run.id, keys, calls)
    h.emit(
        "client_log_batch_points_per_s",
        TOOL,
        calls * width / (t1 - t0),
        "points/s",
        higher_is_better=True,
        target=500_000,
        n=calls * width,
        detail={"total_s": t1 - t0, "ms_per_call": (t1 - t0) / calls * 1000},
    )


def _check_points(client: Any, run_id: str, keys: list[str], per_key: int) -> None:
    for key in (keys[0], keys[-1]):
        stored = len(client.get_metric_history(run_id, key))
        if stored != per_key:
            raise SystemExit(f"log_batch: {stored} points of {key} stored, {per_key} logged")


def bench_create_run(sizes: h.Sizes, workdir: str) -> None:
    import heron

    heron.set_experiment(h.EXPERIMENT)
    n = sizes.runs
    h.progress(f"create_run: {n:,} x (start_run, log_params(3), log_metrics(3), end)")
    with h.timed_section("create_run"):
        t0 = time.perf_counter()
        for i in range(n):
            with heron.start_run():
                heron.log_params({"lr": 0.001 * (i % 10), "depth": i % 7, "optimizer": "adam"})
                heron.log_metrics({"acc": i / n, "loss": 1 - i / n, "f1": 0.5})
        t1 = time.perf_counter()
    runs = heron.Client().search_runs(experiment=h.EXPERIMENT, max_results=n + 1)
    if len(runs) != n or len(runs[0].params) != 3 or len(runs[0].metrics) != 3:
        raise SystemExit(f"create_run: {len(runs)} runs stored, {n} created")
    if any(r.status != "completed" for r in runs):
        raise SystemExit("create_run: some runs did not end as completed")
    h.emit(
        "create_run_3p3m_runs_per_s",
        TOOL,
        n / (t1 - t0),
        "runs/s",
        higher_is_better=True,
        target=2_000,
        peer={"mlflow": REF["create_run_3p3m_runs_per_s"]},
        n=n,
        detail={"total_s": t1 - t0, "ms_per_run": (t1 - t0) / n * 1000},
    )


# --- search -------------------------------------------------------------------------------
def populate_with_sql(store: Any, experiment_id: str, n: int, seed: int = 0) -> None:
    """Write ``n`` finished runs straight into the tables a search reads, 5,000 a transaction.

    The rows of ``runs``, ``params``, ``tags`` and ``latest_metrics`` are those that
    ``create_run`` + ``log_batch`` + ``set_terminated`` would write; the metric history (one
    point per metric here) is left out, as no search reads it. This only fills a large store
    faster: the figure times the search, not the filling.
    """
    import uuid

    from heron.store.sql import engine as sql_engine
    from heron.store.sql import schema as t

    rng = random.Random(seed)
    base = int(time.time() * 1000) - n * 1000
    batch = 5_000
    for start in range(0, n, batch):
        runs, params, tags, metrics = [], [], [], []
        for i in range(start, min(n, start + batch)):
            run_id = uuid.uuid4().hex
            v = h.run_values(i, rng)
            begin = base + i * 1000
            runs.append(
                {
                    "id": run_id,
                    "experiment_id": experiment_id,
                    "name": f"run-{i}",
                    "kind": "run",
                    "status": "completed",
                    "start_time": begin,
                    "end_time": begin + 900,
                    "heartbeat_at": begin + 900,
                    "lifecycle": "active",
                    "user": "bench",
                }
            )
            params.append({"run_id": run_id, "key": "depth", "value": v["depth"]})
            params.append({"run_id": run_id, "key": "lr", "value": v["lr"]})
            tags.append({"run_id": run_id, "key": "team", "value": v["team"]})
            for key in ("acc", "loss"):
                metrics.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "value": v[key],
                        "is_nan": False,
                        "step": 0,
                        "timestamp": begin + 500,
                    }
                )

        def body(conn: Any, runs=runs, params=params, tags=tags, metrics=metrics) -> None:
            conn.execute(t.runs.insert(), runs)
            conn.execute(t.params.insert(), params)
            conn.execute(t.tags.insert(), tags)
            conn.execute(t.latest_metrics.insert(), metrics)

        sql_engine.run_write(store.engine, body)
        if (start + batch) % 25_000 == 0:
            h.progress(f"  populated {min(n, start + batch):,} / {n:,} runs")


def populate_with_client(client: Any, n: int, seed: int = 0) -> None:
    """``n`` runs through the public Client: create_run, log_batch, set_terminated."""
    from heron.core.entities import Metric

    rng = random.Random(seed)
    for i in range(n):
        v = h.run_values(i, rng)
        run = client.create_run(h.EXPERIMENT, name=f"run-{i}", tags={"team": v["team"]})
        ts = int(time.time() * 1000)
        client.log_batch(
            run.id,
            [Metric("acc", v["acc"], 0, ts), Metric("loss", v["loss"], 0, ts)],
            params={"depth": v["depth"], "lr": v["lr"]},
        )
        client.set_terminated(run.id)
        if (i + 1) % 1000 == 0:
            h.progress(f"  populated {i + 1:,} / {n:,} runs")


def populated_client(workdir: str, n: int, method: str) -> Any:
    """A Client of a new store in ``workdir`` holding ``n`` runs in experiment ``bench``."""
    import heron

    uri = "sqlite:///" + os.path.join(workdir, f"search-{n}.db")
    heron.set_tracking_uri(uri)  # a new store: Client(uri) refuses a database that is not there
    client = heron.Client()
    exp = client.create_experiment(h.EXPERIMENT)
    t0 = time.perf_counter()
    h.progress(f"populating {n:,} runs ({method})")
    if method == "sql":
        try:
            populate_with_sql(client.store, exp.id, n)
        except Exception as e:  # the schema moved on: fall back to the public API
            h.progress(f"  direct insert failed ({type(e).__name__}: {e}); using the Client")
            populate_with_client(client, n)
    else:
        populate_with_client(client, n)
    h.progress(f"  {n:,} runs in {time.perf_counter() - t0:.1f} s")
    return client


def check_store(client: Any, n: int) -> None:
    """The populated runs read back through the API with their params, metrics and tags."""
    runs = client.search_runs(experiment=h.EXPERIMENT, max_results=1)
    run = client.get_run(runs[0].id)
    if set(run.params) != {"depth", "lr"} or set(run.metrics) != {"acc", "loss"}:
        raise SystemExit(f"populated run reads back wrong: {run}")
    if run.tags.get("team") not in tuple("abcd"):
        raise SystemExit(f"populated run has no team tag: {run.tags}")


def time_searches(client: Any, n: int, repeats: int, shapes: list[str]) -> None:
    label = h.size_label(n)
    for shape in shapes:
        filter_string, order_by = h.SEARCH_SHAPES[shape]

        def search(filter_string=filter_string, order_by=order_by) -> list:
            return client.search_runs(
                experiment=h.EXPERIMENT,
                filter=filter_string,
                order_by=order_by,
                max_results=h.SEARCH_MAX_RESULTS,
            )

        got = search()
        if not got or len(got) > h.SEARCH_MAX_RESULTS or (n >= 5_000 and len(got) != 100):
            raise SystemExit(f"search {shape}: {len(got)} results, expected 100")
        key = order_by[0].split()[0].split(".", 1)[1]
        values = [r.metrics[key] for r in got]
        if values != sorted(values, reverse=order_by[0].endswith("DESC")):
            raise SystemExit(f"search {shape}: results are not ordered by {order_by[0]}")
        with h.timed_section(f"search {shape} over {n:,} runs"):
            stats = h.repeat_ms(search, repeats)
        h.progress(f"  {shape}: median {stats['median_ms']:.2f} ms")
        reference = shape == "filtered_ordered"
        h.emit(
            f"search_{shape}_{label}_ms",
            TOOL,
            stats["median_ms"],
            "ms",
            higher_is_better=False,
            target=30 if n >= 100_000 else None,
            peer={"mlflow": REF["search_filtered_ordered_ms"]} if reference else None,
            n=n,
            detail={
                **stats,
                "filter": filter_string,
                "order_by": order_by,
                "max_results": h.SEARCH_MAX_RESULTS,
                "repeats": repeats,
                **({"peer_note": "MLflow figure over 5,000 runs"} if reference else {}),
            },
        )


def bench_search(sizes: h.Sizes, workdir: str) -> None:
    for n in sizes.search_runs:
        client = populated_client(workdir, n, "sql")
        check_store(client, n)
        time_searches(client, n, sizes.search_repeats, list(h.SEARCH_SHAPES))


def bench_all_runs(sizes: h.Sizes, workdir: str) -> None:
    n = sizes.all_runs
    client = populated_client(workdir, n, "client")
    check_store(client, n)

    def fetch_all() -> list:
        return client.search_runs(experiment=h.EXPERIMENT, max_results=n)

    got = fetch_all()
    if len(got) != n or any(len(r.params) != 2 for r in got):
        raise SystemExit(f"all_runs: {len(got)} runs fetched, expected {n}")
    repeats = max(3, sizes.search_repeats // 4)
    with h.timed_section(f"all {n:,} runs as rows"):
        stats = h.repeat_ms(fetch_all, repeats, warmup=1)
    h.progress(f"  all runs: median {stats['median_ms']:.1f} ms")
    h.emit(
        f"all_runs_as_rows_{h.size_label(n)}_s",
        TOOL,
        stats["median_ms"] / 1000,
        "s",
        higher_is_better=False,
        target=0.3 if n >= 5_000 else None,
        peer={"mlflow": REF["all_runs_as_rows_5k_s"]},
        n=n,
        detail={**stats, "repeats": repeats, "rows_are": "heron Run objects"},
    )
    # The MLflow search figure is over 5,000 runs: the same search at that size.
    time_searches(client, n, sizes.search_repeats, ["filtered_ordered"])


BENCHES = {
    "import": bench_import,
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "create_run": bench_create_run,
    "search": bench_search,
    "all_runs": bench_all_runs,
}


def worker(args: Any, sizes: h.Sizes) -> None:
    workdir = args.workdir
    if args.worker != "import":
        import heron

        heron.set_tracking_uri("sqlite:///" + os.path.join(workdir, "heron.db"))
    h.PROFILE = args.profile
    BENCHES[args.worker](sizes, workdir)


def main() -> int:
    args = h.parse_args(GROUPS, "Heron's tracking benchmarks (DESIGN §8).")
    sizes = h.sizes_from(args, h.Sizes())
    if args.worker:
        worker(args, sizes)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        uri = "sqlite:///" + os.path.join(workdir, "heron.db")
        return h.clean_env(HERON_HOME=workdir, HERON_TRACKING_URI=uri)

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
