"""The workloads of ``benchmarks/tracking.py`` with MLflow's API, on a sqlite:/// backend.

Runs in its own virtualenv (MLflow is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/mlflow/bin/python benchmarks/peers/mlflow_tracking.py [--quick] [--only NAME]
        [--search-runs 5000,100000]

Prints one JSON line per figure (``"tool": "mlflow"``) with the same figure names as Heron's
script. MLflow's calls are slow, so the sizes are smaller (each figure takes under a minute);
throughputs do not depend on them. The search store is filled through MlflowClient
(create_run, log_batch, set_terminated) up to 5,000 runs; larger sizes (``--search-runs``)
are reached by copying those runs in SQL with fresh ids and fresh metric values.
MLflow's usage telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``), which can only help it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h

TOOL = "mlflow"
GROUPS = ("import", "log_metric", "log_batch", "create_run", "search")
FIGURES_OF = {
    "import": ["import_s"],
    "log_metric": ["log_metric_single_points_per_s"],
    "log_batch": ["log_metrics_batch_points_per_s", "client_log_batch_points_per_s"],
    "create_run": ["create_run_3p3m_runs_per_s"],
    "search": [f"search_{s}_5k_ms" for s in h.SEARCH_SHAPES] + ["all_runs_as_rows_5k_s"],
}
FULL = h.Sizes(
    log_metric_points=10_000,
    batch_calls=200,
    client_batch_calls=100,
    runs=1_000,
    search_runs=[5_000],
    all_runs=5_000,
)
QUICK = h.Sizes(
    log_metric_points=300,
    batch_calls=10,
    client_batch_calls=10,
    runs=50,
    search_runs=[300],
    all_runs=300,
    search_repeats=3,
    import_repeats=3,
)
REF = h.MLFLOW_REFERENCE


def db_uri(workdir: str, name: str = "mlflow.db") -> str:
    return "sqlite:///" + os.path.join(workdir, name)


def _version() -> str:
    import mlflow

    return mlflow.__version__


# --- figures --------------------------------------------------------------------------------
def bench_import(sizes: h.Sizes, workdir: str) -> None:
    h.progress(f"import: {sizes.import_repeats} x 'import mlflow' vs 'pass'")
    r = h.import_figure(sys.executable, "mlflow", sizes.import_repeats, workdir, dict(os.environ))
    r["mlflow_version"] = _version()
    h.emit(
        "import_s",
        TOOL,
        r["median_s"],
        "s",
        higher_is_better=False,
        n=sizes.import_repeats,
        detail={**r, "reference": REF["import_s"]},
    )


def bench_log_metric(sizes: h.Sizes, workdir: str) -> None:
    import mlflow

    mlflow.set_experiment(h.EXPERIMENT)
    n = sizes.log_metric_points
    log_metric = mlflow.log_metric
    h.progress(f"log_metric: {n:,} calls in one run, then end_run")
    with h.timed_section("log_metric"):
        t0 = time.perf_counter()
        run = mlflow.start_run()
        for i in range(n):
            log_metric("loss", 1.0 / (i + 1), step=i)
        t1 = time.perf_counter()
        mlflow.end_run()
        t2 = time.perf_counter()
    stored = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    if stored != n:
        raise SystemExit(f"log_metric: {stored} points stored, {n} logged")
    h.emit(
        "log_metric_single_points_per_s",
        TOOL,
        n / (t2 - t0),
        "points/s",
        higher_is_better=True,
        n=n,
        detail={
            "total_s": t2 - t0,
            "calls_s": t1 - t0,
            "end_run_s": t2 - t1,
            "reference": REF["log_metric_single_points_per_s"],
            "mlflow_version": _version(),
        },
    )


def bench_log_batch(sizes: h.Sizes, workdir: str) -> None:
    import mlflow
    from mlflow.entities import Metric

    mlflow.set_experiment(h.EXPERIMENT)
    width = sizes.batch_width
    keys = [f"m{j}" for j in range(width)]
    client = mlflow.MlflowClient()

    calls = sizes.batch_calls
    h.progress(f"log_batch: mlflow.log_metrics, {calls} calls x {width} keys, then end_run")
    with h.timed_section("log_metrics"):
        t0 = time.perf_counter()
        run = mlflow.start_run()
        for i in range(calls):
            mlflow.log_metrics(dict.fromkeys(keys, i * 0.5), step=i)
        t1 = time.perf_counter()
        mlflow.end_run()
        t2 = time.perf_counter()
    _check_points(client, run.info.run_id, keys, calls)
    h.emit(
        "log_metrics_batch_points_per_s",
        TOOL,
        calls * width / (t2 - t0),
        "points/s",
        higher_is_better=True,
        n=calls * width,
        detail={
            "total_s": t2 - t0,
            "calls_s": t1 - t0,
            "end_run_s": t2 - t1,
            "reference": REF["log_metrics_batch_points_per_s"],
        },
    )

    calls = sizes.client_batch_calls
    h.progress(f"log_batch: MlflowClient.log_batch, {calls} calls x {width} Metric points")
    experiment_id = mlflow.get_experiment_by_name(h.EXPERIMENT).experiment_id
    with h.timed_section("MlflowClient.log_batch"):
        t0 = time.perf_counter()
        run = client.create_run(experiment_id)
        run_id = run.info.run_id
        for i in range(calls):
            ts = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(k, i * 0.5, ts, i) for k in keys])
        client.set_terminated(run_id)
        t1 = time.perf_counter()
    _check_points(client, run_id, keys, calls)
    h.emit(
        "client_log_batch_points_per_s",
        TOOL,
        calls * width / (t1 - t0),
        "points/s",
        higher_is_better=True,
        n=calls * width,
        detail={"total_s": t1 - t0, "ms_per_call": (t1 - t0) / calls * 1000},
    )


def _check_points(client: Any, run_id: str, keys: list[str], per_key: int) -> None:
    for key in (keys[0], keys[-1]):
        stored = len(client.get_metric_history(run_id, key))
        if stored != per_key:
            raise SystemExit(f"log_batch: {stored} points of {key} stored, {per_key} logged")


def bench_create_run(sizes: h.Sizes, workdir: str) -> None:
    import mlflow

    experiment_id = mlflow.set_experiment(h.EXPERIMENT).experiment_id
    n = sizes.runs
    h.progress(f"create_run: {n:,} x (start_run, log_params(3), log_metrics(3), end)")
    with h.timed_section("create_run"):
        t0 = time.perf_counter()
        for i in range(n):
            with mlflow.start_run():
                mlflow.log_params({"lr": 0.001 * (i % 10), "depth": i % 7, "optimizer": "adam"})
                mlflow.log_metrics({"acc": i / n, "loss": 1 - i / n, "f1": 0.5})
        t1 = time.perf_counter()
    runs = mlflow.MlflowClient().search_runs([experiment_id], max_results=n + 1)
    if len(runs) != n or len(runs[0].data.params) != 3 or len(runs[0].data.metrics) != 3:
        raise SystemExit(f"create_run: {len(runs)} runs stored, {n} created")
    h.emit(
        "create_run_3p3m_runs_per_s",
        TOOL,
        n / (t1 - t0),
        "runs/s",
        higher_is_better=True,
        n=n,
        detail={
            "total_s": t1 - t0,
            "ms_per_run": (t1 - t0) / n * 1000,
            "reference": REF["create_run_3p3m_runs_per_s"],
        },
    )


# --- search -------------------------------------------------------------------------------
def populate_with_client(client: Any, experiment_id: str, n: int, seed: int = 0) -> None:
    """``n`` finished runs: create_run, log_batch (2 metrics, 2 params), set_terminated."""
    from mlflow.entities import Metric, Param

    rng = random.Random(seed)
    t0 = time.perf_counter()
    for i in range(n):
        v = h.run_values(i, rng)
        run = client.create_run(experiment_id, run_name=f"run-{i}", tags={"team": v["team"]})
        run_id = run.info.run_id
        ts = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("acc", v["acc"], ts, 0), Metric("loss", v["loss"], ts, 0)],
            params=[Param("depth", v["depth"]), Param("lr", v["lr"])],
        )
        client.set_terminated(run_id)
        if (i + 1) % 500 == 0:
            rate = (i + 1) / (time.perf_counter() - t0)
            h.progress(f"  populated {i + 1:,} / {n:,} runs ({rate:.0f} runs/s)")


def grow_with_sql(db_path: str, experiment_id: str, target: int) -> None:
    """Copy the experiment's runs (params, tags, metrics) with new ids until it holds
    ``target`` runs; each copy gets fresh random acc and loss values."""
    con = sqlite3.connect(db_path)
    try:
        have = con.execute(
            "SELECT count(*) FROM runs WHERE experiment_id = ?", (experiment_id,)
        ).fetchone()[0]
        tables = {
            table: [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
            for table in ("runs", "params", "tags", "latest_metrics", "metrics")
        }
        while have < target:
            k = min(have, target - have)
            con.execute("DROP TABLE IF EXISTS temp.clone_map")
            con.execute(
                "CREATE TEMP TABLE clone_map AS SELECT run_uuid AS old, "
                "lower(hex(randomblob(16))) AS new FROM runs WHERE experiment_id = ? "
                "ORDER BY run_uuid LIMIT ?",
                (experiment_id, k),
            )
            for table, columns in tables.items():
                cols = ", ".join(columns)
                picked = ", ".join("m.new" if c == "run_uuid" else f"t.{c}" for c in columns)
                con.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {picked} FROM {table} t "
                    "JOIN clone_map m ON t.run_uuid = m.old"
                )
            con.execute(
                "UPDATE latest_metrics SET value = abs(random() % 1000000) / 1000000.0 "
                "WHERE run_uuid IN (SELECT new FROM clone_map)"
            )
            con.execute(
                "UPDATE metrics SET value = (SELECT lm.value FROM latest_metrics lm WHERE "
                "lm.run_uuid = metrics.run_uuid AND lm.key = metrics.key) "
                "WHERE run_uuid IN (SELECT new FROM clone_map)"
            )
            con.commit()
            have += k
            h.progress(f"  grown to {have:,} runs")
    finally:
        con.close()


# A search estimated to take longer than this per call is skipped (MLflow's search time
# grows faster than the store: about n ** 1.5 and worse between 5,000 and 100,000 runs).
SEARCH_BUDGET_S = 60.0


def time_searches(
    client: Any, experiment_id: str, n: int, repeats: int, previous: dict[str, tuple[int, float]]
) -> None:
    """Time every search shape over ``n`` runs; ``previous`` holds (size, seconds) per shape."""
    label = h.size_label(n)
    for shape, (filter_string, order_by) in h.SEARCH_SHAPES.items():
        if shape in previous:
            size, seconds = previous[shape]
            estimate = seconds * (n / size) ** 1.5
            if estimate > SEARCH_BUDGET_S:
                h.progress(
                    f"  {shape} over {n:,}: skipped (about {estimate:.0f} s a call expected "
                    f"from {seconds:.2f} s over {size:,})"
                )
                continue

        def search(filter_string=filter_string, order_by=order_by) -> list:
            return client.search_runs(
                [experiment_id],
                filter_string=filter_string or "",
                order_by=order_by,
                max_results=h.SEARCH_MAX_RESULTS,
            )

        t0 = time.perf_counter()
        got = search()
        first_s = time.perf_counter() - t0
        if not got or len(got) > h.SEARCH_MAX_RESULTS or (n >= 5_000 and len(got) != 100):
            raise SystemExit(f"search {shape}: {len(got)} results, expected 100")
        # Seconds-long searches get fewer repetitions, and beyond 5 s the first call is the figure.
        if first_s < 5:
            reps = repeats if first_s < 0.5 else max(3, repeats // 4)
            with h.timed_section(f"search {shape} over {n:,} runs"):
                stats = h.repeat_ms(search, reps, warmup=1)
        else:
            reps = 1
            stats = dict.fromkeys(("median_ms", "min_ms", "p90_ms", "max_ms"), first_s * 1000)
        previous[shape] = (n, stats["median_ms"] / 1000)
        h.progress(f"  {shape} over {n:,}: median {stats['median_ms']:.1f} ms")
        detail: dict[str, Any] = {
            **stats,
            "filter": filter_string,
            "order_by": order_by,
            "max_results": h.SEARCH_MAX_RESULTS,
            "repeats": reps,
        }
        if shape == "filtered_ordered":
            detail["reference"] = REF["search_filtered_ordered_ms"]
            detail["reference_note"] = "over 5,000 runs"
        h.emit(
            f"search_{shape}_{label}_ms",
            TOOL,
            stats["median_ms"],
            "ms",
            higher_is_better=False,
            n=n,
            detail=detail,
        )


def time_all_runs(client: Any, experiment_id: str, n: int, repeats: int) -> None:
    import mlflow

    def fetch_all() -> list:
        return client.search_runs([experiment_id], max_results=n)

    got = fetch_all()
    if len(got) != n:
        raise SystemExit(f"all_runs: {len(got)} runs fetched, expected {n}")
    reps = max(3, repeats // 4)
    with h.timed_section(f"all {n:,} runs as rows"):
        stats = h.repeat_ms(fetch_all, reps, warmup=1)
    frame = h.repeat_ms(
        lambda: mlflow.search_runs(experiment_ids=[experiment_id], max_results=n), 3, warmup=0
    )
    h.progress(f"  all runs: median {stats['median_ms']:.0f} ms")
    h.emit(
        f"all_runs_as_rows_{h.size_label(n)}_s",
        TOOL,
        stats["median_ms"] / 1000,
        "s",
        higher_is_better=False,
        n=n,
        detail={
            **stats,
            "repeats": reps,
            "rows_are": "MlflowClient.search_runs Run objects",
            "pandas_dataframe_median_s": frame["median_ms"] / 1000,
            "reference": REF["all_runs_as_rows_5k_s"],
        },
    )


def bench_search(sizes: h.Sizes, workdir: str) -> None:
    import mlflow

    sizes_sorted = sorted(sizes.search_runs)
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(h.EXPERIMENT)
    base = min(sizes_sorted[0], sizes.all_runs)
    h.progress(f"populating {base:,} runs through MlflowClient")
    t0 = time.perf_counter()
    populate_with_client(client, experiment_id, base)
    h.progress(f"  {base:,} runs in {time.perf_counter() - t0:.1f} s")
    if base == sizes.all_runs:
        time_all_runs(client, experiment_id, base, sizes.search_repeats)
    previous: dict[str, tuple[int, float]] = {}
    for n in sizes_sorted:
        if n > base:
            grow_with_sql(os.path.join(workdir, "mlflow.db"), experiment_id, n)
        time_searches(client, experiment_id, n, sizes.search_repeats, previous)


BENCHES = {
    "import": bench_import,
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "create_run": bench_create_run,
    "search": bench_search,
}


def worker(args: Any, sizes: h.Sizes) -> None:
    if args.worker != "import":
        import mlflow

        mlflow.set_tracking_uri(db_uri(args.workdir))
    h.PROFILE = args.profile
    BENCHES[args.worker](sizes, args.workdir)


def main() -> int:
    args = h.parse_args(GROUPS, "MLflow's figures for the workloads of benchmarks/tracking.py.")
    sizes = h.sizes_from(args, FULL, QUICK)
    if args.worker:
        worker(args, sizes)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(
            MLFLOW_TRACKING_URI=db_uri(workdir),
            MLFLOW_DISABLE_TELEMETRY="true",
        )

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
