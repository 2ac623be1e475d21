"""The scoring app in-process: every MLflow request format against scikit-learn's own answers,
errors as 4xx JSON naming the problem, and the other endpoints."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from heron._version import __version__
from tests.unit.serving.conftest import TestClient, app_for, log, same

CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def on_arrays(serve, iris, fitted):
    """The server of a model fitted on arrays (signature: a float64 tensor [any, 4])."""
    X, _, _, _ = iris
    return serve(fitted[0], X[:2])


@pytest.fixture
def on_frame(serve, iris, fitted):
    """The server of a model fitted on a DataFrame (signature: four named float64 columns)."""
    _, _, frame, _ = iris
    return serve(fitted[1], frame.head(2))


def predictions(response) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["predictions"]


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_code", "message"}  # Heron's object and MLflow's fields
    assert set(body["error"]) == {"code", "message"} and body["message"] == body["error"]["message"]
    return body["error"]["message"]


# --- every request format, the same predictions as the model called directly -------------
def test_tensor_model_answers_every_json_format(on_arrays, iris, fitted):
    X, _, _, _ = iris
    rows = X[::10]
    expected = fitted[0].predict(rows)
    columns = ["a", "b", "c", "d"]
    bodies = [
        {"inputs": rows.tolist()},
        {"instances": rows.tolist()},
        {"dataframe_split": {"data": rows.tolist()}},
        {"dataframe_split": {"columns": columns, "data": rows.tolist(), "index": list(range(15))}},
    ]
    for body in bodies:
        assert same(predictions(on_arrays.post("/invocations", json=body)), expected), body
        assert same(predictions(on_arrays.post("/predict", json=body)), expected), body


def test_column_model_answers_every_json_format(on_frame, iris, fitted):
    _, _, frame, _ = iris
    rows = frame.iloc[::10]
    expected = fitted[1].predict(rows)
    split = json.loads(rows.to_json(orient="split", index=False))
    shuffled = rows[list(reversed(rows.columns))]
    bodies = [
        {"dataframe_split": split},
        {"dataframe_split": json.loads(shuffled.to_json(orient="split"))},  # any column order
        {"dataframe_records": rows.to_dict(orient="records")},
        {"instances": rows.to_dict(orient="records")},
        {"inputs": rows.to_dict(orient="list")},
        {"inputs": rows.to_dict(orient="records")},
        {"inputs": rows.to_numpy().tolist()},  # plain rows, by position
    ]
    for body in bodies:
        assert same(predictions(on_frame.post("/invocations", json=body)), expected), body


def test_csv_bodies_as_pandas_writes_them(on_frame, on_arrays, iris, fitted):
    X, _, frame, _ = iris
    rows = frame.iloc[::7]
    expected = fitted[1].predict(rows)
    body = rows.to_csv(index=False)
    assert same(predictions(on_frame.post("/invocations", content=body, headers=CSV)), expected)
    reordered = rows[list(reversed(rows.columns))].to_csv(index=False)
    got = on_frame.post("/invocations", content=reordered, headers=CSV)
    assert same(predictions(got), expected)
    crlf = body.replace("\n", "\r\n").encode("utf-8-sig")  # Excel: BOM and CRLF
    assert same(predictions(on_frame.post("/invocations", content=crlf, headers=CSV)), expected)
    plain = "a,b,c,d\n" + "\n".join(",".join(map(str, r)) for r in X[:5]) + "\n"
    got = on_arrays.post("/invocations", content=plain, headers={"Content-Type": "text/csv"})
    assert same(predictions(got), fitted[0].predict(X[:5]))


def test_parquet_body(on_frame, iris, fitted):
    pytest.importorskip("pyarrow")
    _, _, frame, _ = iris
    data = io.BytesIO()
    frame.head(9).to_parquet(data)
    got = on_frame.post(
        "/invocations",
        content=data.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert same(predictions(got), fitted[1].predict(frame.head(9)))


def test_one_row_without_the_batch_axis(on_arrays, on_frame, iris, fitted):
    X, _, frame, _ = iris
    got = on_arrays.post("/invocations", json={"inputs": X[3].tolist()})
    assert same(predictions(got), fitted[0].predict(X[3:4]))
    record = frame.iloc[3].to_dict()
    got = on_frame.post("/invocations", json={"inputs": record})
    assert same(predictions(got), fitted[1].predict(frame.iloc[3:4]))


def test_json_as_python_writes_it_with_nan_is_read(on_arrays):
    body = json.dumps({"inputs": [[float("nan"), 1.0, 2.0, 3.0]]})  # NaN, not null
    assert "NaN" in body
    message = error_of(on_arrays.post("/invocations", content=body), 400)
    assert "NaN" in message  # scikit-learn's own complaint, as a 400


def test_content_type_with_charset_and_none_at_all(on_arrays, iris, fitted):
    X, _, _, _ = iris
    body = json.dumps({"inputs": X[:3].tolist()})
    expected = fitted[0].predict(X[:3])
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, {}):
        got = on_arrays.post("/invocations", content=body, headers=headers)
        assert same(predictions(got), expected)


def test_params_reach_the_model(serve):
    class Scaled:
        def predict(self, X, scale=1.0):
            return np.asarray(X).sum(axis=1) * scale

    client = serve(Scaled(), np.ones((2, 3)), strict_params=True)
    got = client.post("/invocations", json={"inputs": [[1, 2, 3]], "params": {"scale": 10}})
    assert predictions(got) == [60.0]
    message = error_of(
        client.post("/invocations", json={"inputs": [[1, 2, 3]], "params": {"nope": 1}}), 400
    )
    assert "nope" in message and "scale" in message


def test_dataframe_predictions_are_records(serve):
    import pandas as pd

    class Framed:
        def predict(self, X):
            return pd.DataFrame({"label": ["a"] * len(X), "score": np.arange(len(X)) / 2})

    client = serve(Framed(), np.ones((2, 2)))
    got = client.post("/invocations", json={"inputs": [[1, 2], [3, 4]]})
    assert predictions(got) == [{"label": "a", "score": 0.0}, {"label": "a", "score": 0.5}]


# --- input that does not fit: a 4xx naming the problem ------------------------------------
def test_missing_column_is_named(on_frame, iris):
    _, _, frame, _ = iris
    records = frame.head(2).drop(columns=["petal width (cm)"]).to_dict(orient="records")
    message = error_of(on_frame.post("/invocations", json={"dataframe_records": records}), 400)
    assert "petal width (cm)" in message
    split = {"columns": ["sepal length (cm)"], "data": [[1.0]]}
    message = error_of(on_frame.post("/invocations", json={"dataframe_split": split}), 400)
    assert "petal width (cm)" in message


def test_wrong_type_is_named(on_frame, on_arrays, iris):
    _, _, frame, _ = iris
    record = frame.iloc[0].to_dict()
    record["sepal width (cm)"] = "wide"
    message = error_of(on_frame.post("/invocations", json={"dataframe_records": [record]}), 400)
    assert "sepal width (cm)" in message and "wide" in message
    message = error_of(on_arrays.post("/invocations", json={"inputs": [[1, 2, "x", 4]]}), 400)
    assert "x" in message
    csv = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,three,4\n"
    message = error_of(on_frame.post("/invocations", content=csv, headers=CSV), 400)
    assert "three" in message and "line 2" in message


def test_wrong_width_is_a_400(on_arrays):
    message = error_of(on_arrays.post("/invocations", json={"inputs": [[1, 2, 3]]}), 400)
    assert "4" in message and "3" in message
    ragged = {"dataframe_split": {"data": [[1, 2, 3, 4], [1, 2]]}}
    error_of(on_arrays.post("/invocations", json=ragged), 400)


def test_ragged_rows_under_named_columns_are_a_400(on_frame, iris):
    _, _, frame, _ = iris
    columns = list(frame.columns)
    for data in ([[1, 2, 3, 4], [1, 2]], [[1, 2, 3, 4, 5]], [[1, 2, 3, 4], 7]):
        for order in (columns, columns[::-1]):
            body = {"dataframe_split": {"columns": order, "data": data}}
            assert "Row" in error_of(on_frame.post("/invocations", json=body), 400)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON list"),
        (b"{}", "no keys"),
        (b'{"inputs": [[1,2,3,4]], "instances": [[1,2,3,4]]}', "'inputs', 'instances'"),
        (b'{"data": [[1,2,3,4]]}', "'data'"),
        (b'{"dataframe_split": [[1,2,3,4]]}', "dataframe_split"),
        (b'{"dataframe_split": {"columns": ["a"]}}', '"data"'),
        (b'{"dataframe_split": {"columns": [1], "data": [[1]]}}', "column names"),
        (b'{"dataframe_records": {"a": 1}}', "dataframe_records"),
        (b'{"instances": 3}', "instances"),
        (b'{"inputs": "text"}', "inputs"),
        (b'{"inputs": [[1,2,3,4]], "params": [1]}', "params"),
        (b'{"inputs": []}', "no rows"),
    ],
)
def test_malformed_bodies_are_400s_that_say_why(on_arrays, body, says):
    message = error_of(on_arrays.post("/invocations", content=body), 400)
    assert says in message


def test_unsupported_media_types_are_415(on_arrays):
    for content_type in (
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
    ):
        got = on_arrays.post(
            "/invocations",
            content=b'{"inputs": [[1,2,3,4]]}',
            headers={"content-type": content_type},
        )
        error_of(got, 415)


def test_body_over_the_limit_is_413(iris, fitted):

    X, _, _, _ = iris
    client = TestClient(app_for(log(fitted[0], X[:2]), max_body_mb=0.001))  # 1,048 bytes
    small = {"inputs": X[:2].tolist()}
    assert len(predictions(client.post("/invocations", json=small))) == 2
    big = {"inputs": np.tile(X[:1], (100, 1)).tolist()}
    assert "max-body-mb" in error_of(client.post("/invocations", json=big), 413)

    def chunks():  # no Content-Length: counted while reading
        yield json.dumps(big).encode()[:600]
        yield json.dumps(big).encode()[600:]

    error_of(client.post("/invocations", content=chunks()), 413)


def test_model_failing_unexpectedly_is_a_500_in_json_and_serving_goes_on(serve):
    class Flaky:
        def predict(self, X):
            if np.asarray(X)[0, 0] < 0:
                raise RuntimeError("boom")
            return np.zeros(len(X))

    client = serve(Flaky(), np.ones((2, 2)))
    got = client.post("/invocations", json={"inputs": [[-1, 0]]})
    assert got.status_code == 500
    assert got.json()["error"]["code"] == "PREDICTION_FAILED"
    assert "boom" in got.json()["error"]["message"]
    assert predictions(client.post("/invocations", json={"inputs": [[1, 0]]})) == [0.0]


# --- the other endpoints --------------------------------------------------------------------
def test_health_version_and_metadata(on_arrays):
    assert on_arrays.get("/health").json() == {"status": "ok"}
    assert on_arrays.get("/ping").content == b"\n"  # as MLflow's scoring server
    assert on_arrays.get("/version").text == __version__
    meta = on_arrays.get("/metadata").json()
    assert meta["flavor"] == "sklearn"
    assert meta["signature"]["inputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1, 4]}
    assert meta["uri"].startswith("runs:/")
    assert meta["server"]["batching"] is True and meta["server"]["batch_max_size"] == 64


def test_registered_model_metadata_names_it(iris, fitted):

    X, _, _, _ = iris
    log(fitted[0], X[:2], registered_model_name="iris")
    client = TestClient(app_for("models:/iris/1"))
    meta = client.get("/metadata").json()
    assert (meta["name"], meta["version"]) == ("iris", 1)


def test_unknown_paths_and_methods(on_arrays):
    assert "/invocations" in error_of(on_arrays.get("/nowhere"), 404)
    error_of(on_arrays.get("/invocations"), 405)
    assert on_arrays.get("/invocations").headers["allow"] == "POST"
    error_of(on_arrays.post("/health"), 405)
    assert on_arrays.post("/health").headers["allow"] == "GET, HEAD"


def test_docs_come_from_fastapi_on_first_use(on_arrays):
    fresh = "fastapi" not in sys.modules
    spec = on_arrays.get("/openapi.json").json()
    assert {"/invocations", "/predict", "/health", "/metadata"} <= set(spec["paths"])
    examples = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(examples)
    assert "swagger" in on_arrays.get("/docs").text.lower()
    if fresh:
        assert "fastapi" in sys.modules


def test_docs_app_answers_like_the_server(on_arrays, iris, fitted):

    X, _, _, _ = iris
    docs = TestClient(on_arrays.app.docs_app())
    got = docs.post("/invocations", json={"inputs": X[:4].tolist()})
    assert same(predictions(got), fitted[0].predict(X[:4]))
    error_of(docs.post("/invocations", content=b"{"), 400)
    assert docs.get("/metadata").json()["flavor"] == "sklearn"


def test_text_labels_and_several_values_per_row(serve, iris):
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    client = serve(LogisticRegression(max_iter=1000).fit(X, names), X[:2])
    got = predictions(client.post("/invocations", json={"inputs": X[[0, 100]].tolist()}))
    assert got == ["setosa", "virginica"]

    class Probabilities:
        def predict(self, X):
            return np.asfortranarray(np.tile([0.25, 0.75], (len(X), 1)))  # not C-contiguous

    client = serve(Probabilities(), np.ones((2, 3)))
    got = predictions(client.post("/invocations", json={"inputs": [[1, 2, 3], [4, 5, 6]]}))
    assert got == [[0.25, 0.75], [0.25, 0.75]]
