"""Checks of names and values that every writer applies, local or remote."""

from __future__ import annotations

import math
import re
import unicodedata

from heron.core.errors import Conflict, InvalidArgument

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256
#: the longest file name most file systems take (ext4, APFS, NTFS: 255 bytes or units)
MAX_SEGMENT_BYTES = 255
#: the longest artifact name, in UTF-8 bytes (far below PATH_MAX once joined to a folder)
MAX_ARTIFACT_NAME_BYTES = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_STEP_LIMIT = 2**63


def check_text(text: str, what: str) -> str:
    """``text`` if every back-end can store it (UTF-8 encodable, no NUL), else
    :class:`InvalidArgument`."""
    if "\0" in text:
        raise InvalidArgument(
            f"{what} contains a NUL character (position {text.index(chr(0))}), which cannot be "
            "stored; remove it."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise not_utf8(e, what) from None
    return text


def not_utf8(error: UnicodeEncodeError, what: str = "A value") -> InvalidArgument:
    """The error for text that is not valid UTF-8 (a lone surrogate such as ``'\\ud800'``,
    typically from a file name decoded with ``surrogateescape``)."""
    bad = error.object[error.start : error.end] if isinstance(error.object, str) else ""
    return InvalidArgument(
        f"{what} is not valid UTF-8 text, so it cannot be stored or looked up ({error.reason}: "
        f"{bad!r} at position {error.start}); remove or replace that character."
    )


def storable_text(text: str | None, limit: int | None = None) -> str | None:
    """``text`` made storable: NUL dropped, unencodable characters escaped, cut to ``limit``.

    For what Heron records about the environment (paths, user names, error messages), which
    must never stop a run from being recorded.
    """
    if text is None:
        return None
    text = text.replace("\0", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:limit] if limit is not None else text


def check_length(text: str, limit: int, what: str) -> str:
    """``text`` if at most ``limit`` characters long, else :class:`InvalidArgument`."""
    if len(text) > limit:
        raise InvalidArgument(f"{what} is {len(text)} characters long; the limit is {limit}.")
    return text


def optional_text(text: str | None, limit: int | None, what: str) -> str | None:
    """``None``, or a storable string of at most ``limit`` characters (no limit: ``None``)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidArgument(f"{what} must be a string, got {type(text).__name__}.")
    if limit is not None:
        check_length(text, limit, what)
    return check_text(text, what)


def check_run_id(run_id: object) -> str:
    """A caller-chosen run id: 1 to 32 letters, digits, '-' or '_'."""
    if (
        not isinstance(run_id, str)
        or not 0 < len(run_id) <= 32
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in run_id)
    ):
        raise InvalidArgument(
            f"Invalid run id {run_id!r}: use 1 to 32 letters, digits, '-' or '_' "
            "(or let Heron choose one)."
        )
    return run_id


def check_request_id(request_id: object) -> str:
    """A client-chosen id of one write: 1 to 64 letters, digits, '-' or '_'."""
    if (
        not isinstance(request_id, str)
        or not 0 < len(request_id) <= 64
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in request_id)
    ):
        raise InvalidArgument(
            f"Invalid request id {request_id!r}: use 1 to 64 letters, digits, '-' or '_'."
        )
    return request_id


def check_timestamp(value: object, what: str) -> int:
    """A time in ms since the epoch: an integer that fits in 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer (ms since the epoch), got {value!r}.")
    if not -_STEP_LIMIT <= value < _STEP_LIMIT:
        raise InvalidArgument(f"{what} {value} does not fit in 64 bits.")
    return value


def check_key(key: object, what: str) -> str:
    """A metric, param or tag key: a non-empty string of at most 250 characters."""
    if not isinstance(key, str):
        raise InvalidArgument(f"{what} keys must be strings, got {type(key).__name__} {key!r}.")
    if not key or key.strip() != key:
        raise InvalidArgument(
            f"Invalid {what} key {key!r}: it must be non-empty, with no leading or trailing "
            "whitespace."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"{what} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}."
        )
    if "\0" in key:
        raise InvalidArgument(f"Invalid {what} key {key!r}: it contains a NUL character.")
    return check_text(key, f"{what} key")


def check_name(name: object, what: str) -> str:
    """An experiment, run or artifact name: a non-empty string of at most 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{what} name must be a non-empty string, got {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{what} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}."
        )
    return check_text(name, f"{what} name")


def check_artifact_name(name: object, what: str = "Artifact", *, folder: bool = False) -> str:
    """An artifact (or model) name, checked before any byte is stored: it becomes a relative
    path when the artifact is downloaded, so it must stay inside the folder it is joined to.

    A name is 1 to 256 characters of valid UTF-8 text, at most 1024 UTF-8 bytes, made of
    ``/``-separated segments of at most 255 bytes each; no segment is empty, ``.`` or ``..``;
    no leading ``/``, no drive (``C:``), no backslash, no NUL or other control character.
    With ``folder`` (an ``artifact_path`` folder), one trailing ``/`` is allowed and dropped.
    """
    label = what if folder else f"{what} name"
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{label} must be a non-empty string, got {name!r}.")
    check_text(name.replace("\0", ""), f"{label} {name[:60]!r}")
    shown = name if len(name) <= 60 else name[:60] + "..."
    for i, char in enumerate(name):
        if unicodedata.category(char) == "Cc":
            raise InvalidArgument(
                f"{label} {shown!r} contains the control character U+{ord(char):04X} at "
                f"position {i}; names are used as file paths, so remove it."
            )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{label} is {len(name)} characters; the limit is {MAX_NAME_LENGTH}. "
            "Choose a shorter name."
        )
    size = len(name.encode("utf-8"))
    if size > MAX_ARTIFACT_NAME_BYTES:
        raise InvalidArgument(
            f"{label} {shown!r} is {size} bytes in UTF-8; the limit is "
            f"{MAX_ARTIFACT_NAME_BYTES}. Choose a shorter name."
        )
    if "\\" in name:
        raise InvalidArgument(
            f"{label} {shown!r} contains a backslash; separate folders with '/' "
            "(for example 'plots/loss.png')."
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise InvalidArgument(
            f"{label} {shown!r} must be relative and stay inside the run's artifacts: no "
            "leading '/' and no drive such as 'C:' (for example 'plots/loss.png')."
        )
    body = name[:-1] if folder and name.endswith("/") else name
    for segment in body.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidArgument(
                f"{label} {shown!r} must be relative and stay inside the run's artifacts: "
                "no '..' or '.' segments and no empty segments ('a//b' or a trailing '/')."
            )
        seg_bytes = len(segment.encode("utf-8"))
        if seg_bytes > MAX_SEGMENT_BYTES:
            raise InvalidArgument(
                f"{label} {shown!r} has a part of {seg_bytes} bytes in UTF-8 "
                f"({segment[:20]!r}...); file systems take at most {MAX_SEGMENT_BYTES} bytes "
                "per file name. Shorten it, or split it into folders with '/'."
            )
    return body


def param_value(key: str, value: object) -> str:
    """A param value as the string stored (``str(value)``), at most 6000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidArgument(
            f"Param {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_PARAM_VALUE_LENGTH}. Log long values as an artifact (heron.log_text)."
        )
    return check_text(text, f"Param {key!r}")


def tag_value(key: str, value: object) -> str:
    """A tag value as the string stored, at most 8000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgument(
            f"Tag {key!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_TAG_VALUE_LENGTH}."
        )
    return check_text(text, f"Tag {key!r}")


def check_tags(tags: dict[str, object] | None) -> dict[str, str]:
    """Tags (``None``: none) with checked keys and values as strings."""
    return {check_key(k, "Tag"): tag_value(k, v) for k, v in (tags or {}).items()}


def metric_value(key: str, value: object) -> float:
    """A metric value as a float; NaN and ±inf are kept as they are."""
    if isinstance(value, float):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)  # numpy scalars, Decimal, 0-d arrays
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"Metric {key!r} must be a number, got {type(value).__name__} {value!r}."
            ) from None
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def metric_step(key: str, step: object) -> int:
    """A metric step: an integer that fits in 64 bits."""
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            as_int = int(step)  # numpy integers
        except (TypeError, ValueError):
            as_int = None
        if as_int is None or as_int != step:
            raise InvalidArgument(
                f"Metric {key!r}: step must be an integer, got {type(step).__name__} {step!r}."
            )
        step = as_int
    if not -_STEP_LIMIT <= step < _STEP_LIMIT:
        raise InvalidArgument(f"Metric {key!r}: step {step} does not fit in 64 bits.")
    return step


def param_conflict(run_id: str, key: str, old: str, new: str) -> Conflict:
    """The error for a param logged again with another value (params are write-once)."""
    return Conflict(
        f"Param {key!r} of run {run_id} is already {old!r}; params are written once, so it "
        f"cannot become {new!r}. Log the new value under another key, or start a new run."
    )
