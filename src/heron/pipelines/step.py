"""``@step``: a plain function that becomes a tracked, cached, retried unit of a pipeline.

The function stays callable as it is (outside a pipeline a call just runs it); everything
Heron needs to know about it is derived once, here, at decoration.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import textwrap
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heron.core.errors import InvalidArgument
from heron.core.resources import normalize_resources

DEFAULT_OUTPUT = "output"
RESERVED_ARGUMENTS = frozenset({"after"})


class Step:
    """A function decorated with :func:`step`; call it inside a ``@pipeline`` to add it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        retry_delay: float = 1.0,
        backoff: float = 2.0,
        timeout: float | None = None,
        outputs: Sequence[str] | str | None = None,
        materializers: Mapping[str, str] | str | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgument(f"@step decorates functions, not {type(fn).__name__}.")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = name or fn.__name__
        if not self.name.isidentifier():
            raise InvalidArgument(
                f"Step name {self.name!r} must be a Python identifier (letters, digits, _)."
            )
        self.signature = inspect.signature(fn)
        clash = RESERVED_ARGUMENTS & set(self.signature.parameters)
        if clash:
            raise InvalidArgument(
                f"Step {self.name!r}: the argument name {sorted(clash)[0]!r} is reserved "
                "(it orders steps without data: my_step(x, after=other)). Rename it."
            )
        self.cache = bool(cache)
        if not isinstance(retries, int) or retries < 0:
            raise InvalidArgument(f"Step {self.name!r}: retries must be an integer ≥ 0.")
        self.retries = retries
        if retry_delay < 0 or backoff < 1:
            raise InvalidArgument(
                f"Step {self.name!r}: retry_delay must be ≥ 0 and backoff ≥ 1 (a multiplier)."
            )
        self.retry_delay = float(retry_delay)
        self.backoff = float(backoff)
        if timeout is not None and timeout <= 0:
            raise InvalidArgument(f"Step {self.name!r}: timeout must be a positive number.")
        self.timeout = timeout
        self.resources = normalize_resources(resources, f"Step {self.name!r}")
        self.outputs = _output_names(fn, outputs, self.name)
        self.materializers = _materializer_overrides(materializers, self.outputs, self.name)
        self.code_hash = code_hash(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from heron.pipelines.trace import current_trace

        trace = current_trace()
        if trace is None:
            if "after" in kwargs:
                kwargs.pop("after")
            return self.fn(*args, **kwargs)
        return trace.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def __reduce__(self) -> Any:
        # Steps travel to worker processes by value (cloudpickle handles the function).
        return (_rebuild_step, (self.fn, self.options()))

    def options(self) -> dict[str, Any]:
        """The options this step was declared with."""
        return {
            "name": self.name,
            "cache": self.cache,
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "backoff": self.backoff,
            "timeout": self.timeout,
            "outputs": self.outputs,
            "materializers": dict(self.materializers),
            "resources": dict(self.resources),
        }

    def with_options(self, **options: Any) -> Step:
        """A copy of this step with some options changed."""
        return Step(self.fn, **{**self.options(), **options})

    def definition_hash(self) -> str:
        """Code and the options that change what the step produces (outputs, materializers)."""
        text = repr((self.code_hash, self.outputs, sorted(self.materializers.items())))
        return hashlib.sha256(text.encode()).hexdigest()


def _rebuild_step(fn: Callable[..., Any], options: dict[str, Any]) -> Step:
    return Step(fn, **options)


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_delay: float = 1.0,
    backoff: float = 2.0,
    timeout: float | None = None,
    outputs: Sequence[str] | str | None = None,
    materializers: Mapping[str, str] | str | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Any:
    """Make a function a pipeline step.

    >>> @step
    ... def load(n: int) -> list[int]:
    ...     return list(range(n))
    >>> load(3)  # outside a pipeline it is the plain function
    [0, 1, 2]

    Options: ``cache`` (reuse an identical earlier execution), ``retries`` with
    ``retry_delay`` seconds growing by ``backoff`` each time, ``timeout`` seconds,
    ``outputs=("train", "test")`` to name several return values (or annotate the return as
    ``tuple[Annotated[T, "train"], Annotated[U, "test"]]``), ``materializers`` to choose how
    an output is stored (``{"model": "cloudpickle"}``), ``resources`` the step needs where
    it runs (``{"cpus": 2, "gpus": 1, "memory": "4GB"}``; on Dask and Ray they decide which
    worker takes it, see :mod:`heron.core.resources`), and ``name``.
    """
    options = {
        "name": name,
        "cache": cache,
        "retries": retries,
        "retry_delay": retry_delay,
        "backoff": backoff,
        "timeout": timeout,
        "outputs": outputs,
        "materializers": materializers,
        "resources": resources,
    }
    if fn is None:
        return lambda f: Step(f, **options)
    return Step(fn, **options)


def code_hash(fn: Callable[..., Any]) -> str:
    """sha256 of a function's source (dedented), or of its bytecode when there is no source."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        data = text.encode()
    except (OSError, TypeError):
        code = fn.__code__
        data = code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
    return hashlib.sha256(data).hexdigest()


def _output_names(
    fn: Callable[..., Any], outputs: Sequence[str] | str | None, step_name: str
) -> tuple[str, ...]:
    if isinstance(outputs, str):
        outputs = (outputs,)
    if outputs is None:
        outputs = _annotated_outputs(fn) or (DEFAULT_OUTPUT,)
    names = tuple(outputs)
    if not names:
        raise InvalidArgument(f"Step {step_name!r}: outputs=() names no output.")
    for n in names:
        if not isinstance(n, str) or not n.isidentifier():
            raise InvalidArgument(
                f"Step {step_name!r}: output name {n!r} must be a Python identifier."
            )
    if len(set(names)) != len(names):
        raise InvalidArgument(f"Step {step_name!r}: output names {names} repeat.")
    return names


def _annotated_outputs(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """Names from ``-> tuple[Annotated[T, "a"], Annotated[U, "b"]]`` or
    ``-> Annotated[T, "a"]``."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        return None
    ret = hints.get("return")
    if ret is None:
        return None
    if typing.get_origin(ret) is typing.Annotated:
        label = next((m for m in ret.__metadata__ if isinstance(m, str)), None)
        return (label,) if label else None
    if typing.get_origin(ret) is tuple:
        names = []
        for item in typing.get_args(ret):
            if typing.get_origin(item) is not typing.Annotated:
                return None
            label = next((m for m in item.__metadata__ if isinstance(m, str)), None)
            if label is None:
                return None
            names.append(label)
        return tuple(names) or None
    return None


def _materializer_overrides(
    materializers: Mapping[str, str] | str | None, outputs: tuple[str, ...], step_name: str
) -> dict[str, str]:
    if materializers is None:
        return {}
    if isinstance(materializers, str):
        return dict.fromkeys(outputs, materializers)
    unknown = set(materializers) - set(outputs)
    if unknown:
        raise InvalidArgument(
            f"Step {step_name!r}: materializers names output(s) {sorted(unknown)} it does not "
            f"have; its outputs are {list(outputs)}."
        )
    return dict(materializers)
