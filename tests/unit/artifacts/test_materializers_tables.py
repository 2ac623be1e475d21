"""pandas DataFrames and Series, and pyarrow Tables, as Parquet."""

from __future__ import annotations

import datetime
import decimal
import logging

import pytest

from heron.artifacts.materializers import MaterializerError, get_materializer, materializer_for
from heron.artifacts.materializers.base import type_name_of

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
fsspec = pytest.importorskip("fsspec")


def assert_same_frame(loaded, frame):
    assert type(loaded) is type(frame)
    assert loaded.equals(frame)
    assert list(loaded.dtypes) == list(frame.dtypes)
    assert loaded.index.equals(frame.index)
    assert type(loaded.index) is type(frame.index)
    assert loaded.index.dtype == frame.index.dtype
    assert list(loaded.index.names) == list(frame.index.names)
    assert loaded.columns.equals(frame.columns)
    assert list(loaded.columns.names) == list(frame.columns.names)


FRAMES = {
    "empty": lambda: pd.DataFrame(),
    "empty_with_columns": lambda: pd.DataFrame({"a": pd.Series([], dtype="float64")}),
    "mixed_dtypes_and_index": lambda: pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, np.nan, -np.inf],
            "s": ["a", "é", None],
            "b": [True, False, True],
            "t": pd.to_datetime(["2020-01-01", "2021-06-30", None]),
            "c": pd.Categorical(["x", "y", "x"]),
            "u8": np.array([1, 2, 255], dtype=np.uint8),
            "f32": np.array([0.5, 1.5, 2.5], dtype=np.float32),
        },
        index=pd.Index([10, 20, 30], name="key"),
    ),
    "string_index": lambda: pd.DataFrame({"v": [1.0, 2.0]}, index=["x", "y"]),
    "range_index_with_step": lambda: pd.DataFrame({"v": [1, 2]}, index=pd.RangeIndex(5, 9, 2)),
    "datetime_index": lambda: pd.DataFrame(
        {"v": [1, 2, 3]}, index=pd.date_range("2024-01-01", periods=3, freq="D", name="day")
    ),
    "multi_index": lambda: pd.DataFrame(
        {"v": [1, 2, 3]},
        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["g", "n"]),
    ),
    "multi_index_columns": lambda: pd.DataFrame(
        [[1, 2.5]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])
    ),
    "int_column_labels": lambda: pd.DataFrame(np.arange(6).reshape(3, 2)),
    "nullable_dtypes": lambda: pd.DataFrame(
        {
            "I": pd.array([1, None, 3], dtype="Int64"),
            "B": pd.array([True, None, False], dtype="boolean"),
            "S": pd.array(["a", None, "c"], dtype="string"),
            "F": pd.array([0.5, None, 1.5], dtype="Float32"),
        }
    ),
    "timezones_and_durations": lambda: pd.DataFrame(
        {
            "tz": pd.date_range("2024-03-30", periods=3, freq="D", tz="Europe/Paris"),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "seconds": np.array(["2024-01-01", "2024-01-02", "NaT"], dtype="datetime64[s]"),
        }
    ),
    "object_columns": lambda: pd.DataFrame(
        {
            "strings": pd.Series(["a", None, "c"], dtype=object),
            "bools": pd.Series([True, False, True], dtype=object),
            "dates": [datetime.date(2024, 1, 1), None, datetime.date(2024, 1, 3)],
            "decimals": [decimal.Decimal("1.10"), decimal.Decimal("2.25"), None],
            "bytes": [b"a", b"", None],
        }
    ),
    "categoricals": lambda: pd.DataFrame(
        {
            "ordered": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "numbers": pd.Categorical([1, 2, 1]),
            "object_categories": pd.Categorical(
                ["a", "b", "a"], categories=pd.Index(["a", "b", "c"], dtype=object)
            ),
        }
    ),
    "periods_and_intervals": lambda: pd.DataFrame(
        {"p": pd.period_range("2024-01", periods=2, freq="M"), "iv": pd.interval_range(0, 2)}
    ),
    "arrow_dtypes": lambda: pd.DataFrame(
        {"a": pd.array([1, None], dtype="int64[pyarrow]"), "s": pd.array(["x", "y"], "string")}
    ),
    "object_index": lambda: pd.DataFrame(
        {"v": [1, 2]}, index=pd.Index(["x", "y"], dtype=object, name="id")
    ),
    "index_named_like_a_column": lambda: pd.DataFrame(
        {"id": [5, 6], "v": [1, 2]}, index=pd.Index([1, 2], name="id")
    ),
    "unicode_labels": lambda: pd.DataFrame({"größe": [1.0], "名前": ["値"]}),
    "wide": lambda: pd.DataFrame(
        np.random.default_rng(0).random((20, 150)), columns=[f"c{i}" for i in range(150)]
    ),
    "large": lambda: pd.DataFrame(
        {
            "x": np.random.default_rng(1).random(200_000),
            "k": np.arange(200_000) % 7,
            "name": pd.Series(np.arange(200_000) % 13).astype(str),
        }
    ),
}


