"""The options of :func:`heron.autolog` in force (``None``: autologging is off)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from heron.core import validation
from heron.core.errors import InvalidArgument

logger = logging.getLogger("heron.autolog")


@dataclass(frozen=True, slots=True)
class AutologConfig:
    """What a patched ``fit`` logs; see :func:`heron.autolog` for each option."""

    log_models: bool = True
    log_input_examples: bool = False
    max_tuning_runs: int | None = 5
    exclusive: bool = False
    registered_model_name: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    silent: bool = False

    @classmethod
    def build(
        cls,
        *,
        log_models: bool,
        log_input_examples: bool,
        max_tuning_runs: int | None,
        exclusive: bool,
        registered_model_name: str | None,
        extra_tags: Mapping[str, Any] | None,
        silent: bool,
    ) -> AutologConfig:
        """The options checked: a mistake raises here, never in a user's ``fit``."""
        if max_tuning_runs is not None and (
            isinstance(max_tuning_runs, bool)
            or not isinstance(max_tuning_runs, int)
            or max_tuning_runs < 0
        ):
            raise InvalidArgument(
                f"max_tuning_runs must be a whole number >= 0 or None (every candidate), "
                f"got {max_tuning_runs!r}."
            )
        if registered_model_name is not None:
            validation.check_name(registered_model_name, "Registered model")
        if extra_tags is not None and not isinstance(extra_tags, Mapping):
            raise InvalidArgument(
                "extra_tags must be a dict of tag names to values, got "
                f"{type(extra_tags).__name__}."
            )
        tags = validation.check_tags(dict(extra_tags or {}))
        return cls(
            log_models=bool(log_models),
            log_input_examples=bool(log_input_examples),
            max_tuning_runs=max_tuning_runs,
            exclusive=bool(exclusive),
            registered_model_name=registered_model_name,
            extra_tags=tags,
            silent=bool(silent),
        )

    def warn(self, message: str, *args: Any) -> None:
        """A warning on ``heron.autolog``'s logger (a debug message when ``silent``)."""
        logger.log(logging.DEBUG if self.silent else logging.WARNING, message, *args)


_current: AutologConfig | None = None


def current() -> AutologConfig | None:
    """The options in force, or ``None`` when autologging is off."""
    return _current


def set_current(config: AutologConfig | None) -> None:
    global _current
    _current = config
