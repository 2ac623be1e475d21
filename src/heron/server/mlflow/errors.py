"""MLflow's error shape and status codes, and Heron's errors in it.

MLflow's client turns ``{"error_code": ..., "message": ...}`` into an ``MlflowException`` with
that code, and retries 429 and 5xx answers; the codes and statuses here are the ones MLflow's
own server sends (``mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS``), so that its exceptions and
retries behave as they do against ``mlflow server``. The guard's denials keep their status:
401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``, 404 ``RESOURCE_DOES_NOT_EXIST`` (an object
of a project the caller cannot read), 429 ``REQUEST_LIMIT_EXCEEDED`` (too many failed
sign-ins). MLflow's client raises them as ``RestException`` with that ``error_code``;
``get_http_status_code()`` gives the status.
"""

from __future__ import annotations

from typing import Any

from heron.core import errors

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
BAD_REQUEST = "BAD_REQUEST"
MALFORMED_REQUEST = "MALFORMED_REQUEST"
INVALID_STATE = "INVALID_STATE"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"

STATUS = {
    INVALID_PARAMETER_VALUE: 400,
    BAD_REQUEST: 400,
    MALFORMED_REQUEST: 400,
    RESOURCE_ALREADY_EXISTS: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    ENDPOINT_NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    REQUEST_LIMIT_EXCEEDED: 429,
    INVALID_STATE: 500,
    TEMPORARILY_UNAVAILABLE: 503,
    INTERNAL_ERROR: 500,
}


class MlflowError(Exception):
    """An answer in MLflow's error shape: ``code`` is one of MLflow's error codes."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS.get(code, 400)

    def body(self) -> dict[str, Any]:
        return {"error_code": self.code, "message": self.message}


def invalid(message: str) -> MlflowError:
    """A request field with a bad value (400 ``INVALID_PARAMETER_VALUE``)."""
    return MlflowError(INVALID_PARAMETER_VALUE, message)


def missing(message: str) -> MlflowError:
    """No such experiment, run, model... (404 ``RESOURCE_DOES_NOT_EXIST``)."""
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message)


def from_heron(error: errors.HeronError) -> MlflowError:
    """Heron's error as MLflow's client expects it."""
    message = str(error)
    if isinstance(error, errors.Unauthenticated):
        return MlflowError(UNAUTHENTICATED, message)
    if isinstance(error, errors.PermissionDenied):
        return MlflowError(PERMISSION_DENIED, message)
    if isinstance(error, errors.TooManyAttempts):
        return MlflowError(REQUEST_LIMIT_EXCEEDED, message)
    if isinstance(error, errors.NotFound):
        return MlflowError(RESOURCE_DOES_NOT_EXIST, message)
    if isinstance(error, errors.AlreadyExists):
        return MlflowError(RESOURCE_ALREADY_EXISTS, message)
    if isinstance(error, (errors.StoreUnavailable,)):
        return MlflowError(TEMPORARILY_UNAVAILABLE, message)
    if isinstance(error, (errors.InvalidArgument, errors.Conflict, errors.InvalidState)):
        return MlflowError(INVALID_PARAMETER_VALUE, message)
    if isinstance(error, errors.StoreError):
        # a full or read-only disk: the client may retry later; not a bug of the request
        return MlflowError(TEMPORARILY_UNAVAILABLE, message)
    return MlflowError(INVALID_PARAMETER_VALUE, message, error.http_status)