@pytest.mark.parametrize("name", FRAMES)
def test_dataframes_round_trip_with_dtypes_and_index(name, round_trip):
    frame = FRAMES[name]()
    materializer = materializer_for(frame)
    assert materializer.name == "pandas.parquet"
    loaded, metadata = round_trip(materializer, frame)
    assert_same_frame(loaded, frame)
    assert metadata["type"] == type_name_of(pd.DataFrame)
    assert metadata["num_rows"] == len(frame)
    assert metadata["num_columns"] == frame.shape[1]


def test_dataframe_metadata_has_schema_rows_and_numeric_stats(round_trip):
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan, 5.0], "n": [1, 2, 3, 4], "s": ["a", "b", "c", "d"]},
        index=pd.Index(list("wxyz"), name="id"),
    )
    _, metadata = round_trip(get_materializer("pandas.parquet"), frame)
    assert metadata["schema"] == {"x": "float64", "n": "int64", "s": str(frame["s"].dtype)}
    assert metadata["num_rows"] == 4
    assert metadata["stats"] == {
        "x": {"min": 1.0, "max": 5.0, "mean": pytest.approx(8 / 3), "null_count": 1},
        "n": {"min": 1, "max": 4, "mean": 2.5, "null_count": 0},
    }
    assert "id" not in metadata["schema"]  # the index is not a column


def test_stats_are_capped_to_the_first_100_columns(round_trip):
    frame = FRAMES["wide"]()
    _, metadata = round_trip(get_materializer("pandas.parquet"), frame)
    assert len(metadata["schema"]) == 150
    assert list(metadata["stats"]) == [f"c{i}" for i in range(100)]


def test_stats_of_all_null_and_infinite_columns_stay_strict_json(round_trip):
    frame = pd.DataFrame({"empty": [np.nan, np.nan], "inf": [np.inf, 1.0]})
    _, metadata = round_trip(get_materializer("pandas.parquet"), frame)
    assert metadata["stats"]["empty"] == {"min": None, "max": None, "mean": None, "null_count": 2}
    assert metadata["stats"]["inf"]["max"] is None  # infinity is not JSON


SERIES = {
    "named": lambda: pd.Series([1.5, 2.5, np.nan], name="price"),
    "unnamed": lambda: pd.Series(["a", "b"]),
    "int_name": lambda: pd.Series([1, 2], name=0),
    "string_index": lambda: pd.Series([1, 2], index=pd.Index(["x", "y"], name="k"), name="v"),
    "datetime_index": lambda: pd.Series(
        [0.1, 0.2], index=pd.date_range("2024-01-01", periods=2, tz="UTC"), name="v"
    ),
    "categorical": lambda: pd.Series(pd.Categorical(["a", "b", "a"]), name="cat"),
    "empty": lambda: pd.Series([], dtype="int64", name="e"),
    "object_strings": lambda: pd.Series(["a", None, "c"], dtype=object, name="o"),
    "float_name": lambda: pd.Series([True, False], name=0.5),
    "numpy_name": lambda: pd.Series([1, 2], name=np.int64(7)),
}


@pytest.mark.parametrize("name", SERIES)
def test_series_round_trip_as_series(name, round_trip):
    series = SERIES[name]()
    materializer = materializer_for(series)
    assert materializer.name == "pandas.parquet"
    loaded, metadata = round_trip(materializer, series)
    assert type(loaded) is pd.Series
    assert loaded.equals(series)
    assert loaded.dtype == series.dtype
    assert loaded.name == series.name
    assert loaded.index.equals(series.index) and loaded.index.dtype == series.index.dtype
    assert metadata["type"] == type_name_of(pd.Series)
    assert metadata["name"] == series.name
    assert metadata["num_rows"] == len(series)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"mixed": [1, "a"]}),
        pd.DataFrame({"lists": [[1, 2], [3]]}),
        pd.DataFrame({"dicts": [{"a": 1}, {"b": 2}]}),
        pd.DataFrame({"complex": [1 + 2j]}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame([[1, 2]], columns=["a", 1]),
        pd.DataFrame({"v": [1, 2]}, index=pd.Index([1, "b"], dtype=object)),
        pd.DataFrame({"s": pd.arrays.SparseArray([0, 1])}),
    ],
    ids=[
        "mixed",
        "lists",
        "dicts",
        "complex",
        "duplicate",
        "mixed_labels",
        "mixed_index",
        "sparse",
    ],
)
def test_frames_parquet_would_change_fall_back_to_cloudpickle(frame, caplog, round_trip):
    assert not get_materializer("pandas.parquet").can_save(frame)
    with caplog.at_level(logging.WARNING, logger="heron.artifacts.materializers"):
        materializer = materializer_for(frame)
    assert materializer.name == "cloudpickle"
    assert f"no materializer for {type_name_of(pd.DataFrame)};" in caplog.text
    loaded, _ = round_trip(materializer, frame)
    assert loaded.equals(frame)


