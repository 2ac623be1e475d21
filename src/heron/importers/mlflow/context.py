"""The state one import carries from experiments to runs to models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heron.importers.mlflow.records import MlflowSource
from heron.importers.mlflow.summary import Progress, Summary
from heron.store.base import Store

#: tag (and metadata key) naming where an imported thing came from
IMPORTED_FROM = "heron.imported_from"


@dataclass
class ImportContext:
    source: MlflowSource
    store: Store
    blobs: Any  # heron.artifacts.store.ArtifactStore (or its proxied twin)
    summary: Summary
    progress: Progress
    #: MLflow experiment id -> Heron experiment id
    experiment_ids: dict[str, str] = field(default_factory=dict)
    #: Heron experiment ids to (re)delete once their runs are in
    delete_experiments: set[str] = field(default_factory=set)
    #: run ids known to exist in Heron
    present_runs: set[str] = field(default_factory=set)
    #: MLflow logged model id -> the Heron artifact version it became
    model_artifacts: dict[str, Any] = field(default_factory=dict)
    #: the source's logged models (read once)
    logged_models: list[Any] = field(default_factory=list)
