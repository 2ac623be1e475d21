"""Files, folders, texts and dicts logged to a run, stored as artifact versions."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heron.artifacts.store import (
    ArtifactStore,
    StoredObject,
    open_artifact_store,
    safe_relative,
)
from heron.core import config
from heron.core.entities import ArtifactVersion
from heron.core.errors import ConfigError, InvalidArgument, NotFound
from heron.store.base import Store


def artifact_store_for(store: Store) -> ArtifactStore:
    """The artifact store in force for a metadata store (DESIGN §3)."""
    return open_artifact_store(config.get_artifact_uri(store.uri))


def record_artifact(
    store: Store,
    run_id: str,
    name: str,
    obj: StoredObject,
    type_: str,
    materializer: str,
    metadata: dict[str, Any],
) -> ArtifactVersion:
    """Record the stored ``obj`` as the artifact ``name`` produced by ``run_id`` and linked to
    it under that name."""
    return store.create_artifact_version(
        name,
        content_hash=obj.content_hash,
        type=type_,
        materializer=materializer,
        size=obj.size,
        uri=obj.uri,
        producer_run_id=run_id,
        metadata=metadata,
        link_name=name,
    )


def log_path(
    store: Store, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None
) -> ArtifactVersion:
    """Log a local file or folder as an artifact of ``run_id``."""
    path = Path(local_path)
    if artifact_path is not None and not isinstance(artifact_path, str):
        artifact_path = os.fspath(artifact_path)
    folder = safe_relative(artifact_path, "artifact_path", folder=True) if artifact_path else None
    if not path.exists():
        raise NotFound(f"Cannot log {path}: no such file or folder.")
    name = safe_relative(f"{folder}/{path.name}" if folder else path.name)
    blobs = artifact_store_for(store)
    if path.is_dir():
        obj = blobs.put_dir(path)
        files = sum(1 for p in path.rglob("*") if p.is_file())
        return record_artifact(store, run_id, name, obj, "directory", "file", {"files": files})
    obj = blobs.put_file(path)
    return record_artifact(store, run_id, name, obj, "file", "file", {"filename": path.name})


def log_text(store: Store, run_id: str, text: str, artifact_file: str) -> ArtifactVersion:
    """Log a string as the text artifact ``artifact_file``."""
    if not isinstance(text, str):
        raise InvalidArgument(f"log_text needs a str, got {type(text).__name__}.")
    name = safe_relative(artifact_file)
    obj = artifact_store_for(store).put_bytes(text.encode("utf-8"))
    return record_artifact(store, run_id, name, obj, "text", "file.text", {"chars": len(text)})


def log_dict(
    store: Store, run_id: str, dictionary: Mapping[str, Any], artifact_file: str
) -> ArtifactVersion:
    """Log a mapping as JSON, or YAML when ``artifact_file`` ends in ``.yaml``/``.yml``."""
    name = safe_relative(artifact_file)
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ConfigError("Logging a dict as YAML needs PyYAML: pip install pyyaml.") from None
        data = yaml.safe_dump(dict(dictionary), sort_keys=False).encode()
        materializer = "file.yaml"
    else:
        try:
            data = json.dumps(dictionary, indent=2, allow_nan=True).encode()
        except (TypeError, ValueError) as e:
            raise InvalidArgument(
                f"log_dict({artifact_file!r}): not JSON-serializable: {e}."
            ) from e
        materializer = "file.json"
    obj = artifact_store_for(store).put_bytes(data)
    return record_artifact(
        store, run_id, name, obj, "dict", materializer, {"keys": len(dictionary)}
    )
