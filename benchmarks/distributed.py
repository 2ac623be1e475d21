"""Benchmarks of Heron's pipelines on Dask and on Ray (issue 11).

    python benchmarks/distributed.py                 # every figure (about a minute)
    python benchmarks/distributed.py --quick         # small sizes: a smoke test
    python benchmarks/distributed.py --only ray      # one group (dask, ray) or figure
    python benchmarks/distributed.py --profile --only dask   # cProfile of the timed runs

Prints one JSON line per figure on stdout; progress goes to stderr. Each group (one engine)
runs in a fresh process with its own temporary workspace (``HERON_HOME`` and a SQLite tracking
URI in a new temp folder, artifacts beside it), as ``benchmarks/pipelines.py`` does; every step
run is recorded and every output stored (content-hashed), wherever the step ran.

The engine is started once per group, before anything is timed, and reported on its own
(``dask_cluster_start_s``: a ``distributed.LocalCluster`` of 2 worker processes with 1 thread
each; ``ray_init_s``: ``ray.init(num_cpus=2)``); every pipeline run then uses that engine
(Dask: ``orchestrator_options={"address": cluster.scheduler_address}``; Ray: the orchestrator
reuses the Ray this process initialised), so the per-step figures leave the start out. The
same start calls are made by Prefect's side (``peers/prefect_distributed.py``, with the same
workloads and figure names). A run is the median of a few after one warm-up run, all with
``cache=False`` and ``parallelism=2`` (the engine's 2 workers).

The fan-out's 32 steps sleep 50 ms each (``time.sleep(0.05)``: they wait, they do not compute),
so two workers need 0.8 s at best. Its line also records how many processes ran those steps
and the same run with ``parallelism=34`` (every ready step handed to the engine at once).
``dask_own_cluster_first_run_s`` (Heron only) is a 1-step run where the orchestrator starts
and keeps its own LocalCluster (no address).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

# This file is called distributed.py: with its folder on sys.path, ``import distributed`` would
# import this script instead of Dask's package, here and in the engine's worker processes (which
# inherit sys.path, or are given the script's folder by Ray). So the folder is taken off the
# path and the shared harness is loaded from its file.
HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != HERE]


def _load_harness() -> Any:
    spec = importlib.util.spec_from_file_location("_harness", os.path.join(HERE, "_harness.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_harness"] = module
    spec.loader.exec_module(module)
    return module


h = _load_harness()

from heron import pipeline, step  # noqa: E402

h.BENCHMARK = "distributed"
TOOL = "heron"
GROUPS = ("dask", "ray")
FIGURES_OF = {
    "dask": [
        "dask_cluster_start_s",
        "dask_linear_50_per_step_ms",
        "dask_fanout_32_s",
        "dask_own_cluster_first_run_s",
    ],
    "ray": ["ray_init_s", "ray_linear_50_per_step_ms", "ray_fanout_32_s", "ray_array_200mb_s"],
}


# --- workloads, the same in peers/prefect_distributed.py (keep the two in step) --------------
@dataclass
class DistributedSizes:
    linear_steps: int = 50  # a chain of trivial steps (x + 1)
    fanout_width: int = 32  # 1 -> width -> 1
    fanout_sleep_s: float = 0.05  # each of the width steps sleeps this long
    array_elements: int = 25_000_000  # float64: 200 MB
    repeats: int = 5  # timed runs after one warm-up run
    array_repeats: int = 3
    workers: int = 2  # Dask worker processes (1 thread each); Ray's num_cpus


QUICK = DistributedSizes(
    linear_steps=10, fanout_width=8, array_elements=1_000_000, repeats=2, array_repeats=1
)
TARGETS = {
    "dask_linear_per_step_ms": 10.0,
    "ray_linear_per_step_ms": 15.0,
    "fanout_s": 1.2,
    "array_200mb_s": 1.0,
}
# Prefect must be at least this many times slower per step (issue 11); see the peer's lines.
PEER_FACTOR = 5


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


# --- the steps and pipelines (module level: the engines' workers get them by cloudpickle) ----
@step
def inc(x: int) -> int:
    return x + 1


@step
def source() -> int:
    return 1


@step
def work(x: int, i: int, sleep_s: float) -> int:
    time.sleep(sleep_s)
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


@step
def where(i: int) -> int:
    return os.getpid()


@pipeline
def linear(n: int = 50):
    handle = inc(0)
    for _ in range(n - 1):
        handle = inc(handle)


@pipeline
def fanout(width: int = 32, sleep_s: float = 0.05):
    s = source()
    combine([work(s, i, sleep_s) for i in range(width)])


@pipeline
def array(seed: int = 0, n: int = 25_000_000):
    total(make_array(seed, n))


@pipeline
def spread(width: int = 4):
    for i in range(width):
        where(i)


# --- checks ---------------------------------------------------------------------------------
def processes_of(run: Any, names: list[str]) -> int:
    """How many processes ran these steps of ``run`` (the owners their step runs record)."""
    return len({run.steps[name].run.owner.split("@")[0] for name in names})


def check_run(run: Any, steps: int, last: str | None = None, value: Any = None) -> None:
    """The run completed with ``steps`` step runs, none cached, and ``last``'s stored output
    loads back as ``value``."""
    if run.status != "completed":
        raise SystemExit(f"{run.name}: run ended {run.status}: {run.error}")
    if len(run.steps) != steps:
        raise SystemExit(f"{run.name}: {len(run.steps)} step runs, expected {steps}")
    states = {s.cached for s in run.steps.values()}
    if states != {False}:
        raise SystemExit(f"{run.name}: cached states {states}, expected none cached")
    if last is not None:
        got = run.steps[last].outputs["output"].load()
        if got != value:
            raise SystemExit(f"{run.name}: {last} stored {got!r}, expected {value!r}")


def last_of(name: str, count: int) -> str:
    return name if count == 1 else f"{name}_{count}"


def timed_runs(label: str, fn: Any, repeats: int, warmup: int = 1) -> dict[str, Any]:
    """``fn(i)`` ``warmup`` times (``i`` < 0), then ``repeats`` timed calls (profiled under
    --profile)."""
    for i in range(warmup):
        fn(-1 - i)
    with h.timed_section(label):
        return h.median_run_s(fn, repeats, warmup=0)


def engine_tags(run: Any) -> dict[str, str]:
    """What the run recorded of where its steps ran (``heron.orchestrator.*`` tags)."""
    prefix = "heron.orchestrator."
    return {k[len(prefix) :]: v for k, v in run.run.tags.items() if k.startswith(prefix)}


def where_steps_ran(options: dict[str, Any]) -> dict[str, Any]:
    """Run 4 steps that return their process id: they must run in the engine's workers."""
    run = spread.with_options(**options)(width=4)
    check_run(run, 4)
    pids = {run.steps[last_of("where", i + 1)].outputs["output"].load() for i in range(4)}
    if os.getpid() in pids:
        raise SystemExit(f"a step ran in the benchmark's own process ({os.getpid()}): {pids}")
    return {"step_pids": len(pids), "orchestrator": engine_tags(run)}


