"""Signatures inferred from input examples, and their JSON form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from heron.core.errors import InvalidArgument
from heron.models.signature import ColumnSpec, Signature, TensorSpec, infer_signature


def test_dataframe_gives_named_columns_with_dtypes():
    frame = pd.DataFrame({"a": [1.5, 2.0], "b": [1, 2], "c": ["x", "y"], "d": [True, False]})
    sig = infer_signature(frame)
    assert sig.inputs == (
        ColumnSpec("a", "float64"),
        ColumnSpec("b", "int64"),
        ColumnSpec("c", "str"),
        ColumnSpec("d", "bool"),
    )
    assert sig.columns == ["a", "b", "c", "d"]
    assert sig.n_features == 4


def test_array_and_rows_give_a_tensor_of_any_length():
    assert infer_signature(np.zeros((3, 4), dtype=np.float32)).inputs == TensorSpec(
        "float32", (-1, 4)
    )
    assert infer_signature([[1, 2], [3, 4]]).inputs == TensorSpec("int64", (-1, 2))
    assert infer_signature(np.zeros((2, 4))).n_features == 4


def test_records_and_dict_of_columns_give_columns():
    assert infer_signature([{"x": 1.0, "y": "a"}]).columns == ["x", "y"]
    assert infer_signature({"x": [1.0, 2.0], "y": [3, 4]}).inputs[1] == ColumnSpec("y", "int64")
    assert infer_signature({"x": 1.0}).columns == ["x"]  # one record


def test_output_is_inferred_when_given():
    sig = infer_signature(np.zeros((2, 3)), np.array([0, 1]))
    assert sig.outputs == TensorSpec("int64", (-1,))


def test_json_round_trip():
    for sig in (
        infer_signature(pd.DataFrame({"a": [1.0], "b": ["x"]}), np.array([1])),
        infer_signature(np.zeros((1, 3))),
    ):
        assert Signature.from_dict(sig.to_dict()) == sig
    assert Signature.from_dict(None) is None


def test_ragged_rows_are_refused():
    with pytest.raises(InvalidArgument, match="different lengths"):
        infer_signature([[1, 2], [3]])
