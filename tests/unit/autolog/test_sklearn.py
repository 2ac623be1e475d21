"""``heron.autolog()`` with scikit-learn, read back from the store as a user would."""

from __future__ import annotations

import csv
import io
import logging
import math
import threading

import numpy as np
import pytest
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.ensemble import BaggingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import heron
from heron.core.errors import InvalidArgument
from heron.models.loading import load_model
from heron.pipelines.pipeline import pipeline
from heron.pipelines.step import step


def runs(client):
    """Every run of the store, oldest first."""
    return sorted(client.search_runs(), key=lambda r: (r.start_time, r.id))


def only_run(client):
    found = runs(client)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_fit_outside_a_run_logs_params_tags_and_metrics_to_a_new_run(client, iris):
    X, y = iris
    heron.autolog()
    model = LogisticRegression(C=0.5, max_iter=500)
    assert model.fit(X, y) is model

    run = only_run(client)
    assert run.name == "LogisticRegression"
    assert run.status == "completed"
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.tags["heron.autolog"] == "sklearn"
    expected_params = {k: str(v) for k, v in model.get_params(deep=True).items()}
    assert run.params == expected_params
    assert run.params["C"] == "0.5" and run.params["max_iter"] == "500"

    predicted, proba = model.predict(X), model.predict_proba(X)
    weighted = {"average": "weighted"}
    assert run.metrics == pytest.approx(
        {
            "training_accuracy_score": metrics.accuracy_score(y, predicted),
            "training_precision_score": metrics.precision_score(y, predicted, **weighted),
            "training_recall_score": metrics.recall_score(y, predicted, **weighted),
            "training_f1_score": metrics.f1_score(y, predicted, **weighted),
            "training_log_loss": metrics.log_loss(y, proba),
            "training_roc_auc": metrics.roc_auc_score(y, proba, multi_class="ovo", **weighted),
            "training_score": model.score(X, y),
        }
    )


def test_binary_roc_auc_uses_the_positive_class_and_sample_weight_weighs_every_metric(
    client, binary
):
    X, y = binary
    weight = np.linspace(0.1, 2.0, len(y))
    heron.autolog()
    model = LogisticRegression().fit(X, y, sample_weight=weight)

    got = only_run(client).metrics
    predicted = model.predict(X)
    assert got["training_accuracy_score"] == pytest.approx(
        metrics.accuracy_score(y, predicted, sample_weight=weight)
    )
    assert got["training_accuracy_score"] != pytest.approx(metrics.accuracy_score(y, predicted))
    assert got["training_roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y, model.predict_proba(X)[:, 1], sample_weight=weight)
    )
    assert got["training_score"] == pytest.approx(model.score(X, y, sample_weight=weight))


def test_regressor_metrics_with_sample_weight(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.3, size=80)
    weight = rng.uniform(0.5, 2.0, size=80)
    heron.autolog()
    model = LinearRegression().fit(X, y, sample_weight=weight)

    run = only_run(client)
    predicted = model.predict(X)
    mse = metrics.mean_squared_error(y, predicted, sample_weight=weight)
    assert run.metrics == pytest.approx(
        {
            "training_mean_squared_error": mse,
            "training_root_mean_squared_error": math.sqrt(mse),
            "training_mean_absolute_error": metrics.mean_absolute_error(
                y, predicted, sample_weight=weight
            ),
            "training_r2_score": metrics.r2_score(y, predicted, sample_weight=weight),
            "training_score": model.score(X, y, sample_weight=weight),
        }
    )


def test_the_fitted_model_loads_back_and_predicts_like_the_estimator(client, iris):
    X, y = iris
    heron.autolog()
    model = LogisticRegression(max_iter=500).fit(X, y)

    run = only_run(client)
    loaded = load_model(f"runs:/{run.id}/model")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.flavor == "sklearn"
    assert loaded.signature is not None and loaded.signature.n_features == 4  # from X
    assert loaded.describe()["input_example"] is None  # log_input_examples=False
    assert [link.name for link in client.list_run_artifacts(run.id)] == ["model"]


