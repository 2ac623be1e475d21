"""Reading an artifact version back: the loader behind ``ArtifactVersion.load()``."""

from __future__ import annotations

import functools
import json
from typing import Any

from heron.artifacts.store import ArtifactStore
from heron.core import entities
from heron.core.errors import InvalidArgument
from heron.core.uris import local_path_of


@functools.lru_cache(maxsize=32)
def store_holding(uri: str) -> tuple[ArtifactStore, str]:
    """The artifact store whose root holds the object at ``uri``, and the object's hash."""
    path = uri.replace("\\", "/")
    marker = "/objects/"
    if marker not in path:
        raise InvalidArgument(f"{uri!r} is not the location of a Heron artifact object.")
    root, _, rest = path.rpartition(marker)
    content_hash = rest.replace("/", "")
    return ArtifactStore(root), content_hash


def load_artifact(artifact: entities.ArtifactVersion) -> Any:
    """The value of ``artifact``: a path for files and folders, str for text, objects for JSON."""
    store, content_hash = store_holding(artifact.uri)
    kind = artifact.materializer
    if kind == "file":
        local = local_path_of(artifact.uri)
        return (
            str(local) if local is not None and local.exists() else store.local_path(content_hash)
        )
    data = store.read_bytes(content_hash)
    if kind == "text":
        return data.decode("utf-8")
    if kind == "json":
        return json.loads(data)
    if kind == "yaml":
        import yaml

        return yaml.safe_load(data)
    raise InvalidArgument(
        f"Artifact {artifact.name} v{artifact.version} was written by materializer {kind!r}, "
        "which this installation does not have; install the package that provides it."
    )


entities.set_artifact_loader(load_artifact)
