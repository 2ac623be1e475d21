"""Metric histories read as packed arrays: ordering, step windows and thinning give exactly
what sorting every point, cutting the window and :func:`downsample` give."""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_left, bisect_right

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core.entities import Metric
from heron.core.errors import InvalidArgument
from heron.store.downsample import downsample, downsample_indices
from heron.store.sql.chunks import in_order, pack_series, read_series


def reference_downsample(points, max_points):
    """The bucket scan :func:`downsample` was first written as (one Python step per point)."""
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 4:
        chosen = {0, n - 1} if max_points >= 2 else {n - 1}
        return [points[i] for i in sorted(chosen)]
    buckets = max_points // 4
    keep = []
    for b in range(buckets):
        start, end = b * n // buckets, (b + 1) * n // buckets
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
        picked = {start, end - 1} | {i for i in (low, high) if i is not None}
        keep.extend(sorted(picked))
    return [points[i] for i in keep]


def same(a, b):
    """Equal point lists (NaN equal to NaN, -0.0 told from 0.0)."""
    return [tuple(map(repr, p)) for p in a] == [tuple(map(repr, p)) for p in b]


values_strategy = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, 1.0, float("nan"), float("inf"), float("-inf")]),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(values=values_strategy, max_points=st.integers(1, 120))
def test_downsample_indices_keep_what_the_bucket_scan_keeps(values, max_points):
    points = [Metric("m", v, i, i) for i, v in enumerate(values)]
    expected = reference_downsample(points, max_points)
    assert same(downsample(points, max_points), expected)
    for sequence in (values, array("d", values)):
        kept = [points[i] for i in downsample_indices(sequence, max_points)]
        assert same(kept, expected)


def test_buckets_starting_with_nan_or_holding_only_nan():
    values = [math.nan] * 10 + [3.0, math.nan, -1.0, 7.0] + [math.nan] * 10
    points = [Metric("m", v, i, i) for i, v in enumerate(values)]
    for max_points in (4, 8, 12, 16, 20):
        assert same(downsample(points, max_points), reference_downsample(points, max_points))
    with pytest.raises(ValueError):
        downsample_indices(values, 0)


def sort_reference(chunks):
    points = [p for chunk in chunks for p in chunk]
    return sorted(points, key=lambda p: (p[0], p[1]))


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.lists(
            st.tuples(st.integers(-3, 6), st.integers(0, 4), st.integers(0, 1_000)),
            min_size=1,
            max_size=12,
        ),
        max_size=5,
    )
)
def test_read_series_orders_by_step_then_time_keeping_the_logged_order_of_ties(chunks):
    rows = [pack_series("m", *map(list, zip(*chunk))) for chunk in chunks]
    steps, timestamps, values = read_series(rows)
    expected = sort_reference(chunks)
    assert list(zip(steps, timestamps, map(int, values))) == expected


@pytest.mark.parametrize(
    ("steps", "timestamps", "ordered"),
    [
        ([], [], True),
        ([5], [1], True),
        ([0, 1, 2, 3], [9, 1, 5, 0], True),  # steps rise by one: timestamps do not matter
        ([0, 0, 0], [1, 2, 2], True),  # one step, time rising
        ([0, 0, 0], [1, 3, 2], False),
        ([0, 5, 9], [7, 3, 1], True),  # distinct steps
        ([0, 0, 5, 5], [4, 4, 9, 1], False),
        ([0, 0, 5, 5], [4, 9, 1, 2], True),  # time falls between steps, rises within them
        ([1, 0], [0, 1], False),
    ],
)
def test_in_order(steps, timestamps, ordered):
    assert in_order(array("q", steps), array("q", timestamps)) is ordered


# --- SqlStore.get_metric_history -------------------------------------------------------------


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


def log_history(store, batches):
    experiment = store.create_experiment("history")
    run = store.create_run(experiment.id)
    for batch in batches:
        store.log_batch(run.id, batch)
    return run.id


def window(points, low, high):
    start = 0 if low is None else bisect_left(points, low, key=lambda p: p.step)
    end = len(points) if high is None else bisect_right(points, high, key=lambda p: p.step)
    return points[start:end]


def test_windows_and_thinning_match_the_full_history(store):
    rng = random.Random(7)
    batches = []
    for b in range(6):  # overlapping, out of order, with ties, NaN and infinities
        batch = []
        for _ in range(400):
            step = rng.randint(0, 1_500)
            value = rng.choice([rng.random(), rng.random(), math.nan, math.inf, -0.0])
            batch.append(Metric("m", value, step, rng.randint(0, 3)))
        if b == 3:
            batch.sort(key=lambda p: p.step)
        batches.append(batch)
    run_id = log_history(store, batches)
    full = store.get_metric_history(run_id, "m")
    assert [(p.step, p.timestamp) for p in full] == sorted((p.step, p.timestamp) for p in full)
    assert len(full) == 2_400
    for low, high in [(None, None), (100, None), (None, 900), (300, 700), (800, 200), (5, 5)]:
        part = window(full, low, high)
        got = store.get_metric_history(run_id, "m", min_step=low, max_step=high)
        assert same(got, part)
        for max_points in (1, 2, 3, 4, 50, 203, 10_000):
            thin = store.get_metric_history(
                run_id, "m", max_points=max_points, min_step=low, max_step=high
            )
            assert same(thin, downsample(part, max_points))


def test_an_ordered_history_is_returned_as_logged(store):
    points = [Metric("m", float(i % 17), i // 3, 1_000 + i) for i in range(3_000)]
    run_id = log_history(store, [points[:1_000], points[1_000:]])
    assert store.get_metric_history(run_id, "m") == points
    thin = store.get_metric_history(run_id, "m", max_points=100)
    assert thin == downsample(points, 100)


def test_max_points_below_one_is_refused(store):
    run_id = log_history(store, [[Metric("m", 1.0, 0, 0)]])
    with pytest.raises(InvalidArgument, match="max_points"):
        store.get_metric_history(run_id, "m", max_points=0)
    assert store.get_metric_history(run_id, "missing", max_points=5) == []
