"""Errors of the scoring server: what a request did wrong, as a 4xx answer.

Every :class:`~heron.core.errors.HeronError` becomes ``{"error": {"code", "message"}}`` with
its ``http_status``; these are the ones only the server raises.
"""

from __future__ import annotations

from heron.core.errors import HeronError, InvalidArgument


class BadRequest(InvalidArgument):
    """The body cannot be read: not JSON (or CSV), or not in one of the accepted forms (400)."""

    code = "BAD_REQUEST"


class UnsupportedMediaType(HeronError):
    """The ``Content-Type`` is none the server reads (415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class BodyTooLarge(HeronError):
    """The body is larger than ``--max-body-mb`` (413)."""

    code = "BODY_TOO_LARGE"
    http_status = 413


class ModelRejectedInput(InvalidArgument):
    """The model itself refused the input (it raised ``ValueError``/``TypeError`` on it) (400)."""

    code = "INVALID_MODEL_INPUT"


class PredictionFailed(HeronError):
    """The model failed in an unexpected way: a bug in the model or the server (500)."""

    code = "PREDICTION_FAILED"
    http_status = 500
