"""`Scorer`: one loaded model behind the scoring server, from parsed request to JSON answer.

``prepare`` checks a :class:`~heron.serving.formats.ParsedRequest` against the signature and
shapes it for the model (a NumPy array unless the model takes a DataFrame); ``predict`` calls
the model, turning what it raises into errors with an HTTP status: the model refusing the
input (``ValueError``, ``TypeError``: NaN into scikit-learn, a wrong width, …) is a 400 naming
the problem, anything else a 500 (a bug of the model or of the server, logged with its
traceback); ``answer`` is the ``{"predictions": [...]}`` body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson

from heron.core.errors import HeronError
from heron.models.inputs import prepare_split
from heron.models.model import Model, to_jsonable
from heron.serving.errors import BadRequest, ModelRejectedInput, PredictionFailed
from heron.serving.formats import ParsedRequest

logger = logging.getLogger("heron.serving")

#: what a model or NumPy/pandas raises about an input it cannot take (answered with 400)
INPUT_ERRORS = (ValueError, TypeError, OverflowError, IndexError, KeyError)

DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class Scorer:
    """Prepares, predicts and answers for ``model`` (a :class:`~heron.models.model.Model`)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.signature = model.signature
        self.needs_dataframe = model.needs_dataframe

    def prepare(self, request: ParsedRequest) -> Any:
        """The request's data as the model takes it; a 400 error when it does not fit."""
        try:
            if request.split:
                prepared = prepare_split(
                    request.columns,
                    request.data,
                    self.signature,
                    needs_dataframe=self.needs_dataframe,
                )
                return self.model.align(prepared)
            return self.model.prepare(request.data)
        except HeronError:
            raise
        except (*INPUT_ERRORS, RecursionError, MemoryError) as e:
            raise BadRequest(f"The input cannot be read as the model's input: {_say(e)}") from e

    def predict(self, prepared: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's predictions for prepared input; errors as described in the module doc."""
        try:
            return self.model.predict_prepared(prepared, params)
        except HeronError:
            raise
        except INPUT_ERRORS as e:
            raise ModelRejectedInput(f"The model cannot score this input: {_say(e)}") from e
        except Exception as e:
            logger.exception("predict failed on %s", _describe(prepared))
            raise PredictionFailed(
                f"The model failed: {_say(e)}. This is a bug of the model or of the server; "
                "the server's log has the traceback."
            ) from e

    def answer(self, predictions: Any) -> bytes:
        """The JSON body ``{"predictions": [...]}`` (data frames as records, as MLflow)."""
        try:
            return orjson.dumps({"predictions": predictions}, option=DUMP_OPTIONS)
        except TypeError:
            pass  # pandas objects, object arrays, non-contiguous arrays: the plain way
        try:
            return orjson.dumps(
                {"predictions": to_jsonable(predictions)}, option=DUMP_OPTIONS, default=str
            )
        except TypeError as e:
            raise PredictionFailed(
                f"The model's predictions ({type(predictions).__name__}) cannot be written as "
                f"JSON: {e}."
            ) from e


#: MLflow's error codes (``mlflow.protos.databricks_pb2``) by HTTP status, for the top-level
#: ``error_code`` MLflow's clients read
MLFLOW_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    405: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
}


def error_body(error: HeronError) -> bytes:
    """``{"error": {"code", "message"}, "error_code", "message"}`` of ``error``: Heron's
    object, and beside it the top-level fields of MLflow's scoring server (``error_code``
    one of MLflow's codes), which MLflow's clients parse. A message quoting text that is no
    valid Unicode, such as a lone surrogate sent as ``"\\ud800"``, is escaped."""
    document = error.to_dict()
    document["error_code"] = MLFLOW_ERROR_CODES.get(
        error.http_status, "INTERNAL_ERROR" if error.http_status >= 500 else "BAD_REQUEST"
    )
    document["message"] = error.message
    try:
        return orjson.dumps(document)
    except TypeError:
        return json.dumps(document, ensure_ascii=True).encode()


def _say(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > 500:
        text = text[:499] + "…"
    return f"{type(error).__name__}: {text}"


def _describe(prepared: Any) -> str:
    shape = getattr(prepared, "shape", None)
    return f"{type(prepared).__name__} of shape {shape}" if shape is not None else "input"
