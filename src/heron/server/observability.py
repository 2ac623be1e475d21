"""What the server tells its operators: ``/metrics`` in Prometheus text format and a
structured (one JSON object per line) access log.

Metrics, by the ``prometheus-client`` library:

- ``heron_server_requests_total{route, method, status}`` and
  ``heron_server_request_duration_seconds{route, method}``: every answered request, by route
  template (``/api/v1/runs/{run_id}``), not by path, so that ids do not explode the series;
- ``heron_server_store_duration_seconds{operation}``: time spent in the metadata store per
  Store method;
- ``heron_server_active_runs``: runs ``running`` now (read from the store at scrape time);
- ``heron_server_artifact_bytes_total{direction}``: artifact bytes uploaded and downloaded.

With several workers every process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set
by ``heron server`` before the workers start) and a scrape, answered by any worker, adds
them up.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

access_log = logging.getLogger("heron.server.access")

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServerMetrics:
    """The server's Prometheus metrics (one set per process)."""

    def __init__(self, active_runs: Callable[[], int]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # with multiprocess files, the samples go to the files, not to a registry
        registry = None if self.multiprocess else CollectorRegistry()
        self._registry = registry
        kwargs: dict[str, Any] = {"registry": registry}
        self.requests = Counter(
            "heron_server_requests",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            **kwargs,
        )
        self.latency = Histogram(
            "heron_server_request_duration_seconds",
            "Time from the request's arrival to its answer, by route template.",
            ["route", "method"],
            buckets=_BUCKETS,
            **kwargs,
        )
        self.store_time = Histogram(
            "heron_server_store_duration_seconds",
            "Time spent in the metadata store, by Store method.",
            ["operation"],
            buckets=_BUCKETS,
            **kwargs,
        )
        self.artifact_bytes = Counter(
            "heron_server_artifact_bytes",
            "Artifact bytes uploaded and downloaded through the server.",
            ["direction"],
            **kwargs,
        )
        self._active_runs = active_runs

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric (all workers' when there are several)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.core import GaugeMetricFamily

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self._registry
        active = GaugeMetricFamily("heron_server_active_runs", "Runs running now.")
        try:
            active.add_metric([], float(self._active_runs()))
        except Exception:  # the store is down: /health says so; the other metrics still count
            logging.getLogger("heron.server").warning("Could not count the active runs")
        body = generate_latest(registry) + generate_latest(_OneShot(active))
        return body, CONTENT_TYPE_LATEST


class _OneShot:
    """A registry-like object that yields one metric family, for ``generate_latest``."""

    def __init__(self, family: Any) -> None:
        self._family = family

    def collect(self) -> Any:
        yield self._family


def log_access(method: str, path: str, status: int, started: float, size: int, client: Any) -> None:
    """One JSON line per answered request on the ``heron.server.access`` logger."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = {
        "time": round(time.time(), 3),
        "method": method,
        "path": path,
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 2),
        "bytes": size,
        "client": f"{client[0]}:{client[1]}" if client else None,
    }
    access_log.info(orjson.dumps(record).decode())
