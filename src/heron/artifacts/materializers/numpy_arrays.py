"""NumPy arrays as ``array.npy`` and NumPy scalars as ``scalar.npy``.

Arrays are written with ``numpy.save`` straight into an open file (``tofile``: no copy of the
data) and, on a local file system, read back memory-mapped, so loading costs nothing until
the data is touched. The mapping is copy-on-write (``mmap_mode="c"``): a step may change its
input in place without touching the stored artifact, as if it had read a private copy.

Only plain ``ndarray`` (and ``numpy.memmap``) values whose dtype holds no Python objects are
accepted: ``.npy`` would need pickle for object arrays, and would drop what subclasses such
as masked arrays or matrices add. Those fall through to other materializers.
"""

from __future__ import annotations

from heron.artifacts.materializers.base import Materializer, local_path, member, plain, refusal

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# dtype kinds .npy stores without pickle: bool, ints, floats, complex, datetimes, timedeltas,
# fixed-width bytes and str, and structured/void records.
_NPY_KINDS = frozenset("biufcmMSUV")


def _npy_safe(dtype: Any) -> bool:
    return dtype.kind in _NPY_KINDS and not dtype.hasobject


_HASH_WHILE_WRITING = 8 * 1024 * 1024  # bytes
_CHUNK = 16 * 1024 * 1024


def _write(fs: Any, target: str, array: Any) -> None:
    import numpy as np

    local = local_path(fs, target)
    if local is not None and array.nbytes >= _HASH_WHILE_WRITING and array.flags.c_contiguous:
        # Large arrays: the .npy header, then the array's memory in chunks (no copies), each
        # chunk hashed while it is written, so the artifact store need not read it back.
        from numpy.lib import format as npy_format

        from heron.artifacts.hashing_writer import HashingWriter
        from heron.artifacts.store import record_file_hash

        with open(local, "wb") as f:
            writer = HashingWriter(f)
            header = npy_format.header_data_from_array_1_0(array)
            try:
                npy_format.write_array_header_1_0(writer, header)
            except ValueError:  # a header too long for format 1.0
                npy_format.write_array_header_2_0(writer, header)
            data = memoryview(array.reshape(-1)).cast("B")
            for start in range(0, len(data), _CHUNK):
                writer.write(data[start : start + _CHUNK])
        record_file_hash(local, writer.hexdigest(), writer.size)
    elif local is not None:
        with open(local, "wb") as f:  # a real file: numpy writes with tofile, no copies
            np.save(f, array, allow_pickle=False)
    else:
        with fs.open(target, "wb") as f:
            np.save(f, array, allow_pickle=False)


class NumpyArrayMaterializer(Materializer):
    """``numpy.ndarray`` as ``array.npy``; loads memory-mapped on local file systems.

    Metadata: ``type``, ``shape`` (list of ints), ``dtype`` (str) and ``nbytes``.
    """

    name = "numpy"
    version = "1"
    types = ("numpy.ndarray",)
    filename = "array.npy"
    #: how :meth:`load` maps local files: copy-on-write, so in-place changes stay private
    mmap_mode: str | None = "c"

    def can_save(self, obj: Any) -> bool:
        """True for plain arrays (or memmaps) whose dtype needs no pickle."""
        import numpy as np

        return type(obj) in (np.ndarray, np.memmap) and _npy_safe(obj.dtype)

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` to ``array.npy``."""
        if not self.can_save(obj):
            raise refusal(self, obj, "numpy.ndarray values whose dtype holds no Python objects")
        _write(fs, member(path, self.filename), obj)
        return {
            "type": self.type_name(obj),
            "shape": [int(n) for n in obj.shape],
            "dtype": str(obj.dtype),
            "nbytes": int(obj.nbytes),
        }

    def load(self, fs: Any, path: str) -> Any:
        """Read ``array.npy``: memory-mapped when local, else into memory."""
        import numpy as np

        target = member(path, self.filename)
        local = local_path(fs, target)
        if local is not None:
            return np.load(local, mmap_mode=self.mmap_mode, allow_pickle=False)
        with fs.open(target, "rb") as f:
            return np.load(f, allow_pickle=False)


class NumpyScalarMaterializer(Materializer):
    """NumPy scalars (``numpy.float64(0.5)``, ``numpy.int32(3)``, …) as ``scalar.npy``.

    They come back with their exact type, which JSON would lose. Metadata: ``type``,
    ``dtype`` and ``value`` (as a plain JSON value; None for NaN and infinities).
    """

    name = "numpy.scalar"
    version = "1"
    types = ("numpy.generic",)
    filename = "scalar.npy"

    def can_save(self, obj: Any) -> bool:
        """True for scalars whose dtype needs no pickle."""
        import numpy as np

        return isinstance(obj, np.generic) and _npy_safe(obj.dtype)

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Write ``obj`` as a 0-d array to ``scalar.npy``."""
        import numpy as np

        if not self.can_save(obj):
            raise refusal(self, obj, "numpy scalars whose dtype holds no Python objects")

        _write(fs, member(path, self.filename), np.asarray(obj))
        metadata = {"type": self.type_name(obj), "dtype": str(obj.dtype)}
        if obj.dtype.kind in "biufU":
            metadata["value"] = plain(obj)
        return metadata

    def load(self, fs: Any, path: str) -> Any:
        """Read ``scalar.npy`` back as a scalar of the type saved."""
        import numpy as np

        with fs.open(member(path, self.filename), "rb") as f:
            return np.load(f, allow_pickle=False)[()]
