"""The error hierarchy: every error Heron raises on purpose is a :class:`HeronError`.

Each message says what went wrong and how to fix it. ``code`` is a stable machine-readable
name that the server puts in its JSON error body, and ``http_status`` the status it answers.
"""

from __future__ import annotations

import errno
import os
from typing import Any


class HeronError(Exception):
    """Base class of every error Heron raises deliberately."""

    code = "HERON_ERROR"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON body the server answers with: ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


class InvalidArgument(HeronError):
    """A value passed by the caller is malformed or out of range."""

    code = "INVALID_ARGUMENT"


class RequestInvalid(InvalidArgument):
    """A request to the tracking server whose fields do not validate (the message names
    them); the server answers 422."""

    code = "INVALID_REQUEST"
    http_status = 422


class FilterError(InvalidArgument):
    """A filter or order-by string does not follow the search grammar."""

    code = "INVALID_FILTER"


class NotFound(HeronError):
    """The named experiment, run, artifact or model does not exist."""

    code = "NOT_FOUND"
    http_status = 404


class AlreadyExists(HeronError):
    """Something with that name or id exists already."""

    code = "ALREADY_EXISTS"
    http_status = 409


class Conflict(HeronError):
    """The write contradicts stored state (for example a param logged twice with two values)."""

    code = "CONFLICT"
    http_status = 409


class InvalidState(HeronError):
    """The operation is not allowed in the object's current state."""

    code = "INVALID_STATE"
    http_status = 409


class ConfigError(HeronError):
    """The configuration (URIs, environment variables, workspace) is unusable."""

    code = "CONFIG_ERROR"


class SchemaVersionError(HeronError):
    """The metadata database was written by another Heron version; migrate it first."""

    code = "SCHEMA_VERSION"
    http_status = 500


class StoreError(HeronError):
    """The metadata store could not complete an operation (locked, unreachable, ...)."""

    code = "STORE_ERROR"
    http_status = 503


class StoreNotFound(NotFound):
    """The tracking URI names a database that does not exist (a typo, or not created yet)."""

    code = "STORE_NOT_FOUND"


class StoreUnavailable(StoreError):
    """The tracking server cannot be reached, or answered that it cannot serve now (it is
    starting, restarting or overloaded). Writes that met it can be sent again unchanged."""

    code = "STORE_UNAVAILABLE"


class StoreCorrupt(StoreError):
    """The metadata database file is not a SQLite database, or is damaged."""

    code = "STORE_CORRUPT"


class StoreFull(StoreError):
    """The disk holding the metadata database or the artifacts is full."""

    code = "STORE_FULL"
    http_status = 507


class StoreNotWritable(StoreError):
    """The metadata database or the artifact folder cannot be written (permissions,
    read-only file system)."""

    code = "STORE_NOT_WRITABLE"


class PipelineRunFailed(HeronError):
    """A pipeline called from Python ended ``failed`` (or ``cancelled``): its message names each
    failed step and its error, and ``run`` is the :class:`~heron.pipelines.result.PipelineRun`
    (steps, outputs of the steps that succeeded, ids to look up). Everything was stored first.

    ``pipeline.with_options(raise_on_failure=False)`` returns the failed run instead.
    """

    code = "PIPELINE_RUN_FAILED"
    http_status = 409

    def __init__(self, message: str, run: Any = None) -> None:
        super().__init__(message)
        self.run = run

    def __reduce__(self) -> tuple[object, ...]:  # the run (and its store) stays behind
        return (type(self), (self.message,))


def os_fault(error: OSError, path: os.PathLike[str] | str, what: str) -> HeronError | None:
    """The HeronError for an :class:`OSError` on ``path`` caused by the disk or by
    permissions (disk full, quota, not writable, read-only file system); ``None`` otherwise.
    ``what`` names the thing being written ("the artifact store")."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StoreFull(
            f"No space left for {what} at {path} ({error.strerror}). Free some space (or raise "
            "the quota) and retry; nothing of this write was recorded."
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreNotWritable(
            f"Cannot write {what} at {path} ({error.strerror}). Fix the permissions of the "
            "folder (chmod/chown), mount it read-write, or point Heron at a writable location."
        )
    return None


class Unauthenticated(HeronError):
    """The server needs to know who is asking: no credentials, or ones it does not accept."""

    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(HeronError):
    """The caller is known but their role does not allow this."""

    code = "PERMISSION_DENIED"
    http_status = 403


class TooManyAttempts(HeronError):
    """Too many failed sign-ins from one user or address; wait before trying again."""

    code = "TOO_MANY_ATTEMPTS"
    http_status = 429
