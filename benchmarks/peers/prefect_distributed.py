"""The workloads of ``benchmarks/distributed.py`` as Prefect 3 flows on Dask and on Ray.

Runs in its own virtualenv (Prefect is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    benchmarks/run_peers.sh --distributed [--quick] [--only dask|ray|NAME]
    .venv-peers/prefect-distributed/bin/python benchmarks/peers/prefect_distributed.py

Prints one JSON line per figure (``"tool": "prefect"``) with the same figure names as Heron's
script. The engines are started as Heron's side starts them, once per group and before
anything is timed: a ``distributed.LocalCluster`` (2 worker processes, 1 thread each) that
every flow run reaches with ``DaskTaskRunner(address=cluster.scheduler_address)``, and
``ray.init(num_cpus=2)`` in this process, which ``RayTaskRunner()`` reuses (and so does not
shut down after each flow run). Every task is ``.submit()``-ted, so the task runner runs it on
the engine's workers. Prefect runs as a user gets it with no server configured: a temporary
local server (SQLite under ``PREFECT_HOME``, a fresh temp folder) that the client starts on
first use (the warm-up run). Task results are persisted (``persist_result=True``, local storage
in the temp folder), as Heron stores every output; every figure is also taken without
persistence (``"tool": "prefect-nopersist"``) but the fan-out. Telemetry is off
(``DO_NOT_TRACK``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# benchmarks/ holds distributed.py (Heron's side), which would shadow Dask's ``distributed``
# package if that folder were on sys.path (here and in the workers, which inherit it): load
# the shared harness from its file instead of putting its folder on the path.
BENCHMARKS = Path(__file__).resolve().parent.parent


def _load_harness() -> Any:
    spec = importlib.util.spec_from_file_location("_harness", BENCHMARKS / "_harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_harness"] = module
    spec.loader.exec_module(module)
    return module


h = _load_harness()

from prefect import flow, task  # noqa: E402

h.BENCHMARK = "distributed"
TOOL = "prefect"
GROUPS = ("dask", "ray")
FIGURES_OF = {
    "dask": ["dask_cluster_start_s", "dask_linear_50_per_step_ms", "dask_fanout_32_s"],
    "ray": ["ray_init_s", "ray_linear_50_per_step_ms", "ray_fanout_32_s", "ray_array_200mb_s"],
}
MODES = ("persist", "nopersist")
# The fan-out without persistence is left out: it takes as long (within a second) and the most
# time of the script on Ray.
FANOUT_MODES = ("persist",)


# --- workloads, the same as in benchmarks/distributed.py (keep the two in step) --------------
@dataclass
class DistributedSizes:
    linear_steps: int = 50  # a chain of trivial tasks (x + 1)
    fanout_width: int = 32  # 1 -> width -> 1
    fanout_sleep_s: float = 0.05  # each of the width tasks sleeps this long
    array_elements: int = 25_000_000  # float64: 200 MB
    repeats: int = 5  # timed runs after one warm-up run
    array_repeats: int = 3
    workers: int = 2  # Dask worker processes (1 thread each); Ray's num_cpus


QUICK = DistributedSizes(
    linear_steps=10, fanout_width=8, array_elements=1_000_000, repeats=2, array_repeats=1
)


def dask_cluster(workers: int) -> Any:
    """The LocalCluster both tools run on: ``workers`` processes of 1 thread, on 127.0.0.1."""
    import distributed

    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )


def ray_init(workers: int) -> Any:
    """The local Ray both tools run on: ``num_cpus=workers``, no dashboard, on 127.0.0.1."""
    import ray

    return ray.init(
        address="local",  # a new local Ray, even where another one runs on the machine
        num_cpus=workers,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address="127.0.0.1",
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {f"{p}_version": version(p) for p in ("prefect", "prefect-dask", "prefect-ray")}


# --- tasks and flows --------------------------------------------------------------------------
@task
def inc(x: int) -> int:
    return x + 1


@task
def source() -> int:
    return 1


@task
def work(x: int, i: int, sleep_s: float) -> int:
    time.sleep(sleep_s)
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


@task
def where(i: int) -> int:
    return os.getpid()


def variants(t: Any) -> dict[str, Any]:
    """The task with its result persisted, and not."""
    return {
        "persist": t.with_options(persist_result=True),
        "nopersist": t.with_options(persist_result=False),
    }


INC, SOURCE, WORK, COMBINE = variants(inc), variants(source), variants(work), variants(combine)
MAKE, TOTAL, WHERE = variants(make_array), variants(total), variants(where)


@flow
def linear(n: int = 50, mode: str = "persist") -> int:
    step = INC[mode]
    future = step.submit(0)
    for _ in range(n - 1):
        future = step.submit(future)
    return future.result()


@flow
def fanout(width: int = 32, sleep_s: float = 0.05, mode: str = "persist") -> int:
    s = SOURCE[mode].submit()
    futures = [WORK[mode].submit(s, i, sleep_s) for i in range(width)]
    return COMBINE[mode].submit(futures).result()


@flow
def array(seed: int = 0, n: int = 25_000_000, mode: str = "persist") -> float:
    return TOTAL[mode].submit(MAKE[mode].submit(seed, n)).result()


@flow
def empty() -> int:
    return 0


@flow
def spread(width: int = 4) -> list[int]:
    return [f.result() for f in [WHERE["persist"].submit(i) for i in range(width)]]


def timed_runs(label: str, fn: Any, repeats: int, warmup: int = 1) -> dict[str, Any]:
    for i in range(warmup):
        fn(-1 - i)
    with h.timed_section(label):
        return h.median_run_s(fn, repeats, warmup=0)


def check(got: Any, expected: Any, what: str) -> None:
    if got != expected:
        raise SystemExit(f"{what}: returned {got!r}, expected {expected!r}")


def where_tasks_ran(runner: Any) -> dict[str, Any]:
    """Run 4 tasks that return their process id: they must run in the engine's workers."""
    pids = set(spread.with_options(task_runner=runner)(width=4))
    if os.getpid() in pids:
        raise SystemExit(f"a task ran in the benchmark's own process ({os.getpid()}): {pids}")
    return {"step_pids": len(pids)}


