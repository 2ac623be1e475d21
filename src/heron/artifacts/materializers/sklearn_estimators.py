"""scikit-learn estimators (and pipelines) with joblib: ``model.joblib``.

joblib pickles the estimator and stores its NumPy arrays efficiently. Like any pickle, the
file is tied to the scikit-learn version that wrote it (recorded in the metadata), and it
holds functions by reference: an estimator holding a lambda cannot be stored this way.
"""

from __future__ import annotations

import itertools

from heron.artifacts.materializers.base import (
    Materializer,
    MaterializerError,
    local_path,
    member,
    short_repr,
    type_name_of,
)

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: parameters (of ``get_params()``) shown in the metadata, each cut to 200 characters
MAX_PARAMS = 100


class SklearnMaterializer(Materializer):
    """``sklearn.base.BaseEstimator`` subclasses as ``model.joblib``.

    Metadata: ``type``, ``estimator`` (class), ``params`` (``get_params()`` as strings, first
    100), ``fitted`` (bool, when scikit-learn can tell) and ``sklearn_version``.
    """

    name = "sklearn.joblib"
    version = "1"
    types = ("sklearn.base.BaseEstimator",)
    filename = "model.joblib"

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Dump ``obj`` with joblib into ``model.joblib``."""
        import joblib
        import sklearn

        target = member(path, self.filename)
        local = local_path(fs, target)
        try:
            if local is not None:
                joblib.dump(obj, local)
            else:
                with fs.open(target, "wb") as f:
                    joblib.dump(obj, f)
        except Exception as e:
            raise MaterializerError(
                f"Cannot store the {type_name_of(type(obj))} with joblib "
                f"({type(e).__name__}: {e}); it probably holds a lambda or a local function. "
                "Define the function at module level, or choose the 'cloudpickle' "
                "materializer for this output."
            ) from e
        metadata: dict[str, Any] = {
            "type": self.type_name(obj),
            "estimator": type_name_of(type(obj)),
            "sklearn_version": sklearn.__version__,
        }
        params = _params(obj)
        if params is not None:
            metadata["params"] = params
        fitted = _fitted(obj)
        if fitted is not None:
            metadata["fitted"] = fitted
        return metadata

    def load(self, fs: Any, path: str) -> Any:
        """Load ``model.joblib`` (only ever from a store you trust)."""
        import joblib

        target = member(path, self.filename)
        local = local_path(fs, target)
        if local is not None:
            return joblib.load(local)
        with fs.open(target, "rb") as f:
            return joblib.load(f)


def _params(estimator: Any) -> dict[str, str] | None:
    try:
        params = estimator.get_params()
    except Exception:  # third-party estimators do not all implement it well
        return None
    return {
        str(key): short_repr(value) for key, value in itertools.islice(params.items(), MAX_PARAMS)
    }


def _fitted(estimator: Any) -> bool | None:
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:
        return None
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    except Exception:
        return None
    return True
