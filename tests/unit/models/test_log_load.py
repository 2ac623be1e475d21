"""`heron.log_model` and `heron.load_model`: flavors, signatures, URIs."""

from __future__ import annotations

import numpy as np
import pytest

import heron
from heron.core.errors import InvalidArgument, NotFound
from heron.models.inputs import ModelInputError
from heron.models.model import MODEL_KEY, Model
from tests.unit.models.conftest import same


def test_sklearn_model_round_trip_by_run_uri(iris, fitted):
    X, _, _, _ = iris
    model, _ = fitted
    with heron.start_run() as run:
        info = heron.log_model(model, "iris-model", input_example=X[:3])
    assert info.model_uri == f"runs:/{run.id}/iris-model"
    assert info.flavor == "sklearn"
    assert info.signature["inputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1, 4]}
    assert info.signature["outputs"] == {"type": "tensor", "dtype": "int64", "shape": [-1]}
    import sklearn

    assert info.libraries["scikit-learn"] == sklearn.__version__
    loaded = heron.load_model(info.model_uri)
    assert isinstance(loaded, Model)
    assert same(loaded.predict(X), model.predict(X))
    assert same(loaded.predict(X[:2].tolist()), model.predict(X[:2]))
    assert same(loaded.predict(X[0].tolist()), model.predict(X[:1]))  # one row, no batch axis
    artifact = heron.Client().get_artifact(info.artifact_id)
    assert artifact.producer_run_id == run.id
    assert artifact.metadata[MODEL_KEY]["input_example"] == X[:3].tolist()
    assert same(heron.load_model(info.artifact_id).predict(X[:5]), model.predict(X[:5]))


def test_dataframe_model_takes_records_and_columns(iris, fitted):
    _, _, frame, _ = iris
    _, model = fitted
    with heron.start_run():
        info = heron.log_model(model, "iris-frame", input_example=frame.head())
    loaded = heron.load_model(info.model_uri)
    assert loaded.array_path  # fitted on a DataFrame; Heron checks the names, predicts on arrays
    assert loaded.signature.columns == list(frame.columns)
    expected = model.predict(frame.head(4))
    assert same(loaded.predict(frame.head(4)), expected)
    assert same(loaded.predict(frame.head(4).to_dict(orient="records")), expected)
    assert same(loaded.predict(frame.head(4).to_dict(orient="list")), expected)
    with pytest.raises(ModelInputError, match="lacks column"):
        loaded.predict([{"sepal length (cm)": 1.0}])


def test_log_model_is_fast_enough_to_not_matter(iris, fitted):
    # no timing: only that logging the same model twice stores the bytes once
    X, _, _, _ = iris
    with heron.start_run():
        a = heron.log_model(fitted[0], "m", input_example=X[:2])
        b = heron.log_model(fitted[0], "m", input_example=X[:2])
    client = heron.Client()
    first, second = client.get_artifact(a.artifact_id), client.get_artifact(b.artifact_id)
    assert (first.version, second.version) == (1, 2)
    assert first.content_hash == second.content_hash


class Doubler:
    def predict(self, data):
        return np.asarray(data) * 2


def double(data):
    return np.asarray(data) * 2


@pytest.mark.parametrize(("obj", "flavor"), [(Doubler(), "predict"), (double, "callable")])
def test_python_objects_and_functions(obj, flavor):
    with heron.start_run():
        info = heron.log_model(obj, "doubler", input_example=[[1.0, 2.0]])
    assert info.flavor == flavor
    loaded = heron.load_model(info.model_uri)
    assert loaded.predict([[3.0, 4.0]]).tolist() == [[6.0, 8.0]]


def test_predict_params_reach_the_model():
    def scaled(data, factor=1.0):
        return np.asarray(data) * factor

    with heron.start_run():
        info = heron.log_model(scaled, "scaled")
    loaded = heron.load_model(info.model_uri)
    assert loaded.predict([[1.0]], params={"factor": 3}).tolist() == [[3.0]]
    with pytest.raises(ModelInputError, match="takes no parameter\\(s\\) 'nope'"):
        loaded.predict([[1.0]], params={"nope": 1})


def test_things_that_cannot_predict_are_refused():
    with heron.start_run(), pytest.raises(InvalidArgument, match="no predict method"):
        heron.log_model({"a": 1}, "nope")
    with heron.start_run(), pytest.raises(InvalidArgument, match="needs a name"):
        heron.log_model(double, "")


def test_log_model_without_a_run_starts_one(fitted):
    info = heron.log_model(fitted[0], "auto")
    assert heron.active_run() is not None and info.run_id == heron.active_run().id


def test_registered_model_name_registers_a_version(iris, fitted):
    X, _, _, _ = iris
    with heron.start_run() as run:
        first = heron.log_model(fitted[0], "m", registered_model_name="iris")
        second = heron.log_model(fitted[0], "m", registered_model_name="iris")
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    mv = heron.Client().get_model_version("iris", 2)
    assert mv.artifact_id == second.artifact_id and mv.run_id == run.id
    for uri in ("models:/iris/1", "models:/iris", "models:/iris/latest"):
        assert same(heron.load_model(uri).predict(X[:3]), fitted[0].predict(X[:3]))
    heron.Client().set_model_alias("iris", "champion", 1)
    loaded = heron.load_model("models:/iris@champion")
    assert (loaded.registered_name, loaded.registered_version) == ("iris", 1)
    assert loaded.describe()["version"] == 1


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("", InvalidArgument, "non-empty"),
        ("s3://bucket/model", InvalidArgument, "not a model URI"),
        ("models:/", InvalidArgument, "name a model"),
        ("models:/iris/two", InvalidArgument, "the version is a number"),
        ("models:/nobody/1", NotFound, "nobody"),
        ("models:/nobody@champion", NotFound, "nobody"),
        ("runs:/abc", InvalidArgument, "runs:/<run_id>/<name>"),
        ("runs:/" + "0" * 32 + "/model", NotFound, "0000"),
    ],
)
def test_bad_model_uris(uri, error, message):
    with pytest.raises(error, match=message):
        heron.load_model(uri)


