"""An MLflow SQL store (SQLite or PostgreSQL), read with SQLAlchemy Core from MLflow's tables.

Opened read-only where the database allows it (SQLite); nothing is ever written to it. Run
data is read a chunk of runs at a time: one query each for params, tags and metric points.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heron.core.entities import Metric
from heron.core.uris import redact
from heron.importers.mlflow.locations import ArtifactLocator
from heron.importers.mlflow.records import (
    ACTIVE,
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

#: tables every MLflow tracking database has
REQUIRED_TABLES = ("experiments", "runs", "metrics", "params", "tags", "experiment_tags")


class SqlSource(MlflowSource):
    """MLflow's tracking (and registry) tables behind a SQLAlchemy URL."""

    def __init__(self, url: str, artifacts: str | None = None) -> None:
        self.url = url
        self.label = f"mlflow:{redact(url)}"
        self.locator = ArtifactLocator(artifacts)
        self._engine: Any = None
        self._tables: set[str] = set()

    # --- connection ---------------------------------------------------------------------
    def check(self) -> None:
        import sqlalchemy as sa

        try:
            self._engine = _engine(self.url)
            self._tables = set(sa.inspect(self._engine).get_table_names())
        except SourceError:
            raise
        except Exception as e:  # the driver's error: unreachable host, bad password, not a DB
            raise SourceError(
                f"cannot open the MLflow database {redact(self.url)}: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}. Check the URL, that the database "
                "server is running and that the user may read it."
            ) from e
        missing = [t for t in REQUIRED_TABLES if t not in self._tables]
        if missing:
            raise SourceError(
                f"{redact(self.url)} is not an MLflow tracking database: it has no "
                f"{', '.join(missing)} table{'s' if len(missing) > 1 else ''}. Point heron "
                "import at the database MLflow's --backend-store-uri names."
            )
        self.locator.check(r[0] for r in self._rows("SELECT DISTINCT artifact_uri FROM runs"))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        statement = sa.text(sql)
        for name, value in params.items():
            if isinstance(value, (list, tuple)):
                statement = statement.bindparams(sa.bindparam(name, expanding=True))
        with self._engine.connect() as conn:
            return list(conn.execute(statement, params))

    # --- tracking -----------------------------------------------------------------------
    def experiments(self) -> list[SourceExperiment]:
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for key, value, experiment_id in self._rows(
            "SELECT key, value, experiment_id FROM experiment_tags"
        ):
            tags[str(experiment_id)][key] = value or ""
        return [
            SourceExperiment(str(i), name, lifecycle or ACTIVE, tags.get(str(i), {}))
            for i, name, lifecycle in self._rows(
                "SELECT experiment_id, name, lifecycle_stage FROM experiments "
                "ORDER BY experiment_id"
            )
        ]

    def run_headers(self) -> list[RunHeader]:
        parents = {
            run_id: value
            for run_id, value in self._rows(
                "SELECT run_uuid, value FROM tags WHERE key = :key", key=PARENT_TAG
            )
        }
        return [
            RunHeader(
                run_id,
                str(experiment_id),
                status or "FINISHED",
                lifecycle or ACTIVE,
                parents.get(run_id) or None,
                start_time or 0,
            )
            for run_id, experiment_id, status, lifecycle, start_time in self._rows(
                "SELECT run_uuid, experiment_id, status, lifecycle_stage, start_time FROM runs"
            )
        ]

    def load_runs(self, headers: Sequence[RunHeader]) -> list[SourceRun]:
        ids = [h.id for h in headers]
        if not ids:
            return []
        runs = {
            row[0]: SourceRun(
                id=row[0],
                experiment_id=str(row[1]),
                name=row[2],
                status=row[3] or "FINISHED",
                start_time=row[4] or 0,
                end_time=row[5],
                user=row[6],
                lifecycle=row[7] or ACTIVE,
                artifact_uri=row[8],
            )
            for row in self._rows(
                "SELECT run_uuid, experiment_id, name, status, start_time, end_time, user_id, "
                "lifecycle_stage, artifact_uri FROM runs WHERE run_uuid IN :ids",
                ids=ids,
            )
        }
        for key, value, run_id in self._rows(
            "SELECT key, value, run_uuid FROM params WHERE run_uuid IN :ids", ids=ids
        ):
            runs[run_id].params[key] = value
        for key, value, run_id in self._rows(
            "SELECT key, value, run_uuid FROM tags WHERE run_uuid IN :ids", ids=ids
        ):
            runs[run_id].tags[key] = value or ""
        for run_id, key, value, timestamp, step, is_nan in self._rows(
            "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics "
            "WHERE run_uuid IN :ids ORDER BY run_uuid, key, step, timestamp",
            ids=ids,
        ):
            runs[run_id].metrics.append(
                Metric(
                    key, math.nan if is_nan else float(value), int(step or 0), int(timestamp or 0)
                )
            )
        return [runs[i] for i in ids if i in runs]

    @contextlib.contextmanager
    def _folder(self, uri: str | None, tail: str) -> Any:
        with self.locator.folder(uri, tail) as folder:
            yield folder

    def run_artifacts(self, run: SourceRun) -> contextlib.AbstractContextManager[Path | None]:
        return self._folder(run.artifact_uri, f"{run.experiment_id}/{run.id}/artifacts")

    def model_artifacts(
        self, model: SourceLoggedModel
    ) -> contextlib.AbstractContextManager[Path | None]:
        tail = f"{model.experiment_id}/models/{model.id}/artifacts"
        return self._folder(model.artifact_location, tail)

    # --- logged models and the registry ----------------------------------------------------
    def logged_models(self) -> list[SourceLoggedModel]:
        if "logged_models" not in self._tables:
            return []
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        params: dict[str, dict[str, str]] = defaultdict(dict)
        if "logged_model_tags" in self._tables:
            for model_id, key, value in self._rows(
                "SELECT model_id, tag_key, tag_value FROM logged_model_tags"
            ):
                tags[model_id][key] = value
        if "logged_model_params" in self._tables:
            for model_id, key, value in self._rows(
                "SELECT model_id, param_key, param_value FROM logged_model_params"
            ):
                params[model_id][key] = value
        return [
            SourceLoggedModel(
                id=model_id,
                experiment_id=str(experiment_id),
                name=name,
                source_run_id=run_id,
                artifact_location=location,
                status=LOGGED_MODEL_STATUSES.get(status, str(status)),
                lifecycle=lifecycle or ACTIVE,
                model_type=model_type,
                tags=tags.get(model_id, {}),
                params=params.get(model_id, {}),
            )
            for model_id, experiment_id, name, location, status, lifecycle, model_type, run_id in (
                self._rows(
                    "SELECT model_id, experiment_id, name, artifact_location, status, "
                    "lifecycle_stage, model_type, source_run_id FROM logged_models "
                    "ORDER BY creation_timestamp_ms, model_id"
                )
            )
        ]

    def registered_models(self) -> list[SourceRegisteredModel]:
        if "registered_models" not in self._tables or "model_versions" not in self._tables:
            return []
        models = {
            name: SourceRegisteredModel(name, description or None)
            for name, description in self._rows(
                "SELECT name, description FROM registered_models ORDER BY name"
            )
        }
        if "registered_model_tags" in self._tables:
            for name, key, value in self._rows(
                "SELECT name, key, value FROM registered_model_tags"
            ):
                if name in models:
                    models[name].tags[key] = value or ""
        if "registered_model_aliases" in self._tables:
            for name, alias, version in self._rows(
                "SELECT name, alias, version FROM registered_model_aliases"
            ):
                if name in models:
                    models[name].aliases[alias] = int(version)
        version_tags: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        if "model_version_tags" in self._tables:
            for name, version, key, value in self._rows(
                "SELECT name, version, key, value FROM model_version_tags"
            ):
                version_tags[(name, int(version))][key] = value or ""
        for row in self._rows(
            "SELECT name, version, source, run_id, description, user_id, current_stage, "
            "storage_location, status FROM model_versions ORDER BY name, version"
        ):
            name, version = row[0], int(row[1])
            if name not in models:
                continue
            models[name].versions.append(
                SourceModelVersion(
                    version=version,
                    source=row[2],
                    run_id=row[3] or None,
                    description=row[4] or None,
                    user=row[5] or None,
                    stage=row[6],
                    storage_location=row[7],
                    status=row[8] or "READY",
                    tags=version_tags.get((name, version), {}),
                )
            )
        return list(models.values())


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    if url.startswith("sqlite:"):
        import sqlite3

        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path == ":memory:":
            raise SourceError(f"{url} names no database file: use sqlite:///path/to/mlflow.db.")
        db = Path(path).expanduser()
        if not db.is_file():
            raise SourceError(
                f"there is no MLflow database at {db} (from {url}). Check the path: an absolute "
                "one is sqlite:////abs/path/mlflow.db, a relative one sqlite:///mlflow.db."
            )
        # read-only: importing never changes the source
        target = f"{db.resolve().as_uri()}?mode=ro"
        return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(target, uri=True))
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        try:
            import psycopg2  # noqa: F401  (SQLAlchemy's default PostgreSQL driver)
        except ImportError:
            url = f"postgresql+psycopg://{rest}"  # psycopg 3, Heron's [postgres] extra
    return sa.create_engine(url)
