"""An MLflow file store (``mlruns/``), read from its folders and ``meta.yaml`` files.

Layout (MLflow's ``FileStore``): ``<exp>/meta.yaml``, ``<exp>/tags/<key>``; runs in
``<exp>/<run>/`` with ``meta.yaml``, ``params/<key>``, ``tags/<key>``, ``metrics/<key>`` (one
``<timestamp> <value> <step>`` line per point) and ``artifacts/``; logged models in
``<exp>/models/<id>/``; deleted experiments in ``.trash/<exp>/``; the registry in
``models/<name>/`` with ``version-<n>/``. Keys holding ``/`` are nested folders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heron.core.entities import Metric
from heron.importers.mlflow.locations import ArtifactLocator, local_path
from heron.importers.mlflow.records import (
    ACTIVE,
    DELETED,
    FILE_STORE_STATUSES,
    LOGGED_MODEL_STATUSES,
    PARENT_TAG,
    MlflowSource,
    RunHeader,
    SourceError,
    SourceExperiment,
    SourceLoggedModel,
    SourceModelVersion,
    SourceRegisteredModel,
    SourceRun,
)

_NOT_EXPERIMENTS = {".trash", "models"}


def _yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise SourceError(
            "reading an MLflow file store needs PyYAML: pip install pyyaml."
        ) from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SourceError(f"cannot read {path}: {e}. Is the MLflow file store damaged?") from e
    return data if isinstance(data, dict) else {}


def _key_files(folder: Path) -> dict[str, str]:
    """``{key: file content}`` of a params/ or tags/ folder (nested folders: keys with /)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _status(value: Any) -> str:
    if isinstance(value, int):
        return FILE_STORE_STATUSES.get(value, "FAILED")
    return str(value or "FINISHED")


