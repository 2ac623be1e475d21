"""Autologging of scikit-learn estimators (and of XGBoost's and LightGBM's scikit-learn
wrappers): the patched ``fit``, ``fit_transform`` and ``fit_predict``.

Every estimator class :func:`sklearn.utils.all_estimators` lists, plus ``Pipeline``,
``GridSearchCV`` and ``RandomizedSearchCV``, gets these methods patched on the class that
defines them (so ``SGDClassifier.fit``, defined on a base class, is patched there once).
A patched method called inside another one (the steps of a ``Pipeline``, the candidates of
a search, the members of an ensemble) only runs the original: one fit, one log.

Per fit (see ``docs/autolog.md``): before it, tags ``estimator_name`` and
``estimator_class`` and the params ``get_params(deep=True)``; after it, the training metrics
(:mod:`heron.autologging._metrics`), for searches the best results and child runs
(:mod:`heron.autologging._search`), for boosting models their evaluation history, and the fitted
model as the artifact ``model``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import types
import warnings
from collections.abc import Callable
from typing import Any

from heron.autologging import _boosting, _patching, _search
from heron.autologging._config import AutologConfig, current
from heron.autologging._metrics import training_metrics
from heron.autologging._runs import AUTOLOG_TAG, RunWriter, attempt, fit_in_run

#: the methods patched, where an estimator class defines them
METHODS = ("fit", "fit_transform", "fit_predict")
#: rows of the training data kept as the input example (``log_input_examples=True``)
EXAMPLE_ROWS = 5

# True while an autologged fit runs in this context: fits inside it only run
_inside_fit: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "heron_autolog_inside_fit", default=False
)


def patch_all() -> tuple[int, list[str]]:
    """Patch every estimator class; returns how many methods were patched now, and the
    problems met importing the optional libraries."""
    from sklearn.base import BaseEstimator

    classes, problems = estimator_classes()
    libraries = ("sklearn", *_boosting.BASES)
    targets = _patching.defining_classes(
        classes,
        METHODS,
        keep=lambda owner: (
            issubclass(owner, BaseEstimator) and owner.__module__.split(".")[0] in libraries
        ),
    )
    count = 0
    for owner, name in sorted(targets, key=lambda t: (t[0].__module__, t[0].__qualname__, t[1])):
        count += _patching.patch(owner, name, _wrap)
    return count, problems


def unpatch_all() -> int:
    """Restore every patched method; returns how many."""
    return _patching.unpatch_all()


def estimator_classes() -> tuple[list[type], list[str]]:
    """The classes autologging covers, and problems met importing optional libraries."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations raised by importing every module
        classes = [cls for _name, cls in all_estimators()]
    classes += [Pipeline, GridSearchCV, RandomizedSearchCV]
    boosting, problems = _boosting.wrapper_classes()
    return classes + boosting, problems


def _wrap(original: types.FunctionType) -> Callable[..., Any]:
    @functools.wraps(original)
    def autologged(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = current()
        if config is None or _inside_fit.get():
            return original(self, *args, **kwargs)
        token = _inside_fit.set(True)
        try:
            return _fit_and_log(config, original, self, args, kwargs)
        finally:
            _inside_fit.reset(token)

    autologged.__heron_autolog__ = True  # type: ignore[attr-defined]
    return autologged


def _fit_and_log(
    config: AutologConfig,
    original: Callable[..., Any],
    estimator: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    def before(writer: RunWriter) -> None:
        writer.tags(estimator_tags(estimator))
        writer.params(estimator.get_params(deep=True))

    def after(writer: RunWriter, _result: Any) -> None:
        X, y, weight = fit_data(original, estimator, args, kwargs)
        log_fitted(writer, estimator, X, y, weight)

    return fit_in_run(
        config,
        type(estimator).__name__,
        lambda: original(estimator, *args, **kwargs),
        before,
        after,
    )


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {
        "estimator_name": cls.__name__,
        "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
        AUTOLOG_TAG: cls.__module__.split(".")[0],
    }


def log_fitted(writer: RunWriter, estimator: Any, X: Any, y: Any, weight: Any) -> None:
    """Everything logged after a fit, each part on its own (one failing skips only itself)."""
    config = writer.config
    name = type(estimator).__name__
    search = _search.is_search(estimator)
    refitted = not search or hasattr(estimator, "best_estimator_")
    if search:
        params, metrics = _search.best_results(estimator)
        attempt(config, f"log the best params of {name}", lambda: writer.params(params))
        attempt(config, f"log the best score of {name}", lambda: writer.metrics(metrics))
    if refitted:
        attempt(
            config,
            f"log the training metrics of {name}",
            lambda: writer.metrics(training_metrics(config, estimator, X, y, weight)),
        )
    if _boosting.is_boosting_model(estimator):
        attempt(
            config,
            f"log the evaluation history of {name}",
            lambda: _boosting.log_evaluation(writer, estimator),
        )
    if search:
        attempt(
            config,
            f"log cv_results.csv of {name}",
            lambda: writer.text(_search.results_csv(estimator), "cv_results.csv"),
        )
        attempt(
            config,
            f"log the candidates of {name}",
            lambda: _search.log_candidates(writer, estimator),
        )
    if config.log_models and refitted:
        example = example_rows(X)
        if callable(getattr(estimator, "predict", None)):
            attempt(
                config, f"log {name} as a model", lambda: writer.model(estimator, "model", example)
            )
        if search:
            best = estimator.best_estimator_
            attempt(
                config,
                f"log the best estimator of {name}",
                lambda: writer.model(best, "best_estimator", example, register=False),
            )


def fit_data(
    original: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` of a fit call (``None`` for what it was not given): ``X``
    and ``y`` are the first two parameters, whatever their names."""
    try:
        signature = inspect.signature(original)
        bound = signature.bind(estimator, *args, **kwargs)
    except (TypeError, ValueError):
        return (args[0] if args else None), (args[1] if len(args) > 1 else None), None
    positional = [
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][1:]
    X = bound.arguments.get(positional[0]) if positional else None
    y = bound.arguments.get(positional[1]) if len(positional) > 1 else None
    weight = bound.arguments.get("sample_weight")
    if weight is None:
        extra = next(
            (
                bound.arguments.get(name)
                for name, p in signature.parameters.items()
                if p.kind is p.VAR_KEYWORD
            ),
            None,
        )
        weight = extra.get("sample_weight") if isinstance(extra, dict) else None
    return X, y, weight


def example_rows(X: Any) -> Any:
    """The first rows of the training data (for the signature and the input example), or
    ``None`` when they cannot be taken (sparse matrices, generators)."""
    if X is None or hasattr(X, "tocsr"):  # scipy sparse: no JSON example, no signature
        return None
    try:
        if hasattr(X, "iloc"):
            return X.iloc[:EXAMPLE_ROWS]
        if isinstance(X, list | tuple) or hasattr(X, "shape"):
            return X[:EXAMPLE_ROWS]
    except Exception:
        return None
    return None