HEARTBEAT_NOTE = (
    "a sync flow run ends by joining its heartbeat thread, which sleeps 1 s at a time: every "
    "flow run's wall time is rounded up to a whole second (an empty flow: empty_flow_run_s)"
)


RAY_FANOUT_NOTE = (
    "prefect-ray's task resolves its upstream results with ray.get inside the task: Ray counts "
    "the worker blocked and starts further worker processes (each importing Prefect) on the "
    "2 CPUs"
)

# What every line of the group carries besides (the empty flow's time on the group's runner).
ENGINE_NOTES: dict[str, Any] = {}


def note(mode: str, runner: str) -> dict[str, Any]:
    return {
        "persist_result": mode == "persist",
        "task_runner": runner,
        "tasks": ".submit() to the task runner",
        "server": "temporary local server (SQLite), started by the client",
        "heartbeat": HEARTBEAT_NOTE,
        **ENGINE_NOTES,
        **_versions(),
    }


def empty_flow_s(runner: Any) -> float:
    """The median of 3 runs of a flow without tasks, on ``runner``."""
    f = empty.with_options(task_runner=runner)
    return h.median_run_s(lambda _i: f(), 3, warmup=0)["median_s"]


def tool_of(mode: str) -> str:
    return TOOL if mode == "persist" else f"{TOOL}-{mode}"


# --- the shared figures, on either engine ---------------------------------------------------
def bench_linear(engine: str, sizes: DistributedSizes, runner: Any, described: str) -> None:
    n = sizes.linear_steps
    f = linear.with_options(task_runner=runner)
    for mode in MODES:
        h.progress(f"{engine} linear ({mode}): {n} tasks, 1 warm-up + {sizes.repeats} runs")
        results: list[Any] = []
        stats = timed_runs(
            f"{engine} linear {n} {mode}",
            lambda _i, mode=mode, results=results: results.append(f(n=n, mode=mode)),
            sizes.repeats,
        )
        for got in results:
            check(got, n, "linear")
        ms = stats["median_s"] / n * 1000
        h.progress(f"  {ms:.2f} ms per step ({stats['median_s']:.3f} s a run)")
        h.emit(
            f"{engine}_linear_{n}_per_step_ms",
            tool_of(mode),
            ms,
            "ms",
            higher_is_better=False,
            n=n,
            detail={
                "run_median_s": stats["median_s"],
                "run_min_s": stats["min_s"],
                "times_s": stats["times_s"],
                "engine_start": "not included (started once, before the warm-up)",
                **note(mode, described),
            },
        )


def bench_fanout(engine: str, sizes: DistributedSizes, runner: Any, described: str) -> None:
    width, sleep_s = sizes.fanout_width, sizes.fanout_sleep_s
    expected = width + width * (width - 1) // 2
    f = fanout.with_options(task_runner=runner)
    ideal_s = width * sleep_s / sizes.workers
    for mode in FANOUT_MODES:
        h.progress(
            f"{engine} fanout ({mode}): 1 -> {width} x sleep({sleep_s}) -> 1, "
            f"1 warm-up + {sizes.repeats}"
        )
        results: list[Any] = []
        stats = timed_runs(
            f"{engine} fanout {mode}",
            lambda _i, mode=mode, results=results: results.append(
                f(width=width, sleep_s=sleep_s, mode=mode)
            ),
            sizes.repeats,
        )
        for got in results:
            check(got, expected, "fanout")
        h.progress(f"  {stats['median_s']:.3f} s a run (the sleeps alone: {ideal_s:.2f} s)")
        h.emit(
            f"{engine}_fanout_{width}_s",
            tool_of(mode),
            stats["median_s"],
            "s",
            higher_is_better=False,
            n=width + 2,
            detail={
                "min_s": stats["min_s"],
                "times_s": stats["times_s"],
                "step_work": f"time.sleep({sleep_s})",
                "sleeps_on_workers_s": ideal_s,
                "overhead_s": stats["median_s"] - ideal_s,
                "workers": sizes.workers,
                **({"ray_workers": RAY_FANOUT_NOTE} if engine == "ray" else {}),
                **note(mode, described),
            },
        )


