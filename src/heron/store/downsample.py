"""Thinning a long metric history for a chart without hiding its shape.

The history is cut into equal buckets of consecutive points; of each bucket the first, the
last, the minimum and the maximum are kept (each once, in their order). A spike or a dip
therefore survives however long the history, and the first and last points always do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from heron.core.entities import Metric


def downsample(points: Sequence[Metric], max_points: int) -> list[Metric]:
    """At most ``max_points`` of ``points`` (in their order): the whole history when it is
    that short, else the first, last, minimum and maximum of each of ``max_points // 4``
    buckets (NaN values count as neither minimum nor maximum)."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 4:
        chosen = {0, n - 1} if max_points >= 2 else {n - 1}
        return [points[i] for i in sorted(chosen)]
    buckets = max_points // 4
    keep: list[int] = []
    for b in range(buckets):
        start = b * n // buckets
        end = (b + 1) * n // buckets
        if start >= end:
            continue
        low = high = None
        for i in range(start, end):
            value = points[i].value
            if math.isnan(value):
                continue
            if low is None or value < points[low].value:
                low = i
            if high is None or value > points[high].value:
                high = i
        picked = {start, end - 1}
        if low is not None:
            picked.add(low)
        if high is not None:
            picked.add(high)
        keep.extend(sorted(picked))
    return [points[i] for i in keep]