# --- the shared figures, on either engine ---------------------------------------------------
def bench_linear(
    engine: str,
    sizes: DistributedSizes,
    options: dict[str, Any],
    placed: dict,
    figure: str | None = None,
):
    n = sizes.linear_steps
    run_linear = linear.with_options(**options)
    runs: list[Any] = []
    h.progress(f"{engine} linear: {n} steps, cache=False, 1 warm-up + {sizes.repeats} runs")
    stats = timed_runs(
        f"{engine} linear {n}", lambda _i: runs.append(run_linear(n=n)), sizes.repeats
    )
    for run in runs:
        check_run(run, n, last=last_of("inc", n), value=n)
    per_step_ms = stats["median_s"] / n * 1000
    h.progress(f"  {per_step_ms:.2f} ms per step ({stats['median_s']:.3f} s a run)")
    h.emit(
        figure or f"{engine}_linear_{n}_per_step_ms",
        TOOL,
        per_step_ms,
        "ms",
        higher_is_better=False,
        target=TARGETS[f"{engine}_linear_per_step_ms"],
        n=n,
        detail={
            "run_median_s": stats["median_s"],
            "run_min_s": stats["min_s"],
            "times_s": stats["times_s"],
            "cache": False,
            "parallelism": options["parallelism"],
            "engine_start": "not included (started once, before the warm-up)",
            "persisted": "every step run and output (JSON artifact)",
            "peer_target": f"Prefect on {engine} at least {PEER_FACTOR}x slower per step",
            **placed,
        },
    )


