"""``@pipeline``: a function whose step calls form a DAG, run on the active stack."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from heron.core import status as run_status
from heron.core import validation
from heron.core.errors import InvalidArgument
from heron.execution.plan import FILE_MODULE_PREFIX
from heron.pipelines.result import PipelineRun
from heron.pipelines.trace import Trace, canonical_json, tracing

#: ``heron.stack`` (its name), ``heron.stack.tracking_uri``, ``heron.stack.artifact_uri``
STACK_TAG = "heron.stack"

_RUN_OPTIONS = (
    "orchestrator",
    "orchestrator_options",
    "parallelism",
    "cache",
    "run_name",
    "experiment",
    "tags",
    "raise_on_failure",
)


class Pipeline:
    """A function decorated with :func:`pipeline`; calling it runs the pipeline."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        experiment: str | None = None,
        cache: bool = True,
        tags: Mapping[str, Any] | None = None,
        orchestrator: str | None = None,
        orchestrator_options: Mapping[str, Any] | None = None,
        parallelism: int | None = None,
        run_name: str | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name = validation.check_name(name or fn.__name__, "Pipeline")
        self.signature = inspect.signature(fn)
        self.experiment = experiment
        self.cache = bool(cache)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.orchestrator = orchestrator
        self.orchestrator_options = dict(orchestrator_options or {})
        self.parallelism = parallelism
        self.run_name = run_name
        self.raise_on_failure = bool(raise_on_failure)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "experiment": self.experiment,
            "cache": self.cache,
            "tags": dict(self.tags),
            "orchestrator": self.orchestrator,
            "orchestrator_options": dict(self.orchestrator_options),
            "parallelism": self.parallelism,
            "run_name": self.run_name,
            "raise_on_failure": self.raise_on_failure,
        }

    def with_options(self, **options: Any) -> Pipeline:
        """A copy that runs with other options: ``orchestrator`` (``local``, ``dask``,
        ``ray``; default: the active stack's) and its ``orchestrator_options`` (Dask and Ray:
        ``address``), ``parallelism``, ``cache``,
        ``run_name``, ``experiment``, ``tags``, ``raise_on_failure`` (``False``: a call whose
        run fails returns the failed :class:`PipelineRun` instead of raising
        :class:`~heron.core.errors.PipelineRunFailed`).

        >>> demo.with_options(parallelism=4, cache=False)(n=5)  # doctest: +SKIP
        """
        unknown = set(options) - set(_RUN_OPTIONS) - {"name"}
        if unknown:
            raise InvalidArgument(
                f"Unknown pipeline option(s) {sorted(unknown)}; use {', '.join(_RUN_OPTIONS)}."
            )
        return Pipeline(self.fn, **{**self.options(), **options})

    def bind(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The pipeline's parameters for this call, defaults applied, checked to be JSON."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise InvalidArgument(
                f"Pipeline {self.name!r}: {e}. Its signature is {self.name}{self.signature}."
            ) from None
        bound.apply_defaults()
        for arg, value in bound.arguments.items():
            try:
                canonical_json(value)
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"Pipeline {self.name!r}, parameter {arg!r}: {type(value).__name__} is not "
                    "a JSON value; pipeline parameters are numbers, strings, lists and dicts."
                ) from None
        return dict(bound.arguments)

    def build(self, *args: Any, **kwargs: Any) -> Trace:
        """Trace the pipeline function into its DAG without running any step."""
        params = self.bind(*args, **kwargs)
        with tracing(self.name) as trace:
            self.fn(**params)
        if not trace.nodes:
            raise InvalidArgument(
                f"Pipeline {self.name!r} called no step. Call @step functions inside it."
            )
        return trace

    def __call__(self, *args: Any, on_event: Any = None, **kwargs: Any) -> PipelineRun:
        """Run the pipeline now on the active stack and return its :class:`PipelineRun`.

        When a step fails (after its retries) the run is stored as ``failed`` and this raises
        :class:`~heron.core.errors.PipelineRunFailed`, naming the failed steps, with the
        :class:`PipelineRun` as its ``.run``; with ``with_options(raise_on_failure=False)``
        the failed run is returned instead.
        """
        result = self.run(self.bind(*args, **kwargs), on_event=on_event)
        if self.raise_on_failure and result.status != run_status.COMPLETED:
            raise result.failure()
        return result

    def run(
        self,
        params: dict[str, Any],
        *,
        on_event: Any = None,
        reuse: dict[str, dict[str, Any]] | None = None,
        extra_tags: dict[str, str] | None = None,
        run_id: str | None = None,
        inputs: dict[str, str] | None = None,
    ) -> PipelineRun:
        """Run with bound ``params`` and return the :class:`PipelineRun` whatever its status
        (it never raises for a failed step; calling the pipeline does). Steps named in
        ``reuse`` take those outputs instead of running (how a failed run is resumed)."""
        from heron.pipelines.runner import PARAMS_TAG, SOURCE_TAG, run_trace
        from heron.store.registry import get_store
        from heron.tracking.fluent import experiment_id_for

        trace = self.build(**params)
        store = get_store()
        store = store.in_project(store.project)  # one project for the whole run
        experiment_id = experiment_id_for(store, self.experiment or self.name)
        tags = {**self.tags, SOURCE_TAG: self.source, PARAMS_TAG: canonical_json(params)}
        orchestrator, options, parallelism, stack_tags = self._where(store)
        tags.update(stack_tags)
        return run_trace(
            trace,
            store=store,
            experiment_id=experiment_id,
            run_name=self.run_name,
            params=params,
            tags={**tags, **(extra_tags or {})},
            cache=self.cache,
            orchestrator=orchestrator,
            orchestrator_options=options,
            parallelism=parallelism,
            on_event=on_event,
            reuse=reuse or {},
            run_id=run_id,
            inputs=inputs,
        )

    def _where(self, store: Any) -> tuple[str, dict[str, Any], int | None, dict[str, str]]:
        """The orchestrator, its options and parallelism for a run (this pipeline's options
        over the stack's), and the tags that record the stack."""
        from heron.core import config, uris

        stack = config.stack_settings() or {}
        orchestrator = self.orchestrator or stack.get("orchestrator") or "local"
        from_stack = orchestrator == stack.get("orchestrator")
        options = dict(stack.get("orchestrator_options") or {}) if from_stack else {}
        options.update(self.orchestrator_options)
        parallelism = self.parallelism
        if parallelism is None and from_stack:
            parallelism = stack.get("parallelism")
        tags = {
            STACK_TAG: stack.get("name") or config.DEFAULT_STACK,
            f"{STACK_TAG}.tracking_uri": uris.redact(store.uri),
            f"{STACK_TAG}.artifact_uri": uris.redact(config.get_artifact_uri(store.uri)),
        }
        return orchestrator, options, parallelism, tags

    @property
    def source(self) -> str:
        """Where the pipeline can be imported from again: ``module:name`` or ``file.py:name``."""
        module = getattr(self.fn, "__module__", None) or "__main__"
        if module == "__main__" or module.startswith(FILE_MODULE_PREFIX):  # a script or a file
            try:
                return f"{inspect.getfile(self.fn)}:{self.fn.__qualname__}"
            except TypeError:
                return f"__main__:{self.fn.__qualname__}"
        return f"{module}:{self.fn.__qualname__}"


def pipeline(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    experiment: str | None = None,
    cache: bool = True,
    tags: Mapping[str, Any] | None = None,
    raise_on_failure: bool = True,
) -> Any:
    """Make a function a pipeline: its step calls build a DAG; calling it runs the DAG.

    >>> @pipeline
    ... def demo(n: int = 10):
    ...     total(load(n))
    >>> run = demo(n=5)  # doctest: +SKIP
    >>> run.steps["total"].outputs["output"].load()  # doctest: +SKIP
    10

    Its runs go to the experiment named after the pipeline unless ``experiment`` is given.
    A call whose run fails raises :class:`~heron.core.errors.PipelineRunFailed` unless
    ``raise_on_failure=False`` (here or in :meth:`Pipeline.with_options`).
    """
    options = {
        "name": name,
        "experiment": experiment,
        "cache": cache,
        "tags": tags,
        "raise_on_failure": raise_on_failure,
    }
    if fn is None:
        return lambda f: Pipeline(f, **options)
    return Pipeline(fn, **options)
