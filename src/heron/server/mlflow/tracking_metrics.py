"""MLflow's metric-history routes (``/api/2.0/mlflow/metrics/get-history`` and
``get-history-bulk-interval``) on Heron's metric histories, with MLflow's order, pages and
downsampling."""

from __future__ import annotations

from typing import Any

from heron.core.entities import Metric
from heron.server.auth.permissions import on, viewer
from heron.server.mlflow import convert, errors, search
from heron.server.mlflow import tracking as fields
from heron.server.mlflow.face import Request
from heron.server.mlflow.tracking_runs import _run_id

METRICS = "/api/2.0/mlflow/metrics"
# MLflow's limits (mlflow.server.handlers)
MAX_RUNS_GET_METRIC_HISTORY_BULK = 100
MAX_RESULTS_PER_RUN = 2500
_SEE_DOCS = " See the API docs for more information about request parameters."


def register(face: Any) -> None:
    """Declare the metric-history routes on the MLflow face."""
    face.json_route(
        "GET", f"{METRICS}/get-history", get_metric_history, permission=viewer(on("run", "run_id"))
    )
    face.json_route(
        "GET",
        f"{METRICS}/get-history-bulk-interval",
        get_history_bulk_interval,
        permission=viewer(on("runs", "run_ids")),
    )


# --- metric history ------------------------------------------------------------------------
def _mlflow_order(point: Metric) -> tuple[Any, ...]:
    # MLflow's SQL store keeps a NaN as value 0 with is_nan set
    nan = point.value != point.value
    return (point.timestamp, point.step, 0.0 if nan else point.value, nan)


def get_metric_history(request: Request) -> dict[str, Any]:
    """``metrics/get-history``: every point of one metric, by timestamp, step and value, in
    pages of ``max_results`` when it is given."""
    args = request.args()
    run_id = _run_id(args)
    key = fields.string(args, "metric_key", needed=True)
    max_results = fields.integer(args, "max_results")
    if max_results is not None and max_results <= 0:
        raise errors.invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a "
            "positive integer."
        )
    offset = search.decode_offset_token(fields.string(args, "page_token") or None)
    points = sorted(request.store.get_metric_history(run_id, key), key=_mlflow_order)
    end = len(points) if max_results is None else offset + max_results
    page = points[offset:end]
    answer: dict[str, Any] = {
        "metrics": [
            {**convert.metric_json(key, p.value, p.timestamp, p.step), "run_id": run_id}  # type: ignore[arg-type]
            for p in page
        ]
    }
    if end < len(points):
        answer["next_page_token"] = search.encode_offset_token(end)
    return answer


def sample_points(points: list[Metric], max_results: int) -> list[Metric]:
    """MLflow's downsampling of one run's history: ``max_results`` evenly sized buckets over
    the points ordered by step, timestamp and value (SQL ``NTILE``), the first point of each,
    and the last point always (replacing the last sample when the page is full)."""
    ordered = sorted(points, key=lambda p: (p.step, p.timestamp, *_mlflow_order(p)[2:]))
    total = len(ordered)
    if total == 0:
        return []
    if total <= max_results:
        return ordered
    size, larger = divmod(total, max_results)
    chosen = []
    index = 0
    for bucket in range(max_results):
        chosen.append(ordered[index])
        index += size + (1 if bucket < larger else 0)
    chosen[-1] = ordered[-1]  # the last bucket's first point gives way to the last point
    return chosen


def get_history_bulk_interval(request: Request) -> dict[str, Any]:
    """``metrics/get-history-bulk-interval``: each run's history of one metric, downsampled
    to at most ``max_results`` points (default and maximum 2500), optionally within
    ``[start_step, end_step]``."""
    args = request.args()
    run_ids = fields.string_list(args, "run_ids")
    if not run_ids:
        raise errors.invalid(f"Missing value for required parameter 'run_ids'.{_SEE_DOCS}")
    if len(run_ids) > MAX_RUNS_GET_METRIC_HISTORY_BULK:
        raise errors.invalid(
            "GetMetricHistoryBulkInterval request must specify at most "
            f"{MAX_RUNS_GET_METRIC_HISTORY_BULK} run_ids. Received {len(run_ids)} run_ids."
        )
    key = fields.string(args, "metric_key", needed=True)
    max_results = fields.integer(args, "max_results", MAX_RESULTS_PER_RUN)
    assert max_results is not None
    if not 1 <= max_results <= MAX_RESULTS_PER_RUN:
        raise errors.invalid(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")
    start_step = fields.integer(args, "start_step")
    end_step = fields.integer(args, "end_step")
    if (start_step is None) != (end_step is None):
        raise errors.invalid(
            "If either start step or end step are specified, both must be specified."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise errors.invalid(
            "end_step must be greater than start_step. "
            f"Found start_step={start_step} and end_step={end_step}."
        )
    histories = [(run_id, request.store.get_metric_history(run_id, key)) for run_id in run_ids]
    metrics = []
    for run_id, points in histories:
        if start_step is not None:
            points = [p for p in points if start_step <= p.step <= end_step]  # type: ignore[operator]
        for p in sample_points(points, max_results):
            metrics.append(
                {**convert.metric_json(key, p.value, p.timestamp, p.step), "run_id": run_id}
            )  # type: ignore[arg-type]
    return {"metrics": metrics}
