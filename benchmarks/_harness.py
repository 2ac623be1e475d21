"""Shared plumbing of the benchmark scripts: workloads, timing, JSON output, worker processes.

Standard library only: the peer scripts import it from their own virtualenvs too.

A benchmark script is a set of *groups* (``import``, ``log_metric``, …). The parent process
runs each group in a fresh worker process (the same script with ``--worker GROUP``) whose
working directory and store live in a new temporary folder, and relays the JSON lines the
worker prints. Progress goes to stderr; stdout carries one JSON object per figure, nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

BENCHMARK = "tracking"


# --- workload sizes (the same for every tool unless a tool's script scales them down) ------
@dataclass
class Sizes:
    log_metric_points: int = 200_000
    batch_calls: int = 1_000  # calls of 1,000 points each (fluent log_metrics)
    client_batch_calls: int = 300  # calls of 1,000 points each (Client.log_batch)
    batch_width: int = 1_000
    runs: int = 2_000  # create run + 3 params + 3 metrics + end
    search_runs: list[int] = field(default_factory=lambda: [100_000])
    all_runs: int = 5_000
    search_repeats: int = 20
    import_repeats: int = 15


QUICK = Sizes(
    log_metric_points=20_000,
    batch_calls=50,
    client_batch_calls=20,
    runs=200,
    search_runs=[10_000],
    all_runs=1_000,
    search_repeats=5,
    import_repeats=5,
)

# The search shapes every tool runs: name -> (filter, order_by).
SEARCH_SHAPES: dict[str, tuple[str | None, list[str]]] = {
    # The figure of the issue / DESIGN §8.
    "filtered_ordered": ("metrics.acc > 0.8 and params.depth = '3'", ["metrics.acc DESC"]),
    # A tag filter, ordered by a metric the filter does not mention.
    "tag_filter_other_order": ("tags.team = 'a' and params.lr = '0.01'", ["metrics.loss ASC"]),
    # No filter: the 100 best runs of the experiment by one metric.
    "order_only": (None, ["metrics.acc DESC"]),
}
SEARCH_MAX_RESULTS = 100
EXPERIMENT = "bench"

# MLflow 3.17.2 on the reference 2-core machine, as quoted in the issue and DESIGN §8.
MLFLOW_REFERENCE = {
    "import_s": 1.12,
    "log_metric_single_points_per_s": 308,
    "log_metrics_batch_points_per_s": 14_600,
    "create_run_3p3m_runs_per_s": 73,
    "search_filtered_ordered_ms": 204,  # over 5,000 runs
    "all_runs_as_rows_5k_s": 1.69,
}


def size_label(n: int) -> str:
    """``5000`` -> ``5k``, ``100000`` -> ``100k``, ``1500`` -> ``1500``."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_values(i: int, rng: Any) -> dict[str, Any]:
    """The params, metrics and tag of synthetic run ``i`` used by the search figures.

    acc and loss uniform in [0, 1); depth 1..5; lr one of three; team one of four. The
    filtered shape thus matches about 4 % of the runs, the tag shape about 8 %.
    """
    return {
        "acc": rng.random(),
        "loss": rng.random(),
        "depth": str(rng.randint(1, 5)),
        "lr": rng.choice(("0.1", "0.01", "0.001")),
        "team": rng.choice("abcd"),
    }