def test_log_input_examples_keeps_the_first_rows(client, iris):
    X, y = iris
    heron.autolog(log_input_examples=True)
    LogisticRegression(max_iter=500).fit(X, y)

    loaded = load_model(f"runs:/{only_run(client).id}/model")
    assert np.allclose(loaded.describe()["input_example"], X[:5])


def test_log_models_false_stores_no_model(client, iris):
    X, y = iris
    heron.autolog(log_models=False)
    LogisticRegression(max_iter=500).fit(X, y)

    run = only_run(client)
    assert client.list_run_artifacts(run.id) == []
    assert "training_score" in run.metrics


def test_fit_inside_an_active_run_logs_into_it(client, iris):
    X, y = iris
    heron.autolog()
    with heron.start_run(name="mine") as run:
        heron.log_param("dataset", "iris")
        LogisticRegression(max_iter=500).fit(X, y)
        assert heron.active_run() is run

    got = only_run(client)
    assert got.id == run.id and got.name == "mine" and got.status == "completed"
    assert got.params["dataset"] == "iris" and got.params["max_iter"] == "500"
    assert "training_accuracy_score" in got.metrics
    assert load_model(f"runs:/{run.id}/model").predict(X[:2]).shape == (2,)


def test_a_second_fit_in_the_same_run_keeps_the_first_params_and_warns(client, iris, caplog):
    X, y = iris
    heron.autolog()
    with caplog.at_level(logging.WARNING, logger="heron.autolog"), heron.start_run() as run:
        LogisticRegression(C=1.0, max_iter=500).fit(X, y)
        LogisticRegression(C=10.0, max_iter=500).fit(X, y)
    got = client.get_run(run.id)
    assert got.status == "completed"
    assert got.params["C"] == "1.0"
    assert "already has param(s) C" in caplog.text


def test_exclusive_logs_nothing_inside_an_active_run(client, iris):
    X, y = iris
    heron.autolog(exclusive=True)
    with heron.start_run() as run:
        LogisticRegression(max_iter=500).fit(X, y)
    assert client.get_run(run.id).params == {}
    LogisticRegression(max_iter=500).fit(X, y)  # outside a run it still logs
    assert [r.name for r in runs(client)] == [run.name, "LogisticRegression"]


def test_extra_tags_go_on_the_runs_autologging_starts(client, iris):
    X, y = iris
    heron.autolog(extra_tags={"team": "vision"})
    LogisticRegression(max_iter=500).fit(X, y)
    assert only_run(client).tags["team"] == "vision"


def test_a_pipeline_logs_once_with_deep_params(client, iris):
    X, y = iris
    heron.autolog()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=2.0))])
    pipe.fit(X, y)

    run = only_run(client)
    assert run.tags["estimator_name"] == "Pipeline"
    assert run.params["clf__C"] == "2.0"
    assert run.params["scale__with_mean"] == "True"
    assert "steps" in run.params
    assert run.metrics["training_accuracy_score"] == pytest.approx(
        metrics.accuracy_score(y, pipe.predict(X))
    )
    loaded = load_model(f"runs:/{run.id}/model")
    assert isinstance(loaded.impl, Pipeline)
    assert np.array_equal(loaded.predict(X), pipe.predict(X))


def test_meta_estimators_log_once(client, iris):
    X, y = iris
    heron.autolog()
    BaggingClassifier(LogisticRegression(max_iter=500), n_estimators=3, random_state=0).fit(X, y)
    run = only_run(client)
    assert run.name == "BaggingClassifier"
    assert run.params["estimator__max_iter"] == "500"


def test_fit_transform_and_fit_predict_log_once(client, iris):
    X, _y = iris
    heron.autolog()
    StandardScaler().fit_transform(X)
    labels = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(X)
    assert labels.shape == (150,)

    scaler_run, kmeans_run = runs(client)
    assert scaler_run.name == "StandardScaler" and scaler_run.params["with_std"] == "True"
    assert client.list_run_artifacts(scaler_run.id) == []  # a transformer cannot predict
    assert kmeans_run.name == "KMeans" and kmeans_run.params["n_clusters"] == "3"
    assert kmeans_run.metrics == {}  # no labels, no training metrics
    assert [a.name for a in client.list_run_artifacts(kmeans_run.id)] == ["model"]


