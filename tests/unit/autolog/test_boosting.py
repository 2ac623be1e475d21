"""XGBoost's and LightGBM's scikit-learn wrappers (run only where they are installed: they
are optional, not dev dependencies)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import heron
from heron.models.loading import load_model


def only_run(client):
    found = client.search_runs()
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_xgboost_classifier_logs_params_metrics_history_and_model(client, binary):
    xgboost = pytest.importorskip("xgboost")
    X, y = binary
    heron.autolog()
    model = xgboost.XGBClassifier(n_estimators=6, max_depth=2, eval_metric="logloss")
    model.fit(X, y, eval_set=[(X, y)], verbose=False)

    run = only_run(client)
    assert run.name == "XGBClassifier" and run.status == "completed"
    assert run.tags["heron.autolog"] == "xgboost"
    assert run.params["n_estimators"] == "6" and run.params["max_depth"] == "2"
    assert run.metrics["training_accuracy_score"] == pytest.approx(
        float(np.mean(model.predict(X) == y))
    )
    history = client.get_metric_history(run.id, "validation_0-logloss")
    assert [m.step for m in history] == list(range(6))
    assert [m.value for m in history] == pytest.approx(
        model.evals_result()["validation_0"]["logloss"]
    )
    loaded = load_model(f"runs:/{run.id}/model")
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_xgboost_fit_is_restored_on_disable():
    xgboost = pytest.importorskip("xgboost")
    original = xgboost.XGBClassifier.__dict__["fit"]
    heron.autolog()
    assert xgboost.XGBClassifier.__dict__["fit"] is not original
    heron.autolog(disable=True)
    assert xgboost.XGBClassifier.__dict__["fit"] is original


def test_lightgbm_regressor_logs_history_and_best_iteration(client):
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ [1.0, 2.0, 0.0, -1.0] + rng.normal(scale=0.1, size=200)
    heron.autolog()
    model = lightgbm.LGBMRegressor(n_estimators=40, verbose=-1)
    if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM >= 4.7
        validation = {"eval_X": (X[150:],), "eval_y": (y[150:],)}
    else:
        validation = {"eval_set": [(X[150:], y[150:])]}
    model.fit(X[:150], y[:150], callbacks=[lightgbm.early_stopping(3, verbose=False)], **validation)

    run = only_run(client)
    assert run.name == "LGBMRegressor"
    assert run.tags["heron.autolog"] == "lightgbm"
    assert run.params["n_estimators"] == "40"
    assert "training_r2_score" in run.metrics
    history = client.get_metric_history(run.id, "valid_0-l2")
    assert [m.value for m in history] == pytest.approx(model.evals_result_["valid_0"]["l2"])
    assert run.metrics["best_iteration"] == model.best_iteration_
    loaded = load_model(f"runs:/{run.id}/model")
    assert np.allclose(loaded.predict(X), model.predict(X))
