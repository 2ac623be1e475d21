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