# --- output -----------------------------------------------------------------------------
def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(
    figure: str,
    tool: str,
    value: float,
    unit: str,
    *,
    higher_is_better: bool,
    target: float | None = None,
    peer: dict[str, float] | None = None,
    n: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Print one figure as one JSON line on stdout."""
    record: dict[str, Any] = {
        "benchmark": BENCHMARK,
        "figure": figure,
        "tool": tool,
        "value": round(float(value), 6),
        "unit": unit,
        "better": "higher" if higher_is_better else "lower",
    }
    if target is not None:
        record["target"] = target
        record["meets_target"] = value >= target if higher_is_better else value <= target
    if peer:
        record["peer"] = peer
    if n is not None:
        record["n"] = n
    if detail:
        record["detail"] = {k: _rounded(v) for k, v in detail.items()}
    # Other processes on the machine skew every figure: record how busy it was.
    record["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record), flush=True)


def _rounded(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


# --- timing -----------------------------------------------------------------------------
PROFILE = False  # set by the worker from --profile


@contextlib.contextmanager
def timed_section(label: str) -> Iterator[None]:
    """Marks a timed section; under ``--profile`` prints its top functions to stderr."""
    if not PROFILE:
        yield
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        print(f"--- profile of {label} ---\n{out.getvalue()}", file=sys.stderr, flush=True)


def repeat_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; milliseconds stats."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "min_ms": times[0],
        "p90_ms": times[min(len(times) - 1, int(len(times) * 0.9))],
        "max_ms": times[-1],
    }


def process_seconds(argv: Sequence[str], cwd: str, env: dict[str, str]) -> float:
    """Wall time of one whole process, start to exit."""
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def import_figure(python: str, module: str, repeats: int, cwd: str, env: dict[str, str]) -> dict:
    """``python -c "import module"`` against ``python -c "pass"``, interleaved, ``repeats`` each.

    Returns the median and best difference and the absolute medians, in seconds.
    """
    bare, imported = [], []
    process_seconds([python, "-c", f"import {module}"], cwd, env)  # warm the file cache
    process_seconds([python, "-c", "pass"], cwd, env)
    for _ in range(repeats):
        bare.append(process_seconds([python, "-c", "pass"], cwd, env))
        imported.append(process_seconds([python, "-c", f"import {module}"], cwd, env))
    return {
        "median_s": statistics.median(imported) - statistics.median(bare),
        "best_s": min(imported) - min(bare),
        "import_process_median_s": statistics.median(imported),
        "bare_process_median_s": statistics.median(bare),
    }


# --- the parent / worker split ------------------------------------------------------------
def parse_args(groups: Sequence[str], description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only this group or figure (repeatable; groups: {', '.join(groups)})",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument(
        "--search-runs",
        help="comma-separated store sizes for the search figures (default: the defined size)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the timed sections with cProfile (top functions to stderr; slows them)",
    )
    return parser.parse_args()


def sizes_from(args: argparse.Namespace, full: Sizes, quick: Sizes = QUICK) -> Sizes:
    sizes = quick if args.quick else full
    if args.search_runs:
        sizes.search_runs = [int(x) for x in args.search_runs.split(",") if x.strip()]
    return sizes


def select_groups(
    groups: Sequence[str], only: Sequence[str], figures_of: dict[str, Sequence[str]]
) -> list[str]:
    """The groups to run: all, or those named (directly or by one of their figures)."""
    if not only:
        return list(groups)
    chosen = []
    for name in only:
        if name in groups:
            matches = [name]
        else:
            matches = [g for g in groups if any(name in f for f in figures_of[g])]
        if not matches:
            raise SystemExit(f"--only {name!r}: no such group or figure (groups: {list(groups)})")
        chosen += [g for g in matches if g not in chosen]
    return [g for g in groups if g in chosen]


def run_groups(
    script: str,
    groups: Sequence[str],
    args: argparse.Namespace,
    env_for: Callable[[str], dict[str, str]],
    python: str = sys.executable,
) -> int:
    """Run each group in a fresh worker process with its own temporary workspace.

    ``env_for(workdir)`` gives the worker's environment. Returns the number of failed groups.
    """
    failed = 0
    for group in groups:
        workdir = tempfile.mkdtemp(prefix=f"bench-{group}-")
        argv = [python, script, "--worker", group, "--workdir", workdir]
        if args.quick:
            argv.append("--quick")
        if args.search_runs:
            argv += ["--search-runs", args.search_runs]
        if args.profile:
            argv.append("--profile")
        progress(f"{group}: starting in {workdir}")
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=workdir, env=env_for(workdir), stdout=subprocess.PIPE)
        for line in proc.stdout.decode().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                json.loads(line)
            except ValueError:
                print(f"(worker stdout) {line}", file=sys.stderr)
                continue
            print(line, flush=True)
        if proc.returncode != 0:
            failed += 1
            progress(f"{group}: FAILED (exit {proc.returncode})")
        else:
            progress(f"{group}: done in {time.perf_counter() - t0:.1f} s")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return failed


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without tracking settings of the user, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HERON_", "MLFLOW_")) and k != "PYTHONPATH"
    }
    env.update(extra)
    return env


# --- pipelines (benchmarks/pipelines.py and peers/*_pipelines.py) ---------------------------
@dataclass
class PipelineSizes:
    """Workload sizes of the pipeline figures, the same for every tool."""

    linear_steps: int = 50  # the linear pipeline of trivial steps
    fanout_width: int = 32  # 1 -> width -> 1
    array_elements: int = 25_000_000  # float64: 200 MB
    dag_sizes: list[int] = field(default_factory=lambda: [50, 200, 1_000])  # linear chains
    wide_chains: int = 10  # the wide DAG: wide_chains chains of dag_sizes[-1] // wide_chains
    repeats: int = 5  # timed repetitions after one warm-up run
    array_repeats: int = 3
    dag_repeats: int = 3


PIPELINE_QUICK = PipelineSizes(
    linear_steps=10,
    fanout_width=8,
    array_elements=1_000_000,
    dag_sizes=[10, 50],
    wide_chains=5,
    repeats=2,
    array_repeats=1,
    dag_repeats=1,
)

# Peers on the reference 2-core machine, as quoted in issue 3 and DESIGN §8 (where a range is
# quoted, its better end; the ranges are in PIPELINE_REFERENCE_NOTES).
PIPELINE_REFERENCE: dict[str, dict[str, float]] = {
    "linear_per_step_ms": {"zenml": 74, "prefect": 22, "dagster": 6.7},
    "linear_cached_rerun_s": {"zenml": 2.5, "prefect": 1.1},
    "fanout_s": {"zenml": 2.8, "prefect": 1.07, "dagster": 0.29},
    "array_200mb_s": {"zenml": 1.71, "prefect": 3.8, "dagster": 0.61, "dagster-files": 0.89},
}
PIPELINE_REFERENCE_NOTES = {
    "linear_per_step_ms": "ZenML 74-84 ms, Prefect 22-57 ms, Dagster 6.7 ms (nothing persisted)",
    "array_200mb_s": "Prefect with results persisted; Dagster 0.89 s files / 0.61 s memory",
}
PIPELINE_TARGETS = {
    "linear_per_step_ms": 2.0,
    "linear_cached_rerun_s": 0.1,
    "fanout_s": 0.15,
    "array_200mb_s": 0.7,
    "dag_per_step_ms": 3.0,
}


def pipeline_sizes(quick: bool) -> PipelineSizes:
    return PIPELINE_QUICK if quick else PipelineSizes()


def median_run_s(fn: Callable[[int], Any], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """``fn(i)`` ``warmup`` times untimed, then ``repeats`` times; seconds stats.

    ``i`` counts every call (warm-up included), so a workload can vary with it (a seed).
    """
    calls = 0
    for _ in range(warmup):
        fn(calls)
        calls += 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(calls)
        times.append(time.perf_counter() - t0)
        calls += 1
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "times_s": [round(t, 6) for t in times],
        "repeats": repeats,
    }


# --- serving (benchmarks/serving.py and peers/mlflow_serving.py) ----------------------------
# The load generator is the same for every tool: stdlib http.client, one keep-alive connection
# per client, concurrent clients as processes (so that no client shares the server's GIL, or
# another client's).
@dataclass
class ServingSizes:
    """Workload sizes of the serving figures, the same for every tool."""

    sequential_requests: int = 5_000  # single-row requests, one after another
    concurrent_clients: int = 8
    concurrent_requests: int = 2_000  # per client
    large_rows: int = 10_000  # rows of the one large request
    large_repeats: int = 20
    starts: int = 5  # fresh server starts timed to the first answer
    log_model_repeats: int = 10
    warmup_requests: int = 200  # per client, untimed


SERVING_QUICK = ServingSizes(
    sequential_requests=300,
    concurrent_requests=100,
    large_repeats=3,
    starts=1,
    log_model_repeats=2,
    warmup_requests=20,
)

# MLflow 3.17.2 (`mlflow models serve`, uvicorn) on the reference 2-core machine, as quoted in
# the issue; and Heron's targets.
SERVING_REFERENCE = {
    "single_row_sequential_req_per_s": 282,
    "single_row_sequential_p50_ms": 3.5,
    "concurrent8_req_per_s": 302,
    "concurrent8_p50_ms": 26,
    "large_10k_rows_ms": 17,
    "start_to_first_answer_s": 4.1,
    "serving_rss_mb": 275,
    "log_model_s": 3.6,
}
SERVING_TARGETS = {
    "single_row_sequential_req_per_s": 1_500,
    "single_row_sequential_p50_ms": 0.7,
    "concurrent8_req_per_s": 2_000,
    "large_10k_rows_ms": 8,
    "start_to_first_answer_s": 1.5,
    "serving_rss_mb": 150,
    "log_model_s": 0.1,
}
SERVING_FIGURES = {
    "log_model": ["log_model_s"],
    "start": ["start_to_first_answer_s"],
    "load": [
        "single_row_sequential_req_per_s",
        "single_row_sequential_p50_ms",
        "single_row_sequential_inputs_req_per_s",
        "concurrent8_req_per_s",
        "large_10k_rows_ms",
        "serving_rss_mb",
    ],
}
#: the single row every single-row request scores (an iris flower)
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
SERVER_START_LIMIT_S = 180
JSON_HEADERS = {"Content-Type": "application/json"}


def serving_sizes(quick: bool) -> ServingSizes:
    return SERVING_QUICK if quick else ServingSizes()


def iris_like_rows(n: int, seed: int = 0) -> list[list[float]]:
    """``n`` rows of four values in the ranges of the iris features (deterministic)."""
    import random

    rng = random.Random(seed)
    ranges = ((4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5))
    return [[round(rng.uniform(lo, hi), 1) for lo, hi in ranges] for _ in range(n)]


def scoring_body(rows: list[list[float]], form: str = "dataframe_split") -> bytes:
    """A request body both servers read: MLflow's ``dataframe_split`` (with the iris column
    names: what MLflow's docs show and pandas clients send), or ``inputs`` (a list of rows)."""
    if form == "inputs":
        return json.dumps({"inputs": rows}).encode()
    return json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}}).encode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScoringClient:
    """One keep-alive HTTP/1.1 connection to a scoring server on 127.0.0.1."""

    def __init__(self, port: int, timeout: float = 120) -> None:
        import http.client

        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, body: bytes, path: str = "/invocations") -> bytes:
        self.connection.request("POST", path, body, JSON_HEADERS)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {data[:300]!r}")
        return data

    def close(self) -> None:
        self.connection.close()


