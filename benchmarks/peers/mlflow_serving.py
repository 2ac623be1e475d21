"""The workloads of ``benchmarks/serving.py`` with ``mlflow models serve --env-manager local``.

Runs in its own virtualenv (MLflow is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/mlflow/bin/python benchmarks/peers/mlflow_serving.py [--quick] [--only NAME]

Prints one JSON line per figure (``"tool": "mlflow"``) with the same figure names as Heron's
script, measured the same way by the same load generator (``_harness.py``: stdlib
http.client, one keep-alive connection per client, concurrent clients as processes). The model
is the same iris LogisticRegression, logged with ``mlflow.sklearn.log_model`` (input example
``X[:2]``), registered as ``iris`` with alias ``champion`` in a sqlite:/// store, and served as
``models:/iris@champion``. Requests are MLflow's ``dataframe_split`` with the iris column
names (what MLflow's docs show), plus one figure with ``{"inputs": [[...]]}`` (MLflow's
fastest form for this model). ``mlflow models serve`` starts uvicorn as a child process; the
memory figure is the largest process of the tree (uvicorn's), the whole tree in ``detail``.
MLflow's usage telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``), which can only help it.

Groups ``frame``, ``wine`` and ``mixed`` are those of ``serving.py`` (``_serving_models.py``):
the same models logged with ``mlflow.sklearn.log_model`` and served the same way.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h
import _serving_models as sm

h.BENCHMARK = "serving"
TOOL = "mlflow"
GROUPS = ("log_model", "start", "load", *sm.KINDS, "mixed")
FIGURES_OF = {**h.SERVING_FIGURES, **sm.FIGURES}
# MLflow logs the model in about 3.6 s and starts in about 4 s: fewer repetitions.
FULL = h.ServingSizes(log_model_repeats=3, starts=3)
QUICK = h.SERVING_QUICK


def db_uri(workdir: str) -> str:
    return "sqlite:///" + os.path.join(workdir, "mlflow.db")


def registered_model() -> tuple[str, Any]:
    """Log and register the iris model; its URI (``models:/iris@champion``) and the model."""
    import mlflow
    import mlflow.sklearn

    model, X = h.iris_model()
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="iris", input_example=X[:2], registered_model_name="iris"
        )
    mlflow.MlflowClient().set_registered_model_alias(
        "iris", "champion", info.registered_model_version
    )
    return "models:/iris@champion", model


def serve_argv(uri: str, port: int) -> list[str]:
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    return [
        mlflow,
        "models",
        "serve",
        "-m",
        uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def server_env() -> dict[str, str]:
    """This environment, with the virtualenv's bin first on PATH (MLflow runs `uvicorn`)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def server_stack() -> dict[str, str]:
    return h.server_stack(mlflow_version=_version())


def _version() -> str:
    import mlflow

    return mlflow.__version__


# --- figures --------------------------------------------------------------------------------
def bench_log_model(sizes: h.ServingSizes, workdir: str) -> None:
    import mlflow
    import mlflow.sklearn

    model, X = h.iris_model()
    n = sizes.log_model_repeats
    h.progress(f"log_model: the iris LogisticRegression, 1 warm-up + {n} timed")
    times = []
    for i in range(n + 1):
        with mlflow.start_run():
            t0 = time.perf_counter()
            info = mlflow.sklearn.log_model(model, name="iris", input_example=X[:2])
            elapsed = time.perf_counter() - t0
        h.progress(f"  log_model {i}: {elapsed:.3f} s")
        if i:
            times.append(elapsed)
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    if list(loaded.predict(X[:5])) != list(model.predict(X[:5])):
        raise SystemExit("log_model: the model read back predicts differently")
    h.emit_serving(
        "log_model_s",
        TOOL,
        statistics.median(times),
        "s",
        higher_is_better=False,
        n=n,
        detail={"min_s": min(times), "max_s": max(times), "mlflow_version": _version()},
    )


def bench_start(sizes: h.ServingSizes, workdir: str) -> None:
    uri, _ = registered_model()
    argv = functools.partial(serve_argv, uri)
    label = f"mlflow models serve {uri}"
    h.measure_start(TOOL, label, argv, server_env(), workdir, sizes.starts, server_stack())


def bench_load(sizes: h.ServingSizes, workdir: str) -> None:
    uri, model = registered_model()
    argv = functools.partial(serve_argv, uri)
    h.measure_load(sizes, argv, server_env(), workdir, model.predict, TOOL, server_stack())


def bench_kind(kind: str, sizes: h.ServingSizes, workdir: str) -> None:
    import mlflow
    import mlflow.sklearn

    model = sm.model_of(kind)
    # MLflow 3.17 stores scikit-learn models with skops, which refuses tree models unless
    # their node storage is declared trusted when logging (what its error message asks for).
    trusted = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if kind == "wine" else {}
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model[0], name=kind, input_example=model[1], registered_model_name=kind, **trusted
        )
    mlflow.MlflowClient().set_registered_model_alias(
        kind, "champion", info.registered_model_version
    )
    port = h.free_port()
    process = h.start_server(serve_argv(f"models:/{kind}@champion", port), server_env(), workdir)
    try:
        h.wait_until_answering(process, port, sm.split_body(model[2], model[3][:1]))
        sm.measure_kind(kind, sizes, port, model, TOOL, server_stack())
    finally:
        h.stop_server(process)


def bench_mixed(sizes: h.ServingSizes, workdir: str) -> None:
    uri, _ = registered_model()
    port = h.free_port()
    process = h.start_server(serve_argv(uri, port), server_env(), workdir)
    try:
        h.wait_until_answering(process, port, h.scoring_body([h.IRIS_ROW]))
        sm.measure_mixed(sizes, port, TOOL, server_stack(), quick=sizes is QUICK)
    finally:
        h.stop_server(process)


BENCHES = {
    "log_model": bench_log_model,
    "start": bench_start,
    "load": bench_load,
    **{kind: functools.partial(bench_kind, kind) for kind in sm.KINDS},
    "mixed": bench_mixed,
}


def main() -> int:
    args = h.parse_args(GROUPS, "MLflow's figures for the workloads of benchmarks/serving.py.")
    sizes = QUICK if args.quick else FULL
    if args.worker:
        import mlflow

        mlflow.set_tracking_uri(db_uri(args.workdir))
        h.PROFILE = args.profile
        BENCHES[args.worker](sizes, args.workdir)
        return 0
    groups = h.select_groups(GROUPS, args.only, FIGURES_OF)

    def env_for(workdir: str) -> dict[str, str]:
        return h.clean_env(MLFLOW_TRACKING_URI=db_uri(workdir), MLFLOW_DISABLE_TELEMETRY="true")

    failed = h.run_groups(os.path.abspath(__file__), groups, args, env_for)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
