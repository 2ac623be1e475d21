"""What a step call returns while a pipeline is traced: a handle on one of its outputs."""

from __future__ import annotations

from typing import Any


class OutputHandle:
    """A promise of output ``output`` of the step invocation ``node_id``.

    Pass it to another step to make a data dependency; it has no value while the
    pipeline is being traced.
    """

    __slots__ = ("_trace", "node_id", "output")

    def __init__(self, trace: Any, node_id: str, output: str) -> None:
        self._trace = trace
        self.node_id = node_id
        self.output = output

    @property
    def ref(self) -> str:
        """``<step invocation>.<output>``, the default artifact name."""
        return f"{self.node_id}.{self.output}"

    def __repr__(self) -> str:
        return f"<output {self.ref}>"

    def __bool__(self) -> bool:
        from heron.core.errors import InvalidArgument

        raise InvalidArgument(
            f"{self!r} has no value while the pipeline is being built: a pipeline function "
            "only wires steps together. Branch inside a step instead, or pass the value as a "
            "pipeline parameter."
        )

    def __iter__(self):  # type: ignore[no-untyped-def]
        from heron.core.errors import InvalidArgument

        raise InvalidArgument(
            f"{self!r} is one output; to get several, declare them: "
            "@step(outputs=('a', 'b')) and unpack `a, b = my_step(...)`."
        )