def time_requests(port: int, body: bytes, n: int, warmup: int) -> list[float]:
    """Seconds of each of ``n`` requests sent one after another on one connection."""
    client = ScoringClient(port)
    try:
        for _ in range(warmup):
            client.post(body)
        latencies = []
        clock = time.perf_counter
        for _ in range(n):
            t0 = clock()
            client.post(body)
            latencies.append(clock() - t0)
        return latencies
    finally:
        client.close()


def latency_stats(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and mean of latencies given in seconds, in milliseconds."""
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000,
    }


def emit_serving(
    figure: str,
    tool: str,
    value: float,
    unit: str,
    *,
    higher_is_better: bool,
    n: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """:func:`emit` a serving figure: Heron's lines carry the target and MLflow's quoted
    figure; the peer's carry that quoted figure as ``detail["reference"]``."""
    reference = SERVING_REFERENCE.get(figure)
    if tool == "heron":
        emit(
            figure,
            tool,
            value,
            unit,
            higher_is_better=higher_is_better,
            target=SERVING_TARGETS.get(figure),
            peer={"mlflow": reference} if reference is not None else None,
            n=n,
            detail=detail,
        )
    else:
        extra = {"reference": reference} if reference is not None else {}
        emit(
            figure,
            tool,
            value,
            unit,
            higher_is_better=higher_is_better,
            n=n,
            detail={**(detail or {}), **extra},
        )


def run_load(
    sizes: ServingSizes,
    port: int,
    pid: int,
    predict: Callable[[list[list[float]]], Any],
    tool: str,
    stack: dict[str, str],
) -> None:
    """The load figures against a scoring server answering on ``port`` whose process is
    ``pid``: sequential and concurrent single-row requests, one large request, memory.
    ``predict`` is the model's own predict, to check the answers."""
    one = scoring_body([IRIS_ROW])
    expected = predict([IRIS_ROW]).tolist()
    client = ScoringClient(port)
    answer = json.loads(client.post(one))
    client.close()
    if answer != {"predictions": expected}:
        raise SystemExit(f"load: the server answered {answer}, the model {expected}")

    n = sizes.sequential_requests
    progress(f"load: {n:,} single-row requests one after another")
    latencies = time_requests(port, one, n, sizes.warmup_requests)
    stats = latency_stats(latencies)
    rate = n / sum(latencies)
    progress(f"  {rate:,.0f} req/s, p50 {stats['p50_ms']:.3f} ms")
    emit_serving(
        "single_row_sequential_req_per_s",
        tool,
        rate,
        "req/s",
        higher_is_better=True,
        n=n,
        detail={**stats, "body": one.decode(), **stack},
    )
    emit_serving(
        "single_row_sequential_p50_ms",
        tool,
        stats["p50_ms"],
        "ms",
        higher_is_better=False,
        n=n,
        detail={**stats, **stack},
    )

    rows_form = scoring_body([IRIS_ROW], "inputs")
    latencies = time_requests(port, rows_form, n, sizes.warmup_requests)
    inputs_stats = latency_stats(latencies)
    progress(f"  the same as {{'inputs': [[...]]}}: {n / sum(latencies):,.0f} req/s")
    emit_serving(
        "single_row_sequential_inputs_req_per_s",
        tool,
        n / sum(latencies),
        "req/s",
        higher_is_better=True,
        n=n,
        detail={**inputs_stats, "body": rows_form.decode(), **stack},
    )

    clients, per_client = sizes.concurrent_clients, sizes.concurrent_requests
    progress(f"load: {clients} client processes x {per_client:,} single-row requests")
    result = concurrent_requests(port, one, clients, per_client, sizes.warmup_requests)
    progress(f"  {result['req_per_s']:,.0f} req/s, p50 {result['p50_ms']:.3f} ms")
    emit_serving(
        "concurrent8_req_per_s",
        tool,
        result["req_per_s"],
        "req/s",
        higher_is_better=True,
        n=result["requests"],
        detail={**result, "reference_p50_ms": SERVING_REFERENCE["concurrent8_p50_ms"], **stack},
    )

    rows = iris_like_rows(sizes.large_rows)
    big = scoring_body(rows)
    client = ScoringClient(port)
    got = json.loads(client.post(big))["predictions"]
    if got != predict(rows).tolist():
        raise SystemExit("load: the large request's predictions differ from the model's")
    progress(f"load: one {len(rows):,}-row request ({len(big):,} bytes), {sizes.large_repeats}x")
    times = []
    for _ in range(sizes.large_repeats):
        t0 = time.perf_counter()
        client.post(big)
        times.append((time.perf_counter() - t0) * 1000)
    client.close()
    emit_serving(
        "large_10k_rows_ms",
        tool,
        statistics.median(times),
        "ms",
        higher_is_better=False,
        n=sizes.large_repeats,
        detail={"min_ms": min(times), "max_ms": max(times), "body_bytes": len(big), **stack},
    )

    memory = process_tree_rss_mb(pid)
    emit_serving(
        "serving_rss_mb",
        tool,
        memory["largest_mb"],
        "MB",
        higher_is_better=False,
        detail={**memory, "measured": "VmRSS after the load figures"},
    )


def _client_process(port: int, body: bytes, n: int, warmup: int, barrier: Any, out: Any) -> None:
    client = ScoringClient(port)
    try:
        for _ in range(warmup):
            client.post(body)
        barrier.wait()
        clock = time.perf_counter
        latencies = []
        start = clock()
        for _ in range(n):
            t0 = clock()
            client.post(body)
            latencies.append(clock() - t0)
        out.put((start, clock(), latencies, None))
    except Exception as e:  # reported by the parent
        out.put((0.0, 0.0, [], f"{type(e).__name__}: {e}"))
    finally:
        client.close()


def concurrent_requests(
    port: int, body: bytes, clients: int, per_client: int, warmup: int
) -> dict[str, Any]:
    """``clients`` processes, each sending ``per_client`` requests one after another on its
    own keep-alive connection, all starting together (after their warm-up). Throughput is
    all requests over the time from the first start to the last finish."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no copy of the parent's threads or locks
    barrier = context.Barrier(clients)
    out = context.Queue()
    processes = [
        context.Process(target=_client_process, args=(port, body, per_client, warmup, barrier, out))
        for _ in range(clients)
    ]
    for p in processes:
        p.start()
    results = [out.get(timeout=1800) for _ in processes]
    for p in processes:
        p.join()
    errors = [e for *_, e in results if e]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    latencies = [t for r in results for t in r[2]]
    return {
        "req_per_s": len(latencies) / (end - start),
        "elapsed_s": end - start,
        "requests": len(latencies),
        "clients": clients,
        **latency_stats(latencies),
    }


def start_server(argv: Sequence[str], env: dict[str, str], cwd: str) -> subprocess.Popen:
    """A server process in a session of its own (so that it stops with all its children)."""
    return subprocess.Popen(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_until_answering(process: subprocess.Popen, port: int, body: bytes) -> float:
    """``time.perf_counter()`` when the server first answers ``body`` with 200."""
    import http.client

    deadline = time.perf_counter() + SERVER_START_LIMIT_S
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the server exited ({process.returncode}): {error[-2000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", "/invocations", body, JSON_HEADERS)
            response = connection.getresponse()
            data = response.read()
            if response.status == 200:
                return time.perf_counter()
            raise RuntimeError(f"the server answered {response.status}: {data[:300]!r}")
        except OSError:
            time.sleep(0.005)
        finally:
            connection.close()
    raise RuntimeError(f"the server did not answer within {SERVER_START_LIMIT_S} s")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server's session (the process and what it started), politely first."""
    import signal

    for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.stderr:
        process.stderr.close()


def time_to_first_answer(
    argv: Sequence[str], env: dict[str, str], cwd: str, port: int, body: bytes
) -> float:
    """Seconds from starting the server process to its first answer (then it is stopped)."""
    t0 = time.perf_counter()
    process = start_server(argv, env, cwd)
    try:
        return wait_until_answering(process, port, body) - t0
    finally:
        stop_server(process)


def process_tree_rss_mb(pid: int) -> dict[str, float]:
    """Resident memory (VmRSS) of ``pid``, of the largest process in its tree (the one that
    serves, when a command starts the server as a child) and of the whole tree, in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    sizes = {p: _rss_mb(p) for p in tree}
    sizes = {p: s for p, s in sizes.items() if s is not None}
    return {
        "process_mb": sizes.get(pid, 0.0),
        "largest_mb": max(sizes.values(), default=0.0),
        "tree_mb": sum(sizes.values()),
        "processes": len(sizes),
    }


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the serving figures both tools measure the same way ------------------------------------
def iris_model() -> tuple[Any, Any]:
    """scikit-learn's LogisticRegression fitted on iris, and the features (X)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(X, y), X


def server_stack(**extra: str) -> dict[str, str]:
    """The HTTP parser and event loop uvicorn picks in this environment (plus ``extra``)."""
    import importlib.util

    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        **extra,
    }


