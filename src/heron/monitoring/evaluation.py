"""One evaluation of a monitor: a run of kind ``monitor``.

The model URI is resolved now (an alias is followed as it moves; the version covered is
recorded), the reference is found (:mod:`heron.monitoring.reference`), the window of logged
inferences ending at the evaluation's time is read, and both are compared column by column,
the prediction included: the reference's predictions are the model's own on its training data.
The run records per-column metrics, the data-quality findings, a JSON and an HTML report; when
the data drifted it writes a version of the monitor's alert artifact (which starts the
retraining schedule) and POSTs the webhook.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from heron.core.entities import INPUT, KIND_MONITOR
from heron.core.errors import InvalidArgument, NotFound
from heron.monitoring.comparison import DriftReport, drift
from heron.monitoring.inferences import FLUSH_SECONDS, as_utc
from heron.monitoring.monitors import MonitorSpec, get_monitor
from heron.monitoring.quality import QualityIssue, check_window
from heron.monitoring.reference import Reference, find_reference, load_table, model_signature

log = logging.getLogger(__name__)

TAG_MONITOR = "heron.monitor"
TAG_STATUS = "heron.monitor.status"
TAG_MODEL_VERSION = "heron.monitor.model_version"
PREDICTION = "prediction"
#: How long after its window's end a scheduled evaluation reads the log: one flush and a margin.
SETTLE_SECONDS = FLUSH_SECONDS + 1.0
#: statuses of an evaluation
DRIFTED, NO_DRIFT, NOT_EVALUATED = "drifted", "no drift", "not evaluated"


@dataclass
class Evaluation:
    """The outcome of one evaluation, as its run records it."""

    monitor: str
    run_id: str
    model_uri: str
    model_version: str | None
    reference: Reference
    report: DriftReport
    issues: list[QualityIssue]
    window_start: dt.datetime
    window_end: dt.datetime
    notes: list[str] = field(default_factory=list)
    actions: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.report.evaluated:
            return NOT_EVALUATED
        return DRIFTED if self.report.drifted else NO_DRIFT

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "run_id": self.run_id,
            "status": self.status,
            "model_uri": self.model_uri,
            "model_version": self.model_version,
            "reference": {
                "artifact_id": self.reference.artifact.id,
                "name": self.reference.artifact.name,
                "version": self.reference.artifact.version,
                "how": self.reference.how,
                "run_id": self.reference.run_id,
            },
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "report": self.report.to_dict(),
            "quality": [issue.to_dict() for issue in self.issues],
            "notes": self.notes,
            "actions": self.actions,
        }


def evaluate(
    monitor: str | MonitorSpec,
    *,
    at: dt.datetime | None = None,
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
    store: Any = None,
) -> Evaluation:
    """Evaluate ``monitor`` (a name, or a definition) over the window ending ``at`` (default:
    the scheduled run's logical time, else now), as a new run of kind ``monitor``.

    >>> heron.monitoring.evaluate("wine-drift").status  # doctest: +SKIP
    'no drift'
    """
    from heron.store.registry import get_store
    from heron.tracking.fluent import experiment_id_for, start_run
    from heron.tracking.run_context import run_facts

    store = store or get_store()
    spec = get_monitor(monitor, store).spec if isinstance(monitor, str) else monitor
    end = as_utc(at) if at is not None else _window_end()
    start = end - dt.timedelta(seconds=spec.window)
    run_tags = {TAG_MONITOR: spec.name, "heron.monitor.model_uri": spec.model, **(tags or {})}
    run = store.create_run(
        experiment_id_for(store, spec.experiment_name),
        run_id=run_id,
        name=f"{spec.name} {end:%Y-%m-%d %H:%M}",
        kind=KIND_MONITOR,
        tags=run_tags,
        **run_facts(),
    )
    with start_run(run_id=run.id):
        return _evaluate(store, spec, run.id, start, end)


def _evaluate(
    store: Any, spec: MonitorSpec, run_id: str, start: dt.datetime, end: dt.datetime
) -> Evaluation:
    import heron
    from heron.models.uris import resolve
    from heron.monitoring.inferences import logged_model_of

    heron.log_params(
        {
            "model_uri": spec.model,
            "window_seconds": spec.window,
            "drift_share": spec.drift_share,
            "min_rows": spec.min_rows,
        }
    )
    resolved = resolve(store, spec.model)
    logged = logged_model_of(resolved)
    heron.set_tags(
        {
            TAG_MODEL_VERSION: logged.version,
            "heron.monitor.window_start": start.isoformat(),
            "heron.monitor.window_end": end.isoformat(),
        }
    )
    store.link_artifact(run_id, resolved.artifact.id, INPUT, "model")
    reference = find_reference(store, resolved.artifact, spec.reference)
    store.link_artifact(run_id, reference.artifact.id, INPUT, "reference")
    heron.set_tag("heron.monitor.reference", reference.describe())
    signature = model_signature(resolved.artifact)
    frame = _as_frame(load_table(reference.artifact), signature)
    notes: list[str] = []
    current = _window(logged, start, end, spec, notes)
    inputs = [c for c in current.column_names if not _is_meta(c)]
    compared = _compared(spec, signature, frame, inputs, current.num_rows, reference)
    prediction = None
    outputs = [c for c in current.column_names if c.startswith(PREDICTION + "_")]
    if current.num_rows and PREDICTION not in current.column_names and outputs:
        notes.append(
            f"prediction drift not evaluated: the model gives {len(outputs)} outputs per row "
            f"({', '.join(outputs[:5])}); prediction drift compares a single output"
        )
    if current.num_rows and PREDICTION in current.column_names:
        prediction = _reference_predictions(spec, resolved, logged, frame, signature, notes)
        if prediction is not None:
            frame = frame.assign(**{PREDICTION: prediction})
    chosen = compared + ([PREDICTION] if prediction is not None else [])
    present = [c for c in chosen if c in current.column_names]
    report = drift(
        frame,
        current.select(present),
        compared,
        prediction=PREDICTION if prediction is not None else None,
        methods={k: v for k, v in spec.methods.items() if k in chosen},
        thresholds={k: v for k, v in spec.thresholds.items() if k in chosen},
        drift_share=spec.drift_share,
        min_rows=spec.min_rows,
    )
    issues = check_window(signature, current, report, inputs=inputs)
    evaluation = Evaluation(
        spec.name,
        run_id,
        spec.model,
        logged.version,
        reference,
        report,
        issues,
        start,
        end,
        notes,
    )
    _record(spec, evaluation, frame, current)
    return evaluation


def _window_end() -> dt.datetime:
    from heron.scheduling.context import context

    moment = context()
    if not moment.scheduled:
        return dt.datetime.now(dt.UTC)
    end = as_utc(moment.logical_time)
    # Rows served just before the window's end reach the log up to one flush later: a tick
    # that fires on time waits for them, so every row falls into exactly one window.
    settle = (end - dt.datetime.now(dt.UTC)).total_seconds() + SETTLE_SECONDS
    if settle > 0:
        time.sleep(min(settle, SETTLE_SECONDS))
    return end


def _is_meta(name: str) -> bool:
    from heron.monitoring.inferences import META_COLUMNS

    return name in META_COLUMNS or name == PREDICTION or name.startswith(PREDICTION + "_")


def _window(
    logged: Any, start: dt.datetime, end: dt.datetime, spec: MonitorSpec, notes: list[str]
) -> Any:
    from heron.monitoring.inferences import read_inferences

    try:
        return read_inferences(
            logged.name, logged.version, since=start, until=end, log_uri=spec.inference_log_uri
        )
    except NotFound as e:
        import pyarrow as pa

        notes.append(e.message)
        return pa.table({})


def _as_frame(value: Any, signature: Any) -> Any:
    """The reference as a DataFrame, columns named as the inference log names them."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value
    if hasattr(value, "to_pandas") and hasattr(value, "schema"):
        return value.to_pandas()
    array = np.asarray(value)
    if array.ndim != 2:
        raise InvalidArgument(
            f"The reference is a {array.ndim}-D array; a reference is a table (a DataFrame, "
            "an Arrow table or a 2-D array)."
        )
    names = signature.columns if signature is not None else None
    if not names or len(names) != array.shape[1]:
        names = [f"input_{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def _compared(
    spec: MonitorSpec,
    signature: Any,
    frame: Any,
    inputs: list[str],
    rows: int,
    reference: Reference,
) -> list[str]:
    have = [str(c) for c in frame.columns]
    if spec.columns:
        missing = [c for c in spec.columns if c not in have]
        if missing:
            raise InvalidArgument(
                f"The monitor compares {', '.join(missing)}, which the reference "
                f"{reference.describe()} does not have (it has {', '.join(have[:20])})."
            )
        return list(spec.columns)
    model_columns = signature.columns if signature is not None else None
    if model_columns:
        shared = [c for c in model_columns if c in have]
    elif not rows:
        return [c for c in have if c != PREDICTION]
    else:
        shared = [c for c in inputs if c in have]
    if not shared and (rows or model_columns):
        if model_columns:
            raise InvalidArgument(
                f"The model takes the columns {', '.join(model_columns[:20])}; the reference "
                f"{reference.describe()} has {', '.join(have[:20])}: none in common. Give the "
                "right reference (--reference)."
            )
        raise InvalidArgument(
            f"The logged rows have the columns {', '.join(inputs[:20]) or 'none'}; the "
            f"reference {reference.describe()} has {', '.join(have[:20])}: none in common. "
            "Give the right reference (--reference) or the columns to compare (--columns)."
        )
    return shared


def _reference_predictions(
    spec: MonitorSpec,
    resolved: Any,
    logged: Any,
    frame: Any,
    signature: Any,
    notes: list[str],
) -> Any:
    """The model's predictions on the reference, or ``None`` (with a note) when it cannot
    give them."""
    import numpy as np

    from heron.models.loading import load_model

    names = signature.columns if signature is not None else None
    lacking = [n for n in names or () if n not in frame.columns]
    if lacking:
        notes.append(
            f"prediction drift not evaluated: the reference lacks the model's inputs "
            f"{', '.join(lacking[:10])}, so the model cannot score it"
        )
        return None
    try:
        model = load_model(resolved.artifact.id)
        if names:
            features = frame[names]
        else:
            features = frame[[c for c in frame.columns if c.startswith("input_")]].to_numpy()
        predicted = np.asarray(model.predict(features))
    except Exception as e:  # any model's own failure: prediction drift is left out, said why
        notes.append(
            f"prediction drift not evaluated: the model could not score the reference "
            f"({type(e).__name__}: {str(e)[:300]})"
        )
        return None
    if predicted.ndim != 1 or len(predicted) != len(frame):
        notes.append(
            f"prediction drift not evaluated: the model gives {predicted.shape} values for "
            f"{len(frame)} reference rows, not one per row"
        )
        return None
    return predicted


def _record(spec: MonitorSpec, evaluation: Evaluation, frame: Any, current: Any) -> None:
    import heron
    from heron.monitoring import html_report

    report = evaluation.report
    metrics = report.metrics()
    metrics["quality.errors"] = float(sum(i.severity == "error" for i in evaluation.issues))
    metrics["quality.warnings"] = float(sum(i.severity == "warning" for i in evaluation.issues))
    heron.log_metrics(metrics)
    tags = {TAG_STATUS: evaluation.status}
    if report.drifted_columns:
        tags["heron.monitor.drifted_columns"] = ", ".join(report.drifted_columns)[:4000]
    if not report.evaluated:
        tags["heron.monitor.reason"] = str(report.reason)[:4000]
    heron.set_tags(tags)
    if evaluation.status == DRIFTED:
        _act(spec, evaluation)
    facts = [
        f"Model {evaluation.model_uri} (version {evaluation.model_version})",
        f"Window {evaluation.window_start:%Y-%m-%d %H:%M} to "
        f"{evaluation.window_end:%Y-%m-%d %H:%M} UTC: {report.n_current:,} rows",
        f"Reference {evaluation.reference.describe()}: {report.n_reference:,} rows",
        *evaluation.notes,
        *(f"{name}: {outcome}" for name, outcome in evaluation.actions.items()),
    ]
    page = html_report.render(
        report,
        frame,
        current,
        title=f"Monitor {spec.name}: {evaluation.status}",
        facts=facts,
        issues=evaluation.issues,
    )
    heron.log_text(page, f"monitors/{spec.name}/report.html")
    heron.log_dict(evaluation.to_dict(), f"monitors/{spec.name}/report.json")


def _act(spec: MonitorSpec, evaluation: Evaluation) -> None:
    """The actions on drift: the alert artifact (which starts the retraining schedule), the
    webhook; each outcome recorded on the run, none failing it."""
    import heron
    from heron.monitoring import webhooks

    report = evaluation.report
    alert = {
        "monitor": spec.name,
        "run_id": evaluation.run_id,
        "model_uri": spec.model,
        "model_version": evaluation.model_version,
        "share_drifted": report.share_drifted,
        "drifted_columns": report.drifted_columns,
        "window_start": evaluation.window_start.isoformat(),
        "window_end": evaluation.window_end.isoformat(),
    }
    version = heron.log_dict(alert, spec.alert_artifact)
    evaluation.actions["alert"] = f"{spec.alert_artifact}:{version.version} written"
    if spec.retrain:
        evaluation.actions["retrain"] = (
            f"schedule {spec.retrain_schedule} starts {spec.retrain} (on the alert's new version)"
        )
    if spec.webhook:
        outcome = webhooks.post(spec.webhook, {"event": "drift", **alert})
        evaluation.actions["webhook"] = outcome
        if not outcome.startswith("delivered"):
            log.warning("monitor %s: webhook %s: %s", spec.name, spec.webhook, outcome)
    heron.set_tags({f"heron.monitor.action.{k}": v[:4000] for k, v in evaluation.actions.items()})


def run_scheduled(spec: dict[str, Any]) -> int:
    """The evaluation a scheduler's tick started (``heron.scheduling.child``): 0 done, 1 it
    failed, 3 a run with its id exists already."""
    import sys

    from heron.core.errors import AlreadyExists, HeronError
    from heron.scheduling.context import TAG_SCHEDULE

    try:
        evaluation = evaluate(spec["tags"][TAG_SCHEDULE], run_id=spec["run_id"], tags=spec["tags"])
    except AlreadyExists:
        print(f"run {spec['run_id']} exists already: not started twice", file=sys.stderr)
        return 3
    except HeronError as e:
        print(f"monitor evaluation failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"monitor {evaluation.monitor}: {evaluation.status} (run {evaluation.run_id})")
    return 0


def evaluation_runs(monitor: str, store: Any = None, max_results: int = 100) -> list[Any]:
    """The evaluation runs of ``monitor``, newest first."""
    from heron.store.registry import get_store

    store = store or get_store()
    quoted = monitor.replace("'", "''")
    return list(
        store.search_runs(
            filter_string=(
                f"attributes.kind = '{KIND_MONITOR}' and tags.`{TAG_MONITOR}` = '{quoted}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=max_results,
        )
    )


def stored_report(run: Any, kind: str = "json", store: Any = None) -> Any:
    """What an evaluation run stored: its JSON report as a dict (``kind="json"``) or its HTML
    report's text (``kind="html"``)."""
    from heron.models.uris import artifact_of_run
    from heron.store.registry import get_store

    store = store or get_store()
    monitor = run.tags.get(TAG_MONITOR)
    if monitor is None:
        raise InvalidArgument(f"Run {run.id} is not a monitor's evaluation (kind {run.kind}).")
    try:
        artifact = artifact_of_run(store, run.id, f"monitors/{monitor}/report.{kind}")
    except NotFound:
        raise NotFound(
            f"Evaluation {run.id} of monitor {monitor!r} stored no report (it ended "
            f"{run.status}{': ' + run.status_reason if run.status_reason else ''})."
        ) from None
    value = artifact.load()
    if kind == "html" and artifact.materializer != "file.text":  # a file: its path
        from pathlib import Path

        return Path(value).read_text(encoding="utf-8")
    return value