class FileSource(MlflowSource):
    """The folders of an ``mlruns/`` directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.label = f"mlflow:{self.root}"
        self.locator = ArtifactLocator(None)
        self._experiment_dirs: dict[str, Path] = {}
        self._run_dirs: dict[str, Path] = {}

    def check(self) -> None:
        if not self.root.exists():
            raise SourceError(
                f"there is no folder {self.root}. Give the path of an MLflow file store (the "
                "mlruns/ folder MLflow wrote), a sqlite:///… or postgresql://… database URL, or "
                "an http://… MLflow server."
            )
        if not self.root.is_dir():
            raise SourceError(
                f"{self.root} is a file, not an MLflow file store folder. For an MLflow SQLite "
                f"database use sqlite:///{self.root}."
            )
        for folder in self._candidate_experiment_dirs():
            if (folder / "meta.yaml").is_file():
                return
        raise SourceError(
            f"{self.root} is not an MLflow file store: it holds no <experiment id>/meta.yaml. "
            "Point heron import at the mlruns/ folder itself (the one holding 0/meta.yaml)."
        )

    def _candidate_experiment_dirs(self) -> list[Path]:
        found = [p for p in self.root.iterdir() if p.is_dir() and p.name not in _NOT_EXPERIMENTS]
        trash = self.root / ".trash"
        if trash.is_dir():
            found += [p for p in trash.iterdir() if p.is_dir()]
        return sorted(found)

    # --- tracking -----------------------------------------------------------------------
    def experiments(self) -> list[SourceExperiment]:
        result = []
        for folder in self._candidate_experiment_dirs():
            if not (folder / "meta.yaml").is_file():
                continue
            meta = _yaml(folder / "meta.yaml")
            experiment_id = str(meta.get("experiment_id", folder.name))
            lifecycle = meta.get("lifecycle_stage") or ACTIVE
            if folder.parent.name == ".trash":
                lifecycle = DELETED
            self._experiment_dirs[experiment_id] = folder
            tags = {k: v for k, v in _key_files(folder / "tags").items()}
            result.append(SourceExperiment(experiment_id, str(meta["name"]), lifecycle, tags))
        return result

    def run_headers(self) -> list[RunHeader]:
        if not self._experiment_dirs:
            self.experiments()
        headers = []
        for experiment_id, folder in self._experiment_dirs.items():
            for run_dir in sorted(folder.iterdir()):
                if run_dir.name in ("tags", "models") or not (run_dir / "meta.yaml").is_file():
                    continue
                meta = _yaml(run_dir / "meta.yaml")
                run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
                self._run_dirs[run_id] = run_dir
                parent_file = run_dir / "tags" / PARENT_TAG
                parent = parent_file.read_text().strip() if parent_file.is_file() else None
                headers.append(
                    RunHeader(
                        run_id,
                        experiment_id,
                        _status(meta.get("status")),
                        meta.get("lifecycle_stage") or ACTIVE,
                        parent or None,
                        int(meta.get("start_time") or 0),
                    )
                )
        return headers

    def load_runs(self, headers: Sequence[RunHeader]) -> list[SourceRun]:
        return [self._load_run(h) for h in headers]

    def _load_run(self, header: RunHeader) -> SourceRun:
        run_dir = self._run_dirs[header.id]
        meta = _yaml(run_dir / "meta.yaml")
        tags = _key_files(run_dir / "tags")
        run = SourceRun(
            id=header.id,
            experiment_id=header.experiment_id,
            name=meta.get("run_name") or tags.get("mlflow.runName"),
            status=header.status,
            start_time=int(meta.get("start_time") or 0),
            end_time=meta.get("end_time"),
            user=meta.get("user_id") or None,
            lifecycle=header.lifecycle,
            artifact_uri=meta.get("artifact_uri"),
            params=_key_files(run_dir / "params"),
            tags=tags,
        )
        metrics_dir = run_dir / "metrics"
        if metrics_dir.is_dir():
            for path in sorted(p for p in metrics_dir.rglob("*") if p.is_file()):
                key = path.relative_to(metrics_dir).as_posix()
                points = []
                for line in path.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) < 2:
                        continue
                    step = int(parts[2]) if len(parts) > 2 else 0
                    points.append(Metric(key, float(parts[1]), step, int(parts[0])))
                points.sort(key=lambda m: (m.step, m.timestamp))
                run.metrics.extend(points)
        return run

    def run_artifacts(self, run: SourceRun) -> contextlib.AbstractContextManager[Path | None]:
        run_dir = self._run_dirs.get(run.id)
        first = run_dir / "artifacts" if run_dir is not None else None
        tail = f"{run.experiment_id}/{run.id}/artifacts"
        return self.locator.folder(run.artifact_uri, tail, first=first)

    def close(self) -> None:
        pass  # nothing held open

    def model_artifacts(
        self, model: SourceLoggedModel
    ) -> contextlib.AbstractContextManager[Path | None]:
        folder = self._experiment_dirs.get(model.experiment_id)
        first = folder / "models" / model.id / "artifacts" if folder is not None else None
        tail = f"{model.experiment_id}/models/{model.id}/artifacts"
        return self.locator.folder(model.artifact_location, tail, first=first)

    # --- logged models and the registry ----------------------------------------------------
    def logged_models(self) -> list[SourceLoggedModel]:
        if not self._experiment_dirs:
            self.experiments()
        models = []
        for experiment_id, folder in self._experiment_dirs.items():
            models_dir = folder / "models"
            if not models_dir.is_dir():
                continue
            for model_dir in sorted(models_dir.iterdir()):
                if not (model_dir / "meta.yaml").is_file():
                    continue
                meta = _yaml(model_dir / "meta.yaml")
                status = meta.get("status")
                models.append(
                    SourceLoggedModel(
                        id=str(meta.get("model_id") or model_dir.name),
                        experiment_id=experiment_id,
                        name=str(meta.get("name") or "model"),
                        source_run_id=meta.get("source_run_id") or None,
                        artifact_location=meta.get("artifact_location"),
                        status=LOGGED_MODEL_STATUSES.get(status, str(status or "READY"))
                        if isinstance(status, int)
                        else str(status or "READY"),
                        lifecycle=meta.get("lifecycle_stage") or ACTIVE,
                        model_type=meta.get("model_type"),
                        tags=_key_files(model_dir / "tags"),
                        params=_key_files(model_dir / "params"),
                    )
                )
        return models

    def registered_models(self) -> list[SourceRegisteredModel]:
        registry = self.root / "models"
        if not registry.is_dir():
            return []
        models = []
        for folder in sorted(registry.iterdir()):
            if not (folder / "meta.yaml").is_file():
                continue
            meta = _yaml(folder / "meta.yaml")
            aliases = {str(k): int(v) for k, v in (meta.get("aliases") or {}).items()}
            aliases.update({k: int(v.strip()) for k, v in _key_files(folder / "aliases").items()})
            model = SourceRegisteredModel(
                name=str(meta.get("name") or folder.name),
                description=meta.get("description") or None,
                tags=_key_files(folder / "tags"),
                aliases=aliases,
            )
            for version_dir in folder.glob("version-*"):
                if not (version_dir / "meta.yaml").is_file():
                    continue
                v = _yaml(version_dir / "meta.yaml")
                model.versions.append(
                    SourceModelVersion(
                        version=int(v.get("version") or version_dir.name.split("-", 1)[1]),
                        source=v.get("source"),
                        run_id=v.get("run_id") or None,
                        description=v.get("description") or None,
                        user=v.get("user_id") or None,
                        stage=v.get("current_stage"),
                        storage_location=v.get("storage_location"),
                        model_id=v.get("model_id") or None,
                        status=str(v.get("status") or "READY"),
                        tags=_key_files(version_dir / "tags"),
                    )
                )
            model.versions.sort(key=lambda mv: mv.version)
            models.append(model)
        return models


def file_store_path(source: str) -> Path | None:
    """The folder a ``heron import`` argument names, if it names one (a path or file: URI)."""
    return local_path(source)
