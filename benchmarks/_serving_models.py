"""The models and workloads of the serving figures beyond the array-fitted iris model, shared
by ``serving.py`` (Heron) and ``peers/mlflow_serving.py`` (MLflow) so that both measure the
same thing the same way (issue 8, items 9 and 24):

- ``frame``: iris ``LogisticRegression`` fitted on ``load_iris(as_frame=True)`` (the model
  users have: fitted on a DataFrame, so it knows ``feature_names_in_``), input example
  ``frame.head(2)``;
- ``wine``: the quickstart's wine ``RandomForestClassifier`` (100 trees, ``random_state=7``),
  fitted on arrays with a DataFrame input example (a signature with 13 named columns);
- ``mixed``: the p99 of single-row requests sent one after another while another client
  keeps sending large (about 10 MB) requests: what health checks and small clients see
  while a large request is read.

Requests are ``dataframe_split`` with the model's column names.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import _harness as h

KINDS = ("frame", "wine")
FIGURES = {
    kind: [
        f"{kind}_single_row_sequential_req_per_s",
        f"{kind}_single_row_sequential_p50_ms",
        f"{kind}_concurrent8_req_per_s",
        f"{kind}_large_10k_rows_ms",
    ]
    for kind in KINDS
}
FIGURES["mixed"] = ["small_p99_during_large_ms"]
DESCRIPTION = {
    "frame": "iris LogisticRegression fitted on load_iris(as_frame=True)",
    "wine": "the quickstart's wine RandomForestClassifier (100 trees), DataFrame signature",
}
#: rows of each large request of the mixed figure (about 10 MB of dataframe_split)
MIXED_LARGE_ROWS = 330_000
MIXED_LARGE_ROWS_QUICK = 100_000


def model_of(kind: str) -> tuple[Any, Any, list[str], list[list[float]]]:
    """The fitted model, its input example (a DataFrame), its columns and a pool of rows."""
    if kind == "frame":
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        data = load_iris(as_frame=True)
        model = LogisticRegression(max_iter=1000).fit(data.data, data.target)
        return model, data.data.head(2), list(data.data.columns), data.data.to_numpy().tolist()
    if kind == "wine":
        from sklearn.datasets import load_wine
        from sklearn.ensemble import RandomForestClassifier

        data = load_wine(as_frame=True)
        model = RandomForestClassifier(n_estimators=100, random_state=7)
        model.fit(data.data.to_numpy(), data.target.to_numpy())
        return model, data.data.head(5), list(data.data.columns), data.data.to_numpy().tolist()
    raise ValueError(kind)


def split_body(columns: list[str], rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


def frame_of(columns: list[str], rows: list[list[float]], estimator: Any = None) -> Any:
    """The rows as the model was fitted on them: a DataFrame, or an array (no warning)."""
    if estimator is not None and not hasattr(estimator, "feature_names_in_"):
        import numpy as np

        return np.asarray(rows)
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def measure_kind(
    kind: str, sizes: h.ServingSizes, port: int, model: Any, tool: str, stack: dict[str, str]
) -> None:
    """The sequential, concurrent and large figures of ``model`` (what :func:`model_of`
    returns for ``kind``) served on ``port``."""
    estimator, _, columns, pool = model
    one_row = [pool[0]]
    one = split_body(columns, one_row)
    expected = estimator.predict(frame_of(columns, one_row, estimator)).tolist()
    client = h.ScoringClient(port)
    answer = json.loads(client.post(one))
    client.close()
    if answer != {"predictions": expected}:
        raise SystemExit(f"{kind}: the server answered {answer}, the model {expected}")
    detail = {"model": DESCRIPTION[kind], **stack}

    n = sizes.sequential_requests
    h.progress(f"{kind}: {n:,} single-row requests one after another")
    latencies = h.time_requests(port, one, n, sizes.warmup_requests)
    stats = h.latency_stats(latencies)
    rate = n / sum(latencies)
    h.progress(f"  {rate:,.0f} req/s, p50 {stats['p50_ms']:.3f} ms")
    h.emit(
        f"{kind}_single_row_sequential_req_per_s",
        tool,
        rate,
        "req/s",
        higher_is_better=True,
        target=1_500 if tool == "heron" else None,
        n=n,
        detail={**stats, **detail},
    )
    h.emit(
        f"{kind}_single_row_sequential_p50_ms",
        tool,
        stats["p50_ms"],
        "ms",
        higher_is_better=False,
        n=n,
        detail={**stats, **detail},
    )

    clients, per_client = sizes.concurrent_clients, sizes.concurrent_requests
    h.progress(f"{kind}: {clients} client processes x {per_client:,} single-row requests")
    result = h.concurrent_requests(port, one, clients, per_client, sizes.warmup_requests)
    h.progress(f"  {result['req_per_s']:,.0f} req/s, p50 {result['p50_ms']:.3f} ms")
    h.emit(
        f"{kind}_concurrent8_req_per_s",
        tool,
        result["req_per_s"],
        "req/s",
        higher_is_better=True,
        target=2_000 if tool == "heron" else None,
        n=result["requests"],
        detail={**result, **detail},
    )

    rows = (pool * (sizes.large_rows // len(pool) + 1))[: sizes.large_rows]
    big = split_body(columns, rows)
    client = h.ScoringClient(port)
    got = json.loads(client.post(big))["predictions"]
    if got != estimator.predict(frame_of(columns, rows, estimator)).tolist():
        raise SystemExit(f"{kind}: the large request's predictions differ from the model's")
    h.progress(
        f"{kind}: one {len(rows):,}-row request ({len(big):,} bytes), {sizes.large_repeats}x"
    )
    times = []
    for _ in range(sizes.large_repeats):
        t0 = time.perf_counter()
        client.post(big)
        times.append((time.perf_counter() - t0) * 1000)
    client.close()
    h.progress(f"  median {statistics.median(times):.1f} ms")
    h.emit(
        f"{kind}_large_10k_rows_ms",
        tool,
        statistics.median(times),
        "ms",
        higher_is_better=False,
        target=8 if tool == "heron" else None,
        n=sizes.large_repeats,
        detail={"min_ms": min(times), "max_ms": max(times), "body_bytes": len(big), **detail},
    )


def _large_sender(port: int, body: bytes, stop: Any, out: Any) -> None:
    client = h.ScoringClient(port, timeout=600)
    times = []
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.post(body)
            times.append(time.perf_counter() - t0)
        out.put((times, None))
    except Exception as e:  # reported by the parent
        out.put((times, f"{type(e).__name__}: {e}"))
    finally:
        client.close()


def measure_mixed(
    sizes: h.ServingSizes, port: int, tool: str, stack: dict[str, str], *, quick: bool
) -> None:
    """``small_p99_during_large_ms``: single-row requests one after another while another
    client process sends large requests back to back (the array-fitted iris model)."""
    import multiprocessing

    small = h.scoring_body([h.IRIS_ROW])
    alone = h.latency_stats(h.time_requests(port, small, 500 if not quick else 100, 50))
    large_rows = MIXED_LARGE_ROWS_QUICK if quick else MIXED_LARGE_ROWS
    large = h.scoring_body(h.iris_like_rows(large_rows))
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    sender = context.Process(target=_large_sender, args=(port, large, stop, out))
    n = 300 if quick else 1_500
    h.progress(
        f"mixed: {n:,} single-row requests while {large_rows:,}-row requests "
        f"({len(large) / 1e6:.1f} MB) run back to back"
    )
    sender.start()
    time.sleep(1.0)  # the first large request is on its way
    latencies = h.time_requests(port, small, n, 0)
    stop.set()
    large_times, error = out.get(timeout=1800)
    sender.join()
    if error:
        raise RuntimeError(f"the large-request client failed: {error}")
    stats = h.latency_stats(latencies)
    h.progress(
        f"  small p99 {stats['p99_ms']:.1f} ms (alone {alone['p99_ms']:.2f} ms); "
        f"{len(large_times)} large requests, median {statistics.median(large_times or [0]):.2f} s"
    )
    h.emit(
        "small_p99_during_large_ms",
        tool,
        stats["p99_ms"],
        "ms",
        higher_is_better=False,
        n=n,
        detail={
            **stats,
            "alone": alone,
            "large_rows": large_rows,
            "large_body_bytes": len(large),
            "large_requests": len(large_times),
            "large_median_s": statistics.median(large_times) if large_times else None,
            **stack,
        },
    )
