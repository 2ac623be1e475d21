"""The inference log: buffered batches as Parquet, bounded memory, failures never raised."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from heron.monitoring.inferences import InferenceLogger, LoggedModel, read_inferences

pytest.importorskip("pyarrow")


def _logger(root, **options):
    options.setdefault("flush_seconds", 3600)
    return InferenceLogger(str(root), LoggedModel("wine", "3"), ["a", "b"], **options)


def test_recorded_rows_are_written_partitioned_and_read_back(tmp_path):
    log = _logger(tmp_path)
    log.record(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 1]), "r1")
    rid = log.record(np.array([[5.0, 6.0]]), np.array([1]))
    log.close()
    files = list(tmp_path.glob("wine/version=3/hour=*/*.parquet"))
    assert len(files) == 1
    table = read_inferences("wine", 3, log_uri=str(tmp_path)).to_pandas()
    assert table["a"].tolist() == [1.0, 3.0, 5.0]
    assert table["prediction"].tolist() == [0, 1, 1]
    assert table["request_id"].tolist() == ["r1", "r1", rid]
    assert set(table["model_version"]) == {"3"}
    assert log.stats()["logged_rows"] == 3 and log.dropped_rows == 0


def test_time_window_filters_rows(tmp_path):
    log = _logger(tmp_path)
    log.record(np.ones((4, 2)), np.zeros(4))
    log.close()
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert read_inferences("wine", log_uri=str(tmp_path), since=future).num_rows == 0
    assert read_inferences("wine", log_uri=str(tmp_path), until=future).num_rows == 4


def test_rows_past_the_memory_bound_are_dropped_and_counted(tmp_path):
    log = _logger(tmp_path, max_pending_rows=5)
    log.record(np.ones((4, 2)), np.zeros(4))
    log.record(np.ones((4, 2)), np.zeros(4))  # over the bound: dropped, not waited for
    log.close()
    assert log.dropped_rows == 4 and log.logged_rows == 4


def test_a_failing_store_never_raises_into_scoring(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    log = InferenceLogger(str(blocker), LoggedModel("m", "1"), flush_seconds=3600)
    log.record(np.ones((3, 2)), np.zeros(3))
    log.close()
    assert log.dropped_rows == 3 and log.logged_rows == 0
    assert "inference rows dropped" in caplog.text


def test_reading_a_model_never_logged_names_how_to_log(tmp_path):
    from heron.core.errors import NotFound

    with pytest.raises(NotFound, match="--log-inferences"):
        read_inferences("absent", log_uri=str(tmp_path))


def test_batches_of_different_types_are_read_together(tmp_path, caplog):
    from heron.monitoring.inferences import write_table

    pa = pytest.importorskip("pyarrow")
    model = LoggedModel("wine", "3")
    stamp = pa.array([dt.datetime.now(dt.UTC)] * 2, pa.timestamp("us", "UTC"))
    batches = [
        {"a": pa.array([1, 2], pa.int64()), "kind": ["x", "y"]},
        {"a": pa.array([1.5, 2.5]), "kind": pa.array([3, 4]), "extra": [True, False]},
    ]
    hour = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H")
    for columns in batches:
        write_table(pa.table({**columns, "timestamp": stamp}), str(tmp_path), model, hour)
    table = read_inferences("wine", log_uri=str(tmp_path)).to_pandas()
    assert sorted(table["a"].tolist()) == [1.0, 1.5, 2.0, 2.5]  # int widened to float
    assert set(table["kind"]) == {"x", "y", "3", "4"}  # words and numbers: read as text
    assert table["extra"].isna().sum() == 2  # a column only some batches have
    assert "'kind' has types" in caplog.text
