"""Checks of the model registry's inputs: names, aliases, versions, descriptions, tags and
page sizes, each refused with an :class:`~heron.core.errors.InvalidArgument` that says what to
write instead."""

from __future__ import annotations

import operator
import re
from typing import Any

from heron.core import validation
from heron.core.errors import InvalidArgument
from heron.store.base import MAX_RESULTS_LIMIT

MAX_DESCRIPTION_LENGTH = validation.MAX_TAG_VALUE_LENGTH
MAX_ALIAS_LENGTH = validation.MAX_KEY_LENGTH
#: Aliases that would make ``models:/<name>@<alias>`` ambiguous or shadow a keyword.
RESERVED_ALIASES = frozenset({"latest"})
_ALIAS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def check_alias(alias: object) -> str:
    """A model alias: letters, digits, '_', '-' and '.', not all digits, not ``latest``.

    ``models:/iris/3`` names a version and ``models:/iris@champion`` an alias: an alias that
    reads as a version number (or as ``latest``) would make such URIs ambiguous.
    """
    if not isinstance(alias, str):
        raise InvalidArgument(f"An alias must be a string, got {type(alias).__name__} {alias!r}.")
    if not _ALIAS.fullmatch(alias) or len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidArgument(
            f"Invalid alias {alias[:60]!r}: use 1 to {MAX_ALIAS_LENGTH} ASCII letters, digits, "
            "'_', '-' or '.', starting with a letter, digit or '_' (e.g. 'champion')."
        )
    if alias.isdigit():
        raise InvalidArgument(
            f"Invalid alias {alias!r}: an all-digit alias would read as a version number in "
            f"models:/<name>/{alias}. Use a word, e.g. 'v{alias}' or 'champion'."
        )
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidArgument(
            f"Invalid alias {alias!r}: it is reserved (models:/<name>/latest is the newest "
            "version). Pick another name, e.g. 'champion'."
        )
    return alias


def alias_text(alias: object) -> str:
    """An alias to look up: any storable string (a malformed one is simply not set)."""
    if not isinstance(alias, str):
        raise InvalidArgument(f"An alias must be a string, got {type(alias).__name__} {alias!r}.")
    return validation.check_text(alias, "Alias")


def check_version(version: object) -> int:
    if isinstance(version, bool):
        number = None
    else:
        try:
            number = operator.index(version)  # int, numpy integers
        except TypeError:
            number = None
    if number is None or number < 1:
        raise InvalidArgument(
            f"A model version is a positive integer (1, 2, ...), got "
            f"{type(version).__name__} {version!r}."
        )
    if number >= 2**31:
        raise InvalidArgument(f"Model version {number} is out of range (at most 2**31-1).")
    return number


def check_max_results(max_results: object) -> None:
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 0 < max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidArgument(
            f"max_results must be an integer between 1 and {MAX_RESULTS_LIMIT}, "
            f"got {max_results!r}."
        )


def description_text(description: str | None) -> str | None:
    return validation.optional_text(description, MAX_DESCRIPTION_LENGTH, "Description")


def checked_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    if tags is not None and not isinstance(tags, dict):
        raise InvalidArgument(f"tags must be a dict of str to str, got {type(tags).__name__}.")
    return validation.check_tags(tags)


def check_new_model_name(name: str) -> None:
    """A name for a new model: a valid name that model URIs can carry unambiguously."""
    validation.check_name(name, "Model")
    bad = sorted({c for c in name if c in "@/:"})
    if bad or name != name.strip():
        raise InvalidArgument(
            f"Model name {name!r} cannot contain {' '.join(bad) or 'leading or trailing spaces'}"
            ": models:/<name>/<version> and models:/<name>@<alias> must be unambiguous. "
            "Use letters, digits, spaces, '-', '_' or '.'."
        )
