"""The workloads of ``benchmarks/pipelines.py`` as Dagster jobs of ops.

Runs in its own virtualenv (Dagster is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/dagster/bin/python benchmarks/peers/dagster_pipelines.py [--quick] [--only NAME]

Prints one JSON line per figure with the same figure names as Heron's script. As in issue 3,
jobs run with ``execute_in_process()`` on an ephemeral instance (run and event storage in
memory) and the in-memory IO manager (``"tool": "dagster"``: nothing persisted), and again with
the filesystem IO manager writing every output (pickled) to the temp workspace
(``"tool": "dagster-files"``). The jobs are built (compiled) inside each timed run for the DAG
figures. Dagster has no cross-run caching of ops, so there is no cached re-run figure.
``fanout_32_parallel2_s`` uses Dagster's multiprocess executor (``max_concurrent: 2``), which
needs a persistent instance (``DagsterInstance.local_temp``) and a reconstructable job: each
op runs in a new process, so it is timed once, with no warm-up (a warm-up would not help).

Ops cannot take plain values as arguments, so the first op of a chain is ``start()`` returning
1 where Heron's is ``inc(0)``, and the fan-out's 32 ops are made by a factory (``work_<i>``)
with the index baked in where Heron passes it as a parameter.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h
from dagster import (
    DagsterInstance,
    execute_job,
    fs_io_manager,
    job,
    mem_io_manager,
    op,
    reconstructable,
)

h.BENCHMARK = "pipelines"
TOOL = "dagster"
GROUPS = ("linear", "fanout", "array", "dag")
FIGURES_OF = {
    "linear": ["linear_50_per_step_ms"],
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
WIDTH_ENV = "BENCH_FANOUT_WIDTH"  # the fan-out width, for the module-level (reconstructable) job


def _version() -> str:
    import dagster

    return dagster.__version__


# --- ops and jobs -----------------------------------------------------------------------------
@op
def start() -> int:
    return 1


@op
def inc(x: int) -> int:
    return x + 1


@op
def source() -> int:
    return 1


@op
def combine(xs: list[int]) -> int:
    return sum(xs)


def work_op(i: int) -> Any:
    @op(name=f"work_{i}")
    def work(x: int) -> int:
        return x + i

    return work


@op(config_schema={"seed": int, "n": int})
def make_array(context) -> Any:  # unannotated: Dagster rejects a string annotation
    import numpy as np

    seed, n = context.op_config["seed"], context.op_config["n"]
    return np.random.default_rng(seed).random(n)


@op
def total(a: Any) -> float:
    return float(a.sum())


def io_managers(files: str | None) -> dict[str, Any]:
    if files is None:
        return {"io_manager": mem_io_manager}
    return {"io_manager": fs_io_manager.configured({"base_dir": files})}


def linear_job(n: int, files: str | None = None) -> Any:
    @job(name=f"linear_{n}", resource_defs=io_managers(files))
    def linear() -> None:
        handle = start()
        for _ in range(n - 1):
            handle = inc(handle)

    return linear


def wide_job(chains: int, length: int, files: str | None = None) -> Any:
    @job(name=f"wide_{chains}x{length}", resource_defs=io_managers(files))
    def wide() -> None:
        for _ in range(chains):
            handle = start()
            for _ in range(length - 1):
                handle = inc(handle)

    return wide


def fanout_job(width: int, files: str | None = None) -> Any:
    works = [work_op(i) for i in range(width)]

    @job(name=f"fanout_{width}", resource_defs=io_managers(files))
    def fanout() -> None:
        s = source()
        combine([w(s) for w in works])

    return fanout


def array_job(files: str | None = None) -> Any:
    @job(name="array", resource_defs=io_managers(files))
    def array() -> None:
        total(make_array())

    return array


def fanout_for_multiprocess() -> Any:
    """The fan-out job, reconstructable in the multiprocess executor's step processes."""
    files = os.path.join(os.environ.get("DAGSTER_HOME") or tempfile.gettempdir(), "io-mp")
    return fanout_job(int(os.environ.get(WIDTH_ENV, "32")), files)


