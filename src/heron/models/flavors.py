"""Flavors: what kind of model an object is, how to call it, what it was made with.

- ``sklearn``: a scikit-learn estimator or pipeline (also XGBoost's and LightGBM's
  scikit-learn wrappers), stored with joblib;
- ``xgboost`` / ``lightgbm``: a native ``Booster``, stored with cloudpickle;
- ``predict``: any other object with a ``predict`` method, stored with cloudpickle;
- ``callable``: a plain function ``f(data) -> predictions``, stored with cloudpickle.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from heron.core.errors import InvalidArgument

SKLEARN = "sklearn"
XGBOOST = "xgboost"
LIGHTGBM = "lightgbm"
PREDICT = "predict"
CALLABLE = "callable"
FLAVORS = (SKLEARN, XGBOOST, LIGHTGBM, PREDICT, CALLABLE)

# top-level module -> the distribution that provides it, where the two names differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm"}


def detect_flavor(model: Any) -> str:
    """The flavor of ``model``; :class:`InvalidArgument` for something that cannot predict."""
    if isinstance(model, type):
        raise InvalidArgument(
            f"Cannot log the class {model.__name__} as a model: log a fitted instance, as in "
            f"heron.log_model({model.__name__}().fit(X, y), 'model')."
        )
    module = type(model).__module__.split(".")[0]
    if _is_sklearn_estimator(model):
        return SKLEARN
    if module == "xgboost" and type(model).__name__ == "Booster":
        return XGBOOST
    if module == "lightgbm" and type(model).__name__ == "Booster":
        return LIGHTGBM
    if callable(getattr(model, "predict", None)):
        return PREDICT
    if callable(model) and not isinstance(model, type):
        return CALLABLE
    raise InvalidArgument(
        f"Cannot log a {type(model).__name__} as a model: it has no predict method and is not "
        "callable. Log an estimator, an object with predict(data), or a function."
    )


def _is_sklearn_estimator(model: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    if base is None:
        if not any(c.__module__.startswith("sklearn") for c in type(model).__mro__):
            return False
        import sklearn.base as base
    return isinstance(model, base.BaseEstimator) and callable(getattr(model, "predict", None))


def materializer_name(flavor: str) -> str:
    """The materializer that stores a model of ``flavor``."""
    return "sklearn.joblib" if flavor == SKLEARN else "cloudpickle"


def library_versions(model: Any) -> dict[str, str]:
    """Versions of Python and of the libraries the model needs to load and predict."""
    import platform

    versions = {"python": platform.python_version()}
    modules = {"numpy", type(model).__module__.split(".")[0]}
    if _is_sklearn_estimator(model):
        modules.add("sklearn")
    for module in sorted(modules):
        name = _DISTRIBUTIONS.get(module, module)
        version = getattr(sys.modules.get(module), "__version__", None) or _version_of(name)
        if isinstance(version, str):
            versions[name] = version
    versions.pop("__main__", None)
    return versions


@functools.lru_cache(maxsize=64)
def _version_of(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def needs_dataframe(model: Any, flavor: str, has_columns: bool) -> bool:
    """Whether ``predict`` should get a DataFrame rather than a NumPy array.

    scikit-learn models fitted on a DataFrame (they know ``feature_names_in_``) do; user code
    (``predict``/``callable`` flavors) does when the signature names columns, as MLflow's
    pyfunc models do.
    """
    if flavor in (SKLEARN, LIGHTGBM, XGBOOST):
        return hasattr(model, "feature_names_in_") and flavor == SKLEARN
    return has_columns


def predictor(model: Any, flavor: str) -> Callable[..., Any]:
    """A function ``f(X, **params)`` that calls the model on prepared input ``X``."""
    if flavor == CALLABLE:
        return model
    if flavor == XGBOOST:
        import xgboost

        return lambda X, **params: model.predict(xgboost.DMatrix(X), **params)
    return model.predict


def keyword_names(function: Callable[..., Any]) -> set[str] | None:
    """The keyword arguments ``function`` takes, or ``None`` when it takes any."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
