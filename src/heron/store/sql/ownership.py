"""Which project owns an object (``SqlOwnershipMixin``): what the team server's authorization
asks before it lets a request reach an experiment, a run, an artifact or stored bytes.

These are plain methods of :class:`~heron.store.sql.store.SqlStore`, not Store methods (no
REST route): ids are global, so a request naming one is checked on the project that owns it.
:func:`projects_of` answers for many ids at once (the guard asks it, and remembers); each
kind is one query over an index (primary keys, ``ix_artifact_versions_hash``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from heron.store.base import LOGS_TAG
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t

_e = t.experiments
_r = t.runs
_av = t.artifact_versions
_rm = t.registered_models
_lm = t.mlflow_logged_models
_lmf = t.mlflow_logged_model_files

_p = bindparam
_HEX = re.compile(r"[0-9a-f]{64}")
_MODEL_IN = select(_rm.c.id).where(_rm.c.project == _p("project"), _rm.c.name == _p("name"))


class SqlOwnershipMixin:
    """The owning projects of experiments, runs, artifact versions, models and content."""

    _read: Any
    engine: Any
    project: str

    def project_of_experiment(self, experiment_id: str) -> str | None:
        """The project of the experiment ``experiment_id``; ``None`` if there is none."""
        return _one(projects_of(self.engine, "experiment", [experiment_id]), experiment_id)

    def project_of_run(self, run_id: str) -> str | None:
        """The project of the run ``run_id`` (its experiment's); ``None`` if there is none."""
        return _one(projects_of(self.engine, "run", [run_id]), run_id)

    def project_of_artifact(self, artifact_id: str) -> str | None:
        """The project of the artifact version ``artifact_id``; ``None`` if there is none."""
        return _one(projects_of(self.engine, "artifact", [artifact_id]), artifact_id)

    def project_of_model(self, name: str) -> str | None:
        """This view's project if it has a registered model named ``name``, else ``None``
        (model names, unlike ids, only mean something within a project)."""
        project = self.project
        with self._read() as conn:
            found = conn.execute(_MODEL_IN, {"project": project, "name": name}).scalar()
        return project if found is not None else None

    def projects_of_content_hash(self, content_hash: str) -> set[str]:
        """The projects holding the stored bytes ``content_hash`` (see :func:`projects_of`)."""
        return projects_of(self.engine, "hash", [content_hash]).get(content_hash, set())


def _one(found: dict[str, set[str]], key: str) -> str | None:
    projects = found.get(key)
    return next(iter(projects)) if projects else None


def _logs_holding(content_hash: str) -> tuple[Any, dict[str, Any]]:
    """The projects of runs whose logs tag is the object ``content_hash`` (a hex digest): its
    URI ends in ``<hash[:2]>/<hash[2:]>``, the artifact store's layout (``_`` in the pattern
    takes either path separator). Read through the tags' key index, so only asked for hashes
    no artifact version holds."""
    tg = t.tags
    query = (
        select(_e.c.project)
        .distinct()
        .select_from(tg.join(_r, _r.c.id == tg.c.run_id).join(_e, _e.c.id == _r.c.experiment_id))
        .where(tg.c.key == LOGS_TAG, tg.c.value.like(_p("tail")))
    )
    return query, {"tail": f"%{content_hash[:2]}_{content_hash[2:]}"}


def projects_of(engine: Any, kind: str, ids: Sequence[str]) -> dict[str, set[str]]:
    """The projects owning each object of ``kind`` named in ``ids`` (an id with no owner, or
    no such object, is left out): ``experiment`` and ``run`` ids and ``artifact`` version ids
    have one project; a content ``hash`` has those of every artifact version, MLflow logged
    model file and registered model version holding it, and a ``pipeline_version`` those of
    every run that ran it."""
    ids = [i for i in ids if isinstance(i, str)]
    if not ids:
        return {}
    if kind == "experiment":
        e = t.experiments
        query: Any = select(e.c.id, e.c.project).where(e.c.id.in_(ids))
    elif kind == "run":
        e, r = t.experiments, t.runs
        query = (
            select(r.c.id, e.c.project).join(e, e.c.id == r.c.experiment_id).where(r.c.id.in_(ids))
        )
    elif kind == "artifact":
        av = t.artifact_versions
        query = select(av.c.id, av.c.project).where(av.c.id.in_(ids))
    elif kind == "hash":
        av = t.artifact_versions
        query = select(av.c.content_hash, av.c.project).where(av.c.content_hash.in_(ids))
        query = query.union(_logged_model_hash_query(ids), _registered_hash_query(ids))
    elif kind == "pipeline_version":
        e, r = t.experiments, t.runs
        query = (
            select(r.c.pipeline_version_id, e.c.project)
            .join(e, e.c.id == r.c.experiment_id)
            .where(r.c.pipeline_version_id.in_(ids))
            .distinct()
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    found: dict[str, set[str]] = {}
    with sql_engine.read(engine) as conn:
        for key, project in conn.execute(query):
            found.setdefault(key, set()).add(project)
        if kind == "hash":  # bytes no artifact version holds: a run's captured step output
            for content_hash in ids:
                if content_hash not in found and _HEX.fullmatch(content_hash):
                    projects = set(conn.execute(*_logs_holding(content_hash)).scalars())
                    if projects:
                        found[content_hash] = projects
    return found


def _logged_model_hash_query(hashes: list[str]) -> Any:
    """The projects of MLflow logged-model files holding these hashes."""
    files, models, e = t.mlflow_logged_model_files, t.mlflow_logged_models, t.experiments
    return (
        select(files.c.content_hash, e.c.project)
        .join(models, models.c.id == files.c.model_id)
        .join(e, e.c.id == models.c.experiment_id)
        .where(files.c.content_hash.in_(hashes))
    )


def _registered_hash_query(hashes: list[str]) -> Any:
    """The projects of registered models whose versions hold these hashes (a model may be
    registered in another project than the one that made it)."""
    av, mv, rm = t.artifact_versions, t.model_versions, t.registered_models
    return (
        select(av.c.content_hash, rm.c.project)
        .join(mv, mv.c.artifact_id == av.c.id)
        .join(rm, rm.c.id == mv.c.model_id)
        .where(av.c.content_hash.in_(hashes))
    )
