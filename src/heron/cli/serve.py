"""``heron serve MODEL_URI``: the scoring server (see docs/serving.md)."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.options import tracking_uri_option
from heron.cli.output import echo


@click.command()
@click.argument("model_uri")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 makes the server reachable from other machines.",
)
@click.option(
    "--port",
    "-p",
    default=5000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: a free one).",
)
@click.option(
    "--workers",
    "-w",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes, each with its own copy of the model (about one per core).",
)
@click.option(
    "--batching",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="Group concurrent requests into one predict call. auto: on for scikit-learn, "
    "XGBoost and LightGBM models, off for your own predict code (it may not score rows "
    "independently).",
)
@click.option(
    "--batch-max-size",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most rows one batched predict call takes (1 turns batching off).",
)
@click.option(
    "--batch-timeout-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0, max=10_000),
    help="Most a request waits for its batch to fill while requests keep arriving together "
    "(0: never wait; batches still form from requests that arrive during a predict).",
)
@click.option(
    "--max-body-mb",
    default=100.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Largest request body taken; larger ones get 413.",
)
@click.option(
    "--strict-params",
    is_flag=True,
    default=False,
    help="Answer 400 to requests whose params the model's predict does not take (by "
    "default they are ignored, with a Warning header and a log line, as MLflow does).",
)
@click.option(
    "--log-inferences",
    is_flag=True,
    default=False,
    help="Log every request's inputs and predictions (with timestamp, model version and "
    "request id) as Parquet under the artifact root's inferences/ folder, written in the "
    "background: monitors and heron drift read them (docs/monitoring.md).",
)
@click.option(
    "--inference-log-uri",
    default=None,
    metavar="URI",
    help="Where --log-inferences writes (a folder or an fsspec URI such as s3://…; default: "
    "$HERON_INFERENCE_LOG_URI, else <artifact root>/inferences).",
)
@tracking_uri_option
def serve(model_uri: str, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve MODEL_URI over HTTP until interrupted.

    MODEL_URI is models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME, runs:/RUN_ID/NAME or
    an artifact id. POST /invocations (or /predict) takes MLflow's scoring formats
    (dataframe_split, dataframe_records, instances, inputs, text/csv) and answers
    {"predictions": [...]}; GET /health, /ping, /version, /metadata and /docs tell the rest.

    \b
      heron serve models:/iris@champion --port 5000
      curl -s localhost:5000/invocations -H 'Content-Type: application/json' \\
        -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    """
    from heron.core import config
    from heron.serving import server
    from heron.serving.loading import load_served_model, model_summary, resolve_aside
    from heron.serving.settings import ServeSettings

    if options["log_inferences"]:
        from heron.monitoring.inferences import environment_log_uri, log_root, pyarrow_modules

        pyarrow_modules()
        uri = options["inference_log_uri"] or environment_log_uri()
        options["inference_log_uri"] = log_root(config.get_tracking_uri(), uri)
    settings = ServeSettings(
        model_uri=model_uri,
        tracking_uri=config.get_tracking_uri(),
        host=host,
        port=port,
        workers=workers,
        **options,
    )
    resolved = resolve_aside(settings)  # the metadata store is read in a child process…
    if workers == 1:
        server.warm_up()  # … while this one imports what serving needs
    settings = resolved()
    listener = server.listen(host, port)
    model = None
    if workers == 1:
        model = load_served_model(settings)
        flavor, cls, signature = model.flavor, type(model.impl).__name__, model.signature
    else:  # each worker loads the model
        summary = model_summary(settings)
        flavor, cls, signature = summary["flavor"], summary["class"], summary["signature"]
    batching = (
        f"batching up to {settings.batch_max_size} rows"
        if settings.batching_for(flavor)
        else "no batching"
    )
    echo(
        f"Serving {model_uri} ({flavor} {cls}, {describe_signature(signature)}) on "
        f"{listener.url}: {workers} worker{'s' if workers > 1 else ''}, {batching}"
        + (
            f", logging inferences to {settings.inference_log_uri}"
            if settings.log_inferences
            else ""
        )
        + ". "
        "Ctrl+C stops.",
        fg="green",
    )
    server.serve_forever(settings, listener, model)


def describe_signature(signature: Any) -> str:
    """A signature in a few words: ``4 columns: a float64, b str, …`` or
    ``input float64[any, 4]``."""
    from heron.models.signature import TensorSpec

    inputs = getattr(signature, "inputs", None)
    if inputs is None:
        return "no signature"
    if isinstance(inputs, TensorSpec):
        shape = ", ".join("any" if n < 0 else str(n) for n in inputs.shape)
        return f"input {inputs.dtype}[{shape}]"
    shown = ", ".join(f"{c.name} {c.dtype}" for c in inputs[:6])
    more = f", … {len(inputs) - 6} more" if len(inputs) > 6 else ""
    return f"{len(inputs)} columns: {shown}{more}"