def test_run_uri_lists_what_the_run_has(fitted):
    with heron.start_run() as run:
        heron.log_model(fitted[0], "model")
    with pytest.raises(NotFound, match="It has: model"):
        heron.load_model(f"runs:/{run.id}/other")


def test_data_artifacts_are_not_models(tmp_path):
    with heron.start_run():
        av = heron.log_dict({"a": 1}, "config.json")
    with pytest.raises(InvalidArgument, match="not a model"):
        heron.load_model(av.id)
    with pytest.raises(InvalidArgument, match="not a model"):
        heron.Client().register_model("cfg", av.id)


def test_a_step_output_estimator_registers_and_loads(iris):
    from heron import pipeline, step

    X, y, _, _ = iris

    @step
    def train() -> object:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(random_state=0).fit(X, y)

    @pipeline(name="fit-tree")
    def fit_tree() -> None:
        train()

    result = fit_tree()
    client = heron.Client()
    mv = client.register_model("tree", f"runs:/{result.id}/train.output")
    assert mv.pipeline_run_id == result.id
    assert mv.run_id == result.steps["train"].id
    loaded = heron.load_model("models:/tree/1")
    assert loaded.flavor == "sklearn" and loaded.signature is None
    assert same(loaded.predict(X[:10]), y[:10])


def test_log_model_inside_a_step_logs_to_the_step_run(iris, fitted):
    from heron import pipeline, step

    X, _, _, _ = iris

    @step
    def package() -> str:
        return heron.log_model(fitted[0], "model", input_example=X[:2]).model_uri

    @pipeline(name="package")
    def packaging() -> None:
        package()

    result = packaging()
    uri = result.steps["package"].outputs["output"].load()
    assert uri == f"runs:/{result.steps['package'].id}/model"
    assert same(heron.load_model(uri).predict(X[:3]), fitted[0].predict(X[:3]))
    # and the pipeline run's URI finds it through its step
    assert heron.load_model(f"runs:/{result.id}/package.model").flavor == "sklearn"


def test_native_boosters(iris):
    X, y, _, _ = iris
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    xgb = xgboost.train({"objective": "multi:softmax", "num_class": 3}, xgboost.DMatrix(X, y), 5)
    lgb = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lightgbm.Dataset(X, y), 5
    )
    with heron.start_run():
        xgb_info = heron.log_model(xgb, "xgb", input_example=X[:2])
        lgb_info = heron.log_model(lgb, "lgb", input_example=X[:2])
    assert (xgb_info.flavor, lgb_info.flavor) == ("xgboost", "lightgbm")
    assert "xgboost" in xgb_info.libraries and "lightgbm" in lgb_info.libraries
    assert same(heron.load_model(xgb_info.model_uri).predict(X), xgb.predict(xgboost.DMatrix(X)))
    assert same(heron.load_model(lgb_info.model_uri).predict(X[:5].tolist()), lgb.predict(X[:5]))


def test_dataframe_models_get_columns_in_their_fitting_order():
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [10.0, 0, 5, 1]})
    model = LinearRegression().fit(X, X.a + 100 * X.b)
    expected = model.predict(X)
    with heron.start_run():
        tensor = heron.log_model(model, "m1", input_example=X.to_numpy()[:2])
        swapped = heron.log_model(model, "m2", input_example=X[["b", "a"]].head(2))
    by_position = heron.load_model(tensor.model_uri)
    assert np.allclose(by_position.predict(X[["b", "a"]]), expected)  # by name, not position
    assert np.allclose(by_position.predict(X.to_numpy()), expected)  # rows in fitting order
    by_name = heron.load_model(swapped.model_uri)
    assert np.allclose(by_name.predict(X), expected)
    assert np.allclose(by_name.predict(X.to_dict(orient="records")), expected)
    assert np.allclose(by_name.predict(X[["b", "a"]].to_numpy()), expected)  # signature order


def test_bool_and_string_columns_through_a_column_transformer():
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame(
        {
            "x": [1.0, 2, 3, 4, 5, 6],
            "flag": [True, False, True, False, True, False],
            "city": ["a", "b", "a", "b", "a", None],
        }
    )
    y = [0, 1, 0, 1, 0, 1]
    encode = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    model = make_pipeline(
        make_column_transformer((encode, ["city"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, y)
    with heron.start_run():
        info = heron.log_model(model, "ct", input_example=X.head(3))
    assert info.signature["outputs"] is not None
    loaded = heron.load_model(info.model_uri)
    assert same(loaded.predict(X), model.predict(X))
    assert same(loaded.predict(X.to_dict(orient="records")), model.predict(X))


def test_classes_are_refused_with_a_hint():
    from sklearn.linear_model import LogisticRegression

    with heron.start_run(), pytest.raises(InvalidArgument, match="log a fitted instance"):
        heron.log_model(LogisticRegression, "cls")
    with heron.start_run(), pytest.raises(InvalidArgument, match="is not a signature"):
        heron.log_model(double, "f", signature={"inputs": 3})
