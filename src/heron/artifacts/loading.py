"""Reading an artifact version back: the loader behind ``ArtifactVersion.load()``."""

from __future__ import annotations

import json
from typing import Any

from heron.artifacts.store import ArtifactStore, open_artifact_store
from heron.core import entities
from heron.core.errors import InvalidArgument
from heron.core.uris import local_path_of


def store_holding(uri: str) -> tuple[ArtifactStore, str]:
    """The artifact store whose root holds the object at ``uri``, and the object's hash."""
    path = uri.replace("\\", "/")
    marker = "/objects/"
    if marker not in path:
        raise InvalidArgument(f"{uri!r} is not the location of a Heron artifact object.")
    root, _, rest = path.rpartition(marker)
    content_hash = rest.replace("/", "")
    return open_artifact_store(root), content_hash


def load_artifact(artifact: entities.ArtifactVersion) -> Any:
    """The value of ``artifact``: a path for logged files and folders, str for logged text,
    objects for logged dicts, and whatever its materializer reads for step outputs."""
    store, content_hash = store_holding(artifact.uri)
    kind = artifact.materializer
    if kind == "file":
        local = local_path_of(artifact.uri)
        return (
            str(local) if local is not None and local.exists() else store.local_path(content_hash)
        )
    if kind.startswith("file."):
        data = store.read_bytes(content_hash)
        if kind == "file.text":
            return data.decode("utf-8")
        if kind == "file.json":
            return json.loads(data)
        if kind == "file.yaml":
            import yaml

            return yaml.safe_load(data)
    else:
        from heron.artifacts.materializers import get_materializer

        return get_materializer(kind).load(store.fs, store.object_path(content_hash))
    raise InvalidArgument(
        f"Artifact {artifact.name} v{artifact.version} was written by materializer {kind!r}, "
        "which this installation does not know; install the package that provides it."
    )


entities.set_artifact_loader(load_artifact)
