"""Heron's drift figures (issue 14): ``heron.monitoring.drift`` on generated tables.

    python benchmarks/monitoring.py            # every figure (about a minute)
    python benchmarks/monitoring.py --quick    # small sizes, a smoke test

Evidently's side, on the same tables: ``benchmarks/peers/evidently_drift.py``
(``bash benchmarks/run_peers.sh --monitoring``), ``Report([DataDriftPreset()]).run(current,
reference)``.

* ``drift_report_1000000_rows_s`` and ``drift_report_10000_rows_s``: a current table of
  1,000,000 (or 10,000) rows by 20 numeric and 5 categorical columns (8 categories each)
  against a 100,000-row reference; half the numeric columns and one categorical are shifted.
  Median of 3 timed calls after one untimed one (imports and first-use costs excluded; the
  start-up figure is beside it in ``detail``).
* ``drift_report_1000000_rows_peak_memory_ratio``: the peak resident memory above what the
  process held with the two tables loaded, divided by the tables' size (pandas' deep
  ``memory_usage``), sampled every 10 ms.

Prints one JSON line per figure on stdout; progress on stderr. The first half of this file
(up to "Heron's figures") is shared with the peer's script: standard library, NumPy, pandas
and psutil, no Heron.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import _harness as h
import numpy as np
import pandas as pd

h.BENCHMARK = "monitoring"
REFERENCE_ROWS = 100_000
CURRENT_ROWS = (10_000, 1_000_000)
QUICK_ROWS = (10_000, 100_000)
NUMERIC, CATEGORICAL, CATEGORIES = 20, 5, 8
REPEATS = 3


def make_table(rows: int, seed: int, drifted: bool) -> pd.DataFrame:
    """``rows`` rows: ``n0``…``n19`` (normal; with ``drifted`` the even ones shifted by 0.5
    standard deviations) and ``c0``…``c4`` (8 categories; with ``drifted`` ``c0``'s
    frequencies skewed)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        shift = 0.5 if drifted and i % 2 == 0 else 0.0
        columns[f"n{i}"] = rng.normal(10.0 * i + shift * (1 + i), 1.0 + i, rows)
    levels = np.array([f"level_{k}" for k in range(CATEGORIES)], dtype=object)
    even = np.full(CATEGORIES, 1 / CATEGORIES)
    skewed = np.linspace(1, 3, CATEGORIES)
    skewed /= skewed.sum()
    for i in range(CATEGORICAL):
        probs = skewed if drifted and i == 0 else even
        columns[f"c{i}"] = pd.Series(rng.choice(levels, rows, p=probs), dtype=object)
    return pd.DataFrame(columns)


def table_mb(*tables: pd.DataFrame) -> float:
    return sum(float(t.memory_usage(deep=True).sum()) for t in tables) / 1024 / 1024


class PeakRss:
    """Resident memory of this process sampled every 10 ms in a thread; the peak above the
    level at entry."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = self.before = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.before = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def above_mb(self) -> float:
        return (self.peak - self.before) / 1024 / 1024


def measure(
    tool: str,
    api: str,
    compare: Callable[[pd.DataFrame, pd.DataFrame], Any],
    describe: Callable[[Any], Any],
    quick: bool,
) -> None:
    """Time ``compare(reference, current)`` for each current size and emit the figures;
    ``describe`` says, for the record, what the tool found."""
    reference = make_table(REFERENCE_ROWS, seed=1, drifted=False)
    for rows in QUICK_ROWS if quick else CURRENT_ROWS:
        current = make_table(rows, seed=2, drifted=True)
        h.progress(f"{tool}: {rows:,} current rows against {REFERENCE_ROWS:,}")
        t0 = time.perf_counter()
        first = compare(reference, current)
        first_s = time.perf_counter() - t0
        times = []
        with PeakRss() as memory:
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                compare(reference, current)
                times.append(time.perf_counter() - t0)
        seconds = statistics.median(times)
        data_mb = table_mb(reference, current)
        h.progress(
            f"  {seconds:.3f} s (first call {first_s:.2f} s), peak +{memory.above_mb:.0f} MB"
        )
        detail = {
            "api": api,
            "current_rows": rows,
            "reference_rows": REFERENCE_ROWS,
            "columns": f"{NUMERIC} numeric + {CATEGORICAL} categorical",
            "times_s": times,
            "first_call_s": first_s,
            "data_mb": data_mb,
            "peak_above_data_mb": memory.above_mb,
            "found": describe(first),
        }
        h.emit(
            f"drift_report_{rows}_rows_s", tool, seconds, "s", higher_is_better=False, detail=detail
        )
        if rows == max(QUICK_ROWS if quick else CURRENT_ROWS):
            h.emit(
                f"drift_report_{rows}_rows_peak_memory_ratio",
                tool,
                memory.above_mb / data_mb,
                "x data size",
                higher_is_better=False,
                detail=detail,
            )


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    return parser.parse_args()


# --- Heron's figures ---------------------------------------------------------------------------
def main() -> None:
    args = parse_args("Heron's drift figures")
    from heron.monitoring import drift

    def found(report: Any) -> Any:
        return {"drifted": report.drifted, "columns": report.drifted_columns}

    measure("heron", "heron.monitoring.drift(reference, current)", drift, found, args.quick)


if __name__ == "__main__":
    main()