def test_long_param_values_are_cut(client):
    heron.autolog()
    FunctionTransformer(kw_args={"text": "x" * 7000}).fit(np.ones((3, 2)))
    value = only_run(client).params["kw_args"]
    assert len(value) == 6000 and value.endswith("...")


def test_grid_search_logs_the_best_candidate_and_a_child_run_per_candidate(client, iris):
    X, y = iris
    heron.autolog(max_tuning_runs=None)
    grid = {"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}
    search = GridSearchCV(LogisticRegression(max_iter=500), grid, cv=3).fit(X, y)

    all_runs = runs(client)
    parents = [r for r in all_runs if r.parent_id is None]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.name == "GridSearchCV" and parent.status == "completed"
    assert parent.params["estimator__max_iter"] == "500"
    assert parent.params["best_C"] == str(search.best_params_["C"])
    assert parent.params["best_fit_intercept"] == str(search.best_params_["fit_intercept"])
    assert parent.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.metrics["training_accuracy_score"] == pytest.approx(
        metrics.accuracy_score(y, search.predict(X))
    )

    children = [r for r in all_runs if r.parent_id == parent.id]
    assert len(children) == 6
    results = search.cv_results_
    for child in children:
        i = int(child.tags["candidate_index"])
        assert child.status == "completed"
        assert child.tags["estimator_name"] == "LogisticRegression"
        assert child.params["C"] == str(results["params"][i]["C"])
        assert child.params["fit_intercept"] == str(results["params"][i]["fit_intercept"])
        assert child.params["max_iter"] == "500"  # the seed estimator's own params too
        assert child.metrics["mean_test_score"] == pytest.approx(results["mean_test_score"][i])
        assert child.metrics["std_test_score"] == pytest.approx(results["std_test_score"][i])
        assert child.metrics["rank_test_score"] == results["rank_test_score"][i]
        assert "mean_fit_time" in child.metrics
        assert not any(k.startswith("split") for k in child.metrics)

    artifacts = {link.name for link in client.list_run_artifacts(parent.id)}
    assert artifacts == {"model", "best_estimator", "cv_results.csv"}
    best = load_model(f"runs:/{parent.id}/best_estimator")
    assert isinstance(best.impl, LogisticRegression)
    assert np.array_equal(best.predict(X), search.best_estimator_.predict(X))
    assert np.array_equal(load_model(f"runs:/{parent.id}/model").predict(X), search.predict(X))
    table = list(csv.DictReader(io.StringIO(_artifact_text(client, parent.id, "cv_results.csv"))))
    assert len(table) == 6
    assert float(table[0]["mean_test_score"]) == pytest.approx(results["mean_test_score"][0])


def test_max_tuning_runs_keeps_the_best_ranked_candidates(client, iris):
    X, y = iris
    heron.autolog(max_tuning_runs=2)
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [1e-4, 1e-3, 1.0, 10.0]}, cv=3)
    search.fit(X, y)

    children = [r for r in runs(client) if r.parent_id is not None]
    ranks = search.cv_results_["rank_test_score"]
    best_two = sorted(range(4), key=lambda i: (ranks[i], i))[:2]
    assert sorted(int(c.tags["candidate_index"]) for c in children) == sorted(best_two)


def test_randomized_search_uses_the_default_of_five_child_runs(client, iris):
    X, y = iris
    heron.autolog()
    RandomizedSearchCV(
        LogisticRegression(max_iter=500),
        {"C": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 0.5]},
        n_iter=7,
        cv=3,
        random_state=0,
    ).fit(X, y)
    parent = next(r for r in runs(client) if r.parent_id is None)
    assert parent.name == "RandomizedSearchCV"
    assert len([r for r in runs(client) if r.parent_id == parent.id]) == 5


