"""A model's signature: the inputs it takes and the output it gives.

Inputs are either named **columns** (a table: pandas, records, a dict of columns) or one
**tensor** (an array of a dtype and a shape, ``-1`` for any size). It is inferred from an
``input_example`` by :func:`infer_signature`, stored as JSON in the model's metadata, and
checked by :mod:`heron.models.inputs` before every prediction (and by the scoring server
before every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heron.core.errors import InvalidArgument

#: dtype names a signature uses, and the NumPy kind each stands for
DTYPES = {
    "float64": "f",
    "float32": "f",
    "int64": "i",
    "int32": "i",
    "uint8": "u",
    "bool": "b",
    "str": "U",
    "object": "O",
    "datetime64[ns]": "M",
}


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One named input column of a dtype in :data:`DTYPES`."""

    name: str
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """An array of ``dtype`` and ``shape`` (``-1``: any size along that axis)."""

    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "tensor", "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Signature:
    """``inputs``: a list of :class:`ColumnSpec` or a :class:`TensorSpec`; ``outputs``: a
    :class:`TensorSpec` or columns, or ``None`` when unknown."""

    inputs: tuple[ColumnSpec, ...] | TensorSpec | None = None
    outputs: tuple[ColumnSpec, ...] | TensorSpec | None = None

    @property
    def columns(self) -> list[str] | None:
        """The input column names, or ``None`` for a tensor (or unknown) input."""
        if isinstance(self.inputs, tuple):
            return [c.name for c in self.inputs]
        return None

    @property
    def n_features(self) -> int | None:
        """How many values one input row has, when the signature says so."""
        if isinstance(self.inputs, tuple):
            return len(self.inputs)
        if isinstance(self.inputs, TensorSpec) and len(self.inputs.shape) == 2:
            width = self.inputs.shape[1]
            return None if width < 0 else width
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": _spec_to_dict(self.inputs), "outputs": _spec_to_dict(self.outputs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Signature | None:
        """The signature stored by :meth:`to_dict` (``None`` stays ``None``)."""
        if not data:
            return None
        return cls(_spec_from_dict(data.get("inputs")), _spec_from_dict(data.get("outputs")))


def _spec_to_dict(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, TensorSpec):
        return spec.to_dict()
    return {"type": "columns", "columns": [c.to_dict() for c in spec]}


def _spec_from_dict(data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    if data.get("type") == "tensor":
        return TensorSpec(str(data["dtype"]), tuple(int(n) for n in data["shape"]))
    return tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["columns"])


def dtype_name(dtype: Any) -> str:
    """The signature name of a NumPy/pandas dtype (``float64``, ``int64``, ``str``, …)."""
    import numpy as np

    dtype = np.dtype(dtype) if not hasattr(dtype, "kind") else dtype
    kind = getattr(dtype, "kind", "O")
    if kind == "f":
        return "float32" if dtype.itemsize == 4 else "float64"
    if kind in "iu":
        if kind == "u" and dtype.itemsize == 1:
            return "uint8"
        return "int32" if dtype.itemsize == 4 else "int64"
    if kind == "b":
        return "bool"
    if kind == "U":
        return "str"
    if kind == "M":
        return "datetime64[ns]"
    return "object"


def _column_dtype(values: Any) -> str:
    """The dtype of a pandas column, calling text columns ``str``."""
    name = dtype_name(values.dtype)
    if name == "object" and all(isinstance(v, str) for v in values.head(100)):
        return "str"
    return name


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """The signature of ``input_example`` (and of ``output``, a prediction, when given).

    A pandas DataFrame, a list of dicts (records) or a dict of lists (columns) gives named
    columns; a NumPy array or a list of lists gives a tensor whose first axis is any size.
    """
    return Signature(_infer(input_example, "input_example"), _infer(output, "output"))


def _infer(example: Any, what: str) -> Any:
    if example is None:
        return None
    import numpy as np

    if _is_dataframe(example):
        return tuple(ColumnSpec(str(c), _column_dtype(example[c])) for c in example.columns)
    if _is_series(example):
        return TensorSpec(dtype_name(example.dtype), (-1,))
    if isinstance(example, dict):
        example = [example] if all(np.isscalar(v) for v in example.values()) else example
        if isinstance(example, dict):
            import pandas as pd

            return _infer(pd.DataFrame(example), what)
    if isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        import pandas as pd

        return _infer(pd.DataFrame.from_records(example), what)
    try:
        array = np.asarray(example)
    except (ValueError, TypeError):
        array = None
    if array is None or (array.dtype.kind == "O" and array.ndim > 0):
        raise InvalidArgument(
            f"Cannot infer a signature from the {what} ({type(example).__name__}): its rows "
            "have different lengths or mixed types. Pass a pandas DataFrame, a rectangular "
            "NumPy array, a list of rows or a list of dicts."
        )
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(dtype_name(array.dtype), shape)


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _is_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "dtype")
