"""The reference data of a model: what it was trained on, found through lineage.

A model's artifact was produced by a run (a pipeline step, or a tracked run that logged it);
the table that run consumed is its training data. The walk goes upstream from the model's
artifact, one run at a time: the first run with a table among its inputs gives the reference
(a table whose columns cover the model's input columns is preferred, then one linked under a
name such as ``train``, then the biggest). An explicitly given artifact always wins; with
neither, the error says how to give one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.core.entities import INPUT, ArtifactVersion
from heron.core.errors import InvalidArgument, NotFound
from heron.store.base import Store

#: materializers whose values are tables (pandas, Arrow, 2-D NumPy)
TABLE_MATERIALIZERS = ("pandas.parquet", "arrow.parquet", "numpy")
#: readers of logged files, by extension
FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".json", ".jsonl", ".npy")
#: how many runs upstream the walk looks at most
MAX_HOPS = 4
_TRAINING_WORDS = ("train", "fit", "reference", "features")


@dataclass(frozen=True)
class Reference:
    """The reference data set of a model: the artifact, and how it was found (``lineage``:
    consumed by ``run_id``, the run ``hops`` runs upstream of the model; ``explicit``)."""

    artifact: ArtifactVersion
    how: str
    run_id: str | None = None
    link_name: str | None = None
    hops: int = 0

    def describe(self) -> str:
        name = f"{self.artifact.name}:{self.artifact.version}"
        if self.how == "explicit":
            return f"{name} (given)"
        return f"{name} (input {self.link_name!r} of run {self.run_id}, found through lineage)"


def artifact_named(store: Store, reference: str) -> ArtifactVersion:
    """The artifact version ``reference`` names: an id, ``NAME`` (its latest version) or
    ``NAME:VERSION``."""
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidArgument("Name the reference artifact as NAME, NAME:VERSION or its id.")
    reference = reference.strip()
    name, sep, version = reference.rpartition(":")
    try:
        if sep and name and version.isdigit():
            return store.get_artifact_version_by_name(name, int(version))
        if sep and name and version == "latest":
            return store.get_artifact_version_by_name(name, None)
        try:
            return store.get_artifact_version(reference)
        except NotFound:
            return store.get_artifact_version_by_name(reference, None)
    except NotFound as e:
        hint = (
            "" if "heron artifacts list" in e.message else " List them with `heron artifacts list`."
        )
        raise NotFound(
            f"{e.message.rstrip('.')}. Name an artifact as NAME, NAME:VERSION or by its id.{hint}"
        ) from None


def explicit_reference(store: Store, reference: str) -> ArtifactVersion:
    """The artifact version ``reference`` names, checked to hold a table."""
    artifact = artifact_named(store, reference)
    if not is_table(artifact):
        raise InvalidArgument(
            f"The reference {artifact.name}:{artifact.version} holds a {artifact.type} "
            f"(stored by {artifact.materializer}), not a table: give a DataFrame, an Arrow "
            f"table, a 2-D array or a logged {', '.join(FILE_SUFFIXES)} file."
        )
    return artifact


def find_reference(
    store: Store, model_artifact: ArtifactVersion, explicit: str | None = None
) -> Reference:
    """The reference data of the model stored as ``model_artifact``: the artifact
    ``explicit`` names when given, else the training table lineage leads to."""
    if explicit:
        return Reference(explicit_reference(store, explicit), "explicit")
    wanted = set(input_columns(model_artifact) or ())
    runs = [model_artifact.producer_run_id] if model_artifact.producer_run_id else []
    seen: set[str] = set()
    for hops in range(MAX_HOPS):
        candidates: list[tuple[tuple[Any, ...], str, str, ArtifactVersion]] = []
        upstream: list[str] = []
        for run_id in runs:
            if run_id in seen:
                continue
            seen.add(run_id)
            for link in store.list_artifact_links(run_id=run_id):
                if link.direction != INPUT:
                    continue
                artifact = store.get_artifact_version(link.artifact_id)
                if is_table(artifact):
                    rank = _rank(artifact, link.name, wanted)
                    candidates.append((rank, run_id, link.name, artifact))
                elif artifact.producer_run_id:
                    upstream.append(artifact.producer_run_id)
        if candidates:
            _, run_id, link_name, artifact = max(candidates, key=lambda c: c[0])
            return Reference(artifact, "lineage", run_id, link_name, hops)
        runs = upstream
        if not runs:
            break
    raise NotFound(_no_reference(model_artifact))


def _no_reference(model_artifact: ArtifactVersion) -> str:
    name = f"{model_artifact.name}:{model_artifact.version}"
    if not model_artifact.producer_run_id:
        where = f"The model artifact {name} records no run that produced it"
    else:
        where = (
            f"The model artifact {name} was produced by run {model_artifact.producer_run_id}, "
            "and neither it nor the runs upstream of it consumed a table"
        )
    return (
        f"{where}, so its training data cannot be found through lineage. Give the reference "
        "explicitly (--reference NAME[:VERSION], reference=...), or train the model in a "
        "pipeline step that takes its training table as an input."
    )


def is_table(artifact: ArtifactVersion) -> bool:
    """Whether the artifact's value is a table (a DataFrame, an Arrow table, a 2-D array, or a
    logged Parquet/CSV/JSON file)."""
    if artifact.materializer in ("pandas.parquet", "arrow.parquet"):
        return True
    if artifact.materializer == "numpy":
        shape = (artifact.metadata or {}).get("shape")
        return isinstance(shape, list) and len(shape) == 2
    if artifact.materializer == "file":
        return Path(artifact.name).suffix.lower() in FILE_SUFFIXES
    return False


def _rank(artifact: ArtifactVersion, link_name: str, wanted: set[str]) -> tuple[Any, ...]:
    columns = set(((artifact.metadata or {}).get("schema") or {}).keys())
    covered = len(wanted & columns) / len(wanted) if wanted else 0.0
    named = any(word in link_name.lower() for word in _TRAINING_WORDS)
    rows = (artifact.metadata or {}).get("num_rows") or 0
    return (covered, named, rows, artifact.created_at)


def input_columns(model_artifact: ArtifactVersion) -> list[str] | None:
    """The input column names of a logged model's signature, or ``None``."""
    signature = model_signature(model_artifact)
    return signature.columns if signature is not None else None


def model_signature(model_artifact: ArtifactVersion) -> Any:
    """The :class:`~heron.models.signature.Signature` a logged model was stored with, or
    ``None`` (an artifact that is not a logged model, or one logged without one)."""
    from heron.models.signature import Signature

    facts = (model_artifact.metadata or {}).get("model") or {}
    return Signature.from_dict(facts.get("signature"))


def load_table(artifact: ArtifactVersion) -> Any:
    """The value of a table artifact: a DataFrame, Arrow table or array (a logged file is
    read by its extension)."""
    value = artifact.load()
    if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
        return read_table_file(Path(value), Path(artifact.name).suffix)
    return value


def read_table_file(path: Path, suffix: str | None = None) -> Any:
    """A table read from a ``.parquet``, ``.csv``, ``.json``/``.jsonl`` or ``.npy`` file."""
    suffix = (suffix if suffix is not None else path.suffix).lower()
    if suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    import pandas as pd

    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".json", ".jsonl"):
        return pd.read_json(path, lines=suffix == ".jsonl")
    raise InvalidArgument(
        f"cannot read {path.name} (a {suffix or 'name without an extension'}) as a table: use "
        f"a {', '.join(FILE_SUFFIXES)} file or an artifact of one."
    )
