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
GROUPS = ("log_model", "start", "load", "batching", *sm.KINDS, "mixed")
FIGURES_OF = {
    **h.SERVING_FIGURES,
    "batching": ["concurrent8_nobatch_req_per_s", "concurrent8_wait1ms_req_per_s"],
    **sm.FIGURES,
}


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


BENCHES = {
    "log_model": bench_log_model,
    "start": bench_start,
    "load": bench_load,
    "batching": bench_batching,
    **{kind: functools.partial(bench_kind, kind) for kind in sm.KINDS},
    "mixed": bench_mixed,
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