def bench_fanout(engine: str, sizes: DistributedSizes, options: dict[str, Any], placed: dict):
    width, sleep_s = sizes.fanout_width, sizes.fanout_sleep_s
    expected = width + width * (width - 1) // 2
    run_fanout = fanout.with_options(**options)
    runs: list[Any] = []
    h.progress(
        f"{engine} fanout: 1 -> {width} x sleep({sleep_s}) -> 1, 1 warm-up + {sizes.repeats}"
    )
    stats = timed_runs(
        f"{engine} fanout {width}",
        lambda _i: runs.append(run_fanout(width=width, sleep_s=sleep_s)),
        sizes.repeats,
    )
    for run in runs:
        check_run(run, width + 2, last="combine", value=expected)
    ideal_s = width * sleep_s / sizes.workers
    spread_over = processes_of(runs[-1], [last_of("work", i + 1) for i in range(width)])
    h.progress(
        f"  {stats['median_s']:.3f} s a run (the sleeps alone: {ideal_s:.2f} s; the {width} "
        f"steps ran in {spread_over} process(es))"
    )
    # For the record: the same with every ready step handed to the engine at once (the
    # engine queues them on its workers), instead of as many as it has workers.
    wide_open = fanout.with_options(**{**options, "parallelism": width + 2})
    wide_runs: list[Any] = []
    wide = h.median_run_s(
        lambda _i: wide_runs.append(wide_open(width=width, sleep_s=sleep_s)), sizes.repeats
    )
    for run in wide_runs:
        check_run(run, width + 2, last="combine", value=expected)
    wide_spread = processes_of(wide_runs[-1], [last_of("work", i + 1) for i in range(width)])
    h.progress(
        f"  parallelism={width + 2}: {wide['median_s']:.3f} s a run ({wide_spread} process(es))"
    )
    h.emit(
        f"{engine}_fanout_{width}_s",
        TOOL,
        stats["median_s"],
        "s",
        higher_is_better=False,
        target=TARGETS["fanout_s"],
        n=width + 2,
        detail={
            "min_s": stats["min_s"],
            "times_s": stats["times_s"],
            "step_work": f"time.sleep({sleep_s})",
            "sleeps_on_workers_s": ideal_s,
            "overhead_s": stats["median_s"] - ideal_s,
            "workers": sizes.workers,
            "parallelism": options["parallelism"],
            "work_step_processes": spread_over,
            f"parallelism_{width + 2}_s": wide["median_s"],
            f"parallelism_{width + 2}_work_step_processes": wide_spread,
            "cache": False,
            **placed,
        },
    )


# --- the groups -----------------------------------------------------------------------------
def bench_dask(sizes: DistributedSizes, workdir: str) -> None:
    t0 = time.perf_counter()
    import distributed

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
        options = {
            "orchestrator": "dask",
            "orchestrator_options": {"address": cluster.scheduler_address},
            "parallelism": None,  # the orchestrator's default (16 ready steps per thread)
            "cache": False,
        }
        t0 = time.perf_counter()
        placed = where_steps_ran(options)
        first_run_s = time.perf_counter() - t0
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
                "import_distributed_s": import_s,
                "client_connect_s": connect_s,
                "first_pipeline_run_s": first_run_s,
                "distributed_version": distributed.__version__,
                **placed,
            },
        )
        bench_linear("dask", sizes, options, placed)
        bench_fanout("dask", sizes, options, placed)
    finally:
        cluster.close()
    own_cluster(sizes)


