"""The workloads of ``benchmarks/server.py`` against ``mlflow server`` (MLflow 3.17.2) on
SQLite, with 1 and 4 workers and proxied artifacts (``--serve-artifacts``).

Runs in its own virtualenv (MLflow is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/mlflow/bin/python benchmarks/peers/mlflow_server.py [--quick] [--only NAME]
        [--workers 1,4] [--mlflow-search-runs 5000] [--artifact-mb 1024]

Prints one JSON line per figure (``"tool": "mlflow"``) with the same figure names as Heron's
script; the server handling, timing and memory sampling are the very functions of
``benchmarks/server.py`` (its first half imports no Heron). The server is started as a user
starts it, ``mlflow server --backend-store-uri sqlite:////…/mlflow.db --host 127.0.0.1
--port P --workers N --serve-artifacts --artifacts-destination …/mlartifacts``, and answers
``GET /health``; the client uses ``mlflow.set_tracking_uri("http://127.0.0.1:P")``. MLflow's
calls are slower, so some sizes are smaller (throughputs do not depend on them): 2,000
``log_metric`` calls, 100 ``log_batch`` calls of 1,000 metrics (its maximum), 500 runs, search
over 5,000 runs (the size of the issue's MLflow figure: ``--mlflow-search-runs``), seeded
1,000 through ``SqlAlchemyStore`` and grown to size by copying those runs in SQL with fresh
ids and metric values (``mlflow_tracking.grow_with_sql``). The whole-server memory includes
the job runner and huey consumers ``mlflow server`` starts by default. MLflow's usage
telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``), which can only help it.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h
import server as s  # benchmarks/server.py: the shared half

TOOL = "mlflow"
GROUPS = s.GROUPS
FULL = s.ServerSizes(
    log_metric_points=2_000,
    unbuffered_requests=2_000,
    batch_calls=100,
    batch_points=1_000,  # MLflow's limit for one log_batch
    runs=500,
    search_runs=5_000,
    search_repeats=10,
    artifact_mb=1024,
    starts=3,
    warmup_requests=200,
)
QUICK = s.ServerSizes(
    log_metric_points=200,
    unbuffered_requests=200,
    batch_calls=5,
    batch_points=1_000,
    runs=50,
    search_runs=500,
    search_repeats=3,
    artifact_mb=100,
    starts=1,
    warmup_requests=30,
)
SEED_THROUGH_STORE = 1_000  # runs written by SqlAlchemyStore; the rest are SQL copies


def _version() -> str:
    import mlflow

    return mlflow.__version__


def server_env() -> dict[str, str]:
    """This environment, the virtualenv's bin first on PATH, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def mlflow_argv(workdir: str) -> Callable[[int, int], list[str]]:
    db = os.path.join(workdir, "server", "mlflow.db")
    artifacts = os.path.join(workdir, "server", "mlartifacts")
    os.makedirs(artifacts, exist_ok=True)
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")

    def argv(port: int, workers: int) -> list[str]:
        return [
            mlflow,
            "server",
            "--backend-store-uri",
            "sqlite:///" + db,  # an absolute path: sqlite:////…
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--serve-artifacts",
            "--artifacts-destination",
            artifacts,
        ]

    return argv


def serving(workdir: str, workers: int) -> Any:
    return s.running_server(mlflow_argv(workdir), workers, workdir, server_env())


def use_server(server: s.Server) -> Any:
    import mlflow

    mlflow.set_tracking_uri(server.url)
    return mlflow.MlflowClient(tracking_uri=server.url)


def now_ms() -> int:
    return int(time.time() * 1000)