def last_of(name: str, count: int) -> str:
    return name if count == 1 else f"{name}_{count}"


def timed_runs(label: str, fn: Any, repeats: int, warmup: int = 1) -> dict[str, Any]:
    for i in range(warmup):
        fn(-1 - i)
    with h.timed_section(label):
        return h.median_run_s(fn, repeats, warmup=0)


def check(result: Any, node: str, expected: Any, what: str) -> None:
    if not result.success:
        raise SystemExit(f"{what}: the run failed")
    got = result.output_for_node(node)
    if got != expected:
        raise SystemExit(f"{what}: {node} returned {got!r}, expected {expected!r}")


def modes(workdir: str) -> list[tuple[str, str | None]]:
    return [(TOOL, None), (f"{TOOL}-files", os.path.join(workdir, "io"))]


def note(files: str | None) -> dict[str, Any]:
    return {
        "io_manager": "fs_io_manager (pickle files)" if files else "mem_io_manager",
        "instance": "ephemeral (execute_in_process)",
        "dagster_version": _version(),
    }


# --- figures --------------------------------------------------------------------------------
def bench_linear(sizes: h.PipelineSizes, workdir: str) -> None:
    n = sizes.linear_steps
    for tool, files in modes(workdir):
        the_job = linear_job(n, files)
        results: list[Any] = []
        h.progress(f"linear ({tool}): {n} ops, 1 warm-up + {sizes.repeats}")
        stats = timed_runs(
            f"linear {tool}",
            lambda _i, j=the_job, results=results: results.append(j.execute_in_process()),
            sizes.repeats,
        )
        for r in results:
            check(r, last_of("inc", n - 1), n, "linear")
        ms = stats["median_s"] / n * 1000
        h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.3f} s a run)")
        h.emit(
            f"linear_{n}_per_step_ms",
            tool,
            ms,
            "ms",
            higher_is_better=False,
            n=n,
            detail={
                "run_median_s": stats["median_s"],
                "times_s": stats["times_s"],
                "job_built": "once, before the runs",
                "reference": REF["linear_per_step_ms"]["dagster"],
                **note(files),
            },
        )


def bench_fanout(sizes: h.PipelineSizes, workdir: str) -> None:
    width = sizes.fanout_width
    expected = width + width * (width - 1) // 2
    for tool, files in modes(workdir):
        the_job = fanout_job(width, files)
        results: list[Any] = []
        h.progress(f"fanout ({tool}): 1 -> {width} -> 1, 1 warm-up + {sizes.repeats}")
        stats = timed_runs(
            f"fanout {tool}",
            lambda _i, j=the_job, results=results: results.append(j.execute_in_process()),
            sizes.repeats,
        )
        for r in results:
            check(r, "combine", expected, "fanout")
        h.progress(f"  {stats['median_s']:.3f} s a run")
        h.emit(
            f"fanout_{width}_s",
            tool,
            stats["median_s"],
            "s",
            higher_is_better=False,
            n=width + 2,
            detail={
                "times_s": stats["times_s"],
                "reference": REF["fanout_s"]["dagster"],
                **note(files),
            },
        )

    h.progress("fanout_parallel2: multiprocess executor, max_concurrent 2, 1 run (slow)")
    config = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
    with DagsterInstance.local_temp(tempfile.mkdtemp(dir=workdir)) as instance:
        t0 = time.perf_counter()
        with execute_job(
            reconstructable(fanout_for_multiprocess), instance=instance, run_config=config
        ) as result:
            seconds = time.perf_counter() - t0
            check(result, "combine", expected, "fanout multiprocess")
    h.progress(f"  {seconds:.3f} s a run")
    h.emit(
        f"fanout_{width}_parallel2_s",
        TOOL,
        seconds,
        "s",
        higher_is_better=False,
        n=width + 2,
        detail={
            "executor": "multiprocess, max_concurrent 2 (a new process per op)",
            "instance": "DagsterInstance.local_temp (persistent, SQLite)",
            "io_manager": "fs_io_manager (the default for a persistent instance)",
            "repeats": 1,
            "dagster_version": _version(),
        },
    )