def measure_start(
    tool: str,
    label: str,
    argv_for_port: Callable[[int], list[str]],
    env: dict[str, str],
    workdir: str,
    starts: int,
    stack: dict[str, str],
) -> None:
    """``start_to_first_answer_s``: the median of ``starts`` starts after an untimed one."""
    body = scoring_body([IRIS_ROW])
    progress(f"start: {label}, 1 untimed start + {starts} timed")
    times = []
    for i in range(starts + 1):
        port = free_port()
        elapsed = time_to_first_answer(argv_for_port(port), env, workdir, port, body)
        progress(f"  start {i}: {elapsed:.3f} s")
        if i:
            times.append(elapsed)
    emit_serving(
        "start_to_first_answer_s",
        tool,
        statistics.median(times),
        "s",
        higher_is_better=False,
        n=starts,
        detail={"min_s": min(times), "max_s": max(times), "times_s": times, **stack},
    )


def measure_load(
    sizes: ServingSizes,
    argv_for_port: Callable[[int], list[str]],
    env: dict[str, str],
    workdir: str,
    predict: Callable[[Any], Any],
    tool: str,
    stack: dict[str, str],
) -> None:
    """The load figures (:func:`run_load`) against one server started for them."""
    port = free_port()
    process = start_server(argv_for_port(port), env, workdir)
    try:
        wait_until_answering(process, port, scoring_body([IRIS_ROW]))
        run_load(sizes, port, process.pid, predict, tool, stack)
    finally:
        stop_server(process)
