"""Heron's tracking-server figures: `heron server` on SQLite with 1 and 4 workers, the client
on the same machine.

    python benchmarks/server.py                 # every figure, full size (10-15 minutes)
    python benchmarks/server.py --quick         # small sizes, a smoke test
    python benchmarks/server.py --only search --workers 4 --search-runs 20000

Prints one JSON line per figure on stdout; progress goes to stderr. Each group runs in a fresh
process with its own temporary workspace; the server is started there as a user starts it,
``heron server --backend-store-uri sqlite:////…/heron.db --artifacts-uri …/artifacts --host
127.0.0.1 --port P --workers N``, and the client talks to it with
``heron.set_tracking_uri("http://127.0.0.1:P")``. Every figure is taken with 1 and with 4
server workers (``--workers``): the worker count is in the figure's name (``…_1w_…``,
``…_4w_…``). A server is stopped with SIGTERM (then SIGKILL of what is left of its session),
also when a figure fails.

The first half of this file (up to "Heron's figures") is shared with
``peers/mlflow_server.py``, which runs the same workloads against ``mlflow server``: it is
standard library plus psutil, and imports no Heron.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import _harness as h

h.BENCHMARK = "server"
TOOL = "heron"

GROUPS = ("start", "log_metric", "log_batch", "create_run", "search", "artifact", "memory")
# Figure names per group, with {w} the number of server workers.
FIGURE_TEMPLATES: dict[str, list[str]] = {
    "start": ["start_to_first_answer_{w}w_s"],
    "log_metric": [
        "log_metric_single_{w}w_points_per_s",
        "log_metric_unbuffered_{w}w_req_per_s",
    ],
    "log_batch": ["log_batch_{w}w_points_per_s"],
    "create_run": ["create_run_{w}w_runs_per_s"],
    "search": ["search_filtered_ordered_{w}w_ms"],
    "artifact": [
        "artifact_upload_{w}w_mb_per_s",
        "artifact_download_{w}w_mb_per_s",
        "artifact_client_peak_rss_{w}w_mb",
        "artifact_server_peak_rss_{w}w_mb",
    ],
    "memory": ["server_rss_{w}w_mb"],
    "pipeline": ["pipeline_linear_50_per_step_{w}w_ms"],  # Heron only
}
# The search figure's shape (the issue's): about 1 run in 6 matches, the best 100 come back.
SEARCH_FILTER = "metrics.acc > 0.5 and params.lr = '0.01'"
SEARCH_ORDER_BY = ["metrics.acc DESC"]
SEARCH_MAX_RESULTS = 100
EXPERIMENT = "bench"
ARTIFACT_NAME = "blob.bin"
MB = 1024 * 1024  # sizes and rates in MiB ("MB" in the figures)
SERVER_START_LIMIT_S = 180
SERVER_STOP_WAIT_S = 20


@dataclass
class ServerSizes:
    """Workload sizes of the server figures (each tool's script sets its own)."""

    log_metric_points: int  # heron.log_metric / mlflow.log_metric calls, one run
    unbuffered_requests: int  # one log_batch request of one point each
    batch_calls: int  # log_batch calls of batch_points points each
    batch_points: int  # points per log_batch call: 1,000 keys x (batch_points / 1,000) steps
    runs: int  # create + end, sequential
    search_runs: int  # runs in the store the search figure reads
    search_repeats: int
    artifact_mb: int
    starts: int  # timed starts per worker count (after one untimed)
    warmup_requests: int  # untimed requests before a timed figure / the memory figure
    pipeline_steps: int = 50  # Heron only
    pipeline_repeats: int = 5


# --- arguments and the parent / worker split --------------------------------------------------
def parse_args(groups: Sequence[str], description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout (always the case)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only this group or figure (repeatable; groups: {', '.join(groups)})",
    )
    p.add_argument("--workers", default="1,4", help="server worker counts (default 1,4)")
    p.add_argument("--search-runs", type=int, help="runs in Heron's search store (100,000)")
    p.add_argument("--mlflow-search-runs", type=int, help="runs in MLflow's search store (5,000)")
    p.add_argument("--artifact-mb", type=int, help="size of the artifact file in MB (1,024)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if not args.worker_counts or min(args.worker_counts) < 1:
        p.error("--workers needs positive counts, e.g. 1,4")
    return args


def figures_of(worker_counts: Sequence[int]) -> dict[str, list[str]]:
    return {
        group: [t.format(w=w) for t in templates for w in worker_counts]
        for group, templates in FIGURE_TEMPLATES.items()
    }


def run_groups(
    script: str,
    groups: Sequence[str],
    args: argparse.Namespace,
    env_for: Callable[[str], dict[str, str]],
) -> int:
    """Run each group in a fresh worker process with its own temporary workspace (removed
    afterwards) and relay its JSON lines; returns the number of failed groups.

    A worker stops the servers it started, also on errors and on SIGINT/SIGTERM; should one
    die before it could, the servers it recorded in ``servers.pids`` are killed here."""
    forwarded = ["--workers", args.workers]
    if args.quick:
        forwarded.append("--quick")
    for option in ("search_runs", "mlflow_search_runs", "artifact_mb"):
        value = getattr(args, option)
        if value is not None:
            forwarded += [f"--{option.replace('_', '-')}", str(value)]
    failed = 0
    for group in groups:
        argv = [sys.executable, script, "--worker", group, *forwarded]
        failed += run_in_workspace(argv, f"bench-server-{group}-", group, env_for, args.keep) != 0
    return failed


def run_in_workspace(
    argv: Sequence[str],
    prefix: str,
    label: str,
    env_for: Callable[[str], dict[str, str]],
    keep: bool = False,
) -> int:
    """Run ``argv --workdir <a new temporary folder>`` in that folder, relay the JSON lines it
    prints (other lines go to stderr), then kill what is left of the servers it recorded and
    remove the folder (unless ``keep``). Returns the worker's exit code."""
    import json

    workdir = tempfile.mkdtemp(prefix=prefix)
    h.progress(f"{label}: starting in {workdir}")
    t0 = time.perf_counter()
    returncode = 1
    try:
        proc = subprocess.Popen(
            [*argv, "--workdir", workdir],
            cwd=workdir,
            env=env_for(workdir),
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode().strip()
                if not line:
                    continue
                try:
                    json.loads(line)
                except ValueError:
                    print(f"(worker stdout) {line}", file=sys.stderr)
                    continue
                print(line, flush=True)
            returncode = proc.wait()
        except BaseException:  # Ctrl+C reaches the worker too: let it stop its servers
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(SERVER_STOP_WAIT_S + 10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
    finally:
        kill_recorded_servers(workdir)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if returncode != 0:
        h.progress(f"{label}: FAILED (exit {returncode})")
    else:
        h.progress(f"{label}: done in {time.perf_counter() - t0:.1f} s")
    return returncode


def kill_recorded_servers(workdir: str) -> None:
    """SIGKILL the sessions of servers a worker recorded and that still run."""
    try:
        with open(os.path.join(workdir, "servers.pids")) as f:
            pids = [int(line) for line in f if line.strip()]
    except OSError:
        return
    for pid in pids:
        if _session_gone(pid, 0):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
            h.progress(f"killed the leftover server session {pid}")


def worker_setup() -> None:
    """In a worker: SIGTERM raises SystemExit, so that ``finally`` blocks stop the servers."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


# --- a server process --------------------------------------------------------------------------
class Server:
    """A server command started in a session of its own on 127.0.0.1:``port``; its stderr and
    stdout go to a log file in ``workdir`` (a pipe nobody reads could block it)."""

    count = 0

    def __init__(self, argv: list[str], env: dict[str, str], workdir: str, port: int) -> None:
        Server.count += 1
        self.argv, self.env, self.workdir, self.port = argv, env, workdir, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(workdir, f"server-{Server.count}.log")
        self.process: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.killed = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> float:
        """Spawn the process; returns ``time.perf_counter()`` just before."""
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with open(os.path.join(self.workdir, "servers.pids"), "a") as f:
            f.write(f"{self.process.pid}\n")
        return t0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, path: str = "/health", limit_s: float = SERVER_START_LIMIT_S) -> float:
        """``time.perf_counter()`` when ``GET path`` first answers 200."""
        assert self.process is not None
        deadline = time.perf_counter() + limit_s
        last = "no answer"
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}) before answering "
                    f"GET {path}.\ncommand: {' '.join(self.argv)}\nits output:\n{self.log_tail()}"
                )
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    return time.perf_counter()
                last = f"HTTP {response.status}"
            except OSError as e:
                last = f"{type(e).__name__}: {e}"
            finally:
                connection.close()
            time.sleep(0.005)
        raise RuntimeError(
            f"the server did not answer GET {path} with 200 within {limit_s} s ({last}).\n"
            f"command: {' '.join(self.argv)}\nits output:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM to the server's session (the server and the processes it started, as
        systemd or Ctrl+C in a terminal deliver it), then SIGKILL to whatever is left."""
        p = self.process
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(SERVER_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.killed = True
        # Its children (workers) should be gone with it; give them a moment, then SIGKILL.
        if not _session_gone(p.pid, 5):
            self.killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            _session_gone(p.pid, 10)
        if p.poll() is None:
            p.wait(10)
        self.exit_code = p.returncode
        if self.exit_code != 0 or self.killed:
            h.progress(
                f"  note: the server exited {self.exit_code} on SIGTERM"
                + (", and processes of its session had to be killed" if self.killed else "")
            )


def _session_gone(pgid: int, wait_s: float) -> bool:
    """Whether every process of session ``pgid`` has exited (zombies count as exited),
    waiting up to ``wait_s``."""
    import psutil

    deadline = time.perf_counter() + wait_s
    while True:
        alive = []
        for proc in psutil.process_iter(["status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(proc.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        if not alive or time.perf_counter() >= deadline:
            return not alive
        time.sleep(0.05)


@contextlib.contextmanager
def running_server(
    argv_for: Callable[[int, int], list[str]],
    workers: int,
    workdir: str,
    env: dict[str, str] | None = None,
    health: str = "/health",
) -> Iterator[Server]:
    """A started server answering ``health``; stopped on leaving, whatever happened."""
    port = h.free_port()
    server = Server(argv_for(port, workers), dict(env or os.environ), workdir, port)
    try:
        t0 = server.start()
        server.start_s = server.wait_ready(health) - t0  # type: ignore[attr-defined]
        h.progress(f"  server with {workers} worker(s) up on {server.url} (pid {server.pid})")
        yield server
    finally:
        server.stop()


# --- memory -----------------------------------------------------------------------------------
def process_tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory_mb(pid: int, full: bool = False) -> dict[str, Any]:
    """RSS of every process of ``pid``'s tree, summed (and, with ``full``, PSS and USS: the
    sum of RSS counts memory shared between the processes once per process)."""
    import psutil

    rss, pss, uss, largest, procs = 0.0, 0.0, 0.0, 0.0, []
    for proc in process_tree(pid):
        try:
            info = proc.memory_full_info() if full else proc.memory_info()
            name = " ".join(proc.cmdline()[:4])[-80:] if full else ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss / MB
        largest = max(largest, info.rss / MB)
        if full:
            pss += getattr(info, "pss", 0) / MB
            uss += getattr(info, "uss", 0) / MB
            procs.append({"pid": proc.pid, "rss_mb": round(info.rss / MB, 1), "cmd": name})
    out: dict[str, Any] = {"rss_mb": rss, "largest_mb": largest}
    if full:
        out.update(pss_mb=pss, uss_mb=uss, processes=len(procs), by_process=procs)
    return out


class PeakRss:
    """Samples, every ``interval_s`` in a thread, the RSS of this (client) process and the
    summed RSS of the server's process tree; keeps the peaks."""

    def __init__(self, server_pid: int, interval_s: float = 0.05) -> None:
        import psutil

        self.server_pid, self.interval_s = server_pid, interval_s
        self.me = psutil.Process()
        self.client_peak_mb = self.server_peak_mb = self.server_largest_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.client_peak_mb = max(self.client_peak_mb, self.me.memory_info().rss / MB)
        server = tree_memory_mb(self.server_pid)
        self.server_peak_mb = max(self.server_peak_mb, server["rss_mb"])
        self.server_largest_mb = max(self.server_largest_mb, server["largest_mb"])
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        self.client_before_mb = self.client_peak_mb
        self.server_before_mb = self.server_peak_mb
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def detail(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_client_peak_rss_mb": self.client_peak_mb,
            f"{prefix}_client_rss_before_mb": self.client_before_mb,
            f"{prefix}_server_peak_rss_mb": self.server_peak_mb,
            f"{prefix}_server_rss_before_mb": self.server_before_mb,
            f"{prefix}_server_largest_process_peak_mb": self.server_largest_mb,
        }


# --- shared figure plumbing ---------------------------------------------------------------------
def emit(
    figure: str,
    tool: str,
    workers: int,
    value: float,
    unit: str,
    *,
    higher_is_better: bool,
    n: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    h.emit(
        figure.format(w=workers),
        tool,
        value,
        unit,
        higher_is_better=higher_is_better,
        n=n,
        detail={"server_workers": workers, **(detail or {})},
    )


def write_artifact_file(path: str, size_mb: int) -> int:
    """A file of ``size_mb`` MB: a 16 MB random block repeated (not compressible per block,
    and quick to write). Returns its size in bytes."""
    block = random.Random(0).randbytes(16 * MB)
    left = size_mb * MB
    with open(path, "wb") as f:
        while left:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            left -= len(chunk)
    return size_mb * MB


def settle_disk() -> None:
    """Write the page cache's dirty pages out before a timed transfer, so that it is not
    charged with the disk writeback of the gigabyte written before it (the source file, the
    previous transfer): on this class of machine that writeback takes CPU and stalls writers
    for seconds, at random moments. Both tools' scripts call it at the same points."""
    os.sync()
    time.sleep(0.5)


def same_file_sample(a: str, b: str) -> bool:
    """Same size, and the same first, middle and last MB."""
    size = os.path.getsize(a)
    if os.path.getsize(b) != size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for offset in (0, max(0, size // 2 - MB // 2), max(0, size - MB)):
            fa.seek(offset)
            fb.seek(offset)
            if fa.read(MB) != fb.read(MB):
                return False
    return True


def folder_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


def check_search(runs: Sequence[Any], n: int, get: Callable[[Any], tuple[float, str]]) -> None:
    """The search answer: at most 100 runs (100 once the store is large enough), each matching
    the filter, ordered by acc descending. ``get(run)`` gives ``(acc, lr)``."""
    if not runs or len(runs) > SEARCH_MAX_RESULTS or (n >= 2_000 and len(runs) != 100):
        raise SystemExit(f"search: {len(runs)} runs came back from {n:,}, expected 100")
    values = [get(r) for r in runs]
    if any(acc <= 0.5 or lr != "0.01" for acc, lr in values):
        raise SystemExit(f"search: a run does not match {SEARCH_FILTER!r}")
    accs = [acc for acc, _ in values]
    if accs != sorted(accs, reverse=True):
        raise SystemExit("search: the runs are not ordered by metrics.acc DESC")


def search_detail(stats: dict[str, float], repeats: int, seed_s: float, n: int) -> dict:
    return {
        **stats,
        "filter": SEARCH_FILTER,
        "order_by": SEARCH_ORDER_BY,
        "max_results": SEARCH_MAX_RESULTS,
        "repeats": repeats,
        "store_runs": n,
        "seed_s": seed_s,
    }


def median_start(
    argv_for: Callable[[int, int], list[str]],
    workers: int,
    workdir: str,
    starts: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One untimed start (it may create the database), then ``starts`` timed ones: seconds
    from spawning the server to its first 200 on /health."""
    times, first, exits = [], 0.0, []
    for i in range(starts + 1):
        with running_server(argv_for, workers, workdir, env) as server:
            elapsed = server.start_s  # type: ignore[attr-defined]
        exits.append(server.exit_code)
        h.progress(f"  start {i}: {elapsed:.3f} s" + (" (untimed)" if i == 0 else ""))
        if i == 0:
            first = elapsed
        else:
            times.append(elapsed)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": times,
        "first_start_s": first,
        "exit_codes_on_sigterm": exits,
    }


# --- Heron's figures ------------------------------------------------------------------------------
FULL = ServerSizes(
    log_metric_points=100_000,
    unbuffered_requests=5_000,
    batch_calls=100,
    batch_points=10_000,
    runs=2_000,
    search_runs=100_000,
    search_repeats=20,
    artifact_mb=1024,
    starts=3,
    warmup_requests=200,
)
QUICK = ServerSizes(
    log_metric_points=10_000,
    unbuffered_requests=300,
    batch_calls=5,
    batch_points=10_000,
    runs=100,
    search_runs=5_000,
    search_repeats=5,
    artifact_mb=100,
    starts=1,
    warmup_requests=30,
    pipeline_steps=10,
    pipeline_repeats=2,
)
HERON_GROUPS = (*GROUPS, "pipeline")


def heron_version() -> str:
    import heron

    return getattr(heron, "__version__", "?")


def heron_argv(
    workdir: str, python: str = sys.executable, artifacts_folder: str = "artifacts"
) -> Callable[[int, int], list[str]]:
    """``heron server`` (run by ``python``) on ``<workdir>/server/heron.db`` and the artifact
    folder ``<workdir>/server/<artifacts_folder>``, as ``argv(port, workers)``."""
    db = os.path.join(workdir, "server", "heron.db")
    artifacts = os.path.join(workdir, "server", artifacts_folder)
    os.makedirs(artifacts, exist_ok=True)

    def argv(port: int, workers: int) -> list[str]:
        return [
            python,
            "-m",
            "heron",
            "server",
            "--backend-store-uri",
            "sqlite:///" + db,  # an absolute path: sqlite:////…
            "--artifacts-uri",
            artifacts,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]

    return argv


def use_server(server: Server) -> Any:
    """Point this process's tracking at ``server``; its Client."""
    import heron

    heron.set_tracking_uri(server.url)
    return heron.Client()


def now_ms() -> int:
    return int(time.time() * 1000)


def bench_start(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    argv = heron_argv(workdir)
    for w in worker_counts:
        h.progress(f"start ({w}w): 1 untimed + {sizes.starts} timed starts to GET /health 200")
        r = median_start(argv, w, workdir, sizes.starts)
        emit(
            "start_to_first_answer_{w}w_s",
            TOOL,
            w,
            r.pop("median_s"),
            "s",
            higher_is_better=False,
            n=sizes.starts,
            detail={**r, "health": "GET /health", "heron_version": heron_version()},
        )


def bench_log_metric(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    import heron
    from heron.core.entities import Metric

    argv = heron_argv(workdir)
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            experiment_id = heron.set_experiment(f"log-metric-{w}w")
            with heron.start_run():  # untimed: every worker answers a few requests first
                for i in range(sizes.warmup_requests):
                    heron.log_metric("warm", float(i), step=i)
            n = sizes.log_metric_points
            h.progress(f"log_metric ({w}w): {n:,} heron.log_metric calls in one run, end_run")
            t0 = time.perf_counter()
            run = heron.start_run()
            for i in range(n):
                heron.log_metric("loss", 1.0 / (i + 1), step=i)
            t1 = time.perf_counter()
            heron.end_run()
            t2 = time.perf_counter()
            stored = len(client.get_metric_history(run.id, "loss"))
            if stored != n:
                raise SystemExit(f"log_metric: {stored} points stored, {n} logged")
            h.progress(f"  {n / (t2 - t0):,.0f} points/s")
            emit(
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
                    "end_run_flush_s": t2 - t1,
                    "api": "heron.log_metric (buffered), then heron.end_run",
                },
            )

            m = sizes.unbuffered_requests
            h.progress(f"log_metric ({w}w): {m:,} Client.log_batch requests of one point")
            run = client.create_run(experiment_id)
            for i in range(sizes.warmup_requests):
                client.log_batch(run.id, [Metric("warm", float(i), i, now_ms())])
            t0 = time.perf_counter()
            for i in range(m):
                client.log_batch(run.id, [Metric("x", float(i), i, now_ms())])
            t1 = time.perf_counter()
            client.set_terminated(run.id)
            stored = len(client.get_metric_history(run.id, "x"))
            if stored != m:
                raise SystemExit(f"log_metric unbuffered: {stored} points stored, {m} logged")
            h.progress(f"  {m / (t1 - t0):,.0f} requests/s")
            emit(
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
                    "api": "Client.log_batch(run_id, [one Metric]) per point",
                },
            )


def bench_log_batch(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    from heron.core.entities import Metric

    argv = heron_argv(workdir)
    keys = [f"m{j}" for j in range(1_000)]
    steps = max(1, sizes.batch_points // len(keys))
    calls = sizes.batch_calls
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            experiment = client.create_experiment(f"log-batch-{w}w")
            warm = client.create_run(experiment.id)
            for i in range(max(2, w * 2)):
                client.log_batch(warm.id, [Metric(k, 0.5, i, now_ms()) for k in keys])
            h.progress(
                f"log_batch ({w}w): {calls} Client.log_batch calls of {len(keys) * steps:,} points"
            )
            t0 = time.perf_counter()
            run = client.create_run(experiment.id)
            for c in range(calls):
                ts = now_ms()
                client.log_batch(
                    run.id,
                    [Metric(k, c * 0.5, c * steps + s, ts) for s in range(steps) for k in keys],
                )
            client.set_terminated(run.id)
            t1 = time.perf_counter()
            for key in (keys[0], keys[-1]):
                stored = len(client.get_metric_history(run.id, key))
                if stored != calls * steps:
                    raise SystemExit(f"log_batch: {stored} points of {key}, {calls * steps} logged")
            points = calls * steps * len(keys)
            h.progress(f"  {points / (t1 - t0):,.0f} points/s")
            emit(
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
                    "api": "Client.create_run, Client.log_batch, Client.set_terminated",
                },
            )


def bench_create_run(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    argv = heron_argv(workdir)
    n = sizes.runs
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            experiment = client.create_experiment(f"runs-{w}w")
            warm = max(10, sizes.warmup_requests // 10)
            for _ in range(warm):
                client.set_terminated(client.create_run(experiment.id).id)
            h.progress(f"create_run ({w}w): {n:,} x (Client.create_run, set_terminated)")
            t0 = time.perf_counter()
            for _ in range(n):
                run = client.create_run(experiment.id)
                client.set_terminated(run.id)
            t1 = time.perf_counter()
            got = client.search_runs(experiment=experiment.id, max_results=n + warm + 1)
            if len(got) != n + warm or any(r.status != "completed" for r in got):
                raise SystemExit(f"create_run: {len(got)} runs stored, {n + warm} created")
            h.progress(f"  {n / (t1 - t0):,.0f} runs/s")
            emit(
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
                    "api": "Client.create_run(experiment_id), Client.set_terminated",
                },
            )


def seed_heron(db: str, n: int, seed: int = 0) -> None:
    """``n`` finished runs written straight into the SQLite store the server will read, by
    ``SqlStore.create_run`` + ``log_batch`` (2 metrics, 2 params, status completed)."""
    from heron.core.entities import Metric
    from heron.store.sql import engine as sql_engine
    from heron.store.sql.store import SqlStore

    store = SqlStore("sqlite:///" + db)
    experiment = store.create_experiment(EXPERIMENT)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    for i in range(n):
        v = h.run_values(i, rng)
        run = store.create_run(experiment.id, name=f"run-{i}", tags={"team": v["team"]})
        ts = now_ms()
        store.log_batch(
            run.id,
            [Metric("acc", v["acc"], 0, ts), Metric("loss", v["loss"], 0, ts)],
            {"depth": v["depth"], "lr": v["lr"]},
            status="completed",
        )
        if (i + 1) % 20_000 == 0:
            rate = (i + 1) / (time.perf_counter() - t0)
            h.progress(f"  seeded {i + 1:,} / {n:,} runs ({rate:,.0f} runs/s)")
    sql_engine.dispose_engines()


def bench_search(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    argv = heron_argv(workdir)
    n = sizes.search_runs
    h.progress(f"search: seeding {n:,} runs into the SQLite store (SqlStore)")
    t0 = time.perf_counter()
    seed_heron(os.path.join(workdir, "server", "heron.db"), n)
    seed_s = time.perf_counter() - t0
    h.progress(f"  {n:,} runs in {seed_s:.1f} s")
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            experiment_id = client.get_experiment(EXPERIMENT).id

            def search(client: Any = client, experiment_id: str = experiment_id) -> list:
                return client.search_runs(
                    experiment=experiment_id,
                    filter=SEARCH_FILTER,
                    order_by=SEARCH_ORDER_BY,
                    max_results=SEARCH_MAX_RESULTS,
                )

            check_search(search(), n, lambda r: (r.metrics["acc"], r.params["lr"]))
            h.progress(f"search ({w}w): over {n:,} runs, {sizes.search_repeats} timed")
            stats = h.repeat_ms(search, sizes.search_repeats, warmup=max(2, 2 * w))
            h.progress(f"  median {stats['median_ms']:.1f} ms")
            emit(
                "search_filtered_ordered_{w}w_ms",
                TOOL,
                w,
                stats["median_ms"],
                "ms",
                higher_is_better=False,
                n=n,
                detail={
                    **search_detail(stats, sizes.search_repeats, seed_s, n),
                    "api": "Client.search_runs",
                },
            )


def bench_artifact(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    import heron

    argv = heron_argv(workdir)
    source = os.path.join(workdir, ARTIFACT_NAME)
    size = write_artifact_file(source, sizes.artifact_mb)
    server_artifacts = os.path.join(workdir, "server", "artifacts")
    client_home = os.environ.get("HERON_HOME", workdir)
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            heron.set_experiment(f"artifact-{w}w")
            with heron.start_run():  # untimed warm-up: a small artifact
                small = os.path.join(workdir, "warm.txt")
                with open(small, "w") as f:
                    f.write("warm")
                heron.log_artifact(small)
            before = folder_bytes(server_artifacts)
            h.progress(f"artifact ({w}w): heron.log_artifact of {sizes.artifact_mb:,} MB")
            settle_disk()
            with heron.start_run() as run, PeakRss(server.pid) as up:
                t0 = time.perf_counter()
                version = heron.log_artifact(source)
                t1 = time.perf_counter()
            upload_s = t1 - t0
            grown = folder_bytes(server_artifacts) - before
            if grown < size:
                raise SystemExit(
                    f"artifact: the server's --artifacts-uri grew by {grown:,} bytes after "
                    f"logging {size:,}: the upload did not go through the server (version uri "
                    f"{getattr(version, 'uri', '?')}, client HERON_HOME {client_home})"
                )
            h.progress(f"  upload {size / MB / upload_s:,.0f} MB/s")
            target = os.path.join(workdir, f"download-{w}w.bin")
            h.progress(f"artifact ({w}w): Client.download_artifact of {sizes.artifact_mb:,} MB")
            settle_disk()
            with PeakRss(server.pid) as down:
                t0 = time.perf_counter()
                got = client.download_artifact(run.id, ARTIFACT_NAME, target)
                t1 = time.perf_counter()
            download_s = t1 - t0
            if not same_file_sample(source, got):
                raise SystemExit(f"artifact: the downloaded file {got} differs from the logged one")
            os.remove(got)
            h.progress(f"  download {size / MB / download_s:,.0f} MB/s")
            detail = {
                "upload_s": upload_s,
                "download_s": download_s,
                "bytes": size,
                **up.detail("upload"),
                **down.detail("download"),
                "api": "heron.log_artifact in a run; Client.download_artifact(run_id, name, dst)",
            }
            for figure, value, unit, higher in (
                ("artifact_upload_{w}w_mb_per_s", size / MB / upload_s, "MB/s", True),
                ("artifact_download_{w}w_mb_per_s", size / MB / download_s, "MB/s", True),
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
                emit(figure, TOOL, w, value, unit, higher_is_better=higher, n=size, detail=detail)
        shutil.rmtree(server_artifacts, ignore_errors=True)  # 1 GB less on the disk
        os.makedirs(server_artifacts, exist_ok=True)


def warm_up_requests(client: Any, experiment_id: str, requests: int) -> int:
    """A mix of what clients send: create, log, read, search, end. Returns the requests."""
    from heron.core.entities import Metric

    sent = 0
    while sent < requests:
        run = client.create_run(experiment_id)
        client.log_batch(
            run.id, [Metric(f"m{j}", 0.5, s, now_ms()) for j in range(10) for s in range(10)]
        )
        client.get_run(run.id)
        client.search_runs(experiment=experiment_id, order_by=["metrics.m0 DESC"], max_results=10)
        client.set_terminated(run.id)
        sent += 5
    return sent


def bench_memory(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    argv = heron_argv(workdir)
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            client = use_server(server)
            experiment = client.create_experiment(f"memory-{w}w")
            sent = warm_up_requests(client, experiment.id, sizes.warmup_requests)
            time.sleep(0.5)
            memory = tree_memory_mb(server.pid, full=True)
            h.progress(
                f"memory ({w}w): {memory['rss_mb']:.0f} MB in {memory['processes']} processes"
            )
            emit(
                "server_rss_{w}w_mb",
                TOOL,
                w,
                memory.pop("rss_mb"),
                "MB",
                higher_is_better=False,
                detail={**memory, "warmup_requests": sent, "measured": "sum of RSS, whole tree"},
            )


def bench_pipeline(sizes: ServerSizes, workdir: str, worker_counts: Sequence[int]) -> None:
    import pipelines as p  # the pipelines of benchmarks/pipelines.py

    import heron

    h.BENCHMARK = "server"  # importing pipelines.py set it to its own
    n = sizes.pipeline_steps
    run_linear = p.linear.with_options(cache=False)

    def timed(label: str) -> dict[str, Any]:
        runs: list[Any] = []
        stats = p.timed_runs(label, lambda _i: runs.append(run_linear(n=n)), sizes.pipeline_repeats)
        for run in runs:
            p.check_run(run, n, cached=False, last=p.last_of("inc", n), value=n)
        return stats

    heron.set_tracking_uri("sqlite:///" + os.path.join(workdir, "embedded.db"))
    h.progress(f"pipeline: {n} steps on the embedded store, 1 warm-up + {sizes.pipeline_repeats}")
    embedded = timed("embedded")
    embedded_ms = embedded["median_s"] / n * 1000
    h.progress(f"  embedded {embedded_ms:.2f} ms per step")
    argv = heron_argv(workdir)
    for w in worker_counts:
        with running_server(argv, w, workdir) as server:
            use_server(server)
            h.progress(f"pipeline ({w}w): {n} steps through the server")
            stats = timed(f"through the server, {w} workers")
            ms = stats["median_s"] / n * 1000
            h.progress(f"  {ms:.2f} ms per step")
            emit(
                "pipeline_linear_50_per_step_{w}w_ms"
                if n == 50
                else f"pipeline_linear_{n}_per_step_{{w}}w_ms",
                TOOL,
                w,
                ms,
                "ms",
                higher_is_better=False,
                n=n,
                detail={
                    "run_median_s": stats["median_s"],
                    "times_s": stats["times_s"],
                    "embedded_per_step_ms": embedded_ms,
                    "overhead_vs_embedded_ms": ms - embedded_ms,
                    "cache": False,
                    "parallelism": 1,
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
    "pipeline": bench_pipeline,
}


def sizes_for(args: argparse.Namespace) -> ServerSizes:
    sizes = QUICK if args.quick else FULL
    if args.search_runs:
        sizes = replace(sizes, search_runs=args.search_runs)
    if args.artifact_mb:
        sizes = replace(sizes, artifact_mb=args.artifact_mb)
    return sizes


def main() -> int:
    args = parse_args(HERON_GROUPS, "Heron's tracking-server benchmarks (heron server).")
    sizes = sizes_for(args)
    if args.worker:
        worker_setup()
        BENCHES[args.worker](sizes, args.workdir, args.worker_counts)
        return 0
    groups = h.select_groups(HERON_GROUPS, args.only, figures_of(args.worker_counts))

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(HERON_HOME=os.path.join(workdir, "client-home"))

    failed = run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
