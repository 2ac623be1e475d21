"""pyarrow Tables as Parquet: ``table.parquet``.

Tables whose column names repeat, or with types Parquet cannot store (unions, intervals,
run-end encoded arrays), fall through to other materializers.
"""

from __future__ import annotations

import itertools

from heron.artifacts.materializers import _parquet
from heron.artifacts.materializers.base import Materializer, MaterializerError, member, refusal

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ArrowTableMaterializer(Materializer):
    """``pyarrow.Table`` as Parquet, read back with the same schema.

    Metadata: ``type``, ``num_rows``, ``num_columns``, ``schema`` (column → arrow type) and
    ``stats`` (min, max, mean, null count of numeric columns among the first 100).
    """

    name = "arrow.parquet"
    version = "1"
    types = ("pyarrow.lib.Table",)

    def can_save(self, obj: Any) -> bool:
        """True for tables whose columns Parquet stores (unique names, storable types)."""
        import pyarrow as pa

        return isinstance(obj, pa.Table) and _parquet.schema_storable(obj.schema)

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` to ``table.parquet``."""
        import pyarrow as pa

        if not self.can_save(obj):
            raise refusal(
                self, obj, "pyarrow Tables with unique column names and types Parquet stores"
            )
        try:
            _parquet.write(obj, fs, member(path, _parquet.FILENAME))
        except pa.ArrowException as e:
            raise MaterializerError(f"Cannot store this table as Parquet: {e}") from e
        fields = itertools.islice(obj.schema, _parquet.MAX_SCHEMA_COLUMNS)
        schema = {field.name: str(field.type) for field in fields}
        return _parquet.describe(self.type_name(obj), obj, schema, obj.num_columns)

    def load(self, fs: Any, path: str) -> Any:
        """Read ``table.parquet`` back as a ``pyarrow.Table``."""
        return _parquet.read(fs, member(path, _parquet.FILENAME))
