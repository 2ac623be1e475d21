"""Heron's scoring-server figures (issue 4, DESIGN §8): `heron serve` of a scikit-learn
LogisticRegression fitted on iris, on 127.0.0.1, the client on the same machine.

    python benchmarks/serving.py            # every figure (a few minutes)
    python benchmarks/serving.py --quick    # small sizes, a smoke test
    python benchmarks/serving.py --only load --only start

Prints one JSON line per figure on stdout; progress goes to stderr. Each group runs in a fresh
process with its own temporary workspace (``HERON_HOME`` and a SQLite tracking URI in a new
temp folder) where the model is logged and registered (``models:/iris@champion``), then
served by ``heron serve`` as a user starts it. The load generator (``_harness.py``) is the one
``peers/mlflow_serving.py`` uses: stdlib http.client, one keep-alive connection per client,
concurrent clients as processes. Requests are MLflow's ``dataframe_split`` with the iris column
names, ``{"dataframe_split": {"columns": [...], "data": [[5.1, 3.5, 1.4, 0.2]]}}`` (and
``{"inputs": [[...]]}`` for one more figure).

Groups ``frame`` and ``wine`` (issue 8, item 24) serve the models users have: iris fitted on
a DataFrame, and the quickstart's wine forest (``_serving_models.py``); ``mixed`` (item 9) the
p99 of single-row requests while ~10 MB requests run back to back.

Group ``inferences`` is what ``--log-inferences`` costs: the same model served twice at once,
without and with it (logging to a folder of the workspace), and bursts of concurrent requests
sent to one then the other, interleaved (off, on, on, off, …) so that the machine's other load
falls on both. Once the servers are stopped (the logging one flushing on its way out) it reads
the log back and fails unless it holds one row per request sent to the logging server.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
from typing import Any

import _harness as h
import _serving_models as sm

h.BENCHMARK = "serving"
TOOL = "heron"
GROUPS = ("log_model", "start", "load", "batching", *sm.KINDS, "mixed", "inferences")
FIGURES_OF = {
    **h.SERVING_FIGURES,
    "batching": ["concurrent8_nobatch_req_per_s", "concurrent8_wait1ms_req_per_s"],
    **sm.FIGURES,
    "inferences": [
        "inferences_concurrent8_off_req_per_s",
        "inferences_concurrent8_on_req_per_s",
        "inferences_cost_pct",
        "inferences_single_row_p50_off_ms",
        "inferences_single_row_p50_on_ms",
        "inferences_server_cpu_off_us_per_req",
        "inferences_server_cpu_on_us_per_req",
        "inferences_cpu_cost_pct",
    ],
}
#: bursts of each mode of the ``inferences`` group (quick: 1), and what ``--log-inferences``
#: may cost of the concurrent requests/s (%)
INFERENCE_ROUNDS = 8
INFERENCE_COST_TARGET_PCT = 10.0
#: requests per client of each burst (12,000 requests: ~2.5 s at ~5,000 req/s), and of its
#: warm-up (the servers are warm: this only opens the connections)
INFERENCE_REQUESTS = 1_500
INFERENCE_WARMUP = 50
#: single-row requests sent one after another in each round, for the latency figure
INFERENCE_SEQUENTIAL = 300


def registered_model() -> tuple[str, Any]:
    """Log and register the iris model; its URI (``models:/iris@champion``) and the model."""
    import heron

    model, X = h.iris_model()
    with heron.start_run():
        info = heron.log_model(model, "iris", input_example=X[:2], registered_model_name="iris")
    heron.Client().set_model_alias("iris", "champion", info.registered_model_version)
    return "models:/iris@champion", model


def serve_argv(uri: str, port: int, *options: str) -> list[str]:
    """``heron serve`` as a user types it (the console script beside this Python)."""
    script = os.path.join(os.path.dirname(sys.executable), "heron")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "heron"]
    return [*command, "serve", uri, "--port", str(port), *options]


# --- figures --------------------------------------------------------------------------------
def bench_log_model(sizes: h.ServingSizes, workdir: str) -> None:
    import heron

    model, X = h.iris_model()
    n = sizes.log_model_repeats
    h.progress(f"log_model: the iris LogisticRegression, 1 warm-up + {n} timed")
    times = []
    for i in range(n + 1):
        with heron.start_run():
            t0 = time.perf_counter()
            info = heron.log_model(model, "iris", input_example=X[:2])
            elapsed = time.perf_counter() - t0
        if i:
            times.append(elapsed)
    loaded = heron.load_model(info.model_uri)
    if loaded.predict(X[:5]).tolist() != model.predict(X[:5]).tolist():
        raise SystemExit("log_model: the model read back predicts differently")
    h.emit_serving(
        "log_model_s",
        TOOL,
        statistics.median(times),
        "s",
        higher_is_better=False,
        n=n,
        detail={"min_s": min(times), "max_s": max(times), "input_example": "X[:2]"},
    )


def bench_start(sizes: h.ServingSizes, workdir: str) -> None:
    uri, _ = registered_model()
    argv = functools.partial(serve_argv, uri)
    env = dict(os.environ)
    h.measure_start(TOOL, f"heron serve {uri}", argv, env, workdir, sizes.starts, h.server_stack())


def bench_load(sizes: h.ServingSizes, workdir: str) -> None:
    uri, model = registered_model()
    argv = functools.partial(serve_argv, uri)
    h.measure_load(sizes, argv, dict(os.environ), workdir, model.predict, TOOL, h.server_stack())


def bench_batching(sizes: h.ServingSizes, workdir: str) -> None:
    """The concurrent figure without batching, and with batches waiting up to 1 ms to fill:
    the measurements behind the defaults (batching on, no wait)."""
    uri, _ = registered_model()
    one = h.scoring_body([h.IRIS_ROW])
    for figure, options in (
        ("concurrent8_nobatch_req_per_s", ["--batching", "off"]),
        ("concurrent8_wait1ms_req_per_s", ["--batch-timeout-ms", "1"]),
    ):
        port = h.free_port()
        process = h.start_server(serve_argv(uri, port, *options), dict(os.environ), workdir)
        try:
            h.wait_until_answering(process, port, one)
            h.progress(f"batching: {' '.join(options)}")
            result = h.concurrent_requests(
                port,
                one,
                sizes.concurrent_clients,
                sizes.concurrent_requests,
                sizes.warmup_requests,
            )
        finally:
            h.stop_server(process)
        h.progress(f"  {result['req_per_s']:,.0f} req/s, p50 {result['p50_ms']:.3f} ms")
        h.emit(
            figure,
            TOOL,
            result["req_per_s"],
            "req/s",
            higher_is_better=True,
            n=result["requests"],
            detail={**result, "options": " ".join(options), **h.server_stack()},
        )


def bench_kind(kind: str, sizes: h.ServingSizes, workdir: str) -> None:
    """Figures of a model of ``kind`` (see ``_serving_models.py``), registered and served."""
    import heron

    model = sm.model_of(kind)
    with heron.start_run():
        info = heron.log_model(model[0], kind, input_example=model[1], registered_model_name=kind)
    heron.Client().set_model_alias(kind, "champion", info.registered_model_version)
    port = h.free_port()
    process = h.start_server(
        serve_argv(f"models:/{kind}@champion", port), dict(os.environ), workdir
    )
    try:
        h.wait_until_answering(process, port, sm.split_body(model[2], model[3][:1]))
        sm.measure_kind(kind, sizes, port, model, TOOL, h.server_stack())
    finally:
        h.stop_server(process)


def bench_mixed(sizes: h.ServingSizes, workdir: str) -> None:
    uri, _ = registered_model()
    port = h.free_port()
    process = h.start_server(serve_argv(uri, port), dict(os.environ), workdir)
    try:
        h.wait_until_answering(process, port, h.scoring_body([h.IRIS_ROW]))
        sm.measure_mixed(sizes, port, TOOL, h.server_stack(), quick=sizes is h.SERVING_QUICK)
    finally:
        h.stop_server(process)


def bench_inferences(sizes: h.ServingSizes, workdir: str) -> None:
    """What ``--log-inferences`` costs: the model served twice at once, without and with it,
    and bursts of 8 concurrent clients sent to one server then the other, alternating (off,
    on, on, off, …), so that the machine's other load falls on both; the best burst of each
    server is its figure (that load only ever slows a burst). A fresh server per burst would
    leave ~4 s of starting between bursts: far fewer of them in the same time. The cost of
    the background writes stays with the logging server: 20,000 pending rows (every second
    burst or so) wake its writer, within its burst; only the 5 s timer may flush during the
    other's (~1 % of its CPU, measured). Beside it, each server's CPU time per request over
    all its bursts and its exit (its writer thread and last flush in). Then the log is read
    back: one row per request, or the group fails."""
    from heron.monitoring.inferences import read_inferences

    uri, _ = registered_model()
    one = h.scoring_body([h.IRIS_ROW])
    log_dir = os.path.join(workdir, "inference-log")
    options = {"off": [], "on": ["--log-inferences", "--inference-log-uri", log_dir]}
    quick = sizes is h.SERVING_QUICK
    rounds = 1 if quick else INFERENCE_ROUNDS
    clients = sizes.concurrent_clients
    per_client = sizes.concurrent_requests if quick else INFERENCE_REQUESTS
    warmup = min(sizes.warmup_requests, INFERENCE_WARMUP)
    sequential = INFERENCE_SEQUENTIAL
    seq_warmup = sequential // 10
    bursts: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    p50s: dict[str, list[float]] = {"off": [], "on": []}
    order = [m for r in range(rounds) for m in (("off", "on") if r % 2 == 0 else ("on", "off"))]
    h.progress(
        f"inferences: {rounds} burst(s) of each mode, {clients} clients x {per_client} "
        f"requests, then {sequential} sequential; log in {log_dir}"
    )
    servers: dict[str, tuple[int, Any]] = {}
    started_cpu: dict[str, float | None] = {}
    try:
        for mode in ("off", "on"):
            port = h.free_port()
            argv = serve_argv(uri, port, *options[mode])
            servers[mode] = (port, h.start_server(argv, dict(os.environ), workdir))
        for mode, (port, process) in servers.items():
            h.wait_until_answering(process, port, one)
            started_cpu[mode] = process_cpu_s(process.pid)
        for mode in order:
            port = servers[mode][0]
            result = h.concurrent_requests(port, one, clients, per_client, warmup)
            p50 = h.latency_stats(h.time_requests(port, one, sequential, seq_warmup))["p50_ms"]
            bursts[mode].append(result)
            p50s[mode].append(p50)
            h.progress(
                f"  {mode:>3}: {result['req_per_s']:,.0f} req/s (p50 {result['p50_ms']:.3f} ms)"
                f", single client p50 {p50:.3f} ms"
            )
        request_id = check_request_id(servers["on"][0], one, logged=True)
        stats = get_json(servers["on"][0], "/metadata")["server"]["inference_log"]
    finally:
        total_cpu = {}
        for mode, (_, process) in servers.items():
            before = children_cpu_s()
            h.stop_server(process)
            total_cpu[mode] = children_cpu_s() - before  # the whole life of the server
    # requests each server answered after its first: the bursts (with their warm-ups), the
    # sequential ones (with theirs); and for the logging one the request-id check
    served = rounds * (clients * (warmup + per_client) + seq_warmup + sequential)
    cpu_us = {
        mode: (total_cpu[mode] - started_cpu[mode]) / (served + (mode == "on")) * 1e6
        for mode in servers
        if started_cpu.get(mode) is not None
    }

    sent_logged = 1 + served + 1  # the rows the log must hold
    table = read_inferences("iris", log_uri=log_dir)
    files = [
        name
        for _, _, names in os.walk(log_dir)
        for name in names
        if name.endswith(".parquet") and not name.startswith(".")
    ]
    unique_ids = len(set(table.column("request_id").to_pylist()))
    h.progress(
        f"inferences: the log holds {table.num_rows:,} rows in {len(files)} Parquet files "
        f"({unique_ids:,} request ids, {stats['dropped_rows']} dropped); {sent_logged:,} "
        f"requests were sent to the logging server (x-request-id {request_id} answered back)"
    )
    if table.num_rows != sent_logged or unique_ids != sent_logged or stats["dropped_rows"]:
        raise SystemExit(
            f"inferences: the log holds {table.num_rows} rows ({unique_ids} request ids, "
            f"{stats['dropped_rows']} dropped) for {sent_logged} requests"
        )

    best = {mode: max(bursts[mode], key=lambda r: r["req_per_s"]) for mode in bursts}
    rps = {mode: best[mode]["req_per_s"] for mode in bursts}
    cost = 100 * (1 - rps["on"] / rps["off"])
    medians = {mode: statistics.median(r["req_per_s"] for r in bursts[mode]) for mode in bursts}
    stack = h.server_stack()
    for mode in ("off", "on"):
        h.emit(
            f"inferences_concurrent8_{mode}_req_per_s",
            TOOL,
            rps[mode],
            "req/s",
            higher_is_better=True,
            n=best[mode]["requests"],
            detail={
                **best[mode],
                "bursts_req_per_s": [r["req_per_s"] for r in bursts[mode]],
                "median_req_per_s": medians[mode],
                "options": " ".join(options[mode]) or "(none)",
                **stack,
            },
        )
    h.emit(
        "inferences_cost_pct",
        TOOL,
        cost,
        "%",
        higher_is_better=False,
        target=INFERENCE_COST_TARGET_PCT,
        n=rounds,
        detail={
            "measured": "1 - best on / best off, concurrent8 req/s",
            "median_cost_pct": 100 * (1 - medians["on"] / medians["off"]),
            "order": ",".join(order),
            "rows_logged": table.num_rows,
            "files": len(files),
        },
    )
    for mode in ("off", "on"):
        h.emit(
            f"inferences_single_row_p50_{mode}_ms",
            TOOL,
            min(p50s[mode]),
            "ms",
            higher_is_better=False,
            n=sequential,
            detail={"rounds_p50_ms": p50s[mode], "options": " ".join(options[mode]) or "(none)"},
        )
    if len(cpu_us) == 2:
        for mode in ("off", "on"):
            h.emit(
                f"inferences_server_cpu_{mode}_us_per_req",
                TOOL,
                cpu_us[mode],
                "us",
                higher_is_better=False,
                n=served,
                detail={"measured": "CPU time from the first answer to the exit / requests"},
            )
        h.emit(
            "inferences_cpu_cost_pct",
            TOOL,
            100 * (cpu_us["on"] / cpu_us["off"] - 1),
            "%",
            higher_is_better=False,
            n=rounds,
            detail={"measured": "server CPU per request, on / off - 1"},
        )
    cpu = (
        f"; server CPU {cpu_us['off']:.1f} / {cpu_us['on']:.1f} us per request"
        if len(cpu_us) == 2
        else ""
    )
    h.progress(
        f"inferences: off {rps['off']:,.0f} req/s, on {rps['on']:,.0f}, cost {cost:.1f} %{cpu}"
    )


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds of process ``pid`` so far, with its reaped children (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # u, s, cu, cs


def children_cpu_s() -> float:
    """CPU seconds of this process's reaped children (a stopped server's whole life)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_request_id(port: int, body: bytes, logged: bool) -> str | None:
    """Score ``body`` with an ``x-request-id``: a logging server must answer it back."""
    import http.client
    import uuid

    sent = f"bench-{uuid.uuid4().hex[:12]}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/invocations", body, {**h.JSON_HEADERS, "X-Request-Id": sent})
        response = connection.getresponse()
        response.read()
        answered = response.getheader("x-request-id")
    finally:
        connection.close()
    if response.status != 200 or (logged and answered != sent):
        raise SystemExit(f"inferences: {response.status}, x-request-id {answered!r} for {sent!r}")
    return answered


def get_json(port: int, path: str) -> Any:
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


BENCHES = {
    "log_model": bench_log_model,
    "start": bench_start,
    "load": bench_load,
    "batching": bench_batching,
    **{kind: functools.partial(bench_kind, kind) for kind in sm.KINDS},
    "mixed": bench_mixed,
    "inferences": bench_inferences,
}


def main() -> int:
    args = h.parse_args(GROUPS, "Heron's scoring-server benchmarks (issue 4, DESIGN §8).")
    sizes = h.serving_sizes(args.quick)
    if args.worker:
        h.PROFILE = args.profile
        BENCHES[args.worker](sizes, args.workdir)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        uri = "sqlite:///" + os.path.join(workdir, "heron.db")
        return h.clean_env(HERON_HOME=workdir, HERON_TRACKING_URI=uri)

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
