"""The metrics of an MLflow log-batch: the fast path for known keys agrees with the checks."""

from __future__ import annotations

import pytest

from heron.core.entities import Metric
from heron.server.mlflow import tracking_runs
from heron.server.mlflow.errors import MlflowError


def _entry(key, value=0.5, timestamp=1, step=0):
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def test_known_keys_and_first_seen_keys_give_the_same_metrics():
    batch = [_entry("acc", 1, 5, 2), _entry("loss", "NaN", 6), _entry("acc", 0.25, 7, 3)]
    first = tracking_runs._batch_metrics(batch)  # checked: "NaN" is a string
    again = tracking_runs._batch_metrics([batch[0], batch[2]])  # fast: known keys, numbers
    assert first[0] == again[0] == Metric("acc", 1.0, 2, 5)
    assert first[2] == again[1] == Metric("acc", 0.25, 3, 7)
    assert first[1].key == "loss" and first[1].value != first[1].value  # NaN


@pytest.mark.parametrize(
    "bad, field",
    [
        (_entry("acc", True), "metrics[1].value"),
        (_entry("acc", 0.5, -1), "metrics[1].timestamp"),
        (_entry("acc", 0.5, 1, "x"), "step"),
        (_entry("../up"), "metrics[1].key"),
        ({"key": ["a"], "value": 1, "timestamp": 1}, "metrics[1].key"),
        ("not an entry", "metrics[1]"),
    ],
)
def test_a_bad_entry_after_known_keys_is_refused_naming_it(bad, field):
    tracking_runs._batch_metrics([_entry("acc")])  # "acc" is a known key now
    with pytest.raises(MlflowError) as refused:
        tracking_runs._batch_metrics([_entry("acc"), bad])
    assert refused.value.status == 400
    assert field in refused.value.message