def test_a_search_without_refit_logs_candidates_but_no_model(client, iris):
    X, y = iris
    heron.autolog()
    GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=3, refit=False).fit(X, y)
    parent = next(r for r in runs(client) if r.parent_id is None)
    assert "best_C" in parent.params
    assert {link.name for link in client.list_run_artifacts(parent.id)} == {"cv_results.csv"}
    assert len([r for r in runs(client) if r.parent_id == parent.id]) == 2


def test_a_failing_fit_marks_the_started_run_failed_and_raises(client, iris):
    X, _y = iris
    heron.autolog()
    with pytest.raises(ValueError, match="class"):
        LogisticRegression().fit(X, np.zeros(len(X)))  # one class only

    run = only_run(client)
    assert run.status == "failed"
    assert run.status_reason.startswith("ValueError")
    assert run.params["C"] == "1.0"  # params are logged before the fit
    assert heron.active_run() is None


def test_a_failing_fit_inside_a_user_run_leaves_the_run_to_the_user(client, iris):
    X, _y = iris
    heron.autolog()
    with heron.start_run() as run:
        with pytest.raises(ValueError):
            LogisticRegression().fit(X, np.zeros(len(X)))
        assert heron.active_run() is run
    assert client.get_run(run.id).status == "completed"


def test_autologging_errors_never_break_the_fit(client, iris, monkeypatch, caplog):
    from heron.autologging import _runs

    def broken(*args, **kwargs):
        raise RuntimeError("store is down")

    monkeypatch.setattr(_runs.RunWriter, "metrics", broken)
    monkeypatch.setattr(_runs.RunWriter, "model", broken)
    X, y = iris
    heron.autolog()
    with caplog.at_level(logging.WARNING, logger="heron.autolog"):
        model = LogisticRegression(max_iter=500).fit(X, y)
    assert model.coef_.shape == (3, 4)
    assert "store is down" in caplog.text
    run = only_run(client)
    assert run.status == "completed" and run.params["max_iter"] == "500"


def test_silent_turns_warnings_into_debug_messages(client, iris, monkeypatch, caplog):
    from heron.autologging import _runs

    def broken(*args, **kwargs):
        raise RuntimeError("store is down")

    monkeypatch.setattr(_runs.RunWriter, "model", broken)
    X, y = iris
    heron.autolog(silent=True)
    with caplog.at_level(logging.WARNING, logger="heron.autolog"):
        LogisticRegression(max_iter=500).fit(X, y)
    autolog_warnings = [
        r for r in caplog.records if r.name == "heron.autolog" and r.levelno >= logging.WARNING
    ]
    assert autolog_warnings == [], caplog.text


@pytest.mark.parametrize("parallelism", [1, 2])
def test_a_fit_in_a_pipeline_step_logs_to_the_step_run(parallelism, client, iris):
    heron.autolog()

    @pipeline
    def training():
        train_classifier(0.5)

    run = training.with_options(parallelism=parallelism)()
    assert run.status == "completed", run.steps["train_classifier"].error
    step_run = client.get_run(run.steps["train_classifier"].id)
    assert step_run.params["C"] == "0.5" and step_run.params["c"] == "0.5"
    assert step_run.tags["estimator_name"] == "LogisticRegression"
    assert "training_accuracy_score" in step_run.metrics
    X, _y = iris
    loaded = load_model(f"runs:/{step_run.id}/model")
    assert loaded.predict(X[:3]).shape == (3,)
    assert [r.kind for r in runs(client)] == ["pipeline", "step"]  # no run of its own


@step
def train_classifier(c: float) -> float:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(C=c, max_iter=500).fit(X, y).score(X, y)


