"""What the MLflow artifact proxy shows under a run or a logged model: a tree of files.

Each file is bytes Heron holds (a file object, or a member of a folder object) or bytes made
on the fly (the ``MLmodel`` of a model Heron logged). A run's tree holds its output
artifacts by link name: a file artifact is a file, a folder artifact its files, a Heron model
a folder with an ``MLmodel``, a ``requirements.txt`` and the stored files under ``data/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from heron.core.entities import OUTPUT, ArtifactVersion


@dataclass(frozen=True)
class Entry:
    """One file: ``content_hash`` (+ ``member`` inside a folder object) or ``data``."""

    size: int
    content_hash: str | None = None
    member: str | None = None
    data: bytes | None = None


Tree = dict[str, Entry]
#: ``keep(kind, ids)``: which of ``ids`` the caller may read (``Request.readable``)
Keep = Callable[[str, list[str]], set[str]]


def object_files(blobs: Any, content_hash: str) -> list[tuple[str, int]] | None:
    """``(relative path, size)`` of a folder object's files; ``None`` for a file object."""
    fs, root = blobs.fs, blobs.object_path(content_hash)
    if not fs.isdir(root):
        return None
    found = []
    for path, info in sorted(fs.find(root, detail=True).items()):
        found.append((path[len(root) :].lstrip("/"), int(info["size"])))
    return found


def add_object(tree: Tree, blobs: Any, prefix: str, content_hash: str, size: int) -> None:
    """The object ``content_hash`` at ``prefix``: a file, or a folder's files under it."""
    files = object_files(blobs, content_hash)
    if files is None:
        tree[prefix] = Entry(size, content_hash)
        return
    for rel, file_size in files:
        tree[_join(prefix, rel)] = Entry(file_size, content_hash, rel)


def is_heron_model(artifact: ArtifactVersion) -> bool:
    """A model Heron logged (not an MLflow model directory uploaded through the proxy)."""
    from heron.models.mlmodel import is_mlflow_model
    from heron.models.model import MODEL_KEY

    return MODEL_KEY in (artifact.metadata or {}) and not is_mlflow_model(artifact)


def heron_model_tree(
    blobs: Any, artifact: ArtifactVersion, model_id: str, artifact_path: str, prefix: str = ""
) -> Tree:
    """A Heron model as an MLflow model directory (see the module doc)."""
    from heron.models import mlmodel

    tree: Tree = {}
    text = mlmodel.mlmodel_for_artifact(
        artifact, model_id=model_id, artifact_path=artifact_path, run_id=artifact.producer_run_id
    )
    tree[_join(prefix, mlmodel.MLMODEL)] = Entry(len(text), data=text)
    requirements = mlmodel.requirements_for_artifact(artifact)
    if requirements:
        tree[_join(prefix, "requirements.txt")] = Entry(len(requirements), data=requirements)
    add_object(tree, blobs, _join(prefix, mlmodel.DATA_DIR), artifact.content_hash, artifact.size)
    return tree


def run_tree(store: Any, blobs: Any, run_id: str, keep: Keep | None = None) -> Tree:
    """Everything the run produced, by link name (see the module doc); with ``keep``, only
    the artifact versions the caller may read (one of another project may be linked to it)."""
    from heron.server.mlflow.logged_models import model_id_of

    tree: Tree = {}
    links = [link for link in store.list_artifact_links(run_id=run_id) if link.direction == OUTPUT]
    if keep is not None and links:
        readable = keep("artifact", [link.artifact_id for link in links])
        links = [link for link in links if link.artifact_id in readable]
    for link in links:
        artifact = store.get_artifact_version(link.artifact_id)
        if is_heron_model(artifact):
            model_id = model_id_of(store, artifact)
            tree.update(heron_model_tree(blobs, artifact, model_id, link.name, link.name))
        else:
            add_object(tree, blobs, link.name, artifact.content_hash, artifact.size)
    return tree


def listing(tree: Tree, path: str) -> list[dict[str, Any]] | None:
    """The entries directly under ``path`` (``""``: the root) as MLflow lists them (names
    relative to ``path``); ``[]`` for a file; ``None`` when nothing is there."""
    if path in tree:
        return []
    children: dict[str, dict[str, Any]] = {}
    start = f"{path}/" if path else ""
    for name, entry in tree.items():
        if not name.startswith(start):
            continue
        first, sep, _rest = name[len(start) :].partition("/")
        if sep:
            children[first] = {"path": first, "is_dir": True}
        elif first not in children:
            children[first] = {"path": first, "is_dir": False, "file_size": entry.size}
    if not children and path:
        return None
    return [children[k] for k in sorted(children)]


def _join(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix and rel else prefix or rel
