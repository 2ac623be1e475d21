"""heron.monitoring.drift on generated data of known drift: each method detects what it
should and not what it should not (false alarms counted over repeated no-drift samples), the
method follows the column's kind and the reference's size, and bad input gets a clear error or
a column marked "not evaluated", never a crash or a false alarm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

import heron.monitoring as monitoring
from heron.core.errors import InvalidArgument
from heron.monitoring import drift
from heron.monitoring import statistics as st


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (2, 7), (7, 3), (100, 1000), (1001, 37), (64, 64), (5000, 4999)]
)
def test_the_wasserstein_distance_is_scipys(n, m):
    rng = _rng(n * 31 + m)
    u = np.sort(rng.normal(size=n) * 3)
    v = np.sort(rng.exponential(size=m))
    assert st.wasserstein(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9)
    assert st.wasserstein(u, u) == 0.0


def _frame(rng, n, shift=0.0, cats=("a", "b", "c"), probs=None):
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "colour": rng.choice(list(cats), n, p=probs),
        }
    )


@pytest.mark.parametrize(
    ("rows", "numeric", "categorical"),
    [(500, "ks", "chisquare"), (5000, "wasserstein", "jensenshannon")],
)
def test_the_method_follows_the_reference_size(rows, numeric, categorical):
    rng = _rng(1)
    report = drift(_frame(rng, rows), _frame(rng, rows))
    assert report.columns["x"].method == numeric
    assert report.columns["colour"].method == categorical
    assert report.columns["x"].kind == "numeric"
    assert report.columns["colour"].kind == "categorical"


@pytest.mark.parametrize("rows", [500, 5000])
def test_a_shifted_mean_and_changed_frequencies_are_detected(rows):
    rng = _rng(2)
    reference = _frame(rng, rows)
    current = _frame(rng, rows, shift=0.5, probs=[0.6, 0.3, 0.1])
    report = drift(reference, current)
    assert report.columns["x"].drifted and report.columns["colour"].drifted
    assert report.drifted and report.share_drifted == 1.0
    assert report.drifted_columns == ["x", "colour"]


def test_a_small_shift_is_below_the_distance_threshold_but_a_large_one_is_not():
    rng = _rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 20_000)})
    small = drift(reference, pd.DataFrame({"x": rng.normal(0.03, 1, 20_000)})).columns["x"]
    large = drift(reference, pd.DataFrame({"x": rng.normal(0.3, 1, 20_000)})).columns["x"]
    assert not small.drifted and small.statistic < 0.1
    assert large.drifted and large.statistic == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("rows", [300, 5000])
def test_false_alarms_stay_at_the_rate_the_threshold_promises(rows):
    """Repeated samples of one distribution: the tests (p < 0.05) alarm about 5 % of the
    time, the distances (large samples) essentially never."""
    rng = _rng(4)
    repeats = 200 if rows <= 1000 else 40
    alarms = {"x": 0, "colour": 0, "flag": 0, "data set": 0}
    for _ in range(repeats):
        a, b = _frame(rng, rows), _frame(rng, rows // 2 + 100)
        a["flag"] = rng.choice(["yes", "no"], len(a))
        b["flag"] = rng.choice(["yes", "no"], len(b))
        report = drift(a, b)
        for name in ("x", "colour", "flag"):
            alarms[name] += report.columns[name].drifted
        alarms["data set"] += report.drifted
    rates = {name: count / repeats for name, count in alarms.items()}
    limit = 0.1 if rows <= 1000 else 0.0
    assert all(rate <= limit for rate in rates.values()), rates
    if rows <= 1000:
        assert report.columns["flag"].method == "z"


def test_few_distinct_numbers_and_booleans_are_categories():
    rng = _rng(5)
    reference = pd.DataFrame({"grade": rng.integers(1, 4, 2000), "ok": rng.random(2000) < 0.5})
    current = pd.DataFrame({"grade": rng.integers(1, 4, 2000), "ok": rng.random(2000) < 0.9})
    report = drift(reference, current)
    assert report.columns["grade"].kind == "categorical"
    assert not report.columns["grade"].drifted
    assert report.columns["ok"].kind == "categorical" and report.columns["ok"].drifted


def test_methods_thresholds_and_forced_categories_override_the_defaults():
    rng = _rng(6)
    reference = _frame(rng, 3000)
    current = _frame(rng, 3000, shift=0.2)
    report = drift(
        reference,
        current,
        methods={"x": "ks", "colour": "psi"},
        thresholds={"colour": 0.5},
    )
    assert report.columns["x"].method == "ks" and report.columns["x"].drifted
    assert report.columns["x"].p_value == report.columns["x"].statistic < 0.05
    assert report.columns["colour"].method == "psi" and not report.columns["colour"].drifted
    assert report.columns["colour"].threshold == 0.5
    ints = pd.DataFrame({"code": rng.integers(0, 50, 3000)})
    forced = drift(ints, ints.sample(frac=1.0, random_state=0), categorical=["code"])
    assert forced.columns["code"].kind == "categorical"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": {"x": "magic"}}, "Unknown drift method 'magic'"),
        ({"methods": {"nope": "ks"}}, "methods names column 'nope'"),
        ({"methods": {"colour": "ks"}}, "is categorical: use one of"),
        ({"methods": {"colour": "z"}}, "has 3 categories: the z test compares two"),
        ({"thresholds": {"x": -1}}, "must be a positive number"),
        ({"thresholds": {"x": "high"}}, "must be a positive number"),
        ({"drift_share": 0}, r"drift_share must be a number in \(0, 1\]"),
        ({"drift_share": 1.5}, r"drift_share must be a number in \(0, 1\]"),
        ({"columns": ["x", "missing"]}, "Column 'missing' is not in the reference"),
        ({"columns": "x"}, "columns must be a list of names"),
        ({"prediction": "score"}, "The prediction column 'score' is not in the reference"),
        ({"min_rows": 0}, "min_rows must be a positive integer"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, match):
    rng = _rng(7)
    with pytest.raises(InvalidArgument, match=match):
        drift(_frame(rng, 100), _frame(rng, 100), **kwargs)


def test_a_window_with_too_few_rows_is_not_evaluated_and_never_alarms():
    rng = _rng(8)
    reference = _frame(rng, 1000)
    for rows in (0, 5):
        report = drift(reference, _frame(rng, rows, shift=5.0))
        assert not report.evaluated and not report.drifted
        assert f"has {rows} row" in report.reason and "at least 30" in report.reason
        assert all(not c.evaluated for c in report.columns.values())
        assert "not evaluated" in repr(report)
    assert drift(reference, _frame(rng, 5, shift=5.0), min_rows=5).drifted


def test_a_reference_without_rows_is_an_error():
    with pytest.raises(InvalidArgument, match="The reference has no rows"):
        drift(pd.DataFrame({"x": []}), pd.DataFrame({"x": [1.0, 2.0]}))


def test_columns_that_cannot_be_compared_are_marked_and_do_not_count():
    rng = _rng(9)
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=500),
            "gone": rng.normal(size=500),
            "typed": rng.normal(size=500),
            "words": rng.choice(["a", "b", "c"], 500),
            "empty": np.full(500, np.nan),
        }
    )
    current = pd.DataFrame(
        {
            "x": rng.normal(size=400),
            "typed": rng.choice(["low", "high"], 400),
            "words": rng.normal(size=400),
            "empty": rng.normal(size=400),
            "extra": rng.normal(size=400),
        }
    )
    report = drift(reference, current)
    assert report.not_evaluated == {
        "gone": "missing from the current data",
        "typed": "numbers in the reference, text in the current data",
        "words": "text in the reference, numbers in the current data",
        "empty": "no values in the reference (all missing)",
    }
    assert report.columns["empty"].missing_share_reference == 1.0
    assert report.ignored_columns == ["extra"]
    assert report.columns["x"].evaluated and not report.drifted
    assert report.share_drifted == 0.0  # of the one evaluated column
    all_missing = drift(reference[["x"]], pd.DataFrame({"x": np.full(100, np.nan)}))
    assert not all_missing.evaluated and not all_missing.drifted
    assert all_missing.not_evaluated == {"x": "no values in the current data (all missing)"}


def test_missing_values_out_of_range_values_and_unseen_categories_are_measured():
    rng = _rng(10)
    reference = pd.DataFrame(
        {"x": rng.uniform(0, 1, 2000), "colour": rng.choice(["red", "blue"], 2000)}
    )
    reference.loc[:1, "x"] = [0.0, 1.0]  # the range is [0, 1]
    x = rng.uniform(0, 1, 1000)
    x[:100] = np.nan
    x[100:150] = 5.0
    colour = rng.choice(["red", "blue"], 1000).astype(object)
    colour[:30] = "green"
    colour[30:80] = None
    report = drift(reference, pd.DataFrame({"x": x, "colour": colour}))
    column = report.columns["x"]
    assert column.missing_share_current == pytest.approx(0.1)
    assert column.out_of_range_share == pytest.approx(50 / 900)
    assert column.n_current == 900
    colours = report.columns["colour"]
    assert colours.missing_share_current == pytest.approx(0.05)
    assert colours.unseen_share == pytest.approx(30 / 950)
    assert colours.unseen_categories == ["green"]


def test_frames_tables_arrays_and_mappings_give_the_same_report():
    rng = _rng(11)
    a, b = rng.normal(size=(800, 3)), rng.normal(0.4, 1, size=(700, 3))
    names = ["0", "1", "2"]
    as_frame = drift(pd.DataFrame(a, columns=names), pd.DataFrame(b, columns=names))
    as_table = drift(
        pa.table({n: a[:, i] for i, n in enumerate(names)}),
        pa.table({n: b[:, i] for i, n in enumerate(names)}),
    )
    as_array = drift(a, b)
    as_mapping = drift(
        {n: list(a[:, i]) for i, n in enumerate(names)}, {n: b[:, i] for i, n in enumerate(names)}
    )
    assert as_frame.to_dict() == as_table.to_dict() == as_array.to_dict() == as_mapping.to_dict()
    assert as_frame.drifted


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("a,b\n1,2", "Cannot read the reference as a table: got str"),
        (np.zeros((2, 2, 2)), "is a 3-D array"),
        ({"a": [1, 2], "b": [1]}, "have different lengths"),
        ({"rows": 3}, "its value 'rows' is not a list of values"),
    ],
)
def test_what_is_not_a_table_is_refused(data, match):
    with pytest.raises(InvalidArgument, match=match):
        drift(data, {"a": [1.0, 2.0]})


def test_the_prediction_is_reported_apart_and_does_not_count_towards_the_share():
    rng = _rng(12)
    reference = _frame(rng, 2000)
    current = _frame(rng, 2000)
    reference["score"] = rng.normal(0, 1, 2000)
    current["score"] = rng.normal(2, 1, 2000)
    report = drift(reference, current, prediction="score")
    assert "score" not in report.columns
    assert report.prediction is not None and report.prediction.drifted
    assert not report.drifted
    assert report.metrics()["drift.score.drifted"] == 1.0


def test_the_data_set_drifts_when_the_share_of_drifted_columns_reaches_drift_share():
    rng = _rng(13)
    reference = pd.DataFrame({f"c{i}": rng.normal(size=3000) for i in range(4)})
    current = reference.copy()
    current["c0"] = current["c0"] + 1.0
    report = drift(reference, current)
    assert report.share_drifted == 0.25 and not report.drifted
    assert drift(reference, current, drift_share=0.25).drifted


def test_metrics_are_flat_numbers_for_a_run():
    rng = _rng(14)
    report = drift(_frame(rng, 2000), _frame(rng, 2000, shift=1.0))
    metrics = report.metrics()
    assert metrics["drift.share_drifted"] == 0.5 and metrics["drift.drifted"] == 1.0
    assert metrics["drift.x.drifted"] == 1.0 and metrics["drift.colour.drifted"] == 0.0
    assert {"drift.x.statistic", "drift.x.psi", "drift.x.out_of_range_share"} <= set(metrics)
    assert all(isinstance(value, float) for value in metrics.values())


def test_the_package_exports_load_on_first_use():
    assert monitoring.drift is drift
    assert monitoring.DriftReport.__name__ == "DriftReport"
    with pytest.raises(AttributeError):
        monitoring.nothing  # noqa: B018


def test_without_scipy_the_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("No module named 'scipy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    monkeypatch.setattr("importlib.import_module", lambda name: no_scipy(name))
    from heron.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"pip install 'heron\[monitoring\]'"):
        drift({"x": np.arange(100.0)}, {"x": np.arange(100.0) + 1})
