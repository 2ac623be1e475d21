"""`Model`: a stored model read back, ready to ``predict``; `ModelInfo`: what ``log_model``
returns.

A model is an artifact version whose ``metadata["model"]`` holds :data:`MODEL_KEY` facts:
``flavor``, ``class``, ``libraries`` (name -> version), ``signature`` (see
:mod:`heron.models.signature`), ``input_example`` (JSON, when given) and ``needs_dataframe``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from heron.core.entities import ArtifactVersion
from heron.core.errors import InvalidArgument
from heron.models import flavors
from heron.models.inputs import ModelInputError, prepare_input
from heron.models.signature import Signature

MODEL_KEY = "model"


#: materializers whose artifacts are data, never a model
DATA_MATERIALIZERS = ("file", "json", "numpy", "pandas", "arrow")


def check_model_artifact(artifact: ArtifactVersion) -> None:
    """Refuse artifacts that hold data (arrays, tables, files), which can never predict."""
    if MODEL_KEY in (artifact.metadata or {}):
        return
    if artifact.materializer.split(".")[0] in DATA_MATERIALIZERS:
        raise InvalidArgument(
            f"Artifact {artifact.name} v{artifact.version} is {artifact.type} data (stored by "
            f"{artifact.materializer!r}), not a model. Use a model logged with heron.log_model, "
            "or a step output that is an estimator."
        )


def facts_for(artifact: ArtifactVersion, impl: Any) -> dict[str, Any]:
    """The model facts of an artifact: those ``log_model`` recorded, or, for a step output
    that is a model (an estimator returned by a step), facts read off the object itself."""
    facts = artifact.metadata.get(MODEL_KEY) if artifact.metadata else None
    if isinstance(facts, dict) and "flavor" in facts:
        return facts
    return {
        "flavor": flavors.detect_flavor(impl),
        "class": artifact.type,
        "libraries": flavors.library_versions(impl),
        "signature": None,
        "input_example": None,
    }


class Model:
    """A model loaded by :func:`heron.load_model`.

    ``predict(data)`` takes a pandas DataFrame, a NumPy array, a list of rows, a list of dicts
    or a dict of columns, checks it against the signature and calls the underlying model.
    ``impl`` is the underlying object (the estimator, the function, …).
    """

    def __init__(
        self,
        impl: Any,
        artifact: ArtifactVersion,
        uri: str,
        registered_name: str | None = None,
        registered_version: int | None = None,
    ) -> None:
        facts = self._facts = facts_for(artifact, impl)
        self.impl = impl
        self.artifact = artifact
        self.uri = uri
        self.registered_name = registered_name
        self.registered_version = registered_version
        self.flavor: str = facts["flavor"]
        self.signature: Signature | None = Signature.from_dict(facts.get("signature"))
        self.libraries: dict[str, str] = dict(facts.get("libraries") or {})
        self.needs_dataframe = flavors.needs_dataframe(
            impl, self.flavor, bool(self.signature and self.signature.columns)
        )
        self._feature_names = feature_names(impl) if self.needs_dataframe else None
        self._predict = flavors.predictor(impl, self.flavor)
        self._keywords = flavors.keyword_names(self._predict)
        self.array_path = False  # fitted on a DataFrame, predicting on arrays (see below)
        if self.needs_dataframe and self.flavor == flavors.SKLEARN:
            unnamed = array_estimator(impl, self.signature, self._feature_names)
            if unnamed is not None:
                # Heron checks the columns by name (the signature's are those the model was
                # fitted with, in that order) and builds one array in that order; the
                # estimator, a copy without ``feature_names_in_``, predicts on it without a
                # DataFrame per request and without "X does not have valid feature names".
                self.needs_dataframe = False
                self._feature_names = None
                self._predict = unnamed.predict
                self.array_path = True

    def __repr__(self) -> str:
        where = (
            f"{self.registered_name} v{self.registered_version}"
            if self.registered_name
            else self.uri
        )
        return f"<heron Model {where}: {self.flavor} {type(self.impl).__name__}>"

    def prepare(self, data: Any) -> Any:
        """``data`` checked against the signature and shaped the way the model takes it."""
        names = self._feature_names
        if names is not None and _is_frame(data) and set(names) <= set(map(str, data.columns)):
            data = data[names]  # the order the model was fitted with
        return self.align(prepare_input(data, self.signature, needs_dataframe=self.needs_dataframe))

    def align(self, prepared: Any) -> Any:
        """A prepared DataFrame with its columns named and ordered as the model was fitted
        (see :func:`align_columns`)."""
        return align_columns(prepared, self._feature_names)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for ``data`` (see the class doc); ``params`` go to the model's predict."""
        return self.predict_prepared(self.prepare(data), params)

    def split_params(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``params`` the model's predict takes, and the names of those it does not."""
        if self._keywords is None:
            return params, []
        ignored = sorted(set(params) - self._keywords)
        if not ignored:
            return params, []
        return {k: v for k, v in params.items() if k in self._keywords}, ignored

    def param_names(self) -> list[str]:
        """The keyword parameters of the model's predict (beyond the input ``X``)."""
        return sorted((self._keywords or set()) - {"X"})

    def predict_prepared(self, prepared: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for input :meth:`prepare` returned (the scoring server's fast path)."""
        if not params:
            return self._predict(prepared)
        if self._keywords is not None:
            unknown = sorted(set(params) - self._keywords)
            if unknown:
                raise ModelInputError(
                    f"The model's predict takes no parameter(s) {', '.join(map(repr, unknown))}"
                    + (
                        f"; it takes {', '.join(sorted(self._keywords - {'X'}))}."
                        if self._keywords - {"X"}
                        else "."
                    )
                )
        return self._predict(prepared, **params)

    def describe(self) -> dict[str, Any]:
        """Facts for ``GET /metadata`` and ``heron models show``: what, where from, signature."""
        facts = self._facts
        return {
            "name": self.registered_name,
            "version": self.registered_version,
            "uri": self.uri,
            "artifact_id": self.artifact.id,
            "run_id": self.artifact.producer_run_id,
            "flavor": self.flavor,
            "class": facts.get("class"),
            "libraries": self.libraries,
            "signature": facts.get("signature"),
            "input_example": facts.get("input_example"),
        }


def feature_names(impl: Any) -> list[str] | None:
    """The column names a scikit-learn model was fitted with (``feature_names_in_``)."""
    names = getattr(impl, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def array_estimator(impl: Any, signature: Signature | None, names: list[str] | None) -> Any:
    """A shallow copy of ``impl``, a scikit-learn model fitted on a DataFrame, that predicts
    on NumPy arrays without the feature-name check (``feature_names_in_`` removed from the
    copy), or ``None`` when the model needs a DataFrame or Heron cannot check its columns.

    Only when the signature names exactly the columns the model was fitted with, in that
    order, all numeric (so Heron's own check is the one scikit-learn would make and the array
    is what scikit-learn would build from the frame), and only for plain estimators and
    pipelines of them: not a ``ColumnTransformer`` (it selects columns by name), not a step
    set to output DataFrames, not a meta-estimator holding models fitted on DataFrames.
    """
    from heron.models.inputs import common_dtype

    if names is None or signature is None or signature.columns != names:
        return None
    if common_dtype(signature) is None:
        return None
    try:
        return _unnamed(impl, top=True)
    except Exception:  # an estimator unlike the ones above: keep the DataFrame
        return None


def _unnamed(estimator: Any, top: bool = False) -> Any:
    import copy

    steps = getattr(estimator, "steps", None)
    if type(estimator).__name__ == "Pipeline" and isinstance(steps, list):
        new_steps = []
        for i, (name, step) in enumerate(steps):
            if step is None or step == "passthrough":
                new_steps.append((name, step))
                continue
            stripped = _unnamed(step, top=i == 0)
            if stripped is None:
                return None
            new_steps.append((name, stripped))
        clone = copy.copy(estimator)
        clone.steps = new_steps
        return clone
    if hasattr(estimator, "transformers_"):
        return None  # ColumnTransformer: columns chosen by name
    output = getattr(estimator, "_sklearn_output_config", None) or {}
    if output.get("transform") not in (None, "default"):
        return None  # outputs DataFrames: the next step checks their names
    state = vars(estimator)
    if any(_holds_named(value) for key, value in state.items() if key != "feature_names_in_"):
        return None  # a meta-estimator whose inner models were fitted on the DataFrame
    if "feature_names_in_" not in state:
        return estimator if not top else None
    clone = copy.copy(estimator)
    del clone.feature_names_in_  # the copy's own attribute; the original keeps it
    return clone


def _holds_named(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is (or holds, in lists, tuples and dicts) a fitted model with
    ``feature_names_in_``."""
    if depth > 3:
        return False
    if isinstance(value, list | tuple):
        return any(_holds_named(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_named(v, depth + 1) for v in value.values())
    return hasattr(value, "get_params") and hasattr(value, "feature_names_in_")


def align_columns(prepared: Any, names: list[str] | None) -> Any:
    """``prepared`` (a DataFrame) with its columns named and ordered as ``names``, the
    columns the model was fitted with: scikit-learn refuses other orders. Columns are matched
    by name when all are there, else by position (rows given as plain lists)."""
    if names is None or not _is_frame(prepared):
        return prepared
    columns = [str(c) for c in prepared.columns]
    if columns == names:
        return prepared
    if set(names) <= set(columns):
        return prepared[names]
    if len(columns) == len(names):
        return prepared.set_axis(names, axis=1)
    return prepared


def _is_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc")


def to_jsonable(predictions: Any) -> Any:
    """Predictions as plain JSON values: arrays and series as lists, frames as records."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    if isinstance(predictions, list | tuple):
        return [to_jsonable(p) for p in predictions]
    if isinstance(predictions, dict):
        return {str(k): to_jsonable(v) for k, v in predictions.items()}
    return predictions


@dataclass(slots=True)
class ModelInfo:
    """What :func:`heron.log_model` stored: the artifact, its run and its URIs."""

    name: str
    artifact_id: str
    artifact_version: int
    run_id: str | None
    model_uri: str
    flavor: str
    signature: dict[str, Any] | None
    libraries: dict[str, str]
    registered_model_name: str | None = None
    registered_model_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
