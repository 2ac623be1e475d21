"""The MLflow client against ``mlflow server`` 3.17.2 and against ``heron server``, one run.

The very client calls of ``benchmarks/peers/mlflow_server.py`` (``mlflow.log_metric`` one call
at a time, ``MlflowClient.log_batch`` of 1,000 metrics, ``create_run`` + ``set_terminated``,
``search_runs`` filtered and ordered, ``mlflow.log_artifact`` / ``download_artifacts`` through
the proxy), made by the same MLflow client in the same virtualenv, once against ``mlflow server
--serve-artifacts`` and once against ``heron server``, both on SQLite with one worker. Runs in
MLflow's virtualenv (``benchmarks/run_peers.sh --mlflow-compat`` makes it)::

    .venv-peers/mlflow/bin/python benchmarks/mlflow_compat.py [--quick] [--only NAME]
        [--search-runs 10000] [--artifact-mb 200]

``HERON_PYTHON`` (default ``.venv/bin/python`` of this checkout) runs ``heron server`` and seeds
its search store (``benchmarks/server.py``'s ``seed_heron``: the same runs as MLflow's seed).
Prints one JSON line per figure and tool (``"tool": "mlflow"`` or ``"heron"``), then a table of
the ratios on stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

import _harness as h  # noqa: E402
import mlflow_server as m  # noqa: E402  (benchmarks/peers/mlflow_server.py: the client calls)
import server as s  # noqa: E402

GROUPS = ("log_metric", "log_batch", "start_run", "create_run", "search", "artifact")
TARGET_ENV = "MLFLOW_COMPAT_TARGET"
SEARCH_RUNS = 10_000
ARTIFACT_MB = 200
# figure -> (what the issue names it, its target ratio Heron / MLflow)
TARGETS = {
    "log_metric_single_1w_points_per_s": ("mlflow.log_metric one call at a time", 5.0),
    "log_batch_1w_points_per_s": ("log_batch of 1,000 metrics", 5.0),
    "start_run_full_1w_runs_per_s": ("start_run + 3 params + 3 metrics + end", 3.0),
    "create_run_1w_runs_per_s": ("create_run + set_terminated", 3.0),
    "search_filtered_ordered_1w_ms": ("search_runs, 10,000 runs, filtered, ordered", 10.0),
    "artifact_upload_1w_mb_per_s": ("log_artifact through the proxy", 2.0),
    "artifact_download_1w_mb_per_s": ("download_artifacts through the proxy", 2.0),
}


def heron_python() -> str:
    default = HERE.parent / ".venv" / "bin" / "python"
    return os.environ.get("HERON_PYTHON", str(default))


def heron_serving(workdir: str, workers: int) -> Any:
    # the artifacts in the folder MLflow's artifact figure measures (mlflow_server.bench_artifact)
    argv = s.heron_argv(workdir, heron_python(), artifacts_folder="mlartifacts")
    return s.running_server(argv, workers, workdir, h.clean_env())


SEED = """
import sys
sys.path.insert(0, {benchmarks!r})
import server
from heron.store.sql.store import SqlStore
server.seed_heron({db!r}, {n})
print(SqlStore("sqlite:///" + {db!r}).get_experiment_by_name(server.EXPERIMENT).id)
"""


def seed_heron(workdir: str, n: int, seed: int = 0) -> str:
    """The runs of MLflow's search seed, written into Heron's store by Heron's own code."""
    db = os.path.join(workdir, "server", "heron.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    script = SEED.format(benchmarks=str(HERE), db=db, n=n)
    out = subprocess.run(
        [heron_python(), "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return out.strip().splitlines()[-1]


def use_heron() -> None:
    """Point mlflow_server's client calls at ``heron server``."""
    m.TOOL = "heron"
    m.serving = heron_serving
    m.seed_mlflow = seed_heron


def bench_start_run(sizes: s.ServerSizes, workdir: str, worker_counts: Any) -> None:
    """The issue's figure: ``mlflow.start_run``, ``log_params`` (3), ``log_metrics`` (3),
    end, in sequence (as ``benchmarks/peers/mlflow_tracking.py`` times it embedded)."""
    import mlflow

    n = sizes.runs
    with m.serving(workdir, 1) as server:
        client = m.use_server(server)
        experiment_id = mlflow.set_experiment("start-run").experiment_id
        for _ in range(max(10, sizes.warmup_requests // 10)):  # untimed
            with mlflow.start_run():
                mlflow.log_params({"warm": 1})
        h.progress(f"start_run: {n:,} x (start_run, log_params(3), log_metrics(3), end)")
        t0 = time.perf_counter()
        for i in range(n):
            with mlflow.start_run():
                mlflow.log_params({"lr": 0.001 * (i % 10), "depth": i % 7, "optimizer": "adam"})
                mlflow.log_metrics({"acc": i / n, "loss": 1 - i / n, "f1": 0.5})
        t1 = time.perf_counter()
        runs = client.search_runs([experiment_id], "params.optimizer = 'adam'", max_results=n + 1)
        if len(runs) != n or any(len(r.data.metrics) != 3 for r in runs):
            raise SystemExit(f"start_run: {len(runs)} runs with 3 metrics stored, {n} made")
        h.progress(f"  {n / (t1 - t0):,.0f} runs/s")
        s.emit(
            "start_run_full_{w}w_runs_per_s",
            m.TOOL,
            1,
            n / (t1 - t0),
            "runs/s",
            higher_is_better=True,
            n=n,
            detail={
                "total_s": t1 - t0,
                "ms_per_run": (t1 - t0) / n * 1000,
                "api": "with mlflow.start_run(): log_params(3), log_metrics(3)",
            },
        )


def summary(lines: list[dict[str, Any]]) -> None:
    by = {(d["figure"], d["tool"]): d["value"] for d in lines}
    h.progress("")
    h.progress(f"{'figure':52} {'mlflow':>12} {'heron':>12} {'ratio':>8} {'target':>7}")
    for figure, (label, target) in TARGETS.items():
        mine, theirs = by.get((figure, "heron")), by.get((figure, "mlflow"))
        if mine is None or theirs is None:
            continue
        ratio = theirs / mine if figure.endswith("_ms") else mine / theirs
        ok = "ok" if ratio >= target else "MISSED"
        h.progress(f"{label:52} {theirs:12,.1f} {mine:12,.1f} {ratio:7.1f}x {target:5.0f}x {ok}")


def main() -> int:
    args = s.parse_args(GROUPS, __doc__.splitlines()[0])
    sizes = m.QUICK if args.quick else m.FULL
    sizes = replace(
        sizes,
        search_runs=args.search_runs or (500 if args.quick else SEARCH_RUNS),
        artifact_mb=args.artifact_mb or (50 if args.quick else ARTIFACT_MB),
    )
    if args.worker:
        if os.environ.get(TARGET_ENV) == "heron":
            use_heron()
        s.worker_setup()
        benches = {**m.BENCHES, "start_run": bench_start_run}
        benches[args.worker](sizes, args.workdir, args.worker_counts)
        return 0
    args.workers = "1"
    args.worker_counts = [1]
    args.search_runs, args.artifact_mb = sizes.search_runs, sizes.artifact_mb
    figures = {g: f for g, f in s.figures_of([1]).items() if g in GROUPS}
    figures["start_run"] = ["start_run_full_1w_runs_per_s"]
    groups = h.select_groups(GROUPS, args.only, figures)
    failed = 0
    lines: list[dict[str, Any]] = []
    for target in ("mlflow", "heron"):
        h.progress(f"=== the MLflow client against {target} server")

        def env_for(workdir: str, target: str = target) -> dict[str, str]:
            return h.clean_env(MLFLOW_DISABLE_TELEMETRY="true", **{TARGET_ENV: target})

        collected = io.StringIO()
        with contextlib.redirect_stdout(collected):
            failed += s.run_groups(os.path.abspath(__file__), groups, args, env_for)
        for line in collected.getvalue().splitlines():
            print(line, flush=True)
            lines.append(json.loads(line))
    summary(lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
