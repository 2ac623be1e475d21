"""What `predict` accepts: every input form, checked against the signature."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from heron.models.inputs import ModelInputError, prepare_input
from heron.models.signature import infer_signature

COLUMNS = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
TENSOR = infer_signature(np.zeros((1, 2)))
ROW = [[1.0, 2.0]]


@pytest.mark.parametrize(
    "data",
    [
        pd.DataFrame({"b": [2.0], "a": [1.0]}),  # column order follows the signature
        [{"a": 1.0, "b": 2.0}],
        {"a": [1.0], "b": [2.0]},
        {"b": 2, "a": 1},  # one record; ints are fine for float columns
        [[1.0, 2.0]],
        np.array([[1.0, 2.0]]),
        [1.0, 2.0],  # one row without the batch axis
    ],
)
def test_every_form_becomes_the_same_array(data):
    prepared = prepare_input(data, COLUMNS, needs_dataframe=False)
    assert isinstance(prepared, np.ndarray)
    assert prepared.dtype == np.float64
    assert prepared.tolist() == ROW


def test_dataframe_models_get_a_frame_in_signature_order():
    prepared = prepare_input([{"b": 2.0, "a": 1.0}], COLUMNS, needs_dataframe=True)
    assert isinstance(prepared, pd.DataFrame)
    assert list(prepared.columns) == ["a", "b"]
    assert prepared.to_numpy().tolist() == ROW


def test_tensor_signature_checks_the_width():
    assert prepare_input([[1, 2]], TENSOR, needs_dataframe=False).tolist() == ROW
    with pytest.raises(ModelInputError, match=r"shape \[any, 2\]; got \[1, 3\]"):
        prepare_input([[1, 2, 3]], TENSOR, needs_dataframe=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"a": 1.0}], "lacks column\\(s\\) 'b'"),
        ({"a": [1.0]}, "lacks column\\(s\\) 'b'"),
        (pd.DataFrame({"a": [1.0]}), "lacks column\\(s\\) 'b'"),
        ([{"a": "x", "b": 1.0}], "Column 'a' takes numbers"),
        ([{"a": [1], "b": 1.0}], "Column 'a' takes numbers"),
        ([[1.0, 2.0, 3.0]], "Row 0 needs 2 values"),
        ([["x", 2.0]], "Column 'a' takes numbers"),
        ([], "no rows"),
        ({}, "empty object"),
        ({"a": [1.0, 2.0], "b": [1.0]}, "same length"),
        ([{"a": 1.0, "b": 2.0}, 5], "Record 1 is a int"),
        ("text", "Cannot score a str"),
    ],
)
def test_bad_input_names_the_problem(data, message):
    with pytest.raises(ModelInputError, match=message):
        prepare_input(data, COLUMNS, needs_dataframe=False)


def test_integer_columns_refuse_fractions():
    ints = infer_signature(pd.DataFrame({"n": [1]}))
    assert prepare_input([{"n": 3}], ints, needs_dataframe=False).tolist() == [[3]]
    with pytest.raises(ModelInputError, match="takes integers"):
        prepare_input([{"n": 2.5}], ints, needs_dataframe=False)


def test_string_columns():
    mixed = infer_signature(pd.DataFrame({"s": ["x"], "v": [1.0]}))
    frame = prepare_input([{"s": "y", "v": 2}], mixed, needs_dataframe=True)
    assert frame.to_dict(orient="records") == [{"s": "y", "v": 2.0}]
    with pytest.raises(ModelInputError, match="Column 's' takes strings"):
        prepare_input([{"s": 3, "v": 2}], mixed, needs_dataframe=True)


def test_no_signature_passes_arrays_through():
    assert prepare_input([[1, 2]], None, needs_dataframe=False).tolist() == [[1, 2]]
    frame = prepare_input([{"x": 1}], None, needs_dataframe=True)
    assert list(frame.columns) == ["x"]


def test_array_inputs_do_not_import_pandas():
    import subprocess

    code = (
        "import sys; import numpy as np\n"
        "from heron.models.inputs import prepare_input\n"
        "from heron.models.signature import Signature, ColumnSpec\n"
        "sig = Signature((ColumnSpec('a', 'float64'), ColumnSpec('b', 'float64')))\n"
        "prepare_input([{'a': 1, 'b': 2}], sig, needs_dataframe=False)\n"
        "prepare_input({'a': [1], 'b': [2]}, sig, needs_dataframe=False)\n"
        "prepare_input([[1, 2]], sig, needs_dataframe=False)\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_records_for_a_tensor_model_become_an_array_in_key_order():
    prepared = prepare_input([{"x": 1, "y": 2}, {"y": 4, "x": 3}], TENSOR, needs_dataframe=False)
    assert isinstance(prepared, np.ndarray)
    assert prepared.tolist() == [[1, 2], [3, 4]]
    assert prepare_input({"x": [1, 3], "y": [2, 4]}, TENSOR, needs_dataframe=False).tolist() == [
        [1, 2],
        [3, 4],
    ]
    with pytest.raises(ModelInputError, match="lacks column"):
        prepare_input([{"x": 1, "y": 2}, {"x": 3}], TENSOR, needs_dataframe=False)


def test_missing_values_are_the_models_business_except_in_integer_columns():
    mixed = infer_signature(pd.DataFrame({"s": ["x"], "v": [1.0], "n": [1]}))
    frame = prepare_input([{"s": None, "v": None, "n": 2}], mixed, needs_dataframe=True)
    assert frame["s"].isna().all() and frame["v"].isna().all()
    as_rows = prepare_input([[None, float("nan"), 2]], mixed, needs_dataframe=True)
    assert as_rows["v"].isna().all() and as_rows["n"].tolist() == [2]
    with pytest.raises(ModelInputError, match="Column 'n' takes numbers \\(int64\\); got None"):
        prepare_input([{"s": "x", "v": 1.0, "n": None}], mixed, needs_dataframe=True)


def test_rows_get_the_same_column_checks_as_records():
    mixed = infer_signature(pd.DataFrame({"income": [1.0], "city": ["a"]}))
    with pytest.raises(ModelInputError, match="Column 'city' takes strings; got 3"):
        prepare_input([[10.0, 3]], mixed, needs_dataframe=True)
    frame = prepare_input([[10.0, "a"]], mixed, needs_dataframe=True)
    assert frame.dtypes["income"] == np.float64


def test_bool_columns_take_numpy_bools_and_integer_columns_refuse_fractions_among_floats():
    flags = infer_signature(pd.DataFrame({"x": [1.0], "flag": [True], "n": [3]}))
    frame = pd.DataFrame({"x": [1.0, 2.0], "flag": [True, False], "n": [1, 2]})
    assert prepare_input(frame, flags, needs_dataframe=True)["flag"].tolist() == [True, False]
    with pytest.raises(ModelInputError, match="takes booleans"):
        prepare_input([{"x": 1.0, "flag": "yes", "n": 1}], flags, needs_dataframe=True)
    numbers = infer_signature(pd.DataFrame({"x": [1.0], "n": [3]}))
    with pytest.raises(ModelInputError, match="Column 'n' takes integers"):
        prepare_input([[1.0, 5.1]], numbers, needs_dataframe=False)


def test_empty_arrays_and_frames_are_refused():
    for empty in (np.zeros((0, 2)), pd.DataFrame({"a": [], "b": []})):
        with pytest.raises(ModelInputError, match="no rows"):
            prepare_input(empty, COLUMNS, needs_dataframe=False)


def test_integers_too_large_for_int64_are_refused():
    ints = infer_signature(pd.DataFrame({"a": [1], "b": [2]}))
    for data in ([[1e19, 2]], [{"a": 10**20, "b": 2}]):
        with pytest.raises(ModelInputError, match="Column 'a' takes integers"):
            prepare_input(data, ints, needs_dataframe=False)
