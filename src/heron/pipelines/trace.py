"""Building a pipeline's DAG by running its function once with steps that only record.

Inside a trace, a step call returns :class:`OutputHandle` objects instead of values. Passing a
handle to another step makes a data dependency; ``after=`` adds an order without data; every
other argument is a parameter and must be a JSON value (it enters the cache key).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from heron.core.errors import InvalidArgument
from heron.pipelines.handles import OutputHandle
from heron.pipelines.step import Step

_current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("heron_trace", default=None)


def current_trace() -> Trace | None:
    """The trace being built in this context, if any."""
    return _current.get()


class Node:
    """One step invocation in a pipeline.

    ``inputs`` maps an argument to a handle reference ``(node_id, output)`` or to a list of
    them; ``params`` maps an argument to its JSON value; ``after`` lists node ids that must
    finish first although no data flows.
    """

    __slots__ = ("after", "id", "inputs", "params", "step")

    def __init__(
        self,
        node_id: str,
        step: Step,
        inputs: dict[str, Any],
        params: dict[str, Any],
        after: list[str],
    ) -> None:
        self.id = node_id
        self.step = step
        self.inputs = inputs
        self.params = params
        self.after = after

    @property
    def upstream(self) -> list[str]:
        """Node ids this node waits for (data and ``after``), in first-use order."""
        ids: list[str] = []
        for ref in self.inputs.values():
            for node_id, _output in ref if isinstance(ref, list) else [ref]:
                if node_id not in ids:
                    ids.append(node_id)
        ids += [a for a in self.after if a not in ids]
        return ids

    def describe(self) -> dict[str, Any]:
        """The structure of this node, as stored in the pipeline version (no param values)."""
        return {
            "id": self.id,
            "step": self.step.name,
            "code_hash": self.step.definition_hash(),
            "outputs": list(self.step.outputs),
            "inputs": {
                arg: [list(r) for r in ref] if isinstance(ref, list) else list(ref)
                for arg, ref in self.inputs.items()
            },
            "params": sorted(self.params),
            "after": list(self.after),
        }


class Trace:
    """The DAG recorded while a pipeline function runs."""

    def __init__(self, pipeline_name: str) -> None:
        self.pipeline_name = pipeline_name
        self.nodes: dict[str, Node] = {}
        self._uses: dict[str, int] = {}

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record a call of ``step``; return its output handle(s)."""
        after = _as_list(kwargs.pop("after", None))
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise InvalidArgument(
                f"Pipeline {self.pipeline_name!r}, step {step.name!r}: {e}. "
                f"The step's signature is {step.name}{step.signature}."
            ) from None
        bound.apply_defaults()
        node_id = self._node_id(step.name)
        inputs: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for arg, value in bound.arguments.items():
            ref = self._reference(step, arg, value)
            if ref is not None:
                inputs[arg] = ref
            else:
                params[arg] = self._parameter(step, arg, value)
        after_ids = []
        for handle in after:
            if not isinstance(handle, OutputHandle):
                raise InvalidArgument(
                    f"Step {step.name!r}: after= takes step outputs (handles), got "
                    f"{type(handle).__name__}."
                )
            self._own(step, "after", handle)
            after_ids.append(handle.node_id)
        self.nodes[node_id] = Node(node_id, step, inputs, params, after_ids)
        handles = tuple(OutputHandle(self, node_id, output) for output in step.outputs)
        return handles[0] if len(handles) == 1 else handles

    def _node_id(self, name: str) -> str:
        count = self._uses.get(name, 0) + 1
        self._uses[name] = count
        return name if count == 1 else f"{name}_{count}"

    def _own(self, step: Step, arg: str, handle: OutputHandle) -> None:
        if handle._trace is not self:
            raise InvalidArgument(
                f"Step {step.name!r}, argument {arg!r}: {handle!r} belongs to another pipeline "
                "(or to an earlier call of this one). Handles only connect steps of the same "
                "pipeline run."
            )

    def _reference(self, step: Step, arg: str, value: Any) -> Any:
        if isinstance(value, OutputHandle):
            self._own(step, arg, value)
            return (value.node_id, value.output)
        if isinstance(value, (list, tuple)) and value:
            handles = [v for v in value if isinstance(v, OutputHandle)]
            if not handles:
                return None
            if len(handles) != len(value):
                raise InvalidArgument(
                    f"Step {step.name!r}, argument {arg!r}: a list mixes step outputs with plain "
                    "values. Pass either only outputs (they arrive as a list of values) or "
                    "only plain values."
                )
            for h in handles:
                self._own(step, arg, h)
            return [(h.node_id, h.output) for h in handles]
        return None

    def _parameter(self, step: Step, arg: str, value: Any) -> Any:
        try:
            canonical_json(value)
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"Step {step.name!r}, argument {arg!r}: {type(value).__name__} is not a JSON "
                "value. Parameters must be numbers, strings, booleans, None, lists or dicts "
                "(they enter the cache key); produce other objects in a step and pass its "
                "output instead."
            ) from None
        return value

    def order(self) -> list[Node]:
        """The nodes in an order where every node comes after what it waits for."""
        placed: set[str] = set()
        ordered: list[Node] = []
        for node in self.nodes.values():  # trace order is already topological
            missing = [u for u in node.upstream if u not in placed]
            if missing:
                raise InvalidArgument(
                    f"Pipeline {self.pipeline_name!r}: step {node.id!r} waits for "
                    f"{missing} which never run before it (a cycle)."
                )
            placed.add(node.id)
            ordered.append(node)
        return ordered

    def structure(self) -> dict[str, Any]:
        """The graph as stored in a pipeline version."""
        return {"pipeline": self.pipeline_name, "nodes": [n.describe() for n in self.order()]}

    def version_hash(self) -> str:
        """Identity of this DAG: the same graph and step code hash the same."""
        return hashlib.sha256(canonical_json(self.structure()).encode()).hexdigest()[:32]


@contextmanager
def tracing(pipeline_name: str) -> Iterator[Trace]:
    """Record step calls made in this block into a new :class:`Trace`."""
    if _current.get() is not None:
        raise InvalidArgument(
            f"Pipeline {pipeline_name!r} was called while another pipeline is being built. "
            "Call steps inside a pipeline, not pipelines."
        )
    trace = Trace(pipeline_name)
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]