def own_cluster(sizes: DistributedSizes) -> None:
    """For the record: 1-step runs where the orchestrator starts its own LocalCluster (no
    address): what the first run pays, and the later ones once the cluster is kept."""
    options = {
        "orchestrator": "dask",
        "orchestrator_options": {
            "n_workers": sizes.workers,
            "threads_per_worker": 1,
            "processes": True,
        },
        "cache": False,
    }
    run_one = linear.with_options(**options)
    times = []
    # The second run is the first on the other worker (its first step imports the executor).
    for _ in range(5):
        t0 = time.perf_counter()
        run = run_one(n=1)
        times.append(time.perf_counter() - t0)
        check_run(run, 1, last="inc", value=1)
    later = sorted(times[2:])[len(times[2:]) // 2]
    h.progress(f"  own LocalCluster: first run {times[0]:.2f} s, later ones {later:.3f} s")
    h.emit(
        "dask_own_cluster_first_run_s",
        TOOL,
        times[0],
        "s",
        higher_is_better=False,
        n=1,
        detail={
            "times_s": [round(t, 4) for t in times],
            "later_run_median_s": later,
            "what": "a 1-step pipeline, orchestrator='dask' with no address: the orchestrator "
            "starts a LocalCluster itself (n_workers=2, threads_per_worker=1) and keeps it",
        },
    )
    # the same chain on that cluster: Heron's default Dask path (it also shortens the
    # scheduler's and the workers' message batching, which it leaves alone on a cluster
    # given by its address)
    bench_linear(
        "dask",
        sizes,
        {**options, "parallelism": None},
        {"cluster": "the orchestrator's own LocalCluster (no address)"},
        figure=f"dask_own_cluster_linear_{sizes.linear_steps}_per_step_ms",
    )


def bench_ray(sizes: DistributedSizes, workdir: str) -> None:
    t0 = time.perf_counter()
    import ray

    import_s = time.perf_counter() - t0
    h.progress(f"ray: ray.init(num_cpus={sizes.workers})")
    t0 = time.perf_counter()
    ray_init(sizes.workers)
    init_s = time.perf_counter() - t0
    try:
        h.progress(f"  {init_s:.2f} s")
        options = {
            "orchestrator": "ray",
            "parallelism": sizes.workers,
            "cache": False,
        }
        t0 = time.perf_counter()
        placed = where_steps_ran(options)
        first_run_s = time.perf_counter() - t0
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
                "import_ray_s": import_s,
                "first_pipeline_run_s": first_run_s,
                "ray_version": ray.__version__,
                **placed,
            },
        )
        bench_linear("ray", sizes, options, placed)
        bench_fanout("ray", sizes, options, placed)
        bench_array(sizes, options, placed)
    finally:
        ray.shutdown()


def bench_array(sizes: DistributedSizes, options: dict[str, Any], placed: dict) -> None:
    import numpy as np

    n = sizes.array_elements
    mb = n * 8 / 1e6
    run_array = array.with_options(**options)
    runs: list[Any] = []
    h.progress(
        f"ray array: {mb:.0f} MB float64 made, then summed; 1 warm-up + {sizes.array_repeats}"
    )

    # A new seed every run: new bytes, so the content-addressed store really writes them.
    def one(i: int) -> None:
        run = run_array(seed=i if i >= 0 else 1000, n=n)
        if i >= 0:
            runs.append(run)

    stats = timed_runs(f"ray array {mb:.0f} MB", one, sizes.array_repeats)
    for seed, run in enumerate(runs):
        expected = float(np.random.default_rng(seed).random(n).sum())
        check_run(run, 2, last="total", value=expected)
    made = runs[-1].steps["make_array"].outputs["output"]
    stored = made.load()
    if stored.shape != (n,) or stored.dtype != np.float64:
        raise SystemExit(f"array: stored {stored.shape} {stored.dtype}")
    del stored

    def compute(i: int) -> None:
        float(np.random.default_rng(i).random(n).sum())

    plain = h.median_run_s(compute, sizes.array_repeats)
    h.progress(f"  {stats['median_s']:.3f} s a run ({plain['median_s']:.3f} s plain numpy)")
    h.emit(
        f"ray_array_{mb:.0f}mb_s",
        TOOL,
        stats["median_s"],
        "s",
        higher_is_better=False,
        target=TARGETS["array_200mb_s"] if n >= 25_000_000 else None,
        n=n,
        detail={
            "min_s": stats["min_s"],
            "times_s": stats["times_s"],
            "plain_numpy_s": plain["median_s"],
            "overhead_s": stats["median_s"] - plain["median_s"],
            "workload": "np.random.default_rng(seed).random(n) in step 1, .sum() in step 2",
            "artifact": f"{made.materializer} {made.size} bytes sha256 {made.content_hash[:12]}",
            "cache": False,
            "parallelism": options["parallelism"],
            **placed,
        },
    )


BENCHES = {"dask": bench_dask, "ray": bench_ray}


def worker(args: Any, sizes: DistributedSizes) -> None:
    import heron

    heron.set_tracking_uri("sqlite:///" + os.path.join(args.workdir, "heron.db"))
    h.PROFILE = args.profile
    BENCHES[args.worker](sizes, args.workdir)


def main() -> int:
    args = h.parse_args(GROUPS, "Heron's pipelines on Dask and Ray (issue 11).")
    sizes = QUICK if args.quick else DistributedSizes()
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
