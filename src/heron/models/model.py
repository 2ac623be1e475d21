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
