"""Issue 8, items 10 and 24: one input rule for array- and DataFrame-fitted models (text is
no number), and DataFrame-fitted scikit-learn models predicting on arrays with Heron's own
column checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import heron
from heron.models.inputs import ModelInputError, prepare_split
from tests.unit.models.conftest import same


def load(model, example):
    with heron.start_run():
        info = heron.log_model(model, "m", input_example=example)
    return heron.load_model(info.model_uri)


@pytest.fixture
def both(iris, fitted):
    X, _, frame, _ = iris
    return load(fitted[0], X[:2]), load(fitted[1], frame.head(2))


@pytest.mark.parametrize("text", ["5.1", " 5 "])
def test_text_for_a_numeric_column_is_refused_by_array_and_frame_models(both, iris, text):
    _, _, frame, _ = iris
    row = [5.1, 3.5, 1.4, 0.2]
    for model in both:
        bad = [[*row[:1], text, *row[2:]]]
        with pytest.raises(ModelInputError, match=r"[Cc]olumn .*1|sepal width") as raised:
            model.predict(bad)
        assert repr(text) in str(raised.value)
        with pytest.raises(ModelInputError, match="takes numbers"):
            prepare_split(
                list(frame.columns),
                bad,
                model.signature,
                needs_dataframe=model.needs_dataframe,
            )
    with pytest.raises(ModelInputError, match="Column 0 takes numbers"):
        both[0].predict(np.array(bad, dtype=str))


def test_a_frame_fitted_model_predicts_on_arrays_without_warnings(both, iris, fitted):
    X, _, frame, _ = iris
    _, on_frame = both
    assert on_frame.array_path and not on_frame.needs_dataframe
    assert list(fitted[1].feature_names_in_) == list(frame.columns)  # the original is intact
    expected = fitted[1].predict(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X does not have valid feature names" would raise
        prepared = prepare_split(
            list(frame.columns),
            X.tolist(),
            on_frame.signature,
            needs_dataframe=on_frame.needs_dataframe,
        )
        assert type(prepared).__name__ == "ndarray"
        assert same(on_frame.predict_prepared(prepared), expected)
        assert same(on_frame.predict(frame), expected)
        assert same(on_frame.predict(frame[frame.columns[::-1]]), expected)  # by name
        reordered = prepare_split(
            list(frame.columns[::-1]),
            X[:, ::-1].tolist(),
            on_frame.signature,
            needs_dataframe=False,
        )
        assert same(on_frame.predict_prepared(reordered), expected)
    with pytest.raises(ModelInputError, match="lacks column"):
        on_frame.predict([{"sepal length (cm)": 1.0}])


def test_frame_fitted_pipelines_and_forests_take_the_array_path_too(iris):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, _, frame, target = iris
    for estimator in (
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ):
        estimator.fit(frame, target)
        model = load(estimator, frame.head(2))
        assert model.array_path
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert same(model.predict(frame), estimator.predict(frame))


def test_models_that_need_a_frame_keep_it(iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, _, frame, target = iris
    pandas_out = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pandas_out.set_output(transform="pandas")
    pandas_out.fit(frame, target)
    model = load(pandas_out, frame.head(2))
    assert not model.array_path and model.needs_dataframe
    assert same(model.predict(frame), pandas_out.predict(frame))
    reordered = LogisticRegression(max_iter=1000).fit(frame, target)
    model = load(reordered, frame[frame.columns[::-1]].head(2))  # signature order differs
    assert not model.array_path
    assert same(model.predict(frame), reordered.predict(frame))


def test_a_column_named_twice_is_refused(both, iris):
    _, _, frame, _ = iris
    columns = [*frame.columns[:3], frame.columns[0]]
    for model in both:
        with pytest.raises(ModelInputError, match="more than once"):
            prepare_split(
                columns,
                [[1.0, 2.0, 3.0, 4.0]],
                model.signature,
                needs_dataframe=model.needs_dataframe,
            )