def test_a_fit_in_a_thread_without_a_run_starts_its_own_run(client, iris):
    X, y = iris
    heron.autolog()
    errors = []

    def fit(c):
        try:
            LogisticRegression(C=c, max_iter=500).fit(X, y)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    with heron.start_run(name="main") as main:
        threads = [threading.Thread(target=fit, args=(c,)) for c in (0.1, 1.0, 10.0)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert client.get_run(main.id).params == {}
    fitted = [r for r in runs(client) if r.name == "LogisticRegression"]
    assert sorted(r.params["C"] for r in fitted) == ["0.1", "1.0", "10.0"]
    assert all(r.status == "completed" and r.parent_id is None for r in fitted)


def test_disable_restores_the_original_methods_exactly(client, iris):
    from sklearn.base import TransformerMixin
    from sklearn.linear_model import SGDClassifier
    from sklearn.linear_model._stochastic_gradient import BaseSGDClassifier
    from sklearn.model_selection._search import BaseSearchCV

    owners = [LogisticRegression, BaseSGDClassifier, BaseSearchCV, StandardScaler, KMeans]
    before = {(cls, name): cls.__dict__[name] for cls in owners for name in ("fit",)}
    before[(Pipeline, "fit_transform")] = Pipeline.__dict__["fit_transform"]
    before[(StandardScaler, "fit_transform")] = StandardScaler.__dict__.get("fit_transform")
    mixin = TransformerMixin.fit_transform

    heron.autolog()
    assert LogisticRegression.fit is not before[(LogisticRegression, "fit")]
    assert SGDClassifier.fit is BaseSGDClassifier.__dict__["fit"]  # patched where defined
    assert SGDClassifier.fit is not before[(BaseSGDClassifier, "fit")]
    assert GridSearchCV.fit is not before[(BaseSearchCV, "fit")]
    assert Pipeline.__dict__["fit_transform"] is not before[(Pipeline, "fit_transform")]
    assert TransformerMixin.fit_transform is mixin  # mixins are no estimators: untouched

    heron.autolog(disable=True)
    for (cls, name), original in before.items():
        assert cls.__dict__.get(name) is original, (cls, name)
    assert LogisticRegression.fit is before[(LogisticRegression, "fit")]
    assert GridSearchCV.fit is before[(BaseSearchCV, "fit")]

    X, y = iris
    LogisticRegression(max_iter=500).fit(X, y)
    assert client.search_runs() == []


def test_available_if_methods_stay_hidden_where_they_were(iris):
    heron.autolog()
    regressor_pipe = Pipeline([("reg", LinearRegression())])
    assert not hasattr(regressor_pipe, "fit_transform")
    assert not hasattr(regressor_pipe, "fit_predict")
    assert hasattr(Pipeline([("scale", StandardScaler())]), "fit_transform")


def test_calling_autolog_twice_patches_once(client, iris):
    heron.autolog()
    patched = LogisticRegression.fit
    heron.autolog(log_models=False)
    assert LogisticRegression.fit is patched
    X, y = iris
    LogisticRegression(max_iter=500).fit(X, y)
    run = only_run(client)
    assert client.list_run_artifacts(run.id) == []  # the second call's options apply
    heron.autolog(disable=True)
    heron.autolog(disable=True)  # disabling twice is fine too


def test_patched_methods_keep_their_signature():
    import inspect

    heron.autolog()
    assert list(inspect.signature(LogisticRegression.fit).parameters) == [
        "self",
        "X",
        "y",
        "sample_weight",
    ]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_max_tuning_runs_is_refused(bad):
    with pytest.raises(InvalidArgument, match="max_tuning_runs"):
        heron.autolog(max_tuning_runs=bad)
    assert LogisticRegression.fit.__name__ == "fit" and not hasattr(
        LogisticRegression.fit, "__heron_autolog__"
    )


def test_registered_model_name_registers_each_logged_model(client, iris):
    X, y = iris
    heron.autolog(registered_model_name="iris-autolog")
    LogisticRegression(max_iter=500).fit(X, y)
    LogisticRegression(C=2.0, max_iter=500).fit(X, y)
    latest = load_model("models:/iris-autolog/2")
    assert latest.registered_version == 2
    assert latest.impl.C == 2.0


def _artifact_text(client, run_id, name):
    from pathlib import Path

    return Path(client.download_artifact(run_id, name)).read_text()
