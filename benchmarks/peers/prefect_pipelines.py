"""The workloads of ``benchmarks/pipelines.py`` as Prefect 3 flows of tasks.

Runs in its own virtualenv (Prefect is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/prefect/bin/python benchmarks/peers/prefect_pipelines.py [--quick] [--only NAME]

Prints one JSON line per figure (``"tool": "prefect"``) with the same figure names as Heron's
script. Prefect runs as a user gets it with no server configured: a temporary local server
(SQLite under ``PREFECT_HOME``, here a fresh temp folder) that the client starts on first use.
Task results are persisted (``persist_result=True``, local storage in the temp folder), as
Heron persists every output; the linear, fan-out and array figures are also taken without
persistence (``"tool": "prefect-nopersist"``). The cached re-run uses
``cache_policy=INPUTS + TASK_SOURCE`` (Prefect's default policy includes the flow run id, so it
never reuses across runs). Tasks are called directly (sequentially) in the flow; the
``parallel2`` figures submit them to a ``ThreadPoolTaskRunner(max_workers=2)``. Prefect's
telemetry is off (``DO_NOT_TRACK``), which can only help it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.task_runners import ThreadPoolTaskRunner

h.BENCHMARK = "pipelines"
TOOL = "prefect"
GROUPS = ("linear", "cached", "fanout", "array", "dag")
FIGURES_OF = {
    "linear": ["linear_50_per_step_ms", "linear_50_parallel2_per_step_ms"],
    "cached": ["linear_50_cached_rerun_s"],
    "fanout": ["fanout_32_s", "fanout_32_parallel2_s"],
    "array": ["array_200mb_s"],
    "dag": [
        "dag_linear_50_per_step_ms",
        "dag_linear_200_per_step_ms",
        "dag_linear_1000_per_step_ms",
        "dag_wide_1000_per_step_ms",
    ],
}
REF = h.PIPELINE_REFERENCE


def _version() -> str:
    import prefect

    return prefect.__version__


# --- tasks and flows --------------------------------------------------------------------------
@task
def inc(x: int) -> int:
    return x + 1


@task
def source() -> int:
    return 1


@task
def work(x: int, i: int) -> int:
    return x + i


@task
def combine(xs: list[int]) -> int:
    return sum(xs)


@task
def make_array(seed: int, n: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).random(n)


@task
def total(a: Any) -> float:
    return float(a.sum())


def variants(t: Any) -> dict[str, Any]:
    """The task persisted (default policy), not persisted, and cached across runs."""
    return {
        "persist": t.with_options(persist_result=True),
        "nopersist": t.with_options(persist_result=False),
        "cached": t.with_options(persist_result=True, cache_policy=INPUTS + TASK_SOURCE),
    }


INC = variants(inc)
SOURCE, WORK, COMBINE = variants(source), variants(work), variants(combine)
MAKE, TOTAL = variants(make_array), variants(total)


@flow
def linear(n: int = 50, mode: str = "persist") -> int:
    step = INC[mode]
    handle = step(0)
    for _ in range(n - 1):
        handle = step(handle)
    return handle


@flow
def linear_submitted(n: int = 50, mode: str = "persist") -> int:
    step = INC[mode]
    future = step.submit(0)
    for _ in range(n - 1):
        future = step.submit(future)
    return future.result()


@flow
def fanout(width: int = 32, mode: str = "persist") -> int:
    s = SOURCE[mode]()
    return COMBINE[mode]([WORK[mode](s, i) for i in range(width)])


@flow
def fanout_submitted(width: int = 32, mode: str = "persist") -> int:
    s = SOURCE[mode].submit()
    futures = [WORK[mode].submit(s, i) for i in range(width)]
    return COMBINE[mode].submit(futures).result()


@flow
def array(seed: int = 0, n: int = 25_000_000, mode: str = "persist") -> float:
    return TOTAL[mode](MAKE[mode](seed, n))


@flow
def wide(chains: int = 10, length: int = 100, mode: str = "persist") -> int:
    step = INC[mode]
    last = 0
    for c in range(chains):
        last = step(c)
        for _ in range(length - 1):
            last = step(last)
    return last


def pool2(f: Any) -> Any:
    return f.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))


def timed_runs(label: str, fn: Any, repeats: int, warmup: int = 1) -> dict[str, Any]:
    for i in range(warmup):
        fn(-1 - i)
    with h.timed_section(label):
        return h.median_run_s(fn, repeats, warmup=0)


def check(got: Any, expected: Any, what: str) -> None:
    if got != expected:
        raise SystemExit(f"{what}: returned {got!r}, expected {expected!r}")


def modes_note(mode: str) -> dict[str, Any]:
    return {
        "persist_result": mode != "nopersist",
        "prefect_version": _version(),
        "server": "temporary local server (SQLite), started by the client",
    }


# --- figures --------------------------------------------------------------------------------
def bench_linear(sizes: h.PipelineSizes, workdir: str) -> None:
    n = sizes.linear_steps
    cases = [
        ("persist", 1, linear),
        ("nopersist", 1, linear),
        ("persist", 2, pool2(linear_submitted)),
    ]
    for mode, parallelism, f in cases:
        tool = TOOL if mode == "persist" else f"{TOOL}-{mode}"
        label = "" if parallelism == 1 else "_parallel2"
        h.progress(f"linear{label} ({mode}): {n} tasks, 1 warm-up + {sizes.repeats} runs")
        results: list[Any] = []
        stats = timed_runs(
            f"linear {n} {mode} p={parallelism}",
            lambda _i, f=f, mode=mode, results=results: results.append(f(n=n, mode=mode)),
            sizes.repeats,
        )
        for got in results:
            check(got, n, "linear")
        ms = stats["median_s"] / n * 1000
        h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.3f} s a run)")
        h.emit(
            f"linear_{n}{label}_per_step_ms",
            tool,
            ms,
            "ms",
            higher_is_better=False,
            n=n,
            detail={
                "run_median_s": stats["median_s"],
                "times_s": stats["times_s"],
                "parallelism": parallelism,
                "reference": REF["linear_per_step_ms"]["prefect"],
                **modes_note(mode),
            },
        )


def bench_cached(sizes: h.PipelineSizes, workdir: str) -> None:
    n = sizes.linear_steps
    h.progress(f"cached: {n} tasks with INPUTS + TASK_SOURCE: a first run, then {sizes.repeats}")
    t0 = time.perf_counter()
    check(linear(n=n, mode="cached"), n, "cached first run")
    first_s = time.perf_counter() - t0
    results: list[Any] = []
    stats = timed_runs(
        f"cached re-run of {n}",
        lambda _i: results.append(linear(n=n, mode="cached")),
        sizes.repeats,
        warmup=0,
    )
    for got in results:
        check(got, n, "cached re-run")
    h.progress(f"  {stats['median_s']:.3f} s a cached run (first run {first_s:.3f} s)")
    h.emit(
        f"linear_{n}_cached_rerun_s",
        TOOL,
        stats["median_s"],
        "s",
        higher_is_better=False,
        n=n,
        detail={
            "second_run_s": stats["times_s"][0],
            "first_run_s": first_s,
            "times_s": stats["times_s"],
            "cache_policy": "INPUTS + TASK_SOURCE",
            "reference": REF["linear_cached_rerun_s"]["prefect"],
            **modes_note("cached"),
        },
    )


def bench_fanout(sizes: h.PipelineSizes, workdir: str) -> None:
    width = sizes.fanout_width
    expected = width + width * (width - 1) // 2
    cases = [
        ("persist", 1, fanout),
        ("nopersist", 1, fanout),
        ("persist", 2, pool2(fanout_submitted)),
    ]
    for mode, parallelism, f in cases:
        tool = TOOL if mode == "persist" else f"{TOOL}-{mode}"
        label = "" if parallelism == 1 else "_parallel2"
        h.progress(f"fanout{label} ({mode}): 1 -> {width} -> 1, 1 warm-up + {sizes.repeats}")
        results: list[Any] = []
        stats = timed_runs(
            f"fanout {mode} p={parallelism}",
            lambda _i, f=f, mode=mode, results=results: results.append(f(width=width, mode=mode)),
            sizes.repeats,
        )
        for got in results:
            check(got, expected, "fanout")
        h.progress(f"  {stats['median_s']:.3f} s a run")
        h.emit(
            f"fanout_{width}{label}_s",
            tool,
            stats["median_s"],
            "s",
            higher_is_better=False,
            n=width + 2,
            detail={
                "times_s": stats["times_s"],
                "parallelism": parallelism,
                "task_runner": "ThreadPoolTaskRunner(max_workers=2), .submit"
                if parallelism == 2
                else "direct calls",
                "reference": REF["fanout_s"]["prefect"],
                **modes_note(mode),
            },
        )


def bench_array(sizes: h.PipelineSizes, workdir: str) -> None:
    import numpy as np

    n = sizes.array_elements
    mb = n * 8 / 1e6
    for mode in ("persist", "nopersist"):
        tool = TOOL if mode == "persist" else f"{TOOL}-{mode}"
        h.progress(f"array ({mode}): {mb:.0f} MB, 1 warm-up + {sizes.array_repeats}")
        results: list[Any] = []

        def one(i: int, mode: str = mode, results: list[Any] = results) -> None:
            got = array(seed=i if i >= 0 else 1000, n=n, mode=mode)
            if i >= 0:
                results.append(got)

        stats = timed_runs(f"array {mode}", one, sizes.array_repeats)
        for seed, got in enumerate(results):
            check(got, float(np.random.default_rng(seed).random(n).sum()), "array")
        h.progress(f"  {stats['median_s']:.3f} s a run")
        h.emit(
            f"array_{mb:.0f}mb_s",
            tool,
            stats["median_s"],
            "s",
            higher_is_better=False,
            n=n,
            detail={
                "times_s": stats["times_s"],
                "workload": "np.random.default_rng(seed).random(n) in task 1, .sum() in task 2",
                "reference": REF["array_200mb_s"]["prefect"],
                **modes_note(mode),
            },
        )


def bench_dag(sizes: h.PipelineSizes, workdir: str) -> None:
    # One warm-up (the smallest chain); Prefect takes tens of ms a task, so one run a size.
    linear(n=sizes.dag_sizes[0], mode="persist")
    first = None
    for n in sizes.dag_sizes:
        h.progress(f"dag: linear {n} tasks, 1 run")
        got: list[Any] = []
        stats = timed_runs(f"dag {n}", lambda _i, n=n, got=got: got.append(linear(n=n)), 1, 0)
        check(got[0], n, f"dag {n}")
        ms = stats["median_s"] / n * 1000
        first = first or ms
        h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.2f} s a run)")
        h.emit(
            f"dag_linear_{n}_per_step_ms",
            TOOL,
            ms,
            "ms",
            higher_is_better=False,
            n=n,
            detail={
                "run_s": stats["median_s"],
                "growth_vs_smallest": ms / first,
                **modes_note("persist"),
            },
        )
    largest = sizes.dag_sizes[-1]
    chains, length = sizes.wide_chains, largest // sizes.wide_chains
    h.progress(f"dag: wide {chains} x {length} tasks, 1 run")
    got = []
    stats = timed_runs("dag wide", lambda _i: got.append(wide(chains=chains, length=length)), 1, 0)
    check(got[0], chains - 1 + length, "dag wide")
    ms = stats["median_s"] / (chains * length) * 1000
    h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.2f} s a run)")
    h.emit(
        f"dag_wide_{chains * length}_per_step_ms",
        TOOL,
        ms,
        "ms",
        higher_is_better=False,
        n=chains * length,
        detail={
            "shape": f"{chains} chains of {length}",
            "run_s": stats["median_s"],
            **modes_note("persist"),
        },
    )


BENCHES = {
    "linear": bench_linear,
    "cached": bench_cached,
    "fanout": bench_fanout,
    "array": bench_array,
    "dag": bench_dag,
}


def main() -> int:
    args = h.parse_args(GROUPS, "Prefect's side of the pipeline benchmarks.")
    sizes = h.pipeline_sizes(args.quick)
    if args.worker:
        h.PROFILE = args.profile
        BENCHES[args.worker](sizes, args.workdir)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(
            PREFECT_HOME=os.path.join(workdir, "prefect"),
            PREFECT_LOCAL_STORAGE_PATH=os.path.join(workdir, "results"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
        )

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