def test_dataframe_subclass_is_not_taken_as_a_dataframe():
    class Tagged(pd.DataFrame):
        @property
        def _constructor(self):
            return Tagged

    assert not get_materializer("pandas.parquet").can_save(Tagged({"a": [1]}))


def test_same_frame_is_saved_to_the_same_bytes(fs, folder):
    first, second = folder(), folder()
    get_materializer("pandas.parquet").save(FRAMES["mixed_dtypes_and_index"](), fs, first)
    get_materializer("pandas.parquet").save(FRAMES["mixed_dtypes_and_index"](), fs, second)
    assert fs.cat_file(f"{first}/table.parquet") == fs.cat_file(f"{second}/table.parquet")


def test_parquet_file_is_readable_by_plain_pandas(fs, folder):
    path = folder()
    frame = FRAMES["mixed_dtypes_and_index"]()
    get_materializer("pandas.parquet").save(frame, fs, path)
    assert fs.ls(path, detail=False) == [f"{path}/table.parquet"]
    plain = pd.read_parquet(f"{path}/table.parquet")
    assert plain.index.equals(frame.index)
    assert list(plain.columns) == list(frame.columns)


def test_frames_round_trip_on_a_non_local_file_system(round_trip):
    memory = fsspec.filesystem("memory")
    memory.makedirs("/heron-test/frame", exist_ok=True)
    frame = FRAMES["mixed_dtypes_and_index"]()
    loaded, _ = round_trip(get_materializer("pandas.parquet"), frame, memory, "/heron-test/frame")
    assert_same_frame(loaded, frame)
    memory.rm("/heron-test", recursive=True)


# --- pyarrow tables --------------------------------------------------------------------------

ARROW_COLUMNS = {
    "int8": lambda: pa.array([1, None, -3], pa.int8()),
    "uint64": lambda: pa.array([0, 2**64 - 1, None], pa.uint64()),
    "float16": lambda: pa.array([np.float16(1.5), None, np.float16(-2)], pa.float16()),
    "float32": lambda: pa.array([0.5, None, 2.5], pa.float32()),
    "string": lambda: pa.array(["a", "é", None]),
    "large_string": lambda: pa.array(["a", "b", None], pa.large_string()),
    "binary": lambda: pa.array([b"a", None, b""]),
    "fixed_binary": lambda: pa.array([b"ab", b"cd", None], pa.binary(2)),
    "bool": lambda: pa.array([True, None, False]),
    "date32": lambda: pa.array([datetime.date(2024, 1, 1), None, datetime.date(1970, 1, 1)]),
    "date64": lambda: pa.array([datetime.date(2024, 1, 1), None, None], pa.date64()),
    "timestamp_s": lambda: pa.array([1, 2, None], pa.timestamp("s")),
    "timestamp_tz": lambda: pa.array([1, 2, None], pa.timestamp("ns", tz="Asia/Tokyo")),
    "time32_s": lambda: pa.array([1, 2, None], pa.time32("s")),
    "duration": lambda: pa.array([1, 2, None], pa.duration("s")),
    "decimal": lambda: pa.array(
        [decimal.Decimal("1.50"), None, decimal.Decimal("-2.25")], pa.decimal128(5, 2)
    ),
    "list": lambda: pa.array([[1, 2], None, []]),
    "fixed_list": lambda: pa.array([[1, 2], [3, 4], None], pa.list_(pa.int64(), 2)),
    "struct": lambda: pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "z"}]),
    "map": lambda: pa.array([[("a", 1)], [], None], pa.map_(pa.string(), pa.int64())),
    "dictionary": lambda: pa.array(["a", "b", "a"]).dictionary_encode(),
    "dictionary_of_ints": lambda: pa.array([1, 2, 1]).dictionary_encode(),
    "null": lambda: pa.array([None, None, None]),
}