def bench_array(sizes: h.PipelineSizes, workdir: str) -> None:
    import numpy as np

    n = sizes.array_elements
    mb = n * 8 / 1e6
    for tool, files in modes(workdir):
        the_job = array_job(files)
        results: list[Any] = []
        h.progress(f"array ({tool}): {mb:.0f} MB, 1 warm-up + {sizes.array_repeats}")

        def one(i: int, j: Any = the_job, results: list[Any] = results) -> None:
            config = {"ops": {"make_array": {"config": {"seed": i if i >= 0 else 1000, "n": n}}}}
            result = j.execute_in_process(run_config=config)
            if i >= 0:
                results.append(result)

        stats = timed_runs(f"array {tool}", one, sizes.array_repeats)
        for seed, r in enumerate(results):
            check(r, "total", float(np.random.default_rng(seed).random(n).sum()), "array")
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
                "workload": "np.random.default_rng(seed).random(n) in op 1, .sum() in op 2",
                "reference": REF["array_200mb_s"]["dagster-files" if files else "dagster"],
                **note(files),
            },
        )


def bench_dag(sizes: h.PipelineSizes, workdir: str) -> None:
    linear_job(sizes.dag_sizes[0]).execute_in_process()  # warm-up
    first = None
    for n in sizes.dag_sizes:
        h.progress(f"dag: linear {n} ops, compile + run, {sizes.dag_repeats} runs")
        results: list[Any] = []
        stats = timed_runs(
            f"dag {n}",
            lambda _i, n=n, results=results: results.append(linear_job(n).execute_in_process()),
            sizes.dag_repeats,
            warmup=0,
        )
        check(results[0], last_of("inc", n - 1), n, f"dag {n}")
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
                "run_median_s": stats["median_s"],
                "times_s": stats["times_s"],
                "growth_vs_smallest": ms / first,
                **note(None),
            },
        )
    largest = sizes.dag_sizes[-1]
    chains, length = sizes.wide_chains, largest // sizes.wide_chains
    h.progress(f"dag: wide {chains} x {length} ops, {sizes.dag_repeats} runs")
    results = []
    stats = timed_runs(
        "dag wide",
        lambda _i: results.append(wide_job(chains, length).execute_in_process()),
        sizes.dag_repeats,
        warmup=0,
    )
    check(results[0], last_of("inc", chains * (length - 1)), length, "dag wide")
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
            "run_median_s": stats["median_s"],
            "times_s": stats["times_s"],
            **note(None),
        },
    )
    stats = timed_runs(f"compile {largest}", lambda _i: linear_job(largest), 5)
    h.progress(f"  compile {largest} ops: {stats['median_s'] * 1000:.1f} ms")
    h.emit(
        f"dag_trace_{largest}_ms",
        TOOL,
        stats["median_s"] * 1000,
        "ms",
        higher_is_better=False,
        n=largest,
        detail={"what": "@job definition of the chain (graph built and validated)"},
    )


BENCHES = {
    "linear": bench_linear,
    "fanout": bench_fanout,
    "array": bench_array,
    "dag": bench_dag,
}


def main() -> int:
    args = h.parse_args(GROUPS, "Dagster's side of the pipeline benchmarks.")
    sizes = h.pipeline_sizes(args.quick)
    if args.worker:
        h.PROFILE = args.profile
        BENCHES[args.worker](sizes, args.workdir)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        # Dagster's usage telemetry off (it can only help it).
        Path(workdir, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return h.clean_env(DAGSTER_HOME=workdir, **{WIDTH_ENV: str(sizes.fanout_width)})

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
