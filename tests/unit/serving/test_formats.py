"""Reading request bodies: each MLflow format into plain data, and no body, however malformed,
raising anything but a 4xx error (a property test over bytes and JSON values)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heron.core.errors import HeronError
from heron.models.signature import ColumnSpec, Signature, TensorSpec
from heron.serving.errors import BadRequest, UnsupportedMediaType
from heron.serving.formats import CSV, JSON, PARQUET, RequestParser, media_type, parse_json
from heron.serving.scoring import Scorer
from tests.unit.serving.conftest import memory_model

TENSOR = Signature(TensorSpec("float64", (-1, 4)))
TABLE = Signature(
    (
        ColumnSpec("x", "float64"),
        ColumnSpec("n", "int64"),
        ColumnSpec("name", "str"),
        ColumnSpec("flag", "bool"),
    )
)


class RowSum:
    """A model of user code: the sum of each row's numbers."""

    def predict(self, X):
        values = X.select_dtypes("number").to_numpy() if hasattr(X, "columns") else X
        return np.asarray(values, dtype=float).reshape(len(values), -1).sum(axis=1)


def test_json_formats_become_plain_data():
    split = parse_json(b'{"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}')
    assert (split.split, split.columns, split.data, split.params) == (True, ["a"], [[1], [2]], None)
    records = parse_json(b'{"dataframe_records": [{"a": 1}], "params": {"k": 2}}')
    assert (records.split, records.data, records.params) == (False, [{"a": 1}], {"k": 2})
    assert parse_json(b'{"instances": [[1, 2]]}').data == [[1, 2]]
    assert parse_json(b'{"inputs": {"a": [1, 2]}}').data == {"a": [1, 2]}
    assert parse_json(b'{"inputs": [1, 2], "params": null}').params is None
    assert parse_json(b'{"inputs": [1], "extra": "ignored"}').data == [1]


def test_json_beyond_what_orjson_reads():
    assert math.isnan(parse_json(b'{"inputs": [[NaN, 1]]}').data[0][0])
    assert parse_json(b'{"inputs": [[Infinity, 1e400]]}').data == [[math.inf, math.inf]]
    assert parse_json(b'{"inputs": [[123456789012345678901234567890]]}').data[0][0] > 1e29
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(b"[" * 100_000)  # deeper than either parser goes
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json('{"inputs": ["\ud800"]}'.encode("utf-8", "surrogatepass"))  # not UTF-8
    assert parse_json(b'{"inputs": ["\\ud800"]}').data == ["\ud800"]  # an escape: valid JSON


def test_lone_surrogates_in_error_messages_are_escaped():
    from heron.serving.scoring import error_body

    body = error_body(BadRequest("got '\ud800'"))
    assert json.loads(body) == {
        "error": {"code": "BAD_REQUEST", "message": "got '\ud800'"},
        "error_code": "BAD_REQUEST",
        "message": "got '\ud800'",
    }


def test_media_types():
    assert media_type(None) == JSON
    assert media_type("Application/JSON; charset=UTF-8") == JSON
    assert media_type("text/csv") == CSV
    assert media_type("application/vnd.apache.parquet") == PARQUET
    with pytest.raises(UnsupportedMediaType, match="curl -d"):
        media_type("application/x-www-form-urlencoded")
    with pytest.raises(UnsupportedMediaType, match="format"):
        media_type("application/json; format=pandas-split")
    with pytest.raises(UnsupportedMediaType, match="UTF-8"):
        media_type("text/csv; charset=latin-1")


def test_csv_values_take_the_signature_types():
    parser = RequestParser(TABLE)
    body = b"name,x,n,flag,other\nada,1.5,3,true,7\nbob,,4.0,0,x\n"
    parsed = parser.parse(body, "text/csv")
    assert parsed.split and parsed.columns == ["name", "x", "n", "flag", "other"]
    first, second = parsed.data
    assert first == ["ada", 1.5, 3, True, 7]
    assert second[0] == "bob" and math.isnan(second[1]) and second[2:] == [4, False, "x"]
    for bad, says in (
        (b"name,x,n,flag\nada,1.5,3.5,true\n", "not an integer"),
        (b"name,x,n,flag\nada,wide,3,true\n", "'wide' is not a number"),
        (b"name,x,n,flag\nada,1,3,maybe\n", "not a boolean"),
        (b"name,x,n,flag\nada,1,3\n", "has 3 values"),
        (b"name,x,n,flag\n", "at least one row"),
        (b"\xff\xfe", "not UTF-8"),
    ):
        with pytest.raises(BadRequest, match=says):
            parser.parse(bad, "text/csv")


def test_split_rows_reach_the_model_as_one_array():
    scorer = Scorer(memory_model(RowSum(), TENSOR))
    parsed = parse_json(b'{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[1,2,3,4]]}}')
    prepared = scorer.prepare(parsed)
    assert isinstance(prepared, np.ndarray) and prepared.dtype == np.float64
    assert prepared.shape == (1, 4)


# --- the property: any body is an answer or a 4xx, never another exception --------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)
keys = st.sampled_from(
    ["dataframe_split", "dataframe_records", "instances", "inputs", "params", "columns", "data"]
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(keys, json_values, min_size=1, max_size=3).map(
        lambda v: json.dumps(v).encode()
    ),
    st.builds(
        lambda columns, data: json.dumps(
            {"dataframe_split": {"columns": columns, "data": data}}
        ).encode(),
        st.lists(st.sampled_from(["x", "n", "name", "flag", "a"]), max_size=5),
        json_values,
    ),
)
content_types = st.sampled_from([None, "application/json", "text/csv", "text/plain", "a/b; c=d"])


@pytest.mark.parametrize("signature", [TENSOR, TABLE, None], ids=["tensor", "table", "none"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, content_type=content_types)
def test_any_body_is_an_answer_or_a_4xx(signature, body, content_type):
    scorer = Scorer(memory_model(RowSum(), signature))
    parser = RequestParser(signature)
    try:
        parsed = parser.parse(body, content_type)
        prepared = scorer.prepare(parsed)
        scorer.answer(scorer.predict(prepared, parsed.params))
    except HeronError as e:
        assert 400 <= e.http_status < 500, e
