"""Thinning a long metric history for a chart without hiding its shape.

The history is cut into equal buckets of consecutive points; of each bucket the first, the
last, the minimum and the maximum are kept (each once, in their order). A spike or a dip
therefore survives however long the history, and the first and last points always do.
"""

from __future__ import annotations

from collections.abc import Sequence

from heron.core.entities import Metric


def downsample(points: Sequence[Metric], max_points: int) -> list[Metric]:
    """At most ``max_points`` of ``points`` (in their order): the whole history when it is
    that short, else the first, last, minimum and maximum of each of ``max_points // 4``
    buckets (NaN values count as neither minimum nor maximum)."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    if len(points) <= max_points:
        return list(points)
    keep = downsample_indices([p.value for p in points], max_points)
    return [points[i] for i in keep]


def downsample_indices(values: Sequence[float], max_points: int) -> list[int]:
    """The positions :func:`downsample` keeps of a history with these values, in order.

    Works on a list or an :class:`array.array` of floats without a Python loop per point:
    each bucket's minimum and maximum are found by ``min``/``max`` and ``index`` at C speed."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    n = len(values)
    if n <= max_points:
        return list(range(n))
    if max_points < 4:
        return [0, n - 1] if max_points >= 2 else [n - 1]
    buckets = max_points // 4
    keep: list[int] = []
    for b in range(buckets):
        start = b * n // buckets
        end = (b + 1) * n // buckets
        if start >= end:
            continue
        bucket = values[start:end]
        first = 0
        if bucket[0] != bucket[0]:  # a leading NaN would stick as min() and max()
            first = _first_number(bucket)
        if first < 0:  # only NaNs: the first and the last
            picked = {start, end - 1}
        else:
            # min() and max() skip a NaN that is not first (every comparison with it is
            # false), and index() finds the first point holding the extreme, as a scan would
            rest = bucket[first:] if first else bucket
            low = bucket.index(min(rest), first)
            high = bucket.index(max(rest), first)
            picked = {start, end - 1, start + low, start + high}
        keep.extend(sorted(picked))
    return keep


def _first_number(bucket: Sequence[float]) -> int:
    """The position of the first value that is not NaN, ``-1`` if none."""
    for i, value in enumerate(bucket):
        if value == value:
            return i
    return -1