# --- figures ------------------------------------------------------------------------------------
def bench_start(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    for w in worker_counts:
        h.progress(f"start ({w}w): 1 untimed + {sizes.starts} timed starts to GET /health 200")
        r = s.median_start(mlflow_argv(workdir), w, workdir, sizes.starts, server_env())
        s.emit(
            "start_to_first_answer_{w}w_s",
            TOOL,
            w,
            r.pop("median_s"),
            "s",
            higher_is_better=False,
            n=sizes.starts,
            detail={**r, "health": "GET /health", "mlflow_version": _version()},
        )


def bench_log_metric(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    import mlflow
    from mlflow.entities import Metric

    for w in worker_counts:
        with serving(workdir, w) as server:
            client = use_server(server)
            experiment_id = mlflow.set_experiment(f"log-metric-{w}w").experiment_id
            with mlflow.start_run():  # untimed: every worker answers a few requests first
                for i in range(sizes.warmup_requests):
                    mlflow.log_metric("warm", float(i), step=i)
            n = sizes.log_metric_points
            h.progress(f"log_metric ({w}w): {n:,} mlflow.log_metric calls in one run, end_run")
            t0 = time.perf_counter()
            run = mlflow.start_run()
            for i in range(n):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            t1 = time.perf_counter()
            mlflow.end_run()
            t2 = time.perf_counter()
            run_id = run.info.run_id
            stored = len(client.get_metric_history(run_id, "loss"))
            if stored != n:
                raise SystemExit(f"log_metric: {stored} points stored, {n} logged")
            h.progress(f"  {n / (t2 - t0):,.0f} points/s")
            s.emit(
                "log_metric_single_{w}w_points_per_s",
                TOOL,
                w,
                n / (t2 - t0),
                "points/s",
                higher_is_better=True,
                n=n,
                detail={
                    "total_s": t2 - t0,
                    "calls_s": t1 - t0,
                    "end_run_s": t2 - t1,
                    "api": "mlflow.log_metric (synchronous, MLflow's default), then end_run",
                },
            )

            m = sizes.unbuffered_requests
            h.progress(f"log_metric ({w}w): {m:,} MlflowClient.log_batch requests of one point")
            run_id = client.create_run(experiment_id).info.run_id
            for i in range(sizes.warmup_requests):
                client.log_batch(run_id, metrics=[Metric("warm", float(i), now_ms(), i)])
            t0 = time.perf_counter()
            for i in range(m):
                client.log_batch(run_id, metrics=[Metric("x", float(i), now_ms(), i)])
            t1 = time.perf_counter()
            client.set_terminated(run_id)
            stored = len(client.get_metric_history(run_id, "x"))
            if stored != m:
                raise SystemExit(f"log_metric unbuffered: {stored} points stored, {m} logged")
            h.progress(f"  {m / (t1 - t0):,.0f} requests/s")
            s.emit(
                "log_metric_unbuffered_{w}w_req_per_s",
                TOOL,
                w,
                m / (t1 - t0),
                "req/s",
                higher_is_better=True,
                n=m,
                detail={
                    "total_s": t1 - t0,
                    "ms_per_request": (t1 - t0) / m * 1000,
                    "api": "MlflowClient.log_batch(run_id, metrics=[one Metric]) per point",
                },
            )


def bench_log_batch(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    from mlflow.entities import Metric

    keys = [f"m{j}" for j in range(1_000)]
    steps = max(1, sizes.batch_points // len(keys))
    calls = sizes.batch_calls
    for w in worker_counts:
        with serving(workdir, w) as server:
            client = use_server(server)
            experiment_id = client.create_experiment(f"log-batch-{w}w")
            warm = client.create_run(experiment_id).info.run_id
            for i in range(max(2, w * 2)):
                client.log_batch(warm, metrics=[Metric(k, 0.5, now_ms(), i) for k in keys])
            h.progress(
                f"log_batch ({w}w): {calls} MlflowClient.log_batch calls of "
                f"{len(keys) * steps:,} metrics"
            )
            t0 = time.perf_counter()
            run_id = client.create_run(experiment_id).info.run_id
            for c in range(calls):
                ts = now_ms()
                client.log_batch(
                    run_id,
                    metrics=[
                        Metric(k, c * 0.5, ts, c * steps + st) for st in range(steps) for k in keys
                    ],
                )
            client.set_terminated(run_id)
            t1 = time.perf_counter()
            for key in (keys[0], keys[-1]):
                stored = len(client.get_metric_history(run_id, key))
                if stored != calls * steps:
                    raise SystemExit(f"log_batch: {stored} points of {key}, {calls * steps} logged")
            points = calls * steps * len(keys)
            h.progress(f"  {points / (t1 - t0):,.0f} points/s")
            s.emit(
                "log_batch_{w}w_points_per_s",
                TOOL,
                w,
                points / (t1 - t0),
                "points/s",
                higher_is_better=True,
                n=points,
                detail={
                    "total_s": t1 - t0,
                    "ms_per_call": (t1 - t0) / calls * 1000,
                    "points_per_call": len(keys) * steps,
                    "shape": f"{len(keys)} keys x {steps} steps a call",
                    "api": "MlflowClient.create_run, log_batch, set_terminated",
                },
            )


def bench_create_run(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    n = sizes.runs
    for w in worker_counts:
        with serving(workdir, w) as server:
            client = use_server(server)
            experiment_id = client.create_experiment(f"runs-{w}w")
            warm = max(10, sizes.warmup_requests // 10)
            for _ in range(warm):
                client.set_terminated(client.create_run(experiment_id).info.run_id)
            h.progress(f"create_run ({w}w): {n:,} x (MlflowClient.create_run, set_terminated)")
            t0 = time.perf_counter()
            for _ in range(n):
                run = client.create_run(experiment_id)
                client.set_terminated(run.info.run_id)
            t1 = time.perf_counter()
            got = client.search_runs([experiment_id], max_results=n + warm + 1)
            if len(got) != n + warm or any(r.info.status != "FINISHED" for r in got):
                raise SystemExit(f"create_run: {len(got)} runs stored, {n + warm} created")
            h.progress(f"  {n / (t1 - t0):,.0f} runs/s")
            s.emit(
                "create_run_{w}w_runs_per_s",
                TOOL,
                w,
                n / (t1 - t0),
                "runs/s",
                higher_is_better=True,
                n=n,
                detail={
                    "total_s": t1 - t0,
                    "ms_per_run": (t1 - t0) / n * 1000,
                    "api": "MlflowClient.create_run(experiment_id), set_terminated",
                },
            )


def seed_mlflow(workdir: str, n: int, seed: int = 0) -> str:
    """``n`` finished runs in the SQLite store the server will read: up to 1,000 written by
    ``SqlAlchemyStore`` (create_run, log_batch of 2 metrics and 2 params, update_run_info),
    the rest copies of those in SQL with fresh ids and metric values. Returns the
    experiment id."""
    from mlflow.entities import Metric, Param, RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow_tracking import grow_with_sql

    db = os.path.join(workdir, "server", "mlflow.db")
    store = SqlAlchemyStore("sqlite:///" + db, os.path.join(workdir, "server", "mlartifacts"))
    experiment_id = store.create_experiment(s.EXPERIMENT)
    rng = random.Random(seed)
    base = min(n, SEED_THROUGH_STORE)
    t0 = time.perf_counter()
    for i in range(base):
        v = h.run_values(i, rng)
        ts = now_ms()
        run = store.create_run(experiment_id, "bench", ts, [RunTag("team", v["team"])], f"run-{i}")
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            [Metric("acc", v["acc"], ts, 0), Metric("loss", v["loss"], ts, 0)],
            [Param("depth", v["depth"]), Param("lr", v["lr"])],
            [],
        )
        store.update_run_info(run_id, RunStatus.FINISHED, ts + 1, None)
        if (i + 1) % 250 == 0:
            rate = (i + 1) / (time.perf_counter() - t0)
            h.progress(f"  seeded {i + 1:,} / {base:,} runs through the store ({rate:.0f} runs/s)")
    store.engine.dispose()
    if n > base:
        grow_with_sql(db, experiment_id, n)
    con = sqlite3.connect(db)
    try:
        matches = con.execute(
            "SELECT count(*) FROM runs r "
            "JOIN latest_metrics m ON m.run_uuid = r.run_uuid AND m.key = 'acc' "
            "JOIN params p ON p.run_uuid = r.run_uuid AND p.key = 'lr' "
            "WHERE r.experiment_id = ? AND m.value > 0.5 AND p.value = '0.01'",
            (experiment_id,),
        ).fetchone()[0]
    finally:
        con.close()
    h.progress(f"  {matches:,} of the {n:,} runs match the filter")
    return experiment_id


def bench_search(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    n = sizes.search_runs
    h.progress(f"search: seeding {n:,} runs into the SQLite store")
    t0 = time.perf_counter()
    experiment_id = seed_mlflow(workdir, n)
    seed_s = time.perf_counter() - t0
    h.progress(f"  {n:,} runs in {seed_s:.1f} s")
    for w in worker_counts:
        with serving(workdir, w) as server:
            client = use_server(server)

            def search(client: Any = client) -> list:
                return client.search_runs(
                    [experiment_id],
                    filter_string=s.SEARCH_FILTER,
                    order_by=s.SEARCH_ORDER_BY,
                    max_results=s.SEARCH_MAX_RESULTS,
                )

            s.check_search(search(), n, lambda r: (r.data.metrics["acc"], r.data.params["lr"]))
            h.progress(f"search ({w}w): over {n:,} runs, {sizes.search_repeats} timed")
            stats = h.repeat_ms(search, sizes.search_repeats, warmup=max(2, 2 * w))
            h.progress(f"  median {stats['median_ms']:.1f} ms")
            s.emit(
                "search_filtered_ordered_{w}w_ms",
                TOOL,
                w,
                stats["median_ms"],
                "ms",
                higher_is_better=False,
                n=n,
                detail={
                    **s.search_detail(stats, sizes.search_repeats, seed_s, n),
                    "seeded_through_store": min(n, SEED_THROUGH_STORE),
                    "api": "MlflowClient.search_runs",
                },
            )


def bench_artifact(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    import mlflow
    import mlflow.artifacts

    source = os.path.join(workdir, s.ARTIFACT_NAME)
    size = s.write_artifact_file(source, sizes.artifact_mb)
    server_artifacts = os.path.join(workdir, "server", "mlartifacts")
    for w in worker_counts:
        with serving(workdir, w) as server:
            use_server(server)
            mlflow.set_experiment(f"artifact-{w}w")
            with mlflow.start_run():  # untimed warm-up: a small artifact
                small = os.path.join(workdir, "warm.txt")
                with open(small, "w") as f:
                    f.write("warm")
                mlflow.log_artifact(small)
            before = s.folder_bytes(server_artifacts)
            h.progress(f"artifact ({w}w): mlflow.log_artifact of {sizes.artifact_mb:,} MB")
            s.settle_disk()
            with mlflow.start_run() as run, s.PeakRss(server.pid) as up:
                t0 = time.perf_counter()
                mlflow.log_artifact(source)
                t1 = time.perf_counter()
            upload_s = t1 - t0
            grown = s.folder_bytes(server_artifacts) - before
            if grown < size:
                raise SystemExit(
                    f"artifact: the server's artifacts destination grew by {grown:,} bytes "
                    f"after logging {size:,}: the upload did not go through the server"
                )
            h.progress(f"  upload {size / s.MB / upload_s:,.0f} MB/s")
            target = os.path.join(workdir, f"download-{w}w")
            os.makedirs(target)
            h.progress(
                f"artifact ({w}w): mlflow.artifacts.download_artifacts of {sizes.artifact_mb:,} MB"
            )
            s.settle_disk()
            with s.PeakRss(server.pid) as down:
                t0 = time.perf_counter()
                got = mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path=s.ARTIFACT_NAME, dst_path=target
                )
                t1 = time.perf_counter()
            download_s = t1 - t0
            if not s.same_file_sample(source, got):
                raise SystemExit(f"artifact: the downloaded file {got} differs from the logged one")
            os.remove(got)
            h.progress(f"  download {size / s.MB / download_s:,.0f} MB/s")
            detail = {
                "upload_s": upload_s,
                "download_s": download_s,
                "bytes": size,
                **up.detail("upload"),
                **down.detail("download"),
                "api": "mlflow.log_artifact in a run (--serve-artifacts); "
                "mlflow.artifacts.download_artifacts(run_id, artifact_path, dst_path)",
            }
            for figure, value, unit, higher in (
                ("artifact_upload_{w}w_mb_per_s", size / s.MB / upload_s, "MB/s", True),
                ("artifact_download_{w}w_mb_per_s", size / s.MB / download_s, "MB/s", True),
                (
                    "artifact_client_peak_rss_{w}w_mb",
                    max(up.client_peak_mb, down.client_peak_mb),
                    "MB",
                    False,
                ),
                (
                    "artifact_server_peak_rss_{w}w_mb",
                    max(up.server_peak_mb, down.server_peak_mb),
                    "MB",
                    False,
                ),
            ):
                s.emit(figure, TOOL, w, value, unit, higher_is_better=higher, n=size, detail=detail)
        shutil.rmtree(server_artifacts, ignore_errors=True)  # 1 GB less on the disk
        os.makedirs(server_artifacts, exist_ok=True)


def warm_up_requests(client: Any, experiment_id: str, requests: int) -> int:
    """The mix of :func:`server.warm_up_requests`: create, log, read, search, end."""
    from mlflow.entities import Metric

    sent = 0
    while sent < requests:
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{j}", 0.5, now_ms(), st) for j in range(10) for st in range(10)],
        )
        client.get_run(run_id)
        client.search_runs([experiment_id], order_by=["metrics.m0 DESC"], max_results=10)
        client.set_terminated(run_id)
        sent += 5
    return sent


def bench_memory(sizes: s.ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    for w in worker_counts:
        with serving(workdir, w) as server:
            client = use_server(server)
            experiment_id = client.create_experiment(f"memory-{w}w")
            sent = warm_up_requests(client, experiment_id, sizes.warmup_requests)
            time.sleep(0.5)
            memory = s.tree_memory_mb(server.pid, full=True)
            h.progress(
                f"memory ({w}w): {memory['rss_mb']:.0f} MB in {memory['processes']} processes"
            )
            s.emit(
                "server_rss_{w}w_mb",
                TOOL,
                w,
                memory.pop("rss_mb"),
                "MB",
                higher_is_better=False,
                detail={
                    **memory,
                    "warmup_requests": sent,
                    "measured": "sum of RSS, whole tree (uvicorn, its workers, the job runner "
                    "and huey consumers mlflow server starts)",
                },
            )


BENCHES = {
    "start": bench_start,
    "log_metric": bench_log_metric,
    "log_batch": bench_log_batch,
    "create_run": bench_create_run,
    "search": bench_search,
    "artifact": bench_artifact,
    "memory": bench_memory,
}


def main() -> int:
    args = s.parse_args(GROUPS, "MLflow's figures for the workloads of benchmarks/server.py.")
    sizes = QUICK if args.quick else FULL
    if args.mlflow_search_runs:
        sizes = replace(sizes, search_runs=args.mlflow_search_runs)
    if args.artifact_mb:
        sizes = replace(sizes, artifact_mb=args.artifact_mb)
    if args.worker:
        s.worker_setup()
        BENCHES[args.worker](sizes, args.workdir, args.worker_counts)
        return 0
    figures = {g: f for g, f in s.figures_of(args.worker_counts).items() if g in GROUPS}
    groups = h.select_groups(GROUPS, args.only, figures)

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(MLFLOW_DISABLE_TELEMETRY="true")

    failed = s.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
