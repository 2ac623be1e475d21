"""The last resort: any picklable value with cloudpickle, ``object.pkl``.

cloudpickle stores functions, lambdas and classes defined in ``__main__`` by value, so most
Python objects can be stored; but a pickle names the classes it holds and often their private
layout, so it may not load under other versions of the libraries involved. The registry
chooses it only when no other materializer takes a value, and logs a warning naming the type.
"""

from __future__ import annotations

from heron.artifacts.materializers.base import (
    Materializer,
    MaterializerError,
    local_path,
    member,
    type_name_of,
)

# no `typing` at run time: importing it costs more than this package
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Discard:
    """A binary file that forgets what is written to it (for trial pickling)."""

    def write(self, data: Any) -> int:
        return len(data)


def _pickle_failure(obj: Any, error: BaseException) -> MaterializerError:
    return MaterializerError(
        f"{type_name_of(type(obj))} cannot be pickled: {type(error).__name__}: {error}"
    )


class CloudpickleMaterializer(Materializer):
    """Any picklable value as ``object.pkl`` (cloudpickle, highest protocol).

    Metadata: ``type``, ``python`` (version that wrote it) and ``cloudpickle`` (its version).
    """

    name = "cloudpickle"
    version = "1"
    types = ()
    filename = "object.pkl"

    def check_picklable(self, obj: Any) -> None:
        """Pickle ``obj`` into nothing; raise :class:`MaterializerError` if that fails."""
        import pickle

        import cloudpickle

        try:
            cloudpickle.dump(obj, _Discard(), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            raise _pickle_failure(obj, e) from e

    def can_save(self, obj: Any) -> bool:
        """True when cloudpickle can pickle ``obj`` (tries it, writing nothing)."""
        try:
            self.check_picklable(obj)
        except MaterializerError:
            return False
        return True

    def save(self, obj: Any, fs: Any, path: str) -> dict[str, Any]:
        """Pickle ``obj`` into ``object.pkl``."""
        import pickle
        import platform

        import cloudpickle

        target = member(path, self.filename)
        local = local_path(fs, target)
        try:
            if local is not None:
                with open(local, "wb") as f:
                    cloudpickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                with fs.open(target, "wb") as f:
                    cloudpickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            raise _pickle_failure(obj, e) from e
        return {
            "type": self.type_name(obj),
            "python": platform.python_version(),
            "cloudpickle": cloudpickle.__version__,
        }

    def load(self, fs: Any, path: str) -> Any:
        """Unpickle ``object.pkl`` (only ever from a store you trust)."""
        import pickle

        target = member(path, self.filename)
        local = local_path(fs, target)
        if local is not None:
            with open(local, "rb") as f:
                return pickle.load(f)
        with fs.open(target, "rb") as f:
            return pickle.load(f)
