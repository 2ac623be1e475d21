"""XGBoost and LightGBM, through their scikit-learn wrappers (``XGBClassifier``,
``LGBMRegressor``, …), when they are installed.

Their ``fit`` is patched like any scikit-learn estimator's, so they log params, training
metrics and the model the same way; in addition the evaluation history of ``eval_set``
(``evals_result_``) is logged as metrics ``<data>-<metric>`` with the boosting round as the
step (``validation_0-logloss``, ``valid_0-l2``), and ``best_iteration`` after early stopping.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from heron.autologging._runs import RunWriter

#: library -> its scikit-learn wrapper base class
BASES = {"xgboost": "XGBModel", "lightgbm": "LGBMModel"}


def wrapper_classes() -> tuple[list[type], list[str]]:
    """The scikit-learn wrapper classes of the installed boosting libraries, and problems
    met while importing them (a broken install is reported, never raised)."""
    classes: list[type] = []
    problems = []
    for library, base_name in BASES.items():
        try:
            if importlib.util.find_spec(library) is None:
                continue
            base = getattr(importlib.import_module(library), base_name)
        except Exception as e:
            problems.append(f"{library}: {type(e).__name__}: {e}")
            continue
        classes += [c for c in _subclasses(base) if c.__module__.split(".")[0] == library]
    return classes, problems


def _subclasses(cls: type) -> list[type]:
    found, todo = [cls], [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def is_boosting_model(estimator: Any) -> bool:
    return type(estimator).__module__.split(".")[0] in BASES


def log_evaluation(writer: RunWriter, estimator: Any) -> None:
    """The ``eval_set`` history and ``best_iteration`` of a fitted boosting model."""
    try:
        results = estimator.evals_result_
    except Exception:  # no eval_set, or a version that keeps no history
        results = None
    if isinstance(results, dict):
        for data, metrics in results.items():
            if isinstance(metrics, dict):
                for metric, values in metrics.items():
                    writer.history(f"{data}-{metric}", list(values))
    for attribute in ("best_iteration", "best_iteration_"):
        try:
            best = getattr(estimator, attribute)
        except Exception:  # XGBoost raises when there was no early stopping
            continue
        if isinstance(best, int) and not isinstance(best, bool) and best > 0:
            writer.metrics({"best_iteration": best})
            break
