"""scikit-learn estimators with joblib."""

from __future__ import annotations

import pytest

from heron.artifacts.materializers import MaterializerError, get_materializer, materializer_for

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")
pytest.importorskip("joblib")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def iris():
    data = load_iris()  # bundled with scikit-learn: no download
    return data.data, data.target


def test_fitted_logistic_regression_round_trips(iris, round_trip):
    x, y = iris
    model = LogisticRegression(max_iter=500, C=0.5).fit(x, y)
    materializer = materializer_for(model)
    assert materializer.name == "sklearn.joblib"
    loaded, metadata = round_trip(materializer, model)
    assert type(loaded) is LogisticRegression
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.coef_, model.coef_)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert metadata["type"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert metadata["estimator"] == metadata["type"]
    assert metadata["params"]["C"] == "0.5"
    assert metadata["params"]["max_iter"] == "500"
    assert metadata["fitted"] is True
    assert metadata["sklearn_version"]


def test_pipeline_is_chosen_through_its_base_estimator_and_round_trips(iris, round_trip):
    x, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    materializer = materializer_for(model)
    assert materializer.name == "sklearn.joblib"
    loaded, metadata = round_trip(materializer, model)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert all(isinstance(v, str) and len(v) <= 200 for v in metadata["params"].values())
    assert "logisticregression__max_iter" in metadata["params"]


def test_unfitted_estimator_round_trips_and_says_so(round_trip):
    loaded, metadata = round_trip(get_materializer("sklearn.joblib"), LogisticRegression())
    assert loaded.get_params() == LogisticRegression().get_params()
    assert metadata["fitted"] is False


def test_estimator_holding_a_lambda_fails_with_a_clear_error(fs, folder):
    model = FunctionTransformer(lambda x: x + 1)
    with pytest.raises(MaterializerError, match="cloudpickle"):
        get_materializer("sklearn.joblib").save(model, fs, folder())


def test_estimator_holding_a_lambda_round_trips_with_cloudpickle(round_trip):
    model = FunctionTransformer(lambda x: x + 1)
    loaded, _ = round_trip(get_materializer("cloudpickle"), model)
    assert loaded.func(1) == 2
