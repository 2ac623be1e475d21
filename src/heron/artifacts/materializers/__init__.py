"""Materializers: how a step's return value becomes files in the artifact store, and back.

A :class:`Materializer` writes one value into a folder (``save(obj, fs, path) -> metadata``)
and reads it back (``load(fs, path)``). :func:`materializer_for` chooses one by the value's
type; :func:`get_materializer` finds one by the name stored on an artifact version.

Built-ins (each imports its library only when it saves or loads; name: values → file):

- ``json``: None, bool, int, float, str, list, dict with str keys, if JSON gives them back
  exactly → ``data.json``
- ``numpy``: ``numpy.ndarray`` without Python objects → ``array.npy`` (memory-mapped loads)
- ``numpy.scalar``: ``numpy.float64(…)``, ``numpy.int32(…)``, … → ``scalar.npy``
- ``pandas.parquet``: ``pandas.DataFrame`` and ``pandas.Series`` → ``table.parquet``
- ``arrow.parquet``: ``pyarrow.Table`` → ``table.parquet``
- ``sklearn.joblib``: scikit-learn estimators and pipelines → ``model.joblib``
- ``cloudpickle``: anything else that pickles, with a warning naming the type →
  ``object.pkl``

Other packages add theirs under the ``heron.materializers`` entry point group::

    [project.entry-points."heron.materializers"]
    torch = "heron_torch:TorchMaterializer"

and code can register one directly:

>>> from heron.artifacts.materializers import Materializer, register_materializer
>>> class Lines(Materializer):
...     name, version, types = "example.lines", "1", ("example.Lines",)
...     def save(self, obj, fs, path):
...         with fs.open(f"{path}/lines.txt", "w") as f:
...             f.write("\\n".join(obj))
...         return {"type": self.type_name(obj), "lines": len(obj)}
...     def load(self, fs, path):
...         with fs.open(f"{path}/lines.txt") as f:
...             return f.read().split("\\n")
>>> register_materializer(Lines)  # doctest: +SKIP
"""

from __future__ import annotations

from heron.artifacts.materializers.arrow_tables import ArrowTableMaterializer
from heron.artifacts.materializers.base import (
    ENTRY_POINT_GROUP,
    Materializer,
    MaterializerError,
)
from heron.artifacts.materializers.json_values import JsonMaterializer
from heron.artifacts.materializers.numpy_arrays import (
    NumpyArrayMaterializer,
    NumpyScalarMaterializer,
)
from heron.artifacts.materializers.pandas_frames import PandasMaterializer
from heron.artifacts.materializers.pickled import CloudpickleMaterializer
from heron.artifacts.materializers.registry import (
    get_materializer,
    list_materializers,
    materializer_for,
    register_materializer,
)
from heron.artifacts.materializers.sklearn_estimators import SklearnMaterializer

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArrowTableMaterializer",
    "CloudpickleMaterializer",
    "JsonMaterializer",
    "Materializer",
    "MaterializerError",
    "NumpyArrayMaterializer",
    "NumpyScalarMaterializer",
    "PandasMaterializer",
    "SklearnMaterializer",
    "get_materializer",
    "list_materializers",
    "materializer_for",
    "register_materializer",
]
