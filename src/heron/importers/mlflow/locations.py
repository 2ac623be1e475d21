"""Where an MLflow run's or logged model's files are, as a local folder to read them from.

MLflow records an ``artifact_uri`` per run and an ``artifact_location`` per logged model: a
local path or ``file://`` URI, ``mlflow-artifacts:/<exp>/<run>/artifacts`` (files kept by an
``mlflow server``, under its ``--artifacts-destination``) or an object-store URL. The
``--artifacts`` root of ``heron import`` says where such files are now; fsspec reads the rest.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from heron.importers.mlflow.records import SourceError

PROXY_SCHEME = "mlflow-artifacts"


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition(":")
    return head.lower() if sep and len(head) > 1 else ""  # "C:" is a drive, not a scheme


def local_path(uri: str) -> Path | None:
    """The local path a plain path or ``file:`` URI names, else ``None``."""
    scheme = _scheme(uri)
    if scheme == "":
        return Path(uri)
    if scheme == "file":
        parsed = urlparse(uri)
        return Path(unquote(parsed.path))
    return None


def proxy_path(uri: str) -> str | None:
    """The path under the artifact server's root of a ``mlflow-artifacts:`` URI."""
    if _scheme(uri) != PROXY_SCHEME:
        return None
    parsed = urlparse(uri)
    return parsed.path.strip("/")


class ArtifactLocator:
    """Turns artifact URIs into local folders; ``root`` is the ``--artifacts`` folder."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root

    def check(self, uris: Iterable[str | None]) -> None:
        """:class:`SourceError` unless the files of every URI can be reached."""
        import fsspec

        schemes = {_scheme(u) for u in uris if u}
        if PROXY_SCHEME in schemes and self.root is None:
            raise SourceError(
                "the runs keep their artifacts on an MLflow artifact server "
                "(mlflow-artifacts:/ URIs), which heron cannot read from the database alone. "
                "Pass --artifacts <the server's --artifacts-destination folder, ./mlartifacts by "
                "default>, or import through the running server: heron import http://host:5000."
            )
        for scheme in sorted(schemes - {"", "file", PROXY_SCHEME}):
            try:
                fsspec.get_filesystem_class(scheme)
            except (ImportError, ValueError) as e:
                raise SourceError(
                    f"artifacts are stored at {scheme}:// URIs, which cannot be read here ({e}). "
                    f"Install the fsspec package for {scheme} (for s3: pip install s3fs) with its "
                    "credentials, or copy the files locally and pass --artifacts <folder>."
                ) from e

    def candidates(self, uri: str | None, tail: str) -> list[str]:
        """Where the files of ``uri`` may be, best first; ``tail`` is their path under an
        artifact root (``<exp>/<run>/artifacts``)."""
        found: list[str] = []
        if self.root is not None:
            root = self.root.rstrip("/")
            inner = proxy_path(uri) if uri else None
            if inner:
                found.append(f"{root}/{inner}")
            found.append(f"{root}/{tail}")
        if uri and proxy_path(uri) is None:
            path = local_path(uri)
            found.append(str(path) if path is not None else uri)
        return list(dict.fromkeys(found))

    @contextlib.contextmanager
    def folder(
        self, uri: str | None, tail: str, first: Path | None = None
    ) -> Iterator[Path | None]:
        """A local folder with the files (``None`` if there are none), tried at ``first``,
        then at :meth:`candidates`; remote folders are downloaded for the context's life."""
        places = ([str(first)] if first is not None else []) + self.candidates(uri, tail)
        for place in places:
            path = local_path(place)
            if path is not None:
                if path.is_dir():
                    yield path
                    return
                continue
            with _downloaded(place) as folder:
                if folder is not None:
                    yield folder
                    return
        yield None


@contextlib.contextmanager
def _downloaded(url: str) -> Iterator[Path | None]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if not fs.isdir(path):
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="heron-import-"))
    try:
        fs.get(path.rstrip("/") + "/", str(tmp), recursive=True)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
