"""Heron's pipeline figures (issue 3, DESIGN §8) with the local orchestrator and SQLite store.

    python benchmarks/pipelines.py            # every figure, full size (a few minutes)
    python benchmarks/pipelines.py --quick    # small sizes, a smoke test
    python benchmarks/pipelines.py --only fanout --only array
    python benchmarks/pipelines.py --profile --only linear   # cProfile of the timed runs

Prints one JSON line per figure on stdout; progress goes to stderr. Each group of figures runs
in a fresh process with its own temporary workspace (``HERON_HOME`` and a SQLite tracking URI
in a new temp folder, artifacts beside it). Everything is persisted as in normal use: every
step run is recorded and every output is stored (content-hashed) as an artifact version.

"Warm" means after one warm-up run of the same pipeline in the same process (imports done,
store created); the uncached figures run with ``cache=False`` and report the median of a few
repetitions. The steps are defined at module level so that ``parallelism=2`` (worker
processes) can run them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import _harness as h

from heron import pipeline, step

h.BENCHMARK = "pipelines"
TOOL = "heron"
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
        "dag_trace_1000_ms",
    ],
}
REF = h.PIPELINE_REFERENCE
TARGET = h.PIPELINE_TARGETS


# --- the steps and pipelines (module level: worker processes import them by reference) -----
@step
def inc(x: int) -> int:
    return x + 1


@step
def source() -> int:
    return 1


@step
def work(x: int, i: int) -> int:
    return x + i


@step
def combine(xs: list[int]) -> int:
    return sum(xs)


@step
def make_array(seed: int, n: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).random(n)


@step
def total(a: Any) -> float:
    return float(a.sum())


@pipeline
def linear(n: int = 50):
    handle = inc(0)
    for _ in range(n - 1):
        handle = inc(handle)


@pipeline
def fanout(width: int = 32):
    s = source()
    combine([work(s, i) for i in range(width)])


@pipeline
def array(seed: int = 0, n: int = 25_000_000):
    total(make_array(seed, n))


@pipeline
def wide(chains: int = 10, length: int = 100):
    for c in range(chains):
        handle = inc(c)
        for _ in range(length - 1):
            handle = inc(handle)


# --- checks ---------------------------------------------------------------------------------
def check_run(run: Any, steps: int, cached: bool, last: str | None = None, value: Any = None):
    """The run completed with ``steps`` step runs, all (or none) cached, and ``last``'s stored
    output loads back as ``value``."""
    if run.status != "completed":
        raise SystemExit(f"{run.name}: run ended {run.status}: {run.error}")
    if len(run.steps) != steps:
        raise SystemExit(f"{run.name}: {len(run.steps)} step runs, expected {steps}")
    states = {s.cached for s in run.steps.values()}
    if states != {cached}:
        raise SystemExit(f"{run.name}: cached states {states}, expected all {cached}")
    if last is not None:
        got = run.steps[last].outputs["output"].load()
        if got != value:
            raise SystemExit(f"{run.name}: {last} stored {got!r}, expected {value!r}")


def last_of(name: str, count: int) -> str:
    return name if count == 1 else f"{name}_{count}"


def timed_runs(label: str, fn: Any, repeats: int, warmup: int = 1) -> dict[str, Any]:
    """``fn(i)`` ``warmup`` times, then ``repeats`` timed calls (profiled under --profile)."""
    for i in range(warmup):
        fn(-1 - i)
    with h.timed_section(label):
        return h.median_run_s(fn, repeats, warmup=0)


# --- figures --------------------------------------------------------------------------------
def bench_linear(sizes: h.PipelineSizes, workdir: str) -> None:
    n = sizes.linear_steps
    for parallelism in (1, 2):
        run_linear = linear.with_options(cache=False, parallelism=parallelism)
        runs: list[Any] = []
        label = "" if parallelism == 1 else "_parallel2"
        h.progress(f"linear{label}: {n} steps, cache=False, 1 warm-up + {sizes.repeats} runs")
        stats = timed_runs(
            f"linear {n} steps, parallelism={parallelism}",
            lambda _i, runs=runs, run=run_linear: runs.append(run(n=n)),
            sizes.repeats,
        )
        for run in runs:
            check_run(run, n, cached=False, last=last_of("inc", n), value=n)
        per_step_ms = stats["median_s"] / n * 1000
        h.progress(f"  {per_step_ms:.2f} ms per step ({stats['median_s']:.3f} s a run)")
        h.emit(
            f"linear_{n}{label}_per_step_ms",
            TOOL,
            per_step_ms,
            "ms",
            higher_is_better=False,
            target=TARGET["linear_per_step_ms"] if parallelism == 1 else None,
            peer=REF["linear_per_step_ms"] if parallelism == 1 else None,
            n=n,
            detail={
                "run_median_s": stats["median_s"],
                "run_min_s": stats["min_s"],
                "times_s": stats["times_s"],
                "parallelism": parallelism,
                "cache": False,
                "persisted": "every step run and output (JSON artifact)",
                **(
                    {"peer_note": h.PIPELINE_REFERENCE_NOTES["linear_per_step_ms"]}
                    if not label
                    else {}
                ),
            },
        )


def bench_cached(sizes: h.PipelineSizes, workdir: str) -> None:
    n = sizes.linear_steps
    h.progress(f"cached: {n} steps, cache on: a first run, then {sizes.repeats} re-runs")
    t0 = time.perf_counter()
    first = linear(n=n)
    first_s = time.perf_counter() - t0
    check_run(first, n, cached=False, last=last_of("inc", n), value=n)
    runs: list[Any] = []
    stats = timed_runs(
        f"cached re-run of {n} steps", lambda _i: runs.append(linear(n=n)), sizes.repeats, 0
    )
    for run in runs:
        check_run(run, n, cached=True, last=last_of("inc", n), value=n)
    h.progress(f"  {stats['median_s']:.3f} s a fully cached run (first run {first_s:.3f} s)")
    h.emit(
        f"linear_{n}_cached_rerun_s",
        TOOL,
        stats["median_s"],
        "s",
        higher_is_better=False,
        target=TARGET["linear_cached_rerun_s"],
        peer=REF["linear_cached_rerun_s"],
        n=n,
        detail={
            "second_run_s": stats["times_s"][0],
            "first_run_s": first_s,
            "min_s": stats["min_s"],
            "times_s": stats["times_s"],
            "per_step_ms": stats["median_s"] / n * 1000,
            "note": "the first run (cold: imports, store) is not timed; every re-run is fully "
            "cached, recorded as step runs linked to the earlier outputs",
        },
    )


def bench_fanout(sizes: h.PipelineSizes, workdir: str) -> None:
    width = sizes.fanout_width
    expected = width * 1 + width * (width - 1) // 2
    for parallelism in (1, 2):
        run_fanout = fanout.with_options(cache=False, parallelism=parallelism)
        runs: list[Any] = []
        label = "" if parallelism == 1 else "_parallel2"
        h.progress(f"fanout{label}: 1 -> {width} -> 1, 1 warm-up + {sizes.repeats} runs")
        stats = timed_runs(
            f"fanout {width}, parallelism={parallelism}",
            lambda _i, runs=runs, run=run_fanout: runs.append(run(width=width)),
            sizes.repeats,
        )
        for run in runs:
            check_run(run, width + 2, cached=False, last="combine", value=expected)
        h.progress(f"  {stats['median_s']:.3f} s a run")
        h.emit(
            f"fanout_{width}{label}_s",
            TOOL,
            stats["median_s"],
            "s",
            higher_is_better=False,
            target=TARGET["fanout_s"],
            peer=REF["fanout_s"],
            n=width + 2,
            detail={
                "min_s": stats["min_s"],
                "times_s": stats["times_s"],
                "per_step_ms": stats["median_s"] / (width + 2) * 1000,
                "parallelism": parallelism,
                "cache": False,
            },
        )


def bench_array(sizes: h.PipelineSizes, workdir: str) -> None:
    import numpy as np

    n = sizes.array_elements
    mb = n * 8 / 1e6
    run_array = array.with_options(cache=False)
    runs: list[Any] = []
    h.progress(f"array: {mb:.0f} MB float64 made, then summed; 1 warm-up + {sizes.array_repeats}")

    # A new seed every run: new bytes, so the content-addressed store really writes them
    # (the warm-up gets seed 1000).
    def one(i: int) -> None:
        run = run_array(seed=i if i >= 0 else 1000, n=n)
        if i >= 0:
            runs.append(run)

    stats = timed_runs(f"array {mb:.0f} MB", one, sizes.array_repeats)
    for seed, run in enumerate(runs):
        expected = float(np.random.default_rng(seed).random(n).sum())
        check_run(run, 2, cached=False, last="total", value=expected)
    made = runs[-1].steps["make_array"].outputs["output"]
    stored = made.load()
    if stored.shape != (n,) or stored.dtype != np.float64:
        raise SystemExit(f"array: stored {stored.shape} {stored.dtype}")

    # The work itself, outside any pipeline: what a plain script would spend.
    def compute(i: int) -> None:
        float(np.random.default_rng(i).random(n).sum())

    plain = h.median_run_s(compute, sizes.array_repeats)
    h.progress(f"  {stats['median_s']:.3f} s a run ({plain['median_s']:.3f} s plain numpy)")
    h.emit(
        f"array_{mb:.0f}mb_s",
        TOOL,
        stats["median_s"],
        "s",
        higher_is_better=False,
        target=TARGET["array_200mb_s"] if n >= 25_000_000 else None,
        peer=REF["array_200mb_s"],
        n=n,
        detail={
            "min_s": stats["min_s"],
            "times_s": stats["times_s"],
            "plain_numpy_s": plain["median_s"],
            "overhead_s": stats["median_s"] - plain["median_s"],
            "workload": "np.random.default_rng(seed).random(n) in step 1, .sum() in step 2",
            "artifact": f"{made.materializer} {made.size} bytes sha256 {made.content_hash[:12]}",
            "cache": False,
            "peer_note": h.PIPELINE_REFERENCE_NOTES["array_200mb_s"],
        },
    )


def bench_dag(sizes: h.PipelineSizes, workdir: str) -> None:
    per_step: dict[str, float] = {}
    run_linear = linear.with_options(cache=False)
    for n in sizes.dag_sizes:
        runs: list[Any] = []
        h.progress(f"dag: linear {n} steps, compile + run, 1 warm-up + {sizes.dag_repeats}")
        stats = timed_runs(
            f"dag linear {n}",
            lambda _i, n=n, runs=runs: runs.append(run_linear(n=n)),
            sizes.dag_repeats,
        )
        for run in runs:
            check_run(run, n, cached=False, last=last_of("inc", n), value=n)
        per_step[f"linear_{n}"] = ms = stats["median_s"] / n * 1000
        h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.2f} s a run)")
        h.emit(
            f"dag_linear_{n}_per_step_ms",
            TOOL,
            ms,
            "ms",
            higher_is_better=False,
            target=TARGET["dag_per_step_ms"],
            n=n,
            detail={
                "run_median_s": stats["median_s"],
                "times_s": stats["times_s"],
                "growth_vs_smallest": ms / per_step[f"linear_{sizes.dag_sizes[0]}"],
                "cache": False,
            },
        )

    largest = sizes.dag_sizes[-1]
    chains, length = sizes.wide_chains, largest // sizes.wide_chains
    run_wide = wide.with_options(cache=False)
    runs = []
    h.progress(f"dag: wide {chains} x {length} steps, 1 warm-up + {sizes.dag_repeats}")
    stats = timed_runs(
        f"dag wide {chains}x{length}",
        lambda _i: runs.append(run_wide(chains=chains, length=length)),
        sizes.dag_repeats,
    )
    last = last_of("inc", chains * length)
    for run in runs:
        check_run(run, chains * length, cached=False, last=last, value=chains - 1 + length)
    ms = stats["median_s"] / (chains * length) * 1000
    h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.2f} s a run)")
    h.emit(
        f"dag_wide_{chains * length}_per_step_ms",
        TOOL,
        ms,
        "ms",
        higher_is_better=False,
        target=TARGET["dag_per_step_ms"],
        n=chains * length,
        detail={
            "shape": f"{chains} independent chains of {length}",
            "run_median_s": stats["median_s"],
            "times_s": stats["times_s"],
            "parallelism": 1,
            "cache": False,
        },
    )

    # The trace/compile alone: the pipeline function run with recording steps, the order
    # checked and the DAG's version hash (what happens before the first step starts).
    timings: dict[str, list[float]] = {"build": [], "order": [], "version_hash": []}

    def compile_once(i: int) -> None:
        t0 = time.perf_counter()
        trace = linear.build(n=largest)
        t1 = time.perf_counter()
        trace.order()
        t2 = time.perf_counter()
        trace.version_hash()
        t3 = time.perf_counter()
        if i < 0:
            return
        for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2)):
            timings[key].append(value * 1000)

    stats = timed_runs(f"compile {largest} steps", compile_once, max(5, sizes.dag_repeats))
    h.progress(f"  compile {largest} steps: {stats['median_s'] * 1000:.1f} ms")
    h.emit(
        f"dag_trace_{largest}_ms",
        TOOL,
        stats["median_s"] * 1000,
        "ms",
        higher_is_better=False,
        n=largest,
        detail={
            "build_trace_ms": sorted(timings["build"])[len(timings["build"]) // 2],
            "order_ms": sorted(timings["order"])[len(timings["order"]) // 2],
            "version_hash_ms": sorted(timings["version_hash"])[len(timings["version_hash"]) // 2],
            "per_step_us": stats["median_s"] / largest * 1e6,
        },
    )


BENCHES = {
    "linear": bench_linear,
    "cached": bench_cached,
    "fanout": bench_fanout,
    "array": bench_array,
    "dag": bench_dag,
}


def worker(args: Any, sizes: h.PipelineSizes) -> None:
    import heron

    heron.set_tracking_uri("sqlite:///" + os.path.join(args.workdir, "heron.db"))
    h.PROFILE = args.profile
    BENCHES[args.worker](sizes, args.workdir)


def main() -> int:
    args = h.parse_args(GROUPS, "Heron's pipeline benchmarks (issue 3, DESIGN §8).")
    sizes = h.pipeline_sizes(args.quick)
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