def test_arrow_table_of_many_types_round_trips(round_trip):
    table = pa.table({name: make() for name, make in ARROW_COLUMNS.items()})
    materializer = materializer_for(table)
    assert materializer.name == "arrow.parquet"
    loaded, metadata = round_trip(materializer, table)
    assert loaded.schema.equals(table.schema)
    assert loaded.equals(table)
    assert metadata["type"] == "pyarrow.lib.Table"
    assert metadata["num_rows"] == 3 and metadata["num_columns"] == len(ARROW_COLUMNS)
    assert metadata["schema"]["timestamp_s"] == "timestamp[s]"
    assert metadata["stats"]["int8"] == {"min": -3, "max": 1, "mean": -1.0, "null_count": 1}
    numeric = {"int8", "uint64", "float16", "float32"}
    assert numeric - {"float16"} <= set(metadata["stats"]) <= numeric  # float16: if arrow can


@pytest.mark.parametrize(
    "table",
    [
        pa.table({}),
        pa.table({"a": pa.array([], pa.int64())}),
        pa.table({"x": pa.chunked_array([[1.5, 2.5], [float("nan")]])}),
        pa.table({"ü": [1]}).replace_schema_metadata({"owner": "team-a"}),
    ],
    ids=["no_columns", "no_rows", "chunked_nan", "schema_metadata"],
)
def test_arrow_edge_tables_round_trip(table, round_trip):
    loaded, _ = round_trip(get_materializer("arrow.parquet"), table)
    assert loaded.schema.equals(table.schema, check_metadata=True)
    assert loaded.num_rows == table.num_rows
    assert loaded.combine_chunks().to_string() == table.combine_chunks().to_string()


@pytest.mark.parametrize(
    "table",
    [
        pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]),
        pa.table({"u": pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1])])}),
        pa.table({"iv": pa.array([(1, 2, 3)], pa.month_day_nano_interval())}),
        pa.table(
            {
                "nested": pa.array(
                    [{"iv": (1, 2, 3)}], pa.struct([("iv", pa.month_day_nano_interval())])
                )
            }
        ),
    ],
    ids=["duplicate_names", "union", "interval", "nested_interval"],
)
def test_arrow_tables_parquet_cannot_store_fall_back_to_cloudpickle(table):
    assert not get_materializer("arrow.parquet").can_save(table)
    assert materializer_for(table).name == "cloudpickle"


def test_arrow_tables_round_trip_on_a_non_local_file_system(round_trip):
    memory = fsspec.filesystem("memory")
    memory.makedirs("/heron-test/table", exist_ok=True)
    table = pa.table({"a": [1, 2], "t": pa.array([1, 2], pa.timestamp("s"))})
    loaded, _ = round_trip(get_materializer("arrow.parquet"), table, memory, "/heron-test/table")
    assert loaded.equals(table) and loaded.schema.equals(table.schema)
    memory.rm("/heron-test", recursive=True)


def test_arrow_stats_skip_nulls_and_nan(round_trip):
    table = pa.table(
        {
            "x": pa.chunked_array([[1.5, None, float("nan")], [float("nan")], [-2.0, 7.0]]),
            "all_nan": [float("nan")] * 6,
            "n": pa.array([1, None, 3, 4, 5, 6], pa.uint64()),
            "s": ["a", "b", "c", "d", "e", "f"],
        }
    )
    _, metadata = round_trip(get_materializer("arrow.parquet"), table)
    assert metadata["stats"] == {
        "x": {"min": -2.0, "max": 7.0, "mean": pytest.approx(6.5 / 3), "null_count": 1},
        "all_nan": {"min": None, "max": None, "mean": None, "null_count": 0},
        "n": {"min": 1, "max": 6, "mean": 3.8, "null_count": 1},
    }
    assert metadata["schema"] == {"x": "double", "all_nan": "double", "n": "uint64", "s": "string"}


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("pandas.parquet", lambda: {"a": [1, 2]}),
        ("pandas.parquet", lambda: np.arange(3)),
        ("arrow.parquet", lambda: pd.DataFrame({"a": [1]})),
        (
            "arrow.parquet",
            lambda: pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]),
        ),
    ],
)
def test_explicitly_chosen_table_materializer_refuses_other_values(name, make, fs, folder):
    with pytest.raises(MaterializerError, match="materializer cannot store"):
        get_materializer(name).save(make(), fs, folder())


def test_frame_pyarrow_cannot_convert_fails_with_a_clear_error(fs, folder):
    frame = pd.DataFrame({"mixed": [1, "a"]})
    with pytest.raises(MaterializerError, match="cloudpickle"):
        get_materializer("pandas.parquet").save(frame, fs, folder())
