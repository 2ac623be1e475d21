"""Training metrics of a fitted estimator: its scores on the data it was fitted on.

Names follow MLflow's scikit-learn autologging, each prefixed ``training_``:

- classifiers: ``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score``
  (weighted averages), and with ``predict_proba`` ``log_loss`` and ``roc_auc`` (the positive
  class's probability for two classes, one-vs-one weighted for more);
- regressors: ``mean_squared_error``, ``root_mean_squared_error``, ``mean_absolute_error``,
  ``r2_score``;
- both: ``score`` (the estimator's own ``score``).

``sample_weight`` given to ``fit`` weighs every metric. Without labels there are none.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from heron.autologging._config import AutologConfig

PREFIX = "training_"


def training_metrics(
    config: AutologConfig, estimator: Any, X: Any, y: Any, sample_weight: Any
) -> dict[str, float]:
    """The metrics above for ``estimator`` on ``(X, y)``; a metric that cannot be computed
    is left out (one warning names them all)."""
    from sklearn.base import is_classifier, is_regressor

    if y is None or X is None:
        return {}
    candidates: dict[str, Callable[[], Any]] = {}
    if is_classifier(estimator):
        candidates.update(_classifier(estimator, X, y, sample_weight))
    elif is_regressor(estimator):
        candidates.update(_regressor(estimator, X, y, sample_weight))
    if callable(getattr(estimator, "score", None)):
        candidates["score"] = lambda: _score(estimator, X, y, sample_weight)
    found, failed = {}, []
    for name, compute in candidates.items():
        try:
            found[PREFIX + name] = float(compute())
        except Exception as e:
            failed.append(f"{PREFIX}{name} ({type(e).__name__}: {e})")
    if failed:
        config.warn(
            "Training metrics of %s not logged: %s", type(estimator).__name__, "; ".join(failed)
        )
    return found


def _once(compute: Callable[[], Any]) -> Callable[[], Any]:
    """``compute`` called at most once (predictions shared by several metrics)."""
    cache: list[Any] = []

    def cached() -> Any:
        if not cache:
            cache.append(compute())
        return cache[0]

    return cached


def _classifier(estimator: Any, X: Any, y: Any, w: Any) -> dict[str, Callable[[], Any]]:
    from sklearn import metrics

    predicted = _once(lambda: estimator.predict(X))
    found: dict[str, Callable[[], Any]] = {
        "accuracy_score": lambda: metrics.accuracy_score(y, predicted(), sample_weight=w),
        "precision_score": lambda: metrics.precision_score(
            y, predicted(), average="weighted", sample_weight=w, zero_division=0
        ),
        "recall_score": lambda: metrics.recall_score(
            y, predicted(), average="weighted", sample_weight=w, zero_division=0
        ),
        "f1_score": lambda: metrics.f1_score(
            y, predicted(), average="weighted", sample_weight=w, zero_division=0
        ),
    }
    if hasattr(estimator, "predict_proba"):
        proba = _once(lambda: estimator.predict_proba(X))
        found["log_loss"] = lambda: metrics.log_loss(
            y, proba(), sample_weight=w, labels=getattr(estimator, "classes_", None)
        )
        found["roc_auc"] = lambda: _roc_auc(y, proba(), w)
    return found


def _roc_auc(y: Any, proba: Any, w: Any) -> float:
    from sklearn import metrics

    if proba.ndim == 2 and proba.shape[1] == 2:
        return metrics.roc_auc_score(y, proba[:, 1], sample_weight=w)
    return metrics.roc_auc_score(y, proba, average="weighted", multi_class="ovo", sample_weight=w)


def _regressor(estimator: Any, X: Any, y: Any, w: Any) -> dict[str, Callable[[], Any]]:
    from sklearn import metrics

    predicted = _once(lambda: estimator.predict(X))
    mse = _once(lambda: metrics.mean_squared_error(y, predicted(), sample_weight=w))
    return {
        "mean_squared_error": mse,
        "root_mean_squared_error": lambda: math.sqrt(mse()),
        "mean_absolute_error": lambda: metrics.mean_absolute_error(y, predicted(), sample_weight=w),
        "r2_score": lambda: metrics.r2_score(y, predicted(), sample_weight=w),
    }


def _score(estimator: Any, X: Any, y: Any, w: Any) -> Any:
    if w is not None and _takes(estimator.score, "sample_weight"):
        return estimator.score(X, y, sample_weight=w)
    return estimator.score(X, y)


def _takes(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