def bench_array(sizes: DistributedSizes, runner: Any, described: str) -> None:
    import numpy as np

    n = sizes.array_elements
    mb = n * 8 / 1e6
    f = array.with_options(task_runner=runner)
    for mode in MODES:
        h.progress(f"ray array ({mode}): {mb:.0f} MB, 1 warm-up + {sizes.array_repeats}")
        results: list[Any] = []

        def one(i: int, mode: str = mode, results: list[Any] = results) -> None:
            got = f(seed=i if i >= 0 else 1000, n=n, mode=mode)
            if i >= 0:
                results.append(got)

        stats = timed_runs(f"ray array {mode}", one, sizes.array_repeats)
        for seed, got in enumerate(results):
            check(got, float(np.random.default_rng(seed).random(n).sum()), "array")
        h.progress(f"  {stats['median_s']:.3f} s a run")
        h.emit(
            f"ray_array_{mb:.0f}mb_s",
            tool_of(mode),
            stats["median_s"],
            "s",
            higher_is_better=False,
            n=n,
            detail={
                "min_s": stats["min_s"],
                "times_s": stats["times_s"],
                "workload": "np.random.default_rng(seed).random(n) in task 1, .sum() in task 2",
                **note(mode, described),
            },
        )


# --- the groups -----------------------------------------------------------------------------
def bench_dask(sizes: DistributedSizes, workdir: str) -> None:
    t0 = time.perf_counter()
    import distributed
    from prefect_dask import DaskTaskRunner

    import_s = time.perf_counter() - t0
    h.progress(f"dask: starting a LocalCluster of {sizes.workers} worker processes")
    t0 = time.perf_counter()
    cluster = dask_cluster(sizes.workers)
    start_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        with distributed.Client(cluster.scheduler_address) as client:
            client.wait_for_workers(sizes.workers)
            connect_s = time.perf_counter() - t0
        h.progress(f"  {start_s:.2f} s (a client connects in {connect_s * 1000:.0f} ms)")
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        described = "DaskTaskRunner(address=<the LocalCluster's scheduler>)"
        t0 = time.perf_counter()
        placed = where_tasks_ran(runner)
        first_run_s = time.perf_counter() - t0
        ENGINE_NOTES["empty_flow_run_s"] = empty_flow_s(runner)
        h.emit(
            "dask_cluster_start_s",
            TOOL,
            start_s,
            "s",
            higher_is_better=False,
            n=sizes.workers,
            detail={
                "call": f"distributed.LocalCluster(n_workers={sizes.workers}, "
                "threads_per_worker=1, processes=True)",
                "import_distributed_and_prefect_dask_s": import_s,
                "client_connect_s": connect_s,
                "first_flow_run_s": first_run_s,
                "first_flow_run_note": "includes starting Prefect's temporary server",
                "distributed_version": distributed.__version__,
                **placed,
                **ENGINE_NOTES,
            },
        )
        bench_linear("dask", sizes, runner, described)
        bench_fanout("dask", sizes, runner, described)
    finally:
        cluster.close()


def bench_ray(sizes: DistributedSizes, workdir: str) -> None:
    t0 = time.perf_counter()
    import ray
    from prefect_ray import RayTaskRunner

    import_s = time.perf_counter() - t0
    h.progress(f"ray: ray.init(num_cpus={sizes.workers})")
    t0 = time.perf_counter()
    ray_init(sizes.workers)
    init_s = time.perf_counter() - t0
    try:
        h.progress(f"  {init_s:.2f} s")
        # Ray is initialised in this process: the runner uses it, and leaves it running.
        runner = RayTaskRunner()
        described = "RayTaskRunner() on the Ray this process initialised"
        t0 = time.perf_counter()
        placed = where_tasks_ran(runner)
        first_run_s = time.perf_counter() - t0
        ENGINE_NOTES["empty_flow_run_s"] = empty_flow_s(runner)
        h.emit(
            "ray_init_s",
            TOOL,
            init_s,
            "s",
            higher_is_better=False,
            n=sizes.workers,
            detail={
                "call": f"ray.init(address='local', num_cpus={sizes.workers}, "
                "include_dashboard=False)",
                "import_ray_and_prefect_ray_s": import_s,
                "first_flow_run_s": first_run_s,
                "first_flow_run_note": "includes starting Prefect's temporary server",
                "ray_version": ray.__version__,
                **placed,
                **ENGINE_NOTES,
            },
        )
        bench_linear("ray", sizes, runner, described)
        bench_fanout("ray", sizes, runner, described)
        bench_array(sizes, runner, described)
    finally:
        ray.shutdown()


BENCHES = {"dask": bench_dask, "ray": bench_ray}


def main() -> int:
    args = h.parse_args(GROUPS, "Prefect's side of the distributed benchmarks (Dask, Ray).")
    sizes = QUICK if args.quick else DistributedSizes()
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
